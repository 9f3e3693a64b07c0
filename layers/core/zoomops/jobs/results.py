"""The files every bulk job writes: ``rows.csv`` (every input record and its outcome), ``retry.csv`` (the
failed rows, to re-drive), ``requests.jsonl`` (a dry run's plan) and ``summary.json``; and the guard that
keeps any CSV cell we write from running as a spreadsheet formula.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Sequence
from itertools import repeat
from operator import itemgetter
from pathlib import Path
from typing import Any

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "\n")
# First characters after which cell() may change a value: the formula starters and every
# character str.isspace() is true for (cell() looks past leading whitespace).
WHITESPACE = (
    "\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005"
    "\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
)
_RISKY_FIRST = frozenset("=+-@" + WHITESPACE)
_first_char = itemgetter(slice(0, 1))


def cell(value: str) -> str:
    """A cell a spreadsheet shows as text: one that could start a formula gets a leading '."""
    if value and (value[0] in _FORMULA_START or value.lstrip()[:1] in _FORMULA_START):
        return "'" + value
    return value


def cells(column: list[str]) -> list[str]:
    """:func:`cell` over a column; a column with no risky first character is returned as is."""
    if _RISKY_FIRST.isdisjoint(map(_first_char, column)):
        return column
    return list(map(cell, column))


def _plain(text: str) -> bool:
    """True when csv.writer (QUOTE_MINIMAL) would write ``text`` unquoted."""
    return not ("," in text or '"' in text or "\n" in text or "\r" in text)


class ResultFiles:
    """One run's result files in a local directory, written row by row as the run goes.

    ``rows.csv`` is ``line, <values...>, status, reason`` (``rows_header``); ``retry.csv`` has
    ``retry_header`` and takes the values as they were written in the input, so it can be uploaded again.
    """

    def __init__(
        self,
        directory: str | Path,
        *,
        rows_header: Sequence[str],
        retry_header: Sequence[str],
        dry_run: bool,
        retry_status: str = "failed",
    ):
        self.dir = Path(directory)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.retry_status = retry_status
        self._rows_file = open(self.dir / "rows.csv", "w", newline="", encoding="utf-8")  # noqa: SIM115 - open for the run
        self._retry_file = open(self.dir / "retry.csv", "w", newline="", encoding="utf-8")  # noqa: SIM115
        self._rows = csv.writer(self._rows_file)
        self._retry = csv.writer(self._retry_file)
        self._rows.writerow(rows_header)
        self._retry.writerow(retry_header)
        requests = self.dir / "requests.jsonl"
        self._requests = open(requests, "w", encoding="utf-8") if dry_run else None  # noqa: SIM115

    def columns(self, lines: list[int], *values: list[str], status: str, reason: str = "") -> None:
        """Consecutive records with one status, written column-wise (csv's C writer does the rows); the
        values are formula-guarded in rows.csv and kept as written in retry.csv."""
        n = len(lines)
        guarded = [cells(column) for column in values]
        reason = cell(reason)
        if _plain(reason) and all(map(_plain, map("".join, guarded))):
            # Nothing to quote: exactly what csv.writer would write, three times faster.
            line = "{}," * (len(values) + 1) + status + "," + reason + "\r\n"
            self._rows_file.write("".join(map(line.format, lines, *guarded)))
        else:
            self._rows.writerows(zip(lines, *guarded, repeat(status, n), repeat(reason, n)))
        if status == self.retry_status:
            self._retry.writerows(zip(*values))

    def row(self, values: Iterable[Any]) -> None:
        """One rows.csv row as given (string cells formula-guarded)."""
        self._rows.writerow([cell(v) if isinstance(v, str) else v for v in values])

    def retry(self, values: Iterable[str]) -> None:
        self._retry.writerow(values)

    def request(self, line: str) -> None:
        if self._requests is not None:
            self._requests.write(line)

    def finish(self, summary: dict[str, Any]) -> None:
        self.close()
        (self.dir / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")

    def close(self) -> None:
        for handle in (self._rows_file, self._retry_file, self._requests):
            if handle is not None and not handle.closed:
                handle.close()
