"""A property-based fuzz of the API from its own OpenAPI description (schemathesis 4), in process.

The description is loaded from the api function itself (``GET /openapi.json`` through the local API Gateway
adapter, a WSGI app); schemathesis then generates requests for every operation, valid ones (positive) and
invalid ones (negative), sends them through the same adapter and checks the answers:

* never a 5xx; no secret of the stack in any response; every 4xx RFC 9457 problem details (a JSON object with
  a ``detail``); invalid requests are refused with a 4xx;
* every response conforms to the description: status code documented, content type, body schema;
* requests the description calls valid are accepted.

The function runs as Lambda would run it: an exception becomes the 500 API Gateway answers with. Report runs
the api starts asynchronously are recorded, not run (they are not the API's contract; see test_api_handler.py).

Bounded: 25 examples per operation and mode, no shrinking, no example database, derandomised (so the known
failures below fail every run). ``schemathesis.pytest.from_fixture`` is not used: with pytest 9 its subtest
runner fails (``'Function' object has no attribute '_nodeid'``), so each operation is a pytest case of its own
driving ``APIOperation.as_strategy`` with Hypothesis.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

import pytest
import schemathesis
import schemathesis.checks
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis import GenerationMode

from infra.local.api_adapter import ApiGatewayAdapter
from infra.local.stack import LTI_SECRET, ZOOM_ACCOUNTS, ZOOM_SECRET_PREFIX, LocalStack

FUZZ = settings(
    max_examples=25,
    deadline=None,
    derandomize=True,
    database=None,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=list(HealthCheck),
)
POSITIVE, NEGATIVE = GenerationMode.POSITIVE, GenerationMode.NEGATIVE

# Every operation the description should list, and whether it takes input a negative case can break.
OPERATIONS = {
    ("GET", "/jobs"): True,
    ("POST", "/disassociate-jobs"): True,
    ("GET", "/disassociate-jobs"): True,
    ("GET", "/disassociate-jobs/{job_id}"): True,
    ("GET", "/disassociate-jobs/{job_id}/rows"): True,
    ("POST", "/disassociate-jobs/{job_id}/confirm"): True,
    ("POST", "/disassociate-jobs/{job_id}/redrive"): True,
    ("POST", "/report-jobs"): True,
    ("GET", "/report-jobs"): True,
    ("GET", "/report-jobs/{job_id}"): True,
    ("POST", "/report-jobs/{job_id}/start"): True,
    ("POST", "/provision-jobs"): True,
    ("GET", "/provision-jobs"): True,
    ("GET", "/provision-jobs/{job_id}"): True,
    ("GET", "/provision-jobs/{job_id}/rows"): True,
    ("POST", "/provision-jobs/{job_id}/confirm"): True,
    ("GET", "/tokens"): False,
    ("POST", "/tokens/refresh"): False,  # its optional body is read by the route, not described
}


def case_id(method: str, path: str, mode: GenerationMode | None = None) -> str:
    return f"{method} {path}" + (f" {mode.value}" if mode else "")


def cases(
    expected_failures: dict[tuple[str, str, GenerationMode], pytest.MarkDecorator],
    modes: tuple[GenerationMode, ...] = (POSITIVE, NEGATIVE),
) -> list:
    """(method, path, mode) for every operation and mode that applies, with the known failures marked."""
    params = []
    for (method, path), has_input in OPERATIONS.items():
        for mode in modes:
            if mode is NEGATIVE and not has_input:
                continue  # nothing to make invalid
            marks = expected_failures.get((method, path, mode), ())
            params.append(pytest.param(method, path, mode, marks=marks, id=case_id(method, path, mode)))
    return params


@dataclass
class Fuzz:
    schema: schemathesis.BaseSchema
    secrets: list[str]
    crashes: list[str] = field(default_factory=list)
    started: list[dict] = field(default_factory=list)

    def run(self, method: str, path: str, mode: GenerationMode, checks: list) -> None:
        operation = self.schema[path][method]

        @given(case=operation.as_strategy(generation_mode=mode))
        @FUZZ
        def fuzz(case: schemathesis.Case) -> None:
            response = case.call()
            case.validate_response(response, checks=checks)

        fuzz()

    # -- custom checks --------------------------------------------------------------------------------
    def no_server_error(self, ctx, response, case) -> None:
        assert response.status_code < 500, (
            f"{case.method} {case.formatted_path} -> {response.status_code}: {self.crashes[-1:] or response.text}"
        )

    def no_secret(self, ctx, response, case) -> None:
        text = response.text + json.dumps(dict(response.headers))
        leaked = [secret[:6] + "..." for secret in self.secrets if secret in text]
        assert not leaked, f"secrets in the response to {case.method} {case.formatted_path}: {leaked}"
        # A token or credentials document, as JSON keys (the bare words may be a file name the fuzz chose).
        assert not re.search(r'"(access_token|client_secret)"\s*:', text), text[:300]

    def clean_error(self, ctx, response, case) -> None:
        if 400 <= response.status_code < 500:
            body = json.loads(response.text)
            assert isinstance(body, dict) and body.get("detail") and body.get("status") == response.status_code
            content_type = (response.headers.get("content-type") or [""])[0]
            assert content_type.startswith("application/problem+json"), response.headers
            assert "Traceback" not in response.text


@pytest.fixture(scope="module")
def fuzz(_local_stack: LocalStack) -> Fuzz:
    stack = _local_stack
    stack.reset()
    api = stack.load_api()
    real_invoke = stack.invoker()
    found = Fuzz(schema=None, secrets=[])  # type: ignore[arg-type]

    def invoke(function: str, payload: dict, wait: bool):
        if wait:
            return real_invoke(function, payload, True)
        found.started.append(payload)
        return None

    def as_lambda(event: dict, context) -> dict:
        """The function as Lambda runs it behind API Gateway: an exception is a bare 500."""
        try:
            return api.handler(event, context)
        except Exception as exc:  # noqa: BLE001 - this is what the fuzz is looking for
            found.crashes.append(f"{type(exc).__name__}: {exc}")
            return {
                "statusCode": 500,
                "headers": {"Content-Type": "application/json"},
                "body": json.dumps({"message": "Internal Server Error"}),
            }

    api.runtime.use(invoker=invoke)
    app = ApiGatewayAdapter(as_lambda)
    found.schema = schemathesis.openapi.from_wsgi("/openapi.json", app)
    # Tokens exist from here on, so a response that gave one away would be caught.
    client = found.schema["/tokens/refresh"]["POST"].Case()
    assert client.call().status_code == 200
    sm = stack.client("secretsmanager")
    found.secrets = [json.loads(sm.get_secret_value(SecretId=LTI_SECRET)["SecretString"])["secret"]]
    for name in ZOOM_ACCOUNTS:
        creds = sm.get_secret_value(SecretId=f"{ZOOM_SECRET_PREFIX}{name}/credentials")["SecretString"]
        found.secrets += [json.loads(creds)["client_secret"], stack.zoom_token(name)["access_token"]]
    return found


def test_the_description_lists_every_route_and_loads_cleanly(fuzz):
    operations = [result.ok() for result in fuzz.schema.get_all_operations()]  # .ok() raises on a broken one
    assert {(op.method.upper(), op.path) for op in operations} == set(OPERATIONS)


def test_the_description_is_a_valid_openapi_document(fuzz):
    from openapi_spec_validator import validate  # locked in constraints.txt (moto[server] needs it)

    validate(fuzz.schema.raw_schema)


def _resolved(document: dict, schema: dict) -> dict:
    while "$ref" in schema:
        node = document
        for part in schema["$ref"].removeprefix("#/").split("/"):
            node = node[part]
        schema = node
    return schema


def test_the_documented_error_body_is_the_one_the_api_returns(fuzz):
    document = fuzz.schema.raw_schema
    for method, path in OPERATIONS:
        responses = document["paths"][path][method.lower()]["responses"]
        for status, response in responses.items():
            if status.startswith("4"):
                schema = _resolved(document, response["content"]["application/problem+json"]["schema"])
                assert {"title", "status", "detail"} <= set(schema.get("properties", {})), (method, path, status)


# -- never a 5xx, no secret, clean 4xx; invalid input refused -----------------------------------------------------
@pytest.mark.parametrize("method,path,mode", cases({}))
def test_fuzz_never_a_server_error_nor_a_secret(fuzz, method, path, mode):
    fuzz.run(
        method,
        path,
        mode,
        [
            fuzz.no_server_error,
            schemathesis.checks.not_a_server_error,
            fuzz.no_secret,
            fuzz.clean_error,
            schemathesis.checks.negative_data_rejection,
        ],
    )


# -- every response as the description says -----------------------------------------------------------------------
@pytest.mark.parametrize("method,path,mode", cases({}))
def test_fuzz_responses_conform_to_the_description(fuzz, method, path, mode):
    checks = schemathesis.checks
    fuzz.run(
        method,
        path,
        mode,
        [
            checks.status_code_conformance,
            checks.content_type_conformance,
            checks.response_schema_conformance,
            checks.response_headers_conformance,
        ],
    )


# -- what the description calls valid is accepted ------------------------------------------------------------------
@pytest.mark.parametrize("method,path,mode", cases({}, modes=(POSITIVE,)))
def test_fuzz_valid_requests_are_accepted(fuzz, method, path, mode):
    fuzz.run(method, path, mode, [schemathesis.checks.positive_data_acceptance, fuzz.no_server_error])


def test_fuzz_created_jobs_can_be_followed(fuzz):
    """Every job the fuzz created is there to GET (the report runs were recorded, not run)."""
    client = fuzz.schema["/report-jobs"]["POST"]
    created = client.Case(body={"meetingIds": ["81234567890"]}).call()
    assert created.status_code == 201
    job_id = created.json()["jobId"]
    assert fuzz.started[-1]["job_id"] == job_id
    answer = fuzz.schema["/report-jobs/{job_id}"]["GET"].Case(path_parameters={"job_id": job_id}).call()
    assert answer.status_code == 200 and answer.json()["state"] == "queued"
