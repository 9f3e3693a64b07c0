"""Provisioning on the provisioning state machine, end to end in the local stack: a course-meetings CSV dropped in
the bucket (or uploaded through the API), the S3 event delivered to the intake function (its real handler), which
starts the machine named by the job id; the machine's own ASL runs in moto, every Task answered by
functions/provision_steps, against the Zoom, LTI Pro, Web Meeting and LumiNUS simulators, all on one fast clock.

A host's daily allowance (Zoom: 100 meeting creates/updates a day) defers rows; the machine waits until the
reset the job recorded (visible in the job and the API while it waits), then finishes them, creating nothing
twice. A redelivered event starts nothing twice; a part that dies after its creates is retried and finds them.
"""

from __future__ import annotations

import csv
import io
import json
import threading
import time
import uuid
from collections import Counter
from datetime import UTC, datetime

import pytest
import requests

from infra.local.api_adapter import LocalApi
from infra.local.stack import BUCKET, MACHINE_ARNS, ZOOM_ACCOUNTS, LambdaContext, LocalStack, load_handler
from infra.local.stepfunctions import FastClock
from infra.local.webmeeting_sim import Fault as WebMeetingFault
from tests.conftest import load_event
from zoomops.names import LOCAL

STEPS = LOCAL.function("provision_steps")
ACCOUNT = ZOOM_ACCOUNTS["main"][0]
DOMAIN = "https://canvas.example.edu"
HEADER = "Context ID,Domain,custom_canvas_course_id,Host,Topic,Start,Timezone,Duration,Repeat,Until"
IMPORT_HEADER = "Meeting ID,Context ID,Domain,custom_canvas_course_id"
TERMINAL = {"succeeded", "partially_failed", "rejected", "failed"}


@pytest.fixture
def clock() -> FastClock:
    return FastClock(datetime(2026, 12, 1, 15, tzinfo=UTC))


@pytest.fixture
def sfn(stack: LocalStack, clock: FastClock, monkeypatch):
    monkeypatch.setenv("ZOOMOPS_ZOOM_PLAN", "business")  # read by the steps' cold start: less pacing, same rules
    limits = dict(stack.zoom.limits)
    stack.zoom.limits.update(light=80.0, medium=60.0, heavy=40.0)
    yield stack.workflows(clock)
    stack.close_workflows()
    stack.zoom.limits.update(limits)
    stack.zoom.meeting_daily_cap = 100


@pytest.fixture
def hosts(stack: LocalStack):
    tag = uuid.uuid4().hex[:8]
    made = [f"prof{n}.{tag}@campus.example.edu" for n in range(2)]
    for email in made:
        stack.zoom.add_user(ACCOUNT, email=email, timezone="America/New_York")
    load_handler("token_refresh").handler(load_event("eventbridge_scheduled.json"), LambdaContext())
    yield made
    for email in made:
        stack.zoom.remove_user(ACCOUNT, email)


def course_meetings(hosts: list[str], per_host: int) -> bytes:
    lines = [HEADER]
    for h, host in enumerate(hosts):
        for i in range(per_host):
            n = h * 100 + i
            lines.append(
                f"ctx-{n},{DOMAIN},{500 + n},{host},Course {n} lecture,2027-01-{11 + i:02d} 09:00,"
                "America/New_York,50,Mon;Wed,2027-03-31"
            )
    return ("\n".join(lines) + "\n").encode()


def provision_jobs(stack: LocalStack) -> list[dict]:
    found = []
    for item in stack.client("dynamodb").scan(TableName="zoomops-local-jobs")["Items"]:
        job = stack.job(item["job_id"]["S"])
        if job and job.get("kind") == "provision":
            found.append(job)
    return found


def executions(stack: LocalStack) -> list[dict]:
    return stack.client("stepfunctions").list_executions(stateMachineArn=MACHINE_ARNS["provision"])["executions"]


def results(stack: LocalStack, job: dict) -> dict[str, str]:
    return {name: stack.read(job["results_prefix"] + name).decode() for name in job["files"]}


def table(text: str) -> list[dict]:
    return list(csv.DictReader(io.StringIO(text)))


