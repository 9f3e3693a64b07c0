"""The report state machine's steps (``infra/statemachines/reports.asl.json``), behind ``functions/report_steps``.

* **plan**: the request (meeting IDs, an LTI import CSV, or users and dates) becomes the meetings of round 0,
  ``work/<job>/rounds/0.json`` (the Distributed Map's ItemReader). A request Zoom or the rules refuse ends the
  job here, saying why (``ended``).
* **meeting** (one child per meeting): ``ReportRun`` on that meeting alone, its rate limiter at
  1/``concurrency`` of the account's rates (so the children together keep Zoom's); its per-instance files go
  to ``reports/`` as a run writes them, its roll-up to a part, ``work/<job>/parts/<round>/<meeting>.json``.
  The manifest marks each instance done, so nothing is fetched twice, whichever round or child comes next.
* **meeting_failed**: a child's Catch: a part naming the meeting as failed.
* **tally**: the meetings a daily limit stopped make the next round; the job waits (``step: waiting``,
  ``resume_after``) until the reset time the parts recorded (a Wait state on ``resume_at``).
* **finalize**: every part merged into ``reports/runs/<run id>/`` (``zoom.reports.parts``), the job ended.
* **abandon**: the execution's Catch: the job ends ``failed`` with the reason.
"""

from __future__ import annotations

import json
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ..clock import iso
from ..errors import Refused, ZoomError, ZoomopsError, caught_message
from ..names import WORK_PREFIX
from ..zoom.reports import parts as merge
from ..zoom.reports.jobs import PROGRESS
from ..zoom.reports.request import ReportRequest, meeting_ids_from_csv, meetings_of_users
from ..zoom.reports.run import Options, ReportRun, summary_json
from .jobstore import JobStore
from .workflows import ENGINE_STEP_FUNCTIONS

MAX_ROUNDS = 360  # a round a day: a Standard execution lives a year at most, the work files 370 days
WAIT_FORMAT = "%Y-%m-%dT%H:%M:%SZ"  # what a Wait state's TimestampPath accepts everywhere


@dataclass
class Steps:
    s3: Any
    jobs: JobStore
    db: Any
    bucket: str
    prefix: str  # reports/
    accounts: list[str]  # the configured Zoom accounts, the first the default
    client: Callable[[str], Any]  # account -> a ZoomClient of its own (the account's limiter, shared)
    tokens: dict[str, Any]  # account -> its token source
    manifest: Callable[[str], Any]  # account -> DynamoManifest
    sink: Any  # S3Sink under ``prefix``
    pseudonymise: Any = None
    workers: int = 8
    lookback_days: int = 7
    default_users: list[str] | None = None
    clock: Callable[[], float] = time.time


# -- plan -----------------------------------------------------------------------------------------------
def meeting_ids(s3, request: ReportRequest, client) -> list[str]:
    """The request's meetings: its IDs, the valid meetings of its CSV (``s3://bucket/key``), or users' meetings."""
    if request.meeting_ids:
        return request.meeting_ids
    if request.csv:
        if not request.csv.startswith("s3://") or "/" not in request.csv[5:]:
            raise Refused(f"csv must be an s3://bucket/key URL, got {request.csv!r}")
        bucket, key = request.csv[5:].split("/", 1)
        try:
            body = s3.get_object(Bucket=bucket, Key=key)["Body"]
        except s3.exceptions.NoSuchKey:
            raise Refused(f"csv: no object {request.csv}") from None
        except s3.exceptions.ClientError as exc:
            raise Refused(f"csv: cannot read {request.csv} ({exc.response['Error'].get('Code')})") from None
        return meeting_ids_from_csv(body, key)
    assert request.since and request.until  # ReportRequest gives users' meetings a window
    return meetings_of_users(client, request.users, request.since, request.until)


def resolve(steps: Steps, payload: dict, now: datetime) -> tuple[ReportRequest, str, list[str]]:
    """(request, account, meeting ids); raises Refused/ValueError for the request, ZoomError for Zoom."""
    request = ReportRequest.from_payload(
        payload, lookback_days=steps.lookback_days, default_users=steps.default_users, now=now
    )
    account = request.account or steps.accounts[0]
    if account not in steps.accounts:
        raise ValueError(f"unknown account {account!r}; configured: {', '.join(steps.accounts)}")
    steps.tokens[account].token()  # no token stored: the job ends now, saying to run the token refresh
    ids = meeting_ids(steps.s3, request, steps.client(account))
    return request, account, list(dict.fromkeys(str(m) for m in ids))


def end(steps: Steps, job_id: str, state: str, reason: str) -> dict:
    steps.jobs.set(job_id, state=state, refused=reason, finished_at=iso(steps.clock()), step="done")
    return {"job_id": job_id, "ended": True, "state": state}


