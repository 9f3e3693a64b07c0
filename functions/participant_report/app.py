"""Participant and registrant reports to S3: on a schedule (EventBridge) or on request (direct invoke).

Thin: the event becomes a ``zoomops.reports.ReportRequest`` (the schedule: every configured
user's meetings of the last days; a direct invocation: ``{"meeting_ids": [...]}``,
``{"csv": "s3://bucket/key"}`` or ``{"users": [...], "from": "YYYY-MM-DD", "to": ...}``, each
with an optional ``"account"``), and ``zoomops.reports.ReportRun`` does the work through the
one Zoom client. A run near the time limit stops between instances and invokes this function
again with the meetings it still has to do; the manifest makes that continuation skip what
is done. A daily-limit 429 ends the run cleanly and the manifest remembers when to resume.
"""

from __future__ import annotations

import functools
import json
import time
from dataclasses import asdict
from datetime import datetime, timedelta, timezone

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from zoomops.settings import ReportSettings

logger = Logger()
tracer = Tracer(patch_modules=("botocore", "requests"))  # AWS SDK and HTTP calls; nothing else to scan at cold start
metrics = Metrics()
# Fail fast: a missing or malformed variable stops the cold start with an error naming it.
settings = ReportSettings.from_env()
clock = time.time  # tests freeze time by replacing this


@functools.cache
def runtime():
    """Settings, clients and per-account Zoom clients, built once per container on first use."""
    import boto3
    from aws_lambda_powertools.utilities.parameters import SecretsProvider

    from zoomops.aws import JobStore, guard_sdk_logs
    from zoomops.reports import DynamoManifest, Pseudonymiser, S3Sink
    from zoomops.zoom import BUSINESS_RATES, PRO_RATES, RateLimiter, SecretTokenSource, ZoomClient

    guard_sdk_logs()
    session = boto3.session.Session()
    secrets = SecretsProvider(boto3_client=session.client("secretsmanager"))
    rates = BUSINESS_RATES if settings.plan == "business" else PRO_RATES
    clients = {
        account.name: ZoomClient(SecretTokenSource(account.token_secret, secrets), limiter=RateLimiter(rates))
        for account in settings.accounts
    }
    pseudonymise = None
    if settings.pseudonym_secret_id:
        pseudonymise = Pseudonymiser(secrets.get(settings.pseudonym_secret_id, max_age=3600).encode())
    s3 = session.client("s3")
    return {
        "jobs": JobStore(settings.jobs_table, session.client("dynamodb")) if settings.jobs_table else None,
        "settings": settings, "clients": clients, "s3": s3, "lambda": session.client("lambda"),
        "sink": S3Sink(s3, settings.bucket, settings.prefix), "pseudonymise": pseudonymise,
        "manifest": lambda account: DynamoManifest(settings.manifest_table, session.client("dynamodb"), account),
    }


_PROGRESS = ("meetings", "instances", "instances_written", "rows_written", "registrants_written", "skipped_done",
             "skipped_recent")


def _job_progress(jobs, job_id):
    """Per-instance progress into the job record, at most every 2 seconds."""
    if not jobs:
        return None
    last = [0.0]

    def progress(summary) -> None:
        if time.monotonic() - last[0] >= 2.0:
            last[0] = time.monotonic()
            jobs.set(job_id, **{k: getattr(summary, k) for k in _PROGRESS})

    return progress


def continue_later(context: LambdaContext, payload: dict) -> None:
    """Invoke this function again, asynchronously, to go on where this run stopped."""
    runtime()["lambda"].invoke(FunctionName=context.invoked_function_arn, InvocationType="Event",
                               Payload=json.dumps(payload).encode())


