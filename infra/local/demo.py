"""``make demo``: the course-meeting lifecycle end to end on the embedded local stack.

Starts moto's server and the Zoom and LTI Pro simulators on 127.0.0.1; provisions a small semester with
``zoomops provision``, imports it, re-runs it (nothing changes) and removes it with its removal file
(``demo_provision``). Then bulk disassociate from the bucket: drops a sample CSV
(valid rows, bad rows, a duplicate) into ``incoming/``, lets the dispatcher
deliver the bucket event to the handler as AWS would, prints the summary, where
the results are and what LTI Pro received; then does the same as a dry run. Then the
Zoom side: the token refresher stores a token per account and a consumer uses it;
and finally both kinds of job are submitted and followed over the local HTTP API.
"""

from __future__ import annotations

import csv
import io
import json
import os
import sys
import warnings
from pathlib import Path

import requests
from aws_lambda_powertools.utilities.parameters import SecretsProvider

from zoomops.aws.secrets import SecretTokenSource
from zoomops.names import LOCAL
from zoomops.zoom.client import ZoomClient

from . import demo_provision
from .api_adapter import LocalApi
from .stack import BUCKET, ROOT, ZOOM_SECRET_PREFIX, LambdaContext, LocalStack, load_handler

SAMPLE = Path(__file__).parent / "samples" / "fall-2026-meetings.csv"
SCHEDULED_EVENT = ROOT / "tests" / "events" / "eventbridge_scheduled.json"
DEMO_MEETING = 81234567890  # the recurring lecture the Zoom simulator's demo data holds


def _print_rows(rows_csv: bytes) -> None:
    for row in csv.DictReader(io.StringIO(rows_csv.decode())):
        reason = f"  {row['reason']}" if row["reason"] else ""
        print(f"    line {row['line']:>2}  {row['status']:<9} {row['meeting_id']:<14}{reason}")