def plan(event: dict, steps: Steps) -> dict:
    document = event["job"]
    job_id = document["job_id"]
    now = datetime.fromtimestamp(steps.clock(), UTC)
    stamp = now.isoformat(timespec="seconds")
    execution = event.get("execution")
    steps.jobs.set(
        job_id, state="running", step="plan", started_at=stamp, engine=ENGINE_STEP_FUNCTIONS, execution_arn=execution
    )
    payload = {k: v for k, v in document.items() if k not in ("job_id", "run_id")}
    try:
        request, account, ids = resolve(steps, payload, now)
    except (Refused, ValueError) as exc:
        return end(steps, job_id, "rejected", str(exc))
    except ZoomError as exc:  # no token, an unknown user, Zoom unreachable: the job ends, saying why
        return end(steps, job_id, "rejected" if exc.status in (400, 404) else "failed", str(exc))
    except ZoomopsError as exc:
        return end(steps, job_id, "failed", str(exc))
    items_key = _round_key(job_id, 0)
    steps.s3.put_object(Bucket=steps.bucket, Key=items_key, Body=json.dumps(ids).encode())
    steps.jobs.set(job_id, step="fetch", meetings_total=len(ids), **dict.fromkeys(PROGRESS, 0))
    return {
        "job_id": job_id,
        "ended": False,
        "account": account,
        "since": request.since.isoformat() if request.since else None,
        "until": request.until.isoformat() if request.until else None,
        "run_id": document.get("run_id") or now.strftime("%Y%m%dT%H%M%SZ"),
        "started_at": stamp,
        "round": 0,
        "items_key": items_key,
        "to_fetch": len(ids),
    }


def _round_key(job_id: str, round_: int) -> str:
    return f"{WORK_PREFIX}{job_id}/rounds/{round_}.json"


def _part_key(job_id: str, round_: int, meeting_id: str) -> str:
    return f"{WORK_PREFIX}{job_id}/parts/{round_}/{meeting_id}.json"