def test_rows_past_a_hosts_daily_allowance_wait_for_the_reset_and_finish(stack, sfn, clock, hosts):
    stack.zoom.meeting_daily_cap = 2  # creates a host may make a day: three rows of one host take two days
    module = stack.load_api()
    seen_waiting: list[dict] = []
    lock = threading.Lock()

    def observed(handler):
        def step(event, context):
            if event.get("step") == "part" and int(event["pass"]) >= 1:
                with lock:  # what anyone following the job saw while it waited
                    if not seen_waiting:
                        job_id = event["job"]["job_id"]
                        seen_waiting.append(api_get(module, f"/provision-jobs/{job_id}"))
            return handler(event, context)

        return step

    sfn.wrap(STEPS, observed)
    stack.put_file("provision/fall-2027.csv", course_meetings(hosts, 3) + b"ctx-x,,,nobody,Bad row,soon,UTC,50,,\n")
    assert all(r == {"batchItemFailures": []} for r in stack.dispatch(load_handler("disassociate").handler))
    stack.wait_workflows(timeout=120)

    [execution] = executions(stack)
    [job] = provision_jobs(stack)
    assert execution["name"] == job["job_id"] and execution["status"] == "SUCCEEDED"
    assert (job["engine"], job["execution_arn"], job["state"]) == (
        "stepfunctions",
        execution["executionArn"],
        "succeeded",
    )
    # It waited for the hosts' allowances (00:00 UTC), on the fast clock, and said so while waiting.
    assert max(clock.waits) > 3600 and clock.now() > datetime(2026, 12, 2, tzinfo=UTC)
    [waiting] = seen_waiting
    assert waiting["state"] == "running" and waiting["step"].startswith("waiting until 2026-12-02T00:00:30")
    assert waiting["resumeAfter"] == "2026-12-02T00:00:30+00:00" and waiting["progress"]["deferred"] == 2
    assert waiting["executionArn"] == execution["executionArn"] and waiting["engine"] == "stepfunctions"
    # Every line accounted for, each meeting created once, and the files users know.
    files = results(stack, job)
    assert set(files) == {"summary.json", "rows.csv", "retry.csv", "lti-import-001.csv", "removal.csv"}
    rows = table(files["rows.csv"])
    assert [r["status"] for r in rows] == ["created"] * 6 + ["rejected"]
    summary = json.loads(files["summary.json"])
    assert (summary["total_rows"], summary["created"], summary["rejected"], summary["deferred"]) == (7, 6, 1, 0)
    assert files["lti-import-001.csv"].splitlines()[0] == IMPORT_HEADER
    imported = table(files["lti-import-001.csv"])
    assert sorted(r["Meeting ID"] for r in imported) == sorted(r["meeting_id"] for r in rows[:6])
    assert files["removal.csv"] == files["lti-import-001.csv"]
    assert [len(stack.zoom.meetings(ACCOUNT, h)) for h in hosts] == [3, 3]
    creates = Counter(r["path"] for r in stack.zoom.api_requests if r["method"] == "POST" and r["status"] == 201)
    assert sum(creates.values()) == 6
    assert stack.keys("processed/provision/") == ["processed/provision/fall-2027.csv"]
    for secret in stack.zoom.issued_secrets():
        assert all(secret not in text for text in files.values())


def test_a_redelivered_event_starts_nothing_twice(stack, sfn, hosts):
    etag = stack.put_file("provision/twice.csv", course_meetings(hosts[:1], 2))
    version = stack.client("s3").head_object(Bucket=BUCKET, Key="provision/twice.csv")["VersionId"]
    event = load_event("s3_object_created.json")
    event["Records"][0]["s3"]["object"].update(key="provision/twice.csv", eTag=etag, versionId=version, sequencer="0C")
    record = {"messageId": "m-2", "receiptHandle": "r-2", "body": json.dumps(event), "attributes": {}}
    record |= {"messageAttributes": {}, "md5OfBody": "", "eventSource": "aws:sqs", "awsRegion": "us-east-1"}
    record["eventSourceARN"] = "arn:aws:sqs:us-east-1:123456789012:q"
    stack.client("sqs").purge_queue(QueueUrl=stack.queue_url)  # the bucket's own notification: delivered below
    intake = load_handler("disassociate")
    for _ in range(2):
        assert intake.handler({"Records": [record]}, LambdaContext()) == {"batchItemFailures": []}
    ddb = stack.client("dynamodb")
    for item in ddb.scan(TableName="zoomops-local-idempotency")["Items"]:  # expired before the redelivery
        ddb.delete_item(TableName="zoomops-local-idempotency", Key={"id": item["id"]})
    assert intake.handler({"Records": [record]}, LambdaContext()) == {"batchItemFailures": []}
    stack.wait_workflows(timeout=60)

    [execution] = executions(stack)
    [job] = provision_jobs(stack)
    assert execution["name"] == job["job_id"] and job["state"] == "succeeded"
    assert len(stack.zoom.meetings(ACCOUNT, hosts[0])) == 2


