"""Which meetings a report run covers: explicit IDs, an LTI Pro import CSV, or users' meetings in a range."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from ...errors import Refused
from ..client import ZoomClient, quote_uuid


def meetings_of_users(client: ZoomClient, users: Iterable[str] | None, since: datetime, until: datetime) -> list[str]:
    """Meeting IDs of the users' (or every user's) past meetings in [since, until)."""
    if users is None:
        users = [u["id"] for u in client.paginate("/users", "users", {"status": "active"})]
    found: dict[str, None] = {}
    params = {"type": "previous_meetings", "from": since.date().isoformat(), "to": until.date().isoformat()}
    for user in users:
        for meeting in client.paginate(f"/users/{quote_uuid(user)}/meetings", "meetings", params):
            found[str(meeting["id"])] = None
    return list(found)


def meeting_ids_from_csv(stream, name: str = "<csv>") -> list[str]:
    """The distinct valid meeting IDs of an LTI Pro import CSV (the bulk disassociate reader)."""
    from ...jobs.csvreader import CsvSource
    from ...lti.rows import IMPORT_TEMPLATE, check

    seen: dict[str, None] = {}
    for record in CsvSource(stream, IMPORT_TEMPLATE, name):
        verdict = check(record)
        if not isinstance(verdict, str):
            seen[verdict[0]] = None
    return list(seen)


@dataclass
class ReportRequest:
    """Which meetings: explicit IDs, an LTI Pro import CSV, or users' meetings in a date range."""

    meeting_ids: list[str] | None = None
    csv: str | None = None  # s3://bucket/key (Lambda) or a path (CLI)
    users: list[str] | None = None  # None with a date range: every active user
    since: datetime | None = None  # instances that started in [since, until); None: no bound
    until: datetime | None = None
    account: str | None = None

    @classmethod
    def from_payload(
        cls, payload: dict, *, lookback_days: int, default_users: list[str] | None, now: datetime
    ) -> ReportRequest:
        """A direct invocation's payload (or {} for the schedule); errors name the field."""
        known = {"meeting_ids", "csv", "users", "from", "to", "account"}
        unknown = sorted(set(payload) - known)
        if unknown:
            raise Refused(f"unknown field(s) {', '.join(unknown)}; expected {', '.join(sorted(known))}")
        request = cls(account=payload.get("account"))
        if payload.get("meeting_ids") is not None:
            ids = payload["meeting_ids"]
            if not isinstance(ids, list) or not ids or not all(str(i).replace(" ", "").isdigit() for i in ids):
                raise Refused("meeting_ids must be a non-empty list of numeric Zoom meeting IDs")
            request.meeting_ids = [str(i).replace(" ", "") for i in ids]
        elif payload.get("csv"):
            request.csv = str(payload["csv"])
        else:
            users = payload.get("users", default_users)
            if users is not None and (not isinstance(users, list) or not all(isinstance(u, str) and u for u in users)):
                raise Refused("users must be a list of Zoom user emails or ids")
            request.users = users or None
        request.since = _day(payload.get("from"), "from")
        request.until = _day(payload.get("to"), "to", end=True)
        if request.meeting_ids is None and request.csv is None:
            # Users' meetings: a date range is needed; default the last ``lookback_days`` days.
            request.since = request.since or (now - timedelta(days=lookback_days)).replace(
                hour=0, minute=0, second=0, microsecond=0
            )
            request.until = request.until or now
        if request.since and request.until and request.until <= request.since:
            raise Refused("to must be after from")
        return request


def _day(value: Any, name: str, *, end: bool = False) -> datetime | None:
    if value in (None, ""):
        return None
    try:
        day = datetime.strptime(str(value), "%Y-%m-%d").replace(tzinfo=UTC)
    except ValueError:
        raise Refused(f"{name} must be a date YYYY-MM-DD, got {value!r}") from None
    return day + timedelta(days=1) if end else day  # "to" includes its whole day
