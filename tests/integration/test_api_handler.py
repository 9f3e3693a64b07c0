"""The api handler through real API Gateway (HTTP API, payload v2, IAM authoriser) events, against moto,
the LTI Pro simulator and the Zoom simulator of the local stack.

Every event is ``tests/events/apigw_http_v2.json`` with its method, path, route and body changed. The
disassociate jobs then run through the bucket flow (S3 -> SQS -> the disassociate function, delivered by
``stack.dispatch``); the report and token functions run in-process (``stack.load_api``). Every response is
checked on the way: never a 5xx, always JSON, and (at teardown) no secret of the stack in any of them.
"""

from __future__ import annotations

import base64
import copy
import csv
import io
import json
import re
import threading
import time
from dataclasses import dataclass
from typing import Any

import pytest
import requests

from infra.local.lti_sim import Fault
from infra.local.stack import (
    BUCKET,
    JOBS_TABLE,
    LTI_SECRET,
    ZOOM_ACCOUNTS,
    ZOOM_SECRET_PREFIX,
    LambdaContext,
    LocalStack,
    load_handler,
)
from tests.conftest import load_event
from zoomops.api.problems import MAX_BODY_BYTES

EVENT = load_event("apigw_http_v2.json")
LTI_SECRET_VALUE = "test-lti-SECRET-value-7f3a"  # what tests/conftest.py gives the stack
JOB_ID = re.compile(r"^dis-[0-9a-f]{24}$")
REPORT_ID = re.compile(r"^rep-[0-9a-f]{24}$")
DOMAIN = "https://canvas.example.edu"
LECTURE, OFFICE = "81234567890", "82345678901"  # the Zoom simulator's demo meetings (2024 instances)
ALAN = "alan.turing@campus.example.edu"  # hosts OFFICE: two past instances in September 2024
NO_BODY = object()

# The routes template.yaml declares (API Gateway puts the matched one in routeKey and fills pathParameters).
ROUTES = [
    ("POST", "/disassociate-jobs"),
    ("GET", "/disassociate-jobs/{job_id}"),
    ("POST", "/report-jobs"),
    ("GET", "/report-jobs/{job_id}"),
    ("GET", "/tokens"),
    ("POST", "/tokens/refresh"),
    ("GET", "/openapi.json"),
]


def api_event(
    method: str,
    path: str,
    body: Any = NO_BODY,
    *,
    raw: str | None = None,
    b64: bool = False,
    headers: dict[str, str] | None = None,
    query: dict[str, str] | None = None,
) -> dict:
    """The sample event for ``method path``: what API Gateway hands the function after IAM authorisation."""
    event = copy.deepcopy(EVENT)
    route, params = "$default", None
    for m, template in ROUTES:
        pattern = "^" + re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", template) + "$"
        found = re.match(pattern, path)
        if m == method and found:
            route, params = f"{m} {template}", found.groupdict() or None
            break
    if raw is not None:
        text = raw
    elif body is NO_BODY:
        text = None
    else:
        text = json.dumps(body)
    if text is not None and b64:
        text = base64.b64encode(text.encode("utf-8")).decode()
    event.update(routeKey=route, rawPath=path, pathParameters=params, body=text, isBase64Encoded=b64)
    if query:
        event.update(rawQueryString="&".join(f"{k}={v}" for k, v in query.items()), queryStringParameters=query)
    event["requestContext"].update(routeKey=route, requestId=f"req-{time.monotonic_ns()}")
    event["requestContext"]["http"].update(method=method, path=path)
    event["headers"]["content-length"] = str(len(text or ""))
    if text is None:
        event["headers"].pop("content-type")
    event["headers"].update(headers or {})
    return event


@dataclass
class Answer:
    status: int
    body: Any
    raw: dict


class Api:
    """The api function of one container: events in, responses out, every response kept for the secret check."""

    def __init__(self, stack: LocalStack):
        self.stack, self.module = stack, stack.load_api()
        self.responses: list[dict] = []
        self._lock = threading.Lock()

    def __call__(self, method: str, path: str, body: Any = NO_BODY, **kwargs: Any) -> Answer:
        response = self.module.handler(
            api_event(method, path, body, **kwargs), LambdaContext(function_name="zoomops-api", timeout_seconds=29)
        )
        with self._lock:
            self.responses.append(response)
        status = response["statusCode"]
        assert 200 <= status < 500, f"{method} {path} -> {status}: {response.get('body')}"
        headers = {k.lower(): v for k, v in (response.get("headers") or {}).items()}
        expected = "application/problem+json" if status >= 400 else "application/json"
        assert headers.get("content-type", "").startswith(expected), response
        text = base64.b64decode(response["body"]).decode() if response.get("isBase64Encoded") else response["body"]
        body = json.loads(text)
        if status >= 400:  # every 4xx is problem details (RFC 9457), one shape, no stack trace
            assert isinstance(body, dict) and "Traceback" not in text and 'File "' not in text, text
            assert body["status"] == status and body["title"] and body["detail"] and body["type"] == "about:blank"
            assert set(body) <= {"type", "title", "status", "detail", "errors"}, body
        return Answer(status, body, response)

    def job(self, job_id: str) -> dict:
        kind = "disassociate-jobs" if job_id.startswith("dis-") else "report-jobs"
        answer = self("GET", f"/{kind}/{job_id}")
        assert answer.status == 200, answer.body
        return answer.body