def test_a_part_that_dies_after_its_creates_is_retried_and_creates_nothing_twice(stack, sfn, hosts):
    died: list[int] = []

    def dies_once_after_its_work(handler):
        def step(event, context):
            answer = handler(event, context)
            if event.get("step") == "part" and not died:
                died.append(event["part"])
                raise RuntimeError("the worker died before answering")
            return answer

        return step

    sfn.wrap(STEPS, dies_once_after_its_work)
    stack.put_file("provision/retried.csv", course_meetings(hosts, 2))
    stack.dispatch(load_handler("disassociate").handler)
    stack.wait_workflows(timeout=120)

    [job] = provision_jobs(stack)
    assert died and job["state"] == "succeeded", job
    rows = table(results(stack, job)["rows.csv"])
    assert all(r["meeting_id"] for r in rows) and {r["status"] for r in rows} == {"created"}  # by this job
    assert job["created"] == 4 and json.loads(results(stack, job)["summary.json"])["unchanged"] == 0
    assert [len(stack.zoom.meetings(ACCOUNT, h)) for h in hosts] == [2, 2]  # the retry found them in the ledger


def test_web_meeting_and_luminus_files_run_on_the_same_machine(stack, sfn, clock):
    stack.webmeeting.reset()
    stack.luminus.reset()
    wm = "Host,Organizer First Name,Organizer Last Name,Topic,Start,Timezone,Duration\n"
    wm += "ada.lovelace@uni.example.edu,Ada,Lovelace,Analytical Engines,2027-01-12 10:00,Europe/Zurich,60\n"
    wm += "ada.lovelace@uni.example.edu,Ada,Lovelace,Notes on the Engine,2027-01-14 10:00,Europe/Zurich,60\n"
    module = "c0a80121-7ac0-4e1c-8a3e-2f6b1d9e4a55"
    lu = "Host,Topic,Start,Timezone,Duration,Module ID\n"
    lu += f"lecturer@nus.edu.sg,CS1010 Lecture 1,2027-01-11 10:00,Asia/Singapore,90,{module}\n"
    lu += f"lecturer@nus.edu.sg,CS1010 Tutorial,2027-01-12 10:00,Asia/Singapore,50,{module}\n"
    stack.put_file("provision/webmeeting/spring.csv", wm.encode())
    stack.put_file("provision/luminus/spring.csv", lu.encode())
    stack.dispatch(load_handler("disassociate").handler)
    stack.wait_workflows(timeout=120)

    jobs = {job["file"] + ":" + job["options"]["provider"]: job for job in provision_jobs(stack)}
    web, nus = jobs["spring.csv:webmeeting"], jobs["spring.csv:luminus"]
    assert web["state"] == "succeeded" and web["created"] == 2, web
    assert len(stack.webmeeting.meetings()) == 2 and len(stack.webmeeting.accounts()) == 1  # one organizer, made once
    web_files = results(stack, web)
    assert "lti-import-001.csv" not in web_files  # LTI Pro holds Zoom meetings only
    # LumiNUS: the 50-minute row is refused by the document's schema (steps of 15), never rounded.
    assert nus["state"] == "succeeded" and (nus["created"], nus["rejected"]) == (1, 1), nus
    nus_rows = table(results(stack, nus)["rows.csv"])
    assert "Duration" in nus_rows[1]["reason"] and len(stack.luminus.meetings) == 1
    shown = [*web_files.values(), *results(stack, nus).values()]
    issued = [o["icsToken"] for o in stack.webmeeting.organizers()] + [
        m["icsToken"] for m in stack.webmeeting.meetings()
    ]
    for meeting in stack.luminus.meetings:  # passcodes (also in join URLs) and host keys
        issued += [meeting["meetingPassword"], meeting["hostKey"], meeting["joinUrl"].split("pwd=", 1)[1]]
    for secret in issued:
        assert all(secret not in text for text in shown)


