"""Removal (bulk disassociate) jobs as the API and the console see them: create (upload or inline rows),
describe with result links, the result rows for a preview, confirm a dry run, re-drive the failed rows.

Every removal runs through the bucket: the API hands out a presigned upload URL for
``incoming/api/<job id>/<file>`` (``dryrun/...`` for a dry run), or writes the CSV there itself; the
normal S3 -> SQS -> function flow does the rest (in that invocation, or on the removal state machine for a
large file) and updates the same record.
"""

from __future__ import annotations

import csv
import io
from typing import Any

from ..errors import Conflict
from ..jobs import records
from ..jobs.records import (
    check_confirmable,
    confirmable,
    download_link,
    finished,
    get_job,
    new_job_id,
    timings,
    upload_link,
    workflow,
)
from ..names import API_UPLOADS, DRYRUN_PREFIX, INCOMING_PREFIX
from .rows import TEMPLATE_HEADER

RESULT_FILES = ("summary.json", "rows.csv", "retry.csv", "requests.jsonl")
PROGRESS = ("total_rows", "sent", "planned", "rejected", "duplicates", "failed", "batches")
ROW_STATUSES = ("sent", "planned", "rejected", "duplicate", "failed")


def create_disassociate_job(
    store: Any,
    s3,
    bucket: str,
    *,
    rows: list[dict] | None,
    file_name: str | None,
    dry_run: bool,
    user_id: str | None,
    batch_size: int,
    body: bytes | None = None,
    origin: str | None = None,
) -> dict[str, Any]:
    """A queued job and its source key; the CSV comes from ``rows`` (inline), ``body`` (a copy the API
    makes: confirm, re-drive) or, with neither, a presigned upload."""
    job_id = new_job_id("dis")
    name = file_name or ("inline.csv" if rows is not None else "upload.csv")
    key = f"{DRYRUN_PREFIX if dry_run else INCOMING_PREFIX}{API_UPLOADS}{job_id}/{name}"
    record = {
        "kind": "disassociate",
        "source": f"s3://{bucket}/{key}",
        "file": name,
        "dry_run": dry_run,
        "user_id": user_id or "",
        "batch_size": batch_size,
        "entry": "api",
    }
    store.create(job_id, {**record, **({"origin": origin} if origin else {})})
    answer: dict[str, Any] = {"jobId": job_id, "state": "queued"}
    data = rows_csv(rows) if rows is not None else body
    if data is None:
        answer["upload"] = upload_link(s3, bucket, key)
    else:
        s3.put_object(Bucket=bucket, Key=key, Body=data, ContentType="text/csv")
    return answer


def rows_csv(rows: list[dict]) -> bytes:
    """Inline rows as an LTI Pro import-template CSV (the same file an admin would drop)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(TEMPLATE_HEADER)
    for row in rows:
        writer.writerow((row["meetingId"], row["contextId"], row["domain"], row.get("courseId") or ""))
    return buffer.getvalue().encode()


def describe_disassociate_job(store: Any, s3, bucket: str, job_id: str, *, workflow_fields: bool = False) -> dict:
    """The job as the API shows it; ``workflow_fields``: with ``engine``, ``executionArn`` and ``step``."""
    job = get_job(store, job_id, "disassociate")
    progress = {name: int(job.get(name, 0)) for name in PROGRESS}
    answer: dict[str, Any] = {
        "jobId": job_id,
        "state": job["state"],
        "file": job.get("file"),
        "dryRun": bool(job.get("dry_run")),
        "progress": {**progress, "batchesTotal": progress["batches"] if job.get("finished_at") else None},
        "timings": timings(job),
        "refused": job.get("refused"),
        "origin": job.get("origin"),
        "confirmable": confirmable(job),
        "results": None,
        **(workflow(job) if workflow_fields else {}),
    }
    if job.get("results_prefix"):
        answer["results"] = {
            name: download_link(s3, bucket, job["results_prefix"] + name)
            for name in RESULT_FILES
            if name != "requests.jsonl" or job.get("dry_run")
        }
    return answer


def result_rows(store: Any, s3, bucket: str, job_id: str, *, status: str | None, limit: int, offset: int) -> dict:
    """A finished removal's rows.csv, as JSON, filtered by status: what a preview shows."""
    return records.result_rows(store, s3, bucket, job_id, "disassociate", status=status, limit=limit, offset=offset)


def confirm(store: Any, s3, bucket: str, job_id: str) -> dict[str, Any]:
    """Run for real the file a finished dry run planned (the job's source, as it was uploaded)."""
    job = get_job(store, job_id, "disassociate")
    check_confirmable(job, INCOMING_PREFIX)
    key = job["moved_to"]
    data = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    return create_disassociate_job(
        store,
        s3,
        bucket,
        rows=None,
        file_name=job.get("file"),
        dry_run=False,
        user_id=job.get("user_id") or None,
        batch_size=int(job["batch_size"]),
        body=data,
        origin=f"confirms {job_id}",
    )


def redrive(store: Any, s3, bucket: str, job_id: str) -> dict[str, Any]:
    """A new job from a finished job's retry.csv: exactly its failed rows."""
    job = get_job(store, job_id, "disassociate")
    finished(job, "re-drive it")
    if not int(job.get("failed", 0)):
        raise Conflict(f"job {job_id} has no failed rows to re-drive")
    data = s3.get_object(Bucket=bucket, Key=job["results_prefix"] + "retry.csv")["Body"].read()
    return create_disassociate_job(
        store,
        s3,
        bucket,
        rows=None,
        file_name="retry.csv",
        dry_run=False,
        user_id=job.get("user_id") or None,
        batch_size=int(job["batch_size"]),
        body=data,
        origin=f"re-drives {job_id}",
    )
