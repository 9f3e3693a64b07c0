"""The jobs API's routes (a Powertools router the api function includes). Each route validates its input
through the models, calls one operation of a job kind, and shapes the answer. The function hands each request's
runtime, settings and event over with :func:`use` (a context variable: several copies of the function may
share this module in one process, as the local stack and the tests load them)."""

import time
from contextvars import ContextVar
from typing import Annotated, Any, Optional

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Path, Query
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter

from ..errors import Refused
from .models import (
    DisassociateJob,
    DisassociateJobRequest,
    JobCreated,
    JobList,
    Kind,
    Problem,
    ProvisionJob,
    ProvisionJobRequest,
    ProvisionRows,
    ReportJob,
    ReportJobRequest,
    ResultRows,
    State,
    TokenRefreshRequest,
    TokenState,
)

router = APIGatewayHttpRouter()
JOB_ID = r"^(dis|rep|pro)-[0-9a-f]{24}$"  # a job of another kind is a 404, not a malformed id
Limit = Annotated[int, Query(ge=1, le=200, description="jobs a page holds")]
Next = Annotated[Optional[str], Query(max_length=512, description="the next token of the previous page")]


def _problems(*codes: int) -> dict[int, Any]:
    meaning = {
        400: "body is not JSON or not UTF-8",
        404: "no such job",
        405: "method not allowed",
        409: "the job is not in a state that allows this",
        413: "body too large",
        415: "body is not application/json",
        422: "a field is missing, unknown or out of its limits",
    }
    return {
        code: {"description": meaning[code], "content": {"application/problem+json": {"model": Problem}}}
        for code in codes
    }


CREATED: dict[int, Any] = {201: {"description": "created", "content": {"application/json": {"model": JobCreated}}}}


def ok(model: Any) -> dict[int, Any]:
    return {200: {"description": "ok", "content": {"application/json": {"model": model}}}}


WRITES = _problems(400, 405, 413, 415, 422)
READS = _problems(404, 405, 422)


_current: ContextVar[tuple[Any, Any, dict]] = ContextVar("zoomops_api_request")


def use(runtime: Any, settings: Any, event: dict) -> None:
    """What the routes of this request work with: the function's runtime and settings, and its event."""
    _current.set((runtime, settings, event))


def _ctx() -> tuple[Any, Any]:
    runtime, settings, _ = _current.get()
    return runtime, settings


def only_query(*names: str) -> None:
    """Unknown query parameters are refused, as unknown body fields are."""
    _, _, event = _current.get()
    unknown = sorted(set(event.get("queryStringParameters") or {}) - set(names))
    if unknown:
        raise Refused(f"unknown query parameter(s) {', '.join(unknown)}; this route takes {', '.join(names) or 'none'}")


def _listing(kind: Optional[str], state: Optional[str], limit: int, next_: Optional[str]) -> JobList:
    from ..jobs.records import list_jobs

    rt, _ = _ctx()
    return JobList(**list_jobs(rt.jobs, kind=kind, state=state, limit=limit, after=next_))


# -- every job -----------------------------------------------------------------------------------
@router.get("/jobs", responses={**ok(JobList), **READS})
def get_jobs(
    kind: Annotated[Optional[Kind], Query()] = None,
    state: Annotated[Optional[State], Query()] = None,
    limit: Limit = 50,
    next: Next = None,
) -> JobList:  # noqa: A002 - the query parameter's name
    only_query("kind", "state", "limit", "next")
    return _listing(kind, state, limit, next)


# -- removal -------------------------------------------------------------------------------------
@router.post("/disassociate-jobs", responses={**CREATED, **WRITES})
def post_disassociate_job(job: DisassociateJobRequest) -> Response[JobCreated]:
    from ..lti.jobs import create_disassociate_job

    only_query()
    rt, settings = _ctx()
    rows = None if job.rows is None else [r.model_dump() for r in job.rows]
    created = create_disassociate_job(
        rt.jobs,
        rt.s3,
        settings.bucket,
        rows=rows,
        file_name=job.fileName,
        dry_run=job.dryRun,
        user_id=job.userId,
        batch_size=job.batchSize,
    )
    return Response(201, "application/json", JobCreated(**created))


