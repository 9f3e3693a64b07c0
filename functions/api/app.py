"""API Gateway (HTTP API) -> submit jobs, follow them, fetch results.

Machine callers use the IAM-authorised routes; the console uses the same routes under ``/console/api``, which
API Gateway authorises with the campus sign-in's JWT and this function restricts to the admin group. Thin:
Powertools' event handler routes and validates (``zoomops.api.routes`` and the models that also make the
OpenAPI description at /openapi.json); every error is RFC 9457 problem details (``zoomops.api.problems``);
nothing here ever returns a secret.
"""

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError
from aws_lambda_powertools.utilities.typing import LambdaContext

from zoomops.api import routes
from zoomops.api.problems import field_problems, precheck, problem
from zoomops.errors import ZoomopsError
from zoomops.names import CONSOLE_ADMIN_GROUP, CONSOLE_API_PREFIX
from zoomops.runtime import PerContainer
from zoomops.settings import ApiSettings

logger = Logger()
tracer = Tracer(patch_modules=("botocore",))  # AWS SDK calls: this function makes no other HTTP calls
metrics = Metrics()
# Fail fast: a missing or malformed variable stops the cold start with an error naming it.
settings = ApiSettings.from_env()
app = APIGatewayHttpResolver(enable_validation=True)
app.include_router(routes.router)


@dataclass(frozen=True)
class Runtime:
    jobs: Any  # zoomops.aws.jobstore.JobStore
    s3: Any  # presigning S3 client
    tokens: Any  # zoomops.zoom.tokens.TokenRefresher, reading only
    # (function or state machine ARN, payload, wait): the token function is invoked; a state machine (the
    # routes' ``settings.report_function``) gets an execution named by ``payload["job_id"]``, started once.
    invoker: Callable[[str, dict, bool], Any]
    # (job kind "report" | "provision", job id, execution input) -> execution ARN; idempotent by job id.
    start: Callable[[str, str, dict], str]


def build(*, invoker=None, start=None, session=None) -> Runtime:
    """The container's runtime; the local stack injects an in-process ``invoker`` (moto runs no function code)."""
    import boto3

    from zoomops.aws import guard_sdk_logs
    from zoomops.aws.functions import lambda_invoker, machine_invoker
    from zoomops.aws.jobstore import JobStore
    from zoomops.aws.s3 import presigning_s3
    from zoomops.aws.secrets import SecretsTokenStore
    from zoomops.aws.workflows import starter
    from zoomops.zoom.tokens import TokenRefresher

    guard_sdk_logs()
    session = session or boto3.session.Session()
    start = start or starter(session.client("stepfunctions"), settings.machines)
    return Runtime(
        jobs=JobStore(settings.jobs_table, session.client("dynamodb")),
        s3=presigning_s3(session),  # its presigned links must work on a new bucket in any region
        tokens=TokenRefresher(SecretsTokenStore(session.client("secretsmanager")), oauth=None),
        invoker=invoker or machine_invoker(lambda_invoker(session.client("lambda")), start, settings.machines),
        start=start,
    )


runtime = PerContainer(build)


@app.get("/openapi.json", include_in_schema=False)
def openapi():
    document = json.loads(app.get_openapi_json_schema(title="zoomops", version="0.1.0"))
    # Powertools documents its own 422 body; this API answers problem details (see the handlers below).
    for operation in (op for path in document["paths"].values() for op in path.values()):
        if "422" in operation.get("responses", {}):
            operation["responses"]["422"]["content"] = {
                "application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}
            }
    return Response(200, "application/json", json.dumps(document))


# -- errors: one shape, and every 4xx names what is wrong ----------------------------------------------
def _answer(built: dict) -> Response:
    return Response(built["statusCode"], built["headers"]["Content-Type"], built["body"], headers=built["headers"])


@app.exception_handler(RequestValidationError)
def invalid(error: RequestValidationError) -> Response:
    errors = field_problems(error.errors())
    text = "; ".join(f"{e['field']}: {e['problem']}" for e in errors)
    return _answer(problem(422, f"invalid request: {text}", errors=errors))


@app.exception_handler(ZoomopsError)
def refused(error: ZoomopsError) -> Response:
    return _answer(problem(error.http_status, str(error)))


@app.exception_handler(Exception)
def internal(error: Exception) -> Response:
    logger.exception("unexpected error")
    return _answer(problem(500, f"internal error ({type(error).__name__}); the request id is in the logs"))


@app.not_found
def not_found(_: Exception) -> Response:
    event = app.current_event
    return _answer(problem(404, f"no route {event.request_context.http.method} {event.path}"))


def _allowed(path: str) -> set[str]:
    """The methods routed for ``path`` (Powertools keeps its compiled routes on the resolver)."""
    routes = app._static_routes + app._dynamic_routes  # noqa: SLF001 - the resolver's own route table
    return {route.method for route in routes if route.rule.match(path)}


def _console(event: dict) -> dict | None:
    """A console route: the same route without the prefix, for a member of the admin group only (API Gateway's
    JWT authorizer has already checked the token); a refusal for anyone else."""
    path = event.get("rawPath") or ""
    if not path.startswith(CONSOLE_API_PREFIX + "/"):
        return None
    claims = ((event.get("requestContext") or {}).get("authorizer") or {}).get("jwt", {}).get("claims", {})
    groups = claims.get("cognito:groups") or []
    if isinstance(groups, str):  # API Gateway passes an array claim as "[a b]"
        groups = groups.strip("[]").replace(",", " ").split()
    if CONSOLE_ADMIN_GROUP not in groups:
        return problem(403, f"the console is for members of the {CONSOLE_ADMIN_GROUP} group")
    event["rawPath"] = path[len(CONSOLE_API_PREFIX) :]
    event["requestContext"]["http"]["path"] = event["rawPath"]
    return None


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict, context: LambdaContext) -> dict:
    refusal = _console(event) or precheck(event, _allowed)
    if refusal is not None:
        return refusal
    routes.use(runtime.get(), settings, event)
    return app.resolve(event, context)
