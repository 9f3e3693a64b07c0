"""A report job on the state machine: each child runs one meeting (``ReportRun`` on that meeting alone) and keeps
its roll-up as a *part*; a meeting stopped by a daily limit runs again after the reset, in a later round, and
adds another part. Finalize merges every meeting's parts into the job's run files, in the order and the format
one run writes them (``run.write_run_files``), streaming: one meeting's rows in memory at a time.

A meeting's last part has its final planning (instances, registrants, skips, failures: an instance that failed
in an earlier round was tried again); what was written is summed over its parts. So the job's summary counts
what one uninterrupted run would have, whatever the daily limits cut.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable
from dataclasses import asdict, fields
from typing import IO, Any

from ...jobs.results import cell
from .files import ATTENDANCE_FIELDS, INSTANCE_FIELDS
from .run import RunSummary, row_order

SUMMED = ("instances_written", "rows_written", "single_participant", "requests", "throttled")
FROM_LAST = ("meetings", "instances", "registrants_written", "skipped_recent")


def part(summary: RunSummary, attendance: list[dict], instances: list[dict]) -> dict[str, Any]:
    return {"summary": asdict(summary), "attendance": attendance, "instances": instances}


def failed_part(run_id: str, meeting_id: str, reason: str) -> dict[str, Any]:
    """The part of a meeting whose child failed for good: the meeting is in the summary's failures."""
    summary = RunSummary(run_id, failed=[{"meeting_id": meeting_id, "instance_uuid": "", "reason": reason}])
    return part(summary, [], [])


def stopped(part_: dict[str, Any]) -> bool:
    """The meeting still has work: a daily limit (or the time limit) stopped its child."""
    return bool(part_["summary"].get("stopped"))


def merge_summary(run_id: str, started_at: str, finished_at: str, parts: dict[str, list[dict]]) -> RunSummary:
    """The job's summary from every meeting's parts (each list in round order)."""
    total = RunSummary(run_id, started_at=started_at, finished_at=finished_at)
    for meeting_id in sorted(parts):
        summaries = [p["summary"] for p in parts[meeting_id]]
        last = summaries[-1]
        for name in SUMMED:
            setattr(total, name, getattr(total, name) + sum(int(s.get(name) or 0) for s in summaries))
        for name in FROM_LAST:
            setattr(total, name, getattr(total, name) + int(last.get(name) or 0))
        done_by_this_job = sum(int(s.get("instances_written") or 0) for s in summaries[:-1])
        total.skipped_done += int(last.get("skipped_done") or 0) - done_by_this_job
        total.failed.extend(last.get("failed") or [])
    return total


def summary_of(document: dict[str, Any]) -> RunSummary:
    """A RunSummary back from its JSON form."""
    known = {f.name for f in fields(RunSummary)}
    return RunSummary(**{k: v for k, v in document.items() if k in known})


class CsvOut:
    """A run file written row by row: the same bytes ``files.csv_bytes`` makes of all the rows at once."""

    def __init__(self, handle: IO[str], columns: Iterable[str]):
        self._writer = csv.DictWriter(handle, fieldnames=list(columns), extrasaction="ignore")
        self._writer.writeheader()

    def rows(self, rows: Iterable[dict]) -> None:
        for row in rows:
            self._writer.writerow({k: cell(v) if isinstance(v, str) else v for k, v in row.items()})


class RunFiles:
    """attendance.csv and instances.csv of the job, fed one meeting at a time in meeting id order."""

    def __init__(self, attendance: IO[str], instances: IO[str]):
        self._attendance = CsvOut(attendance, ATTENDANCE_FIELDS)
        self._instances = CsvOut(instances, INSTANCE_FIELDS)

    def meeting(self, parts: list[dict]) -> None:
        for name, out in (("attendance", self._attendance), ("instances", self._instances)):
            out.rows(sorted((row for p in parts for row in p[name]), key=row_order))
