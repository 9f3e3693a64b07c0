"""API Gateway (HTTP API, IAM-authorised) -> submit jobs, follow them, fetch results.

Thin: Powertools' event handler routes and validates (the pydantic models of zoomops.api.models, which also
make the OpenAPI description served at /openapi.json); ``zoomops.jobs.records`` does the work on the
jobs table and the bucket. Every 4xx says what is wrong; nothing here ever returns a secret.
"""

import base64
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any, Union

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError
from aws_lambda_powertools.event_handler.openapi.params import Path
from aws_lambda_powertools.utilities.typing import LambdaContext

from zoomops.api.models import (
    DisassociateJob,
    DisassociateJobRequest,
    JobCreated,
    Problem,
    ReportForMeetings,
    ReportForUsers,
    ReportJob,
    TokenState,
)
from zoomops.errors import NotFound
from zoomops.runtime import PerContainer
from zoomops.settings import ApiSettings

logger = Logger()
tracer = Tracer(patch_modules=("botocore",))  # AWS SDK calls: this function makes no other HTTP calls
metrics = Metrics()
# Fail fast: a missing or malformed variable stops the cold start with an error naming it.
settings = ApiSettings.from_env()
app = APIGatewayHttpResolver(enable_validation=True)
MAX_BODY_BYTES = 512 * 1024
JOB_ID = r"^(dis|rep)-[0-9a-f]{24}$"


@dataclass(frozen=True)
class Runtime:
    jobs: Any  # zoomops.aws.jobstore.JobStore
    s3: Any  # presigning S3 client
    tokens: Any  # zoomops.zoom.tokens.TokenRefresher, reading only
    invoker: Callable[[str, dict, bool], Any]  # the report and token functions


def build(*, invoker=None, session=None) -> Runtime:
    """The container's runtime; the local stack injects an in-process ``invoker`` (moto runs no function code)."""
    import boto3

    from zoomops.aws import guard_sdk_logs
    from zoomops.aws.functions import lambda_invoker
    from zoomops.aws.jobstore import JobStore
    from zoomops.aws.s3 import presigning_s3
    from zoomops.aws.secrets import SecretsTokenStore
    from zoomops.zoom.tokens import TokenRefresher

    guard_sdk_logs()
    session = session or boto3.session.Session()
    return Runtime(
        jobs=JobStore(settings.jobs_table, session.client("dynamodb")),
        s3=presigning_s3(session),  # its presigned links must work on a new bucket in any region
        tokens=TokenRefresher(SecretsTokenStore(session.client("secretsmanager")), oauth=None),
        invoker=invoker or lambda_invoker(session.client("lambda")),
    )


runtime = PerContainer(build)


# -- routes -----------------------------------------------------------------------------------
def _problems(*codes: int) -> dict:
    meaning = {
        400: "body is not JSON or not UTF-8",
        404: "no such job",
        413: "body too large",
        422: "a field is missing, unknown or out of its limits",
    }
    return {code: {"description": meaning[code], "content": {"application/json": {"model": Problem}}} for code in codes}


CREATED = {201: {"description": "created", "content": {"application/json": {"model": JobCreated}}}}


@app.post("/disassociate-jobs", responses={**CREATED, **_problems(400, 413, 422)})
def post_disassociate_job(job: DisassociateJobRequest) -> Response[JobCreated]:
    from zoomops.jobs.records import create_disassociate_job

    rt = runtime.get()
    created = create_disassociate_job(
        rt.jobs,
        rt.s3,
        settings.bucket,
        rows=None if job.rows is None else [r.model_dump() for r in job.rows],
        file_name=job.fileName,
        dry_run=job.dryRun,
        user_id=job.userId,
        batch_size=job.batchSize,
    )
    return Response(201, "application/json", JobCreated(**created))


@app.get("/disassociate-jobs/<job_id>", responses=_problems(404, 422))
def get_disassociate_job(job_id: Annotated[str, Path(pattern=JOB_ID)]) -> DisassociateJob:
    from zoomops.jobs.records import describe_disassociate_job

    rt = runtime.get()
    return DisassociateJob(**describe_disassociate_job(rt.jobs, rt.s3, settings.bucket, job_id))


