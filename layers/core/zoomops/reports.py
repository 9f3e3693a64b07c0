"""Participant and registrant reports: every past instance of the chosen meetings, incrementally.

For each meeting: its past instances (``/past_meetings/{id}/instances``); per instance the
report rows (``/report/meetings/{uuid}/participants``: join/leave, duration, email). Zoom
leaves out instances with a single participant; those are filled from the dashboard
(``/metrics/meetings/{uuid}/participants?type=past``) where the account allows it and always
marked ``single_participant``, never silently missing. Registrants per meeting, every status.

Output (through a :class:`Sink`, a local folder or an S3 prefix), keyed so a data tool can
query by prefix::

    participants/meeting=<id>/date=<YYYY-MM-DD>/<instance>.csv|.json   raw rows per instance
    registrants/meeting=<id>/registrants.csv|.json
    runs/<run id>/attendance.csv   one row per participant per instance (first join, last leave,
                                   total minutes across rejoins, device/location where given)
    runs/<run id>/instances.csv    one row per instance (unique participants, total minutes)
    runs/<run id>/summary.json     meetings, instances, rows written, skipped, failed with reasons

A :class:`Manifest` remembers finished instances, so the next run skips them; instances too
recent for their report, or whose fetch failed, are left for the next run. A daily-limit 429
stops the run cleanly and records when to resume; a run near its time limit stops between
instances and says so (``summary.stopped``), so its caller can continue it.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import hmac
import io
import json
import threading
import time
from collections import deque
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable, Iterable, Protocol

from .results import cell
from .zoom import DailyLimitReached, ZoomClient, ZoomError, quote_uuid

REGISTRANT_STATUSES = ("approved", "pending", "denied")
PARTICIPANT_FIELDS = ("id", "user_id", "name", "user_email", "join_time", "leave_time", "duration", "failover",
                      "status", "registrant_id", "participant_user_id", "bo_mtg_id")
ATTENDANCE_FIELDS = ("meeting_id", "instance_uuid", "start_time", "participant", "name", "email", "first_join",
                     "last_leave", "total_minutes", "sessions", "device", "location", "single_participant")
INSTANCE_FIELDS = ("meeting_id", "instance_uuid", "start_time", "unique_participants", "total_minutes",
                   "single_participant", "source")
_PERSONAL = ("name", "user_email", "email", "user_name", "first_name", "last_name")
# When pseudonymising, a row keeps only these: identities as keyed hashes (the same person stays one
# person across instances) and the fields that say nothing about who someone is. Anything else (a
# registrant's join_url, which carries a personal join token; addresses, phones, custom answers; the
# dashboard's IP and machine ids; "leave_reason", which names the person) is left out, including any
# field Zoom adds later.
_HASHED = frozenset((*_PERSONAL, "id", "user_id", "participant_user_id", "registrant_id"))
_PLAIN = frozenset((
    "join_time", "leave_time", "duration", "status", "failover", "create_time", "role", "bo_mtg_id", "device",
    "network_type", "microphone", "speaker", "camera", "data_center", "full_data_center", "connection_type",
    "share_application", "share_desktop", "share_whiteboard", "recording", "version", "audio_quality",
    "video_quality", "screen_share_quality", "in_room_participants",
))


class Sink(Protocol):
    def put(self, key: str, data: bytes, content_type: str) -> None: ...


class Manifest(Protocol):
    def done(self, instance_uuid: str) -> bool: ...

    def mark_done(self, instance_uuid: str, info: dict[str, Any]) -> None: ...

    def resume_after(self) -> str | None: ...

    def set_resume_after(self, when: str | None) -> None: ...


class FolderSink:
    def __init__(self, root: str | Path):
        self.root = Path(root)

    def put(self, key: str, data: bytes, content_type: str) -> None:
        path = self.root / key
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)


class S3Sink:
    def __init__(self, s3, bucket: str, prefix: str):
        self._s3, self.bucket, self.prefix = s3, bucket, prefix

    def put(self, key: str, data: bytes, content_type: str) -> None:
        self._s3.put_object(Bucket=self.bucket, Key=f"{self.prefix}{key}", Body=data, ContentType=content_type)


class FileManifest:
    """The manifest as one JSON file (the CLI's): finished instances and the resume time."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self._lock = threading.Lock()
        self._data = json.loads(self.path.read_text()) if self.path.exists() else {"done": {}, "resume_after": None}

    def done(self, instance_uuid: str) -> bool:
        return instance_uuid in self._data["done"]

    def mark_done(self, instance_uuid: str, info: dict[str, Any]) -> None:
        with self._lock:
            self._data["done"][instance_uuid] = info
            self._save()

    def resume_after(self) -> str | None:
        return self._data.get("resume_after")

    def set_resume_after(self, when: str | None) -> None:
        with self._lock:
            self._data["resume_after"] = when
            self._save()

    def _save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self._data, indent=1, sort_keys=True))
        tmp.replace(self.path)


