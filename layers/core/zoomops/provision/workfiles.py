"""The provisioning steps' work files under ``work/provision/<job id>/``: the input's header, each pass's
parts (``pass-N/part-NNNNN.jsonl``: line, raw cells, host) and their outcomes (``.out.jsonl``), and the pass's
``items.json`` the Map reads. Each pass keeps the header and the outcomes settled before it
(``settled.jsonl``), so the latest pass alone tells the whole job (the bucket expires work files after days,
while a job may wait for many daily resets). Read by key, never listed: the steps have no s3:ListBucket."""

from __future__ import annotations

import json
from typing import Any

from ..names import WORK_PREFIX

WORK = f"{WORK_PREFIX}provision/"
# A missing key, as S3 answers it (403 to a caller without s3:ListBucket).
MISSING = ("NoSuchKey", "NoSuchVersion", "AccessDenied", "403", "404")


def name(job: dict[str, Any]) -> str:
    return job["key"].rsplit("/", 1)[-1]


def pass_prefix(job: dict[str, Any], number: int) -> str:
    return f"{WORK}{job['job_id']}/pass-{number}/"


def source(s3, job: dict[str, Any]) -> dict[str, Any] | None:
    """The job's CSV (the version its event named), or None when it is gone (403 without s3:ListBucket)."""
    version = {"VersionId": job["version"]} if job.get("version") else {}
    try:
        return s3.get_object(Bucket=job["bucket"], Key=job["key"], **version)
    except s3.exceptions.ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in MISSING:
            return None
        raise


def put(s3, job: dict[str, Any], key: str, value: Any) -> None:
    s3.put_object(Bucket=job["bucket"], Key=key, Body=json.dumps(value).encode(), ContentType="application/json")


def put_lines(s3, job: dict[str, Any], key: str, values: list[dict[str, Any]], *, only_new: bool = False) -> bool:
    """Write a JSON-lines work file; ``only_new``: unless it exists (False: it did, and is kept)."""
    body = "\n".join(json.dumps(v) for v in values).encode()
    try:
        s3.put_object(Bucket=job["bucket"], Key=key, Body=body, **({"IfNoneMatch": "*"} if only_new else {}))
    except s3.exceptions.ClientError as exc:
        if only_new and exc.response.get("Error", {}).get("Code") in ("PreconditionFailed", "412"):
            return False
        raise
    return True


def header(s3, job: dict[str, Any], number: int) -> list[str]:
    """The input's header, as pass ``number`` keeps it."""
    key = f"{pass_prefix(job, number)}header.json"
    return json.loads(s3.get_object(Bucket=job["bucket"], Key=key)["Body"].read())


def settled(s3, job: dict[str, Any], number: int) -> dict[int, dict[str, Any]]:
    """The outcomes settled before pass ``number`` (rows it does not take again), by line."""
    return {o["line"]: o for o in read_lines(s3, job, f"{pass_prefix(job, number)}settled.jsonl") or []}


def outcomes(s3, job: dict[str, Any], number: int) -> dict[int, dict[str, Any]]:
    """Pass ``number``'s outcomes by line, part by part as the pass's items list them (no listing: the steps
    have no s3:ListBucket); a part whose worker never wrote them has none."""
    found: dict[int, dict[str, Any]] = {}
    prefix = pass_prefix(job, number)
    for item in json.loads(s3.get_object(Bucket=job["bucket"], Key=f"{prefix}items.json")["Body"].read()):
        found |= {o["line"]: o for o in read_lines(s3, job, f"{prefix}part-{item['part']:05d}.out.jsonl") or []}
    return found


def read_lines(s3, job: dict[str, Any], key: str) -> list[dict[str, Any]] | None:
    """A JSON-lines work file, or None when there is none (S3 answers a caller without s3:ListBucket 403 for a
    missing key: both mean not written)."""
    try:
        text = s3.get_object(Bucket=job["bucket"], Key=key)["Body"].read().decode()
    except s3.exceptions.ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in MISSING:
            return None
        raise
    return [json.loads(line) for line in text.splitlines() if line.strip()]
