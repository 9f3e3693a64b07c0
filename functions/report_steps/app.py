"""The report state machine's Lambda tasks (infra/statemachines/reports.asl.json).

Thin: the event's ``step`` picks one of ``zoomops.aws.reports``'s steps: ``plan`` (the request into round 0's
meetings), ``meeting`` (one meeting: a Distributed Map child), ``meeting_failed`` (a child's Catch), ``tally``
(what a daily limit left, and when to go on), ``finalize`` (the run files and the job's end), ``abandon``
(the execution's Catch) and ``ended`` (EventBridge: the execution ended outside its Catch). Each container's
Zoom rate limiter gets 1/``concurrency`` of the account's rates: the Map runs at most ``concurrency`` children
at once, so together they keep Zoom's per-second limits.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.utilities.typing import LambdaContext

from zoomops.runtime import PerContainer
from zoomops.settings import ReportStepsSettings

logger = Logger()
tracer = Tracer(patch_modules=("botocore", "requests"))  # AWS SDK and HTTP calls; nothing else to scan at cold start
metrics = Metrics()
# Fail fast: a missing or malformed variable stops the cold start with an error naming it.
settings = ReportStepsSettings.from_env()


@dataclass(frozen=True)
class Runtime:
    steps: Any  # zoomops.aws.reports.Steps


def build(*, clock: Callable[[], float] = time.time, session=None) -> Runtime:
    """The container's runtime; tests and the local stack inject ``clock`` (a fast clock)."""
    import boto3
    from aws_lambda_powertools.utilities.parameters import SecretsProvider

    from zoomops.aws import guard_sdk_logs
    from zoomops.aws.dynamo import DynamoManifest
    from zoomops.aws.jobstore import JobStore
    from zoomops.aws.reports import Steps
    from zoomops.aws.s3 import S3Sink
    from zoomops.aws.secrets import SecretTokenSource
    from zoomops.zoom.client import BUSINESS_RATES, PRO_RATES, RateLimiter, ZoomClient
    from zoomops.zoom.reports.pseudonymise import Pseudonymiser

    guard_sdk_logs()
    session = session or boto3.session.Session()
    secrets = SecretsProvider(boto3_client=session.client("secretsmanager"))
    account_rates = BUSINESS_RATES if settings.plan == "business" else PRO_RATES
    share = {category: rate / settings.concurrency for category, rate in account_rates.items()}
    tokens = {account.name: SecretTokenSource(account.token_secret, secrets) for account in settings.accounts}
    limiters = {name: RateLimiter(share) for name in tokens}  # one per account, shared by the container

    def client(account: str) -> ZoomClient:
        return ZoomClient(tokens[account], limiter=limiters[account], clock=clock)

    pseudonymise = None
    if settings.pseudonym_secret_id:
        pseudonymise = Pseudonymiser(secrets.get(settings.pseudonym_secret_id, max_age=3600).encode())
    s3, db = session.client("s3"), session.client("dynamodb")
    steps = Steps(
        s3=s3,
        jobs=JobStore(settings.jobs_table, db),
        db=db,
        bucket=settings.bucket,
        prefix=settings.prefix,
        accounts=list(tokens),
        client=client,
        tokens=tokens,
        manifest=lambda account: DynamoManifest(settings.manifest_table, db, account),
        sink=S3Sink(s3, settings.bucket, settings.prefix),
        pseudonymise=pseudonymise,
        workers=settings.workers,
        lookback_days=settings.lookback_days,
        default_users=[u.strip() for u in settings.users.split(",") if u.strip()] or None,
        clock=clock,
    )
    return Runtime(steps)


runtime = PerContainer(build)


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict, context: LambdaContext) -> dict:
    from zoomops.aws import reports
    from zoomops.aws.workflows import run_step

    steps = runtime.get().steps
    table = {
        "plan": reports.plan,
        "meeting": reports.meeting,
        "meeting_failed": reports.meeting_failed,
        "tally": reports.tally,
        "finalize": reports.finalize,
        "abandon": reports.abandon,
    }
    time_left = lambda: context.get_remaining_time_in_millis() / 1000  # noqa: E731
    answer = run_step(event, steps, steps.jobs, table, timed="meeting", time_left=time_left)
    step = event.get("step")
    if step in ("plan", "tally", "finalize", "abandon"):
        logger.info(f"report {step}", extra={k: answer.get(k) for k in ("job_id", "state", "left", "to_fetch")})
    return answer
