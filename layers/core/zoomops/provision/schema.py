"""The course-meetings CSV: its columns (the shared ones and each platform's own), and each row as a
:class:`MeetingSpec`, or the (field, reason) problems that reject it.

Columns are matched like the import reader's (case, spaces, ``_`` and ``-`` ignored; extra columns ignored).
Context ID and Domain are required unless nothing is associated with LTI Pro.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from ..jobs.schema import Column, Schema
from .spec import WEEKDAYS, MeetingSpec

COURSE = ("context_id", "domain", "course_id")
_BASE = (
    ("key", "Key", ()),
    ("context_id", "Context ID", ("contextid", "lticontextid")),
    ("domain", "Domain", ("lmsdomain", "lmsurl")),
    ("course_id", "custom_canvas_course_id", ("courseid", "canvascourseid")),
    ("host", "Host", ("hostemail", "hostid", "organizer", "organizeremail")),
    ("topic", "Topic", ("name", "title")),
    ("start", "Start", ("starttime", "startdate", "start date time")),
    ("timezone", "Timezone", ("timezone", "tz", "time zone")),
    ("duration", "Duration", ("durationminutes", "minutes")),
    ("repeat", "Repeat", ("weekdays", "days", "recurrence")),
    ("until", "Until", ("enddate", "repeatuntil")),
    ("occurrences", "Occurrences", ("endtimes", "times")),
    ("alternative_hosts", "Alternative Hosts", ("alternativehost", "cohosts")),
    ("waiting_room", "Waiting Room", ()),
    ("auto_recording", "Auto Recording", ("recording",)),
)
REQUIRED = {"host", "topic", "start", "timezone", "duration"}
MAX_DURATION = {"luminus": 1485}  # minutes; LumiNUS' own steps of 15 are its adapter's check
# Each platform's own columns: field -> header (what the platform adapters read from MeetingSpec.extra).
EXTRAS: dict[str, dict[str, str]] = {
    "zoom": {"agenda": "Agenda"},
    "webmeeting": {
        "organizer_firstname": "Organizer First Name",
        "organizer_lastname": "Organizer Last Name",
        "organizer_account_id": "Organizer Account ID",
        "organizer_user_id": "Organizer User ID",
    },
    "luminus": {
        "module_id": "Module ID",
        "lesson_id": "Lesson ID",
        "access_groups": "Group Access",
        "access_users": "User Access",
        "access_public": "Public Access",
        "access_inherit": "Inherit Access From",
        "send_email": "Send Email",
        "publish_recording": "Publish Recording URL",
        "mute_upon_entry": "Mute Upon Entry",
        "authentication": "Authentication",
        "meeting_type": "Meeting Type",
        "export_multimedia": "Export To Multimedia Web",
        "channel_id": "Channel ID",
        "channel_name": "Channel Name",
        "publish_channel": "Publish Multimedia Channel",
    },
}
_DAYS = {name.lower(): n for n, name in enumerate(WEEKDAYS, 1)} | {
    full: n for n, full in enumerate(("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"), 1)
}
_SPLIT = re.compile(r"[;,/\s]+")
_EMAIL = re.compile(r"[^@\s;,]+@[^@\s;,]+\.[^@\s;,]+\Z")
_TRUE, _FALSE = {"true", "yes", "y", "1", "on"}, {"false", "no", "n", "0", "off"}
_START_FORMATS = ("%Y-%m-%d %H:%M", "%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S")


def schema(provider: str, *, associate: bool) -> Schema:
    """The columns a file for ``provider`` may have (the platform's own among them)."""
    columns = [
        Column(field, header, aliases, required=field in REQUIRED or (associate and field in ("context_id", "domain")))
        for field, header, aliases in _BASE
    ]
    columns += [Column(field, header, (field.replace("_", ""),)) for field, header in EXTRAS[provider].items()]
    return Schema("the course-meetings", tuple(columns), keep_raw=True)


def parse(record: Any, provider: str) -> MeetingSpec | list[tuple[str, str]]:
    """The row as a spec, or every (field, reason) that rejects it."""
    problems: list[tuple[str, str]] = []

    def text(field: str) -> str:
        return (getattr(record, field) or "").strip()

    for field in sorted(REQUIRED):
        if not text(field):
            problems.append((field, "required"))
    start, zone = _start(text("start"), problems), _zone(text("timezone"), problems)
    duration = _whole(text("duration"), "duration", problems, low=1, high=MAX_DURATION.get(provider, 24 * 60))
    weekdays = _weekdays(text("repeat"), problems)
    until = _until(text("until"), start, problems)
    occurrences = (
        _whole(text("occurrences"), "occurrences", problems, low=1, high=10_000) if text("occurrences") else None
    )
    if (until or occurrences) and not weekdays:
        problems.append(("repeat", "Until or Occurrences needs Repeat (the weekdays of the series)"))
    if weekdays and until and occurrences:
        problems.append(("occurrences", "give Until or Occurrences, not both"))
    alternatives = tuple(a for a in _SPLIT.split(text("alternative_hosts")) if a)
    for host in alternatives if provider != "luminus" else ():  # LumiNUS also takes IDs (its adapter checks)
        if not _EMAIL.match(host):
            problems.append(("alternative_hosts", f"{host!r} is not an email address (separate several with ;)"))
    waiting_room = _flag(text("waiting_room"), "waiting_room", problems)
    recording = text("auto_recording").lower() or None
    if recording not in (None, "none", "local", "cloud"):
        problems.append(("auto_recording", f"must be none, local or cloud, got {text('auto_recording')!r}"))
    if problems:
        return problems
    assert start is not None and zone is not None and duration is not None
    course = {field: text(field) for field in COURSE}
    return MeetingSpec(
        key=text("key") or default_key(text("host"), text("topic"), course),
        line=record.line,
        host=text("host"),
        topic=text("topic"),
        start=start,
        timezone=zone,
        duration=duration,
        weekdays=weekdays,
        until=until,
        occurrences=occurrences,
        alternative_hosts=alternatives,
        waiting_room=waiting_room,
        auto_recording=recording,
        course=course,
        extra={field: text(field) for field in EXTRAS[provider] if text(field)},
    )


def default_key(host: str, topic: str, course: dict[str, str]) -> str:
    """The course (Context ID and Domain) with the Topic, or the Host with the Topic when there is no course."""
    if course.get("context_id") and course.get("domain"):
        return f"{course['context_id']}|{course['domain'].rstrip('/')}|{topic}"
    return f"{host.lower()}|{topic}"


def _start(value: str, problems: list) -> datetime | None:
    if not value:
        return None
    for form in _START_FORMATS:
        try:
            return datetime.strptime(value, form)
        except ValueError:
            continue
    if re.search(r"(Z|[+-]\d\d:?\d\d)$", value):
        problems.append(
            ("start", f"the local wall-clock time, without an offset (the Timezone column says where): got {value!r}")
        )
    else:
        problems.append(("start", f"must be YYYY-MM-DD HH:MM (or ISO 8601 without an offset), got {value!r}"))
    return None


def _zone(value: str, problems: list) -> str | None:
    if not value:
        return None
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        problems.append(("timezone", f"not an IANA time zone name (like America/New_York): {value!r}"))
        return None
    return value


def _whole(value: str, field: str, problems: list, *, low: int, high: int) -> int | None:
    if not value:
        return None
    if not value.isdigit() or not low <= int(value) <= high:
        problems.append((field, f"must be a whole number from {low} to {high}, got {value!r}"))
        return None
    return int(value)


def _weekdays(value: str, problems: list) -> tuple[int, ...]:
    days = []
    for part in _SPLIT.split(value):
        if not part:
            continue
        day = _DAYS.get(part.lower())
        if day is None:
            problems.append(
                ("repeat", f"{part!r} is not a weekday (Mon, Tue, Wed, Thu, Fri, Sat, Sun; separate with ;)")
            )
        elif day not in days:
            days.append(day)
    return tuple(sorted(days))


def _until(value: str, start: datetime | None, problems: list) -> date | None:
    if not value:
        return None
    try:
        day = date.fromisoformat(value)
    except ValueError:
        problems.append(("until", f"must be a date YYYY-MM-DD, got {value!r}"))
        return None
    if start is not None and day < start.date():
        problems.append(("until", f"{value} is before the start"))
    return day


def _flag(value: str, field: str, problems: list) -> bool | None:
    if not value:
        return None
    if value.lower() in _TRUE:
        return True
    if value.lower() in _FALSE:
        return False
    problems.append((field, f"must be true or false, got {value!r}"))
    return None
