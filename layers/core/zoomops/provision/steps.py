"""Provisioning on the stack: the steps of the provisioning state machine (infra/statemachines/
provisioning.asl.json), the same stages the CLI runs in one process.

* **plan** (pass 0): the job record, the file read and checked (a refused file, or a dry run, is finished here
  in one go), the rows left to do split into parts of at most ``PART_ROWS`` (a host's rows kept together, so
  one worker counts its daily allowance and makes its Web Meeting organizer), written under
  ``work/provision/<job>/pass-0/``. Pass N+1 gathers pass N's outcomes: rows deferred past a host's allowance
  (or not reached before a worker's time limit) form the next pass, with the time to wait until;
* **part** (a Map item): one part's rows decided against the ledger (DynamoDB) and done through the platform
  adapter, each outcome written beside the part;
* **part_failed** (a Map item's Catch): a part whose worker failed for good leaves its rows failed with the
  error (a re-run finds in the ledger whatever it had created);
* **finalize**: every line's last outcome over the passes, the association (import files or LTI Pro's import
  API), the result files under ``results/<file>/<run id>/``, the source moved to ``processed/`` and the
  job record finished.

Nothing is sent twice: a part's rows go through the same ledger protocol as the CLI's (an entry written
``creating`` before each create), so a retried or re-run part recovers, never repeats, what the platform did.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from ..clock import run_stamp, utc_now
from ..errors import FileRefused, Unavailable, caught_message
from ..names import PROCESSED_PREFIX, REJECTED_PREFIX, RESULTS_PREFIX
from . import workfiles as work
from .execute import Executor
from .jobs import as_options, job_options
from .plan import Row, decide, read, rows_of
from .run import Context, Summary, finish, new_summary, refuse
from .run import run as run_inline

PART_ROWS = 100
WAIT_MARGIN = timedelta(seconds=30)  # a host's allowance resets at 00:00 UTC: look a little after
TIME_MARGIN = 60.0  # seconds a worker keeps for writing its outcomes
PENDING = "pending"  # not reached before the worker's time limit: the next pass takes it at once
MAX_PASSES = 40  # a month of daily waits, or parts that never finish: the rest is reported, not retried forever


@dataclass
class Deps:
    """What the steps reach out to; the function builds it once per container."""

    s3: Any
    jobs: Any  # zoomops.aws.jobstore.JobStore
    context: Callable[..., Context]  # (the job's options, rate share) -> platform adapter, ledger, LTI import
    clock: Callable[[], float] = time.time


# -- plan --------------------------------------------------------------------------------------------------
def plan(event: dict[str, Any], deps: Deps) -> dict[str, Any]:
    job = event["job"]
    if "pass" in event:
        return _next_pass(job, int(event["pass"]) + 1, deps)
    record = deps.jobs.get(job["job_id"]) or {}
    if record.get("finished_at"):
        return {**_state(job, 0), "done": True, "skipped": f"job {job['job_id']} has finished already"}
    obj = work.source(deps.s3, job)
    if obj is None:  # gone before it ran (deleted, or moved by an earlier run): the job ends saying so
        gone = f"{job['key']} is no longer in the bucket (deleted or already processed): nothing was done"
        deps.jobs.set(job["job_id"], state="failed", step="finished", refused=gone, finished_at=utc_now())
        return {**_state(job, 0), "done": True, "skipped": gone}
    found_options = record.get("options") or job_options(job["key"], obj.get("Metadata", {}))
    refusal = found_options if isinstance(found_options, str) else None  # unusable metadata: the file is refused
    options = found_options if isinstance(found_options, dict) else job_options(job["key"], {})
    assert isinstance(options, dict)
    run_id = record.get("run_id") or f"{run_stamp(deps.clock())}-{job['job_id'][4:12]}"
    deps.jobs.start(job["job_id"], _record(job, options, run_id))
    ctx = deps.context(options)
    if refusal:
        _finish_refused(job, options, run_id, FileRefused(refusal), ctx, deps)
        return {**_state(job, 0), "done": True, "finished": "refused"}
    if options["dry_run"]:  # nothing is sent: the whole run fits one step
        summary = _inline(job, options, run_id, obj, ctx, deps)
        return {**_state(job, 0), "done": True, "finished": summary.refused or "dry run"}
    try:
        found = read(obj["Body"], work.name(job), ctx.provider, associate=options["associate"] != "none")
    except FileRefused as exc:
        _finish_refused(job, options, run_id, exc, ctx, deps)
        return {**_state(job, 0), "done": True, "finished": "refused"}
    todo = [(row.line, row.raw, row.spec.host.lower()) for row in found.rows if not row.status and row.spec]
    deps.jobs.set(job["job_id"], total_rows=len(found.rows), rejected=len(found.rows) - len(todo), step="working")
    return _write_pass(job, 0, found.header, todo, None, deps)


def _next_pass(job: dict[str, Any], number: int, deps: Deps) -> dict[str, Any]:
    """Pass ``number - 1``'s outcomes: what is left forms pass ``number``, after the wait it needs; what is
    settled is carried into pass ``number``'s own files (work files expire after days: a job that waits for
    many daily resets reads only its latest pass)."""
    before = number - 1
    outcomes = work.outcomes(deps.s3, job, before)
    left = [o for o in outcomes.values() if o["status"] in ("deferred", PENDING)] if number < MAX_PASSES else []
    taken = {o["line"] for o in left}
    settled = work.settled(deps.s3, job, before) | {line: o for line, o in outcomes.items() if line not in taken}
    resume = [datetime.fromisoformat(o["resume_after"]) for o in left if o.get("resume_after")]
    wait_until = max(resume) + WAIT_MARGIN if resume else None
    statuses = [o["status"] for o in (*settled.values(), *left)]
    counts = {s: statuses.count(s) for s in ("created", "updated", "unchanged", "failed", "deferred")}
    step = (
        f"waiting until {wait_until.isoformat(timespec='seconds')} for hosts' allowances" if wait_until else "working"
    )
    resume_after = wait_until.isoformat(timespec="seconds") if wait_until else ""
    deps.jobs.set(job["job_id"], step=step if left else "finishing", resume_after=resume_after, **counts)
    lines = [(o["line"], o["raw"], o["host"]) for o in sorted(left, key=lambda o: o["line"])]
    return _write_pass(job, number, work.header(deps.s3, job, before), lines, wait_until, deps, settled)


def _write_pass(job, number: int, header: list[str], lines, wait_until, deps, settled=None) -> dict[str, Any]:
    """Pass ``number``'s files: the header, the settled outcomes so far, the parts and the Map's items."""
    parts = _parts(lines)
    prefix = work.pass_prefix(job, number)
    work.put(deps.s3, job, f"{prefix}header.json", header)
    work.put_lines(deps.s3, job, f"{prefix}settled.jsonl", list((settled or {}).values()))
    for i, part in enumerate(parts):
        items = [{"line": line, "raw": raw, "host": host} for line, raw, host in part]
        work.put_lines(deps.s3, job, f"{prefix}part-{i:05d}.jsonl", items)
    work.put(deps.s3, job, f"{prefix}items.json", [{"part": i} for i in range(len(parts))])
    state = {**_state(job, number), "items_key": f"{prefix}items.json", "parts": len(parts), "done": not parts}
    # Always present (the Choice tests its type): a UTC timestamp ending in Z for the Wait state, or null.
    state["wait_until"] = wait_until.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if wait_until and parts else None
    return state


def _parts(lines: list[tuple[int, list[str], str]]) -> list[list[tuple[int, list[str], str]]]:
    """Parts of at most PART_ROWS lines; a host's lines stay in one part unless it alone has more."""
    by_host: dict[str, list[tuple[int, list[str], str]]] = {}
    for item in lines:
        by_host.setdefault(item[2], []).append(item)
    parts: list[list[tuple[int, list[str], str]]] = [[]]
    for host_lines in by_host.values():
        for start in range(0, len(host_lines), PART_ROWS):
            chunk = host_lines[start : start + PART_ROWS]
            if len(parts[-1]) + len(chunk) > PART_ROWS:
                parts.append([])
            parts[-1].extend(chunk)
    return [p for p in parts if p]


