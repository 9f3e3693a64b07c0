"""The provisioning steps (zoomops.provision.steps) called in the order the state machine calls them, against
moto (S3, DynamoDB: the jobs table and the ledger) and the Zoom and LTI Pro simulators. The state machine
itself runs in tests/e2e/test_provision_machine.py; here each step's contract: what plan splits, what a part
does with its rows, what finalize writes."""

from __future__ import annotations

import csv
import io
import json
import time
import uuid
from datetime import datetime

import pytest

from infra.local.stack import BUCKET, JOBS_TABLE, ZOOM_ACCOUNTS, LambdaContext, load_handler
from infra.local.zoom_sim import FakeClock, Fault
from tests.conftest import load_event
from zoomops.aws.jobstore import JobStore
from zoomops.provision import steps
from zoomops.provision.stack import contexts
from zoomops.settings import ProvisionStepsSettings

pytestmark = pytest.mark.integration

LEDGER = "zoomops-local-ledger-steps"
ACCOUNT = ZOOM_ACCOUNTS["main"][0]
HEADER = "Context ID,Domain,custom_canvas_course_id,Host,Topic,Start,Timezone,Duration,Repeat,Until"
DOMAIN = "https://canvas.example.edu"


@pytest.fixture
def hosts(stack):
    tag = uuid.uuid4().hex[:8]
    made = [f"host{n}.{tag}@campus.example.edu" for n in range(3)]
    for email in made:
        stack.zoom.add_user(ACCOUNT, email=email, timezone="America/New_York")
    yield made
    for email in made:
        stack.zoom.remove_user(ACCOUNT, email)


@pytest.fixture
def deps(stack, monkeypatch):
    ddb = stack.client("dynamodb")
    ddb.create_table(
        TableName=LEDGER,
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": n, "AttributeType": "S"} for n in ("pk", "sk")],
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
    )
    load_handler("token_refresh").handler(load_event("eventbridge_scheduled.json"), LambdaContext())
    env = stack.function_env("participant_report")
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    names = {"bucket": BUCKET, "jobs_table": JOBS_TABLE, "ledger_table": LEDGER}
    settings = ProvisionStepsSettings("main", "zoomops/zoom/", **names, lti_base_url=stack.lti.base_url)
    import boto3

    session = boto3.session.Session()
    clock = FakeClock(time.time())  # the steps' idea of now: a test moves it past a wait
    return steps.Deps(stack.client("s3"), JobStore(JOBS_TABLE, ddb), contexts(settings, session, env), clock)


def drop(stack, key: str, text: str, metadata: dict | None = None) -> dict:
    stack.put_file(key, text.encode(), metadata)
    head = stack.client("s3").head_object(Bucket=BUCKET, Key=key)
    version = head.get("VersionId", "")
    return {"job_id": f"pro-{uuid.uuid4().hex[:24]}", "bucket": BUCKET, "key": key, "version": version}


def machine(deps, job: dict, *, between=None) -> tuple[dict, list[dict]]:
    """Plan, every part, collect... until done, then finalize (``between(state)`` runs before each pass's
    parts: a test moves time there). Returns finalize's answer and each pass's plan."""
    state, passes = steps.plan({"job": job}, deps), []
    while not state["done"]:
        passes.append(state)
        assert len(passes) < 10, "the passes never end"
        if between:
            between(state)
        for index in range(state["parts"]):
            steps.part({"step": "part", "job": job, "pass": state["pass"], "part": index}, deps)
        state = steps.plan({"job": job, "pass": state["pass"]}, deps)
    return steps.finalize({"job": job, "pass": state["pass"], "done": True}, deps), passes


def results(stack, job_id: str) -> dict[str, str]:
    record = JobStore(JOBS_TABLE, stack.client("dynamodb")).get(job_id)
    prefix = record["results_prefix"]
    s3 = stack.client("s3")
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET, Prefix=prefix).get("Contents", [])]
    return {k.removeprefix(prefix): s3.get_object(Bucket=BUCKET, Key=k)["Body"].read().decode() for k in keys}


def rows(files: dict[str, str]) -> list[dict]:
    return list(csv.DictReader(io.StringIO(files["rows.csv"])))


def semester(hosts: list[str], n: int) -> str:
    lines = [
        f"ctx-{i},{DOMAIN},{100 + i},{hosts[i % len(hosts)]},Course {i},2024-11-{4 + i % 20:02d} 09:00,"
        f"America/New_York,50,Mon;Wed,2024-12-11"
        for i in range(n)
    ]
    return "\n".join([HEADER, *lines]) + "\n"


def test_a_drop_is_planned_worked_in_parts_and_finished_with_the_files_users_know(stack, deps, hosts):
    job = drop(stack, "provision/fall.csv", semester(hosts, 7) + f"ctx-x,{DOMAIN},,{hosts[0]},Bad,soon,UTC,50,,\n")
    answer, passes = machine(deps, job)
    assert len(passes) == 1 and passes[0]["parts"] == 1  # 7 rows of 3 hosts: one part
    files = results(stack, job["job_id"])
    assert {"rows.csv", "retry.csv", "lti-import-001.csv", "removal.csv", "summary.json"} <= set(files)
    statuses = [r["status"] for r in rows(files)]
    assert statuses == ["created"] * 7 + ["rejected"]
    summary = json.loads(files["summary.json"])
    assert (summary["total_rows"], summary["created"], summary["rejected"]) == (8, 7, 1)
    record = JobStore(JOBS_TABLE, stack.client("dynamodb")).get(job["job_id"])
    assert (record["state"], record["created"], record["kind"]) == ("succeeded", 7, "provision")
    assert stack.keys("processed/provision/") == ["processed/provision/fall.csv"]
    assert sum(len(stack.zoom.meetings(ACCOUNT, h)) for h in hosts) == 7
    for secret in stack.zoom.issued_secrets():
        assert all(secret not in text for text in files.values())


