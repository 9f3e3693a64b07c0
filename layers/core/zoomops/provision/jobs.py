"""Provisioning jobs as the API, the console and the bucket see them: a bucket drop's options (its prefix and
object metadata), a job the API creates (a presigned upload under ``provision/api/<job id>/``), and a job's
description with its progress, the step it is in, and links to its files.

Every provisioning job runs through the bucket: the file lands under ``provision/`` (``provision-dryrun/`` to
plan only), the intake queue's function starts the provisioning state machine named by the job id, and the
steps keep the same job record up to date.
"""

from __future__ import annotations

from typing import Any

from ..errors import Refused
from ..jobs.records import (
    check_confirmable,
    confirmable,
    download_link,
    get_job,
    new_job_id,
    result_rows,
    timings,
    upload_link,
    workflow,
)
from ..names import PROVISION_DRYRUN_PREFIX, PROVISION_PREFIX
from .run import ASSOCIATE, Options, default_association

PROVIDERS = ("zoom", "webmeeting", "luminus")
API_UPLOADS = "api/"
PROGRESS = ("total_rows", "created", "updated", "unchanged", "rejected", "failed", "deferred", "planned")


def job_options(key: str, metadata: dict[str, str]) -> dict[str, Any] | str:
    """A bucket drop's options: ``provision-dryrun/`` plans only; ``provision/<platform>/...`` (or the object
    metadata ``provider``) names the platform (default zoom); metadata ``associate``, ``user-id``, ``account``,
    ``retry-lost`` (true: create again where a lost create cannot be looked for, after the admin checked).
    A string: why the metadata cannot be used."""
    parts = key.split("/")
    options: dict[str, Any] = {"provider": "zoom", "user_id": "", "account": ""}
    options["dry_run"] = parts[0] == PROVISION_DRYRUN_PREFIX.rstrip("/")
    if len(parts) > 2 and parts[1] in PROVIDERS:
        options["provider"] = parts[1]
    for name, allowed in (("provider", PROVIDERS), ("associate", ASSOCIATE)):
        value = metadata.get(name, "").strip().lower()
        if value and value not in allowed:
            return f"object metadata {name} must be one of {', '.join(allowed)}, got {value!r}"
        options[name] = value or options.get(name) or default_association(options["provider"])
    options["user_id"] = metadata.get("user-id", "").strip()
    options["account"] = metadata.get("account", "").strip()
    retry_lost = metadata.get("retry-lost", "").strip().lower()
    if retry_lost not in ("", "true", "false"):
        return f"object metadata retry-lost must be true or false, got {retry_lost!r}"
    options["retry_lost"] = retry_lost == "true"
    try:
        as_options(options)
    except Refused as exc:
        return f"object metadata: {exc}"
    return options


def as_options(options: dict[str, Any]) -> Options:
    return Options(
        provider=options["provider"],
        associate=options["associate"],
        dry_run=bool(options["dry_run"]),
        user_id=options.get("user_id") or None,
        retry_lost=bool(options.get("retry_lost")),
    )


def create_provision_job(
    store: Any,
    s3,
    bucket: str,
    *,
    file_name: str | None,
    dry_run: bool,
    provider: str,
    associate: str | None,
    user_id: str | None,
    account: str | None,
    retry_lost: bool = False,
    body: bytes | None = None,
    origin: str | None = None,
) -> dict[str, Any]:
    """A queued job, its options kept on its record, and where to PUT the CSV (the job runs when it lands);
    with ``body`` (a confirmed dry run's file) the API puts the file there itself."""
    options = {
        "provider": provider,
        "associate": associate or default_association(provider),
        "user_id": user_id or "",
        "account": account or "",
        "dry_run": dry_run,
        "retry_lost": retry_lost,
    }
    as_options(options)  # a refused combination is refused now, not after the upload
    job_id = new_job_id("pro")
    name = file_name or "upload.csv"
    key = f"{PROVISION_DRYRUN_PREFIX if dry_run else PROVISION_PREFIX}{API_UPLOADS}{job_id}/{name}"
    record = {
        "kind": "provision",
        "source": f"s3://{bucket}/{key}",
        "file": name,
        "dry_run": dry_run,
        "options": options,
        "entry": "api",
        **({"origin": origin} if origin else {}),
    }
    store.create(job_id, record)
    if body is not None:
        s3.put_object(Bucket=bucket, Key=key, Body=body, ContentType="text/csv")
        return {"jobId": job_id, "state": "queued"}
    return {"jobId": job_id, "state": "queued", "upload": upload_link(s3, bucket, key)}


def confirm_provision_job(store: Any, s3, bucket: str, job_id: str) -> dict[str, Any]:
    """Run for real the file a finished dry run planned, with the dry run's options."""
    job = get_job(store, job_id, "provision")
    check_confirmable(job, PROVISION_PREFIX)
    options = job.get("options") or {}
    return create_provision_job(
        store,
        s3,
        bucket,
        file_name=job.get("file"),
        dry_run=False,
        provider=options.get("provider", "zoom"),
        associate=options.get("associate"),
        user_id=options.get("user_id") or None,
        account=options.get("account") or None,
        retry_lost=bool(options.get("retry_lost")),
        body=s3.get_object(Bucket=bucket, Key=job["moved_to"])["Body"].read(),
        origin=f"confirms {job_id}",
    )


def describe_provision_job(store: Any, s3, bucket: str, job_id: str) -> dict[str, Any]:
    job = get_job(store, job_id, "provision")
    options = job.get("options") or {}
    answer: dict[str, Any] = {
        "jobId": job_id,
        "state": job["state"],
        "file": job.get("file"),
        "dryRun": bool(job.get("dry_run")),
        "provider": options.get("provider"),
        "associate": options.get("associate"),
        "progress": {name: int(job.get(name, 0) or 0) for name in PROGRESS},
        "association": {k: int(v) for k, v in (job.get("association") or {}).items()},
        "resumeAfter": job.get("resume_after") or None,
        **workflow(job),
        "timings": timings(job),
        "refused": job.get("refused") or None,
        "origin": job.get("origin"),
        "confirmable": confirmable(job),
        "results": None,
    }
    prefix = job.get("results_prefix")
    if prefix:  # the files the run wrote, as its record lists them (no listing: the api has no s3:ListBucket)
        answer["results"] = {name: download_link(s3, bucket, prefix + name) for name in job.get("files") or []}
    return answer


def provision_rows(store: Any, s3, bucket: str, job_id: str, *, status: str | None, limit: int, offset: int) -> dict:
    """A finished provisioning job's rows.csv as JSON (a dry run's preview): line, key, status, meeting id,
    association and reason; not the join URL (it may carry the meeting's passcode: it stays in the file)."""
    return result_rows(store, s3, bucket, job_id, "provision", status=status, limit=limit, offset=offset, shape=_row)


def _row(row: dict[str, Any]) -> dict[str, Any]:
    return {name: row[name] for name in ("line", "key", "status", "meeting_id", "association", "reason")}