# -- part --------------------------------------------------------------------------------------------------
def part(event: dict[str, Any], deps: Deps, time_left: Callable[[], float] | None = None) -> dict[str, Any]:
    job, number, index = event["job"], int(event["pass"]), int(event["part"])
    record = deps.jobs.get(job["job_id"]) or {}
    options = record["options"]
    if record.get("resume_after"):  # the wait is over: the job says it is working again
        deps.jobs.set(job["job_id"], step=f"working (pass {number + 1})", resume_after="")
    # The Map runs at most ``concurrency`` parts at once: each may use that share of the platform's rates.
    at_once = max(1, min(int(event.get("parts") or 1), int(event.get("concurrency") or 1)))
    ctx = deps.context(options, 1.0 / at_once)
    prefix = work.pass_prefix(job, number)
    items = work.read_lines(deps.s3, job, f"{prefix}part-{index:05d}.jsonl") or []
    associate = options["associate"] != "none"
    lines = [(i["line"], i["raw"]) for i in items]
    rows = rows_of(work.header(deps.s3, job, number), lines, ctx.provider, associate=associate)
    decide(rows, ctx.provider, ctx.ledger)
    out_of_time = (lambda: "time limit" if time_left() < TIME_MARGIN else None) if time_left else None
    executor = Executor(
        ctx.provider,
        ctx.ledger,
        daily_cap=getattr(ctx.provider, "daily_cap", None),
        workers=4,
        clock=deps.clock,
        stop=out_of_time,
        retry_lost=bool(options.get("retry_lost")),
        run_id=record["run_id"],
    )
    executor.run(rows)
    resume_after = executor.resume_after.isoformat(timespec="seconds") if executor.resume_after else None
    outcomes = [_outcome(row, item, resume_after) for row, item in zip(rows, items, strict=True)]
    work.put_lines(deps.s3, job, f"{prefix}part-{index:05d}.out.jsonl", outcomes)
    statuses = [o["status"] for o in outcomes]
    return {"part": index, **{s: statuses.count(s) for s in set(statuses)}}