class DynamoManifest:
    """The manifest in DynamoDB: one item per finished instance, one for the resume time."""

    def __init__(self, table: str, client, scope: str = "default"):
        self._table, self._db, self._scope = table, client, scope

    def _key(self, name: str) -> dict:
        return {"key": {"S": f"{self._scope}#{name}"}}

    def done(self, instance_uuid: str) -> bool:
        return "Item" in self._db.get_item(TableName=self._table, Key=self._key(f"instance#{instance_uuid}"))

    def mark_done(self, instance_uuid: str, info: dict[str, Any]) -> None:
        self._db.put_item(TableName=self._table, Item={**self._key(f"instance#{instance_uuid}"),
                                                        "info": {"S": json.dumps(info)}})

    def resume_after(self) -> str | None:
        item = self._db.get_item(TableName=self._table, Key=self._key("resume")).get("Item")
        return item["resume_after"]["S"] if item else None

    def set_resume_after(self, when: str | None) -> None:
        if when is None:
            self._db.delete_item(TableName=self._table, Key=self._key("resume"))
        else:
            self._db.put_item(TableName=self._table, Item={**self._key("resume"), "resume_after": {"S": when}})


class Pseudonymiser:
    """Keyed hash of names, emails and user ids, for deployments that must not store them; of the other
    fields only those that identify no one are kept (``_PLAIN``)."""

    def __init__(self, key: bytes):
        if len(key) < 16:
            raise ValueError("the pseudonymisation key must be at least 16 bytes")
        self._key = key

    def __call__(self, value: str, *, fold: bool = True) -> str:
        """``fold``: names and emails match whatever their case and spacing; ids are taken as they are."""
        if not value:
            return value
        digest = hmac.new(self._key, (value.strip().lower() if fold else value).encode(), hashlib.sha256).hexdigest()
        return f"p_{digest[:20]}"

    def rows(self, rows: list[dict]) -> list[dict]:
        return [{k: self(v, fold=k in _PERSONAL) if k in _HASHED and isinstance(v, str) else v
                 for k, v in row.items() if k in _HASHED or k in _PLAIN} for row in rows]


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


def instance_key(meeting_id: str, start_time: str, uuid: str) -> str:
    """``participants/meeting=<id>/date=<day>/<uuid, base64url>``: safe in any S3 key or path."""
    day = start_time[:10] or "unknown"
    safe = base64.urlsafe_b64encode(uuid.encode()).decode().rstrip("=")
    return f"participants/meeting={meeting_id}/date={day}/{safe}"


def csv_bytes(rows: Iterable[dict], fields: Iterable[str]) -> bytes:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(fields), extrasaction="ignore")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: cell(v) if isinstance(v, str) else v for k, v in row.items()})
    return buffer.getvalue().encode()


def _parse(ts: str) -> datetime:
    return datetime.fromisoformat(ts.replace("Z", "+00:00"))


def meetings_of_users(client: ZoomClient, users: Iterable[str] | None, since: datetime, until: datetime) -> list[str]:
    """Meeting IDs of the users' (or every user's) past meetings in [since, until)."""
    if users is None:
        users = [u["id"] for u in client.paginate("/users", "users", {"status": "active"})]
    found: dict[str, None] = {}
    params = {"type": "previous_meetings", "from": since.date().isoformat(), "to": until.date().isoformat()}
    for user in users:
        for meeting in client.paginate(f"/users/{quote_uuid(user)}/meetings", "meetings", params):
            found[str(meeting["id"])] = None
    return list(found)


