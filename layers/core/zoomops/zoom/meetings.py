"""Zoom as a provisioning platform: one course-meetings row (:class:`MeetingSpec`) becomes one Zoom meeting.

No weekdays: a scheduled meeting (type 2); weekdays: a recurring meeting with a fixed time (type 8, weekly).
``start_time`` goes as the local wall clock without an offset, with ``timezone``, so Zoom computes each
occurrence in that zone and a weekly 09:00 class stays at 09:00 across a DST change. Nothing secret is sent
or kept: no passcode is sent (Zoom makes one), and of Zoom's answers only ``id`` and ``join_url`` (passcode
removed) are read, never ``start_url`` or a passcode. ``check`` holds the rules of Zoom's OpenAPI description
of ``POST /users/{userId}/meetings`` (``PATCH /meetings/{meetingId}`` takes the same fields) that a row can
break, plus a few marked "ours", naming fields as MeetingSpec does (``agenda`` comes from ``extra``).
"""

from __future__ import annotations

import re
import zoneinfo
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, time, timedelta
from functools import cache
from typing import Any
from urllib.parse import quote

from ..errors import DailyLimitReached, ZoomError
from ..provision.spec import (
    WEEKDAYS,
    HostDailyLimit,
    MeetingSpec,
    NeedsManualChange,
    PlannedRequest,
    PlatformRefused,
    Provisioned,
    safe_join_url,
)
from .client import ZoomClient

SCHEDULED, RECURRING_FIXED_TIME = 2, 8  # meeting ``type``
WEEKLY = 2  # ``recurrence.type``
TOPIC_MAX = 200  # topic: maxLength 200
AGENDA_MAX = 2000  # agenda: maxLength 2000
MAX_OCCURRENCES = 60  # recurrence.end_times: maximum 60 ("The maximum number of recurring is 60")
AUTO_RECORDING = ("local", "cloud", "none")  # settings.auto_recording: enum
EXTRA_FIELDS = ("agenda",)  # the Zoom-only columns a row may carry in MeetingSpec.extra
HOST_DAILY_CAP = 100  # "100 requests per day ... applied against the userId of the meeting host"
_USER_ID = re.compile(r"[A-Za-z0-9_-]+\Z")
_EMAIL = re.compile(r"[^@\s;,]+@[^@\s;,]+\.[^@\s;,]+\Z")
_APP_CODES = frozenset({4711})  # the token lacks a scope: the app's fault, every row would fail alike
_ACCOUNT_CAPPED = frozenset({"heavy", "resource-intensive"})  # the only categories with account daily caps


def zoom_weekday(iso_day: int) -> int:
    """Zoom numbers days 1 = Sunday ... 7 = Saturday; MeetingSpec (ISO) 1 = Monday ... 7 = Sunday."""
    return iso_day % 7 + 1


def weekly_days(weekdays: Iterable[int]) -> str:
    """``recurrence.weekly_days``: Zoom's day numbers, comma-separated ("1,3": Sundays and Tuesdays)."""
    return ",".join(str(day) for day in sorted({zoom_weekday(d) for d in weekdays}))


