"""S3 object created under incoming/, dryrun/, provision/ or provision-dryrun/ -> SQS (the intake queue) ->
this handler -> bulk disassociate here, or a state machine.

Thin: each SQS record carries an S3 event notification; every object in it is
processed once (Powertools Idempotency on DynamoDB keyed by bucket, key, eTag
version and sequencer) by ``zoomops.aws.s3job.process_object``. A small removal file runs here; a large one,
or a run about to hit the time limit (it stops between batches, every accepted batch checkpointed in the jobs
table), continues on the removal state machine, and a provisioning file starts the provisioning one: an
execution named by the job id, so a redelivery starts nothing twice. Nothing is ever put back on the queue.
Records that fail are reported back to SQS (partial batch response) and redelivered; after three receives
they go to the DLQ. A delivery of a file another invocation is processing right now is acknowledged: the
message that started that invocation owns the file, and SQS redelivers it should that invocation die.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote_plus

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from zoomops.runtime import PerContainer
from zoomops.settings import DisassociateSettings

logger = Logger()
tracer = Tracer(patch_modules=("botocore", "requests"))  # AWS SDK and HTTP calls; nothing else to scan at cold start
metrics = Metrics()
# Fail fast: a missing or malformed variable stops the cold start with an error naming it.
settings = DisassociateSettings.from_env()
processor = BatchProcessor(event_type=EventType.SQS)
MAX_TIME_MARGIN = 60.0  # seconds


@dataclass(frozen=True)
class Runtime:
    """What one container builds once: the idempotent job (behind Powertools Idempotency)."""

    config: Any  # Powertools IdempotencyConfig (the Lambda context is registered per invocation)
    process: Callable[..., dict]  # process_object behind Powertools Idempotency


def build(*, session=None, process_object: Callable[..., dict] | None = None) -> Runtime:
    """The container's runtime; tests and the local stack inject ``process_object``."""
    import boto3
    from aws_lambda_powertools.utilities.idempotency import (
        DynamoDBPersistenceLayer,
        IdempotencyConfig,
        idempotent_function,
    )
    from aws_lambda_powertools.utilities.parameters import SecretsProvider

    from zoomops.aws import guard_sdk_logs
    from zoomops.aws.jobstore import JobStore
    from zoomops.aws.s3 import ObjectRef
    from zoomops.aws.s3job import Deps
    from zoomops.aws.s3job import process_object as process_file
    from zoomops.aws.secrets import lti_credentials
    from zoomops.aws.workflows import starter

    guard_sdk_logs()
    session = session or boto3.session.Session()
    secrets = SecretsProvider(boto3_client=session.client("secretsmanager"))
    deps = Deps(
        s3=session.client("s3"),
        jobs=JobStore(settings.jobs_table, session.client("dynamodb")),
        credentials=lambda: lti_credentials(
            settings.lti_secret_id, settings.lti_base_url, max_age=settings.secret_max_age, provider=secrets
        ),
        sender=_senders(),
        batch_size=settings.batch_size,
        start=starter(
            session.client("stepfunctions"),
            {"disassociate": settings.removal_machine, "provision": settings.provision_machine},
        ),
        inline_max_bytes=settings.inline_max_bytes,
    )
    config = IdempotencyConfig(
        event_key_jmespath="[bucket, key, etag, version, sequencer]", expires_after_seconds=settings.idempotency_ttl
    )
    persistence = DynamoDBPersistenceLayer(
        table_name=settings.idempotency_table, boto3_client=session.client("dynamodb")
    )
    work = process_object or process_file

    @idempotent_function(data_keyword_argument="ref", persistence_store=persistence, config=config)
    def process(ref: dict, time_left, min_time_left: float) -> dict:
        return work(ObjectRef(**ref), deps, time_left=time_left, min_time_left=min_time_left)

    return Runtime(config, process)


def _senders() -> Callable:
    """One LTI client per credentials: a rotated secret gets a new client (and pool)."""
    from zoomops.lti.client import LtiClient

    clients: dict = {}

    def sender(creds):
        if clients.get("creds") != creds:
            if "client" in clients:
                clients["client"].close()
            clients.update(creds=creds, client=LtiClient(creds))
        return clients["client"]

    return sender


runtime = PerContainer(build)


def s3_objects(body: str) -> list[dict]:
    """The objects an S3 event notification names; the s3:TestEvent names none."""
    message = json.loads(body)
    objects = []
    for record in message.get("Records", []):
        if not record.get("eventName", "").startswith("ObjectCreated"):
            continue
        s3 = record["s3"]
        objects.append(
            {
                "bucket": s3["bucket"]["name"],
                "key": unquote_plus(s3["object"]["key"]),
                "etag": s3["object"].get("eTag", "").strip('"'),
                "version": s3["object"].get("versionId") or "",
                "sequencer": s3["object"].get("sequencer") or "",
            }
        )
    return objects


def record_handler(record: SQSRecord, context: LambdaContext) -> None:
    from aws_lambda_powertools.utilities.idempotency.exceptions import IdempotencyAlreadyInProgressError

    rt = runtime.get()
    rt.config.register_lambda_context(context)

    def time_left() -> float:
        return context.get_remaining_time_in_millis() / 1000

    # Stop between batches with this much time left: enough to hand the job to the removal state machine.
    margin = min(MAX_TIME_MARGIN, time_left() / 10)
    for ref in s3_objects(record.body):
        try:
            result = rt.process(ref=ref, time_left=time_left, min_time_left=margin)
        except IdempotencyAlreadyInProgressError:
            # Another invocation is running this file now: its own message owns the file (SQS redelivers that
            # one should the invocation die), so this duplicate is acknowledged, not failed or re-queued.
            logger.info("already in progress elsewhere: acknowledged", extra={"file": ref["key"]})
            continue
        if "execution_arn" in result:
            logger.info(
                "job runs on a state machine",
                extra={"job_id": result["job_id"], "file": ref["key"], "execution_arn": result["execution_arn"]},
            )
        elif "job_id" in result:
            counts = {k: result[k] for k in ("total_rows", "sent", "planned", "rejected", "duplicates", "failed")}
            logger.info(
                "disassociate job finished",
                extra={
                    "job_id": result["job_id"],
                    "state": result["state"],
                    "file": ref["key"],
                    "results": result["results"],
                    **counts,
                },
            )
            for name in ("sent", "rejected", "duplicates", "failed"):
                metrics.add_metric(name=f"Rows{name.capitalize()}", unit=MetricUnit.Count, value=result[name])
        else:
            logger.info("object skipped", extra={"file": ref["key"], "reason": result.get("skipped")})


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict, context: LambdaContext) -> dict:
    return process_partial_response(
        event=event,
        record_handler=lambda record: record_handler(record, context),
        processor=processor,
        context=context,
    )
