"""Removal on the removal state machine, end to end in the local stack: a CSV dropped in the bucket, the SQS
event delivered to the intake function (its real handler), which runs a small file itself and hands a large
one to the machine; the machine's own ASL runs in moto, every Task answered by functions/removal_steps.

The machine's outputs are compared with the one-invocation path's, file by file; a child killed after LTI Pro
accepted its batch is retried and sends nothing twice; a redelivered event starts nothing twice.
"""

from __future__ import annotations

import json
from collections import Counter

import pytest

from infra.local.lti_sim import Fault
from infra.local.stack import BUCKET, JOBS_TABLE, MACHINE_ARNS, LambdaContext, LocalStack, load_handler
from infra.local.stepfunctions import FastClock
from tests.conftest import load_event
from tests.testkit import HEADER
from zoomops.names import LOCAL

STEPS = LOCAL.function("removal_steps")
TIMES = ("started_at", "finished_at", "run_id")  # what differs between two runs of the same file


def removal_csv(rows: int, *, start: int = 81_000_000_000) -> bytes:
    """An import CSV of ``rows`` lines: valid rows, and every so often a rejected one (a bad meeting id) or a
    duplicate of an earlier line, so batches interleave with rows of their own outcome."""
    lines = [HEADER]
    for i in range(rows):
        if i % 997 == 500:
            lines.append(f"12ab,ctx-{i // 20},https://canvas.example.edu,{1000 + i // 20}")
        elif i % 1009 == 700:
            j = i - 300
            lines.append(f"{start + j},ctx-{j // 20},https://canvas.example.edu,{1000 + j // 20}")
        else:
            lines.append(f"{start + i},ctx-{i // 20},https://canvas.example.edu,{1000 + i // 20}")
    return ("\n".join(lines) + "\n").encode()


@pytest.fixture
def clock() -> FastClock:
    return FastClock()


@pytest.fixture
def sfn(stack: LocalStack, clock: FastClock):
    """The template's state machines in the local stack, on a fast clock (retries and pacing take no time)."""
    yield stack.workflows(clock)
    stack.close_workflows()


def intake(monkeypatch, inline_max_bytes: int | None = None):
    """A cold intake (disassociate) function; ``inline_max_bytes``: its ZOOMOPS_INLINE_MAX_BYTES."""
    if inline_max_bytes is not None:
        monkeypatch.setenv("ZOOMOPS_INLINE_MAX_BYTES", str(inline_max_bytes))
    return load_handler("disassociate")


def jobs(stack: LocalStack) -> dict[str, dict]:
    """Job records by file path (batch outcome records and leases left out)."""
    found = {}
    for item in stack.client("dynamodb").scan(TableName=JOBS_TABLE)["Items"]:
        job = stack.job(item["job_id"]["S"])
        if job.get("kind") == "disassociate":
            found[job["source"].split("/", 3)[3]] = job
    return found


def files(stack: LocalStack, job: dict) -> dict[str, bytes]:
    prefix = job["results_prefix"]
    return {key[len(prefix) :]: stack.read(key) for key in stack.keys(prefix)}


def described(stack: LocalStack, job_id: str) -> dict:
    """GET /disassociate-jobs/{id} through the api function, as API Gateway calls it."""
    event = load_event("apigw_http_v2.json")
    path, route = f"/disassociate-jobs/{job_id}", "GET /disassociate-jobs/{job_id}"
    event.update(routeKey=route, rawPath=path, pathParameters={"job_id": job_id}, body=None)
    event["requestContext"].update(routeKey=route)
    event["requestContext"]["http"].update(method="GET", path=path)
    event["headers"].pop("content-type", None)
    event["headers"]["content-length"] = "0"
    answer = stack.load_api().handler(event, LambdaContext(function_name=LOCAL.function("api"), timeout_seconds=29))
    assert answer["statusCode"] == 200, answer
    return json.loads(answer["body"])


def executions(stack: LocalStack) -> list[dict]:
    sfn = stack.client("stepfunctions")
    return sfn.list_executions(stateMachineArn=MACHINE_ARNS["disassociate"])["executions"]


