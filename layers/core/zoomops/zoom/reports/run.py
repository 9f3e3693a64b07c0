"""The report engine: plan meetings (instances, registrants), fetch instances, record and roll up."""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from ...clock import iso
from ...errors import DailyLimitReached, ZoomError
from ..client import ZoomClient, quote_uuid
from .files import (
    ATTENDANCE_FIELDS,
    INSTANCE_FIELDS,
    PARTICIPANT_FIELDS,
    REGISTRANT_STATUSES,
    Manifest,
    Sink,
    csv_bytes,
    instance_key,
)
from .pseudonymise import Pseudonymiser
from .rollup import parse_time as _parse
from .rollup import rollup


@dataclass
class Options:
    min_age: timedelta = timedelta(hours=1)  # instances younger than this are left for the next run
    since: datetime | None = None  # only instances that started in [since, until)
    until: datetime | None = None
    workers: int = 8
    use_dashboard: bool = True  # fill single-participant instances from /metrics where allowed
    pseudonymise: Pseudonymiser | None = None


@dataclass
class RunSummary:
    run_id: str
    meetings: int = 0
    instances: int = 0
    instances_written: int = 0
    rows_written: int = 0
    registrants_written: int = 0
    skipped_done: int = 0
    skipped_recent: int = 0
    single_participant: int = 0
    failed: list[dict] = field(default_factory=list)
    stopped: str | None = None  # daily-limit | time-limit, when the run stopped early
    resume_after: str | None = None
    deferred: int = 0  # instances left for the next run because the run stopped
    remaining_meetings: list[str] = field(default_factory=list)  # what a continuation still has to do
    started_at: str = ""
    finished_at: str = ""
    requests: int = 0
    throttled: int = 0


@dataclass
class _Work:
    """The pool's bookkeeping: meetings to plan, instances ready to fetch, what is running, what a stop left."""

    meetings: deque[str]
    ready: deque[dict] = field(default_factory=deque)
    pending: dict[Future, tuple[str, Any]] = field(default_factory=dict)
    unplanned: list[str] = field(default_factory=list)  # meetings a stop left unplanned
    deferred: list[dict] = field(default_factory=list)  # instances a stop left unfetched
    daily: DailyLimitReached | None = None


