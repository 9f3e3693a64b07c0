"""Stage one of provisioning: read the course-meetings CSV, reject what is wrong (line, field, reason), reject
both rows of a repeated key, and decide for each remaining row what the platform must do, from the ledger:
create, recover (a create whose answer was lost), update, or nothing."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, BinaryIO

from ..errors import FileRefused
from ..jobs.csvreader import CsvSource
from .ledger import ABSENT, CREATING, Entry, Ledger
from .schema import parse, schema
from .spec import MeetingSpec, Provider

# What a row needs: create | recover | update | none; or it is already settled (rejected).
CREATE, RECOVER, UPDATE, NOTHING = "create", "recover", "update", "none"


@dataclass
class Row:
    line: int
    raw: list[str]  # the row as written: retry.csv keeps the input's own columns
    key: str = ""
    spec: MeetingSpec | None = None
    action: str = ""
    entry: Entry | None = None
    seen: str | None = None  # the ledger entry's state when the row was decided (None: no entry)
    status: str = ""  # created | updated | unchanged | rejected | failed | deferred | planned
    meeting_id: str = ""
    join_url: str = ""
    association: str = ""
    reason: str = ""
    body: dict[str, Any] = field(default_factory=dict)

    def settle(self, status: str, reason: str = "") -> None:
        self.status, self.reason = status, reason


@dataclass
class Plan:
    rows: list[Row]
    header: list[str]
    encoding: str | None
    warnings: list[str]


def read(stream: BinaryIO, name: str, provider: Provider, *, associate: bool) -> Plan:
    """Every record of the file as a row: rejected with its reasons, or parsed and checked by the platform.
    A file that cannot be read at all raises FileRefused."""
    columns = schema(provider.name, associate=associate)
    source = CsvSource(stream, columns, name)
    rows: list[Row] = []
    shown: dict[str, str] = {}
    for record in source:
        if not shown:  # each field by the name the file gives its column (else the documented one)
            shown = _shown(columns, source.header, source.columns)
        rows.append(_row(record, provider, shown))
    _reject_repeated_keys(rows)
    return Plan(rows, source.header, source.encoding, source.warnings)


def rows_of(header: list[str], lines: list[tuple[int, list[str]]], provider: Provider, *, associate: bool) -> list[Row]:
    """Rows of a file already read (a part of it, each line as written under ``header``), parsed again: the
    stack's workers get their share of the file this way."""
    columns = schema(provider.name, associate=associate)
    index = columns.map_header(header)
    shown = _shown(columns, header, index)
    rows = []
    for line, raw in lines:
        values = [raw[index[f]] if f in index and index[f] < len(raw) else "" for f in columns.fields]
        rows.append(_row(columns.Record(line, *values, raw), provider, shown))
    return rows


def _shown(columns: Any, header: list[str], index: dict[str, int]) -> dict[str, str]:
    shown = {c.field: c.header for c in columns.columns} | {field: header[i] for field, i in index.items()}
    return shown | {"weekdays": shown["repeat"]}  # the adapters' name for the Repeat column's days


def _row(record: Any, provider: Provider, shown: dict[str, str]) -> Row:
    row = Row(record.line, list(record.raw))
    parsed = parse(record, provider.name)
    if not isinstance(parsed, list):
        row.spec, row.key = parsed, parsed.key
        parsed = provider.check(parsed)
    if parsed:
        row.settle("rejected", _reasons(record.line, parsed, shown))
    return row


def _reasons(line: int, problems: list[tuple[str, str]], shown: dict[str, str]) -> str:
    return f"line {line}: " + "; ".join(f"{shown.get(field, field)}: {reason}" for field, reason in problems)


def _reject_repeated_keys(rows: list[Row]) -> None:
    """Two rows with one key would be one meeting changed twice: both are rejected, each naming the other."""
    lines: dict[str, list[int]] = {}
    for row in rows:
        if row.spec is not None:
            lines.setdefault(row.key, []).append(row.line)
    for row in rows:
        others = [n for n in lines.get(row.key, ()) if n != row.line] if row.spec is not None else []
        if others and not row.status:
            shown = ", ".join(map(str, others))
            row.settle(
                "rejected",
                f"line {row.line}: Key: {row.key!r} is also the key of line {shown}; each row "
                f"needs its own (set the Key column, or change the Topic)",
            )


def decide(rows: list[Row], provider: Provider, ledger: Ledger) -> None:
    """What each accepted row needs from the platform, given what the ledger remembers."""
    for row in rows:
        if row.status or row.spec is None:
            continue
        row.body = provider.body(row.spec)
        row.entry = ledger.get(row.key)
        row.seen = row.entry.state if row.entry else None
        if row.entry is None or row.entry.state == ABSENT:
            row.action, row.entry = CREATE, None
        elif row.entry.state == CREATING:
            row.action = RECOVER
        elif row.entry.body != row.body or row.entry.host.lower() != row.spec.host.lower():
            row.action = UPDATE
        else:
            row.action = NOTHING


def refusal(name: str, exc: FileRefused) -> str:
    return f"{name}: {exc}"
