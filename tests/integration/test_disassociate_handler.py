"""The disassociate handler through real events: S3 (moto) -> SQS (moto) -> handler -> LTI Pro simulator."""

from __future__ import annotations

import json
import logging

from infra.local.lti_sim import Fault
from infra.local.stack import BUCKET, LambdaContext, LocalStack
from tests.conftest import load_event
from tests.testkit import HEADER, meetings_csv, rows_of


def test_s3_objects_reads_aws_notification_and_skips_test_event(handler):
    refs = handler.s3_objects(json.dumps(load_event("s3_object_created.json")))
    assert refs == [
        {
            "bucket": "zoomops-local-files",
            "key": "incoming/fall 2026/course meetings.csv",
            "etag": "d41d8cd98f00b204e9800998ecf8427e",
            "version": "096fKKXTRTtl3on89fVO.nfljtsv6qko",
            "sequencer": "0055AED6DCD90281E5",
        }
    ]
    assert handler.s3_objects(json.dumps(load_event("s3_test_event.json"))) == []


def test_csv_dropped_in_incoming_is_sent_and_accounted_for(stack: LocalStack, handler):
    body = (
        HEADER
        + "\n123 4567 8901,ctx-a,https://canvas.example.edu/,101\n"
        + "12345,ctx-a,https://canvas.example.edu,101\n"
        + "123-4567-8901,ctx-a,https://canvas.example.edu,101\n"
        + "987654321,ctx-b,https://canvas.example.edu,\n"
    ).encode()
    stack.put_file("incoming/term/fall.csv", body)
    responses = stack.dispatch(handler.handler)
    assert responses and all(r == {"batchItemFailures": []} for r in responses)

    assert stack.lti.accepted_items() == [
        {"meetingId": "12345678901", "contextId": "ctx-a", "domain": "https://canvas.example.edu", "courseId": "101"},
        {"meetingId": "987654321", "contextId": "ctx-b", "domain": "https://canvas.example.edu"},
    ]
    results = stack.results("fall.csv")
    assert set(results) == {"summary.json", "rows.csv", "retry.csv"}
    summary = json.loads(results["summary.json"])
    assert (summary["total_rows"], summary["sent"], summary["rejected"], summary["duplicates"], summary["failed"]) == (
        4,
        2,
        1,
        1,
        0,
    )
    assert [(r["line"], r["status"]) for r in rows_of(results)] == [
        ("2", "sent"),
        ("3", "rejected"),
        ("4", "duplicate"),
        ("5", "sent"),
    ]
    assert rows_of(results)[2]["reason"] == "same meeting, context and domain as line 2"
    assert stack.keys("incoming/") == [] and stack.keys("processed/") == ["processed/term/fall.csv"]
    assert stack.read("processed/term/fall.csv") == body

    job_id = next(iter({k.split("/")[2] for k in stack.keys("results/")}))  # run id folder exists
    assert job_id
    jobs = stack.client("dynamodb").scan(TableName="zoomops-local-jobs")["Items"]
    assert len(jobs) == 1
    job = stack.job(jobs[0]["job_id"]["S"])
    assert job["state"] == "succeeded" and job["sent"] == 2 and job["total_rows"] == 4
    assert job["accepted_batches"] == {0}
    assert job["results_prefix"].startswith("results/fall.csv/")


def test_dry_run_prefix_sends_nothing_and_writes_signed_requests(stack: LocalStack, handler):
    stack.put_file("dryrun/plan.csv", meetings_csv(450))
    stack.dispatch(handler.handler)
    assert stack.lti.received == []
    results = stack.results("plan.csv")
    summary = json.loads(results["summary.json"])
    assert summary["dry_run"] is True and summary["planned"] == 450 and summary["sent"] == 0
    lines = [json.loads(line) for line in results["requests.jsonl"].decode().splitlines()]
    assert [len(entry["body"]) for entry in lines] == [400, 50]
    assert lines[0]["method"] == "PUT" and lines[0]["query"]["key"] == "test-lti-key"
    assert len(lines[0]["headers"]["X-Lti-Signature"]) == 27
    assert b"test-lti-SECRET-value-7f3a" not in b"".join(results.values())
    assert {r["status"] for r in rows_of(results)} == {"planned"}


