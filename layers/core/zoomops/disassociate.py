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

from .csvinput import CsvSource, FileRefused, MalformedTail, Record
from .lti import MAX_BATCH, BatchResult, LtiCredentials, encode_body, sign_call
from .results import ResultFiles, Summary
from .rows import Deduplicator, check

LTI_IMPORT_ROW_LIMIT = 1000
# A batch is flushed early when this many records wait behind it, so a long run
# of rejected rows after a few valid ones never piles up in memory.
_MAX_PENDING_FACTOR = 8


class Sender(Protocol):
    def send(self, body: bytes) -> BatchResult: ...


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
    pending: list[tuple[Record, str, str]] = []  # (record, status, reason) in line order
    batch: list[Record] = []
    items: list[dict[str, str]] = []
    auth_failure: str | None = None
    max_pending = options.batch_size * _MAX_PENDING_FACTOR

    def flush() -> None:
        nonlocal auth_failure
        if not batch:
            return
        number = summary.batches
        summary.batches += 1
        status, reason = "sent", ""
        if options.dry_run:
            call = sign_call(creds, encode_body(items, options.user_id), clock())
            out.request(call.as_record(number))
            status = "planned"
        elif number in accepted:
            reason = "accepted by LTI Pro in an earlier attempt of this run"
        elif auth_failure is not None:
            status, reason = "failed", f"not sent: {auth_failure}"
        else:
            if time_left is not None and time_left() < min_time_left:
                raise OutOfTime(f"{time_left():.0f}s left before batch {number}")
            result = sender.send(encode_body(items, options.user_id))
            summary.requests_sent += result.attempts
            if result.ok:
                if checkpoint is not None:
                    checkpoint.mark_accepted(number)
            else:
                status, reason = "failed", result.message
                if result.auth_failed:
                    auth_failure = f"an earlier batch was refused: {result.message}"
        if status == "failed":
            summary.batches_failed += 1
        size = len(batch)
        setattr(summary, status, getattr(summary, status) + size)
        for record, row_status, row_reason in pending:
            if row_status:
                out.row(record, row_status, row_reason)
            else:
                out.row(record, status, reason)
        pending.clear()
        batch.clear()
        items.clear()
        if progress is not None:
            progress(summary, summary.batches)

    def settled(entry: tuple[Record, str, str]) -> None:
        """A rejected or duplicate row: written now, or after the batch it follows."""
        if pending:
            pending.append(entry)
            if len(pending) >= max_pending:
                flush()
        else:
            out.row(*entry)

    try:
        try:
            for record in source:
                summary.total_rows += 1
                verdict = check(record)
                if isinstance(verdict, str):
                    summary.rejected += 1
                    settled((record, "rejected", f"line {record.line}: {verdict}"))
                    continue
                meeting, context, domain = verdict
                first = dedup.first_line(meeting, context, domain, record.line)
                if first is not None:
                    summary.duplicates += 1
                    settled((record, "duplicate", f"same meeting, context and domain as line {first}"))
                    continue
                item = {"meetingId": meeting, "contextId": context, "domain": domain}
                course = record.course_id.strip()
                if course:
                    item["courseId"] = course
                items.append(item)
                batch.append(record)
                pending.append((record, "", ""))
                if len(batch) >= options.batch_size:
                    flush()
        except MalformedTail as tail:
            # Everything from there on is one unparseable record: rejected, and reading stops.
            summary.warnings.append(f"stopped reading at line {tail.line}: {tail.reason}")
            summary.total_rows += 1
            summary.rejected += 1
            settled((Record(tail.line, "", "", "", ""), "rejected", f"line {tail.line}: {tail.reason}"))
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
