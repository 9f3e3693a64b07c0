"""The AWS side, and the only package that touches boto3: the jobs table (job records, checkpoints,
leases), S3 objects and sinks, Secrets Manager (credentials, tokens), manifests. Clients are passed in;
nothing here creates one at import time."""

from __future__ import annotations

import logging


def guard_sdk_logs() -> None:
    """botocore logs whole API responses at DEBUG, GetSecretValue's included: never below INFO."""
    for name in ("botocore", "boto3", "s3transfer"):
        logger = logging.getLogger(name)
        if logger.getEffectiveLevel() < logging.INFO or logger.level < logging.INFO:
            logger.setLevel(logging.INFO)
