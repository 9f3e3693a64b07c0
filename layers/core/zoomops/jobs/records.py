"""Jobs as the API sees them: create, describe. One record per job in the jobs table, shared by
every entry point (a CSV dropped in the bucket, the API, a CLI run against the deployment).

Disassociate jobs run through the bucket: the API hands out a presigned upload URL for
``incoming/api/<job id>/<file>`` (``dryrun/...`` for a dry run), or writes inline rows there
itself as an import-template CSV; the normal S3 -> SQS -> function flow does the rest and
updates the same record. Report jobs invoke the report function with the job id.
"""

from __future__ import annotations

import csv
import io
import uuid
from collections.abc import Callable
from typing import Any

from ..errors import NotFound
from ..lti.rows import TEMPLATE_HEADER
from ..names import API_UPLOADS, DRYRUN_PREFIX, INCOMING_PREFIX

PRESIGN_SECONDS = 900
RESULT_FILES = ("summary.json", "rows.csv", "retry.csv", "requests.jsonl")
_PROGRESS = ("total_rows", "sent", "planned", "rejected", "duplicates", "failed", "batches")


class UnknownJob(NotFound):
    def __init__(self, job_id: str):
        super().__init__(f"no job {job_id!r}")
        self.job_id = job_id


def new_job_id(kind: str) -> str:
    return f"{kind}-{uuid.uuid4().hex[:24]}"


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
) -> dict[str, Any]:
    job_id = new_job_id("dis")
    name = file_name or ("inline.csv" if rows is not None else "upload.csv")
    key = f"{DRYRUN_PREFIX if dry_run else INCOMING_PREFIX}{API_UPLOADS}{job_id}/{name}"
    store.create(
        job_id,
        {
            "kind": "disassociate",
            "source": f"s3://{bucket}/{key}",
            "file": name,
            "dry_run": dry_run,
            "user_id": user_id or "",
            "batch_size": batch_size,
            "entry": "api",
        },
    )
    answer: dict[str, Any] = {"jobId": job_id, "state": "queued"}
    if rows is None:
        url = s3.generate_presigned_url(
            "put_object",
            Params={"Bucket": bucket, "Key": key, "ContentType": "text/csv"},
            ExpiresIn=PRESIGN_SECONDS,
            HttpMethod="PUT",
        )
        answer["upload"] = {
            "url": url,
            "method": "PUT",
            "headers": {"Content-Type": "text/csv"},
            "expiresIn": PRESIGN_SECONDS,
        }
    else:
        s3.put_object(Bucket=bucket, Key=key, Body=rows_csv(rows), ContentType="text/csv")
    return answer


def rows_csv(rows: list[dict]) -> bytes:
    """Inline rows as an LTI Pro import-template CSV (the same file an admin would drop)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(TEMPLATE_HEADER)
    for row in rows:
        writer.writerow((row["meetingId"], row["contextId"], row["domain"], row.get("courseId") or ""))
    return buffer.getvalue().encode()


def describe_disassociate_job(store: Any, s3, bucket: str, job_id: str) -> dict[str, Any]:
    job = store.get(job_id)
    if not job or job.get("kind") != "disassociate":
        raise UnknownJob(job_id)
    progress = {name: int(job.get(name, 0)) for name in _PROGRESS}
    batches_total = None
    if job.get("finished_at"):
        batches_total = progress["batches"]
    answer: dict[str, Any] = {
        "jobId": job_id,
        "state": job["state"],
        "file": job.get("file"),
        "dryRun": bool(job.get("dry_run")),
        "progress": {**progress, "batchesTotal": batches_total},
        "timings": {k: job.get(k) for k in ("created_at", "started_at", "finished_at", "updated_at")},
        "refused": job.get("refused"),
        "results": None,
    }
    if job.get("results_prefix"):
        answer["results"] = {
            name: s3.generate_presigned_url(
                "get_object", Params={"Bucket": bucket, "Key": job["results_prefix"] + name}, ExpiresIn=PRESIGN_SECONDS
            )
            for name in RESULT_FILES
            if name != "requests.jsonl" or job.get("dry_run")
        }
    return answer


def create_report_job(store: Any, invoke_async: Callable[[dict], None], request: dict[str, Any]) -> dict:
    job_id = new_job_id("rep")
    store.create(job_id, {"kind": "report", "request": request, "entry": "api"})
    invoke_async({**request, "job_id": job_id})
    return {"jobId": job_id, "state": "queued"}


def describe_report_job(store: Any, job_id: str) -> dict[str, Any]:
    job = store.get(job_id)
    if not job or job.get("kind") != "report":
        raise UnknownJob(job_id)
    progress = {
        k: int(job.get(k, 0))
        for k in (
            "meetings",
            "instances",
            "instances_written",
            "rows_written",
            "registrants_written",
            "skipped_done",
            "skipped_recent",
        )
    }
    return {
        "jobId": job_id,
        "state": job["state"],
        "request": job.get("request"),
        "progress": {**progress, "failed": int(job.get("failed_count", 0))},
        "refused": job.get("refused"),
        "stopped": job.get("stopped"),
        "resumeAfter": job.get("resume_after"),
        "results": job.get("results_prefix"),
        "timings": {k: job.get(k) for k in ("created_at", "started_at", "finished_at", "updated_at")},
    }