def test_refused_file_moves_to_rejected_with_reason(stack: LocalStack, handler):
    stack.put_file("incoming/photo.csv", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)))
    stack.dispatch(handler.handler)
    assert stack.keys("rejected/") == ["rejected/photo.csv"]
    summary = json.loads(stack.results("photo.csv")["summary.json"])
    assert summary["refused"].startswith("photo.csv: binary file")
    assert stack.lti.received == []


def test_same_event_delivered_twice_sends_once(stack: LocalStack, handler):
    stack.put_file("incoming/twice.csv", meetings_csv(5))
    event, receipts = stack.receive_events()
    if not json.loads(event["Records"][0]["body"]).get("Records"):  # moto's s3:TestEvent comes first
        event, receipts = stack.receive_events()
    first = handler.handler(event, LambdaContext())
    second = handler.handler(event, LambdaContext())
    assert first == second == {"batchItemFailures": []}
    assert len(stack.lti.accepted) == 1 and len(stack.lti.accepted_items()) == 5


def test_credentials_refused_leave_rows_in_retry_csv(stack: LocalStack, handler):
    stack.lti.add_faults(Fault(status=401))
    body = meetings_csv(3)
    stack.put_file("incoming/auth.csv", body, metadata={"batch-size": "2"})
    stack.dispatch(handler.handler)
    results = stack.results("auth.csv")
    summary = json.loads(results["summary.json"])
    assert (summary["failed"], summary["sent"], summary["batches"]) == (3, 0, 2)
    assert len(stack.lti.received) == 1  # the second batch is not sent after a 401
    assert all("Verify LTI signature failed(2203)." in r["reason"] for r in rows_of(results))
    assert results["retry.csv"].decode().replace("\r\n", "\n") == body.decode()
    job = stack.job(stack.client("dynamodb").scan(TableName="zoomops-local-jobs")["Items"][0]["job_id"]["S"])
    assert job["state"] == "partially_failed"


def test_transient_faults_are_retried_with_fresh_signatures(stack: LocalStack, handler):
    stack.lti.add_faults(Fault(status=503), Fault(status=429, retry_after="1"))
    stack.put_file("incoming/flaky.csv", meetings_csv(3))
    stack.dispatch(handler.handler)
    assert [r["status"] for r in stack.lti.received] == [503, 429, 200]
    stamps = [r["query"]["timestamp"] for r in stack.lti.received]
    signatures = [r["headers"]["x-lti-signature"] for r in stack.lti.received]
    assert len(set(signatures)) == 3 and stamps == sorted(stamps)
    assert json.loads(stack.results("flaky.csv")["summary.json"])["sent"] == 3


def test_admin_user_id_from_object_metadata_uses_admin_body(stack: LocalStack, handler):
    stack.put_file("incoming/admin.csv", meetings_csv(2), metadata={"user-id": "zoom-admin-1"})
    stack.dispatch(handler.handler)
    assert stack.lti.accepted[0]["user_id"] == "zoom-admin-1"


def test_bad_metadata_refuses_the_file_naming_it(stack: LocalStack, handler):
    stack.put_file("incoming/meta.csv", meetings_csv(2), metadata={"batch-size": "401"})
    stack.dispatch(handler.handler)
    summary = json.loads(stack.results("meta.csv")["summary.json"])
    assert "batch-size" in summary["refused"] and "401" in summary["refused"]
    assert stack.keys("rejected/") == ["rejected/meta.csv"]


