"""Web Meeting v6 behind the provisioning job: an organizer account per host email, then its meetings.

Organizers are remembered in the job's ``memory`` by lower-cased email: ``{"account_id", "user_id"}``.
A host not in memory gets an account (``POST /account``: the organizer is its admin) and its user id is
read back (``GET /account/admin/{accountId}``). The document has no way to find an existing organizer
by email, so an email the platform already knows must be adopted through the row's extra columns
``organizer_account_id`` (its admin's user id is then looked up and its email compared) or
``organizer_user_id`` (used as given). Ids given in the row win over memory, and are remembered once
the platform has confirmed them.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from ...provision.spec import MeetingSpec, Memory, NeedsManualChange, PlannedRequest, PlatformRefused, Provisioned
from .body import ACCOUNT_ID, USER_ID, account_body, check, meeting_body, organizer_key
from .client import WebMeetingClient, WebMeetingUnavailable

NEW_ACCOUNT = "{accountId}"  # a dry run's stand-in for the id account creation will answer


def _adoption_hint(email: str) -> str:
    return (
        f"organizer {email} already exists on Web Meeting but not in this job's memory (made by hand, by another "
        f"tool, or by an earlier attempt whose answer was lost): adopt it by filling the row's Organizer Account "
        f"ID (the account whose admin is {email}) or Organizer User ID (its user id), then run again"
    )


class WebMeetings:
    """:class:`zoomops.provision.spec.Provider` for Web Meeting API v6."""

    name = "webmeeting"
    can_recover = False  # no way to list an organizer's meetings in the document
    daily_cap: int | None = None  # the document states no daily limit

    def __init__(
        self,
        client: WebMeetingClient,
        memory: Memory,
        *,
        send_password: bool = True,
        account_type: str = "trial",
        language: str = "en",
        account_days: int = 365,
        send_timezone: bool = True,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ):
        self.client, self.memory = client, memory
        self._send_password, self._account_type, self._language = send_password, account_type, language
        self._account_days, self._send_timezone, self._now = account_days, send_timezone, now
        self._locks: dict[str, threading.Lock] = {}  # one organizer's rows one at a time: one account made for it
        self._locks_guard = threading.Lock()
        self._planned: set[tuple[str, str, str]] = set()  # organizers a dry run has already planned an account for

    # ---- what the job asks before any call -------------------------------------------------------------
    def check(self, spec: MeetingSpec) -> list[tuple[str, str]]:
        return check(spec)

    def body(self, spec: MeetingSpec) -> dict[str, Any]:
        self._require_valid(spec)
        return meeting_body(spec, send_timezone=self._send_timezone)

    def plan(self, spec: MeetingSpec, previous: Provisioned | None) -> list[PlannedRequest]:
        self._require_valid(spec)
        if previous is not None:
            meeting_id, user_id = self._owner(spec, previous)
            body = meeting_body(spec, meeting_id=meeting_id, send_timezone=self._send_timezone)
            url = self.client.url(f"/meeting/{meeting_id}/false")
            return [PlannedRequest("PUT", url, body, f"update as organizer user {user_id}")]
        planned, note = self._plan_organizer(spec)
        body = meeting_body(spec, send_timezone=self._send_timezone)
        return [*planned, PlannedRequest("POST", self.client.url("/meeting"), body, note)]

    def _plan_organizer(self, spec: MeetingSpec) -> tuple[list[PlannedRequest], str]:
        email = organizer_key(spec.host)
        account, user = _given(spec)
        known = self.memory.get(email) or {}
        if user:
            return [], f"create as organizer user {user} (adopted from the row)"
        if account and not (known.get("account_id") == account and known.get("user_id")):
            return [self._planned_admin(account, f"adopt account {account} for {email}")], f"create for {email}"
        if known.get("user_id"):
            return [], f"create as organizer user {known['user_id']} ({email}, remembered)"
        planned = []
        account = known.get("account_id") or ""
        seen = (email, account, known.get("user_id") or "")
        if seen in self._planned:  # this dry run already planned the organizer's account with an earlier row
            return [], f"create for {email} (its account planned above)"
        self._planned.add(seen)
        if not account:
            body = self._account_body(spec)
            planned.append(PlannedRequest("POST", self.client.url("/account"), body, f"new organizer {email}"))
        planned.append(self._planned_admin(account or NEW_ACCOUNT, f"read the user id of {email}"))
        return planned, f"create for {email}"

    def _planned_admin(self, account: str, note: str) -> PlannedRequest:
        return PlannedRequest("GET", self.client.url(f"/account/admin/{account}"), None, note)

    # ---- calls ---------------------------------------------------------------------------------------------
    def create(self, spec: MeetingSpec) -> Provisioned:
        self._require_valid(spec)
        with self._organizer_lock(spec.host):  # two rows of a new organizer: the second waits for its account
            organizer, confirm = self._organizer(spec)
            body = meeting_body(spec, send_timezone=self._send_timezone)
            data = self.client.call("POST", "/meeting", body=body, user_id=organizer["user_id"])
            if confirm:  # the platform took the row's user id: remember it for the organizer's other rows
                self.memory[organizer_key(spec.host)] = dict(organizer)
        return self._provisioned(spec, organizer, data, "POST /api/v6/meeting")

    def _organizer_lock(self, host: str) -> threading.Lock:
        with self._locks_guard:
            return self._locks.setdefault(organizer_key(host), threading.Lock())

    def update(self, spec: MeetingSpec, previous: Provisioned) -> Provisioned:
        self._require_valid(spec)
        meeting_id, user_id = self._owner(spec, previous)
        body = meeting_body(spec, meeting_id=meeting_id, send_timezone=self._send_timezone)
        data = self.client.call("PUT", f"/meeting/{meeting_id}/false", body=body, user_id=user_id)
        organizer = {"account_id": previous.ledger.get("account_id"), "user_id": user_id}
        return self._provisioned(spec, organizer, data, f"PUT /api/v6/meeting/{meeting_id}/false")

    def recover(self, spec: MeetingSpec) -> Provisioned | None:
        return None  # the document has no way to list or search an organizer's meetings

    # ---- organizers ----------------------------------------------------------------------------------------
    def _organizer(self, spec: MeetingSpec) -> tuple[dict[str, Any], bool]:
        """The organizer the row's meeting is made for, and whether memory waits for the platform to confirm
        it (a user id taken from the row unchecked)."""
        email = organizer_key(spec.host)
        account, user = _given(spec)
        known = dict(self.memory.get(email) or {})
        if user:
            same_account = account or (known.get("account_id") if known.get("user_id") == user else None)
            entry = {"account_id": same_account, "user_id": user}
            return entry, entry != {name: known.get(name) for name in entry}
        if known.get("user_id") and (not account or known.get("account_id") == account):
            return known, False
        if not account:
            account = known.get("account_id") or self._create_account(spec, email)
        entry = {"account_id": account, "user_id": self._admin_user(email, account)}
        self.memory[email] = entry
        return entry, False

    def _create_account(self, spec: MeetingSpec, email: str) -> str:
        body = self._account_body(spec)
        try:
            data = self.client.call("POST", "/account", body=body)
        except PlatformRefused as exc:
            if exc.status == 409 or "already exist" in str(exc).lower():
                raise PlatformRefused(f"{_adoption_hint(email)} ({exc})", status=exc.status) from None
            raise
        account = data.get("id") if isinstance(data, dict) else None
        if not isinstance(account, str) or not account:
            raise WebMeetingUnavailable(
                f"Web Meeting POST /api/v6/account answered no account id for {email}; the account may exist: "
                f"adopt it by its account id if a re-run says so",
                maybe_created=True,
            )
        self.memory[email] = {"account_id": account, "user_id": None}  # the account exists even if what follows fails
        return account

    def _admin_user(self, email: str, account: str) -> str:
        data = self.client.call("GET", f"/account/admin/{account}")
        for admin in data if isinstance(data, list) else []:
            if isinstance(admin, dict) and organizer_key(str(admin.get("email") or "")) == email:
                user = admin.get("id")
                if isinstance(user, str) and user:
                    return user
        raise PlatformRefused(
            f"Web Meeting account {account}'s admin is not {email}: for an organizer who is not its account's "
            f"admin, fill the row's Organizer User ID (the document cannot list an account's other organizers)"
        )

    def _owner(self, spec: MeetingSpec, previous: Provisioned) -> tuple[str, str]:
        """(meeting id, its organizer's user id) from the ledger; a meeting cannot change organizer."""
        meeting_id, user_id = previous.ledger.get("id"), previous.ledger.get("user_id")
        if not meeting_id or not user_id:
            raise PlatformRefused("the ledger has no Web Meeting meeting id and organizer for this row: cannot update")
        was, now = previous.ledger.get("organizer"), organizer_key(spec.host)
        if was and was != now:
            raise NeedsManualChange(
                f"Web Meeting meeting {meeting_id} belongs to organizer {was} and v6 cannot move it to {now}: put "
                f"{was} back as the row's host, or delete the meeting on Web Meeting and provision the row afresh"
            )
        return meeting_id, user_id

    # ---- helpers -------------------------------------------------------------------------------------------
    def _account_body(self, spec: MeetingSpec) -> dict[str, Any]:
        return account_body(
            spec,
            paid_until=self._now() + timedelta(days=self._account_days),
            send_password=self._send_password,
            account_type=self._account_type,
            language=self._language,
        )

    def _require_valid(self, spec: MeetingSpec) -> None:
        problems = check(spec)
        if problems:
            raise PlatformRefused("not sent: " + "; ".join(f"{field}: {reason}" for field, reason in problems))

    @staticmethod
    def _provisioned(spec: MeetingSpec, organizer: dict[str, Any], data: Any, what: str) -> Provisioned:
        meeting_id = data.get("id") if isinstance(data, dict) else None
        if not isinstance(meeting_id, str) or not meeting_id:
            raise WebMeetingUnavailable(
                f"Web Meeting {what} answered no meeting id for line {spec.line}; the write may have been "
                f"applied: check organizer {spec.host.strip()}'s meetings before re-running this row",
                maybe_created=True,
            )
        ids = {"account_id": organizer.get("account_id") or "", "user_id": organizer["user_id"]}
        number = data.get("meetingId")
        extra = {"meeting_number": number if isinstance(number, str) else "", "organizer": spec.host.strip()}
        extra.update({f"organizer_{k}": v for k, v in ids.items()})
        ledger = {"id": meeting_id, "organizer": organizer_key(spec.host), **ids}
        return Provisioned(meeting_id=meeting_id, join_url="", extra=extra, ledger=ledger)


def _given(spec: MeetingSpec) -> tuple[str, str]:
    return (spec.extra.get(ACCOUNT_ID) or "").strip(), (spec.extra.get(USER_ID) or "").strip()
