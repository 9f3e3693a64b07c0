"""The API end to end over real HTTP: ``LocalApi`` (the local API Gateway adapter) on 127.0.0.1 in front of the
api function, moto behind it, the disassociate function fed by a background dispatcher (what Lambda's SQS event
source mapping does), the report and token functions run in-process. A client only speaks HTTP: submit, poll,
follow the result links.
"""

from __future__ import annotations

import csv
import io
import json
import threading
import time

import pytest
import requests

from infra.local.api_adapter import LocalApi
from infra.local.stack import ZOOM_ACCOUNTS, LocalStack, load_handler

TERMINAL = {"succeeded", "partially_failed", "rejected"}
DOMAIN = "https://canvas.example.edu"
LECTURE = "81234567890"  # a demo meeting of the Zoom simulator, three past instances


@pytest.fixture
def api(stack: LocalStack):
    with LocalApi(stack.load_api().handler) as local:
        assert local.base_url.startswith("http://127.0.0.1:")
        yield local
    stack.wait_background()


@pytest.fixture
def event_source(stack: LocalStack):
    """Delivers whatever lands on the queue to the disassociate function until the test ends."""
    handler = load_handler("disassociate").handler
    stop = threading.Event()

    def loop() -> None:
        while not stop.is_set():
            stack.dispatch(handler, timeout=5)
            stop.wait(0.1)

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    yield
    stop.set()
    thread.join(15)


@pytest.fixture
def fast_zoom(stack, monkeypatch):
    monkeypatch.setenv("ZOOMOPS_ZOOM_PLAN", "business")
    limits = dict(stack.zoom.limits)
    stack.zoom.limits.update(light=80.0, medium=60.0, heavy=40.0)
    yield
    stack.zoom.limits.update(limits)


def poll(url: str, timeout: float = 30.0) -> tuple[dict, list[dict]]:
    """GET ``url`` until the job ends; the final job and every state seen on the way."""
    seen, deadline = [], time.monotonic() + timeout
    while time.monotonic() < deadline:
        answer = requests.get(url, timeout=10)
        assert answer.status_code == 200 and answer.headers["Content-Type"] == "application/json", answer.text
        job = answer.json()
        seen.append(job)
        if job["state"] in TERMINAL:
            return job, seen
        time.sleep(0.1)
    raise AssertionError(f"job did not finish in {timeout}s: {seen[-1] if seen else None}")


def csv_rows(text: str) -> list[dict]:
    return list(csv.DictReader(io.StringIO(text)))


def test_inline_job_submit_poll_and_download_the_results(stack, api, event_source):
    rows = [{"meetingId": f"8130000{i:04d}", "contextId": f"course-{i // 2}", "domain": DOMAIN} for i in range(7)]
    created = requests.post(f"{api.base_url}/disassociate-jobs", json={"rows": rows, "batchSize": 3}, timeout=10)
    assert created.status_code == 201, created.text
    assert created.headers["Content-Type"] == "application/json"
    job_id = created.json()["jobId"]

    job, seen = poll(f"{api.base_url}/disassociate-jobs/{job_id}")
    assert seen[0]["state"] in ("queued", "running", "succeeded")
    assert job["state"] == "succeeded"
    assert job["progress"] == {
        "total_rows": 7,
        "sent": 7,
        "planned": 0,
        "rejected": 0,
        "duplicates": 0,
        "failed": 0,
        "batches": 3,
        "batchesTotal": 3,
    }
    assert [len(call["items"]) for call in stack.lti.accepted] == [3, 3, 1]

    files = {name: requests.get(url, timeout=10) for name, url in job["results"].items()}
    assert set(files) == {"summary.json", "rows.csv", "retry.csv"}
    assert all(answer.status_code == 200 for answer in files.values())
    assert [r["meeting_id"] for r in csv_rows(files["rows.csv"].text)] == [r["meetingId"] for r in rows]
    assert {r["status"] for r in csv_rows(files["rows.csv"].text)} == {"sent"}
    assert json.loads(files["summary.json"].content)["sent"] == 7
    assert csv_rows(files["retry.csv"].text) == []


