"""Bulk disassociate: one CSV stream in, every row accounted for out.

The same stages serve the Lambda handler, the CLI and the local stack: **plan** each chunk of records
(validate, de-duplicate, encode), **send** each full batch (or sign it into ``requests.jsonl`` on a dry
run), **record** every row's outcome once its batch has one. What differs between entry points (where
results go, where checkpoints live, whether a request is really sent) is passed in.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from itertools import compress
from operator import ne
from pathlib import Path
from typing import Any, BinaryIO, Protocol

from ..clock import utc_now
from ..errors import FileRefused, OutOfTime
from ..jobs.csvreader import CsvSource
from ..jobs.results import ResultFiles
from . import MAX_BATCH
from .client import BatchResult
from .rows import IMPORT_TEMPLATE, TEMPLATE_HEADER, Deduplicator, check_chunk
from .signing import LtiCredentials, encode_item_columns, encode_items, sign_call

LTI_IMPORT_ROW_LIMIT = 1000
ROWS_HEADER = ("line", "meeting_id", "context_id", "domain", "course_id", "status", "reason")
STATUSES = ("sent", "planned", "rejected", "duplicate", "failed")
# A batch is flushed early when this many records wait behind it, so a long run of rejected rows after
# a few valid ones never piles up in memory.
_MAX_PENDING_FACTOR = 8


class Sender(Protocol):
    def send(
        self, body: bytes, time_left: Callable[[], float] | None = None, user_id: str | None = None
    ) -> BatchResult: ...


class Checkpoint(Protocol):
    """Where accepted batches are remembered, so a re-invoked run never re-sends them."""

    def accepted_batches(self) -> set[int]: ...

    def mark_accepted(self, batch: int) -> None: ...


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


@dataclass
class Context:
    """How one run reaches the outside world (all but the credentials optional).

    ``time_left``/``min_time_left``: a Lambda's remaining time; below the margin before a batch the run raises
    :class:`OutOfTime` and resumes from its checkpoint on redelivery. ``stop``: the CLI's reason to stop
    sending (a signal): the batches left are recorded as not sent, re-drivable, and the run ends normally.
    """

    creds: LtiCredentials
    sender: Sender | None = None
    checkpoint: Checkpoint | None = None
    progress: Progress | None = None
    time_left: Callable[[], float] | None = None
    min_time_left: float = 60.0
    stop: Callable[[], str | None] | None = None
    clock: Callable[[], float] = time.time

    def remaining(self) -> float:
        """What the client may spend on a batch: the Lambda's time, none once asked to stop."""
        if self.stop is not None and self.stop():
            return 0.0
        return self.time_left() if self.time_left is not None else math.inf


