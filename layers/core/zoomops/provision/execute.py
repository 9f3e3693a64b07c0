"""Stage two of provisioning: what each row needs, done through its platform adapter, concurrently (the Zoom
client's shared limiter spaces the calls per rate-limit category), within each host's daily allowance.

A host's creates and updates are counted per UTC day in the ledger before they are sent: rows beyond the
allowance are ``deferred`` to the next 00:00 UTC, as are that host's remaining rows once the platform says
its allowance is gone. An account-wide daily limit, or a token that cannot be used, stops the run: every row
not yet done is deferred or failed with the reason.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

from ..clock import next_utc_midnight
from ..errors import DailyLimitReached, TokenUnavailable, Unavailable
from .ledger import ABSENT, CREATED, CREATING, Entry, Ledger
from .plan import CREATE, NOTHING, RECOVER, UPDATE, Row
from .spec import HostDailyLimit, NeedsManualChange, PlatformRefused, Provider


class Executor:
    def __init__(
        self,
        provider: Provider,
        ledger: Ledger,
        *,
        daily_cap: int | None,
        workers: int,
        clock: Callable[[], float] = time.time,
        stop: Callable[[], str | None] | None = None,
        progress: Callable[[Row], None] | None = None,
        retry_lost: bool = False,
        run_id: str = "",
    ):
        self.provider, self.ledger, self.cap, self.workers = provider, ledger, daily_cap, workers
        self.run_id = run_id  # rows this run created before it was resumed or retried are still "created"
        self.retry_lost = retry_lost  # create again where a lost create cannot be looked for (the admin checked)
        self.clock, self.stop, self.progress = clock, stop or (lambda: None), progress
        self.halted: str | None = None  # an account-wide stop: what the rows not done yet say
        self.halted_until: datetime | None = None
        self.resume_after: datetime | None = None
        self._lock = threading.Lock()

    def run(self, rows: list[Row]) -> None:
        todo = [row for row in rows if not row.status]
        with ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="provision") as pool:
            list(pool.map(self._one, todo))

    def _one(self, row: Row) -> None:
        reason = self.halted or self.stop()
        if reason:
            self._not_done(row, reason)
        elif row.action == NOTHING and self.run_id and row.entry is not None and row.entry.made_by == self.run_id:
            self._done(row, "created", row.entry, "created by an earlier attempt of this run")
        elif row.action == NOTHING:
            self._done(row, "unchanged", row.entry)
        else:
            self._call(row)
        if self.progress is not None:
            self.progress(row)

    def _not_done(self, row: Row, reason: str) -> None:
        if self.halted_until is not None:
            row.settle("deferred", f"not sent: {reason}")
            self._defer(self.halted_until)
        else:
            row.settle("failed", f"not sent: {reason}")

    def _call(self, row: Row) -> None:
        """Recover, create or update, once the host's allowance has room; every outcome stated on the row."""
        assert row.spec is not None
        host, day = row.spec.host.lower(), self._day()
        if row.action == RECOVER and self._recover(row):
            return
        if not self.ledger.reserve(host, day, self.cap):
            self._deferred(row, host, None)
            return
        try:
            self._send(row)
        except HostDailyLimit as exc:
            self.ledger.spent(host, day)
            self._deferred(row, host, exc.resume_after)
        except (DailyLimitReached, TokenUnavailable) as exc:
            if row.action != UPDATE and not getattr(exc, "maybe_created", False):
                self.ledger.put(Entry(row.key, ABSENT))  # refused before anything was made: the next run creates
            self._halt(exc)
            self._not_done(row, self.halted or str(exc))
        except (PlatformRefused, NeedsManualChange, Unavailable) as exc:
            if row.action != UPDATE and (isinstance(exc, PlatformRefused) or not getattr(exc, "maybe_created", True)):
                self.ledger.put(Entry(row.key, ABSENT))  # the platform surely made nothing: the next run creates
            row.settle("failed", _failure(row, exc, getattr(self.provider, "can_recover", False)))

    def _send(self, row: Row) -> None:
        assert row.spec is not None
        if row.action == UPDATE and row.entry is not None:
            result = self.provider.update(row.spec, row.entry.provisioned())
            entry, status = row.entry, "updated"
        else:
            entry = Entry(row.key, CREATING, host=row.spec.host, made_by=self.run_id)
            # Before the create: a crash after it is recovered, never created twice; claimed, so a second run of
            # the same row at the same time (a retried step, a file confirmed twice) sends nothing.
            if not self.ledger.claim(entry, row.seen):
                row.settle(
                    "failed",
                    "not sent: another run of this row was creating its meeting at the same time; "
                    "run the file again once that run has finished (it will find the meeting)",
                )
                return
            result = self.provider.create(row.spec)
            status = "created"
        entry.record(result, row.body, row.spec.host)
        self.ledger.put(entry)
        self._done(row, status, entry)

    def _recover(self, row: Row) -> bool:
        """A create whose answer was lost: adopt the meeting it made, or create (when the platform can tell
        there is none), or fail the row saying how to check."""
        assert row.spec is not None and row.entry is not None
        try:
            found = self.provider.recover(row.spec)
        except (PlatformRefused, Unavailable) as exc:
            row.settle("failed", f"could not look for the meeting an interrupted create may have made: {exc}")
            return True
        if found is not None:
            row.entry.record(found, row.body, row.spec.host)
            self.ledger.put(row.entry)
            self._done(row, "created", row.entry, "found the meeting an interrupted create had made")
            return True
        if getattr(self.provider, "can_recover", False) or self.retry_lost:
            return False  # the platform says there is none (or the admin checked): create it
        row.settle(
            "failed",
            f"a create was sent for this row but its answer was lost, and {self.provider.name} "
            f"cannot be asked whether it made the meeting: check the host's meetings for "
            f"{row.spec.topic!r}; if it is not there, run again with --retry-lost (a bucket drop: object metadata "
            f"retry-lost=true; the API: retryLost)",
        )
        return True

    def _done(self, row: Row, status: str, entry: Entry | None, reason: str = "") -> None:
        assert entry is not None and entry.state == CREATED
        row.entry, row.meeting_id, row.join_url = entry, entry.meeting_id, entry.join_url
        row.settle(status, reason)

    def _deferred(self, row: Row, host: str, when: datetime | None) -> None:
        when = when or next_utc_midnight(self._now())
        row.settle(
            "deferred",
            f"host {host} has used {_allowance(self.cap)} for {self._day()} (UTC): continues after "
            f"{when.isoformat(timespec='seconds')}",
        )
        self._defer(when)

    def _defer(self, when: datetime) -> None:
        with self._lock:
            self.resume_after = max(filter(None, (self.resume_after, when)))

    def _halt(self, exc: Exception) -> None:
        with self._lock:
            if self.halted is None:
                self.halted = str(exc)
                if isinstance(exc, DailyLimitReached):
                    self.halted_until = exc.resume_after

    def _now(self) -> datetime:
        return datetime.fromtimestamp(self.clock(), UTC)

    def _day(self) -> str:
        return self._now().date().isoformat()


def _allowance(cap: int | None) -> str:
    return f"its {cap} meeting creates/updates" if cap is not None else "the creates/updates the platform allows"


def _failure(row: Row, exc: Exception, can_recover: bool) -> str:
    if isinstance(exc, NeedsManualChange):
        return f"needs a manual change: {exc}"
    if row.action == CREATE and getattr(exc, "maybe_created", not isinstance(exc, PlatformRefused)):
        if not can_recover:
            return (
                f"{exc} (the platform may have made the meeting anyway: check the host's meetings for "
                f"{row.spec.topic if row.spec else 'it'!r}, then run again, with --retry-lost if it is not there)"
            )
        return f"{exc} (the platform may have made the meeting anyway: the next run looks for it first)"
    return str(exc)
