"""The removal state machine's Lambda tasks (infra/statemachines/removal.asl.json).

Thin: the event's ``step`` picks one of ``zoomops.aws.removal``'s steps: ``plan`` (the CSV into work items),
``send`` (one batch: a Distributed Map child), ``batch_failed`` (a child's Catch), ``finalize`` (the result
files and the job's end), ``abandon`` (the execution's Catch) and ``ended`` (EventBridge: the execution ended
FAILED, TIMED_OUT or ABORTED; the job ends failed unless it already ended). An error a step raises is the state
machine's to retry or catch: ``LtiThrottled`` and ``LtiUnavailable`` by name, with backoff.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.utilities.typing import LambdaContext

from zoomops.runtime import PerContainer
from zoomops.settings import RemovalStepsSettings

logger = Logger()
tracer = Tracer(patch_modules=("botocore", "requests"))  # AWS SDK and HTTP calls; nothing else to scan at cold start
metrics = Metrics()
# Fail fast: a missing or malformed variable stops the cold start with an error naming it.
settings = RemovalStepsSettings.from_env()


@dataclass(frozen=True)
class Runtime:
    steps: Any  # zoomops.aws.removal.Steps


def build(
    *, session=None, clock: Callable[[], float] = time.time, sleep: Callable[[float], None] = time.sleep
) -> Runtime:
    """The container's runtime; tests and the local stack inject ``clock`` and ``sleep`` (a fast clock)."""
    import boto3
    from aws_lambda_powertools.utilities.parameters import SecretsProvider

    from zoomops.aws import guard_sdk_logs
    from zoomops.aws.jobstore import JobStore
    from zoomops.aws.removal import Steps
    from zoomops.aws.secrets import lti_credentials

    guard_sdk_logs()
    session = session or boto3.session.Session()
    secrets = SecretsProvider(boto3_client=session.client("secretsmanager"))
    db = session.client("dynamodb")
    steps = Steps(
        s3=session.client("s3"),
        jobs=JobStore(settings.jobs_table, db),
        db=db,
        bucket=settings.bucket,
        credentials=lambda: lti_credentials(
            settings.lti_secret_id, settings.lti_base_url, max_age=settings.secret_max_age, provider=secrets
        ),
        sender=_senders(clock, sleep),
        seconds_per_request=settings.seconds_per_request,
        clock=clock,
        sleep=sleep,
    )
    return Runtime(steps)


def _senders(clock: Callable[[], float], sleep: Callable[[float], None]) -> Callable:
    """One LTI client per credentials, shared by the container's invocations. Two attempts each: the state
    machine retries a 429 or 5xx later, with backoff, instead of a child waiting in Lambda time."""
    from zoomops.lti.client import LtiClient

    clients: dict = {}
    lock = threading.Lock()

    def sender(creds):
        with lock:
            if clients.get("creds") != creds:
                if "client" in clients:
                    clients["client"].close()
                clients.update(creds=creds, client=LtiClient(creds, attempts=2, max_wait=10, clock=clock, sleep=sleep))
            return clients["client"]

    return sender


runtime = PerContainer(build)


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict, context: LambdaContext) -> dict:
    from zoomops.aws import removal
    from zoomops.aws.workflows import run_step

    steps = runtime.get().steps
    table = {
        "plan": removal.plan,
        "send": removal.send,
        "batch_failed": removal.batch_failed,
        "finalize": removal.finalize,
        "abandon": removal.abandon,
    }
    time_left = lambda: context.get_remaining_time_in_millis() / 1000  # noqa: E731
    answer = run_step(event, steps, steps.jobs, table, timed="send", time_left=time_left)
    step = event.get("step")
    if step in ("plan", "finalize", "abandon"):
        logger.info(f"removal {step}", extra={k: v for k, v in answer.items() if k in ("job_id", "to_send", "state")})
    return answer
