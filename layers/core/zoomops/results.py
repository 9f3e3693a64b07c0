"""The files a bulk disassociate run writes: summary.json, rows.csv, retry.csv, requests.jsonl."""

from __future__ import annotations

import csv
import json
from dataclasses import asdict, dataclass, field
from itertools import repeat
from operator import itemgetter
from pathlib import Path

from .csvinput import TEMPLATE_HEADER

ROWS_HEADER = ("line", "meeting_id", "context_id", "domain", "course_id", "status", "reason")
STATUSES = ("sent", "planned", "rejected", "duplicate", "failed")
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "\n")
# First characters after which cell() may change a value: the formula starters and every
# character str.isspace() is true for (cell() looks past leading whitespace).
WHITESPACE = (
    "\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005"
    "\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
)
_RISKY_FIRST = frozenset("=+-@" + WHITESPACE)
_first_char = itemgetter(slice(0, 1))


def _plain(text: str) -> bool:
    """True when csv.writer (QUOTE_MINIMAL) would write ``text`` unquoted."""
    return not ("," in text or '"' in text or "\n" in text or "\r" in text)


def cells(column: list[str]) -> list[str]:
    """:func:`cell` over a column; a column with no risky first character is returned as is."""
    if _RISKY_FIRST.isdisjoint(map(_first_char, column)):
        return column
    return list(map(cell, column))


def cell(value: str) -> str:
    """A cell a spreadsheet shows as text: one that could start a formula gets a leading '."""
    if value and (value[0] in _FORMULA_START or value.lstrip()[:1] in _FORMULA_START):
        return "'" + value
    return value


@dataclass
class Summary:
    file: str
    encoding: str | None = None
    total_rows: int = 0
    sent: int = 0
    planned: int = 0
    rejected: int = 0
    duplicates: int = 0
    failed: int = 0
    batches: int = 0
    batches_failed: int = 0
    requests_sent: int = 0
    dry_run: bool = False
    user_id: str | None = None
    batch_size: int = 0
    started_at: str = ""
    finished_at: str = ""
    refused: str | None = None
    warnings: list[str] = field(default_factory=list)
    run_id: str | None = None

    @property
    def accounted(self) -> int:
        return self.sent + self.planned + self.rejected + self.duplicates + self.failed

    def as_dict(self) -> dict:
        return asdict(self)


class ResultFiles:
    """Writes one run's result files into a local directory, row by row."""

    def __init__(self, directory: str | Path, *, dry_run: bool):
        self.dir = Path(directory)
        self.dir.mkdir(parents=True, exist_ok=True)
        self._rows_file = open(self.dir / "rows.csv", "w", newline="", encoding="utf-8")
        self._retry_file = open(self.dir / "retry.csv", "w", newline="", encoding="utf-8")
        self._rows = csv.writer(self._rows_file)
        self._retry = csv.writer(self._retry_file)
        self._rows.writerow(ROWS_HEADER)
        self._retry.writerow(TEMPLATE_HEADER)
        self._requests = open(self.dir / "requests.jsonl", "w", encoding="utf-8") if dry_run else None

    def columns(self, lines: list[int], meeting: list[str], context: list[str], domain: list[str],
                course: list[str], status: str, reason: str = "") -> None:
        """Consecutive records with one status, written column-wise (csv's C writer does the rows)."""
        n = len(lines)
        columns = (cells(meeting), cells(context), cells(domain), cells(course))
        reason = cell(reason)
        if _plain(reason) and all(map(_plain, map("".join, columns))):
            # Nothing to quote: exactly what csv.writer would write, three times faster.
            line = "{},{},{},{},{}," + status + "," + reason + "\r\n"
            self._rows_file.write("".join(map(line.format, lines, *columns)))
        else:
            self._rows.writerows(zip(lines, *columns, repeat(status, n), repeat(reason, n)))
        if status == "failed":
            self._retry.writerows(zip(meeting, context, domain, course))

    def request(self, line: str) -> None:
        if self._requests is not None:
            self._requests.write(line)

    def finish(self, summary: Summary) -> None:
        self.close()
        (self.dir / "summary.json").write_text(json.dumps(summary.as_dict(), indent=2) + "\n")

    def close(self) -> None:
        for handle in (self._rows_file, self._retry_file, self._requests):
            if handle is not None and not handle.closed:
                handle.close()
