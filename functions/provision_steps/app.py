"""The provisioning state machine's Lambda tasks (infra/statemachines/provisioning.asl.json).

Thin: the event's ``step`` picks one of ``zoomops.provision.steps``: ``plan`` (the file read and split into
parts; with ``pass``, the outcomes of that pass gathered into the next one and the time to wait for hosts'
allowances), ``part`` (one part's rows through the ledger and the platform: a Distributed Map child, whose
Zoom rate limiter gets 1/MaxConcurrency of the account's rates), ``part_failed`` (a child's Catch: its rows
failed with the error), ``finalize`` (the files users know and the job's end), ``abandon`` (the
execution's Catch: the job ends failed, saying why) and ``ended`` (EventBridge: the execution ended outside
its Catch). A step that raises is the state machine's to retry or
catch; a part that never finishes leaves its rows "not done" in the results, never lost.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.utilities.typing import LambdaContext

from zoomops.runtime import PerContainer
from zoomops.settings import ProvisionStepsSettings

logger = Logger()
tracer = Tracer(patch_modules=("botocore", "requests"))  # AWS SDK and HTTP calls; nothing else to scan at cold start
metrics = Metrics()
# Fail fast: a missing or malformed variable stops the cold start with an error naming it.
settings = ProvisionStepsSettings.from_env()


@dataclass(frozen=True)
class Runtime:
    deps: Any  # zoomops.provision.steps.Deps


def build(*, session=None, clock: Callable[[], float] = time.time) -> Runtime:
    """The container's runtime; tests and the local stack inject ``clock`` (a fast clock)."""
    import boto3

    from zoomops.aws import guard_sdk_logs
    from zoomops.aws.jobstore import JobStore
    from zoomops.provision.stack import contexts
    from zoomops.provision.steps import Deps

    guard_sdk_logs()
    session = session or boto3.session.Session()
    jobs = JobStore(settings.jobs_table, session.client("dynamodb"))
    return Runtime(Deps(session.client("s3"), jobs, contexts(settings, session, clock=clock), clock))


runtime = PerContainer(build)


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict, context: LambdaContext) -> dict:
    from zoomops.aws.workflows import run_step
    from zoomops.provision import steps

    deps = runtime.get().deps
    table = {
        "plan": steps.plan,
        "part": steps.part,
        "part_failed": steps.part_failed,
        "finalize": steps.finalize,
        "abandon": steps.abandon,
    }
    time_left = lambda: context.get_remaining_time_in_millis() / 1000  # noqa: E731
    answer = run_step(event, deps, deps.jobs, table, timed="part", time_left=time_left)
    step = event.get("step")
    if step in ("plan", "part_failed", "finalize", "abandon"):
        logger.info(f"provisioning {step}", extra={k: answer.get(k) for k in ("pass", "parts", "done", "wait_until")})
    return answer
