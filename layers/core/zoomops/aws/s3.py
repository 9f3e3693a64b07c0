"""S3: object references from events, result uploads, moving sources, report sinks, presigned links."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


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


class S3Sink:
    """Report files under a prefix of a bucket."""

    def __init__(self, s3, bucket: str, prefix: str):
        self._s3, self.bucket, self.prefix = s3, bucket, prefix

    def put(self, key: str, data: bytes, content_type: str) -> None:
        self._s3.put_object(Bucket=self.bucket, Key=f"{self.prefix}{key}", Body=data, ContentType=content_type)


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
