"""LumiNUS behind the provisioning job: one ``POST /zoom/Meeting`` per row, and nothing else.

The document has only "Add meeting": no update, no get, no list. So a changed row raises
:class:`LuminusManualChange` naming what to change by hand (the job never adds it again), and
``recover`` cannot look. The meeting belongs to the user the subscription key / bearer token signs in as
(the answer's ``email``), whatever the row's host: the document has no host field.
"""

from __future__ import annotations

import json
from typing import Any

from ...provision.spec import (
    MeetingSpec,
    NeedsManualChange,
    PlannedRequest,
    PlatformRefused,
    Provisioned,
    safe_join_url,
)
from .body import build
from .client import LuminusClient, LuminusUnavailable
from .fields import CHANNEL_ID, CHANNEL_NAME, FLAGS, LESSON_ID, MODULE_ID

# The document's fields -> the row's fields they come from (for a manual change's instructions).
ROW_FIELDS = {
    "moduleID": MODULE_ID,
    "lessonID": LESSON_ID,
    "access": "access_*",
    "name": "topic",
    "startDate": "start",
    "duration": "duration",
    "isWaitingRoom": "waiting_room",
    "meetingAuthentication": "authentication",
    "recordType": "auto_recording",
    "authenticationOpt": "authentication",
    "alternativeHosts": "alternative_hosts",
    "meetingType": "meeting_type",
    "channelID": CHANNEL_ID,
    "channelName": CHANNEL_NAME,
    **{name: key for key, name in FLAGS.items()},
}


class LuminusManualChange(NeedsManualChange):
    """The row changed, and LumiNUS has no update: ``changes`` is {document field: (was, now)}."""

    def __init__(self, message: str, *, meeting_id: str, changes: dict[str, tuple[Any, Any]]):
        super().__init__(message)
        self.meeting_id, self.changes = meeting_id, changes


def _shown(value: Any) -> str:
    text = "(none)" if value is None else json.dumps(value, ensure_ascii=False)
    return text if len(text) <= 60 else text[:57] + "..."


def _label(name: str) -> str:
    """The row's field, and the document's name for it when that differs: "topic (name)"."""
    row = ROW_FIELDS.get(name, name)
    return name if row == name else f"{row} ({name})"


class LuminusMeetings:
    """:class:`zoomops.provision.spec.Provider` for LumiNUS "Add meeting"."""

    name = "luminus"
    can_recover = False  # the document has no get or list
    daily_cap: int | None = None  # the document states no daily limit

    def __init__(self, client: LuminusClient):
        self.client = client

    def check(self, spec: MeetingSpec) -> list[tuple[str, str]]:
        return build(spec)[1]

    def body(self, spec: MeetingSpec) -> dict[str, Any]:
        body, problems = build(spec)
        if problems:
            raise PlatformRefused("not sent: " + "; ".join(f"{field}: {reason}" for field, reason in problems))
        return body

    def plan(self, spec: MeetingSpec, previous: Provisioned | None) -> list[PlannedRequest]:
        body = self.body(spec)
        if previous is not None:
            change = self._manual_change(previous, body)
            if change is not None:
                raise change  # a real run makes no request either: the row needs a hand
            return []
        return [PlannedRequest("POST", self.client.endpoint_url, body, f"add meeting to module {body['moduleID']}")]

    def create(self, spec: MeetingSpec) -> Provisioned:
        body = self.body(spec)
        answer = self.client.add_meeting(body)
        return self._provisioned(spec, body, answer)

    def update(self, spec: MeetingSpec, previous: Provisioned) -> Provisioned:
        change = self._manual_change(previous, self.body(spec))
        if change is not None:
            raise change
        return previous  # nothing the platform holds differs from the row

    def recover(self, spec: MeetingSpec) -> Provisioned | None:
        return None  # the document has no way to get or list meetings

    def _manual_change(self, previous: Provisioned, body: dict[str, Any]) -> LuminusManualChange | None:
        was = previous.ledger.get("body")
        was = was if isinstance(was, dict) else {}
        if not was:  # not what this adapter records: say so rather than list every field as new
            changes: dict[str, tuple[Any, Any]] = {}
        else:
            changes = {k: (was.get(k), body.get(k)) for k in {*was, *body} if was.get(k) != body.get(k)}
            if not changes:
                return None
        zoom_id = previous.extra.get("zoom_meeting_id") or previous.ledger.get("zoom_meeting_id") or "?"
        where = f"meeting {zoom_id} (LumiNUS id {previous.meeting_id}) in module {was.get('moduleID') or '?'}"
        if changes:
            listed = "; ".join(
                f"{_label(name)}: {_shown(old)} -> {_shown(new)}" for name, (old, new) in sorted(changes.items())
            )
        else:
            listed = "the ledger does not hold what was sent: compare the row with the meeting"
        message = f"LumiNUS cannot update a meeting through its API: change {where} by hand: {listed}"
        return LuminusManualChange(message, meeting_id=previous.meeting_id, changes=changes)

    @staticmethod
    def _provisioned(spec: MeetingSpec, body: dict[str, Any], answer: dict[str, Any]) -> Provisioned:
        """Only safe fields of the answer: never meetingPassword, hostKey or the join URL's passcode."""
        meeting_id, zoom_id = answer.get("id"), answer.get("meetingID")
        if not isinstance(meeting_id, str) or not meeting_id:
            raise LuminusUnavailable(
                f"LumiNUS answered line {spec.line}'s POST without a meeting id; the meeting was probably created: "
                f"check module {body['moduleID']} on LumiNUS before re-running this row",
                maybe_created=True,
            )
        zoom_id = str(zoom_id) if isinstance(zoom_id, (str, int)) and not isinstance(zoom_id, bool) else ""
        join_url = answer.get("joinUrl")
        join_url = safe_join_url(join_url) if isinstance(join_url, str) else ""
        passcode = answer.get("meetingPassword")
        if isinstance(passcode, str) and passcode and passcode in join_url:
            join_url = ""  # the passcode somewhere other than pwd=: show no URL rather than leak it
        creator = answer.get("email") or answer.get("userID")
        extra = {"zoom_meeting_id": zoom_id, "join_url": join_url, "created_by": str(creator or "")}
        ledger = {"id": meeting_id, "zoom_meeting_id": zoom_id, "module_id": body["moduleID"], "body": body}
        return Provisioned(meeting_id=meeting_id, join_url=join_url, extra=extra, ledger=ledger)