def stack_secrets(stack: LocalStack) -> list[str]:
    """Every secret the stack holds: the LTI secret, each Zoom client secret, each stored access token."""
    sm = stack.client("secretsmanager")
    lti = json.loads(sm.get_secret_value(SecretId=LTI_SECRET)["SecretString"])
    found = [LTI_SECRET_VALUE, lti["secret"]]
    for name in ZOOM_ACCOUNTS:
        creds = json.loads(sm.get_secret_value(SecretId=f"{ZOOM_SECRET_PREFIX}{name}/credentials")["SecretString"])
        found.append(creds["client_secret"])
        token = stack.zoom_token(name)
        if token:
            found.append(token["access_token"])
    return found


@pytest.fixture
def api(stack: LocalStack):
    api = Api(stack)
    yield api
    stack.wait_background()
    everything = json.dumps(api.responses)
    for secret in stack_secrets(stack):
        assert secret not in everything
    assert '"access_token"' not in everything and "client_secret" not in everything


@pytest.fixture(scope="module")
def quick_api(_local_stack: LocalStack):
    """One api container over the session's stack, not reset per test: for requests that must change nothing."""
    api = Api(_local_stack)
    yield api
    everything = json.dumps(api.responses)
    for secret in stack_secrets(_local_stack):
        assert secret not in everything


def state_of(stack: LocalStack) -> tuple[int, list[str]]:
    """What a refused request must leave as it was: the job records and the bucket's keys."""
    return job_count(stack), stack.keys()


@pytest.fixture
def disassociate():
    return load_handler("disassociate").handler


@pytest.fixture
def fast_zoom(stack, monkeypatch):
    """Business-plan rates on both sides (the same behaviour as pro, less waiting)."""
    monkeypatch.setenv("ZOOMOPS_ZOOM_PLAN", "business")
    limits = dict(stack.zoom.limits)
    stack.zoom.limits.update(light=80.0, medium=60.0, heavy=40.0)
    yield stack.zoom
    stack.zoom.limits.update(limits)