def test_a_second_drop_of_the_same_file_creates_nothing(stack, deps, hosts):
    machine(deps, drop(stack, "provision/fall.csv", semester(hosts, 4)))
    before = len(stack.zoom.api_requests)
    job = drop(stack, "provision/fall.csv", semester(hosts, 4))
    machine(deps, job)
    assert [r["status"] for r in rows(results(stack, job["job_id"]))] == ["unchanged"] * 4
    assert [r for r in stack.zoom.api_requests[before:] if r["method"] == "POST"] == []


def test_rows_past_a_hosts_allowance_wait_for_the_next_pass(stack, deps, hosts):
    def after_the_wait(state: dict) -> None:
        if state.get("wait_until"):  # what the Wait state does; the simulator's day turns over too
            deps.clock.set(datetime.fromisoformat(state["wait_until"]).timestamp())
            stack.zoom.meeting_daily_cap = 100

    stack.zoom.meeting_daily_cap = 2
    try:
        job = drop(stack, "provision/capped.csv", semester(hosts[:1], 3))
        _, passes = machine(deps, job, between=after_the_wait)
    finally:
        stack.zoom.meeting_daily_cap = 100
    assert len(passes) == 2 and passes[1]["wait_until"].endswith("T00:00:30Z")
    assert [r["status"] for r in rows(results(stack, job["job_id"]))] == ["created"] * 3
    assert len(stack.zoom.meetings(ACCOUNT, hosts[0])) == 3


def test_a_dry_run_and_a_refused_file_finish_in_the_plan_step(stack, deps, hosts):
    dry = drop(stack, "provision-dryrun/fall.csv", semester(hosts, 2))
    state = steps.plan({"job": dry}, deps)
    assert state["done"] and [r["status"] for r in rows(results(stack, dry["job_id"]))] == ["planned"] * 2
    assert "requests.jsonl" in results(stack, dry["job_id"])
    refused = drop(stack, "provision/bad.csv", "just,some,columns\n1,2,3\n")
    assert steps.plan({"job": refused}, deps)["done"]
    summary = json.loads(results(stack, refused["job_id"])["summary.json"])
    assert "missing column(s)" in summary["refused"]
    assert stack.keys("rejected/provision/") == ["rejected/provision/bad.csv"]
    bad_meta = drop(stack, "provision/meta.csv", semester(hosts, 1), {"provider": "teams"})
    steps.plan({"job": bad_meta}, deps)
    refusal = json.loads(results(stack, bad_meta["job_id"])["summary.json"])["refused"]
    assert "object metadata provider must be one of" in refusal


def test_parts_keep_a_hosts_rows_together():
    lines = [(n, [], f"h{n % 3}") for n in range(2, 302)]
    parts = steps._parts(lines)
    assert [len(p) for p in parts] == [100, 100, 100]
    assert all(len({host for _, _, host in p}) == 1 for p in parts)


def test_two_runs_of_one_part_at_once_create_each_meeting_once(stack, deps, hosts):
    """A part's step invoked twice at the same time (Step Functions retries a Lambda.SdkClientException while
    the first invocation still runs; a dry run confirmed twice): each row's ``creating`` entry is claimed
    with a condition, so the second run sends nothing for it."""
    import threading

    from zoomops.aws.ledger import DynamoLedger
    from zoomops.provision.ledger import CREATING, Entry

    ledger = DynamoLedger(LEDGER, stack.client("dynamodb"), "zoom:claim-test")
    assert ledger.claim(Entry("k", CREATING, host="h"), None)
    assert not ledger.claim(Entry("k", CREATING, host="h"), None)  # someone else's creating entry
    assert ledger.claim(Entry("k", CREATING, host="h"), CREATING)  # a recovery that saw it

    job = drop(stack, "provision/twice.csv", semester(hosts[:1], 3))
    state = steps.plan({"job": job}, deps)
    stack.zoom.add_faults(*(Fault(delay=0.3, path_contains="/meetings") for _ in range(3)))
    event = {"step": "part", "job": job, "pass": 0, "part": 0, "parts": 1, "concurrency": 1}
    answers: list[dict] = []
    runs = [threading.Thread(target=lambda: answers.append(steps.part(event, deps))) for _ in range(2)]
    for run in runs:
        run.start()
    for run in runs:
        run.join(30)
    assert state["parts"] == 1 and len(answers) == 2
    assert len(stack.zoom.meetings(ACCOUNT, hosts[0])) == 3  # never twice
    assert sum(a.get("created", 0) for a in answers) == 3


def test_a_file_gone_before_its_job_ran_ends_the_job_saying_so(stack, deps, hosts):
    job = drop(stack, "provision/gone.csv", semester(hosts, 1))
    stack.client("s3").delete_object(Bucket=BUCKET, Key="provision/gone.csv", VersionId=job["version"])
    state = steps.plan({"job": job}, deps)
    assert state["done"] and "no longer in the bucket" in state["skipped"]
    record = JobStore(JOBS_TABLE, stack.client("dynamodb")).get(job["job_id"])
    assert record["state"] == "failed" and "no longer in the bucket" in record["refused"] and record["finished_at"]
    answer = steps.finalize({"job": job, "pass": 0, "done": True}, deps)  # what the machine calls next
    assert answer["state"] == "failed"