class _Batches:
    """The open batch and the rows waiting for its outcome; sends (or plans) it and records the rows."""

    def __init__(self, summary: Summary, out: ResultFiles, options: Options, ctx: Context):
        self.summary, self.out, self.options, self.ctx = summary, out, options, ctx
        self.accepted = ctx.checkpoint.accepted_batches() if ctx.checkpoint else set()
        # Segments waiting for the open batch's outcome, in line order: column slices of one chunk and
        # their status, or None for the batch's own rows.
        self.pending: list[tuple[list, list, list, list, list, str | None, str]] = []
        self.pending_rows = 0
        self.items: list[str] = []  # the open batch, each item already JSON (signing.ITEM_JSON)
        self.auth_failure: str | None = None
        self.stopped: str | None = None  # why nothing more is sent (a signal, an error): the rest is re-drivable
        self.max_pending = options.batch_size * _MAX_PENDING_FACTOR

    # -- plan: rows join the open batch, or wait behind it with their own outcome ------------------
    def add_valid(self, chunk: Any, encoded: list[str], lo: int, hi: int) -> None:
        """Valid rows ``lo:hi`` of a chunk join the open batch, which is sent whenever full."""
        size = self.options.batch_size
        while lo < hi:
            end = min(hi, lo + size - len(self.items))
            self.pending.append(
                (
                    chunk.lines[lo:end],
                    chunk.meeting_id[lo:end],
                    chunk.context_id[lo:end],
                    chunk.domain[lo:end],
                    chunk.course_id[lo:end],
                    None,
                    "",
                )
            )
            self.pending_rows += end - lo
            self.items.extend(encoded[lo:end])
            lo = end
            if len(self.items) >= size:
                self.flush()

    def add_settled(self, chunk: Any, i: int, status: str, reason: str) -> None:
        """A rejected or duplicate row: written now, or after the open batch it follows."""
        columns = (
            [chunk.lines[i]],
            [chunk.meeting_id[i]],
            [chunk.context_id[i]],
            [chunk.domain[i]],
            [chunk.course_id[i]],
        )
        if not self.items:
            self.out.columns(*columns, status=status, reason=reason)
            return
        self.pending.append((*columns, status, reason))
        self.pending_rows += 1
        if self.pending_rows >= self.max_pending:
            self.flush()

    # -- send: one batch ---------------------------------------------------------------------------
    def flush(self) -> None:
        if not self.items:
            return
        number = self.summary.batches
        self.summary.batches += 1
        status, reason = self._send(number)
        if status == "failed":
            self.summary.batches_failed += 1
        setattr(self.summary, status, getattr(self.summary, status) + len(self.items))
        self._record(status, reason)
        if self.ctx.progress is not None:
            self.ctx.progress(self.summary, self.summary.batches)

    def _send(self, number: int) -> tuple[str, str]:
        """The batch's status and reason: planned, already accepted, skipped after a 401 or a stop, sent or failed."""
        ctx, body = self.ctx, encode_items(self.items, self.options.user_id)
        if self.options.dry_run:
            self.out.request(sign_call(ctx.creds, body, ctx.clock(), user_id=self.options.user_id).as_record(number))
            return "planned", ""
        if number in self.accepted:
            return "sent", "accepted by LTI Pro in an earlier attempt of this run"
        if self.stopped is None and ctx.stop is not None:
            self.stopped = ctx.stop()
        if self.stopped is not None:  # asked to stop: the rest resumes later, whatever else happened
            return "failed", f"not sent: {self.stopped}"
        if self.auth_failure is not None:
            return "failed", f"not sent: {self.auth_failure}"
        if ctx.time_left is not None and ctx.time_left() < ctx.min_time_left:
            raise OutOfTime(f"{ctx.time_left():.0f}s left before batch {number}")
        result = self._attempt(number, body)
        if result is None:
            return "failed", f"not sent: {self.stopped}"
        if not result.ok:
            if result.auth_failed:
                self.auth_failure = f"an earlier batch was refused: {result.message}"
                self.summary.credentials_refused = True
            elif result.status is None:
                self.summary.unreachable = result.message
            return "failed", result.message
        if ctx.checkpoint is not None:
            ctx.checkpoint.mark_accepted(number)
        return "sent", ""

    def _attempt(self, number: int, body: bytes) -> BatchResult | None:
        """Send the batch; None when a stop or an error ended the run's sending (``self.stopped`` says why)."""
        ctx = self.ctx
        assert ctx.sender is not None
        try:
            result = ctx.sender.send(body, time_left=ctx.remaining, user_id=self.options.user_id)
        except (Exception, KeyboardInterrupt) as exc:  # a bug or a second Ctrl-C: account for every row anyway
            if ctx.stop is None:
                raise
            self.stopped = f"stopped by {type(exc).__name__} during batch {number}: {exc}".rstrip(": ")
            return None
        self.summary.requests_sent += result.attempts
        if result.out_of_time:
            if ctx.stop is None or not ctx.stop():
                raise OutOfTime(f"batch {number}: {result.message}")
            self.stopped = ctx.stop()
            return None
        return result

    # -- record: every row waiting behind the batch ------------------------------------------------
    def _record(self, status: str, reason: str) -> None:
        for *columns, row_status, row_reason in self.pending:
            if row_status is None:
                self.out.columns(*columns, status=status, reason=reason)
            else:
                self.out.columns(*columns, status=row_status, reason=row_reason)
        self.pending.clear()
        self.pending_rows = 0
        self.items.clear()


def plan_chunk(chunk: Any, dedup: Deduplicator, batches: _Batches) -> None:
    """Validate and de-duplicate one chunk; its valid rows join batches, the others wait in line order."""
    summary, n = batches.summary, len(chunk.lines)
    summary.total_rows += n
    ms, cs, ds, ks, rejected = check_chunk(chunk)
    irregular = {i: ("rejected", f"line {chunk.lines[i]}: {reason}") for i, reason in rejected.items()}
    valid: Sequence[int]
    if rejected:
        valid = [i for i in range(n) if i not in rejected]
        lines, vms, vcs, vds = (list(map(c.__getitem__, valid)) for c in (chunk.lines, ms, cs, ds))
    else:
        valid, lines, vms, vcs, vds = range(n), chunk.lines, ms, cs, ds
    firsts = dedup.first_lines(vms, vcs, vds, lines)
    for p in compress(range(len(lines)), map(ne, firsts, lines)):
        irregular[valid[p]] = ("duplicate", f"same meeting, context and domain as line {firsts[p]}")
    summary.rejected += len(rejected)
    summary.duplicates += len(irregular) - len(rejected)
    encoded = encode_item_columns(ms, cs, ds, ks)
    lo = 0
    for i in sorted(irregular):
        batches.add_valid(chunk, encoded, lo, i)
        batches.add_settled(chunk, i, *irregular[i])
        lo = i + 1
    batches.add_valid(chunk, encoded, lo, n)


def run(
    stream: BinaryIO,
    name: str,
    out: ResultFiles,
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
) -> Summary:
    """Read, validate, de-duplicate, batch, sign and send (or plan) one CSV.

    Returns the summary, also written to ``out``. A file refused as a whole gives a summary with
    ``refused`` set and no rows. Raises :class:`OutOfTime` when ``time_left()`` drops under
    ``min_time_left`` seconds before a batch; with ``stop`` (see :class:`Context`) it never raises for a
    stop or a sending error: every row is still accounted for and ``summary.interrupted`` says why.
    """
    if not options.dry_run and sender is None:
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
    ctx = Context(creds, sender, checkpoint, progress, time_left, min_time_left, stop, clock)
    batches = _Batches(summary, out, options, ctx)
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