def rows(count: int, start: int = 81_300_000_000, context: str = "api-course") -> list[dict]:
    return [
        {
            "meetingId": str(start + i),
            "contextId": f"{context}-{i // 3}",
            "domain": DOMAIN,
            "courseId": str(100 + i // 3),
        }
        for i in range(count)
    ]


def download(url: str) -> bytes:
    answer = requests.get(url, timeout=10)
    assert answer.status_code == 200, (url, answer.status_code, answer.text[:300])
    return answer.content


def csv_rows(data: bytes) -> list[dict]:
    return list(csv.DictReader(io.StringIO(data.decode("utf-8"))))


def job_count(stack: LocalStack) -> int:
    return len(stack.client("dynamodb").scan(TableName=JOBS_TABLE)["Items"])


# ------------------------------------------------------------------ POST/GET /disassociate-jobs
def test_inline_rows_run_through_the_bucket_and_the_job_shows_counts_and_working_result_links(stack, api, disassociate):
    submitted = [
        {"meetingId": "813 0000 0001", "contextId": "ctx-a", "domain": DOMAIN, "courseId": "101"},
        {"meetingId": "12345", "contextId": "ctx-a", "domain": DOMAIN},  # too short: rejected
        {"meetingId": "813-0000-0001", "contextId": "ctx-a", "domain": DOMAIN, "courseId": "101"},  # duplicate
        {"meetingId": "81300000002", "contextId": "ctx-b", "domain": DOMAIN},
    ]
    created = api("POST", "/disassociate-jobs", {"rows": submitted})
    assert created.status == 201
    job_id = created.body["jobId"]
    assert JOB_ID.match(job_id) and created.body["state"] == "queued" and created.body.get("upload") is None
    assert stack.keys("incoming/") == [f"incoming/api/{job_id}/inline.csv"]

    queued = api.job(job_id)
    assert queued["state"] == "queued" and queued["results"] is None and queued["dryRun"] is False
    assert queued["progress"]["sent"] == 0 and queued["progress"]["batchesTotal"] is None
    assert queued["timings"]["created_at"] and queued["timings"]["finished_at"] is None

    responses = stack.dispatch(disassociate)  # (the bucket's s3:TestEvent comes first)
    assert responses and all(r == {"batchItemFailures": []} for r in responses)
    assert stack.lti.accepted_items() == [
        {"meetingId": "81300000001", "contextId": "ctx-a", "domain": DOMAIN, "courseId": "101"},
        {"meetingId": "81300000002", "contextId": "ctx-b", "domain": DOMAIN},
    ]
    job = api.job(job_id)
    assert job["jobId"] == job_id and job["state"] == "succeeded" and job["file"] == "inline.csv"
    assert job["progress"] == {
        "total_rows": 4,
        "sent": 2,
        "planned": 0,
        "rejected": 1,
        "duplicates": 1,
        "failed": 0,
        "batches": 1,
        "batchesTotal": 1,
    }
    timings = job["timings"]
    assert timings["created_at"] <= timings["started_at"] <= timings["finished_at"]
    assert set(job["results"]) == {"summary.json", "rows.csv", "retry.csv"}

    summary = json.loads(download(job["results"]["summary.json"]))
    assert (summary["total_rows"], summary["sent"], summary["rejected"], summary["duplicates"]) == (4, 2, 1, 1)
    lines = csv_rows(download(job["results"]["rows.csv"]))
    assert [(r["line"], r["meeting_id"], r["context_id"], r["status"]) for r in lines] == [
        ("2", "813 0000 0001", "ctx-a", "sent"),
        ("3", "12345", "ctx-a", "rejected"),
        ("4", "813-0000-0001", "ctx-a", "duplicate"),
        ("5", "81300000002", "ctx-b", "sent"),
    ]
    assert csv_rows(download(job["results"]["retry.csv"])) == []
    assert stack.keys("incoming/") == [] and stack.keys("processed/") == [f"processed/api/{job_id}/inline.csv"]
    assert job_count(stack) == 1  # the bucket flow updated the API's record, it made no second one


def test_inline_rows_survive_the_csv_the_api_writes_for_them(stack, api, disassociate):
    tricky = [
        {"meetingId": "81300000011", "contextId": 'ctx, with "quotes"', "domain": DOMAIN, "courseId": "c,1"},
        {"meetingId": "81300000012", "contextId": "=cmd|' /C calc'!A0", "domain": "https://lms.exämple.edu"},
        {"meetingId": "81300000013", "contextId": "multi\nline", "domain": DOMAIN, "courseId": "Ω-7"},
    ]
    created = api("POST", "/disassociate-jobs", {"rows": tricky})
    assert created.status == 201
    stack.dispatch(disassociate)
    assert api.job(created.body["jobId"])["progress"]["sent"] == 3
    assert stack.lti.accepted_items() == tricky


def test_dry_run_gives_a_requests_link_and_sends_nothing(stack, api, disassociate):
    created = api("POST", "/disassociate-jobs", {"rows": rows(5), "dryRun": True, "batchSize": 2})
    assert created.status == 201
    job_id = created.body["jobId"]
    assert stack.keys("dryrun/") == [f"dryrun/api/{job_id}/inline.csv"] and stack.keys("incoming/") == []
    stack.dispatch(disassociate)
    assert stack.lti.received == []
    job = api.job(job_id)
    assert job["state"] == "succeeded" and job["dryRun"] is True
    assert job["progress"] == {
        "total_rows": 5,
        "sent": 0,
        "planned": 5,
        "rejected": 0,
        "duplicates": 0,
        "failed": 0,
        "batches": 3,
        "batchesTotal": 3,
    }
    assert set(job["results"]) == {"summary.json", "rows.csv", "retry.csv", "requests.jsonl"}
    planned = [json.loads(line) for line in download(job["results"]["requests.jsonl"]).decode().splitlines()]
    assert [len(entry["body"]) for entry in planned] == [2, 2, 1]
    assert {r["status"] for r in csv_rows(download(job["results"]["rows.csv"]))} == {"planned"}


def test_user_id_and_batch_size_are_honoured(stack, api, disassociate):
    created = api("POST", "/disassociate-jobs", {"rows": rows(5), "userId": "lms-admin-42", "batchSize": 2})
    assert created.status == 201
    stack.dispatch(disassociate)
    calls = stack.lti.accepted
    assert [len(call["items"]) for call in calls] == [2, 2, 1]
    assert {call["user_id"] for call in calls} == {"lms-admin-42"}
    job = api.job(created.body["jobId"])
    assert job["state"] == "succeeded" and job["progress"]["sent"] == 5
    assert (job["progress"]["batches"], job["progress"]["batchesTotal"]) == (3, 3)


def test_upload_mode_hands_out_a_presigned_put_and_the_upload_runs_under_the_same_job(stack, api, disassociate):
    created = api("POST", "/disassociate-jobs", {"fileName": "fall-2026.csv", "batchSize": 1})
    assert created.status == 201
    job_id, upload = created.body["jobId"], created.body["upload"]
    assert JOB_ID.match(job_id) and created.body["state"] == "queued"
    assert upload["method"] == "PUT" and upload["headers"] == {"Content-Type": "text/csv"}
    assert 0 < upload["expiresIn"] <= 3600 and upload["url"].startswith(stack.endpoint)
    assert "X-Amz-Algorithm=AWS4-HMAC-SHA256" in upload["url"]  # SigV4: new buckets refuse SigV2 links
    assert api.job(job_id)["state"] == "queued" and api.job(job_id)["file"] == "fall-2026.csv"

    body = (
        b"Meeting ID,Context ID,Domain,custom_canvas_course_id\n"
        b"81300000021,ctx-u,https://canvas.example.edu,7\n"
        b"81300000022,ctx-u,https://canvas.example.edu,7\n"
        b"81300000023,ctx-u,https://canvas.example.edu,7\n"
    )
    put = requests.put(upload["url"], data=body, headers=upload["headers"], timeout=10)
    assert put.status_code == 200, put.text
    assert stack.keys("incoming/") == [f"incoming/api/{job_id}/fall-2026.csv"]
    assert stack.read(f"incoming/api/{job_id}/fall-2026.csv") == body

    stack.dispatch(disassociate)
    job = api.job(job_id)
    assert job["state"] == "succeeded" and job["file"] == "fall-2026.csv"
    assert (job["progress"]["sent"], job["progress"]["batches"]) == (3, 3)  # batchSize 1 from the job record
    assert [len(call["items"]) for call in stack.lti.accepted] == [1, 1, 1]
    assert len(csv_rows(download(job["results"]["rows.csv"]))) == 3
    assert job_count(stack) == 1


def test_rows_lti_pro_refuses_make_the_job_partially_failed_with_a_retry_file(stack, api, disassociate):
    stack.lti.add_faults(Fault(status=400))  # the first batch is refused (not retried), the second goes through
    created = api("POST", "/disassociate-jobs", {"rows": rows(2), "batchSize": 1})
    stack.dispatch(disassociate)
    job = api.job(created.body["jobId"])
    assert job["state"] == "partially_failed"
    assert (job["progress"]["sent"], job["progress"]["failed"], job["progress"]["batches"]) == (1, 1, 2)
    retry = csv_rows(download(job["results"]["retry.csv"]))
    assert [r["Meeting ID"] for r in retry] == [rows(2)[0]["meetingId"]]
    failed = [r for r in csv_rows(download(job["results"]["rows.csv"])) if r["status"] == "failed"]
    assert len(failed) == 1 and "400" in failed[0]["reason"]


def test_an_upload_that_is_not_an_import_file_shows_as_rejected_with_the_reason(stack, api, disassociate):
    created = api("POST", "/disassociate-jobs", {})
    upload = created.body["upload"]
    assert created.body["jobId"] and upload["url"]
    put = requests.put(upload["url"], data=b"name,email\nAda,ada@example.edu\n", headers=upload["headers"], timeout=10)
    assert put.status_code == 200
    stack.dispatch(disassociate)
    job = api.job(created.body["jobId"])
    assert job["state"] == "rejected" and job["refused"] and job["file"] == "upload.csv"
    assert stack.lti.received == []
    assert json.loads(download(job["results"]["summary.json"]))["refused"] == job["refused"]


def test_a_csv_dropped_straight_in_the_bucket_is_followed_the_same_way(stack, api, disassociate):
    stack.put_file(
        "incoming/term/direct.csv", b"Meeting ID,Context ID,Domain\n81300000031,ctx-d,https://canvas.example.edu\n"
    )
    stack.dispatch(disassociate)
    (item,) = stack.client("dynamodb").scan(TableName=JOBS_TABLE)["Items"]
    job = api.job(item["job_id"]["S"])
    assert job["state"] == "succeeded" and job["file"] == "direct.csv" and job["progress"]["sent"] == 1
    assert csv_rows(download(job["results"]["rows.csv"]))[0]["status"] == "sent"


def test_progress_is_written_while_the_job_runs(stack, api, disassociate):
    stack.lti.add_faults(*[Fault(delay=0.3) for _ in range(5)])  # each batch is answered after 0.3 s
    created = api("POST", "/disassociate-jobs", {"rows": rows(5), "batchSize": 1})
    job_id = created.body["jobId"]
    seen: list[tuple[str, int, int]] = []
    done = threading.Event()

    def poll() -> None:
        while not done.is_set():
            job = api.job(job_id)
            seen.append((job["state"], job["progress"]["sent"], job["progress"]["batches"]))
            time.sleep(0.05)

    poller = threading.Thread(target=poll)
    poller.start()
    try:
        stack.dispatch(disassociate)
    finally:
        done.set()
        poller.join()
    final = api.job(job_id)
    assert final["state"] == "succeeded" and final["progress"]["sent"] == 5 and final["progress"]["batches"] == 5
    midway = [(sent, batches) for state, sent, batches in seen if state == "running" and 0 < sent < 5]
    assert midway, seen  # the record moved before the job ended
    assert all(sent == batches for sent, batches in midway)  # one row per batch, counted per batch
    sents = [sent for _, sent, _ in seen]
    assert sents == sorted(sents)  # never goes backwards


# ------------------------------------------------------------------ errors: every 4xx names what is wrong
@pytest.mark.parametrize(
    "kind,job_id",
    [
        ("disassociate-jobs", "dis-0123456789abcdef01234567"),
        ("report-jobs", "rep-0123456789abcdef01234567"),
        ("disassociate-jobs", "rep-0123456789abcdef01234567"),  # a report job is not a disassociate job
        ("report-jobs", "dis-0123456789abcdef01234567"),
    ],
)
def test_unknown_job_is_404_naming_it(quick_api, kind, job_id):
    answer = quick_api("GET", f"/{kind}/{job_id}")
    assert answer.status == 404 and job_id in answer.body["detail"]


@pytest.mark.parametrize("kind", ["disassociate-jobs", "report-jobs"])
@pytest.mark.parametrize("job_id", ["nope", "dis-XYZ", "dis-0123456789abcdef0123456", "DIS-0123456789ABCDEF01234567"])
def test_malformed_job_id_is_422_naming_the_field(quick_api, kind, job_id):
    answer = quick_api("GET", f"/{kind}/{job_id}")
    assert answer.status == 422 and "job_id" in answer.body["detail"]


def test_a_job_of_another_kind_is_not_found_under_the_wrong_route(stack, api):
    created = api("POST", "/disassociate-jobs", {"rows": rows(1)})
    job_id = created.body["jobId"]
    assert api("GET", f"/report-jobs/{job_id}").status == 404
    assert api("GET", f"/disassociate-jobs/{job_id}").status == 200


BIG_ROWS = rows(1001)


@pytest.mark.parametrize(
    "path,body,field,detail",
    [
        ("/disassociate-jobs", {"batchSize": 401}, "batchSize", "less than or equal to 400"),
        ("/disassociate-jobs", {"batchSize": 0}, "batchSize", "greater than or equal to 1"),
        ("/disassociate-jobs", {"batchSize": "lots"}, "batchSize", "valid integer"),
        ("/disassociate-jobs", {"dryRun": "maybe"}, "dryRun", "valid boolean"),
        ("/disassociate-jobs", {"dryRun": 0.0}, "dryRun", "valid boolean"),  # pydantic's lax mode took it as false
        ("/disassociate-jobs", {"dryRun": "true"}, "dryRun", "valid boolean"),
        ("/disassociate-jobs", {"batchSize": "400"}, "batchSize", "valid integer"),
        ("/disassociate-jobs", {"batchSize": 12.5}, "batchSize", "valid integer"),
        ("/disassociate-jobs", {"batchSize": True}, "batchSize", "valid integer"),
        ("/report-jobs", {"users": [ALAN], "from": 1725000000}, "from", "valid date"),  # not a Unix time
        ("/report-jobs", {"users": [ALAN], "from": "1725148800"}, "from", "valid date"),  # nor as text
        ("/report-jobs", {"users": [ALAN], "to": "2024-09-30T00:00:00Z"}, "to", "valid date"),
        ("/disassociate-jobs", {"sneaky": True}, "sneaky", "not permitted"),
        ("/disassociate-jobs", {"rows": BIG_ROWS}, "rows", "at most 1000 items"),
        ("/disassociate-jobs", {"rows": []}, "rows", "at least 1 item"),
        ("/disassociate-jobs", {"rows": "81300000001,ctx,dom"}, "rows", "valid list"),
        (
            "/disassociate-jobs",
            {"rows": [{"meetingId": "81300000001", "domain": DOMAIN}]},
            "rows.0.contextId",
            "Field required",
        ),
        (
            "/disassociate-jobs",
            {"rows": [{"meetingId": "1", "contextId": "c", "domain": "d", "x": 1}]},
            "rows.0.x",
            "not permitted",
        ),
        (
            "/disassociate-jobs",
            {"rows": [{"meetingId": "1" * 33, "contextId": "c", "domain": "d"}]},
            "rows.0.meetingId",
            "at most 32 characters",
        ),
        ("/disassociate-jobs", {"fileName": "../../etc/passwd"}, "fileName", "should match pattern"),
        ("/disassociate-jobs", {"userId": ""}, "userId", "at least 1 character"),
        (
            "/report-jobs",
            {"meetingIds": [LECTURE], "users": [ALAN]},
            "meetingIds",
            "exactly one of meetingIds, users or csvUpload",
        ),
        ("/report-jobs", {}, "meetingIds", "exactly one of meetingIds, users or csvUpload"),
        ("/report-jobs", {"users": [ALAN], "from": "2024-02-30"}, "from", "valid date"),
        ("/report-jobs", {"users": [ALAN], "to": "yesterday"}, "to", "valid date"),
        ("/report-jobs", {"users": [ALAN], "from": "2024-09-20", "to": "2024-09-01"}, "to", "must not be before from"),
        ("/report-jobs", {"meetingIds": ["not-a-meeting"]}, "meetingIds.0", "should match pattern"),
        ("/report-jobs", {"meetingIds": [81234567890]}, "meetingIds.0", "valid string"),
        ("/report-jobs", {"users": [ALAN], "account": "no such/account"}, "account", "should match pattern"),
        ("/report-jobs", {"users": [ALAN] * 201}, "users", "at most 200 items"),
    ],
)
def test_invalid_requests_are_422_naming_field_and_limit(quick_api, path, body, field, detail):
    before = state_of(quick_api.stack)
    answer = quick_api("POST", path, body)
    assert answer.status == 422, answer.body
    message = answer.body["detail"]
    assert field in message and detail in message, message
    assert any(field.split(".")[0] in e["field"] or field in e["problem"] for e in answer.body["errors"])
    assert state_of(quick_api.stack) == before  # nothing was started


@pytest.mark.parametrize("path", ["/disassociate-jobs", "/report-jobs"])
def test_malformed_json_is_400(quick_api, path):
    before = state_of(quick_api.stack)
    answer = quick_api("POST", path, raw='{"rows": [')
    assert answer.status == 400 and "JSON" in answer.body["detail"]
    assert state_of(quick_api.stack) == before


@pytest.mark.parametrize("raw", ["[]", "null", '"rows"', "42"])
def test_json_that_is_not_an_object_is_422(quick_api, raw):
    answer = quick_api("POST", "/disassociate-jobs", raw=raw)
    assert answer.status == 422 and "body" in answer.body["detail"]


def test_a_missing_body_is_422(quick_api):
    answer = quick_api("POST", "/report-jobs")
    assert answer.status == 422 and "body" in answer.body["detail"]


def test_a_body_without_content_type_is_415_not_a_validation_error(quick_api):
    """It used to be a 422 naming the whole body."""
    answer = quick_api("POST", "/disassociate-jobs", raw='{"dryRun": true}', headers={"content-type": ""})
    assert answer.status == 415 and "application/json" in answer.body["detail"]


def test_a_bad_meeting_id_gets_one_message_about_that_id(quick_api):
    """{"meetingIds": ["abc"]} used to get contradictory messages (one per alternative of a union)."""
    answer = quick_api("POST", "/report-jobs", {"meetingIds": ["abc"]})
    assert answer.status == 422 and [e["field"] for e in answer.body["errors"]] == ["meetingIds.0"]
    assert "exactly one" not in answer.body["detail"]


@pytest.mark.parametrize("body", [{"force": True, "sneaky": 1}, {"force": "yes"}])
def test_token_refresh_refuses_unknown_or_mistyped_fields(quick_api, body):
    answer = quick_api("POST", "/tokens/refresh", body)
    assert answer.status == 422 and answer.body["errors"], answer.body


def test_unknown_query_parameters_are_refused(quick_api):
    answer = quick_api("GET", "/tokens", query={"verbose": "1"})
    assert answer.status == 422 and "verbose" in answer.body["detail"]


def test_a_base64_encoded_json_body_is_read(quick_api):
    answer = quick_api("POST", "/disassociate-jobs", {"rows": rows(1)}, b64=True)
    assert answer.status == 201


@pytest.mark.parametrize("path", ["/disassociate-jobs", "/report-jobs"])
def test_a_body_that_is_not_utf8_is_a_clean_400(quick_api, path):
    event = api_event("POST", path)
    event.update(body=base64.b64encode(b'{"rows": "\xff\xfe"}').decode(), isBase64Encoded=True)
    event["headers"]["content-type"] = "application/json"
    response = quick_api.module.handler(event, LambdaContext(function_name="zoomops-api"))
    quick_api.responses.append(response)
    assert response["statusCode"] == 400 and "UTF-8" in json.loads(response["body"])["detail"]


def test_a_body_that_is_not_json_by_content_type_is_a_clean_4xx(quick_api):
    answer = quick_api("POST", "/disassociate-jobs", raw="meetingId=1", headers={"content-type": "text/plain"})
    assert answer.status == 415 and "text/plain" in answer.body["detail"]


def test_an_oversized_body_is_413_naming_the_limit(quick_api):
    before = state_of(quick_api.stack)
    big = [{"meetingId": "81300000001", "contextId": "c" * 500, "domain": "d" * 500} for _ in range(600)]
    answer = quick_api("POST", "/disassociate-jobs", {"rows": big})
    assert answer.status == 413 and str(MAX_BODY_BYTES) in answer.body["detail"]
    assert state_of(quick_api.stack) == before


@pytest.mark.parametrize(
    "method,path",
    [
        ("GET", "/"),
        ("GET", "/nowhere"),
        ("GET", "/disassociate-jobs/dis-0123456789abcdef01234567/results"),
        ("POST", "/openapi.json/x"),
    ],
)
def test_unknown_route_is_404_naming_it(quick_api, method, path):
    answer = quick_api(method, path)
    assert answer.status == 404 and path in answer.body["detail"] and method in answer.body["detail"]


@pytest.mark.parametrize(
    "method,path,allow",
    [
        ("DELETE", "/disassociate-jobs", "GET, POST"),
        ("PUT", "/tokens", "GET"),
        ("DELETE", "/tokens/refresh", "POST"),
        ("GET", "/tokens/refresh", "POST"),
        ("POST", "/disassociate-jobs/dis-0123456789abcdef01234567", "GET"),
        ("PATCH", "/report-jobs", "GET, POST"),
    ],
)
def test_wrong_method_is_405_with_allow(quick_api, method, path, allow):
    """It used to be a 404: the template routes every method of a path to the function, which says which it takes."""
    answer = quick_api(method, path, {})
    assert answer.status == 405 and method in answer.body["detail"] and path in answer.body["detail"]
    assert {k.lower(): v for k, v in answer.raw["headers"].items()}["allow"] == allow


def test_openapi_description_is_served_and_every_route_is_in_the_template(quick_api):
    answer = quick_api("GET", "/openapi.json")
    assert answer.status == 200 and answer.body["openapi"].startswith("3.")
    paths = set(answer.body["paths"])
    assert {"/jobs", "/disassociate-jobs/{job_id}/confirm", "/report-jobs/{job_id}/start", "/tokens"} <= paths
    from cfnlint.decode import cfn_yaml

    from infra.local.stack import ROOT

    events = cfn_yaml.load(str(ROOT / "template.yaml"))["Resources"]["ApiFunction"]["Properties"]["Events"]
    routed = {e["Properties"]["Path"] for e in events.values()}
    as_pattern = lambda path: re.compile("^" + re.sub(r"\{\w+\}", "[^/]+", path) + "$")  # noqa: E731
    for path in paths:  # API Gateway sends every documented path to the function
        assert any(as_pattern(r).match(path.replace("{", "x").replace("}", "")) for r in routed), path
    for route in routed - {"/openapi.json"}:  # and routes nothing the function does not serve
        assert any(as_pattern(route).match(p.replace("{", "x").replace("}", "")) for p in paths), route


# ------------------------------------------------------------------ POST/GET /report-jobs, /tokens
def test_tokens_before_and_after_a_refresh_never_show_a_token(stack, api):
    before = api("GET", "/tokens")
    assert before.status == 200
    assert {(e["account"], e["action"], e["expires_in_seconds"]) for e in before.body} == {
        ("main", "missing", None),
        ("sub", "missing", None),
    }

    refreshed = api("POST", "/tokens/refresh")
    assert refreshed.status == 200
    assert {e["account"]: e["action"] for e in refreshed.body} == {"main": "refreshed", "sub": "refreshed"}
    assert all(e["expires_in_seconds"] > 3000 and e["refreshed_at"] for e in refreshed.body)
    assert stack.zoom_token("main") and stack.zoom_token("sub")

    after = api("GET", "/tokens")
    assert {e["account"]: e["action"] for e in after.body} == {"main": "valid", "sub": "valid"}
    assert [e["refreshed_at"] for e in after.body] == [e["refreshed_at"] for e in refreshed.body]
    assert all(3000 < e["expires_in_seconds"] <= 3600 and e["scope"] for e in after.body)
    again = api("POST", "/tokens/refresh")
    assert {e["action"] for e in again.body} == {"fresh"}
    tokens = [stack.zoom_token(name)["access_token"] for name in ZOOM_ACCOUNTS]
    for answer in (before, refreshed, after, again):
        assert not any(token in json.dumps(answer.body) for token in tokens)


def test_report_job_for_meeting_ids_runs_to_completion(stack, api, fast_zoom):
    assert api("POST", "/tokens/refresh").status == 200
    created = api("POST", "/report-jobs", {"meetingIds": [LECTURE, OFFICE]})
    assert created.status == 201
    job_id = created.body["jobId"]
    assert REPORT_ID.match(job_id) and created.body["state"] == "queued"
    stack.wait_background()
    job = api.job(job_id)
    assert job["state"] == "succeeded", job
    assert job["request"] == {"meeting_ids": [LECTURE, OFFICE]}
    progress = job["progress"]
    counts = (progress["meetings"], progress["instances"], progress["instances_written"], progress["failed"])
    assert counts == (2, 5, 5, 0)
    assert progress["rows_written"] > 0 and progress["registrants_written"] > 0
    assert job["timings"]["started_at"] and job["timings"]["finished_at"]
    assert job["results"].startswith(f"s3://{BUCKET}/reports/runs/")
    prefix = job["results"][len(f"s3://{BUCKET}/") :]
    assert f"{prefix}summary.json" in stack.keys(prefix)


def test_report_job_for_users_and_a_date_range(stack, api, fast_zoom):
    api("POST", "/tokens/refresh")
    created = api(
        "POST", "/report-jobs", {"users": [ALAN], "from": "2024-09-01", "to": "2024-09-20", "account": "main"}
    )
    assert created.status == 201
    stack.wait_background()
    job = api.job(created.body["jobId"])
    assert job["state"] == "succeeded", job
    assert job["request"] == {"users": [ALAN], "from": "2024-09-01", "to": "2024-09-20", "account": "main"}
    assert (job["progress"]["meetings"], job["progress"]["instances_written"]) == (1, 2)
    written = stack.keys("reports/participants/")
    assert written and all(f"meeting={OFFICE}" in key for key in written)


def test_a_report_job_for_an_unknown_account_says_why(stack, api, fast_zoom):
    created = api("POST", "/report-jobs", {"users": [ALAN], "account": "nosuchaccount"})
    if created.status == 422:  # refusing it up front, naming the account, is as good
        assert "account" in created.body["detail"]
        return
    stack.wait_background()
    job = api.job(created.body["jobId"])
    assert job["state"] == "rejected"
    assert "unknown account" in json.dumps(job)  # the reason, not just the request echoed back


# ------------------------------------------------------------------ jobs always end, with their reason
def test_a_report_job_for_someone_who_is_not_a_zoom_user_ends_rejected_with_the_reason(stack, api, fast_zoom):
    """It used to stay queued forever, its reason only in the logs."""
    api("POST", "/tokens/refresh")
    created = api("POST", "/report-jobs", {"users": ["nobody@elsewhere.example.com"]})
    stack.wait_background()
    job = api.job(created.body["jobId"])
    assert job["state"] == "rejected" and "nobody@elsewhere.example.com" in (job["refused"] or ""), job
    assert job["timings"]["finished_at"]


def test_a_report_job_before_any_token_fails_saying_to_refresh_then_works_right_after_a_refresh(stack, api, fast_zoom):
    created = api("POST", "/report-jobs", {"meetingIds": [LECTURE]})
    stack.wait_background()
    job = api.job(created.body["jobId"])
    assert job["state"] == "failed" and "token refresh" in job["refused"], job
    # The token stored by a refresh is used by the very next run (no 60-second cache of an empty secret).
    assert api("POST", "/tokens/refresh").status == 200
    again = api("POST", "/report-jobs", {"meetingIds": [LECTURE]})
    stack.wait_background()
    assert api.job(again.body["jobId"])["state"] == "succeeded"


# ------------------------------------------------------------------ listing
def test_jobs_are_listed_newest_first_filtered_by_kind_and_state_a_page_at_a_time(stack, api, disassociate):
    ids = [
        api("POST", "/disassociate-jobs", {"rows": rows(1, start=81_400_000_000 + i)}).body["jobId"] for i in range(3)
    ]
    report = api("POST", "/report-jobs", {"meetingIds": [LECTURE]}).body["jobId"]
    stack.wait_background()
    stack.dispatch(disassociate)
    everything = api("GET", "/jobs").body
    assert [j["jobId"] for j in everything["jobs"]][:4] == [report, *reversed(ids)]
    assert everything["next"] is None
    removals = api("GET", "/disassociate-jobs", query={"state": "succeeded"}).body["jobs"]
    assert [j["jobId"] for j in removals] == list(reversed(ids))
    assert all(j["kind"] == "disassociate" and j["counts"]["sent"] == 1 for j in removals)
    first = api("GET", "/jobs", query={"kind": "disassociate", "limit": "2"}).body
    second = api("GET", "/jobs", query={"kind": "disassociate", "limit": "2", "next": first["next"]}).body
    assert [j["jobId"] for j in first["jobs"] + second["jobs"]] == list(reversed(ids)) and second["next"] is None
    assert api("GET", "/report-jobs").body["jobs"][0]["jobId"] == report
    assert api("GET", "/jobs", query={"next": "not-a-token"}).status == 404
    assert api("GET", "/jobs", query={"state": "done"}).status == 422


# ------------------------------------------------------------------ preview, confirm, re-drive (what the console does)
def test_a_dry_run_previews_its_rows_then_confirm_runs_the_same_file_for_real(stack, api, disassociate):
    submitted = rows(3) + [{"meetingId": "12", "contextId": "c", "domain": DOMAIN}]
    dry = api("POST", "/disassociate-jobs", {"rows": submitted, "dryRun": True}).body["jobId"]
    assert api("POST", f"/disassociate-jobs/{dry}/confirm").status == 409  # not finished yet
    stack.dispatch(disassociate)
    rejected = api("GET", f"/disassociate-jobs/{dry}/rows", query={"status": "rejected"}).body
    assert rejected["total"] == 1 and rejected["rows"][0]["line"] == 5 and "meeting_id" in rejected["rows"][0]["reason"]
    planned = api("GET", f"/disassociate-jobs/{dry}/rows", query={"status": "planned", "limit": "2"}).body
    assert planned["total"] == 3 and len(planned["rows"]) == 2 and planned["next"] == 2
    assert stack.lti.accepted == []
    confirmed = api("POST", f"/disassociate-jobs/{dry}/confirm")
    assert confirmed.status == 201
    stack.dispatch(disassociate)
    job = api.job(confirmed.body["jobId"])
    assert job["state"] == "partially_failed" or job["progress"]["sent"] == 3, job
    assert job["origin"] == f"confirms {dry}" and len(stack.lti.accepted_items()) == 3


def test_redrive_sends_exactly_the_failed_rows_again(stack, api, disassociate):
    stack.lti.add_faults(Fault(status=400))  # the first of two batches is refused
    first = api("POST", "/disassociate-jobs", {"rows": rows(4), "batchSize": 2}).body["jobId"]
    stack.dispatch(disassociate)
    assert api.job(first)["progress"]["failed"] == 2
    redriven = api("POST", f"/disassociate-jobs/{first}/redrive")
    assert redriven.status == 201
    stack.dispatch(disassociate)
    job = api.job(redriven.body["jobId"])
    assert job["state"] == "succeeded" and job["progress"]["sent"] == 2 and job["origin"] == f"re-drives {first}"
    assert sorted(i["meetingId"] for i in stack.lti.accepted_items()) == [r["meetingId"] for r in rows(4)]
    assert api("POST", f"/disassociate-jobs/{redriven.body['jobId']}/redrive").status == 409  # nothing failed


def test_a_report_from_an_uploaded_import_csv_starts_once_the_file_is_up(stack, api, fast_zoom):
    api("POST", "/tokens/refresh")
    created = api("POST", "/report-jobs", {"csvUpload": True})
    assert created.status == 201 and created.body["upload"]["method"] == "PUT"
    body = f"Meeting ID,Context ID,Domain\n{LECTURE},ctx,{DOMAIN}\n".encode()
    upload = created.body["upload"]
    assert requests.put(upload["url"], data=body, headers=upload["headers"], timeout=10).status_code == 200
    job_id = created.body["jobId"]
    assert api("POST", f"/report-jobs/{job_id}/start").status == 201
    stack.wait_background()
    job = api.job(job_id)
    assert job["state"] == "succeeded" and job["progress"]["meetings"] == 1, job
    assert set(job["files"]) == {"attendance.csv", "instances.csv", "summary.json"}
    assert download(job["files"]["attendance.csv"]).startswith(b"meeting_id,instance_uuid,instance_file,")
    assert api("POST", f"/report-jobs/{job_id}/start").status == 409  # started already