def main() -> int:
    # Keep the demo's output readable: no EMF metric lines, no warning about the s3:TestEvent.
    os.environ.setdefault("POWERTOOLS_METRICS_DISABLED", "true")
    warnings.filterwarnings("ignore", "No application metrics to publish")
    body = SAMPLE.read_bytes()
    with LocalStack(lti_key="demo-lti-key", lti_secret="demo-lti-secret") as stack:
        print(f"local AWS (moto) at {stack.endpoint}; LTI Pro simulator at {stack.lti.base_url}")
        provisioned = demo_provision.semester(stack) and demo_provision.platforms(stack)
        handler = load_handler("disassociate").handler
        calls, items = len(stack.lti.accepted), len(stack.lti.accepted_items())  # the removal above made some

        print(f"\n3. bulk disassociate: drop {SAMPLE.name} into s3://{BUCKET}/incoming/")
        stack.put_file(f"incoming/{SAMPLE.name}", body)
        stack.dispatch(handler)
        results = stack.results(SAMPLE.name)
        summary = json.loads(results["summary.json"])
        print(
            f"   summary: {summary['total_rows']} rows, {summary['sent']} sent, {summary['rejected']} rejected, "
            f"{summary['duplicates']} duplicate, {summary['failed']} failed, {summary['batches']} batch(es), "
            f"encoding {summary['encoding']}"
        )
        _print_rows(results["rows.csv"])
        prefix = f"results/{SAMPLE.name}/{summary['run_id']}/"
        print(f"   results: s3://{BUCKET}/{prefix}{{{','.join(sorted(results))}}}")
        print(f"   source moved to: {', '.join(stack.keys('processed/'))}")
        print(
            f"   LTI Pro accepted {len(stack.lti.accepted) - calls} signed call(s) with "
            f"{len(stack.lti.accepted_items()) - items} meeting(s):"
        )
        for item in stack.lti.accepted_items()[items:]:
            print(f"     - meeting {item['meetingId']} from {item['contextId'][:24]} on {item['domain']}")

        print(f"\n4. dry run: drop the same file into s3://{BUCKET}/dryrun/")
        before = len(stack.lti.received)
        stack.put_file(f"dryrun/{SAMPLE.name}", body)
        stack.dispatch(handler)
        dry = stack.results(SAMPLE.name)
        dry_summary = json.loads(dry["summary.json"])
        first = json.loads(dry["requests.jsonl"].decode().splitlines()[0])
        print(
            f"   planned {dry_summary['planned']} meeting(s) in {dry_summary['batches']} request(s); "
            f"LTI Pro received {len(stack.lti.received) - before} request(s)"
        )
        print(f"   requests.jsonl, first request: {first['method']} {first['url']}")
        print(f"     X-Lti-Signature: {first['headers']['X-Lti-Signature']}  body: {len(first['body'])} meeting(s)")

        bulk_ok = (
            summary["sent"] == len(stack.lti.accepted_items()) - items
            and summary["failed"] == 0
            and summary["sent"] + summary["rejected"] + summary["duplicates"] == summary["total_rows"]
            and len(stack.lti.received) == before
        )

        print("\n5. Zoom tokens: the scheduled refresher stores one per account in Secrets Manager")
        refresher = load_handler("token_refresh")
        scheduled = json.loads(SCHEDULED_EVENT.read_text())
        for entry in refresher.handler(scheduled, LambdaContext(function_name=LOCAL.function("token_refresh")))[
            "accounts"
        ]:
            print(
                f"   {entry['account']:<5} {entry['action']:<10} expires in {entry['expires_in_seconds'] // 60} min, "
                f"scope {entry['scope']}"
            )
        again = refresher.handler(scheduled, LambdaContext(function_name=LOCAL.function("token_refresh")))["accounts"]
        print(f"   ten minutes later the schedule runs again: {', '.join(e['action'] for e in again)}")
        oauth_before = sum(stack.zoom.token_requests.values())
        client = ZoomClient(
            SecretTokenSource(
                f"{ZOOM_SECRET_PREFIX}main/token", SecretsProvider(boto3_client=stack.client("secretsmanager"))
            )
        )
        user = client.get("/users/me")
        instances = client.get(f"/past_meetings/{DEMO_MEETING}/instances")["meetings"]
        print(
            f"   a consumer read the token and called Zoom: /users/me -> {user['email']}, "
            f"/past_meetings/{DEMO_MEETING}/instances -> {len(instances)} instances"
        )
        print(f"   OAuth requests made by the consumer: {sum(stack.zoom.token_requests.values()) - oauth_before}")

        print("\n6. the same jobs over the API (a real HTTP server on 127.0.0.1, API Gateway events to the handler)")
        with LocalApi(stack.load_api().handler) as api:
            print(f"   API at {api.base_url}")
            rows = [
                {"meetingId": "813 0000 0001", "contextId": "api-course-1", "domain": "https://canvas.example.edu"},
                {"meetingId": "81300000002", "contextId": "api-course-1", "domain": "https://canvas.example.edu"},
            ]
            created = requests.post(f"{api.base_url}/disassociate-jobs", json={"rows": rows}, timeout=30).json()
            print(f"   POST /disassociate-jobs (2 inline rows) -> {created['jobId']} {created['state']}")
            stack.dispatch(handler)
            job = requests.get(f"{api.base_url}/disassociate-jobs/{created['jobId']}", timeout=30).json()
            rows_csv = requests.get(job["results"]["rows.csv"], timeout=30).text
            print(
                f"   GET /disassociate-jobs/{created['jobId']} -> {job['state']}, sent {job['progress']['sent']}; "
                f"rows.csv link gives {len(rows_csv.splitlines()) - 1} rows"
            )
            report = requests.post(
                f"{api.base_url}/report-jobs", json={"meetingIds": [str(DEMO_MEETING)]}, timeout=30
            ).json()
            stack.wait_background()
            report = requests.get(f"{api.base_url}/report-jobs/{report['jobId']}", timeout=30).json()
            print(
                f"   POST /report-jobs -> {report['jobId']}: {report['state']}, "
                f"{report['progress']['instances_written']} instances, {report['progress']['rows_written']} "
                f"participant rows, results at {report['results']}"
            )
            api_ok = job["state"] == "succeeded" and report["state"] == "succeeded"

        ok = api_ok and bulk_ok and provisioned
        print("\ndemo finished: every row accounted for" if ok else "\ndemo FAILED: counts do not add up")
        return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