def test_platform_drops_again_call_nothing_and_a_corrected_row_is_updated_or_reported(stack, sfn):
    stack.webmeeting.reset()
    stack.luminus.reset()
    intake = load_handler("disassociate").handler
    wm = "Host,Organizer First Name,Organizer Last Name,Topic,Start,Timezone,Duration\n"
    wm_rows = [
        "grace.hopper@uni.example.edu,Grace,Hopper,COBOL workshop,2027-02-02 10:00,Europe/Zurich,60",
        "grace.hopper@uni.example.edu,Grace,Hopper,Compilers,2027-02-04 10:00,Europe/Zurich,60",
    ]
    module = "c0a80121-7ac0-4e1c-8a3e-2f6b1d9e4a55"
    lu = "Host,Topic,Start,Timezone,Duration,Module ID\n"
    lu_row = f"lecturer@nus.edu.sg,CS2030 Lecture,2027-02-01 10:00,Asia/Singapore,{{}},{module}"

    def drop(name: str, web: list[str], nus: str) -> dict[str, dict]:
        before = {job["job_id"] for job in provision_jobs(stack)}
        stack.put_file(f"provision/webmeeting/{name}", (wm + "\n".join(web) + "\n").encode())
        stack.put_file(f"provision/luminus/{name}", (lu + nus + "\n").encode())
        stack.dispatch(intake)
        stack.wait_workflows(timeout=120)
        new = [job for job in provision_jobs(stack) if job["job_id"] not in before]
        return {job["options"]["provider"]: job for job in new}

    def statuses(job: dict) -> list[str]:
        return [r["status"] for r in table(results(stack, job)["rows.csv"])]

    first = drop("spring.csv", wm_rows, lu_row.format(90))
    assert statuses(first["webmeeting"]) == ["created"] * 2 and statuses(first["luminus"]) == ["created"]
    calls = (len(stack.webmeeting.received), len(stack.luminus.received))

    again = drop("spring-again.csv", wm_rows, lu_row.format(90))
    assert statuses(again["webmeeting"]) == ["unchanged"] * 2 and statuses(again["luminus"]) == ["unchanged"]
    assert (len(stack.webmeeting.received), len(stack.luminus.received)) == calls  # nothing called at all

    fixed = drop("spring-fixed.csv", [wm_rows[0], wm_rows[1].replace("10:00", "14:00")], lu_row.format(105))
    assert statuses(fixed["webmeeting"]) == ["unchanged", "updated"]
    writes = [(r["method"], r["path"]) for r in stack.webmeeting.received[calls[0] :]]
    assert len(writes) == 1 and writes[0][0] == "PUT" and writes[0][1].endswith("/false")
    assert statuses(fixed["luminus"]) == ["failed"] and fixed["luminus"]["state"] == "partially_failed"
    reason = table(results(stack, fixed["luminus"])["rows.csv"])[0]["reason"]
    assert reason.startswith("needs a manual change: LumiNUS cannot update a meeting through its API")
    assert len(stack.luminus.received) == calls[1] and len(stack.luminus.meetings) == 1  # never added twice


def test_a_platforms_4xx_and_5xx_are_row_reasons_and_a_lost_create_is_retried_by_metadata(stack, sfn):
    stack.webmeeting.reset()
    refused = {"responseCode": -4, "responseMessage": "Data not valid: room is locked", "data": None}
    stack.webmeeting.add_faults(
        WebMeetingFault(status=400, endpoint="create_meeting", body=refused),
        WebMeetingFault(status=503, endpoint="create_meeting"),
    )
    wm = "Host,Organizer First Name,Topic,Start,Timezone,Duration\n" + "".join(
        f"ada.faults@uni.example.edu,Ada,Lecture {n},2027-03-0{n} 09:00,Europe/Zurich,60\n" for n in (1, 2, 3)
    )
    intake = load_handler("disassociate").handler
    stack.put_file("provision/webmeeting/faults.csv", wm.encode())
    stack.dispatch(intake)
    stack.wait_workflows(timeout=120)
    [job] = provision_jobs(stack)
    files = results(stack, job)
    rows = table(files["rows.csv"])
    assert job["state"] == "partially_failed" and sorted(r["status"] for r in rows) == ["created", "failed", "failed"]
    reasons = " | ".join(r["reason"] for r in rows)
    assert "(HTTP 400) (responseCode -4): Data not valid: room is locked" in reasons and "HTTP 503" in reasons
    assert len(table(files["retry.csv"])) == 2 and len(stack.webmeeting.meetings()) == 1

    # Dropped again: the refused row is created; the lost one waits until the admin says retry-lost.
    stack.put_file("provision/webmeeting/faults-retry.csv", files["retry.csv"].encode())
    stack.dispatch(intake)
    stack.wait_workflows(timeout=120)
    second = next(j for j in provision_jobs(stack) if j["file"] == "faults-retry.csv")
    lost = next(r for r in table(results(stack, second)["rows.csv"]) if r["status"] == "failed")
    assert "object metadata retry-lost=true" in lost["reason"]
    stack.put_file(
        "provision/webmeeting/faults-lost.csv", results(stack, second)["retry.csv"].encode(), {"retry-lost": "true"}
    )
    stack.dispatch(intake)
    stack.wait_workflows(timeout=120)
    third = next(j for j in provision_jobs(stack) if j["file"] == "faults-lost.csv")
    assert third["state"] == "succeeded" and third["created"] == 1, table(results(stack, third)["rows.csv"])
    assert sorted(m["topic"] for m in stack.webmeeting.meetings()) == ["Lecture 1", "Lecture 2", "Lecture 3"]


