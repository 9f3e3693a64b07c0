"""Bulk disassociate: one CSV stream in, every row accounted for out.

The same function serves the Lambda handler, the CLI and the local stack; what
differs between them (where results go, where checkpoints live, whether a
request is really sent) is passed in.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import BinaryIO, Callable, Protocol

from itertools import compress
from operator import ne

from .csvinput import Chunk, CsvSource, FileRefused
from .lti import MAX_BATCH, BatchResult, LtiCredentials, encode_item_columns, encode_items, sign_call
from .results import ResultFiles, Summary
from .rows import Deduplicator, check_chunk

LTI_IMPORT_ROW_LIMIT = 1000
# A batch is flushed early when this many records wait behind it, so a long run
# of rejected rows after a few valid ones never piles up in memory.
_MAX_PENDING_FACTOR = 8


class Sender(Protocol):
    def send(self, body: bytes, time_left: Callable[[], float] | None = None) -> BatchResult: ...


class Checkpoint(Protocol):
    """Where accepted batches are remembered, so a re-invoked run never re-sends them."""

    def accepted_batches(self) -> set[int]: ...

    def mark_accepted(self, batch: int) -> None: ...


class Progress(Protocol):
    def __call__(self, summary: Summary, batches_done: int) -> None: ...


class OutOfTime(Exception):
    """Raised before a batch when too little time is left; the run resumes on re-delivery."""


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


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


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
    clock: Callable[[], float] = time.time,
    run_id: str | None = None,
) -> Summary:
    """Read, validate, de-duplicate, batch, sign and send (or plan) one CSV.

    Returns the summary, also written to ``out``. A file refused as a whole gives
    a summary with ``refused`` set and no rows. Raises :class:`OutOfTime` when
    ``time_left()`` drops under ``min_time_left`` seconds before a batch.
    """
    if not options.dry_run and sender is None:
        raise ValueError("a sender is needed unless this is a dry run")
    if creds is None:
        raise ValueError("LTI credentials are needed to sign requests")
    summary = Summary(
        file=name, dry_run=options.dry_run, user_id=options.user_id,
        batch_size=options.batch_size, started_at=_now(), run_id=run_id,
    )
    accepted = checkpoint.accepted_batches() if checkpoint else set()
    dedup = Deduplicator()
    source = CsvSource(stream, name)
    # Segments waiting for the open batch's outcome, in line order: column slices of one
    # chunk and their status, or None for the batch's own rows.
    pending: list[tuple[list, list, list, list, list, str | None, str]] = []
    pending_rows = 0
    items: list[str] = []  # the open batch, each item already JSON (lti.ITEM_JSON)
    auth_failure: str | None = None
    batch_size = options.batch_size
    max_pending = batch_size * _MAX_PENDING_FACTOR

    def flush() -> None:
        nonlocal auth_failure, pending_rows
        if not items:
            return
        number = summary.batches
        summary.batches += 1
        status, reason = "sent", ""
        if options.dry_run:
            call = sign_call(creds, encode_items(items, options.user_id), clock())
            out.request(call.as_record(number))
            status = "planned"
        elif number in accepted:
            reason = "accepted by LTI Pro in an earlier attempt of this run"
        elif auth_failure is not None:
            status, reason = "failed", f"not sent: {auth_failure}"
        else:
            if time_left is not None and time_left() < min_time_left:
                raise OutOfTime(f"{time_left():.0f}s left before batch {number}")
            result = sender.send(encode_items(items, options.user_id), time_left=time_left)
            summary.requests_sent += result.attempts
            if result.out_of_time:
                raise OutOfTime(f"batch {number}: {result.message}")
            if result.ok:
                if checkpoint is not None:
                    checkpoint.mark_accepted(number)
            else:
                status, reason = "failed", result.message
                if result.auth_failed:
                    auth_failure = f"an earlier batch was refused: {result.message}"
        if status == "failed":
            summary.batches_failed += 1
        setattr(summary, status, getattr(summary, status) + len(items))
        for *columns, row_status, row_reason in pending:
            if row_status is None:
                out.columns(*columns, status, reason)
            else:
                out.columns(*columns, row_status, row_reason)
        pending.clear()
        pending_rows = 0
        items.clear()
        if progress is not None:
            progress(summary, summary.batches)

    def settled(chunk: Chunk, i: int, status: str, reason: str) -> None:
        """A rejected or duplicate row: written now, or after the open batch it follows."""
        nonlocal pending_rows
        columns = ([chunk.lines[i]], [chunk.meeting_id[i]], [chunk.context_id[i]], [chunk.domain[i]],
                   [chunk.course_id[i]])
        if items:
            pending.append((*columns, status, reason))
            pending_rows += 1
            if pending_rows >= max_pending:
                flush()
        else:
            out.columns(*columns, status, reason)

    def batched(chunk: Chunk, encoded: list[str], lo: int, hi: int) -> None:
        """Valid rows ``lo:hi`` of a chunk join the open batch, which is sent whenever full."""
        nonlocal pending_rows
        while lo < hi:
            end = min(hi, lo + batch_size - len(items))
            pending.append((chunk.lines[lo:end], chunk.meeting_id[lo:end], chunk.context_id[lo:end],
                            chunk.domain[lo:end], chunk.course_id[lo:end], None, ""))
            pending_rows += end - lo
            items.extend(encoded[lo:end])
            lo = end
            if len(items) >= batch_size:
                flush()

    try:
        for chunk in source.chunks():
            n = len(chunk.lines)
            summary.total_rows += n
            ms, cs, ds, ks, rejected = check_chunk(chunk)
            irregular = {i: ("rejected", f"line {chunk.lines[i]}: {reason}") for i, reason in rejected.items()}
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
                batched(chunk, encoded, lo, i)
                settled(chunk, i, *irregular[i])
                lo = i + 1
            batched(chunk, encoded, lo, n)
        flush()
    except FileRefused as refusal:
        summary.refused = f"{name}: {refusal}"
        summary.encoding = source.encoding
        summary.finished_at = _now()
        out.finish(summary)
        return summary
    except BaseException:
        out.close()
        raise
    summary.encoding = source.encoding
    summary.warnings.extend(source.warnings)
    if summary.total_rows == 0:
        summary.warnings.append("the file has a header but no rows: nothing to do")
    if summary.total_rows > LTI_IMPORT_ROW_LIMIT:
        summary.warnings.append(
            f"{summary.total_rows} rows: more than LTI Pro's {LTI_IMPORT_ROW_LIMIT}-row import "
            f"limit, so this file spans several imports; every row was processed"
        )
    summary.finished_at = _now()
    out.finish(summary)
    return summary
