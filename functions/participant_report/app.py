"""Participant and registrant reports to S3: on a schedule (EventBridge) or on request (direct invoke).

Thin: the event becomes a ``zoomops.zoom.reports.request.ReportRequest`` (the schedule: every configured
user's meetings of the last days; a direct invocation: ``{"meeting_ids": [...]}``,
``{"csv": "s3://bucket/key"}`` or ``{"users": [...], "from": "YYYY-MM-DD", "to": ...}``, each
with an optional ``"account"``), and ``zoomops.zoom.reports.run.ReportRun`` does the work through the
one Zoom client. A run near the time limit stops between instances and invokes this function
again with the meetings it still has to do; the manifest makes that continuation skip what
is done. A daily-limit 429 ends the run cleanly and the manifest remembers when to resume.
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
from zoomops.settings import ReportSettings

logger = Logger()
tracer = Tracer(patch_modules=("botocore", "requests"))  # AWS SDK and HTTP calls; nothing else to scan at cold start
metrics = Metrics()
# Fail fast: a missing or malformed variable stops the cold start with an error naming it.
settings = ReportSettings.from_env()
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
    invoker: Callable[[str, dict, bool], Any]  # continues a run near the time limit


def build(*, clock: Callable[[], float] = time.time, invoker=None, session=None) -> Runtime:
    """The container's runtime; tests inject ``clock`` and ``invoker``."""
    import boto3
    from aws_lambda_powertools.utilities.parameters import SecretsProvider

    from zoomops.aws import guard_sdk_logs
    from zoomops.aws.dynamo import DynamoManifest
    from zoomops.aws.functions import lambda_invoker
    from zoomops.aws.jobstore import JobStore
    from zoomops.aws.s3 import S3Sink
    from zoomops.aws.secrets import SecretTokenSource
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
        invoker=invoker or lambda_invoker(session.client("lambda")),
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


def _meeting_ids(rt: Runtime, request, client) -> list[str]:
    from zoomops.errors import Refused
    from zoomops.zoom.reports.request import meeting_ids_from_csv, meetings_of_users

    if request.meeting_ids:
        return request.meeting_ids
    if request.csv:
        if not request.csv.startswith("s3://") or "/" not in request.csv[5:]:
            raise Refused(f"csv must be an s3://bucket/key URL, got {request.csv!r}")
        bucket, key = request.csv[5:].split("/", 1)
        try:
            body = rt.s3.get_object(Bucket=bucket, Key=key)["Body"]
        except rt.s3.exceptions.NoSuchKey:
            raise Refused(f"csv: no object {request.csv}") from None
        except rt.s3.exceptions.ClientError as exc:
            raise Refused(f"csv: cannot read {request.csv} ({exc.response['Error'].get('Code')})") from None
        return meeting_ids_from_csv(body, key)
    return meetings_of_users(client, request.users, request.since, request.until)


def _plan(rt: Runtime, payload: dict, now: datetime):
    """(request, account, client, meeting ids) for the payload; raises ValueError naming what is wrong."""
    from zoomops.zoom.reports.request import ReportRequest

    default_users = [u.strip() for u in settings.users.split(",") if u.strip()] or None
    request = ReportRequest.from_payload(
        payload, lookback_days=settings.lookback_days, default_users=default_users, now=now
    )
    account = request.account or settings.accounts[0].name
    if account not in rt.clients:
        raise ValueError(f"unknown account {account!r}; configured: {', '.join(rt.clients)}")
    client = rt.clients[account]
    return request, account, client, _meeting_ids(rt, request, client)


def _continue(rt: Runtime, context: LambdaContext, summary, request, account: str, job_id: str | None) -> None:
    """Invoke this function again, asynchronously, to go on where this run stopped."""
    follow = {
        "meeting_ids": summary.remaining_meetings,
        "account": account,
        "continuation": f"{summary.run_id}-next",
        **({"job_id": job_id} if job_id else {}),
    }
    if request.since:  # the window this run worked in, whether asked for or the schedule's default
        follow["from"] = request.since.date().isoformat()
    if request.until:  # "to" is inclusive: the last day the window reaches into
        follow["to"] = (request.until - timedelta(microseconds=1)).date().isoformat()
    rt.invoker(context.invoked_function_arn, follow, False)


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict, context: LambdaContext) -> dict:
    from zoomops.errors import Refused, ZoomError, ZoomopsError

    rt = runtime.get()
    now = datetime.fromtimestamp(rt.clock(), UTC)
    payload = {} if event.get("source") == "aws.events" else dict(event)
    continuation = payload.pop("continuation", None)
    job_id = payload.pop("job_id", None)  # set when the API started this run
    jobs = rt.jobs if job_id else None
    try:
        return _report(rt, context, payload, continuation, job_id, now)
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


def _report(
    rt: Runtime, context: LambdaContext, payload: dict, continuation, job_id: str | None, now: datetime
) -> dict:
    from zoomops.zoom.reports.run import Options, ReportRun

    jobs = rt.jobs if job_id else None
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
    if summary.stopped == "time-limit":
        _continue(rt, context, summary, request, account, job_id)
    return _finished(summary, jobs, job_id)


def _finished(summary, jobs, job_id: str | None) -> dict:
    result = asdict(summary)
    if jobs and summary.stopped != "time-limit":
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
