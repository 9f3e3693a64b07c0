"""The batches of one removal run: rows join the open batch (or wait behind it with their own outcome), a full
batch is decided, and every row waiting behind it is recorded with that outcome.

How a batch is decided is the only thing the engines change, through :class:`Context`:

* in one invocation (the SQS handler, the CLI): signed and sent now (``sender``), or signed into
  ``requests.jsonl`` on a dry run;
* planning for the removal state machine: handed to ``collect`` as a work item (its request body), nothing sent;
* finishing a state machine run: the outcome its child recorded, read back through ``replay``.

The batch layout is the same in all of them (same reader, rules, de-duplication and early flushes), so a batch
number means the same rows whichever engine decided it, and the result files come out the same.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from itertools import compress
from operator import ne
from typing import Any, Protocol

from ..errors import OutOfTime
from .client import BatchResult
from .rows import Deduplicator, check_chunk
from .signing import LtiCredentials, encode_item_columns, encode_items, sign_call

# A batch is flushed early when this many records wait behind it, so a long run of rejected rows after
# a few valid ones never piles up in memory.
_MAX_PENDING_FACTOR = 8
EARLIER_ATTEMPT = "accepted by LTI Pro in an earlier attempt of this run"


class Sender(Protocol):
    def send(
        self, body: bytes, time_left: Callable[[], float] | None = None, user_id: str | None = None
    ) -> BatchResult: ...


class Checkpoint(Protocol):
    """Where accepted batches are remembered, so a re-invoked run never re-sends them."""

    def accepted_batches(self) -> set[int]: ...

    def mark_accepted(self, batch: int) -> None: ...


Replayed = BatchResult | tuple[str, str]  # what a child recorded: its answer, or (status, reason) if it sent nothing


@dataclass
class Context:
    """How one run reaches the outside world (all but the credentials optional).

    ``time_left``/``min_time_left``: a Lambda's remaining time; below the margin before a batch the run raises
    :class:`OutOfTime` and resumes from its checkpoint. ``stop``: the CLI's reason to stop sending (a signal):
    the batches left are recorded as not sent, re-drivable, and the run ends normally. ``collect``: plan only,
    each batch to send becomes a work item (number, request body, rows). ``replay``: each batch's outcome as the
    state machine's child recorded it.
    """

    creds: LtiCredentials
    sender: Sender | None = None
    checkpoint: Checkpoint | None = None
    progress: Callable[[Any, int], None] | None = None
    time_left: Callable[[], float] | None = None
    min_time_left: float = 60.0
    stop: Callable[[], str | None] | None = None
    clock: Callable[[], float] = time.time
    collect: Callable[[int, bytes, int], None] | None = None
    replay: Callable[[int], Replayed] | None = None

    def remaining(self) -> float:
        """What the client may spend on a batch: the Lambda's time, none once asked to stop."""
        if self.stop is not None and self.stop():
            return 0.0
        return self.time_left() if self.time_left is not None else math.inf


class NullResults:
    """Result files that write nothing (planning: the rows are recorded when the run finishes)."""

    def columns(self, *args: Any, **kwargs: Any) -> None:
        pass

    def request(self, line: str) -> None:
        pass

    def finish(self, summary: dict[str, Any]) -> None:
        pass

    def close(self) -> None:
        pass


class Batches:
    """The open batch and the rows waiting for its outcome; decides it and records the rows."""

    def __init__(self, summary: Any, out: Any, options: Any, ctx: Context):
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
        """Valid rows ``lo:hi`` of a chunk join the open batch, which is decided whenever full."""
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

    # -- decide: one batch -------------------------------------------------------------------------
    def flush(self) -> None:
        if not self.items:
            return
        number = self.summary.batches
        self.summary.batches += 1
        status, reason = self._decide(number)
        if status == "failed":
            self.summary.batches_failed += 1
        setattr(self.summary, status, getattr(self.summary, status) + len(self.items))
        self._record(status, reason)
        if self.ctx.progress is not None:
            self.ctx.progress(self.summary, self.summary.batches)

    def _decide(self, number: int) -> tuple[str, str]:
        """The batch's status and reason: planned, already accepted, replayed, skipped after a 401 or a stop,
        sent or failed."""
        ctx, user_id = self.ctx, self.options.user_id
        if ctx.collect is not None:
            if number not in self.accepted:
                ctx.collect(number, encode_items(self.items, user_id), len(self.items))
            return "planned", ""
        if self.options.dry_run:
            body = encode_items(self.items, user_id)
            self.out.request(sign_call(ctx.creds, body, ctx.clock(), user_id=user_id).as_record(number))
            return "planned", ""
        if number in self.accepted:
            return "sent", EARLIER_ATTEMPT
        if ctx.replay is not None:
            replayed = ctx.replay(number)
            if isinstance(replayed, tuple):
                return replayed
            self.summary.requests_sent += replayed.attempts
            return self._verdict(replayed)
        return self._send(number, encode_items(self.items, user_id))

    def _send(self, number: int, body: bytes) -> tuple[str, str]:
        ctx = self.ctx
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
        status, reason = self._verdict(result)
        if status == "sent" and ctx.checkpoint is not None:
            ctx.checkpoint.mark_accepted(number)
        return status, reason

    def _verdict(self, result: BatchResult) -> tuple[str, str]:
        if result.ok:
            return "sent", ""
        if result.auth_failed:
            self.auth_failure = f"an earlier batch was refused: {result.message}"
            self.summary.credentials_refused = True
        elif result.status is None:
            self.summary.unreachable = result.message
        return "failed", result.message

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


def plan_chunk(chunk: Any, dedup: Deduplicator, batches: Batches) -> None:
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
