"""One S3 object from the intake queue: the service the Lambda handler calls.

``incoming/<path>`` sends, ``dryrun/<path>`` only plans. Results go to
``results/<file name>/<run id>/``; the source moves to ``processed/<path>``, or
``rejected/<path>`` when the file itself is refused. Per-file options come from
the object's metadata (``user-id``, ``batch-size``, ``dry-run``).

A removal file runs here, in this invocation, when it is small; a larger one (over ``inline_max_bytes``), or a
run that reaches the time limit, is handed to the removal state machine: an execution named by the job id,
which resumes from the job's checkpoint (nothing LTI Pro accepted is sent again). ``provision/`` and
``provision-dryrun/`` files start the provisioning state machine. Starting is idempotent (``aws.workflows``).
"""

from __future__ import annotations

import hashlib
import re
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..clock import run_stamp, utc_now
from ..errors import OutOfTime
from ..lti import MAX_BATCH, disassociate
from ..lti.disassociate import Summary, result_files
from ..lti.signing import LtiCredentials
from ..names import (
    API_UPLOADS,
    DRYRUN_PREFIX,
    INCOMING_PREFIX,
    PROCESSED_PREFIX,
    PROVISION_DRYRUN_PREFIX,
    PROVISION_PREFIX,
    REJECTED_PREFIX,
    RESULTS_PREFIX,
)
from .jobstore import JobStore, ThrottledProgress
from .s3 import ObjectRef, move_object, upload_dir
from .workflows import ENGINE_LAMBDA, ENGINE_STEP_FUNCTIONS

Start = Callable[[str, str, dict], str]  # (job kind, job id, execution input) -> execution ARN, idempotent


@dataclass
class Deps:
    s3: Any
    jobs: JobStore
    credentials: Callable[[], tuple[LtiCredentials, str | None]]
    sender: Callable[[LtiCredentials], disassociate.Sender]
    batch_size: int = MAX_BATCH
    start: Start | None = None  # the state machines (None: every removal runs here, as the CLI's would)
    inline_max_bytes: int | None = None  # a larger removal file goes to the state machine (None: no limit)


API_UPLOAD = re.compile(rf"^{API_UPLOADS}((?:dis|pro)-[0-9a-f]{{24}})/[^/]+$")
SOURCES = (  # prefix, job kind, dry run by prefix
    (DRYRUN_PREFIX, "disassociate", True),
    (INCOMING_PREFIX, "disassociate", False),
    (PROVISION_DRYRUN_PREFIX, "provision", True),
    (PROVISION_PREFIX, "provision", False),
)
ID_PREFIX = {"disassociate": "dis", "provision": "pro"}


def job_id_for(ref: ObjectRef, kind: str = "disassociate") -> str:
    digest = hashlib.sha256(f"{ref.bucket}\n{ref.key}\n{ref.etag}\n{ref.version}\n{ref.sequencer}".encode()).hexdigest()
    return f"{ID_PREFIX[kind]}-{digest[:24]}"


def _job_id(ref: ObjectRef, relative: str, kind: str) -> str:
    """A file uploaded for a job the API created carries that job's id in its key; else one from the event."""
    api_job = API_UPLOAD.match(relative)
    if api_job and api_job.group(1).startswith(ID_PREFIX[kind]):
        return api_job.group(1)
    return job_id_for(ref, kind)


def _overrides(metadata: dict[str, str], default_batch: int) -> tuple[dict[str, Any], str | None]:
    """Per-file options from object metadata, or the reason they are unusable."""
    options: dict[str, Any] = {"batch_size": default_batch, "user_id": None, "dry_run": False}
    raw = metadata.get("batch-size", "").strip()
    if raw:
        if not raw.isdigit() or not 1 <= int(raw) <= MAX_BATCH:
            return options, f"object metadata batch-size must be a whole number 1-{MAX_BATCH}, got {raw!r}"
        options["batch_size"] = int(raw)
    user = metadata.get("user-id", "").strip()
    if user:
        options["user_id"] = user
    dry = metadata.get("dry-run", "").strip().lower()
    if dry:
        if dry not in ("true", "false", "1", "0", "yes", "no"):
            return options, f"object metadata dry-run must be true or false, got {dry!r}"
        options["dry_run"] = dry in ("true", "1", "yes")
    return options, None