@app.post("/report-jobs", responses={**CREATED, **_problems(400, 413, 422)})
def post_report_job(job: Union[ReportForMeetings, ReportForUsers]) -> Response[JobCreated]:
    from zoomops.jobs.records import create_report_job

    rt = runtime.get()
    request = {"meeting_ids": job.meetingIds} if isinstance(job, ReportForMeetings) else {"users": job.users}
    request.update(
        {
            k: v
            for k, v in (
                ("from", job.from_ and job.from_.isoformat()),
                ("to", job.to and job.to.isoformat()),
                ("account", job.account),
            )
            if v
        }
    )
    created = create_report_job(rt.jobs, lambda p: rt.invoker(settings.report_function, p, False), request)
    return Response(201, "application/json", JobCreated(**created))


@app.get("/report-jobs/<job_id>", responses=_problems(404, 422))
def get_report_job(job_id: Annotated[str, Path(pattern=JOB_ID)]) -> ReportJob:
    from zoomops.jobs.records import describe_report_job

    return ReportJob(**describe_report_job(runtime.get().jobs, job_id))


@app.get("/tokens")
def get_tokens() -> list[TokenState]:
    import time

    rt = runtime.get()
    now = time.time()
    return [TokenState(**rt.tokens.status(account).public(now)) for account in settings.accounts]


@app.post("/tokens/refresh")
def refresh_tokens() -> list[TokenState]:
    answer = (
        runtime.get().invoker(
            settings.token_function,
            {"source": "zoomops.api", "detail-type": "Refresh", "detail": {"force": False}},
            True,
        )
        or {}
    )
    return [TokenState(**entry) for entry in answer.get("accounts", [])]


@app.get("/openapi.json", include_in_schema=False)
def openapi():
    document = json.loads(app.get_openapi_json_schema(title="zoomops", version="0.1.0"))
    # Powertools documents its own 422 body; this API answers Problem (see the exception handler).
    for operation in (op for path in document["paths"].values() for op in path.values()):
        if "422" in operation.get("responses", {}):
            operation["responses"]["422"]["content"] = {
                "application/json": {"schema": {"$ref": "#/components/schemas/Problem"}}
            }
    return Response(200, "application/json", json.dumps(document))


# -- errors: every 4xx names what is wrong ---------------------------------------------------------
@app.exception_handler(RequestValidationError)
def invalid(error: RequestValidationError) -> Response:
    def union_branch(part) -> bool:  # pydantic names the alternative a union error came from
        return "ReportFor" in str(part)

    errors = [
        {
            "field": ".".join(str(part) for part in e.get("loc", ()) if part != "body" and not union_branch(part))
            or "body",
            "problem": e.get("msg") or e.get("type"),
        }
        for e in error.errors()
    ]
    if any(union_branch(part) for e in error.errors() for part in e.get("loc", ())):
        errors.insert(0, {"field": "meetingIds|users", "problem": "give exactly one of meetingIds or users"})
    text = "; ".join(f"{e['field']}: {e['problem']}" for e in errors)
    return Response(
        422, "application/json", Problem(message=f"invalid request: {text}", errors=errors).model_dump_json()
    )


@app.exception_handler(NotFound)
def unknown_job(error: NotFound) -> Response:
    return Response(404, "application/json", Problem(message=str(error)).model_dump_json())


@app.not_found
def not_found(_: Exception) -> Response:
    return Response(
        404,
        "application/json",
        Problem(
            message=f"no route {app.current_event.request_context.http.method} {app.current_event.path}"
        ).model_dump_json(),
    )


def _body_problem(event: dict) -> tuple[int, str] | None:
    """Too large, not UTF-8 or not JSON: answered here, before routing, as a clean 4xx."""
    body = event.get("body") or ""
    data = body.encode() if not event.get("isBase64Encoded") else base64.b64decode(body)
    if len(data) > MAX_BODY_BYTES:
        return 413, f"request body over {MAX_BODY_BYTES} bytes"
    if not data:
        return None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        return 400, f"body is not UTF-8 text (byte {exc.start})"
    if event.get("isBase64Encoded"):
        event["body"], event["isBase64Encoded"] = text, False  # what the routes expect
    if (event.get("headers") or {}).get("content-type", "application/json").startswith("application/json"):
        try:
            json.loads(text)
        except ValueError as exc:
            return 400, f"body is not valid JSON: {exc}"
    return None


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict, context: LambdaContext) -> dict:
    problem = _body_problem(event)
    if problem is not None:
        status, message = problem
        return {
            "statusCode": status,
            "headers": {"Content-Type": "application/json"},
            "body": json.dumps({"message": message}),
        }
    return app.resolve(event, context)