class ReportRun:
    def __init__(
        self,
        client: ZoomClient,
        sink: Sink,
        manifest: Manifest,
        options: Options | None = None,
        *,
        clock: Callable[[], float] = time.time,
        time_left: Callable[[], float] | None = None,
        min_time_left: float = 60.0,
        progress: Callable[[RunSummary], None] | None = None,
        collect: Callable[[RunSummary, list[dict], list[dict]], None] | None = None,
    ):
        """``collect``: the run's roll-up (summary, attendance rows, instance rows) goes there instead of into
        ``runs/<run id>/`` (a report state machine child: its finalize writes the job's run files)."""
        self.client, self.sink, self.manifest = client, sink, manifest
        self.options = options or Options()
        self._clock, self._time_left, self._min_time_left = clock, time_left, min_time_left
        self._progress, self._roll_up = progress, collect
        self._lock = threading.Lock()
        self._run_id = ""  # the run going on: instances it wrote itself before a retry are fetched again

    def run(self, meeting_ids: Iterable[str], run_id: str | None = None) -> RunSummary:
        now = datetime.fromtimestamp(self._clock(), UTC)
        summary = RunSummary(run_id or now.strftime("%Y%m%dT%H%M%SZ"), started_at=now.isoformat(timespec="seconds"))
        self._run_id = summary.run_id
        attendance: list[dict] = []
        instances: list[dict] = []
        resume = self.manifest.resume_after()
        if resume and _parse(resume) > now:
            summary.stopped, summary.resume_after = "daily-limit", resume
            return self._finish(summary, attendance, instances)
        before = dict(self.client.stats)
        try:
            self._work(list(dict.fromkeys(str(m) for m in meeting_ids)), now, summary, attendance, instances)
        except DailyLimitReached as stop:
            self._daily_limit(summary, stop)
        if summary.stopped is None:  # a stop another run (a parallel child) recorded meanwhile stays
            self.manifest.set_resume_after(None, passed=now.isoformat(timespec="seconds"))
        summary.requests = self.client.stats["requests"] - before.get("requests", 0)
        summary.throttled = self.client.stats["throttled"] - before.get("throttled", 0)
        return self._finish(summary, attendance, instances)

    # -- one pool for both kinds of work, so medium (planning) and heavy (participants) overlap ----
    def _work(
        self, meeting_ids: list[str], now: datetime, summary: RunSummary, attendance: list[dict], instances: list[dict]
    ) -> None:
        """Plan meetings (instances, registrants: medium calls) and fetch instances (heavy calls) in one
        pool. A few workers keep planning while the rest fetch the instances already planned, so both
        rate-limit categories are busy at once instead of one after the other."""
        work = _Work(deque(meeting_ids))
        with ThreadPoolExecutor(max_workers=self.options.workers, thread_name_prefix="zoom-report") as pool:
            while True:
                self._submit(pool, work, now, summary)
                if not work.pending:
                    break
                finished, _ = wait(work.pending, return_when=FIRST_COMPLETED)
                for future in finished:
                    self._collect(future, work, summary, attendance, instances)
        work.unplanned.extend(work.meetings)
        work.deferred.extend(work.ready)
        summary.deferred += len(work.deferred)
        summary.remaining_meetings = list(dict.fromkeys([i["meeting_id"] for i in work.deferred] + work.unplanned))
        if work.daily is not None:
            raise work.daily

    def _submit(self, pool: ThreadPoolExecutor, work: _Work, now: datetime, summary: RunSummary) -> None:
        """Keep every worker busy: planners first (up to a quarter of the pool), else ready instances."""
        workers = self.options.workers
        planners = max(1, workers // 4)
        while work.daily is None and summary.stopped is None and len(work.pending) < workers:
            if self._out_of_time():
                summary.stopped = "time-limit"
                return
            planning = sum(1 for kind, _ in work.pending.values() if kind == "plan")
            if work.meetings and (planning < planners or not work.ready):
                meeting_id = work.meetings.popleft()
                work.pending[pool.submit(self._plan_meeting, meeting_id, now)] = ("plan", meeting_id)
            elif work.ready:
                instance = work.ready.popleft()
                work.pending[pool.submit(self._instance, instance)] = ("instance", instance)
            else:
                return

    def _collect(
        self, future: Future, work: _Work, summary: RunSummary, attendance: list[dict], instances: list[dict]
    ) -> None:
        kind, item = work.pending.pop(future)
        try:
            result = future.result()
        except DailyLimitReached as exc:
            work.daily = work.daily or exc
            (work.unplanned.append(item) if kind == "plan" else work.deferred.append(item))
            return
        except ZoomError as exc:
            planned = kind == "plan"
            summary.failed.append(
                {
                    "meeting_id": item if planned else item["meeting_id"],
                    "instance_uuid": "" if planned else item["uuid"],
                    "reason": str(exc),
                }
            )
            return
        if kind == "plan":
            todo, counts = result
            summary.meetings += 1
            for name, value in counts.items():
                setattr(summary, name, getattr(summary, name) + value)
            work.ready.extend(todo)
        else:
            self._record(item, result, summary, attendance, instances)

    def _plan_meeting(self, meeting_id: str, now: datetime) -> tuple[list[dict], dict[str, int]]:
        """One meeting's instances still to fetch and what was skipped; writes its registrants."""
        found = self.client.get(f"/past_meetings/{meeting_id}/instances").get("meetings") or []
        counts = {
            "instances": 0,
            "skipped_done": 0,
            "skipped_recent": 0,
            "registrants_written": self._registrants(meeting_id),
        }
        todo = []
        for instance in found:
            start = _parse(instance["start_time"])
            if (self.options.since and start < self.options.since) or (
                self.options.until and start >= self.options.until
            ):
                continue
            counts["instances"] += 1
            done = self.manifest.done(instance["uuid"])
            if done and done.get("run") != self._run_id:  # this run's own (a retried part) are fetched again
                counts["skipped_done"] += 1
            elif now - start < self.options.min_age:
                counts["skipped_recent"] += 1  # its report may not be ready: next run
            else:
                todo.append({"meeting_id": meeting_id, **instance})
        return todo, counts

    def _registrants(self, meeting_id: str) -> int:
        rows = []
        try:
            for status in REGISTRANT_STATUSES:
                for row in self.client.paginate(
                    f"/meetings/{meeting_id}/registrants", "registrants", {"status": status}
                ):
                    rows.append({**row, "status": status})
        except DailyLimitReached:
            raise
        except ZoomError as exc:
            if exc.status in (400, 404):  # registration off, or not a meeting that takes registrants
                return 0
            raise
        if self.options.pseudonymise:
            rows = self.options.pseudonymise.rows(rows)
        fields = ["id", "email", "first_name", "last_name", "status", "create_time", "join_url"]
        base = f"registrants/meeting={meeting_id}/registrants"
        self.sink.put(f"{base}.json", json.dumps(rows, indent=1).encode(), "application/json")
        self.sink.put(f"{base}.csv", csv_bytes(rows, fields), "text/csv")
        return len(rows)

    def _instance(self, instance: dict) -> tuple[list[dict], str]:
        path_id = quote_uuid(instance["uuid"])
        rows = list(self.client.paginate(f"/report/meetings/{path_id}/participants", "participants"))
        if rows:
            return rows, "report"
        if self.options.use_dashboard:
            try:
                rows = list(
                    self.client.paginate(f"/metrics/meetings/{path_id}/participants", "participants", {"type": "past"})
                )
            except ZoomError as exc:
                if exc.status not in (400, 403, 404) or isinstance(exc, DailyLimitReached):
                    raise
                rows = []  # the dashboard is not available to this account
        return rows, "dashboard" if rows else "none"

    def _record(
        self,
        instance: dict,
        result: tuple[list[dict], str],
        summary: RunSummary,
        attendance: list[dict],
        instances: list[dict],
    ) -> None:
        rows, source = result
        single = source != "report"
        if self.options.pseudonymise:
            rows = self.options.pseudonymise.rows(rows)
        base = instance_key(instance["meeting_id"], instance["start_time"], instance["uuid"])
        payload = {
            "meeting_id": instance["meeting_id"],
            "instance_uuid": instance["uuid"],
            "start_time": instance["start_time"],
            "single_participant": single,
            "source": source,
            "participants": rows,
        }
        fields = list(PARTICIPANT_FIELDS) + sorted({k for r in rows for k in r} - set(PARTICIPANT_FIELDS))
        self.sink.put(f"{base}.json", json.dumps(payload, indent=1).encode(), "application/json")
        self.sink.put(f"{base}.csv", csv_bytes(rows, fields), "text/csv")
        people = rollup(instance, rows, single)
        for person in people:
            person["instance_file"] = base
        with self._lock:
            attendance.extend(people)
            instances.append(
                {
                    "meeting_id": instance["meeting_id"],
                    "instance_uuid": instance["uuid"],
                    "instance_file": base,
                    "start_time": instance["start_time"],
                    "unique_participants": len(people),
                    "total_minutes": round(sum(p["total_minutes"] for p in people), 2),
                    "single_participant": single,
                    "source": source,
                }
            )
            summary.instances_written += 1
            summary.rows_written += len(rows)
            summary.single_participant += single
        self.manifest.mark_done(
            instance["uuid"],
            {"meeting_id": instance["meeting_id"], "rows": len(rows), "source": source, "run": summary.run_id},
        )
        if self._progress is not None:
            self._progress(summary)

    def _daily_limit(self, summary: RunSummary, stop: DailyLimitReached) -> None:
        when = stop.resume_after.isoformat(timespec="seconds")
        summary.stopped, summary.resume_after = "daily-limit", when
        self.manifest.set_resume_after(when)

    def _out_of_time(self) -> bool:
        return self._time_left is not None and self._time_left() < self._min_time_left

    def _finish(self, summary: RunSummary, attendance: list[dict], instances: list[dict]) -> RunSummary:
        summary.finished_at = iso(self._clock())
        if self._roll_up is not None:
            self._roll_up(summary, attendance, instances)
        else:
            write_run_files(self.sink, summary, attendance, instances)
        return summary


def row_order(row: dict) -> tuple[str, str, str]:
    """The run files' order: meeting, then instance start, then instance (rows of one instance keep theirs)."""
    return row["meeting_id"], row["start_time"], row["instance_uuid"]


def write_run_files(sink: Sink, summary: RunSummary, attendance: list[dict], instances: list[dict]) -> None:
    """``runs/<run id>/``: attendance.csv, instances.csv (both in ``row_order``) and summary.json."""
    base = f"runs/{summary.run_id}"
    sink.put(f"{base}/attendance.csv", csv_bytes(sorted(attendance, key=row_order), ATTENDANCE_FIELDS), "text/csv")
    sink.put(f"{base}/instances.csv", csv_bytes(sorted(instances, key=row_order), INSTANCE_FIELDS), "text/csv")
    sink.put(f"{base}/summary.json", summary_json(summary), "application/json")


def summary_json(summary: RunSummary) -> bytes:
    return json.dumps(asdict(summary), indent=2).encode()
