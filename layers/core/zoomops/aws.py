"""AWS adapters: the jobs table (job records and checkpoints), S3 objects, the LTI secret.

Clients are passed in; nothing here creates one at import time.
"""

from __future__ import annotations

import logging
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from .lti import LtiCredentials
from .results import Summary

_COUNTS = ("total_rows", "sent", "planned", "rejected", "duplicates", "failed", "batches")


def guard_sdk_logs() -> None:
    """botocore logs whole API responses at DEBUG, GetSecretValue's included: never below INFO."""
    for name in ("botocore", "boto3", "s3transfer"):
        logger = logging.getLogger(name)
        if logger.getEffectiveLevel() < logging.INFO or logger.level < logging.INFO:
            logger.setLevel(logging.INFO)


def utc_now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


@dataclass(frozen=True)
class ObjectRef:
    bucket: str
    key: str
    etag: str
    version: str = ""
    sequencer: str = ""

    @property
    def name(self) -> str:
        return self.key.rsplit("/", 1)[-1]


class JobStore:
    """One item per job in the jobs table; accepted batches kept as a number set."""

    def __init__(self, table: str, client):
        self.table = table
        self._db = client

    def start(self, job_id: str, attributes: dict[str, Any]) -> dict[str, Any]:
        """Create the job, or mark an existing one running again; returns the stored item."""
        names = {"#s": "state", "#a": "attempts", "#u": "updated_at", "#c": "created_at"}
        values: dict[str, Any] = {":running": {"S": "running"}, ":one": {"N": "1"}, ":now": {"S": utc_now()}}
        sets = ["#s = :running", "#u = :now", "#c = if_not_exists(#c, :now)"]
        for i, (name, value) in enumerate(sorted(attributes.items())):
            names[f"#k{i}"] = name
            values[f":v{i}"] = _attr(value)
            sets.append(f"#k{i} = if_not_exists(#k{i}, :v{i})")
        item = self._db.update_item(
            TableName=self.table,
            Key={"job_id": {"S": job_id}},
            UpdateExpression="SET " + ", ".join(sets) + " ADD #a :one",
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=values,
            ReturnValues="ALL_NEW",
        )["Attributes"]
        return {k: _plain(v) for k, v in item.items()}

    def create(self, job_id: str, attributes: dict[str, Any]) -> None:
        """A new job in state ``queued`` (fails if the id exists)."""
        now = utc_now()
        item = {"job_id": {"S": job_id}, "state": {"S": "queued"}, "created_at": {"S": now},
                "updated_at": {"S": now}, **{k: _attr(v) for k, v in attributes.items()}}
        self._db.put_item(TableName=self.table, Item=item, ConditionExpression="attribute_not_exists(job_id)")

    def set(self, job_id: str, **fields: Any) -> None:
        """Set some attributes of an existing job (progress, state, results)."""
        fields["updated_at"] = utc_now()
        self._db.update_item(
            TableName=self.table,
            Key={"job_id": {"S": job_id}},
            UpdateExpression="SET " + ", ".join(f"#f{i} = :f{i}" for i in range(len(fields))),
            ExpressionAttributeNames={f"#f{i}": name for i, name in enumerate(fields)},
            ExpressionAttributeValues={f":f{i}": _attr(value) for i, value in enumerate(fields.values())},
        )

    def get(self, job_id: str) -> dict[str, Any] | None:
        item = self._db.get_item(TableName=self.table, Key={"job_id": {"S": job_id}}, ConsistentRead=True)
        found = item.get("Item")
        return {k: _plain(v) for k, v in found.items()} if found else None

    def checkpoint(self, job_id: str) -> "JobCheckpoint":
        return JobCheckpoint(self, job_id)

    def update(self, job_id: str, summary: Summary, *, state: str | None = None, **extra: Any) -> None:
        fields: dict[str, Any] = {name: getattr(summary, name) for name in _COUNTS}
        if state:
            fields["state"] = state
        self.set(job_id, **fields, **extra)


class JobCheckpoint:
    def __init__(self, store: JobStore, job_id: str):
        self._store, self._job_id = store, job_id

    def accepted_batches(self) -> set[int]:
        item = self._store.get(self._job_id) or {}
        return set(item.get("accepted_batches", set()))

    def mark_accepted(self, batch: int) -> None:
        self._store._db.update_item(
            TableName=self._store.table,
            Key={"job_id": {"S": self._job_id}},
            UpdateExpression="ADD accepted_batches :b SET updated_at = :now",
            ExpressionAttributeValues={":b": {"NS": [str(batch)]}, ":now": {"S": utc_now()}},
        )