class ReportRun:
    def __init__(self, client: ZoomClient, sink: Sink, manifest: Manifest, options: Options | None = None, *,
                 clock: Callable[[], float] = time.time, time_left: Callable[[], float] | None = None,
                 min_time_left: float = 60.0, progress: Callable[[RunSummary], None] | None = None):
        self.client, self.sink, self.manifest = client, sink, manifest
        self.options = options or Options()
        self._clock, self._time_left, self._min_time_left = clock, time_left, min_time_left
        self._progress = progress
        self._lock = threading.Lock()

    def run(self, meeting_ids: Iterable[str], run_id: str | None = None) -> RunSummary:
        now = datetime.fromtimestamp(self._clock(), timezone.utc)
        summary = RunSummary(run_id or now.strftime("%Y%m%dT%H%M%SZ"), started_at=now.isoformat(timespec="seconds"))
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
        if summary.stopped is None:
            self.manifest.set_resume_after(None)
        summary.requests = self.client.stats["requests"] - before.get("requests", 0)
        summary.throttled = self.client.stats["throttled"] - before.get("throttled", 0)
        return self._finish(summary, attendance, instances)

    # -- one pool for both kinds of work, so medium (planning) and heavy (participants) overlap ----
    def _work(self, meeting_ids: list[str], now: datetime, summary: RunSummary, attendance: list[dict],
              instances: list[dict]) -> None:
        """Plan meetings (instances, registrants: medium calls) and fetch instances (heavy calls) in one
        pool. A few workers keep planning while the rest fetch the instances already planned, so both
        rate-limit categories are busy at once instead of one after the other."""
        workers = self.options.workers
        planners = max(1, workers // 4)
        meetings = deque(meeting_ids)
        ready: deque[dict] = deque()
        pending: dict[Future, tuple[str, Any]] = {}
        unplanned: list[str] = []  # meetings a stop left unplanned
        deferred: list[dict] = []
        daily: DailyLimitReached | None = None
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="zoom-report") as pool:
            while True:
                while daily is None and summary.stopped is None and len(pending) < workers:
                    if self._out_of_time():
                        summary.stopped = "time-limit"
                        break
                    planning = sum(1 for kind, _ in pending.values() if kind == "plan")
                    if meetings and (planning < planners or not ready):
                        meeting_id = meetings.popleft()
                        pending[pool.submit(self._plan_meeting, meeting_id, now)] = ("plan", meeting_id)
                    elif ready:
                        instance = ready.popleft()
                        pending[pool.submit(self._instance, instance)] = ("instance", instance)
                    else:
                        break
                if not pending:
                    break
                finished, _ = wait(pending, return_when=FIRST_COMPLETED)
                for future in finished:
                    kind, item = pending.pop(future)
                    try:
                        result = future.result()
                    except DailyLimitReached as exc:
                        daily = daily or exc
                        (unplanned.append(item) if kind == "plan" else deferred.append(item))
                        continue
                    except ZoomError as exc:
                        planned = kind == "plan"
                        summary.failed.append({"meeting_id": item if planned else item["meeting_id"],
                                               "instance_uuid": "" if planned else item["uuid"], "reason": str(exc)})
                        continue
                    if kind == "plan":
                        todo, counts = result
                        summary.meetings += 1
                        for name, value in counts.items():
                            setattr(summary, name, getattr(summary, name) + value)
                        ready.extend(todo)
                    else:
                        self._record(item, result, summary, attendance, instances)
        unplanned.extend(meetings)
        deferred.extend(ready)
        summary.deferred += len(deferred)
        summary.remaining_meetings = list(dict.fromkeys([i["meeting_id"] for i in deferred] + unplanned))
        if daily is not None:
            raise daily

    def _plan_meeting(self, meeting_id: str, now: datetime) -> tuple[list[dict], dict[str, int]]:
        """One meeting's instances still to fetch and what was skipped; writes its registrants."""
        found = self.client.get(f"/past_meetings/{meeting_id}/instances").get("meetings") or []
        counts = {"instances": 0, "skipped_done": 0, "skipped_recent": 0,
                  "registrants_written": self._registrants(meeting_id)}
        todo = []
        for instance in found:
            start = _parse(instance["start_time"])
            if (self.options.since and start < self.options.since) or (self.options.until and start >= self.options.until):
                continue
            counts["instances"] += 1
            if self.manifest.done(instance["uuid"]):
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
                for row in self.client.paginate(f"/meetings/{meeting_id}/registrants", "registrants", {"status": status}):
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
                rows = list(self.client.paginate(f"/metrics/meetings/{path_id}/participants", "participants",
                                                 {"type": "past"}))
            except ZoomError as exc:
                if exc.status not in (400, 403, 404) or isinstance(exc, DailyLimitReached):
                    raise
                rows = []  # the dashboard is not available to this account
        return rows, "dashboard" if rows else "none"

    def _record(self, instance: dict, result: tuple[list[dict], str], summary: RunSummary,
                attendance: list[dict], instances: list[dict]) -> None:
        rows, source = result
        single = source != "report"
        if self.options.pseudonymise:
            rows = self.options.pseudonymise.rows(rows)
        base = instance_key(instance["meeting_id"], instance["start_time"], instance["uuid"])
        payload = {"meeting_id": instance["meeting_id"], "instance_uuid": instance["uuid"],
                   "start_time": instance["start_time"], "single_participant": single, "source": source,
                   "participants": rows}
        fields = list(PARTICIPANT_FIELDS) + sorted({k for r in rows for k in r} - set(PARTICIPANT_FIELDS))
        self.sink.put(f"{base}.json", json.dumps(payload, indent=1).encode(), "application/json")
        self.sink.put(f"{base}.csv", csv_bytes(rows, fields), "text/csv")
        people = rollup(instance, rows, single)
        with self._lock:
            attendance.extend(people)
            instances.append({"meeting_id": instance["meeting_id"], "instance_uuid": instance["uuid"],
                              "start_time": instance["start_time"], "unique_participants": len(people),
                              "total_minutes": round(sum(p["total_minutes"] for p in people), 2),
                              "single_participant": single, "source": source})
            summary.instances_written += 1
            summary.rows_written += len(rows)
            summary.single_participant += single
        self.manifest.mark_done(instance["uuid"], {"meeting_id": instance["meeting_id"], "rows": len(rows),
                                                   "source": source})
        if self._progress is not None:
            self._progress(summary)

    def _daily_limit(self, summary: RunSummary, stop: DailyLimitReached) -> None:
        when = stop.resume_after.isoformat(timespec="seconds")
        summary.stopped, summary.resume_after = "daily-limit", when
        self.manifest.set_resume_after(when)

    def _out_of_time(self) -> bool:
        return self._time_left is not None and self._time_left() < self._min_time_left

    def _finish(self, summary: RunSummary, attendance: list[dict], instances: list[dict]) -> RunSummary:
        summary.finished_at = datetime.fromtimestamp(self._clock(), timezone.utc).isoformat(timespec="seconds")
        base = f"runs/{summary.run_id}"
        order = lambda r: (r["meeting_id"], r["start_time"], r["instance_uuid"])  # noqa: E731
        self.sink.put(f"{base}/attendance.csv", csv_bytes(sorted(attendance, key=order), ATTENDANCE_FIELDS), "text/csv")
        self.sink.put(f"{base}/instances.csv", csv_bytes(sorted(instances, key=order), INSTANCE_FIELDS), "text/csv")
        self.sink.put(f"{base}/summary.json", json.dumps(asdict(summary), indent=2).encode(), "application/json")
        return summary


