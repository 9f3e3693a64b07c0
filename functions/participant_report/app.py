"""Participant and registrant reports to S3: on a schedule (EventBridge) or on request (direct invoke).

Thin: the event becomes a ``zoomops.zoom.reports.request.ReportRequest`` (the schedule: every configured
user's meetings of the last days; a direct invocation: ``{"meeting_ids": [...]}``,
``{"csv": "s3://bucket/key"}`` or ``{"users": [...], "from": "YYYY-MM-DD", "to": ...}``, each
with an optional ``"account"``), and ``zoomops.zoom.reports.run.ReportRun`` does the work through the
one Zoom client. A run that outgrows this invocation - near the time limit, or stopped by Zoom's
daily limit - hands the meetings it still has to do to the report state machine (an execution named
by the job id, so a retried invocation starts nothing twice), which waits for the daily reset if it
must and finishes them; the manifest makes it skip what is done. This function never invokes itself.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from zoomops.runtime import PerContainer
from zoomops.settings import ParticipantReportSettings

logger = Logger()
tracer = Tracer(patch_modules=("botocore", "requests"))  # AWS SDK and HTTP calls; nothing else to scan at cold start
metrics = Metrics()
# Fail fast: a missing or malformed variable stops the cold start with an error naming it.
settings = ParticipantReportSettings.from_env()
_OWN = ("continuation", "job_id")  # payload fields of the function, not of the report request
_PROGRESS = (
    "meetings",
    "instances",
    "instances_written",
    "rows_written",
    "registrants_written",
    "skipped_done",
    "skipped_recent",
)


@dataclass(frozen=True)
class Runtime:
    clients: dict  # account name -> zoomops.zoom.client.ZoomClient
    s3: Any
    sink: Any  # zoomops.aws.s3.S3Sink
    manifest: Callable[[str], Any]  # account name -> its DynamoManifest
    jobs: Any  # zoomops.aws.jobstore.JobStore, or None without a jobs table
    pseudonymise: Any
    clock: Callable[[], float]
    start: Callable[[str, str, dict], str]  # (job kind, job id, input) -> the report machine's execution ARN


def build(*, clock: Callable[[], float] = time.time, start=None, session=None) -> Runtime:
    """The container's runtime; tests inject ``clock`` and ``start``."""
    import boto3
    from aws_lambda_powertools.utilities.parameters import SecretsProvider

    from zoomops.aws import guard_sdk_logs
    from zoomops.aws.dynamo import DynamoManifest
    from zoomops.aws.jobstore import JobStore
    from zoomops.aws.s3 import S3Sink
    from zoomops.aws.secrets import SecretTokenSource
    from zoomops.aws.workflows import starter
    from zoomops.zoom.client import BUSINESS_RATES, PRO_RATES, RateLimiter, ZoomClient
    from zoomops.zoom.reports.pseudonymise import Pseudonymiser

    guard_sdk_logs()
    session = session or boto3.session.Session()
    secrets = SecretsProvider(boto3_client=session.client("secretsmanager"))
    rates = BUSINESS_RATES if settings.plan == "business" else PRO_RATES
    clients = {
        account.name: ZoomClient(SecretTokenSource(account.token_secret, secrets), limiter=RateLimiter(rates))
        for account in settings.accounts
    }
    pseudonymise = None
    if settings.pseudonym_secret_id:
        pseudonymise = Pseudonymiser(secrets.get(settings.pseudonym_secret_id, max_age=3600).encode())
    s3, ddb = session.client("s3"), session.client("dynamodb")
    return Runtime(
        clients=clients,
        s3=s3,
        sink=S3Sink(s3, settings.bucket, settings.prefix),
        manifest=lambda account: DynamoManifest(settings.manifest_table, ddb, account),
        jobs=JobStore(settings.jobs_table, ddb) if settings.jobs_table else None,
        pseudonymise=pseudonymise,
        clock=clock,
        start=start or starter(session.client("stepfunctions"), {"report": settings.report_machine}),
    )


runtime = PerContainer(build)


def _job_progress(jobs, job_id):
    """Per-instance progress into the job record, at most every 2 seconds."""
    if not jobs:
        return None
    from zoomops.jobs.progress import Every

    due = Every(2.0)

    def progress(summary) -> None:
        if due():
            jobs.set(job_id, **{k: getattr(summary, k) for k in _PROGRESS})

    return progress


def _plan(rt: Runtime, payload: dict, now: datetime):
    """(request, account, client, meeting ids) for the payload; raises ValueError naming what is wrong."""
    from zoomops.aws.reports import meeting_ids
    from zoomops.zoom.reports.request import ReportRequest

    default_users = [u.strip() for u in settings.users.split(",") if u.strip()] or None
    request = ReportRequest.from_payload(
        payload, lookback_days=settings.lookback_days, default_users=default_users, now=now
    )
    account = request.account or settings.accounts[0].name
    if account not in rt.clients:
        raise ValueError(f"unknown account {account!r}; configured: {', '.join(rt.clients)}")
    client = rt.clients[account]
    return request, account, client, meeting_ids(rt.s3, request, client)