def test_upload_job_over_http_put_then_poll(stack, api, event_source):
    created = requests.post(
        f"{api.base_url}/disassociate-jobs", json={"fileName": "spring.csv", "dryRun": True}, timeout=10
    ).json()
    upload = created["upload"]
    body = "Meeting ID,Context ID,Domain\n813 0000 0100,ctx-s,https://canvas.example.edu\n12,ctx-s,x\n"
    put = requests.request(upload["method"], upload["url"], data=body.encode(), headers=upload["headers"], timeout=10)
    assert put.status_code == 200

    job, _ = poll(f"{api.base_url}/disassociate-jobs/{created['jobId']}")
    assert job["state"] == "succeeded" and job["dryRun"] is True and job["file"] == "spring.csv"
    assert (job["progress"]["planned"], job["progress"]["rejected"], job["progress"]["sent"]) == (1, 1, 0)
    assert stack.lti.received == []
    planned = requests.get(job["results"]["requests.jsonl"], timeout=10)
    assert planned.status_code == 200
    (request,) = [json.loads(line) for line in planned.text.splitlines()]
    assert request["body"][0]["meetingId"] == "81300000100"


def test_report_job_submit_and_poll_to_completion(stack, api, fast_zoom):
    refreshed = requests.post(f"{api.base_url}/tokens/refresh", timeout=30)
    assert refreshed.status_code == 200
    assert {entry["account"] for entry in refreshed.json()} == set(ZOOM_ACCOUNTS)

    created = requests.post(f"{api.base_url}/report-jobs", json={"meetingIds": [LECTURE]}, timeout=10)
    assert created.status_code == 201, created.text
    job, _ = poll(f"{api.base_url}/report-jobs/{created.json()['jobId']}")
    assert job["state"] == "succeeded", job
    assert (job["progress"]["meetings"], job["progress"]["instances_written"], job["progress"]["failed"]) == (1, 3, 0)
    assert job["results"].endswith("/") and job["timings"]["finished_at"]

    tokens = requests.get(f"{api.base_url}/tokens", timeout=10)
    assert {entry["action"] for entry in tokens.json()} == {"valid"}
    for name in ZOOM_ACCOUNTS:
        assert stack.zoom_token(name)["access_token"] not in tokens.text + refreshed.text


def test_errors_over_http_are_problem_details_in_one_shape(api):
    cases = [
        requests.post(
            f"{api.base_url}/disassociate-jobs", data=b"{oops", headers={"Content-Type": "application/json"}, timeout=10
        ),
        requests.post(f"{api.base_url}/disassociate-jobs", json={"batchSize": 999}, timeout=10),
        requests.get(f"{api.base_url}/disassociate-jobs/dis-0123456789abcdef01234567", timeout=10),
        requests.get(f"{api.base_url}/no/such/route", timeout=10),
        requests.delete(f"{api.base_url}/tokens", timeout=10),
        requests.post(
            f"{api.base_url}/report-jobs",
            data=b"x" * (600 * 1024),
            headers={"Content-Type": "application/json"},
            timeout=10,
        ),
        requests.post(f"{api.base_url}/report-jobs", data=b'{"users": ["a"]}', timeout=10),  # no Content-Type
    ]
    assert [answer.status_code for answer in cases] == [400, 422, 404, 404, 405, 413, 415]
    assert cases[4].headers["Allow"] == "GET"
    for answer in cases:
        assert answer.headers["Content-Type"] == "application/problem+json"
        body = answer.json()
        assert set(body) <= {"type", "title", "status", "detail", "errors"} and body["status"] == answer.status_code
        assert body["detail"] and body["title"] and "Traceback" not in answer.text


def test_a_body_that_is_not_utf8_over_http_is_a_clean_400(api):
    answer = requests.post(
        f"{api.base_url}/disassociate-jobs",
        data=b'{"rows": "\xff"}',
        headers={"Content-Type": "application/json"},
        timeout=10,
    )
    assert answer.status_code == 400 and "UTF-8" in answer.json()["detail"]