def rollup(instance: dict, rows: list[dict], single: bool) -> list[dict]:
    """One row per participant: first join, last leave, total minutes across rejoins."""
    people: dict[str, dict] = {}
    for row in rows:
        # The same person across rejoins: Zoom's per-user id when signed in, else email, else name;
        # ``user_id`` and ``id`` change with every join, so they come last.
        who = (row.get("participant_user_id") or row.get("user_email") or row.get("email") or row.get("name")
               or row.get("user_name") or row.get("user_id") or row.get("id") or "?")
        join, leave = row.get("join_time") or "", row.get("leave_time") or ""
        seconds = float(row.get("duration") or 0)
        if not seconds and join and leave:  # the dashboard rows carry no duration
            seconds = max(0.0, (_parse(leave) - _parse(join)).total_seconds())
        person = people.get(who)
        if person is None:
            person = people[who] = {
                "meeting_id": instance["meeting_id"], "instance_uuid": instance["uuid"],
                "start_time": instance["start_time"], "participant": who,
                "name": row.get("name") or row.get("user_name") or "", "email": row.get("user_email") or row.get("email") or "",
                "first_join": join, "last_leave": leave, "total_minutes": 0.0, "sessions": 0,
                "device": row.get("device", ""), "location": row.get("location", ""), "single_participant": single,
            }
        person["first_join"] = min(filter(None, (person["first_join"], join)), default="")
        person["last_leave"] = max(filter(None, (person["last_leave"], leave)), default="")
        person["total_minutes"] = round(person["total_minutes"] + seconds / 60, 2)
        person["sessions"] += 1
    return list(people.values())