def utc_text(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def end_date_time(until: date, timezone: str) -> str:
    """``recurrence.end_date_time`` ("in UTC time"): the end of the last local day, which still counts."""
    return utc_text(datetime.combine(until, time(23, 59, 59), tzinfo=zoneinfo.ZoneInfo(timezone)))


def series_days(spec: MeetingSpec, limit: int = MAX_OCCURRENCES + 1) -> list[date]:
    """The local dates of a weekly series as Zoom counts them (from the start's date on), at most ``limit``."""
    wanted = {d for d in spec.weekdays if isinstance(d, int) and 1 <= d <= 7}
    days: list[date] = []
    day, want = spec.start.date(), spec.occurrences if spec.until is None else None
    while wanted and len(days) < limit and (want is None or len(days) < want):
        if spec.until is not None and day > spec.until:
            break
        if day.isoweekday() in wanted:
            days.append(day)
        day += timedelta(days=1)
    return days


def count_days(first: date, last: date, weekdays: Iterable[int]) -> int:
    """How many of ``weekdays`` fall between two dates (inclusive), without walking a long span."""
    wanted, (weeks, rest) = set(weekdays), divmod(max((last - first).days + 1, 0), 7)
    return weeks * len(wanted) + sum((first + timedelta(days=i)).isoweekday() in wanted for i in range(rest))


@cache
def _zones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


def _is_user(value: str) -> bool:  # userId and alternative_hosts: "email addresses or IDs"
    return bool(_EMAIL.match(value) or _USER_ID.match(value))


def _identity_errors(spec: MeetingSpec) -> Iterator[tuple[str, str]]:
    if not spec.host:
        yield "host", "required: the Zoom user (email or user ID) who hosts the meeting"
    elif spec.host.lower() == "me":  # ours: for a Server-to-Server app "me" is the app's owner
        yield "host", "'me' is the Zoom app's owner, not a course's host: give the host's email or user ID"
    elif not _is_user(spec.host):
        yield "host", f"{spec.host!r} is not an email address or a Zoom user ID (userId: user ID or email)"
    if not spec.topic.strip():  # ours: Zoom would call it "Zoom Meeting", and recover() matches on the topic
        yield "topic", "required"
    elif len(spec.topic) > TOPIC_MAX:
        yield "topic", f"{len(spec.topic)} characters: Zoom allows at most {TOPIC_MAX} (topic maxLength)"
    for name, value in spec.extra.items():
        if name not in EXTRA_FIELDS and value:  # ours: a filled column Zoom would never see is a mistake
            yield name, f"not a Zoom meeting field (Zoom's own columns: {', '.join(EXTRA_FIELDS)})"
        elif name == "agenda" and len(value) > AGENDA_MAX:
            yield "agenda", f"{len(value)} characters: Zoom allows at most {AGENDA_MAX} (agenda maxLength)"


def _skipped_by_clocks(moment: datetime, tz: zoneinfo.ZoneInfo) -> bool:
    """A local time that never happens (the hour the clocks skip in spring)."""
    return moment.replace(tzinfo=tz).astimezone(UTC).astimezone(tz).replace(tzinfo=None) != moment


def _time_errors(spec: MeetingSpec) -> Iterator[tuple[str, str]]:
    known = spec.timezone in _zones()
    if not known:
        yield "timezone", f"{spec.timezone!r} is not a timezone ID Zoom knows (IANA, e.g. America/New_York)"
    if spec.start.tzinfo is not None:  # ours: start_time goes as a local time in ``timezone``
        yield "start", "must be a wall-clock time without an offset (Zoom reads it in timezone)"
    elif known:  # ours: Zoom would move such a meeting to some other hour
        tz = zoneinfo.ZoneInfo(spec.timezone)
        days = series_days(spec) if spec.recurring else [spec.start.date()]
        for day in days:
            if _skipped_by_clocks(datetime.combine(day, spec.start.time()), tz):
                yield "start", f"{spec.start:%H:%M} does not exist on {day} in {spec.timezone} (clocks go forward)"
                break
    if isinstance(spec.duration, bool) or not isinstance(spec.duration, int) or spec.duration < 1:
        yield "duration", "must be a whole number of minutes, at least 1 (duration: integer, in minutes)"


def _series_errors(spec: MeetingSpec) -> Iterator[tuple[str, str]]:
    if not spec.recurring:
        if spec.until is not None or spec.occurrences is not None:
            yield "weekdays", "until and occurrences belong to a weekly series: give its weekdays"
        return
    bad = [d for d in spec.weekdays if isinstance(d, bool) or not isinstance(d, int) or not 1 <= d <= 7]
    if bad:
        yield "weekdays", f"{bad} are not weekdays (1 = Mon ... 7 = Sun; weekly_days takes 7 days)"
        return
    days = ", ".join(WEEKDAYS[d - 1] for d in sorted(set(spec.weekdays)))
    if spec.until is not None and spec.occurrences is not None:
        yield "occurrences", "give until or occurrences, not both (end_times cannot be used with end_date_time)"
    elif spec.until is None and spec.occurrences is None:  # ours: Zoom would make a "series" of 1
        yield "until", "a weekly series needs its last day (until) or its number of meetings (occurrences)"
    elif spec.occurrences is not None and not 1 <= spec.occurrences <= MAX_OCCURRENCES:
        yield "occurrences", f"{spec.occurrences}: Zoom allows 1 to {MAX_OCCURRENCES} meetings (end_times maximum)"
    elif spec.until is not None:
        count = count_days(spec.start.date(), spec.until, set(spec.weekdays))
        if count == 0:
            yield "until", f"no {days} from {spec.start:%Y-%m-%d} to {spec.until}: the series would be empty"
        elif count > MAX_OCCURRENCES:
            span = f"the series from {spec.start:%Y-%m-%d} to {spec.until} on {days} has {count} meetings"
            yield "until", f"{span}; Zoom allows at most {MAX_OCCURRENCES} in one recurring meeting: split the row"


def _settings_errors(spec: MeetingSpec) -> Iterator[tuple[str, str]]:
    if spec.auto_recording is not None and spec.auto_recording not in AUTO_RECORDING:
        yield "auto_recording", f"{spec.auto_recording!r}: Zoom takes none, local or cloud (settings.auto_recording)"
    if spec.waiting_room is not None and not isinstance(spec.waiting_room, bool):
        yield "waiting_room", "must be true or false (settings.waiting_room: boolean)"
    for alt in spec.alternative_hosts:
        if not _is_user(alt):
            yield "alternative_hosts", f"{alt!r} is not an email address or a Zoom user ID (settings.alternative_hosts)"


def _zoom_said(exc: ZoomError) -> str:
    said = exc.message.partition(": ")[2] or exc.message  # drop the client's "METHOD /path: " prefix
    return said + (f" (code {exc.code})" if exc.code is not None else "")


def mapped_error(exc: ZoomError, host: str, meeting_id: str | None = None, *, write: bool) -> Exception | None:
    """What the job should see instead of ``exc`` (None: ``exc`` itself). Account-wide daily caps cover Heavy and
    Resource-intensive calls only, so on a meeting create (Medium) or update (Light) a daily limit is the host's
    even when the client cannot tell (``per_user``). 5xx, transport, 401, throttling that outlasted its waits
    and a token without the scope are not the row's fault: they pass through (retry later)."""
    if isinstance(exc, DailyLimitReached):
        if write and (exc.per_user or exc.category not in _ACCOUNT_CAPPED):
            spent = f"Zoom's daily limit of {HOST_DAILY_CAP} meeting creates/updates for host {host} is spent"
            return HostDailyLimit(host, exc.resume_after, f"{spent}; resume after {utc_text(exc.resume_after)}")
        return None
    status = exc.status
    if status is None or status >= 500 or status in (401, 429) or exc.code in _APP_CODES:
        return None
    if status == 404 and exc.code == 1001:
        return PlatformRefused(f"Zoom user {host} does not exist on this account ({_zoom_said(exc)})", status=404)
    if status == 404 and exc.code == 3001 and meeting_id:
        return PlatformRefused(f"Zoom meeting {meeting_id} no longer exists (deleted in Zoom?)", status=404)
    return PlatformRefused(f"Zoom refused the meeting: {_zoom_said(exc)}", status=status)


@contextmanager
def _zoom_errors(host: str, meeting_id: str | None = None, *, write: bool) -> Iterator[None]:
    try:
        yield
    except ZoomError as exc:
        mapped = mapped_error(exc, host, meeting_id, write=write)
        if mapped is None:
            raise
        raise mapped from exc


def _meetings_path(host: str) -> str:  # '@' is allowed in a path segment: an email stays readable
    return f"/users/{quote(host, safe='@')}/meetings"


def _meeting_path(meeting_id: str) -> str:
    return f"/meetings/{quote(meeting_id, safe='')}"


def _utc(text: Any) -> datetime | None:
    try:
        return datetime.fromisoformat(str(text).replace("Z", "+00:00")).astimezone(UTC)
    except ValueError:
        return None


def _local_starts(spec: MeetingSpec) -> set[datetime]:
    """Every UTC instant the row's meeting (or any occurrence of its series) starts at; both readings of a
    time the clocks repeat in autumn, since we cannot know which one Zoom chose."""
    tz = zoneinfo.ZoneInfo(spec.timezone)
    days = series_days(spec, MAX_OCCURRENCES) if spec.recurring else [spec.start.date()]
    wall = [datetime.combine(day, spec.start.time(), tzinfo=tz) for day in days]
    return {moment.replace(fold=fold).astimezone(UTC) for moment in wall for fold in (0, 1)}


class ZoomMeetings:
    """The Zoom :class:`~zoomops.provision.spec.Provider`, on the one Zoom client."""

    name = "zoom"
    can_recover = True  # the host's meetings can be listed: a lost create is found, or surely absent
    daily_cap: int | None = HOST_DAILY_CAP  # meeting creates/updates per host per UTC day

    def __init__(self, client: ZoomClient):
        self._client = client

    def check(self, spec: MeetingSpec) -> list[tuple[str, str]]:
        return [*_identity_errors(spec), *_time_errors(spec), *_series_errors(spec), *_settings_errors(spec)]

    def body(self, spec: MeetingSpec) -> dict[str, Any]:
        """The create (and update) body; no passcode, no secret."""
        settings: dict[str, Any] = {"alternative_hosts": ";".join(spec.alternative_hosts)}  # always: "" clears them
        if spec.waiting_room is not None:
            settings["waiting_room"] = spec.waiting_room
        if spec.auto_recording is not None:
            settings["auto_recording"] = spec.auto_recording
        body: dict[str, Any] = {
            "topic": spec.topic,
            "type": RECURRING_FIXED_TIME if spec.recurring else SCHEDULED,
            "start_time": spec.start.strftime("%Y-%m-%dT%H:%M:%S"),  # no offset: Zoom reads it in ``timezone``
            "timezone": spec.timezone,
            "duration": spec.duration,
        }
        if spec.extra.get("agenda"):
            body["agenda"] = spec.extra["agenda"]
        if spec.recurring:  # every week on the row's days, to its last day or for its number of meetings
            body["recurrence"] = {"type": WEEKLY, "repeat_interval": 1, "weekly_days": weekly_days(spec.weekdays)}
            if spec.until is not None:
                body["recurrence"]["end_date_time"] = end_date_time(spec.until, spec.timezone)
            elif spec.occurrences is not None:
                body["recurrence"]["end_times"] = spec.occurrences
        body["settings"] = settings
        return body

    def plan(self, spec: MeetingSpec, previous: Provisioned | None) -> list[PlannedRequest]:
        body = self.body(spec)
        if previous is None:
            days = ", ".join(WEEKDAYS[d - 1] for d in sorted(set(spec.weekdays)))
            what = f"a weekly series ({days})" if spec.recurring else "a meeting"
            return [PlannedRequest("POST", _meetings_path(spec.host), body, f"create {what} for {spec.host}")]
        host = self._same_host(spec, previous)
        planned = [PlannedRequest("PATCH", _meeting_path(previous.meeting_id), body, f"update (host {host})")]
        if not previous.join_url:
            planned.append(PlannedRequest("GET", _meeting_path(previous.meeting_id), note="read its join URL"))
        return planned

    def create(self, spec: MeetingSpec) -> Provisioned:
        with _zoom_errors(spec.host, write=True):
            answer = self._client.call("POST", _meetings_path(spec.host), json=self.body(spec)) or {}
        if answer.get("id") is None:  # created, perhaps: recover() can find it
            raise ZoomError(201, f"POST {_meetings_path(spec.host)}: the answer has no meeting id")
        return self._provisioned(spec, str(answer["id"]), str(answer.get("join_url") or ""))

    def update(self, spec: MeetingSpec, previous: Provisioned) -> Provisioned:
        """PATCH the meeting with the row's body (204). The join URL is the previous one: a PATCH without a
        passcode leaves ``https://zoom.us/j/{id}`` as it was, and a GET would cost a call and carry a fresh
        start_url for nothing. Only a ledger without one pays for the GET."""
        host = self._same_host(spec, previous)
        with _zoom_errors(host, previous.meeting_id, write=True):
            self._client.call("PATCH", _meeting_path(previous.meeting_id), json=self.body(spec))
        join_url = previous.join_url or self._join_url(previous.meeting_id, host)
        return self._provisioned(spec, previous.meeting_id, join_url)

    def recover(self, spec: MeetingSpec) -> Provisioned | None:
        """The meeting a create for this row made, found in the host's list of scheduled meetings by topic,
        type, duration and start (the UTC instant of the row's local start, or of any occurrence of its series).

        Read-only: it lists and, at most, reads one meeting, so it cannot make a meeting itself. A false None
        (the job then creates a second meeting) needs the lost meeting to have changed since: topic, time or
        duration edited in Zoom, deleted, or ended long enough to leave the list. It wrongly adopts a meeting
        with the same host, topic, type, duration and start that this row did not make: one made by hand, or
        by another row identical in those.
        Two or more such meetings: refused (PlatformRefused), since picking one could adopt the wrong one."""
        kind = RECURRING_FIXED_TIME if spec.recurring else SCHEDULED
        starts, topic = _local_starts(spec), spec.topic.strip()
        with _zoom_errors(spec.host, write=False):
            found = [
                meeting
                for meeting in self._client.paginate(_meetings_path(spec.host), "meetings", {"type": "scheduled"})
                if meeting.get("type") == kind
                and str(meeting.get("topic") or "").strip() == topic
                and meeting.get("duration", spec.duration) == spec.duration
                and _utc(meeting.get("start_time")) in starts
            ]
        if len(found) > 1:
            ids = ", ".join(str(m.get("id")) for m in found)
            raise PlatformRefused(f"{len(found)} Zoom meetings of {spec.host} match this row ({ids}): keep one")
        if not found:
            return None
        meeting_id = str(found[0]["id"])
        return self._provisioned(spec, meeting_id, found[0].get("join_url") or self._join_url(meeting_id, spec.host))

    # ---- helpers
    @staticmethod
    def _same_host(spec: MeetingSpec, previous: Provisioned) -> str:
        """The meeting's host; a row that names another one cannot be updated (a PATCH keeps the host)."""
        host = str(previous.ledger.get("host") or spec.host)
        if host.lower() != spec.host.lower():
            raise NeedsManualChange(
                f"the host changed from {host} to {spec.host}: meeting {previous.meeting_id} is not moved between "
                "hosts by an update; delete it in Zoom and drop its ledger entry to have it created for the new host"
            )
        return host

    def _join_url(self, meeting_id: str, host: str) -> str:
        with _zoom_errors(host, meeting_id, write=False):
            return str(self._client.get(_meeting_path(meeting_id)).get("join_url") or "")

    @staticmethod
    def _provisioned(spec: MeetingSpec, meeting_id: str, join_url: str) -> Provisioned:
        kind = RECURRING_FIXED_TIME if spec.recurring else SCHEDULED
        ledger = {"meeting_id": meeting_id, "host": spec.host, "type": kind}
        return Provisioned(meeting_id=meeting_id, join_url=safe_join_url(join_url), ledger=ledger)