def _outcome(row: Row, item: dict[str, Any], resume_after: str | None) -> dict[str, Any]:
    status = row.status
    if status == "failed" and row.reason == "not sent: time limit":
        status = PENDING
    found = {"line": row.line, "raw": item["raw"], "host": item["host"], "status": status, "reason": row.reason}
    found |= {"meeting_id": row.meeting_id, "join_url": row.join_url}
    return found | ({"resume_after": resume_after} if status == "deferred" and resume_after else {})


def part_failed(event: dict[str, Any], deps: Deps) -> dict[str, Any]:
    """The part's worker failed for good: its rows failed with the error, unless it wrote its outcomes (a
    conditional write: outcomes already there are kept, and nothing is read that may not exist)."""
    job, number, index = event["job"], int(event["pass"]), int(event["part"])
    key = f"{work.pass_prefix(job, number)}part-{index:05d}"
    reason = f"not done: {caught_message(event.get('error') or {})}"[:500]
    items = work.read_lines(deps.s3, job, f"{key}.jsonl") or []
    outcomes = [{**i, "status": "failed", "reason": reason, "meeting_id": "", "join_url": ""} for i in items]
    if not work.put_lines(deps.s3, job, f"{key}.out.jsonl", outcomes, only_new=True):
        return {"part": index, "kept": "its outcomes"}
    return {"part": index, "failed": len(outcomes)}


# -- finalize ----------------------------------------------------------------------------------------------
def finalize(event: dict[str, Any], deps: Deps) -> dict[str, Any]:
    job = event["job"]
    record = deps.jobs.get(job["job_id"]) or {}
    if event.get("done") and (record.get("finished_at") or event.get("skipped")):
        return {"job_id": job["job_id"], "state": record.get("state"), "skipped": event.get("skipped")}
    options = record["options"]
    ctx = deps.context(options)
    associate = options["associate"] != "none"
    obj = work.source(deps.s3, job)
    if obj is None:  # the execution's Catch ends the job with this reason
        raise Unavailable(f"{job['key']} was removed while the job ran: what was created is in the ledger")
    found = read(obj["Body"], work.name(job), ctx.provider, associate=associate)
    final = int(event.get("pass", 0))
    last = work.settled(deps.s3, job, final) | work.outcomes(deps.s3, job, final)
    for row in found.rows:
        _settle(row, last.get(row.line), ctx)
    summary = new_summary(work.name(job), as_options(options), ctx)
    summary.encoding, summary.warnings = found.encoding, list(found.warnings)
    done = _write_results(
        job,
        options,
        record["run_id"],
        summary,
        deps,
        lambda out: finish(found.rows, found.header, out, as_options(options), ctx, summary),
    )
    return {"job_id": job["job_id"], "refused": done.refused, "failed": done.failed, "total_rows": done.total_rows}