def test_an_api_job_is_planned_confirmed_and_downloaded_over_http(stack, sfn, hosts):
    stop = threading.Event()
    intake = load_handler("disassociate").handler

    def event_source() -> None:  # what Lambda's SQS event source mapping does
        while not stop.is_set():
            stack.dispatch(intake, timeout=5)
            stop.wait(0.1)

    thread = threading.Thread(target=event_source, daemon=True)
    thread.start()
    try:
        with LocalApi(stack.load_api().handler) as api:
            created = requests.post(
                f"{api.base_url}/provision-jobs", json={"fileName": "spring.csv", "dryRun": True}, timeout=10
            )
            assert created.status_code == 201, created.text
            upload = created.json()["upload"]
            body = course_meetings(hosts, 2)
            put = requests.put(upload["url"], data=body, headers=upload["headers"], timeout=10)
            assert put.status_code == 200
            planned = poll(f"{api.base_url}/provision-jobs/{created.json()['jobId']}")
            assert planned["state"] == "succeeded" and planned["dryRun"] and planned["progress"]["planned"] == 4
            assert "requests.jsonl" in planned["results"] and stack.zoom.meetings(ACCOUNT, hosts[0]) == []

            confirmed = requests.post(f"{api.base_url}/provision-jobs/{planned['jobId']}/confirm", timeout=10)
            assert confirmed.status_code == 201, confirmed.text
            done = poll(f"{api.base_url}/provision-jobs/{confirmed.json()['jobId']}")
            assert done["state"] == "succeeded" and done["progress"]["created"] == 4, done
            assert done["origin"] == f"confirms {planned['jobId']}" and done["engine"] == "stepfunctions"
            downloads = {name: requests.get(url, timeout=10) for name, url in done["results"].items()}
            assert {"lti-import-001.csv", "removal.csv", "rows.csv", "summary.json"} <= set(downloads)
            assert downloads["lti-import-001.csv"].text.splitlines()[0] == IMPORT_HEADER
            assert len(table(downloads["removal.csv"].text)) == 4
            again = requests.post(f"{api.base_url}/provision-jobs/{planned['jobId']}/confirm", timeout=10)
            assert again.status_code == 201  # a second confirmation is a second run: it creates nothing
            assert poll(f"{api.base_url}/provision-jobs/{again.json()['jobId']}")["progress"]["unchanged"] == 4
    finally:
        stop.set()
        thread.join(15)
    assert sum(len(stack.zoom.meetings(ACCOUNT, h)) for h in hosts) == 4


# ---- helpers --------------------------------------------------------------------------------------------
def api_get(module, path: str) -> dict:
    event = load_event("apigw_http_v2.json")
    route = "GET /provision-jobs/{job_id}"
    event.update(routeKey=route, rawPath=path, pathParameters={"job_id": path.rsplit("/", 1)[1]}, body=None)
    event["requestContext"].update(routeKey=route)
    event["requestContext"]["http"].update(method="GET", path=path)
    event["headers"].pop("content-type", None)
    event["headers"]["content-length"] = "0"
    answer = module.handler(event, LambdaContext(function_name=LOCAL.function("api"), timeout_seconds=29))
    assert answer["statusCode"] == 200, answer
    return json.loads(answer["body"])


def poll(url: str, timeout: float = 60.0) -> dict:
    deadline, job = time.monotonic() + timeout, None
    while time.monotonic() < deadline:
        answer = requests.get(url, timeout=10)
        assert answer.status_code == 200, answer.text
        job = answer.json()
        if job["state"] in TERMINAL:
            return job
        time.sleep(0.1)
    raise AssertionError(f"job did not finish in {timeout}s: {job}")