@router.get("/disassociate-jobs", responses={**ok(JobList), **READS})
def get_disassociate_jobs(
    state: Annotated[Optional[State], Query()] = None, limit: Limit = 50, next: Next = None
) -> JobList:  # noqa: A002
    only_query("state", "limit", "next")
    return _listing("disassociate", state, limit, next)


@router.get("/disassociate-jobs/<job_id>", responses={**ok(DisassociateJob), **READS})
def get_disassociate_job(job_id: Annotated[str, Path(pattern=JOB_ID)]) -> DisassociateJob:
    from ..lti.jobs import describe_disassociate_job

    only_query()
    rt, settings = _ctx()
    return DisassociateJob(**describe_disassociate_job(rt.jobs, rt.s3, settings.bucket, job_id, workflow_fields=True))


@router.get("/disassociate-jobs/<job_id>/rows", responses={**ok(ResultRows), **READS, **_problems(409)})
def get_disassociate_rows(
    job_id: Annotated[str, Path(pattern=JOB_ID)],
    status: Annotated[Optional[str], Query(pattern="^(sent|planned|rejected|duplicate|failed)$")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> ResultRows:
    from ..lti.jobs import result_rows

    only_query("status", "limit", "offset")
    rt, settings = _ctx()
    return ResultRows(**result_rows(rt.jobs, rt.s3, settings.bucket, job_id, status=status, limit=limit, offset=offset))


@router.post("/disassociate-jobs/<job_id>/confirm", responses={**CREATED, **READS, **_problems(409)})
def confirm_disassociate_job(job_id: Annotated[str, Path(pattern=JOB_ID)]) -> Response[JobCreated]:
    from ..lti.jobs import confirm

    only_query()
    rt, settings = _ctx()
    return Response(201, "application/json", JobCreated(**confirm(rt.jobs, rt.s3, settings.bucket, job_id)))


@router.post("/disassociate-jobs/<job_id>/redrive", responses={**CREATED, **READS, **_problems(409)})
def redrive_disassociate_job(job_id: Annotated[str, Path(pattern=JOB_ID)]) -> Response[JobCreated]:
    from ..lti.jobs import redrive

    only_query()
    rt, settings = _ctx()
    return Response(201, "application/json", JobCreated(**redrive(rt.jobs, rt.s3, settings.bucket, job_id)))


# -- reports -------------------------------------------------------------------------------------
@router.post("/report-jobs", responses={**CREATED, **WRITES})
def post_report_job(job: ReportJobRequest) -> Response[JobCreated]:
    from ..zoom.reports.jobs import create_report_job

    only_query()
    rt, settings = _ctx()
    request: dict[str, Any] = {"meeting_ids": job.meetingIds} if job.meetingIds else {}
    if job.users:
        request["users"] = job.users
    if job.csvUpload:
        request["csv_upload"] = True
    dates = (
        ("from", job.from_ and job.from_.isoformat()),
        ("to", job.to and job.to.isoformat()),
        ("account", job.account),
    )
    request.update({k: v for k, v in dates if v})
    created = create_report_job(
        rt.jobs, lambda p: rt.invoker(settings.report_function, p, False), request, s3=rt.s3, bucket=settings.bucket
    )
    return Response(201, "application/json", JobCreated(**created))


@router.get("/report-jobs", responses={**ok(JobList), **READS})
def get_report_jobs(state: Annotated[Optional[State], Query()] = None, limit: Limit = 50, next: Next = None) -> JobList:  # noqa: A002
    only_query("state", "limit", "next")
    return _listing("report", state, limit, next)


@router.get("/report-jobs/<job_id>", responses={**ok(ReportJob), **READS})
def get_report_job(job_id: Annotated[str, Path(pattern=JOB_ID)]) -> ReportJob:
    from ..zoom.reports.jobs import describe_report_job

    only_query()
    rt, settings = _ctx()
    job = describe_report_job(rt.jobs, job_id, s3=rt.s3, bucket=settings.bucket, workflow_fields=True)
    return ReportJob(**job)


@router.post("/report-jobs/<job_id>/start", responses={**CREATED, **READS, **_problems(409)})
def start_report(job_id: Annotated[str, Path(pattern=JOB_ID)]) -> Response[JobCreated]:
    from ..zoom.reports.jobs import start_report_job

    only_query()
    rt, settings = _ctx()
    started = start_report_job(rt.jobs, lambda p: rt.invoker(settings.report_function, p, False), job_id)
    return Response(201, "application/json", JobCreated(**started))


# -- tokens --------------------------------------------------------------------------------------
@router.get("/tokens", responses={**ok(list[TokenState]), **_problems(405, 422)})
def get_tokens() -> list[TokenState]:
    only_query()
    rt, settings = _ctx()
    now = time.time()
    return [TokenState(**rt.tokens.status(account).public(now)) for account in settings.accounts]


@router.post("/tokens/refresh", responses={**ok(list[TokenState]), **WRITES})
def refresh_tokens() -> list[TokenState]:
    """The body is optional (``{"force": true}``); an empty one is no request at all, not a bad one."""
    only_query()
    rt, settings = _ctx()
    _, _, event = _current.get()
    request = _optional_body(TokenRefreshRequest, event.get("body"))
    detail = {"force": bool(request and request.force)}
    answer = (
        rt.invoker(settings.token_function, {"source": "zoomops.api", "detail-type": "Refresh", "detail": detail}, True)
        or {}
    )
    return [TokenState(**entry) for entry in answer.get("accounts", [])]


def _optional_body(model: Any, body: str | None) -> Any:
    """``model`` from a body that may be absent; its errors answered like every other validation error."""
    from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError
    from pydantic import ValidationError

    if not body:
        return None
    try:
        return model.model_validate_json(body)
    except ValidationError as exc:
        raise RequestValidationError([{**e, "loc": ("body", *e.get("loc", ()))} for e in exc.errors()]) from None


# -- provisioning --------------------------------------------------------------------------------
@router.post("/provision-jobs", responses={**CREATED, **WRITES})
def post_provision_job(job: ProvisionJobRequest) -> Response[JobCreated]:
    from ..provision.jobs import create_provision_job

    only_query()
    rt, settings = _ctx()
    created = create_provision_job(
        rt.jobs,
        rt.s3,
        settings.bucket,
        file_name=job.fileName,
        dry_run=job.dryRun,
        provider=job.provider,
        associate=job.associate,
        user_id=getattr(job, "userId", None),
        account=getattr(job, "account", None),
        retry_lost=getattr(job, "retryLost", False),
    )
    return Response(201, "application/json", JobCreated(**created))


@router.get("/provision-jobs", responses={**ok(JobList), **READS})
def get_provision_jobs(
    state: Annotated[Optional[State], Query()] = None, limit: Limit = 50, next: Next = None
) -> JobList:  # noqa: A002
    only_query("state", "limit", "next")
    return _listing("provision", state, limit, next)


@router.get("/provision-jobs/<job_id>", responses={**ok(ProvisionJob), **READS})
def get_provision_job(job_id: Annotated[str, Path(pattern=JOB_ID)]) -> ProvisionJob:
    from ..provision.jobs import describe_provision_job

    only_query()
    rt, settings = _ctx()
    return ProvisionJob(**describe_provision_job(rt.jobs, rt.s3, settings.bucket, job_id))


@router.get("/provision-jobs/<job_id>/rows", responses={**ok(ProvisionRows), **READS, **_problems(409)})
def get_provision_rows(
    job_id: Annotated[str, Path(pattern=JOB_ID)],
    status: Annotated[
        Optional[str], Query(pattern="^(created|updated|unchanged|rejected|failed|deferred|planned)$")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> ProvisionRows:
    from ..provision.jobs import provision_rows

    only_query("status", "limit", "offset")
    rt, settings = _ctx()
    rows = provision_rows(rt.jobs, rt.s3, settings.bucket, job_id, status=status, limit=limit, offset=offset)
    return ProvisionRows(**rows)


@router.post("/provision-jobs/<job_id>/confirm", responses={**CREATED, **READS, **_problems(409)})
def confirm_provision_job(job_id: Annotated[str, Path(pattern=JOB_ID)]) -> Response[JobCreated]:
    from ..provision.jobs import confirm_provision_job as confirm

    only_query()
    rt, settings = _ctx()
    return Response(201, "application/json", JobCreated(**confirm(rt.jobs, rt.s3, settings.bucket, job_id)))
