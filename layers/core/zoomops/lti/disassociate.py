"""Bulk disassociate: one CSV stream in, every row accounted for out.

The same stages serve the Lambda handler, the CLI, the removal state machine and the local stack: **plan**
each chunk of records (validate, de-duplicate, encode), **decide** each full batch (send it, sign it into
``requests.jsonl`` on a dry run, hand it to the state machine as a work item, or read back what the state
machine's child did with it), **record** every row's outcome once its batch has one (``batches.py``). What
differs between entry points (where results go, where checkpoints live, how a batch is decided) is passed in.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from ..clock import utc_now
from ..errors import FileRefused, OutOfTime
from ..jobs.csvreader import CsvSource
from ..jobs.results import ResultFiles
from . import MAX_BATCH
from .batches import Batches, Checkpoint, Context, Replayed, Sender, plan_chunk
from .rows import IMPORT_TEMPLATE, TEMPLATE_HEADER, Deduplicator
from .signing import LtiCredentials

__all__ = ["Checkpoint", "Options", "OutOfTime", "Sender", "Summary", "finalize", "result_files", "run"]

LTI_IMPORT_ROW_LIMIT = 1000
ROWS_HEADER = ("line", "meeting_id", "context_id", "domain", "course_id", "status", "reason")
STATUSES = ("sent", "planned", "rejected", "duplicate", "failed")


@dataclass(frozen=True)
class Options:
    dry_run: bool = False
    user_id: str | None = None
    batch_size: int = MAX_BATCH

    def __post_init__(self) -> None:
        if not 1 <= self.batch_size <= MAX_BATCH:
            raise ValueError(f"batch size must be between 1 and {MAX_BATCH}, got {self.batch_size}")
        if self.user_id is not None and not self.user_id.strip():
            raise ValueError("user id must not be blank")


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
    interrupted: str | None = None  # why sending stopped early (the rest is in retry.csv; resume to finish)
    credentials_refused: bool = False  # LTI Pro answered 401: every batch after it was left unsent
    unreachable: str | None = None  # the last "no answer" failure (host and what happened), if any
    resumed_batches: int = 0  # batches an earlier attempt of this run had delivered

    @property
    def accounted(self) -> int:
        return self.sent + self.planned + self.rejected + self.duplicates + self.failed

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


Progress = Callable[[Summary, int], None]


def result_files(directory: str | Path, *, dry_run: bool) -> ResultFiles:
    """rows.csv with every record's outcome; retry.csv in the import template's own columns."""
    return ResultFiles(directory, rows_header=ROWS_HEADER, retry_header=TEMPLATE_HEADER, dry_run=dry_run)


def run(
    stream: BinaryIO,
    name: str,
    out: Any,
    options: Options,
    *,
    sender: Sender | None = None,
    creds: LtiCredentials | None = None,
    checkpoint: Checkpoint | None = None,
    progress: Progress | None = None,
    time_left: Callable[[], float] | None = None,
    min_time_left: float = 60.0,
    stop: Callable[[], str | None] | None = None,
    clock: Callable[[], float] = time.time,
    run_id: str | None = None,
    collect: Callable[[int, bytes, int], None] | None = None,
    replay: Callable[[int], Replayed] | None = None,
) -> Summary:
    """Read, validate, de-duplicate, batch, sign and send (or plan) one CSV.

    Returns the summary, also written to ``out``. A file refused as a whole gives a summary with
    ``refused`` set and no rows. Raises :class:`OutOfTime` when ``time_left()`` drops under
    ``min_time_left`` seconds before a batch; with ``stop`` (see :class:`Context`) it never raises for a
    stop or a sending error: every row is still accounted for and ``summary.interrupted`` says why.
    ``collect`` and ``replay`` are the removal state machine's plan and finalize (see ``batches.py``).
    """
    if not options.dry_run and sender is None and collect is None and replay is None:
        raise ValueError("a sender is needed unless this is a dry run")
    if creds is None:
        raise ValueError("LTI credentials are needed to sign requests")
    summary = Summary(
        file=name,
        dry_run=options.dry_run,
        user_id=options.user_id,
        batch_size=options.batch_size,
        started_at=utc_now(),
        run_id=run_id,
    )
    ctx = Context(creds, sender, checkpoint, progress, time_left, min_time_left, stop, clock, collect, replay)
    batches = Batches(summary, out, options, ctx)
    source, dedup = CsvSource(stream, IMPORT_TEMPLATE, name), Deduplicator()
    try:
        for chunk in source.chunks():
            plan_chunk(chunk, dedup, batches)
        batches.flush()
    except FileRefused as refusal:
        summary.refused = f"{name}: {refusal}"
    except BaseException:
        out.close()
        raise
    summary.interrupted = batches.stopped
    summary.resumed_batches = len(batches.accepted)
    finalize(summary, source)
    out.finish(summary.as_dict())
    return summary


def finalize(summary: Summary, source: CsvSource) -> None:
    summary.encoding = source.encoding
    summary.finished_at = utc_now()
    if summary.refused:
        return
    summary.warnings.extend(source.warnings)
    if summary.total_rows == 0:
        summary.warnings.append("the file has a header but no rows: nothing to do")
    if summary.total_rows > LTI_IMPORT_ROW_LIMIT:
        summary.warnings.append(
            f"{summary.total_rows} rows: more than LTI Pro's {LTI_IMPORT_ROW_LIMIT}-row import limit, so this "
            f"file spans several imports; every row was processed"
        )