def abandon(event: dict[str, Any], deps: Deps) -> dict[str, Any]:
    """The execution failed (a step's retries spent): the job ends failed, saying why. What the platform
    accepted is in the ledger: the same file run again repeats none of it."""
    state = event.get("state") or {}
    job_id = (state.get("job") or state).get("job_id")
    reason = f"{caught_message(event.get('error') or {})}; what was created is kept: run the file again"[:1000]
    if job_id:
        deps.jobs.set(job_id, state="failed", step="failed", refused=reason, finished_at=utc_now())
    return {"job_id": job_id, "state": "failed", "reason": reason}


def _settle(row: Row, outcome: dict[str, Any] | None, ctx: Context) -> None:
    if row.status:
        return  # rejected when the file was read
    if outcome is None or outcome["status"] == PENDING:
        row.settle("failed", "not done: its worker did not finish (see the execution's history); run the file again")
        return
    row.settle(outcome["status"], outcome["reason"])
    row.meeting_id, row.join_url = outcome["meeting_id"], outcome["join_url"]
    row.entry = ctx.ledger.get(row.key) if row.meeting_id else None


def _inline(job, options, run_id, obj, ctx: Context, deps: Deps) -> Summary:
    name = work.name(job)
    return _write_results(
        job, options, run_id, None, deps, lambda out: run_inline(obj["Body"], name, out, as_options(options), ctx)
    )


def _finish_refused(job, options, run_id, exc: FileRefused, ctx: Context, deps: Deps) -> Summary:
    summary = new_summary(work.name(job), as_options(options), ctx)
    options_ = as_options(options)
    return _write_results(job, options, run_id, summary, deps, lambda out: refuse(summary, out, options_, exc))


def _write_results(job, options, run_id: str, summary, deps: Deps, produce) -> Summary:
    """Run ``produce(folder)``, upload the folder as the job's results, move the source, finish the record."""
    from ..aws.s3 import ObjectRef, move_object, upload_dir

    results = f"{RESULTS_PREFIX}{work.name(job)}/{run_id}/"
    with tempfile.TemporaryDirectory(prefix="zoomops-provision-") as tmp:
        summary = produce(Path(tmp))
        files = sorted(p.name for p in Path(tmp).iterdir() if p.is_file())
        upload_dir(deps.s3, Path(tmp), job["bucket"], results)
    target = (REJECTED_PREFIX if summary.refused else PROCESSED_PREFIX) + job["key"]
    move_object(deps.s3, ObjectRef(job["bucket"], job["key"], job.get("etag", ""), job.get("version", "")), target)
    state = (
        "rejected"
        if summary.refused
        else "partially_failed"
        if summary.failed or summary.import_failed
        else "succeeded"
    )
    counts = {name: getattr(summary, name) for name in ("total_rows", "created", "updated", "unchanged", "rejected")}
    counts |= {name: getattr(summary, name) for name in ("failed", "deferred", "planned")}
    deps.jobs.set(
        job["job_id"],
        state=state,
        step="finished",
        finished_at=utc_now(),
        results_prefix=results,
        files=files,
        moved_to=target,
        refused=summary.refused or "",
        association=summary.association,
        **counts,
    )
    return summary


# -- shared ------------------------------------------------------------------------------------------------
def _record(job: dict[str, Any], options: dict[str, Any], run_id: str) -> dict[str, Any]:
    return {
        "kind": "provision",
        "source": f"s3://{job['bucket']}/{job['key']}",
        "file": work.name(job),
        "run_id": run_id,
        "dry_run": bool(options["dry_run"]),
        "options": options,
        "started_at": utc_now(),
    }


def _state(job: dict[str, Any], number: int) -> dict[str, Any]:
    return {"job": job, "pass": number}
