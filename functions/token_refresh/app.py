"""EventBridge schedule -> a fresh Zoom S2S OAuth token per account in Secrets Manager.

Thin: every configured account goes through ``zoomops.zoom.tokens.TokenRefresher``,
which refreshes only when the stored token has less than the margin left. The
remaining life of each account's token is a metric (the alarm watches it); a
refused credential is an error log naming the account and a metric, and the old
token stays in place. Nothing else in zoomops calls Zoom's OAuth endpoint.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from zoomops.runtime import PerContainer
from zoomops.settings import TokenRefreshSettings

logger = Logger()
tracer = Tracer(patch_modules=("botocore", "requests"))  # AWS SDK and HTTP calls; nothing else to scan at cold start
metrics = Metrics()
# Fail fast: a missing or malformed variable stops the cold start with an error naming it.
settings = TokenRefreshSettings.from_env()


@dataclass(frozen=True)
class Runtime:
    refresher: Any  # zoomops.zoom.tokens.TokenRefresher
    clock: Callable[[], float]


def build(*, clock: Callable[[], float] = time.time, session=None) -> Runtime:
    """The container's runtime; tests inject ``clock`` (the lease and the refresher share it)."""
    import boto3

    from zoomops.aws import guard_sdk_logs
    from zoomops.aws.dynamo import DynamoLease
    from zoomops.aws.secrets import SecretsTokenStore
    from zoomops.zoom.tokens import OAuthClient, TokenRefresher

    guard_sdk_logs()
    session = session or boto3.session.Session()
    refresher = TokenRefresher(
        SecretsTokenStore(session.client("secretsmanager")),
        OAuthClient(settings.oauth_url),
        margin=settings.margin,
        lease=DynamoLease(settings.jobs_table, session.client("dynamodb"), clock=clock),
        clock=clock,
    )
    return Runtime(refresher, clock)


runtime = PerContainer(build)


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict, context: LambdaContext) -> dict:
    rt = runtime.get()
    # The one field read from the EventBridge event: a plain dict, since importing Powertools' event data
    # classes (all of them come with the package) would add about 55 ms to every cold start.
    force = bool((event.get("detail") or {}).get("force"))  # {"detail": {"force": true}} in a manual invoke
    results, remaining = [], []
    for account in settings.accounts:
        result = rt.refresher.refresh(account, force=force)
        public = result.public(rt.clock())
        results.append(public)
        if result.action == "failed":
            metrics.add_metric(name="TokenRefreshFailures", unit=MetricUnit.Count, value=1)
            logger.error("token refresh failed", extra=public)
        else:
            logger.info("token checked", extra=public)
        remaining.append(max(0, public["expires_in_seconds"] or 0))
    # One figure for the alarm: the shortest remaining life across accounts (0 when one has no token);
    # each account's own figure is in its log line above.
    metrics.add_metric(name="MinTokenRemainingSeconds", unit=MetricUnit.Seconds, value=min(remaining))
    return {"accounts": results}