def meeting_ids_from_csv(stream, name: str = "<csv>") -> list[str]:
    """The distinct valid meeting IDs of an LTI Pro import CSV (the bulk disassociate reader)."""
    from .csvinput import CsvSource
    from .rows import check

    seen: dict[str, None] = {}
    for record in CsvSource(stream, name):
        verdict = check(record)
        if not isinstance(verdict, str):
            seen[verdict[0]] = None
    return list(seen)


@dataclass
class ReportRequest:
    """Which meetings: explicit IDs, an LTI Pro import CSV, or users' meetings in a date range."""

    meeting_ids: list[str] | None = None
    csv: str | None = None  # s3://bucket/key (Lambda) or a path (CLI)
    users: list[str] | None = None  # None with a date range: every active user
    since: datetime | None = None  # instances that started in [since, until); None: no bound
    until: datetime | None = None
    account: str | None = None

    @classmethod
    def from_payload(cls, payload: dict, *, lookback_days: int, default_users: list[str] | None,
                     now: datetime) -> "ReportRequest":
        """A direct invocation's payload (or {} for the schedule); errors name the field."""
        known = {"meeting_ids", "csv", "users", "from", "to", "account"}
        unknown = sorted(set(payload) - known)
        if unknown:
            raise ValueError(f"unknown field(s) {', '.join(unknown)}; expected {', '.join(sorted(known))}")
        request = cls(account=payload.get("account"))
        if payload.get("meeting_ids") is not None:
            ids = payload["meeting_ids"]
            if not isinstance(ids, list) or not ids or not all(str(i).replace(" ", "").isdigit() for i in ids):
                raise ValueError("meeting_ids must be a non-empty list of numeric Zoom meeting IDs")
            request.meeting_ids = [str(i).replace(" ", "") for i in ids]
        elif payload.get("csv"):
            request.csv = str(payload["csv"])
        else:
            users = payload.get("users", default_users)
            if users is not None and (not isinstance(users, list) or not all(isinstance(u, str) and u for u in users)):
                raise ValueError("users must be a list of Zoom user emails or ids")
            request.users = users or None
        request.since = _day(payload.get("from"), "from")
        request.until = _day(payload.get("to"), "to", end=True)
        if request.meeting_ids is None and request.csv is None:
            # Users' meetings: a date range is needed; default the last ``lookback_days`` days.
            request.since = request.since or (now - timedelta(days=lookback_days)).replace(
                hour=0, minute=0, second=0, microsecond=0)
            request.until = request.until or now
        if request.since and request.until and request.until <= request.since:
            raise ValueError("to must be after from")
        return request


def _day(value: Any, name: str, *, end: bool = False) -> datetime | None:
    if value in (None, ""):
        return None
    try:
        day = datetime.strptime(str(value), "%Y-%m-%d").replace(tzinfo=timezone.utc)
    except ValueError:
        raise ValueError(f"{name} must be a date YYYY-MM-DD, got {value!r}") from None
    return day + timedelta(days=1) if end else day  # "to" includes its whole day