@pytest.mark.slow
def test_200000_rows_on_the_machine_write_the_same_files_as_one_invocation(stack, sfn, monkeypatch):
    data = removal_csv(200_000)
    assert len(data) > 1_048_576  # over the intake function's one-invocation limit
    stack.put_file("incoming/machine/fall.csv", data)
    assert all(r == {"batchItemFailures": []} for r in stack.dispatch(intake(monkeypatch).handler))
    # While the machine runs, the same file in one invocation (a function allowed files of any size).
    stack.put_file("incoming/one/fall.csv", data)
    assert all(r == {"batchItemFailures": []} for r in stack.dispatch(intake(monkeypatch, 100 * 1_048_576).handler))
    stack.wait_workflows(timeout=300)

    one, machine = jobs(stack)["incoming/one/fall.csv"], jobs(stack)["incoming/machine/fall.csv"]
    assert (one["engine"], machine["engine"]) == ("lambda", "stepfunctions")
    assert machine["state"] == "succeeded" and machine["step"] == "done", machine
    assert machine["execution_arn"] == executions(stack)[0]["executionArn"] and len(executions(stack)) == 1
    inline_files, machine_files = files(stack, one), files(stack, machine)
    assert set(machine_files) == set(inline_files) == {"rows.csv", "retry.csv", "summary.json"}
    assert machine_files["rows.csv"] == inline_files["rows.csv"]  # every row, its line, status and reason
    assert machine_files["retry.csv"] == inline_files["retry.csv"]
    summaries = [json.loads(f["summary.json"]) for f in (inline_files, machine_files)]
    assert [{k: v for k, v in s.items() if k not in TIMES} for s in summaries] == [
        {k: v for k, v in summaries[0].items() if k not in TIMES}
    ] * 2
    summary = summaries[1]
    assert summary["total_rows"] == 200_000 and summary["rejected"] > 0 and summary["duplicates"] > 0
    assert summary["sent"] == summary["total_rows"] - summary["rejected"] - summary["duplicates"]
    assert summary["batches"] == summary["requests_sent"] == -(-summary["sent"] // 400)
    # Both runs sent every valid meeting exactly once.
    sent = Counter(item["meetingId"] for item in stack.lti.accepted_items())
    assert set(sent.values()) == {2} and len(sent) == summary["sent"]
    assert sorted(stack.keys("processed/")) == ["processed/machine/fall.csv", "processed/one/fall.csv"]
    # The job record carries the counts the API shows, as the one-invocation job's does.
    assert {k: machine[k] for k in ("total_rows", "sent", "rejected", "duplicates", "failed", "batches")} == {
        k: one[k] for k in ("total_rows", "sent", "rejected", "duplicates", "failed", "batches")
    }


def test_a_small_file_runs_in_one_invocation_and_starts_no_execution(stack, sfn, monkeypatch):
    stack.put_file("incoming/small.csv", removal_csv(50))
    stack.dispatch(intake(monkeypatch).handler)
    (job,) = jobs(stack).values()
    assert (job["engine"], job["state"], job["step"]) == ("lambda", "succeeded", "done")
    assert executions(stack) == [] and len(stack.lti.accepted) == 1
    shown = described(stack, job["job_id"])  # the API says where it ran
    assert (shown["engine"], shown["step"], shown["executionArn"]) == ("lambda", "done", None)


def test_a_child_killed_after_lti_pro_accepted_its_batch_is_retried_and_sends_nothing_twice(stack, sfn, monkeypatch):
    killed: list[int] = []

    def killed_once_after_its_work(handler):
        def child(event, context):
            answer = handler(event, context)  # LTI Pro accepted the batch, its outcome is recorded
            if event.get("step") == "send" and event["item"]["batch"] == 3 and not killed:
                killed.append(3)
                raise RuntimeError("the container died before answering")
            return answer

        return child

    sfn.wrap(STEPS, killed_once_after_its_work)
    stack.put_file("incoming/killed.csv", removal_csv(4000), metadata={"batch-size": "400"})
    stack.dispatch(intake(monkeypatch, 0).handler)
    stack.wait_workflows()

    (job,) = jobs(stack).values()
    assert (job["state"], job["engine"]) == ("succeeded", "stepfunctions"), job
    shown = described(stack, job["job_id"])
    assert (shown["engine"], shown["step"], shown["executionArn"]) == ("stepfunctions", "done", job["execution_arn"])
    sends = [i for i in sfn.invocations if i.function == STEPS and i.event.get("step") == "send"]
    assert [i.error for i in sends if i.event["item"]["batch"] == 3] == ["RuntimeError", None]  # retried
    sent = Counter(item["meetingId"] for item in stack.lti.accepted_items())
    summary = json.loads(files(stack, job)["summary.json"])
    assert max(sent.values()) == 1 and len(sent) == summary["sent"] == job["sent"]
    assert len(stack.lti.accepted) == len(stack.lti.received) == summary["batches"] == summary["requests_sent"]


def test_lti_pros_5xx_is_retried_by_the_state_machine_with_backoff(stack, sfn, clock, monkeypatch):
    stack.lti.add_faults(Fault(status=503), Fault(status=503), Fault(status=503))  # the client tries twice
    stack.put_file("incoming/flaky.csv", removal_csv(300))
    stack.dispatch(intake(monkeypatch, 0).handler)
    stack.wait_workflows()

    (job,) = jobs(stack).values()
    assert job["state"] == "succeeded", job
    sends = [i.error for i in sfn.invocations if i.function == STEPS and i.event.get("step") == "send"]
    assert sends == ["LtiUnavailable", None]  # raised after the client's own two attempts, retried later
    assert 10.0 in clock.waits  # the Retry's first interval, on the fast clock
    summary = json.loads(files(stack, job)["summary.json"])
    assert (summary["sent"], summary["failed"], summary["requests_sent"]) == (300, 0, 4)
    assert len(stack.lti.accepted) == 1


def test_a_batch_that_keeps_failing_is_recorded_failed_for_a_redrive(stack, sfn, clock, monkeypatch):
    stack.lti.add_faults(*[Fault(status=503) for _ in range(20)])  # more than every retry
    stack.put_file("incoming/down.csv", removal_csv(300))
    stack.dispatch(intake(monkeypatch, 0).handler)
    stack.wait_workflows()

    (job,) = jobs(stack).values()
    assert job["state"] == "partially_failed" and job["failed"] == 300, job
    results = files(stack, job)
    assert len(results["retry.csv"].decode().splitlines()) == 301  # the header and every failed row, re-drivable
    rows = results["rows.csv"].decode()
    assert "LtiUnavailable: batch 0: gave up after 2 attempts: HTTP 503" in rows
    assert stack.keys("processed/") == ["processed/down.csv"]


def test_a_redelivered_event_starts_nothing_twice(stack, sfn, monkeypatch):
    """On AWS the event names the version; its idempotency record may have expired by a redelivery."""
    etag = stack.put_file("incoming/twice.csv", removal_csv(900))
    version = stack.client("s3").head_object(Bucket=BUCKET, Key="incoming/twice.csv")["VersionId"]
    event = load_event("s3_object_created.json")
    event["Records"][0]["s3"]["object"].update(key="incoming/twice.csv", eTag=etag, versionId=version, sequencer="0B")
    record = {
        "messageId": "m-1",
        "receiptHandle": "r-1",
        "body": json.dumps(event),
        "attributes": {},
        "messageAttributes": {},
        "md5OfBody": "",
        "eventSource": "aws:sqs",
        "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:q",
        "awsRegion": "us-east-1",
    }
    handler = intake(monkeypatch, 0)
    assert handler.handler({"Records": [record]}, LambdaContext()) == {"batchItemFailures": []}
    assert handler.handler({"Records": [record]}, LambdaContext()) == {"batchItemFailures": []}  # idempotency record
    ddb = stack.client("dynamodb")
    for item in ddb.scan(TableName="zoomops-local-idempotency")["Items"]:  # expired
        ddb.delete_item(TableName="zoomops-local-idempotency", Key={"id": item["id"]})
    assert handler.handler({"Records": [record]}, LambdaContext()) == {"batchItemFailures": []}
    stack.wait_workflows()

    assert len(executions(stack)) == 1
    (job,) = jobs(stack).values()
    assert job["state"] == "succeeded" and job["execution_arn"] == executions(stack)[0]["executionArn"]
    assert executions(stack)[0]["name"] == job["job_id"]  # named by the job: a second start is the first one
    assert Counter(i["meetingId"] for i in stack.lti.accepted_items()).most_common(1)[0][1] == 1


def test_a_delivery_while_the_file_is_being_processed_is_acknowledged_not_requeued(stack, monkeypatch):
    import zoomops.aws.s3job as s3job

    stack.put_file("incoming/busy.csv", removal_csv(20))
    event, _ = stack.receive_events()
    if not json.loads(event["Records"][0]["body"]).get("Records"):  # moto's s3:TestEvent
        event, _ = stack.receive_events()
    handler, inner = intake(monkeypatch), []
    real = s3job.process_object

    def process_while_redelivered(*args, **kwargs):
        inner.append(handler.handler(event, LambdaContext()))  # the same message arrives again meanwhile
        return real(*args, **kwargs)

    handler.runtime.use(process_object=process_while_redelivered)
    assert handler.handler(event, LambdaContext()) == {"batchItemFailures": []}
    assert inner == [{"batchItemFailures": []}]  # acknowledged: no error, no alarm, no DLQ
    visible = stack.client("sqs").receive_message(QueueUrl=stack.queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=1)
    # Nothing put back: at most the original message, visible again once its (1 s) visibility timeout ran out.
    assert sum("busy.csv" in m["Body"] for m in visible.get("Messages", [])) <= 1
    assert len(stack.lti.accepted) == 1 and stack.dlq_messages() == 0
