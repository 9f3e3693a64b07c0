"""Report jobs as the API and the console see them: create (meeting IDs, users and dates, or an uploaded LTI
import CSV) and describe, with links to the run's files. Every report job the API creates runs on the report
state machine: ``invoke_async`` starts its execution, named by the job id (started once however often asked)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ...errors import Conflict
from ...jobs.records import download_link, get_job, new_job_id, timings, upload_link, workflow
from ...names import REPORT_UPLOADS

PROGRESS = (
    "meetings",
    "instances",
    "instances_written",
    "rows_written",
    "registrants_written",
    "skipped_done",
    "skipped_recent",
)
RUN_FILES = ("attendance.csv", "instances.csv", "summary.json")


def create_report_job(
    store: Any, invoke_async: Callable[[dict], None], request: dict[str, Any], *, s3=None, bucket: str = ""
) -> dict:
    """A queued report job, started now; with ``csv_upload`` it waits for its CSV: upload it to the link
    answered, then start it (:func:`start_report_job`)."""
    job_id = new_job_id("rep")
    answer: dict[str, Any] = {"jobId": job_id, "state": "queued"}
    if request.pop("csv_upload", False):
        key = f"{REPORT_UPLOADS}{job_id}/import.csv"
        store.create(job_id, {"kind": "report", "request": {**request, "csv": f"s3://{bucket}/{key}"}, "entry": "api"})
        answer["upload"] = upload_link(s3, bucket, key)
        return answer
    store.create(job_id, {"kind": "report", "request": request, "entry": "api"})
    invoke_async({**request, "job_id": job_id})
    return answer


def start_report_job(store: Any, invoke_async: Callable[[dict], None], job_id: str) -> dict:
    """Start a report job that waited for its uploaded CSV (the run refuses a CSV that never arrived)."""
    job = get_job(store, job_id, "report")
    request = job.get("request") or {}
    if job.get("state") != "queued" or "csv" not in request:
        raise Conflict(f"job {job_id} is not waiting for a CSV (it is {job.get('state')})")
    invoke_async({**request, "job_id": job_id})
    return {"jobId": job_id, "state": "queued"}


def describe_report_job(
    store: Any, job_id: str, *, s3=None, bucket: str = "", workflow_fields: bool = False
) -> dict[str, Any]:
    """The job as the API shows it; ``workflow_fields``: with ``engine``, ``executionArn`` and ``step``
    (``waiting`` while a daily limit holds it, until ``resumeAfter``)."""

    job = get_job(store, job_id, "report")
    progress = {k: int(job.get(k, 0)) for k in PROGRESS}
    prefix = job.get("results_prefix")
    files = None
    if prefix and s3 is not None and job.get("finished_at"):
        key_prefix = prefix.split("/", 3)[3] if prefix.startswith("s3://") else prefix
        files = {name: download_link(s3, bucket, key_prefix + name) for name in RUN_FILES}
    return {
        "jobId": job_id,
        "state": job["state"],
        "request": job.get("request"),
        "progress": {**progress, "failed": int(job.get("failed_count", 0))},
        "refused": job.get("refused"),
        "stopped": job.get("stopped"),
        "resumeAfter": job.get("resume_after"),
        "results": prefix,
        "files": files,
        "timings": timings(job),
        **(workflow(job) if workflow_fields else {}),
    }
