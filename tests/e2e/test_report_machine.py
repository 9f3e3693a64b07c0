"""Reports on the report state machine, end to end in the local stack: a job posted to the api function starts the
machine (an execution named by the job id), whose own ASL runs in moto with every Task answered by
functions/report_steps, against the Zoom simulator, all on one fast clock (the simulators, the steps, the Wait
state, and the token refresher's schedule).

Zoom's daily cap stops the job; it waits until the reset the job recorded (visible in the job while it waits),
goes on with only what was left, and fetches no instance twice. Without a cap, the machine writes the very run
files one invocation of the report function writes.
"""

from __future__ import annotations

import copy
import json
import threading
from collections import Counter
from datetime import UTC, datetime

import pytest

from infra.local.stack import BUCKET, JOBS_TABLE, MACHINE_ARNS, MANIFEST_TABLE, LambdaContext, LocalStack, load_handler
from infra.local.stepfunctions import FastClock
from infra.local.zoom_sim import DEMO_UUIDS
from tests.conftest import load_event
from zoomops.aws.jobstore import JobStore
from zoomops.names import LOCAL
from zoomops.zoom.client import quote_uuid
from zoomops.zoom.reports.jobs import describe_report_job

SEPT_20 = datetime(2024, 9, 20, 12, tzinfo=UTC)  # after every demo meeting of the Zoom simulator
LECTURE, OFFICE = "81234567890", "82345678901"  # 3 and 2 past instances
STEPS = LOCAL.function("report_steps")
EVENT = load_event("apigw_http_v2.json")


@pytest.fixture
def clock() -> FastClock:
    return FastClock(SEPT_20)


@pytest.fixture
def sfn(stack: LocalStack, clock: FastClock, monkeypatch):
    """The state machines on the fast clock; business-plan rates on both sides (the same behaviour, less waiting)."""
    monkeypatch.setenv("ZOOMOPS_ZOOM_PLAN", "business")  # read by the steps' cold start
    limits = dict(stack.zoom.limits)
    stack.zoom.limits.update(light=80.0, medium=60.0, heavy=40.0)
    yield stack.workflows(clock)
    stack.close_workflows()
    stack.zoom.limits.update(limits)
    stack.zoom.daily_limit = None


def api(stack: LocalStack, module, method: str, path: str, body=None) -> tuple[int, dict]:
    event = copy.deepcopy(EVENT)
    route = "POST /report-jobs" if method == "POST" else "GET /report-jobs/{job_id}"
    params = None if method == "POST" else {"job_id": path.rsplit("/", 1)[1]}
    text = None if body is None else json.dumps(body)
    event.update(routeKey=route, rawPath=path, pathParameters=params, body=text)
    event["requestContext"].update(routeKey=route)
    event["requestContext"]["http"].update(method=method, path=path)
    event["headers"]["content-length"] = str(len(text or ""))
    if text is None:
        event["headers"].pop("content-type")
    answer = module.handler(event, LambdaContext(function_name=LOCAL.function("api"), timeout_seconds=29))
    return answer["statusCode"], json.loads(answer["body"])


def participant_fetches(stack: LocalStack) -> Counter:
    """Answered (200) requests for an instance's participants, by path."""
    return Counter(r["path"] for r in stack.zoom.api_requests if r["category"] == "heavy" and r["status"] == 200)


