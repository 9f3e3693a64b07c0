"""Jobs as the API sees them, whatever their kind: ids, presigned links, the newest-first list. One record
per job in the jobs table, shared by every entry point (a CSV dropped in the bucket, the API, the console).
Each kind's own operations live with it: ``lti.jobs`` (removal), ``zoom.reports.jobs`` (reports)."""

from __future__ import annotations

import csv
import io
import uuid
from collections.abc import Callable
from typing import Any

from ..errors import Conflict, NotFound

PRESIGN_SECONDS = 900
KINDS = {"dis": "disassociate", "rep": "report", "pro": "provision"}
STATES = ("queued", "running", "succeeded", "partially_failed", "rejected", "failed")
# What a list shows of each kind's progress.
LIST_COUNTS = {
    "disassociate": ("total_rows", "sent", "planned", "rejected", "duplicates", "failed"),
    "report": ("meetings", "instances", "instances_written", "rows_written"),
    "provision": ("total_rows", "created", "updated", "unchanged", "rejected", "failed", "deferred", "planned"),
}


class UnknownJob(NotFound):
    def __init__(self, job_id: str):
        super().__init__(f"no job {job_id!r}")
        self.job_id = job_id


def new_job_id(kind: str) -> str:
    return f"{kind}-{uuid.uuid4().hex[:24]}"


def get_job(store: Any, job_id: str, kind: str) -> dict[str, Any]:
    job = store.get(job_id)
    if not job or job.get("kind") != kind:
        raise UnknownJob(job_id)
    return job


def upload_link(s3, bucket: str, key: str) -> dict[str, Any]:
    """Where a browser or script PUTs the CSV for a job (the job runs when the file lands)."""
    url = s3.generate_presigned_url(
        "put_object",
        Params={"Bucket": bucket, "Key": key, "ContentType": "text/csv"},
        ExpiresIn=PRESIGN_SECONDS,
        HttpMethod="PUT",
    )
    return {"url": url, "method": "PUT", "headers": {"Content-Type": "text/csv"}, "expiresIn": PRESIGN_SECONDS}


def download_link(s3, bucket: str, key: str) -> str:
    return s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": key}, ExpiresIn=PRESIGN_SECONDS)


def timings(job: dict[str, Any]) -> dict[str, Any]:
    return {k: job.get(k) for k in ("created_at", "started_at", "finished_at", "updated_at")}


def list_jobs(store: Any, *, kind: str | None, state: str | None, limit: int, after: str | None) -> dict[str, Any]:
    """Jobs newest first (of a kind, in a state), a page at a time."""
    found, following = store.list(kind=kind, state=state, limit=limit, after=after)
    return {"jobs": [_listed(job) for job in found], "next": following}


def _listed(job: dict[str, Any]) -> dict[str, Any]:
    kind = job.get("kind") or "unknown"
    return {
        "jobId": job["job_id"],
        "kind": kind,
        "state": job.get("state"),
        "file": job.get("file"),
        "dryRun": bool(job.get("dry_run")),
        "createdAt": job.get("created_at"),
        "finishedAt": job.get("finished_at"),
        "counts": {name: int(job.get(name, 0) or 0) for name in LIST_COUNTS.get(kind, ())},
    }


def workflow(job: dict[str, Any]) -> dict[str, Any]:
    """Where the job runs and which step it is in, as its record says (the steps record it themselves: one
    read answers it, and the api needs no Step Functions permission)."""
    return {"engine": job.get("engine"), "executionArn": job.get("execution_arn"), "step": job.get("step")}


def confirmable(job: dict[str, Any]) -> bool:
    """A finished dry run the API can run for real: one it started (a bucket drop's file is the bucket's)."""
    return bool(job.get("dry_run") and job.get("finished_at") and job.get("entry") == "api") and (
        job.get("state") not in ("rejected", "failed")
    )


def check_confirmable(job: dict[str, Any], drop_prefix: str) -> None:
    """Refuse (409), saying why and what to do instead, to confirm what cannot be."""
    job_id = job["job_id"]
    finished(job, "confirm it")
    if not job.get("dry_run"):
        raise Conflict(f"job {job_id} was not a dry run: there is nothing to confirm")
    if job.get("state") in ("rejected", "failed"):
        raise Conflict(f"job {job_id}'s file was refused: upload a corrected file instead")
    if job.get("entry") != "api":
        raise Conflict(
            f"job {job_id}'s file was dropped in the bucket, not uploaded through the API: drop it under "
            f"{drop_prefix} to run it for real"
        )


def finished(job: dict[str, Any], what: str) -> None:
    """Refuse (409) what needs a finished job's results before it has them."""
    if not job.get("finished_at") or not job.get("results_prefix"):
        raise Conflict(f"job {job['job_id']} has not finished: {what} once it has")


def result_rows(
    store: Any,
    s3,
    bucket: str,
    job_id: str,
    kind: str,
    *,
    status: str | None,
    limit: int,
    offset: int,
    shape: Callable[[dict[str, Any]], dict[str, Any]] = dict,
) -> dict[str, Any]:
    """A finished job's rows.csv as JSON, filtered by status and paged: what a preview shows (``shape``: the
    columns the API gives of a row)."""
    job = get_job(store, job_id, kind)
    finished(job, "its rows can be read")
    body = s3.get_object(Bucket=bucket, Key=job["results_prefix"] + "rows.csv")["Body"].read().decode("utf-8")
    rows = [r for r in csv.DictReader(io.StringIO(body)) if status in (None, r["status"])]
    page = [shape(dict(row, line=int(row["line"]))) for row in rows[offset : offset + limit]]
    return {"rows": page, "total": len(rows), "next": offset + limit if offset + limit < len(rows) else None}
