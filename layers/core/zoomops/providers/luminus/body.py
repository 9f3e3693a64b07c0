"""A course-meetings row as the LumiNUS "Meeting input to create" body (pure: no I/O), with every rule of
the document's schema checked on the way, each broken one named by the row's field.

The schema (luminus-zoom-conferencing-api.txt, "Request body"): required ``duration``, ``moduleID``,
``name``, ``startDate``; ``moduleID``, ``lessonID``, ``channelID``, ``groupID``, ``userID``,
``inheritedResourceID`` are ``format: uuid``; ``name`` ``maxLength: 200``; ``startDate`` ``format:
date-time``; ``duration`` int32, ``minimum: 15``, ``maximum: 1485``, "0 to 24 hrs to 0, 15, 30 and 45
mins"; ``recordType`` and ``authenticationOpt`` 1..2; ``meetingType`` 1..3; ``accessRole`` and
``publicAccess`` enum 1..6; ``alternativeHosts`` "emails or IDs: multiple values separated by a comma".
"""

from __future__ import annotations

import re
from typing import Any

from ...provision.spec import MeetingSpec, zoned_start
from .fields import (
    ACCESS_GROUPS,
    ACCESS_INHERIT,
    ACCESS_PUBLIC,
    ACCESS_USERS,
    CHANNEL_ID,
    CHANNEL_NAME,
    LESSON_ID,
    MODULE_ID,
    Row,
    access_list,
    authentication,
    flags,
    meeting_type,
    role,
    unknown,
)

DURATION_MIN, DURATION_MAX, DURATION_STEP = 15, 1485, 15
NAME_MAX = 200
RECORD_TYPES = {"cloud": 1, "local": 2}  # "1. Cloud Recording 2. Local Recording"
DOCUMENT_ORDER = (
    "moduleID",
    "lessonID",
    "access",
    "name",
    "startDate",
    "duration",
    "isSendEmail",
    "isPublishRecordURL",
    "isWaitingRoom",
    "meetingAuthentication",
    "muteUponEntry",
    "recordType",
    "authenticationOpt",
    "alternativeHosts",
    "meetingType",
    "exportMultimediaWeb",
    "channelID",
    "channelName",
    "publishMutimediaChannel",
)
_HOST_EMAIL = re.compile(r"[^\s@,;]+@[^\s@,;]+\Z")
_HOST_ID = re.compile(r"[A-Za-z0-9._-]+\Z")


def build(spec: MeetingSpec) -> tuple[dict[str, Any], list[tuple[str, str]]]:
    """(the body, every broken rule as (field, reason)); the body is only for sending when there are none."""
    row = Row(spec)
    body: dict[str, Any] = {}
    _required(row, body)
    _access(row, body)
    _options(row, body)
    _recurrence(row)
    unknown(row)
    return {name: body[name] for name in DOCUMENT_ORDER if name in body}, row.problems


def _required(row: Row, body: dict[str, Any]) -> None:
    spec = row.spec
    module = row.uuid(MODULE_ID, "moduleID")
    if module is None and not row.text(MODULE_ID):
        row.refuse(MODULE_ID, "is required: the LumiNUS module (course) UUID, the document's moduleID")
    body["moduleID"] = module
    if (lesson := row.uuid(LESSON_ID, "lessonID")) is not None:
        body["lessonID"] = lesson
    if len(spec.topic) > NAME_MAX:
        row.refuse("topic", f"must be at most {NAME_MAX} characters (LumiNUS name), got {len(spec.topic)}")
    body["name"] = spec.topic
    start = zoned_start(spec)
    if start is None:
        row.refuse("start", f"{spec.start:%Y-%m-%d %H:%M} does not exist in {spec.timezone} (a DST change)")
    else:
        body["startDate"] = start.isoformat(timespec="seconds")  # RFC 3339 with the zone's offset then
    duration = spec.duration
    if isinstance(duration, bool) or not isinstance(duration, int):
        row.refuse("duration", f"must be a whole number of minutes, got {duration!r}")
    elif not DURATION_MIN <= duration <= DURATION_MAX or duration % DURATION_STEP:
        row.refuse(
            "duration",
            f"must be {DURATION_MIN} to {DURATION_MAX} minutes in steps of {DURATION_STEP} (LumiNUS: up to 24 hrs "
            f"and 0, 15, 30 or 45 mins), got {duration}",
        )
    body["duration"] = duration


def _access(row: Row, body: dict[str, Any]) -> None:
    access: dict[str, Any] = {}
    for key, list_name, id_name in ((ACCESS_GROUPS, "groupAccess", "groupID"), (ACCESS_USERS, "userAccess", "userID")):
        entries = access_list(row, key, id_name)
        if entries:
            access[list_name] = entries
    if row.text(ACCESS_PUBLIC):
        access["publicAccess"] = role(row, ACCESS_PUBLIC, row.text(ACCESS_PUBLIC))
    if (inherited := row.uuid(ACCESS_INHERIT, "inheritedResourceID")) is not None:
        access["inheritedResourceID"] = inherited
    if access:
        body["access"] = access


def _options(row: Row, body: dict[str, Any]) -> None:
    spec = row.spec
    body.update(flags(row))
    if spec.waiting_room is not None:
        body["isWaitingRoom"] = spec.waiting_room
    body.update(authentication(row))
    recording = (spec.auto_recording or "none").strip().lower()
    if recording in RECORD_TYPES:
        body["recordType"] = RECORD_TYPES[recording]
    elif recording != "none":
        row.refuse("auto_recording", f"must be none, cloud or local (LumiNUS recordType 1 or 2), got {recording!r}")
    hosts = [host.strip() for host in spec.alternative_hosts]
    for i, host in enumerate(hosts, 1):
        if not (_HOST_EMAIL.match(host) or _HOST_ID.match(host)):
            row.refuse("alternative_hosts", f"item {i} {host[:60]!r} is neither an email nor an ID")
    if hosts:
        body["alternativeHosts"] = ",".join(hosts)  # "multiple values separated by a comma"
    if (kind := meeting_type(row)) is not None:
        body["meetingType"] = kind
    if (channel := row.uuid(CHANNEL_ID, "channelID")) is not None:
        body["channelID"] = channel
    if row.text(CHANNEL_NAME):
        body["channelName"] = row.text(CHANNEL_NAME)


def _recurrence(row: Row) -> None:
    spec = row.spec
    if spec.recurring or spec.until is not None or spec.occurrences:
        row.refuse(
            "weekdays",
            "LumiNUS 'Add meeting' makes one meeting: its document has no recurrence field (meetingType 3, "
            "'Time table', is a category, not a series); give one row per meeting",
        )