def test_a_report_meets_the_daily_cap_waits_for_the_reset_and_fetches_nothing_twice(stack, sfn, clock):
    stack.zoom.daily_limit = 2  # heavy requests a day: the five instances take three days
    module = stack.load_api()
    seen_waiting: list[dict] = []
    lock = threading.Lock()

    def observed(handler):
        def step(event, context):
            if event.get("step") == "meeting" and int(event["round"]) >= 1:
                with lock:  # what anyone following the job saw while it waited
                    if not seen_waiting:
                        store = JobStore(JOBS_TABLE, stack.client("dynamodb"))
                        record = describe_report_job(store, event["job_id"], workflow_fields=True)
                        answer = api(stack, module, "GET", f"/report-jobs/{event['job_id']}")
                        seen_waiting.append({"record": record, "api": answer})
            return handler(event, context)

        return step

    sfn.wrap(STEPS, observed)
    status, created = api(stack, module, "POST", "/report-jobs", {"meetingIds": [LECTURE, OFFICE]})
    assert status == 201
    job_id = created["jobId"]
    stack.wait_workflows(timeout=120)

    [execution] = stack.client("stepfunctions").list_executions(stateMachineArn=MACHINE_ARNS["report"])["executions"]
    assert execution["name"] == job_id and execution["status"] == "SUCCEEDED"
    status, job = api(stack, module, "GET", f"/report-jobs/{job_id}")
    assert status == 200 and job["state"] == "succeeded", job
    assert (job["progress"]["instances"], job["progress"]["instances_written"], job["progress"]["failed"]) == (5, 5, 0)
    assert (job["stopped"], job["resumeAfter"]) == (None, None)
    # It waited for Zoom's reset (00:00 UTC), twice, on the fast clock.
    midnight = datetime(2024, 9, 21, tzinfo=UTC)
    assert sum(1 for w in clock.waits if w > 3600) >= 2 and clock.now() > midnight
    # While it waited, the job said so, and when it would go on.
    [waiting] = seen_waiting
    record = waiting["record"]
    assert (record["engine"], record["step"], record["stopped"]) == ("stepfunctions", "waiting", "daily-limit")
    assert record["executionArn"] == execution["executionArn"]
    assert datetime.fromisoformat(record["resumeAfter"]) == midnight
    assert waiting["api"][1]["state"] == "running" and waiting["api"][1]["resumeAfter"] == record["resumeAfter"]
    assert (waiting["api"][1]["engine"], waiting["api"][1]["step"]) == ("stepfunctions", "waiting")
    # Nothing fetched twice: each instance's participants answered once, each file written once. The one
    # exception is the report of the single-participant instance, which Zoom answers empty (its participant
    # comes from the dashboard): asked again until the dashboard answered, after a reset.
    fetched = participant_fetches(stack)
    single = f"/v2/report/meetings/{quote_uuid(DEMO_UUIDS['single_participant'])}/participants"
    assert fetched and {path for path, count in fetched.items() if count > 1} <= {single}
    versions = stack.client("s3").list_object_versions(Bucket=BUCKET, Prefix="reports/participants/")["Versions"]
    assert len(versions) == len({v["Key"] for v in versions}) == 10
    summary = json.loads(stack.read(job["results"][len(f"s3://{BUCKET}/") :] + "summary.json"))
    assert (summary["instances"], summary["instances_written"], summary["skipped_done"]) == (5, 5, 0)
    assert summary["stopped"] is None and summary["failed"] == []
    assert stack.keys(f"work/{job_id}/") == []  # the merged parts (attendance) are not kept


def test_without_a_cap_the_machine_writes_the_files_one_invocation_writes(stack, sfn, clock, monkeypatch):
    inline = load_handler("participant_report")
    inline.runtime.use(clock=clock)
    load_handler("token_refresh").handler(load_event("eventbridge_scheduled.json"), LambdaContext())
    one = inline.handler({"meeting_ids": [LECTURE, OFFICE]}, LambdaContext(timeout_seconds=900))
    assert one["stopped"] is None and one["instances_written"] == 5
    ddb = stack.client("dynamodb")
    for item in ddb.scan(TableName=MANIFEST_TABLE)["Items"]:  # forget what was done: fetch it all again
        ddb.delete_item(TableName=MANIFEST_TABLE, Key={"key": item["key"]})

    module = stack.load_api()
    status, created = api(stack, module, "POST", "/report-jobs", {"meetingIds": [LECTURE, OFFICE]})
    stack.wait_workflows(timeout=60)
    status, job = api(stack, module, "GET", f"/report-jobs/{created['jobId']}")
    assert job["state"] == "succeeded", job

    inline_run, machine_run = f"reports/runs/{one['run_id']}/", job["results"][len(f"s3://{BUCKET}/") :]
    for name in ("attendance.csv", "instances.csv"):
        assert stack.read(machine_run + name) == stack.read(inline_run + name), name
    summaries = [json.loads(stack.read(run + "summary.json")) for run in (inline_run, machine_run)]
    varying = ("run_id", "started_at", "finished_at")
    same = [{k: v for k, v in s.items() if k not in varying} for s in summaries]
    assert same[1] == same[0], {k: (same[0][k], same[1][k]) for k in same[0] if same[0][k] != same[1][k]}


