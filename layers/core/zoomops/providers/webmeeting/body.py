"""A course-meetings row as Web Meeting v6 bodies (pure: no I/O), and the rules checked before any call.

The document's times are UTC JavaScript ISO strings with milliseconds ("2020-04-07T09:00:00.000Z"), so the
row's wall-clock start in its own timezone is converted to UTC here; ``endTime`` is that instant plus the
duration (real minutes, so a meeting across a DST change still lasts what it says).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

from ...provision.spec import MeetingSpec, zoned_start

MEETING_TYPE = "standard"  # the only type the document shows
ACCOUNT_TYPE = "trial"  # the only account type the document shows
LANGUAGE = "en"
_EMAIL = re.compile(r"[^@\s,;]+@[^@\s,;]+\.[^@\s,;]+\Z")
_ID = re.compile(r"[A-Za-z0-9_-]{1,64}\Z")  # goes into a URL path: no '/', '?', '#', spaces

# Extra columns (spec.extra keys) this adapter reads.
FIRSTNAME, LASTNAME = "organizer_firstname", "organizer_lastname"
ACCOUNT_ID, USER_ID = "organizer_account_id", "organizer_user_id"
EXTRA_FIELDS = (FIRSTNAME, LASTNAME, ACCOUNT_ID, USER_ID)


def iso_utc(moment: datetime) -> str:
    """The document's time format: UTC, milliseconds, "Z"."""
    utc = moment.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def organizer_key(email: str) -> str:
    """Memory's key for an organizer: "An email address can only exists once within a web meeting instance"."""
    return email.strip().lower()


def organizer_names(spec: MeetingSpec) -> tuple[str, str]:
    """(first, last) from the extra columns; when blank, from the email's local part split at its first
    '.' ("jane.doe" -> "jane", "doe"; "e0123456" -> "e0123456", "")."""
    first = (spec.extra.get(FIRSTNAME) or "").strip()
    last = (spec.extra.get(LASTNAME) or "").strip()
    if first or last:
        return first, last
    local = spec.host.strip().split("@", 1)[0]
    head, _, tail = local.partition(".")
    return head, tail


def account_body(
    spec: MeetingSpec,
    *,
    paid_until: datetime,
    send_password: bool = True,
    account_type: str = ACCOUNT_TYPE,
    language: str = LANGUAGE,
) -> dict[str, Any]:
    """``POST /api/v6/account``: every field of the document's "Input data"."""
    first, last = organizer_names(spec)
    return {
        "sendPassword": send_password,
        "accountType": account_type,
        "adminFirstname": first,
        "adminLastname": last,
        "adminEmail": spec.host.strip(),
        "adminPreferredLanguage": language,
        "paidUntil": iso_utc(paid_until),
    }


def meeting_body(spec: MeetingSpec, *, meeting_id: str | None = None, send_timezone: bool = True) -> dict[str, Any]:
    """``POST /api/v6/meeting`` (or, with ``meeting_id``, the ``PUT .../false`` body): the document's
    minimal data set, plus the meeting's ``timezone`` (a field of the document's meeting object) so the
    platform shows it in the course's zone. Call :func:`check` first."""
    zoned = zoned_start(spec)
    if zoned is None:
        raise ValueError(f"line {spec.line}: start does not exist in {spec.timezone}")
    start = zoned.astimezone(UTC)  # aware arithmetic in one zone is wall-clock: add real minutes in UTC
    body: dict[str, Any] = {"topic": spec.topic}
    if meeting_id is not None:
        body["id"] = meeting_id
    body.update(
        startTime=iso_utc(start),
        endTime=iso_utc(start + timedelta(minutes=spec.duration)),
        duration=spec.duration,
        type=MEETING_TYPE,
        isRecurring=False,
        isRecorded=spec.auto_recording == "cloud",
        isDialin=False,
        invitedParticipants=[],
        recurring={},
        meetingPermissionId=None,
    )
    if send_timezone:
        body["timezone"] = spec.timezone
    return body


def check(spec: MeetingSpec) -> list[tuple[str, str]]:
    """(field, reason) for every part of the row Web Meeting v6, as documented, cannot take."""
    problems: list[tuple[str, str]] = []
    if not _EMAIL.match(spec.host.strip()):
        problems.append(("host", "must be the organizer's email address (Web Meeting organizers are emails)"))
    if not spec.topic.strip():
        problems.append(("topic", "must not be blank"))
    if isinstance(spec.duration, bool) or not isinstance(spec.duration, int) or spec.duration <= 0:
        problems.append(("duration", f"must be a positive whole number of minutes, got {spec.duration!r}"))
    if zoned_start(spec) is None:
        problems.append(("start", f"{spec.start:%Y-%m-%d %H:%M} does not exist in {spec.timezone} (a DST change)"))
    problems.extend(_unsupported(spec))
    for name, value in spec.extra.items():
        if name not in EXTRA_FIELDS and (value or "").strip():  # a filled column Web Meeting never sees: a mistake
            problems.append((name, f"not a Web Meeting field (its own columns: {', '.join(EXTRA_FIELDS)})"))
    for name in (ACCOUNT_ID, USER_ID):
        value = (spec.extra.get(name) or "").strip()
        if value and not _ID.match(value):
            problems.append((name, "must be a Web Meeting id (letters and digits, e.g. 5e9459c5b863b82cefdddf4f)"))
    return problems


def _unsupported(spec: MeetingSpec) -> list[tuple[str, str]]:
    problems = []
    if spec.recurring or spec.until is not None or spec.occurrences:
        problems.append(
            (
                "weekdays",
                'Web Meeting v6 cannot make a weekly series: its document only shows "isRecurring": false '
                'and an empty "recurring" object, with no weekday field; give one row per meeting',
            )
        )
    if spec.alternative_hosts:
        problems.append(("alternative_hosts", "Web Meeting v6 has no alternative hosts (none in its document)"))
    if spec.waiting_room:
        problems.append(("waiting_room", "Web Meeting v6 has no waiting room option (none in its document)"))
    if spec.auto_recording not in (None, "", "none", "cloud"):
        problems.append(
            (
                "auto_recording",
                f"{spec.auto_recording!r} has no Web Meeting equivalent: its meetings are recorded on the platform "
                "(isRecorded) or not, so use cloud or none",
            )
        )
    return problems