class ThrottledProgress:
    """Writes progress to the job record per batch, at most every ``interval`` seconds."""

    def __init__(self, store: JobStore, job_id: str, interval: float = 2.0, clock=time.monotonic):
        self._store, self._job_id, self._interval, self._clock = store, job_id, interval, clock
        self._last = float("-inf")

    def __call__(self, summary: Summary, batches_done: int) -> None:
        now = self._clock()
        if now - self._last >= self._interval:
            self._last = now
            self._store.update(self._job_id, summary)


def _attr(value: Any) -> dict[str, Any]:
    if isinstance(value, bool):
        return {"BOOL": value}
    if isinstance(value, (int, float)):
        return {"N": str(value)}
    if value is None:
        return {"NULL": True}
    if isinstance(value, (list, tuple)):
        return {"L": [_attr(v) for v in value]}
    if isinstance(value, dict):
        return {"M": {k: _attr(v) for k, v in value.items()}}
    return {"S": str(value)}


def _plain(attr: dict[str, Any]) -> Any:
    (kind, value), = attr.items()
    if kind == "N":
        return int(value) if value.lstrip("-").isdigit() else float(value)
    if kind == "NS":
        return {int(v) for v in value}
    if kind == "L":
        return [_plain(v) for v in value]
    if kind == "M":
        return {k: _plain(v) for k, v in value.items()}
    if kind == "NULL":
        return None
    return value


def upload_dir(s3, directory: Path, bucket: str, prefix: str) -> list[str]:
    keys = []
    for path in sorted(p for p in directory.iterdir() if p.is_file()):
        key = f"{prefix}{path.name}"
        content_type = "application/json" if path.suffix in (".json", ".jsonl") else "text/csv"
        s3.upload_file(str(path), bucket, key, ExtraArgs={"ContentType": content_type})
        keys.append(key)
    return keys


def move_object(s3, ref: ObjectRef, target_key: str) -> None:
    source: dict[str, str] = {"Bucket": ref.bucket, "Key": ref.key}
    if ref.version:
        source["VersionId"] = ref.version
    s3.copy_object(Bucket=ref.bucket, Key=target_key, CopySource=source, MetadataDirective="COPY")
    s3.delete_object(Bucket=ref.bucket, Key=ref.key)


def lti_credentials(secret_id: str, base_url: str, *, max_age: int, provider) -> tuple[LtiCredentials, str | None]:
    """LTI key/secret (and the deployment's default admin user id) from Secrets Manager.

    ``provider`` is a Powertools ``SecretsProvider``: values are cached for ``max_age``.
    """
    from .settings import ConfigError

    value = provider.get(secret_id, transform="json", max_age=max_age)
    if not isinstance(value, dict):
        raise ConfigError(f"secret {secret_id} must hold a JSON object with key and secret")
    missing = [name for name in ("key", "secret") if not str(value.get(name) or "").strip()]
    if missing:
        raise ConfigError(f"secret {secret_id} is missing {', '.join(missing)}")
    user_id = str(value.get("user_id") or "").strip() or None
    return LtiCredentials(key=value["key"], secret=value["secret"], base_url=base_url), user_id


def put_secret(client, secret_id: str, value: str, *, create_description: str | None = None) -> tuple[str, str, bool]:
    """A new version of the secret (created first if missing and ``create_description`` is given):
    ``(arn, version id, created)``."""
    token = str(uuid.uuid4())
    try:
        answer = client.put_secret_value(SecretId=secret_id, SecretString=value, ClientRequestToken=token)
        return answer["ARN"], answer["VersionId"], False
    except client.exceptions.ResourceNotFoundException:
        if create_description is None:
            raise
    answer = client.create_secret(Name=secret_id, SecretString=value, Description=create_description,
                                  ClientRequestToken=token)
    return answer["ARN"], answer["VersionId"], True


def presigning_s3(session):
    """An S3 client whose presigned links work on a bucket made minutes ago: SigV4 (buckets made since
    2020 refuse SigV2) and the regional virtual-hosted name (the global name answers a new bucket outside
    us-east-1 with a redirect, whose host no longer matches the signature). Against a local endpoint
    (AWS_ENDPOINT_URL, moto), path style: virtual hosts need DNS for the bucket name."""
    import os

    from botocore.config import Config

    local = os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
    style = "path" if local else "virtual"
    return session.client("s3", config=Config(signature_version="s3v4", s3={"addressing_style": style}))