def test_a_request_zoom_refuses_ends_the_job_with_the_reason(stack, sfn):
    module = stack.load_api()
    load_handler("token_refresh").handler(load_event("eventbridge_scheduled.json"), LambdaContext())
    status, created = api(stack, module, "POST", "/report-jobs", {"users": ["nobody@elsewhere.example.com"]})
    stack.wait_workflows(timeout=30)
    status, job = api(stack, module, "GET", f"/report-jobs/{created['jobId']}")
    assert job["state"] == "rejected" and "nobody@elsewhere.example.com" in job["refused"], job
    assert job["timings"]["finished_at"]


def test_a_repeated_start_starts_nothing_twice(stack, sfn):
    """Started twice (the route retried by a client, before the first execution got going): one execution."""
    release = threading.Event()

    def held(handler):
        def step(event, context):
            if event.get("step") == "plan":
                release.wait(10)
            return handler(event, context)

        return step

    sfn.wrap(STEPS, held)
    load_handler("token_refresh").handler(load_event("eventbridge_scheduled.json"), LambdaContext())
    module = stack.load_api()
    status, created = api(stack, module, "POST", "/report-jobs", {"meetingIds": [OFFICE]})
    job_id = created["jobId"]
    runtime = module.runtime.get()
    document = {"meeting_ids": [OFFICE], "job_id": job_id}
    arns = {runtime.start("report", job_id, document) for _ in range(3)}  # as the route does, again and again
    release.set()
    stack.wait_workflows(timeout=30)
    executions = stack.client("stepfunctions").list_executions(stateMachineArn=MACHINE_ARNS["report"])["executions"]
    assert [e["name"] for e in executions] == [job_id] and arns == {executions[0]["executionArn"]}
    assert stack.job(job_id)["state"] == "succeeded"


def test_a_child_that_died_before_writing_its_part_is_retried_and_loses_no_row(stack, sfn, clock):
    """The instances were written (and marked done) but the child died before its part: the retry, the same
    run, fetches them again instead of skipping them, so attendance.csv has every row."""
    died: list[str] = []

    def dies_after_marking_done(handler):
        def step(event, context):
            answer = handler(event, context)
            if event.get("step") == "meeting" and not died:
                died.append(event["meeting_id"])
                key = f"work/{event['job_id']}/parts/{event['round']}/{event['meeting_id']}.json"
                stack.client("s3").delete_object(Bucket=BUCKET, Key=key)  # as if never written
                raise RuntimeError("the container died before writing its part")
            return answer

        return step

    sfn.wrap(STEPS, dies_after_marking_done)
    load_handler("token_refresh").handler(load_event("eventbridge_scheduled.json"), LambdaContext())
    module = stack.load_api()
    status, created = api(stack, module, "POST", "/report-jobs", {"meetingIds": [LECTURE, OFFICE]})
    stack.wait_workflows(timeout=120)
    status, job = api(stack, module, "GET", f"/report-jobs/{created['jobId']}")
    assert died and job["state"] == "succeeded", job
    attendance = stack.read(job["results"][len(f"s3://{BUCKET}/") :] + "attendance.csv").decode()
    meetings = Counter(line.split(",", 1)[0] for line in attendance.splitlines()[1:])
    assert meetings[died[0]] > 0 and set(meetings) == {LECTURE, OFFICE}
    summary = json.loads(stack.read(job["results"][len(f"s3://{BUCKET}/") :] + "summary.json"))
    assert (summary["instances_written"], summary["skipped_done"]) == (5, 0)