# -- one meeting ---------------------------------------------------------------------------------------
def _when(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


def meeting(event: dict, steps: Steps, time_left: Callable[[], float] | None = None) -> dict:
    job_id, meeting_id, round_ = event["job_id"], str(event["meeting_id"]), int(event["round"])
    account = event["account"]
    options = Options(
        since=_when(event.get("since")),
        until=_when(event.get("until")),
        workers=steps.workers,
        pseudonymise=steps.pseudonymise,
    )
    collected: list[dict] = []
    run = ReportRun(
        steps.client(account),  # its own: the run counts its own requests
        steps.sink,
        steps.manifest(account),
        options,
        clock=steps.clock,
        time_left=time_left,
        min_time_left=30.0 if time_left else 0.0,
        collect=lambda summary, attendance, instances: collected.append(merge.part(summary, attendance, instances)),
    )
    summary = run.run([meeting_id], run_id=f"{event.get('run_id') or job_id}-{round_}-{meeting_id}")
    _put_json(steps, _part_key(job_id, round_, meeting_id), collected[0])
    written = {"instances_written": summary.instances_written, "rows_written": summary.rows_written}
    if not summary.stopped:
        written["meetings"] = 1
    _add(steps, job_id, written)
    return {}


def meeting_failed(event: dict, steps: Steps) -> dict:
    job_id, meeting_id = event["job_id"], str(event["meeting_id"])
    reason = caught_message(event.get("error") or {})
    failed = merge.failed_part(f"{job_id}-{event['round']}-{meeting_id}", meeting_id, reason)
    _put_json(steps, _part_key(job_id, int(event["round"]), meeting_id), failed)
    return {}


def _put_json(steps: Steps, key: str, document: Any) -> None:
    steps.s3.put_object(Bucket=steps.bucket, Key=key, Body=json.dumps(document, separators=(",", ":")).encode())


def _get_json(steps: Steps, key: str) -> Any:
    return json.loads(steps.s3.get_object(Bucket=steps.bucket, Key=key)["Body"].read())


def _add(steps: Steps, job_id: str, counts: dict[str, int]) -> None:
    """A child's progress into the job; the job is fetching again (no longer waiting for a reset)."""
    names = {f"#c{i}": name for i, name in enumerate(counts)}
    values = {f":c{i}": {"N": str(value)} for i, value in enumerate(counts.values())}
    steps.db.update_item(
        TableName=steps.jobs.table,
        Key={"job_id": {"S": job_id}},
        UpdateExpression="ADD "
        + ", ".join(f"#c{i} :c{i}" for i in range(len(counts)))
        + " SET #step = :fetch REMOVE #stopped, #resume",
        ExpressionAttributeNames={**names, "#step": "step", "#stopped": "stopped", "#resume": "resume_after"},
        ExpressionAttributeValues={**values, ":fetch": {"S": "fetch"}},
    )


# -- tally and finalize ----------------------------------------------------------------------------------
def _prefetched(fetch: Callable[[str], Any], keys: list[str], window: int = 256) -> Iterator[tuple[str, Any]]:
    """(key, fetch(key)) in the keys' order, a window of them fetched at once."""
    with ThreadPoolExecutor(max_workers=16) as pool:
        for start in range(0, len(keys), window):
            chunk = keys[start : start + window]
            yield from zip(chunk, pool.map(fetch, chunk))


def tally(event: dict, steps: Steps) -> dict:
    """What a daily limit left: the next round's meetings, and when to start it."""
    job_id, round_ = event["job_id"], int(event["round"])
    meetings = _get_json(steps, event["items_key"])
    left, resume = [], []
    for meeting_id, part_ in _prefetched(lambda m: _get_json(steps, _part_key(job_id, round_, m)), meetings):
        if merge.stopped(part_):
            left.append(meeting_id)
            resume.append(part_["summary"].get("resume_after") or iso(steps.clock()))
    if not left or round_ + 1 >= MAX_ROUNDS:
        return {**event, "left": 0}
    at = max(datetime.fromisoformat(r) for r in resume).astimezone(UTC)
    items_key = _round_key(job_id, round_ + 1)
    steps.s3.put_object(Bucket=steps.bucket, Key=items_key, Body=json.dumps(left).encode())
    until = at.isoformat(timespec="seconds")
    steps.jobs.set(job_id, step="waiting", stopped="daily-limit", resume_after=until, meetings_left=len(left))
    resume_at = at.strftime(WAIT_FORMAT)
    return {**event, "round": round_ + 1, "items_key": items_key, "left": len(left), "resume_at": resume_at}


def finalize(event: dict, steps: Steps) -> dict:
    job_id, rounds, run_id = event["job_id"], int(event.get("round") or 0), event["run_id"]
    steps.jobs.set(job_id, step="finalize", stopped=None, resume_after=None)
    rounds_of: dict[str, list[int]] = {}  # meeting -> the rounds it ran in
    for round_ in range(rounds + 1):
        for meeting_id in _get_json(steps, _round_key(job_id, round_)):
            rounds_of.setdefault(meeting_id, []).append(round_)

    def meeting_parts(meeting_id: str) -> list[dict]:
        return [_get_json(steps, _part_key(job_id, r, meeting_id)) for r in rounds_of[meeting_id]]

    kept: dict[str, list[dict]] = {}
    base = f"{steps.prefix}runs/{run_id}/"
    with tempfile.TemporaryDirectory(prefix="zoomops-report-") as tmp:
        folder = Path(tmp)
        with (
            open(folder / "attendance.csv", "w", newline="", encoding="utf-8") as attendance,
            open(folder / "instances.csv", "w", newline="", encoding="utf-8") as instances,
        ):
            files = merge.RunFiles(attendance, instances)
            for meeting_id, found in _prefetched(meeting_parts, sorted(rounds_of)):
                files.meeting(found)
                kept[meeting_id] = [{"summary": p["summary"]} for p in found]
        for name in ("attendance.csv", "instances.csv"):
            steps.s3.upload_file(str(folder / name), steps.bucket, base + name, ExtraArgs={"ContentType": "text/csv"})
    summary = merge.merge_summary(run_id, event.get("started_at") or "", iso(steps.clock()), kept)
    steps.sink.put(f"runs/{run_id}/summary.json", summary_json(summary), "application/json")
    result = asdict(summary)
    state = "partially_failed" if summary.failed else "succeeded"
    steps.jobs.set(
        job_id,
        state=state,
        step="done",
        finished_at=summary.finished_at,
        failed_count=len(summary.failed),
        results_prefix=f"s3://{steps.bucket}/{base}",
        meetings_left=0,
        **{k: result[k] for k in PROGRESS},
    )
    _forget(
        steps,
        [_round_key(job_id, r) for r in range(rounds + 1)]
        + [_part_key(job_id, r, m) for m, rs in rounds_of.items() for r in rs],
    )
    return {"job_id": job_id, "state": state, "run_id": run_id}


def _forget(steps: Steps, keys: list[str]) -> None:
    """The job's parts once merged (attendance: personal data), a thousand a request; what is not deleted now
    expires with the bucket's rule for report work files."""
    for start in range(0, len(keys), 1000):
        objects = [{"Key": key} for key in keys[start : start + 1000]]
        steps.s3.delete_objects(Bucket=steps.bucket, Delete={"Objects": objects, "Quiet": True})


def abandon(event: dict, steps: Steps) -> dict:
    document = event.get("job") or {}
    job_id = document.get("job_id")
    reason = caught_message(event.get("error") or {})
    if job_id:
        steps.jobs.set(job_id, state="failed", refused=reason, finished_at=iso(steps.clock()), step="failed")
    return {"job_id": job_id, "state": "failed", "reason": reason}