def _source(ref: ObjectRef) -> tuple[str, str, bool] | str:
    """(the path under the source prefix, job kind, dry run by prefix), or why the object is skipped."""
    for prefix, kind, dry in SOURCES:
        if ref.key.startswith(prefix):
            relative = ref.key[len(prefix) :]
            if not relative or relative.endswith("/"):
                return f"{ref.key} is a folder placeholder, not a file"
            return relative, kind, dry
    return f"{ref.key} is not under {', '.join(prefix for prefix, _, _ in SOURCES)}"


def _start_job(
    ref: ObjectRef, deps: Deps, relative: str, dry_by_prefix: bool, options: dict[str, Any]
) -> tuple[str, dict]:
    """The job record, created or resumed. A file uploaded for a job the API created carries that job's
    id in its key; the job's record already holds its options (dry run, user id, batch size), kept here."""
    job_id = _job_id(ref, relative, "disassociate")
    return job_id, deps.jobs.start(
        job_id,
        {
            "kind": "disassociate",
            "source": f"s3://{ref.bucket}/{ref.key}",
            "file": ref.name,
            "run_id": f"{run_stamp(time.time())}-{job_id[4:12]}",
            "dry_run": dry_by_prefix or options["dry_run"],
            "batch_size": options["batch_size"],
            "user_id": options["user_id"] or "",
            "started_at": utc_now(),
            "engine": ENGINE_LAMBDA,
        },
    )


def process_object(
    ref: ObjectRef, deps: Deps, *, time_left: Callable[[], float] | None = None, min_time_left: float = 60.0
) -> dict:
    where = _source(ref)
    if isinstance(where, str):
        return {"skipped": where}
    relative, kind, dry_by_prefix = where
    if kind == "provision":
        return start_provision(ref, deps, relative, dry_by_prefix)
    try:
        obj = deps.s3.get_object(Bucket=ref.bucket, Key=ref.key, **({"VersionId": ref.version} if ref.version else {}))
    except deps.s3.exceptions.NoSuchKey:
        return {"skipped": f"{ref.key} no longer exists (already processed)"}  # a late duplicate delivery
    options, metadata_error = _overrides(obj.get("Metadata", {}), deps.batch_size)
    job_id, job = _start_job(ref, deps, relative, dry_by_prefix, options)
    if job.get("finished_at"):
        # Delivered again after the idempotency record expired (the bucket is versioned, so the
        # version is still readable after the move): the job is done, its results stand.
        obj["Body"].close()
        return {"skipped": f"{ref.key} was already processed as job {job_id} ({job.get('state')})"}
    if job.get("engine") == ENGINE_STEP_FUNCTIONS:  # handed over before: the same execution, never a second
        obj["Body"].close()
        return hand_over(ref, deps, job_id, "already handed to the removal state machine", obj)
    large = deps.inline_max_bytes is not None and int(obj.get("ContentLength") or 0) > deps.inline_max_bytes
    if large and deps.start is not None and not metadata_error and not job["dry_run"]:
        obj["Body"].close()
        return hand_over(ref, deps, job_id, f"{obj['ContentLength']} bytes: over the one-invocation limit", obj)
    # A resumed attempt keeps the first attempt's run id and batch layout.
    results_prefix = f"{RESULTS_PREFIX}{ref.name}/{job['run_id']}/"
    try:
        summary = _run(obj, ref, deps, job_id, job, metadata_error, results_prefix, time_left, min_time_left)
    except OutOfTime as stop:
        if deps.start is None:
            raise
        return hand_over(ref, deps, job_id, f"time limit near ({stop})", obj)
    return conclude(deps.s3, deps.jobs, ref, job_id, summary, results_prefix, relative)


def conclude(s3, jobs: JobStore, ref: ObjectRef, job_id: str, summary: Summary, results_prefix: str, relative: str):
    """After the result files are up: the source moves to processed/ (or rejected/), the job gets its end state."""
    target = (REJECTED_PREFIX if summary.refused else PROCESSED_PREFIX) + relative
    move_object(s3, ref, target)
    state = "rejected" if summary.refused else "partially_failed" if summary.failed else "succeeded"
    jobs.update(
        job_id,
        summary,
        state=state,
        finished_at=utc_now(),
        results_prefix=results_prefix,
        moved_to=target,
        encoding=summary.encoding,
        refused=summary.refused,
        step="done",
    )
    return {
        "job_id": job_id,
        "state": state,
        "results": f"s3://{ref.bucket}/{results_prefix}",
        "moved_to": target,
        **summary.as_dict(),
    }