def test_near_time_limit_the_run_continues_on_the_removal_machine_from_its_checkpoint(stack: LocalStack, handler):
    """Each batch takes 0.4 s and the invocation has 1.5 s: a few batches go out here, then the removal state
    machine takes over from the job's checkpoint (no message goes back on the queue)."""
    stack.workflows()
    stack.lti.add_faults(*[Fault(delay=0.4) for _ in range(10)])
    stack.put_file("incoming/long.csv", meetings_csv(10), metadata={"batch-size": "1"})
    stack.dispatch(handler.handler, context_factory=lambda: LambdaContext(timeout_seconds=1.5), timeout=60)
    stack.wait_workflows()
    items = stack.lti.accepted_items()
    assert sorted(i["meetingId"] for i in items) == [str(81_000_000_000 + i) for i in range(10)]
    summary = json.loads(stack.results("long.csv")["summary.json"])
    assert summary["sent"] == 10 and summary["failed"] == 0 and 0 < summary["resumed_batches"] < 10
    assert stack.keys("processed/") == ["processed/long.csv"]
    assert len(stack.keys("results/long.csv/")) == 3  # one run folder, continued, not restarted
    job_id = next(
        i["job_id"]["S"]
        for i in stack.client("dynamodb").scan(TableName="zoomops-local-jobs")["Items"]
        if "#" not in i["job_id"]["S"]
    )
    job = stack.job(job_id)
    assert (job["engine"], job["state"], job["attempts"]) == ("stepfunctions", "succeeded", 1)
    assert job["handed_over"].startswith("time limit near")
    assert len(stack.lti.received) == 10  # no batch sent twice across the hand-over
    assert stack.queued() == 0 and stack.dlq_messages() == 0


def test_secret_never_logged(stack: LocalStack, handler, caplog, capsys):
    caplog.set_level(logging.DEBUG)
    stack.lti.add_faults(Fault(status=401))
    stack.put_file("incoming/leak.csv", meetings_csv(2))
    stack.dispatch(handler.handler)
    everything = caplog.text + "".join(capsys.readouterr()) + repr(stack.results("leak.csv"))
    assert "test-lti-SECRET-value-7f3a" not in everything


def test_a_file_that_keeps_failing_ends_in_the_dlq(stack: LocalStack, handler):
    stack.client("secretsmanager").delete_secret(SecretId="zoomops-local/lti", ForceDeleteWithoutRecovery=True)
    stack.put_file("incoming/nocreds.csv", meetings_csv(2))
    responses = stack.dispatch(handler.handler, timeout=30)
    errors = [r["error"] for r in responses if "error" in r]
    # AWS delivers maxReceiveCount (3) times; moto moves the message one receive earlier.
    assert 2 <= len(errors) <= 3 and all("All records failed" in e for e in errors)
    assert stack.dlq_messages() == 1, (responses, stack.in_flight())
    assert stack.keys("incoming/") == ["incoming/nocreds.csv"]  # nothing lost: it can be re-driven
    assert stack.lti.received == []


def test_aws_shaped_redelivery_after_the_job_finished_does_nothing(stack: LocalStack, handler):
    """On AWS the event names the object version, which stays readable after the move; once the
    idempotency record has expired, the finished job record is what stops a second run."""
    etag = stack.put_file("incoming/versioned.csv", meetings_csv(3))
    version = stack.client("s3").head_object(Bucket=BUCKET, Key="incoming/versioned.csv")["VersionId"]
    event = load_event("s3_object_created.json")
    obj = event["Records"][0]["s3"]["object"]
    obj.update(key="incoming/versioned.csv", eTag=etag, versionId=version, sequencer="00AA")
    sqs_event = {
        "Records": [
            {
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
        ]
    }
    assert handler.handler(sqs_event, LambdaContext()) == {"batchItemFailures": []}  # first AWS-shaped delivery
    assert len(stack.lti.accepted) == 1
    stack.client("dynamodb").delete_item(  # its idempotency record expires
        TableName="zoomops-local-idempotency",
        Key={"id": stack.client("dynamodb").scan(TableName="zoomops-local-idempotency")["Items"][-1]["id"]},
    )
    assert handler.handler(sqs_event, LambdaContext()) == {"batchItemFailures": []}
    assert len(stack.lti.accepted) == 1, "a finished file is never sent again"
    assert stack.keys("processed/") == ["processed/versioned.csv"]


def test_same_bytes_uploaded_again_is_a_new_job(stack: LocalStack, handler):
    stack.put_file("incoming/again.csv", meetings_csv(2))
    stack.dispatch(handler.handler)
    stack.put_file("incoming/again.csv", meetings_csv(2))
    stack.dispatch(handler.handler)
    assert len(stack.lti.accepted) == 2 and stack.keys("incoming/") == []


def test_folder_placeholder_objects_are_skipped(stack: LocalStack, handler):
    stack.put_file("incoming/fall/", b"")
    stack.dispatch(handler.handler)
    assert stack.keys("results/") == [] and stack.keys("rejected/") == []
