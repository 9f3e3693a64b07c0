"""The LumiNUS extra columns of a course-meetings row (``MeetingSpec.extra`` keys), read as an admin would
type them in a spreadsheet, each broken one named by its key.

=====================  ============================  ==============================================
extra key              suggested CSV column          format -> document field
=====================  ============================  ==============================================
module_id (required)   Module ID                     UUID -> moduleID
lesson_id              Lesson ID                     UUID -> lessonID
access_groups          Group Access                  ``<group UUID>:<role>;...`` -> access.groupAccess
access_users           User Access                   ``<user UUID>:<role>;...`` -> access.userAccess
access_public          Public Access                 role 1-6, blank: no access -> access.publicAccess
access_inherit         Inherit Access From           UUID -> access.inheritedResourceID
send_email             Send Email                    yes/no -> isSendEmail
publish_recording      Publish Recording URL         yes/no -> isPublishRecordURL
mute_upon_entry        Mute Upon Entry               yes/no -> muteUponEntry
authentication         Authentication                none | nus | zoom -> meetingAuthentication,
                                                     authenticationOpt (nus 1, zoom 2)
meeting_type           Meeting Type                  exam | custom | timetable (or 1-3) -> meetingType
export_multimedia      Export To Multimedia Web      yes/no -> exportMultimediaWeb
channel_id             Channel ID                    UUID -> channelID
channel_name           Channel Name                  text -> channelName
publish_channel        Publish Multimedia Channel    yes/no -> publishMutimediaChannel
=====================  ============================  ==============================================

Roles are the document's numbers 1-6 ("customized user role for IVLE"; it names none of them). In the
access lists, entries are separated by ``;`` or line breaks, id and role by ``:``. yes/no also takes
true/false, y/n and 1/0. A blank cell leaves the field out (the platform's default).
"""

from __future__ import annotations

import re
from typing import Any

from ...provision.spec import MeetingSpec

MODULE_ID, LESSON_ID = "module_id", "lesson_id"
ACCESS_GROUPS, ACCESS_USERS, ACCESS_PUBLIC, ACCESS_INHERIT = (
    "access_groups",
    "access_users",
    "access_public",
    "access_inherit",
)
AUTHENTICATION, MEETING_TYPE = "authentication", "meeting_type"
CHANNEL_ID, CHANNEL_NAME = "channel_id", "channel_name"
FLAGS = {  # yes/no columns -> the document's booleans
    "send_email": "isSendEmail",
    "publish_recording": "isPublishRecordURL",
    "mute_upon_entry": "muteUponEntry",
    "export_multimedia": "exportMultimediaWeb",
    "publish_channel": "publishMutimediaChannel",
}
EXTRA_FIELDS = (
    MODULE_ID,
    LESSON_ID,
    ACCESS_GROUPS,
    ACCESS_USERS,
    ACCESS_PUBLIC,
    ACCESS_INHERIT,
    *FLAGS,
    AUTHENTICATION,
    MEETING_TYPE,
    CHANNEL_ID,
    CHANNEL_NAME,
)
ROLES = (1, 2, 3, 4, 5, 6)
_YES, _NO = {"yes", "y", "true", "1"}, {"no", "n", "false", "0"}
_AUTH = {"none": None, "no": None, "off": None, "nus": 1, "1": 1, "zoom": 2, "2": 2}
_KINDS = {"exam": 1, "1": 1, "custom": 2, "2": 2, "timetable": 3, "3": 3}
_UUID = re.compile(r"[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}\Z")
_ENTRY_SPLIT = re.compile(r"[;\r\n]+")


def _shown(value: str) -> str:
    return repr(value if len(value) <= 60 else value[:57] + "...")


class Row:
    """One row's spec while its body is built: the extra cells, trimmed, and the problems found."""

    def __init__(self, spec: MeetingSpec):
        self.spec = spec
        self.problems: list[tuple[str, str]] = []

    def refuse(self, field: str, reason: str) -> None:
        self.problems.append((field, reason))

    def text(self, key: str) -> str:
        return (self.spec.extra.get(key) or "").strip()

    def uuid(self, key: str, document_name: str) -> str | None:
        """The cell as a UUID (``format: uuid``), None when blank or refused."""
        value = self.text(key)
        if not value:
            return None
        if not _UUID.match(value):
            self.refuse(
                key, f"must be a UUID (8-4-4-4-12 hex digits, the document's {document_name}), got {_shown(value)}"
            )
            return None
        return value


def unknown(row: Row) -> None:
    """A filled column LumiNUS never sees is a mistake (a misspelt or another platform's column)."""
    for name, value in row.spec.extra.items():
        if name not in EXTRA_FIELDS and (value or "").strip():
            row.refuse(name, f"not a LumiNUS field (its own columns: {', '.join(EXTRA_FIELDS)})")


def flags(row: Row) -> dict[str, bool]:
    out = {}
    for key, name in FLAGS.items():
        value = row.text(key).lower()
        if value in _YES or value in _NO:
            out[name] = value in _YES
        elif value:
            row.refuse(key, f"must be yes or no, got {_shown(row.text(key))}")
    return out


def authentication(row: Row) -> dict[str, Any]:
    """ "Enable meeting authentication" and which: 1 "Sign in to NUS Zoom account", 2 "Sign in to Zoom"."""
    value = row.text(AUTHENTICATION).lower()
    if not value:
        return {}
    if value not in _AUTH:
        row.refuse(
            AUTHENTICATION,
            f"must be none, nus (sign in to the NUS Zoom account) or zoom (sign in to Zoom), got {_shown(value)}",
        )
        return {}
    option = _AUTH[value]
    return (
        {"meetingAuthentication": False}
        if option is None
        else {"meetingAuthentication": True, "authenticationOpt": option}
    )


def meeting_type(row: Row) -> int | None:
    """1 "Exam", 2 "Custom", 3 "Time table" option meeting type."""
    value = re.sub(r"[\s_-]+", "", row.text(MEETING_TYPE).lower())
    if not value:
        return None
    if value not in _KINDS:
        row.refuse(
            MEETING_TYPE, f"must be exam, custom or timetable (or 1, 2, 3), got {_shown(row.text(MEETING_TYPE))}"
        )
        return None
    return _KINDS[value]


def role(row: Row, key: str, value: str, where: str = "") -> int | None:
    """An access role: the document's enum 1-6."""
    if value.isdigit() and int(value) in ROLES:
        return int(value)
    row.refuse(key, f"{where}role must be one of 1, 2, 3, 4, 5, 6 (the document's access roles), got {_shown(value)}")
    return None


def access_list(row: Row, key: str, id_name: str) -> list[dict[str, Any]]:
    """``<UUID>:<role>`` entries -> ``[{id_name: UUID, "accessRole": role}]`` (both required by the document)."""
    entries = []
    for i, entry in enumerate((e.strip() for e in _ENTRY_SPLIT.split(row.text(key))), 1):
        if not entry:
            continue
        ident, sep, value = (part.strip() for part in entry.rpartition(":"))
        if not sep or not ident:
            row.refuse(key, f"entry {i} {_shown(entry)} must be <{id_name} UUID>:<role 1-6>")
            continue
        if not _UUID.match(ident):
            row.refuse(key, f"entry {i}: {id_name} must be a UUID (8-4-4-4-12 hex digits), got {_shown(ident)}")
        level = role(row, key, value, f"entry {i}: ")
        if _UUID.match(ident) and level is not None:
            entries.append({id_name: ident, "accessRole": level})
    return entries