def _meeting_ids(rt: dict, request, client) -> list[str]:
    from zoomops.reports import meeting_ids_from_csv, meetings_of_users

    if request.meeting_ids:
        return request.meeting_ids
    if request.csv:
        if not request.csv.startswith("s3://") or "/" not in request.csv[5:]:
            raise ValueError(f"csv must be an s3://bucket/key URL, got {request.csv!r}")
        bucket, key = request.csv[5:].split("/", 1)
        try:
            body = rt["s3"].get_object(Bucket=bucket, Key=key)["Body"]
        except rt["s3"].exceptions.NoSuchKey:
            raise ValueError(f"csv: no object {request.csv}") from None
        except rt["s3"].exceptions.ClientError as exc:
            raise ValueError(f"csv: cannot read {request.csv} ({exc.response['Error'].get('Code')})") from None
        return meeting_ids_from_csv(body, key)
    return meetings_of_users(client, request.users, request.since, request.until)


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict, context: LambdaContext) -> dict:
    from zoomops.reports import Options, ReportRequest, ReportRun

    rt = runtime()
    settings = rt["settings"]
    now = datetime.fromtimestamp(clock(), timezone.utc)
    payload = {} if event.get("source") == "aws.events" else dict(event)
    continuation = payload.pop("continuation", None)
    job_id = payload.pop("job_id", None)  # set when the API started this run
    jobs = rt["jobs"] if job_id else None
    default_users = [u.strip() for u in settings.users.split(",") if u.strip()] or None
    try:
        request = ReportRequest.from_payload(payload, lookback_days=settings.lookback_days,
                                             default_users=default_users, now=now)
        account = request.account or settings.accounts[0].name
        if account not in rt["clients"]:
            raise ValueError(f"unknown account {account!r}; configured: {', '.join(rt['clients'])}")
        client = rt["clients"][account]
        ids = _meeting_ids(rt, request, client)
    except ValueError as exc:
        logger.error("report request refused", extra={"reason": str(exc)})
        if jobs:
            jobs.set(job_id, state="rejected", refused=str(exc), finished_at=now.isoformat(timespec="seconds"))
        return {"refused": str(exc)}
    if jobs:
        jobs.set(job_id, state="running", started_at=now.isoformat(timespec="seconds"))
    run = ReportRun(
        client, rt["sink"], rt["manifest"](account),
        Options(since=request.since, until=request.until, workers=settings.workers, pseudonymise=rt["pseudonymise"]),
        clock=lambda: clock(), time_left=lambda: context.get_remaining_time_in_millis() / 1000,
        min_time_left=min(60.0, context.get_remaining_time_in_millis() / 10000),
        progress=_job_progress(jobs, job_id),
    )
    summary = run.run(ids, run_id=None if continuation is None else f"{continuation}")
    if summary.stopped == "time-limit":
        follow = {"meeting_ids": summary.remaining_meetings, "account": account,
                  "continuation": f"{summary.run_id}-next", **({"job_id": job_id} if job_id else {})}
        if request.since:  # the window this run worked in, whether asked for or the schedule's default
            follow["from"] = request.since.date().isoformat()
        if request.until:  # "to" is inclusive: the last day the window reaches into
            follow["to"] = (request.until - timedelta(microseconds=1)).date().isoformat()
        continue_later(context, follow)
    result = asdict(summary)
    if jobs and summary.stopped != "time-limit":
        state = "partially_failed" if summary.failed or summary.stopped else "succeeded"
        jobs.set(job_id, state=state, finished_at=summary.finished_at, stopped=summary.stopped,
                 resume_after=summary.resume_after, failed_count=len(summary.failed),
                 results_prefix=f"s3://{settings.bucket}/{settings.prefix}runs/{summary.run_id}/",
                 **{k: result[k] for k in _PROGRESS})
    logger.info("participant report run finished", extra={k: v for k, v in result.items() if k != "failed"})
    metrics.add_metric(name="ReportInstancesWritten", unit=MetricUnit.Count, value=summary.instances_written)
    metrics.add_metric(name="ReportInstancesFailed", unit=MetricUnit.Count, value=len(summary.failed))
    metrics.add_metric(name="ZoomThrottled", unit=MetricUnit.Count, value=summary.throttled)
    return result
