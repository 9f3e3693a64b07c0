"""What a provisioning job asks of a conferencing platform.

Each row of a course-meetings CSV becomes a platform-neutral :class:`MeetingSpec`; a platform adapter
(:class:`Provider`: Zoom, Web Meeting v6, LumiNUS) turns it into its own request, creates or updates the
meeting, and answers a :class:`Provisioned` that holds nothing secret (no start URL, password or host key;
join URLs without an embedded passcode). What an adapter must remember between runs (platform ids) goes
into ``Provisioned.ledger``; what it remembers across rows (Web Meeting organizer accounts) into the
``memory`` mapping the job persists with its ledger.
"""

from __future__ import annotations

from collections.abc import Mapping, MutableMapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any, Protocol
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit
from zoneinfo import ZoneInfo

from ..errors import Refused, Unavailable

WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")  # ISO order: Mon = 1 ... Sun = 7


@dataclass(frozen=True)
class MeetingSpec:
    key: str  # the row's stable identity: the ledger's key
    line: int  # the input line it came from (for messages)
    host: str  # a platform user: email or id
    topic: str
    start: datetime  # naive: the wall-clock time in ``timezone`` (a weekly class stays at 09:00 across DST)
    timezone: str  # IANA name, already validated
    duration: int  # minutes
    weekdays: tuple[int, ...] = ()  # ISO weekdays (1 = Mon ... 7 = Sun); empty: one meeting, not a series
    until: date | None = None  # a weekly series' last day (inclusive), or
    occurrences: int | None = None  # how many meetings the series has
    alternative_hosts: tuple[str, ...] = ()
    waiting_room: bool | None = None
    auto_recording: str | None = None  # none | local | cloud
    course: Mapping[str, str] = field(default_factory=dict)  # context_id, domain, course_id (may be empty)
    extra: Mapping[str, str] = field(default_factory=dict)  # the platform's own columns, by field name

    @property
    def recurring(self) -> bool:
        return bool(self.weekdays)


@dataclass
class Provisioned:
    meeting_id: str  # the platform's meeting id (for Zoom: what LTI Pro imports)
    join_url: str = ""  # without any embedded passcode: see safe_join_url
    extra: dict[str, str] = field(default_factory=dict)  # safe to show: other ids (e.g. LumiNUS' Zoom meeting id)
    ledger: dict[str, Any] = field(default_factory=dict)  # what a later update needs (ids); never a secret


@dataclass(frozen=True)
class PlannedRequest:
    """One request a dry run would make: what ``requests.jsonl`` shows (never a key, token or password)."""

    method: str
    url: str
    body: Any = None
    note: str = ""


class NeedsManualChange(Refused):
    """The platform cannot update a meeting this way (LumiNUS has no update): the row says what to do."""


class PlatformRefused(Unavailable):
    """The platform answered this row with an error that retrying will not fix (a 4xx, responseCode != 0)."""

    def __init__(self, message: str, *, status: int | None = None):
        super().__init__(message)
        self.status = status


class HostDailyLimit(Unavailable):
    """This host's daily create/update allowance is spent; its remaining rows wait until ``resume_after``."""

    def __init__(self, host: str, resume_after: datetime, message: str = ""):
        super().__init__(message or f"daily create/update limit reached for host {host}")
        self.host, self.resume_after = host, resume_after


class Provider(Protocol):
    """One conferencing platform behind the provisioning job.

    Errors: ``PlatformRefused`` (this row failed, with the platform's reason), ``HostDailyLimit`` (defer
    this host's rows), ``NeedsManualChange`` (an update the platform cannot make), ``Unavailable`` or a
    ``TransportError`` (the platform failed: the row failed, retry later). Messages never carry secrets.
    """

    name: str  # zoom | webmeeting | luminus
    can_recover: bool  # recover() can tell a lost create's meeting from none (else --retry-lost decides)
    daily_cap: int | None  # creates/updates per host per UTC day the platform allows (None: no stated limit)

    def check(self, spec: MeetingSpec) -> list[tuple[str, str]]:
        """(field, reason) for every rule the platform documents that ``spec`` breaks, before any call."""
        ...

    def body(self, spec: MeetingSpec) -> dict[str, Any]:
        """What create/update would send (no secret): the job compares it with the ledger's to decide
        unchanged vs update."""
        ...

    def plan(self, spec: MeetingSpec, previous: Provisioned | None) -> list[PlannedRequest]:
        """The requests a real run would make for this row (a dry run's requests.jsonl)."""
        ...

    def create(self, spec: MeetingSpec) -> Provisioned: ...

    def update(self, spec: MeetingSpec, previous: Provisioned) -> Provisioned: ...

    def recover(self, spec: MeetingSpec) -> Provisioned | None:
        """After a crash between the platform's answer to a create and the ledger write: the meeting that
        create made, if the platform lets us find it (None: not found, or the platform cannot look)."""
        ...


Memory = MutableMapping[str, Any]  # an adapter's cross-row state, persisted with the ledger


def safe_join_url(url: str) -> str:
    """A join URL without its embedded passcode (``pwd=``): still joins, asking for the passcode."""
    if not url:
        return url
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k.lower() != "pwd"]
    return urlunsplit(parts._replace(query=urlencode(query)))


def zoned_start(spec: MeetingSpec) -> datetime | None:
    """The start as an aware time in the row's zone; None when that wall-clock time does not exist there
    (skipped by a DST change). An ambiguous time (repeated by a DST change) is its first occurrence."""
    zone = ZoneInfo(spec.timezone)
    aware = spec.start.replace(tzinfo=zone, fold=0)
    if aware.astimezone(UTC).astimezone(zone).replace(tzinfo=None) != spec.start.replace(fold=0):
        return None
    return aware