def hand_over(ref: ObjectRef, deps: Deps, job_id: str, reason: str, obj: dict) -> dict:
    """The removal state machine takes the job over (idempotently: the execution is named by the job id),
    pinned to the object version this invocation read."""
    assert deps.start is not None
    version = ref.version or obj.get("VersionId") or ""
    document = {"job_id": job_id, "bucket": ref.bucket, "key": ref.key, "version": version}
    handed = (deps.jobs.get(job_id) or {}).get("engine") == ENGINE_STEP_FUNCTIONS
    if not handed:  # recorded before the start: a redelivery never runs the file here beside the machine
        deps.jobs.set(job_id, engine=ENGINE_STEP_FUNCTIONS, step="queued", handed_over=reason)
    arn = deps.start("disassociate", job_id, document)
    deps.jobs.set(job_id, execution_arn=arn)  # the step is the machine's to say from now on
    return {"job_id": job_id, "state": "running", "engine": ENGINE_STEP_FUNCTIONS, "execution_arn": arn}


def start_provision(ref: ObjectRef, deps: Deps, relative: str, dry_run: bool) -> dict:
    """A provisioning file: its job record (``kind: provision``) and its provisioning state machine execution."""
    if deps.start is None:
        return {"skipped": f"{ref.key}: provisioning runs on its state machine, which is not configured here"}
    job_id = _job_id(ref, relative, "provision")
    done = deps.jobs.get(job_id) or {}
    if done.get("finished_at"):  # read first: a finished job is never marked running again
        return {"skipped": f"{ref.key} was already processed as job {job_id} ({done.get('state')})"}
    job = deps.jobs.start(
        job_id,
        {
            "kind": "provision",
            "source": f"s3://{ref.bucket}/{ref.key}",
            "file": ref.name,
            "dry_run": dry_run,
            "started_at": utc_now(),
            "engine": ENGINE_STEP_FUNCTIONS,
        },
    )
    if job.get("finished_at"):
        return {"skipped": f"{ref.key} was already processed as job {job_id} ({job.get('state')})"}
    document = {
        "job_id": job_id,
        "bucket": ref.bucket,
        "key": ref.key,
        "version": ref.version,
        "etag": ref.etag,
        "dry_run": dry_run,
    }
    arn = deps.start("provision", job_id, document)
    deps.jobs.set(job_id, execution_arn=arn, step=job.get("step") or "queued")
    return {"job_id": job_id, "state": "running", "engine": ENGINE_STEP_FUNCTIONS, "execution_arn": arn}


def _run(
    obj: dict,
    ref: ObjectRef,
    deps: Deps,
    job_id: str,
    job: dict,
    metadata_error: str | None,
    results_prefix: str,
    time_left: Callable[[], float] | None,
    min_time_left: float,
) -> Summary:
    """The file's run in a temporary folder, its result files uploaded under ``results_prefix``."""
    creds, default_user = deps.credentials()
    options = disassociate.Options(
        dry_run=bool(job["dry_run"]), user_id=job["user_id"] or default_user, batch_size=int(job["batch_size"])
    )
    with tempfile.TemporaryDirectory(prefix="zoomops-") as tmp:
        out = result_files(tmp, dry_run=options.dry_run)
        if metadata_error:
            summary = Summary(
                file=ref.name,
                refused=f"{ref.name}: {metadata_error}",
                run_id=job["run_id"],
                dry_run=options.dry_run,
                started_at=utc_now(),
                finished_at=utc_now(),
            )
            out.finish(summary.as_dict())
        else:
            summary = disassociate.run(
                obj["Body"],
                ref.name,
                out,
                options,
                sender=None if options.dry_run else deps.sender(creds),
                creds=creds,
                checkpoint=deps.jobs.checkpoint(job_id),
                progress=ThrottledProgress(deps.jobs, job_id),
                time_left=time_left,
                min_time_left=min_time_left,
                run_id=job["run_id"],
            )
        upload_dir(deps.s3, Path(tmp), ref.bucket, results_prefix)
    return summary