def _hand_over(rt: Runtime, event: dict, summary, request, account: str, ids: list[str], job_id: str | None) -> str:
    """The report state machine takes over the meetings left (the same window), as a job of its own."""
    import hashlib

    job_id = job_id or "rep-" + hashlib.sha256(str(event.get("id") or summary.run_id).encode()).hexdigest()[:24]
    follow: dict[str, Any] = {"meeting_ids": summary.remaining_meetings or ids, "account": account}
    if request.since:  # the window this run worked in, whether asked for or the schedule's default
        follow["from"] = request.since.date().isoformat()
    if request.until:  # "to" is inclusive: the last day the window reaches into
        follow["to"] = (request.until - timedelta(microseconds=1)).date().isoformat()
    if rt.jobs:
        entry = "schedule" if event.get("source") == "aws.events" else "invoke"
        rt.jobs.start(job_id, {"kind": "report", "request": follow, "entry": entry, "continues": summary.run_id})
    try:
        arn = rt.start("report", job_id, {**follow, "job_id": job_id})
    except Exception as exc:  # the job it was to continue in ends saying why (never left running)
        if rt.jobs:
            reason = f"the report state machine could not be started: {type(exc).__name__}: {exc}"[:1000]
            from zoomops.clock import utc_now

            rt.jobs.set(job_id, state="failed", step="failed", refused=reason, finished_at=utc_now(rt.clock))
        raise
    if rt.jobs:
        rt.jobs.set(job_id, engine="stepfunctions", execution_arn=arn, step="queued", stopped=summary.stopped)
    logger.info("report continues on the state machine", extra={"job_id": job_id, "stopped": summary.stopped})
    return arn


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict, context: LambdaContext) -> dict:
    from zoomops.errors import Refused, ZoomError, ZoomopsError

    rt = runtime.get()
    now = datetime.fromtimestamp(rt.clock(), UTC)
    continuation = event.get("continuation")
    job_id = event.get("job_id")  # set when a job's record follows this run
    jobs = rt.jobs if job_id else None
    try:
        return _report(rt, context, event, continuation, job_id, now)
    except (Refused, ValueError) as exc:
        return _ended(jobs, job_id, now, "rejected", f"{exc}", "report request refused")
    except ZoomError as exc:  # no token, an unknown user, Zoom unreachable: the job ends, saying why
        state = "rejected" if exc.status in (400, 404) else "failed"
        return _ended(jobs, job_id, now, state, f"{exc}", "report run failed")
    except ZoomopsError as exc:
        return _ended(jobs, job_id, now, "failed", f"{exc}", "report run failed")
    except Exception as exc:  # a bug: the job still ends with its reason, and Lambda counts the error
        _ended(jobs, job_id, now, "failed", f"internal error: {type(exc).__name__}", "report run crashed")
        raise


def _ended(jobs, job_id: str | None, now: datetime, state: str, reason: str, log: str) -> dict:
    """A run that ended before producing a summary: the job record says how and why (never left queued)."""
    logger.error(log, extra={"reason": reason, "job_id": job_id})
    if jobs:
        jobs.set(job_id, state=state, refused=reason, finished_at=now.isoformat(timespec="seconds"))
    return {"refused" if state == "rejected" else "failed": reason}


def _report(rt: Runtime, context: LambdaContext, event: dict, continuation, job_id: str | None, now: datetime) -> dict:
    from zoomops.zoom.reports.run import Options, ReportRun

    jobs = rt.jobs if job_id else None
    payload = {} if event.get("source") == "aws.events" else {k: v for k, v in event.items() if k not in _OWN}
    request, account, client, ids = _plan(rt, payload, now)
    if jobs:
        jobs.set(job_id, state="running", started_at=now.isoformat(timespec="seconds"))
    options = Options(since=request.since, until=request.until, workers=settings.workers, pseudonymise=rt.pseudonymise)
    run = ReportRun(
        client,
        rt.sink,
        rt.manifest(account),
        options,
        clock=rt.clock,
        time_left=lambda: context.get_remaining_time_in_millis() / 1000,
        min_time_left=min(60.0, context.get_remaining_time_in_millis() / 10000),
        progress=_job_progress(jobs, job_id),
    )
    summary = run.run(ids, run_id=None if continuation is None else f"{continuation}")
    result = _finished(summary, None if summary.stopped else jobs, job_id)
    if summary.stopped:
        result["execution_arn"] = _hand_over(rt, event, summary, request, account, ids, job_id)
    return result


def _finished(summary, jobs, job_id: str | None) -> dict:
    result = asdict(summary)
    if jobs:
        state = "partially_failed" if summary.failed or summary.stopped else "succeeded"
        jobs.set(
            job_id,
            state=state,
            finished_at=summary.finished_at,
            stopped=summary.stopped,
            resume_after=summary.resume_after,
            failed_count=len(summary.failed),
            results_prefix=f"s3://{settings.bucket}/{settings.prefix}runs/{summary.run_id}/",
            **{k: result[k] for k in _PROGRESS},
        )
    logger.info("participant report run finished", extra={k: v for k, v in result.items() if k != "failed"})
    metrics.add_metric(name="ReportInstancesWritten", unit=MetricUnit.Count, value=summary.instances_written)
    metrics.add_metric(name="ReportInstancesFailed", unit=MetricUnit.Count, value=len(summary.failed))
    metrics.add_metric(name="ZoomThrottled", unit=MetricUnit.Count, value=summary.throttled)
    return result
