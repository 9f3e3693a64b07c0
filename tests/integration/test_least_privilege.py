"""Least privilege, proved: each function runs its real flows with exactly the policy template.yaml declares.

How (``infra/local/iam.py`` holds the machinery):

* A stack of its own: moto's server in a child process (moto's state and its IAM switch are global to a
  process, so the suite's shared stack must neither see nor feel this one), plus its own LTI Pro and Zoom
  simulators. Its resources are created, then IAM users: ``admin`` (``"*"`` on ``"*"``) for the harness's
  own calls, and one user per function whose inline policy is that function's template ``Policies``
  statements, resolved for the local stack (``!Ref``/``!GetAtt``/``!Sub``/``!If``/``AWS::NoValue``;
  ``AWS::StackName`` = ``zoomops-local``; ``PseudonymiseReports=true``, the larger of the two policies).
  Then moto enforces IAM for every request.
* Every function runs with its own user's keys (no session token) in the environment template.yaml gives
  it, resolved the same way (the variables that name the stack's resources: e.g. the api invokes
  ``zoomops-local-participant-report``, the name the template gives the report function, not the local
  stack's ``zoomops-participant-report``), loaded fresh per function, with the local simulators' URLs for
  the parameters.
* What moto enforces: actions for S3, SQS, DynamoDB and Secrets Manager, resources for S3 and SQS only
  (it grants DynamoDB and Secrets Manager actions only with ``Resource: "*"``, so those statements are
  installed with ``"*"``). The rest is checked here, in Python, on every call each function made: the
  call's IAM action and the ARN AWS authorises it against (the table's; the secret's stored ARN, or the
  ARN of the name as given when the secret does not exist, since AWS has no other; the function's) must
  be allowed by the template's own resolved statements. An S3 404 to a function without s3:ListBucket
  counts as refused (AWS answers such a caller 403 for a missing key).
* Lambda runs no code here: ``lambda:Invoke`` from the api (token refresh) goes through the real client call,
  is recorded and checked like any call, and is answered by running the target function in this process with
  *its* user's keys. Step Functions runs no state machine here either: an entry point's StartExecution (a
  removal handed over, a report job, a report that outgrew its invocation, a provisioning file) is made for
  real and recorded, and its machine's steps are then run as the ASL runs them, each with *its* steps
  function's user and policy (``drive_removal``, ``drive_report``).
* Presigned URLs the api hands out are used as a browser would (``Recorder.send_presigned``): the URL's
  signature and expiry are checked with the signer's key, then the same request is made signed with the
  same keys so moto decides with the api user's policy (moto answers 500 to query-string signatures once
  IAM is on). A URL use counts as the S3 action of its method.

Per function: (a) every flow succeeds (handler results say so) and no call anywhere was denied; (b) every
call was allowed by the template's statements, and every (statement, action, resource) the template grants
was used by some flow: no grant goes unused; (c) enforcement is on: calls the policies do not allow are
refused. Not covered, because function code never makes those calls: what SAM adds by itself (the SQS
poller's receive/delete for the event source, CloudWatch Logs basic execution, X-Ray writes).
"""

from __future__ import annotations

import contextlib
import copy
import csv
import io
import json
import os
import time
from contextlib import contextmanager
from datetime import UTC, datetime
from types import ModuleType
from typing import Any
from urllib.parse import unquote_plus

import boto3
import pytest

from infra.local import iam
from infra.local.lti_sim import Fault as LtiFault
from infra.local.stack import (
    BUCKET,
    JOBS_TABLE,
    LTI_SECRET,
    MANIFEST_TABLE,
    REGION,
    ZOOM_ACCOUNTS,
    ZOOM_SECRET_PREFIX,
    LambdaContext,
    LocalStack,
    load_handler,
)
from tests import testkit
from tests.conftest import load_event
from tests.testkit import HEADER, meetings_csv
from zoomops.names import LOCAL, MACHINES

SCHEDULED = load_event("eventbridge_scheduled.json")
API_EVENT = load_event("apigw_http_v2.json")
SEPT_20 = datetime(2024, 9, 20, 12, tzinfo=UTC).timestamp()  # after every demo meeting
LECTURE, OFFICE, REVIEW = "81234567890", "82345678901", "83456789012"  # the Zoom simulator's demo meetings
# What a function's container needs beyond the template: quicker Zoom rates (both sides), the report window
# over the demo's September 2024 meetings, and one worker, so planning precedes fetching and a scripted time
# limit lands at a known point.
REPORT_ENV = {"ZOOMOPS_ZOOM_PLAN": "business", "ZOOMOPS_REPORT_LOOKBACK_DAYS": "30", "ZOOMOPS_REPORT_WORKERS": "1"}
EXTRA_ENV = {
    "participant_report": REPORT_ENV,
    "report_steps": REPORT_ENV,
    "disassociate": {"ZOOMOPS_INLINE_MAX_BYTES": "1000"},  # larger files go to the removal state machine
}
PASS = json.dumps({"StartAt": "Steps", "States": {"Steps": {"Type": "Pass", "End": True}}})  # run by drive_*
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"
OK = {"batchItemFailures": []}


# ------------------------------------------------------------------ the harness
class Container:
    """One warm Lambda container of a function: its module, loaded and called as its IAM user."""

    def __init__(self, aws: Aws, function: str, env: dict[str, str]):
        self.aws, self.function, self.env = aws, function, env
        with aws.running_as(env):
            self.module: ModuleType = load_handler(function)
        if function in ("participant_report", "report_steps"):
            self.module.runtime.use(clock=lambda: SEPT_20)

    def handler(self, event: dict, context: Any = None) -> Any:
        with self.aws.running_as(self.env):
            return self.module.handler(event, context or self.aws.context(self.function))

    __call__ = handler


class Aws:
    def __init__(self, stack: LocalStack, resolver: iam.Resolver, principals: dict[str, iam.Principal]):
        self.stack, self.resolver, self.principals = stack, resolver, principals
        self.policies = {fn: resolver.statements(logical) for fn, logical in iam.FUNCTIONS.items()}
        self.names = {fn: resolver.resources[logical]["Ref"] for fn, logical in iam.FUNCTIONS.items()}
        self._by_arn = {iam.function_arn(name): fn for fn, name in self.names.items()}
        self.recorder = iam.Recorder({k: v for k, v in principals.items() if k != "admin"}, self._invoke)
        self.pending: list[tuple[str, dict]] = []
        self._warm: dict[str, Container] = {}

    # -- functions
    def env(self, function: str) -> dict[str, str]:
        """The local stack's environment for ``function``, with every variable that names a resource as the
        template resolves it, and ``function``'s own keys."""
        principal = self.principals[function]
        env = {
            **self.stack.function_env(function),
            **self.resolver.environment(iam.FUNCTIONS[function]),
            **EXTRA_ENV.get(function, {}),
            "AWS_ACCESS_KEY_ID": principal.access_key,
            "AWS_SECRET_ACCESS_KEY": principal.secret_key,
            "AWS_LAMBDA_FUNCTION_NAME": self.names[function],
        }
        env.pop("AWS_SESSION_TOKEN", None)
        return env

    @contextmanager
    def running_as(self, env: dict[str, str]):
        """A function's process environment while its code runs (its module reads its settings and builds
        its clients from it)."""
        saved = dict(os.environ)
        os.environ.pop("AWS_SESSION_TOKEN", None)
        os.environ.update(env)
        try:
            yield
        finally:
            os.environ.clear()
            os.environ.update(saved)

    def container(self, function: str) -> Container:
        """A cold container of ``function``."""
        return Container(self, function, self.env(function))

    def warm(self, function: str) -> Container:
        """The container other functions' invocations of ``function`` go to."""
        if function not in self._warm:
            self._warm[function] = self.container(function)
        return self._warm[function]

    def context(self, function: str) -> LambdaContext:
        timeout = self.resolver.function_properties(iam.FUNCTIONS[function]).get("Timeout", 30)
        return LambdaContext(function_name=self.names[function], timeout_seconds=float(timeout))

    # -- Lambda, in process
    def _invoke(self, arn: str, payload: bytes, kind: str) -> bytes | None:
        function = self._by_arn[arn]  # an unknown function fails the call, as on AWS
        event = json.loads(payload or b"{}")
        if kind == "Event":
            self.pending.append((function, event))  # runs after the caller returns (drain)
            return None
        return json.dumps(self.warm(function)(event)).encode()

    def started(self, mark: int, principal: str) -> list[dict]:
        """The inputs of the executions ``principal`` started since ``mark`` (StartExecution, recorded)."""
        return [
            json.loads(c.params["input"])
            for c in self.recorder.since(mark, principal)
            if (c.service, c.operation, c.status) == ("stepfunctions", "StartExecution", 200)
        ]

    def drive_removal(self, document: dict, steps: Container | None = None) -> dict:
        """The removal state machine on ``document``: its steps as the ASL calls them, as removal_steps' user
        (in ``steps``, a container of its own, or the warm one)."""
        steps = steps or self.warm("removal_steps")
        plan = steps({"step": "plan", "job": document, "execution": f"execution:{document['job_id']}"})
        if plan["to_send"]:
            for item in json.loads(self.stack.read(plan["items_key"])):
                send = {"step": "send", "item": item, **{k: plan[k] for k in ("job_id", "user_id", "batches_key")}}
                assert steps(send) == {}
        keys = ("job_id", "bucket", "key", "version", "items_key")
        return steps({"step": "finalize", **{k: plan[k] for k in keys}})

    def drive_report(self, document: dict, steps: Container | None = None) -> dict:
        """The report state machine on ``document``: its steps as the ASL calls them, as report_steps' user."""
        steps = steps or self.warm("report_steps")
        state = steps({"step": "plan", "job": document, "execution": f"execution:{document['job_id']}"})
        if state["ended"]:
            return state
        child = ("job_id", "run_id", "account", "since", "until", "round")
        for meeting_id in json.loads(self.stack.read(state["items_key"])) if state["to_fetch"] else []:
            assert steps({"step": "meeting", "meeting_id": meeting_id, **{k: state[k] for k in child}}) == {}
        state = steps({**state, "step": "tally"})
        assert state["left"] == 0  # no daily limit here (the machine would wait, then fetch again)
        return steps({**state, "step": "finalize"})

    def drive_provision(self, document: dict, steps: Container | None = None) -> dict:
        """The provisioning state machine on ``document``: plan, each part, plan again (no waits here), until
        done, then finalize, as provision_steps' user."""
        steps = steps or self.warm("provision_steps")
        state = steps({"step": "plan", "job": document})
        while not state["done"]:
            assert state["wait_until"] is None  # no host allowance spent here (the machine would wait)
            for item in json.loads(self.stack.read(state["items_key"])):
                part = {"step": "part", "job": document, "pass": state["pass"], "parts": state["parts"]}
                assert steps({**part, "concurrency": 8, "part": item["part"]})["part"] == item["part"]
            state = steps({"step": "plan", "job": document, "pass": state["pass"]})
        return steps({"step": "finalize", "job": document, "pass": state["pass"], "done": True})

    def drain(self) -> list[tuple[str, Any]]:
        """Run the asynchronous invocations made so far (and those they make), in order."""
        done = []
        while self.pending:
            function, event = self.pending.pop(0)
            done.append((function, self.warm(function)(event)))
        return done

    # -- what the harness does as admin
    def reset_tokens(self) -> None:
        """Token secrets as a new deployment has them: main's declared and empty ({}), sub's not there."""
        sm = self.stack.client("secretsmanager")
        sm.put_secret_value(SecretId=f"{ZOOM_SECRET_PREFIX}main/token", SecretString="{}")
        with contextlib.suppress(sm.exceptions.ResourceNotFoundException):
            sm.delete_secret(SecretId=f"{ZOOM_SECRET_PREFIX}sub/token", ForceDeleteWithoutRecovery=True)

    def empty_table(self, table: str, key: str) -> None:
        ddb = self.stack.client("dynamodb")
        for item in ddb.scan(TableName=table)["Items"]:
            ddb.delete_item(TableName=table, Key={key: item[key]})

    def discard_notifications(self, *keys: str) -> None:
        """Delete the bucket's notifications of these uploads from the queue (not for the disassociate
        function here); anything else received meanwhile is made visible again."""
        sqs, left = self.stack.client("sqs"), set(keys)
        for _ in range(50):
            if not left:
                return
            for message in sqs.receive_message(
                QueueUrl=self.stack.queue_url, MaxNumberOfMessages=10, VisibilityTimeout=30
            ).get("Messages", []):
                named = {key for key in left if key in unquote_plus(message["Body"])}
                if named:
                    left -= named
                    sqs.delete_message(QueueUrl=self.stack.queue_url, ReceiptHandle=message["ReceiptHandle"])
                else:
                    sqs.change_message_visibility(
                        QueueUrl=self.stack.queue_url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0
                    )
        raise AssertionError(f"no notification of {sorted(left)} in the queue")

    def client(self, function: str, service: str):
        """A client with ``function``'s keys (for the refusals)."""
        principal = self.principals[function]
        return boto3.client(
            service,
            endpoint_url=self.stack.endpoint,
            region_name=REGION,
            aws_access_key_id=principal.access_key,
            aws_secret_access_key=principal.secret_key,
        )

    # -- the verdict
    def assert_least_privilege(self, function: str, mark: int) -> None:
        """(a) nothing denied since ``mark``; (b) each of ``function``'s calls allowed by its template
        statements, and each grant of those statements used by one of them."""
        calls = self.recorder.since(mark)
        assert not iam.denied(calls), "\n".join(str(c) for c in iam.denied(calls))
        statements = self.policies[function]
        mine = [c for c in calls if c.principal == function]
        assert mine, f"{function} made no AWS call"
        unmapped = [str(c) for c in mine if any(a.startswith("?") for a, _ in c.actions)]
        assert not unmapped, unmapped
        used, unauthorised = set(), []
        for call in mine:
            for action, arn in call.actions:
                allowed = iam.authorising(statements, action, arn)
                if not allowed:
                    unauthorised.append(f"{action} on {arn} ({call})")
                used.update(allowed)
            if (
                call.service == "s3"
                and call.status == 404
                and not iam.authorising(statements, "s3:ListBucket", iam.s3_arn(call.params["Bucket"]))
            ):
                unauthorised.append(f"{call}: without s3:ListBucket, AWS answers a missing key with 403")
        assert not unauthorised, "not allowed by the template:\n" + "\n".join(unauthorised)
        assert not self.pending, f"invocations never run: {self.pending}"
        unused = iam.grants(statements) - used
        assert not unused, "granted by the template, used by no flow:\n" + "\n".join(
            f"{sid}: {action} on {resource}" for sid, action, resource in sorted(unused)
        )


@pytest.fixture(scope="module")
def aws():
    patch = pytest.MonkeyPatch()
    stack = LocalStack(
        lti_key="lp-lti-key", lti_secret="lp-lti-SECRET-5e1d", visibility_timeout=1, moto_server=iam.MotoSubprocess
    )
    stack.start()
    try:
        template = iam.load_template()
        pseudonym = stack.client("secretsmanager").create_secret(
            Name=iam.PSEUDONYM_SECRET, SecretString="least-privilege-pseudonym-key-0123456789"
        )["ARN"]
        resolver = iam.Resolver(
            template,
            iam.local_resources(stack, template, pseudonym_secret_arn=pseudonym),
            parameters={"PseudonymiseReports": "true"},
        )
        policies = {fn: iam.moto_statements(resolver.statements(logical)) for fn, logical in iam.FUNCTIONS.items()}
        principals = iam.create_users(stack.client("iam"), policies)
        stack.use_credentials(principals["admin"].access_key, principals["admin"].secret_key)
        for kind, _ in MACHINES.values():  # there to be started; their steps are run by Aws.drive_*
            role = f"arn:aws:iam::{iam.ACCOUNT}:role/{kind}"
            stack.client("stepfunctions").create_state_machine(
                name=LOCAL.state_machine(kind), definition=PASS, roleArn=role
            )
        iam.enable_enforcement(stack.endpoint)
        harness = Aws(stack, resolver, principals)
        harness.recorder.install(patch)
        stack.zoom.limits.update(light=80.0, medium=60.0, heavy=40.0)  # business-plan rates, as EXTRA_ENV
        yield harness
    finally:
        patch.undo()
        stack.stop()


def jobs(stack: LocalStack) -> list[dict]:
    return [stack.job(item["job_id"]["S"]) for item in stack.client("dynamodb").scan(TableName=JOBS_TABLE)["Items"]]


def summary_of(stack: LocalStack, name: str) -> dict:
    return json.loads(stack.results(name)["summary.json"])


def aws_shaped(key: str, etag: str, version: str, sequencer: str) -> dict:
    """The SQS event AWS delivers for an upload to the versioned bucket (moto's carries no version)."""
    record = {
        "eventVersion": "2.1",
        "eventSource": "aws:s3",
        "awsRegion": REGION,
        "eventName": "ObjectCreated:Put",
        "s3": {
            "bucket": {"name": BUCKET},
            "object": {"key": key, "eTag": etag, "versionId": version, "sequencer": sequencer},
        },
    }
    return {
        "Records": [
            {
                "messageId": f"m-{sequencer}",
                "receiptHandle": f"r-{sequencer}",
                "body": json.dumps({"Records": [record]}),
                "attributes": {},
                "messageAttributes": {},
                "md5OfBody": "",
                "eventSource": "aws:sqs",
                "awsRegion": REGION,
                "eventSourceARN": f"arn:aws:sqs:{REGION}:{iam.ACCOUNT}:queue",
            }
        ]
    }


# ------------------------------------------------------------------ disassociate
def test_disassociate_runs_every_flow_on_exactly_its_template_policy(aws: Aws):
    stack, mark = aws.stack, aws.recorder.mark()
    fn = aws.container("disassociate")

    def dispatch(**kwargs) -> list[dict]:
        return stack.dispatch(fn.handler, context_factory=lambda: aws.context("disassociate"), **kwargs)

    # A real CSV: S3 -> SQS -> handler -> LTI Pro; a dry run; a file refused as a whole.
    stack.put_file("incoming/lp/fall.csv", meetings_csv(3, 81_500_000_000))
    stack.put_file("dryrun/lp/plan.csv", meetings_csv(3, 81_500_000_100))
    stack.put_file("incoming/lp/photo.csv", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)))
    responses = dispatch()
    assert responses and all(r == OK for r in responses), responses
    assert summary_of(stack, "fall.csv")["sent"] == 3
    assert summary_of(stack, "plan.csv")["planned"] == 3 and summary_of(stack, "plan.csv")["dry_run"] is True
    assert summary_of(stack, "photo.csv")["refused"].startswith("photo.csv: binary file")
    assert {"processed/lp/fall.csv", "processed/lp/plan.csv", "rejected/lp/photo.csv"} <= set(stack.keys())

    # Near the time limit: stops between batches and hands the job to the removal state machine
    # (states:StartExecution, named by the job id), which resumes from the checkpoint.
    def runs_out_after_two_batches() -> LambdaContext:
        context, start = aws.context("disassociate"), len(stack.lti.received)
        context.get_remaining_time_in_millis = lambda: 100_000 if len(stack.lti.received) - start < 2 else 1_000
        return context

    stack.put_file("incoming/lp/long.csv", meetings_csv(5, 81_500_000_200), metadata={"batch-size": "1"})
    assert all(r == OK for r in stack.dispatch(fn.handler, context_factory=runs_out_after_two_batches))
    [handed] = aws.started(mark, "disassociate")
    assert handed["key"] == "incoming/lp/long.csv" and aws.drive_removal(handed)["state"] == "succeeded"
    long = summary_of(stack, "long.csv")
    assert (long["sent"], long["failed"], long["batches"], long["resumed_batches"]) == (5, 0, 5, 2)
    long_job = next(job for job in jobs(stack) if job.get("file") == "long.csv")
    assert (long_job["attempts"], long_job["state"], long_job["engine"]) == (1, "succeeded", "stepfunctions")

    # A provisioning file starts the provisioning state machine.
    stack.put_file("provision/lp/courses.csv", b"Context ID,Domain,Host,Topic\n")
    assert all(r == OK for r in dispatch())
    assert aws.started(mark, "disassociate")[-1]["key"] == "provision/lp/courses.csv"

    # A misconfigured LTI secret fails the invocation, which releases the file's idempotency record
    # (DeleteItem): once the secret is fixed, the redelivery runs it.
    sm = stack.client("secretsmanager")
    good = sm.get_secret_value(SecretId=LTI_SECRET)["SecretString"]
    sm.put_secret_value(SecretId=LTI_SECRET, SecretString="not json")
    stack.put_file("incoming/lp/broken.csv", meetings_csv(2, 81_500_000_500))
    event, receipts = stack.receive_events()
    while event["Records"] and "broken.csv" not in event["Records"][0]["body"]:
        event, receipts = stack.receive_events()
    from aws_lambda_powertools.utilities.batch.exceptions import BatchProcessingError

    with pytest.raises(BatchProcessingError):  # the one record failed: SQS redelivers it
        aws.container("disassociate")(event)  # a cold container reads the secret now
    sm.put_secret_value(SecretId=LTI_SECRET, SecretString=good)
    assert aws.container("disassociate")(event) == OK
    for receipt in receipts.values():
        stack.client("sqs").delete_message(QueueUrl=stack.queue_url, ReceiptHandle=receipt)
    assert summary_of(stack, "broken.csv")["sent"] == 2

    # The same event delivered twice: the second answer comes from the idempotency record.
    stack.put_file("incoming/lp/twice.csv", meetings_csv(2, 81_500_000_300))
    event, receipts = stack.receive_events()
    while event["Records"] and "twice.csv" not in event["Records"][0]["body"]:
        event, receipts = stack.receive_events()
    before = len(stack.lti.accepted)
    assert fn(event) == fn(event) == OK
    assert len(stack.lti.accepted) == before + 1
    for receipt in receipts.values():
        stack.client("sqs").delete_message(QueueUrl=stack.queue_url, ReceiptHandle=receipt)

    # AWS-shaped events name the object version: s3:GetObjectVersion, and the copy reads that version.
    shaped = []
    for n, key in enumerate(("incoming/lp/versioned.csv", "dryrun/lp/versioned-plan.csv")):
        etag = stack.put_file(key, meetings_csv(2, 81_500_000_400 + 10 * n))
        version = stack.client("s3").head_object(Bucket=BUCKET, Key=key)["VersionId"]
        shaped.append(aws_shaped(key, etag, version, f"00LP{n}"))
    aws.discard_notifications("incoming/lp/versioned.csv", "dryrun/lp/versioned-plan.csv")  # moto's, version-less
    assert [fn(event) for event in shaped] == [OK, OK]
    assert summary_of(stack, "versioned.csv")["sent"] == 2 and summary_of(stack, "versioned-plan.csv")["planned"] == 2
    assert {"processed/lp/versioned.csv", "processed/lp/versioned-plan.csv"} <= set(stack.keys("processed/"))
    assert stack.dlq_messages() == 0

    aws.assert_least_privilege("disassociate", mark)


# ------------------------------------------------------------------ token_refresh
def test_token_refresh_runs_every_flow_on_exactly_its_template_policy(aws: Aws):
    stack, mark = aws.stack, aws.recorder.mark()
    aws.reset_tokens()
    fn = aws.container("token_refresh")

    def actions(answer: dict) -> dict[str, str]:
        return {entry["account"]: entry["action"] for entry in answer["accounts"]}

    # The first tokens: main's into its declared secret, sub's into a secret the refresher creates.
    assert actions(fn(SCHEDULED)) == {"main": "refreshed", "sub": "refreshed"}
    assert actions(fn(SCHEDULED)) == {"main": "fresh", "sub": "fresh"}
    now = time.time()
    fn.module.runtime.use(clock=lambda: now + 2000)  # less than the margin left: a new version of each secret
    assert actions(fn(SCHEDULED)) == {"main": "refreshed", "sub": "refreshed"}
    # Another refresher holds main's lease: main is left to it, sub is refreshed.
    later = now + 4000
    stack.client("dynamodb").put_item(
        TableName=JOBS_TABLE,
        Item={
            "job_id": {"S": "token-refresh#main"},
            "owner": {"S": "another-refresher"},
            "lease_until": {"N": str(int(later + 60))},
            "expiration": {"N": str(int(later + 3600))},
        },
    )
    fn.module.runtime.use(clock=lambda: later)
    assert actions(fn(SCHEDULED)) == {"main": "locked", "sub": "refreshed"}
    stack.client("dynamodb").delete_item(TableName=JOBS_TABLE, Key={"job_id": {"S": "token-refresh#main"}})
    assert all(stack.zoom_token(name)["access_token"] for name in ZOOM_ACCOUNTS)

    aws.assert_least_privilege("token_refresh", mark)


# ------------------------------------------------------------------ participant_report
def runs_out_after(aws: Aws, medium_calls: int) -> LambdaContext:
    """A context whose time is up once this invocation has made ``medium_calls`` medium-category Zoom calls."""
    return testkit.runs_out_after(aws.stack.zoom, medium_calls, aws.context("participant_report"))


def test_participant_report_runs_every_flow_on_exactly_its_template_policy(aws: Aws):
    stack = aws.stack
    aws.warm("token_refresh")(SCHEDULED)  # the tokens it reads (the refresher's calls are its own)
    aws.empty_table(MANIFEST_TABLE, "key")
    mark = aws.recorder.mark()
    fn = aws.container("participant_report")
    assert fn.env["ZOOMOPS_PSEUDONYM_SECRET_ID"].startswith("arn:aws:secretsmanager:")

    # A request (with the job id the api gives it) that runs out of time: it hands the meetings left to the
    # report state machine (states:StartExecution; it never invokes itself), which finishes the job.
    job_id = "rep-0123456789abcdef01234567"
    stack.client("dynamodb").put_item(
        TableName=JOBS_TABLE, Item={"job_id": {"S": job_id}, "kind": {"S": "report"}, "state": {"S": "queued"}}
    )
    first = fn({"meeting_ids": [LECTURE, OFFICE], "job_id": job_id}, runs_out_after(aws, 8))
    assert first["stopped"] == "time-limit" and first["failed"] == []
    [handed] = aws.started(mark, "participant_report")
    assert handed["job_id"] == job_id and aws.drive_report(handed)["state"] == "succeeded"
    job = stack.job(job_id)
    assert job["state"] == "succeeded" and first["instances_written"] + job["instances_written"] == 5

    # The schedule (on a fresh manifest: it fetches and marks every instance itself); then the meetings of an
    # import CSV wherever it may be read from.
    aws.empty_table(MANIFEST_TABLE, "key")
    scheduled = fn(SCHEDULED)
    assert (scheduled["meetings"], scheduled["instances"], scheduled["failed"]) == (2, 5, [])
    csv_body = (
        f"{HEADER}\n{LECTURE},ctx-1,https://lms.example.edu,1\n{REVIEW},ctx-2,https://lms.example.edu,2\n".encode()
    )
    for key in ("incoming/lp-report/courses.csv", "processed/lp-report/courses.csv", "reports/requests/courses.csv"):
        stack.put_file(key, csv_body)
        answer = fn({"csv": f"s3://{BUCKET}/{key}"})
        assert answer.get("refused") is None and (answer["meetings"], answer["failed"]) == (2, []), answer
    aws.discard_notifications("incoming/lp-report/courses.csv")  # not for the disassociate function here

    written = stack.keys("reports/participants/")
    assert len(written) == 10
    assert b"Ada Lovelace" not in stack.read(written[0]) and b"@campus.example.edu" not in stack.read(written[0])
    assert len(stack.keys(f"reports/runs/{scheduled['run_id']}/")) == 3

    aws.assert_least_privilege("participant_report", mark)


# ------------------------------------------------------------------ the state machines' steps
def test_removal_steps_run_every_flow_on_exactly_their_template_policy(aws: Aws):
    stack, mark = aws.stack, aws.recorder.mark()
    intake = aws.container("disassociate")
    # Files over the one-invocation limit, handed over whole: one sent in batches, one refused as a whole.
    stack.put_file("incoming/lp-steps/big.csv", meetings_csv(30, 81_800_000_000), metadata={"batch-size": "10"})
    stack.put_file("incoming/lp-steps/big-photo.csv", PNG + bytes(range(256)) * 8)
    assert all(r == OK for r in stack.dispatch(intake.handler, context_factory=lambda: aws.context("disassociate")))
    handed = {document["key"]: document for document in aws.started(mark, "disassociate")}
    assert set(handed) == {"incoming/lp-steps/big.csv", "incoming/lp-steps/big-photo.csv"}
    steps = aws.container("removal_steps")  # cold: it reads the LTI secret itself
    assert aws.drive_removal(handed["incoming/lp-steps/big.csv"], steps)["state"] == "succeeded"
    assert aws.drive_removal(handed["incoming/lp-steps/big-photo.csv"], steps)["state"] == "rejected"
    assert summary_of(stack, "big.csv")["sent"] == 30 and summary_of(stack, "big.csv")["batches"] == 3
    assert "rejected/lp-steps/big-photo.csv" in stack.keys("rejected/")
    # A child's Catch for a batch decided already changes nothing; an execution's Catch ends its job.
    big = handed["incoming/lp-steps/big.csv"]["job_id"]
    error = {
        "Error": "LtiUnavailable",
        "Cause": json.dumps({"errorMessage": "HTTP 503", "errorType": "LtiUnavailable"}),
    }
    assert steps({"step": "batch_failed", "job_id": big, "item": {"batch": 0, "rows": 10}, "error": error}) == {}
    assert stack.job(big)["failed"] == 0
    failed = steps({"step": "abandon", "job": {"job_id": "dis-00000000000000000000abcd"}, "error": error})
    assert failed["state"] == "failed" and stack.job("dis-00000000000000000000abcd")["state"] == "failed"

    aws.assert_least_privilege("removal_steps", mark)


def test_report_steps_run_every_flow_on_exactly_their_template_policy(aws: Aws):
    stack = aws.stack
    aws.warm("token_refresh")(SCHEDULED)  # the tokens it reads (the refresher's calls are its own)
    aws.empty_table(MANIFEST_TABLE, "key")
    mark = aws.recorder.mark()
    assert aws.container("report_steps").env["ZOOMOPS_PSEUDONYM_SECRET_ID"].startswith("arn:aws:secretsmanager:")
    csv_body = f"{HEADER}\n{LECTURE},ctx-1,https://lms.example.edu,1\n".encode()
    requests = [{"meeting_ids": [OFFICE]}]
    for key in ("incoming/lp-steps/courses.csv", "processed/lp-steps/courses.csv", "reports/requests/lp/import.csv"):
        stack.put_file(key, csv_body)
        requests.append({"csv": f"s3://{BUCKET}/{key}"})
    aws.discard_notifications("incoming/lp-steps/courses.csv")  # not for the disassociate function here
    steps = aws.container("report_steps")  # cold: it reads the secrets itself
    for n, request in enumerate(requests):
        job_id = f"rep-{n:024d}"
        stack.client("dynamodb").put_item(
            TableName=JOBS_TABLE, Item={"job_id": {"S": job_id}, "kind": {"S": "report"}, "state": {"S": "queued"}}
        )
        assert aws.drive_report({**request, "job_id": job_id}, steps)["state"] == "succeeded", request
        assert stack.job(job_id)["state"] == "succeeded"
    assert len(stack.keys("reports/participants/")) == 10
    # A request the rules refuse ends the job at its plan; a child that failed for good leaves a part.
    refused = aws.drive_report({"meeting_ids": "not a list", "job_id": "rep-00000000000000000000000f"}, steps)
    assert refused["ended"] and stack.job("rep-00000000000000000000000f")["state"] == "rejected"
    error = {
        "Error": "TokenUnavailable",
        "Cause": json.dumps({"errorMessage": "no token", "errorType": "TokenUnavailable"}),
    }
    assert (
        steps(
            {
                "step": "meeting_failed",
                "job_id": "rep-00000000000000000000000f",
                "round": 0,
                "meeting_id": "1",
                "error": error,
            }
        )
        == {}
    )
    assert (
        steps({"step": "abandon", "job": {"job_id": "rep-00000000000000000000000f"}, "error": error})["state"]
        == "failed"
    )

    aws.assert_least_privilege("report_steps", mark)


def test_provision_steps_run_every_flow_on_exactly_their_template_policy(aws: Aws):
    stack, mark = aws.stack, aws.recorder.mark()
    host = "prof.lp@campus.example.edu"
    stack.zoom.add_user(ZOOM_ACCOUNTS["main"][0], email=host, timezone="America/New_York")
    aws.warm("token_refresh")(SCHEDULED)  # the token it reads (the refresher's calls are its own)
    header = "Context ID,Domain,custom_canvas_course_id,Host,Topic,Start,Timezone,Duration"
    zoom = f"{header}\nctx-lp,https://canvas.example.edu,7,{host},Lab,2027-02-01 09:00,America/New_York,50\n"
    wm = "Host,Organizer First Name,Topic,Start,Timezone,Duration\n"
    wm += "ada.lp@uni.example.edu,Ada,Seminar,2027-02-02 10:00,Europe/Zurich,60\n"
    lu = "Host,Topic,Start,Timezone,Duration,Module ID\n"
    lu += "lecturer@nus.edu.sg,CS1010,2027-02-03 10:00,Asia/Singapore,90,c0a80121-7ac0-4e1c-8a3e-2f6b1d9e4a55\n"
    files = {  # key: (text, the event names its version, object metadata)
        "provision/lp-steps/zoom.csv": (zoom, True, {}),  # created, associated by import files
        "provision/lp-steps/api.csv": (zoom.replace("ctx-lp", "ctx-api"), False, {"associate": "api"}),
        "provision/webmeeting/lp-steps/wm.csv": (wm, True, {}),  # an organizer's account, then its meeting
        "provision/luminus/lp-steps/lu.csv": (lu, False, {}),
        "provision-dryrun/lp-steps/plan.csv": (zoom, True, {}),  # planned in the plan step
        "provision-dryrun/lp-steps/again.csv": (zoom, False, {}),
        "provision/lp-steps/photo.csv": (PNG.decode("latin-1"), True, {}),  # refused as a whole
    }
    for key, (text, _, metadata) in files.items():
        stack.put_file(key, text.encode("latin-1"), metadata)
    aws.discard_notifications(*files)  # documents made here as the intake function makes them
    steps = aws.container("provision_steps")  # cold: it reads the secrets itself
    for n, (key, (_, versioned, _)) in enumerate(files.items()):
        version = stack.client("s3").head_object(Bucket=BUCKET, Key=key)["VersionId"] if versioned else ""
        document = {"job_id": f"pro-{n:024d}", "bucket": BUCKET, "key": key, "version": version, "dry_run": False}
        aws.drive_provision(document, steps)
    states = {key: stack.job(f"pro-{n:024d}")["state"] for n, key in enumerate(files)}
    assert states == dict.fromkeys(files, "succeeded") | {"provision/lp-steps/photo.csv": "rejected"}, states
    assert stack.keys("rejected/provision/") == ["rejected/provision/lp-steps/photo.csv"]
    assert [i["contextId"] for i in stack.lti.imported_items()] == ["ctx-api"]  # LTI Pro's import API
    # A part that failed for good after writing its outcomes keeps them; the execution's Catch ends a job.
    zoom_job = {"job_id": "pro-000000000000000000000000", "bucket": BUCKET, "key": "provision/lp-steps/zoom.csv"}
    error = {"Error": "ZoomError", "Cause": json.dumps({"errorMessage": "HTTP 503", "errorType": "ZoomError"})}
    kept = steps({"step": "part_failed", "job": zoom_job, "pass": 0, "part": 0, "error": error})
    assert kept == {"part": 0, "kept": "its outcomes"}
    state = {"job": {**zoom_job, "job_id": "pro-00000000000000000000dead"}}
    assert steps({"step": "abandon", "state": state, "error": error})["state"] == "failed"
    assert stack.job("pro-00000000000000000000dead")["state"] == "failed"

    aws.assert_least_privilege("provision_steps", mark)


# ------------------------------------------------------------------ api
class Api:
    """The api function behind API Gateway: HTTP API payload v2 events, as the IAM authoriser passes them."""

    ROUTES = ("/disassociate-jobs/{job_id}", "/report-jobs/{job_id}", "/provision-jobs/{job_id}")

    def __init__(self, aws: Aws):
        self.container = aws.container("api")

    def __call__(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        event = copy.deepcopy(API_EVENT)
        route, params = path, None
        for template in self.ROUTES:
            prefix = template.split("{")[0]
            if path.startswith(prefix) and "/" not in path[len(prefix) :]:
                route, params = template, {"job_id": path[len(prefix) :]}
        text = None if body is None else json.dumps(body)
        path, _, query = path.partition("?")
        if query:
            pairs = dict(pair.split("=", 1) for pair in query.split("&"))
            event.update(rawQueryString=query, queryStringParameters=pairs)
        event.update(routeKey=f"{method} {route}", rawPath=path, pathParameters=params, body=text)
        event["requestContext"].update(routeKey=f"{method} {route}")
        event["requestContext"]["http"].update(method=method, path=path)
        event["headers"]["content-length"] = str(len(text or ""))
        if text is None:
            del event["headers"]["content-type"]
        response = self.container(event)
        return response["statusCode"], json.loads(response["body"])


def test_api_serves_every_route_on_exactly_its_template_policy(aws: Aws):
    stack, recorder = aws.stack, aws.recorder
    aws.reset_tokens()
    mark = recorder.mark()
    api = Api(aws)
    disassociate = lambda: stack.dispatch(
        aws.warm("disassociate").handler,  # noqa: E731
        context_factory=lambda: aws.context("disassociate"),
    )

    def download(url: str) -> bytes:
        answer = recorder.send_presigned("GET", url)
        assert answer.status_code == 200, (url, answer.status_code, answer.text[:300])
        return answer.content

    # Tokens: none yet, refreshed through the token function, then valid.
    status, body = api("GET", "/tokens")
    assert status == 200 and {e["action"] for e in body} == {"missing"}
    status, body = api("POST", "/tokens/refresh")
    assert status == 200 and {e["action"] for e in body} == {"refreshed"}
    status, body = api("GET", "/tokens")
    assert status == 200 and {e["action"] for e in body} == {"valid"}

    # Disassociate jobs: inline rows, an inline dry run, and a CSV put to the presigned upload URL.
    rows = [
        {"meetingId": str(81_600_000_000 + i), "contextId": f"lp-api-{i}", "domain": "https://canvas.example.edu"}
        for i in range(3)
    ]
    status, inline = api("POST", "/disassociate-jobs", {"rows": rows})
    assert status == 201
    status, dry = api("POST", "/disassociate-jobs", {"rows": rows, "dryRun": True})
    assert status == 201
    status, upload = api("POST", "/disassociate-jobs", {"fileName": "lp-upload.csv", "batchSize": 2})
    assert status == 201 and upload["upload"]["method"] == "PUT"
    put = recorder.send_presigned(
        "PUT", upload["upload"]["url"], data=meetings_csv(3, 81_600_000_100), headers=upload["upload"]["headers"]
    )
    assert put.status_code == 200, put.text
    assert all(r == OK for r in disassociate())
    for created, sent, planned in ((inline, 3, 0), (dry, 0, 3), (upload, 3, 0)):
        status, job = api("GET", f"/disassociate-jobs/{created['jobId']}")
        assert status == 200 and job["state"] == "succeeded", job
        assert (job["progress"]["sent"], job["progress"]["planned"]) == (sent, planned)
        summary = json.loads(download(job["results"]["summary.json"]))
        assert (summary["sent"], summary["planned"]) == (sent, planned)
        assert len(list(csv.DictReader(io.StringIO(download(job["results"]["rows.csv"]).decode())))) == 3

    # A report job: the api starts the report state machine (named by the job id), whose steps report progress.
    status, report = api("POST", "/report-jobs", {"meetingIds": [OFFICE]})
    assert status == 201
    [started] = aws.started(mark, "api")
    assert started["job_id"] == report["jobId"] and aws.drive_report(started)["state"] == "succeeded"
    status, job = api("GET", f"/report-jobs/{report['jobId']}")
    assert status == 200 and job["state"] == "succeeded" and job["progress"]["instances"] == 2, job

    # What the console does: lists, a dry run's preview, confirm it, re-drive failed rows, a report on a CSV.
    status, listed = api("GET", "/jobs?kind=disassociate&state=succeeded&limit=2")
    assert status == 200 and len(listed["jobs"]) == 2 and listed["next"], listed
    status, preview = api("GET", f"/disassociate-jobs/{dry['jobId']}/rows?status=planned")
    assert status == 200 and preview["total"] == 3
    status, confirmed = api("POST", f"/disassociate-jobs/{dry['jobId']}/confirm")
    assert status == 201, confirmed
    assert all(r == OK for r in disassociate())
    stack.lti.add_faults(LtiFault(status=400))
    status, failing = api("POST", "/disassociate-jobs", {"rows": rows})
    assert all(r == OK for r in disassociate())
    status, redriven = api("POST", f"/disassociate-jobs/{failing['jobId']}/redrive")
    assert status == 201, redriven
    assert all(r == OK for r in disassociate())
    for created in (confirmed, redriven):
        status, job = api("GET", f"/disassociate-jobs/{created['jobId']}")
        assert status == 200 and job["state"] == "succeeded" and job["progress"]["sent"] == 3, job
    status, by_csv = api("POST", "/report-jobs", {"csvUpload": True})
    csv_body = f"Meeting ID,Context ID,Domain\n{OFFICE},ctx,https://lms.example.edu\n".encode()
    put = recorder.send_presigned("PUT", by_csv["upload"]["url"], data=csv_body, headers=by_csv["upload"]["headers"])
    assert put.status_code == 200, put.text
    status, _ = api("POST", f"/report-jobs/{by_csv['jobId']}/start")
    assert status == 201 and aws.drive_report(aws.started(mark, "api")[-1])["state"] == "succeeded"
    status, job = api("GET", f"/report-jobs/{by_csv['jobId']}")
    assert status == 200 and job["state"] == "succeeded", job
    assert download(job["files"]["attendance.csv"]).startswith(b"meeting_id,")

    status, document = api("GET", "/openapi.json")
    assert status == 200 and document["openapi"].startswith("3.")

    # Provisioning jobs: a presigned upload for the CSV (dry run or not); the upload starts the job from the bucket.
    # The dry run is then run by the provisioning steps, previewed (its rows), and confirmed.
    host = "prof.api@campus.example.edu"
    stack.zoom.add_user(ZOOM_ACCOUNTS["main"][0], email=host, timezone="America/New_York")
    header = "Context ID,Domain,custom_canvas_course_id,Host,Topic,Start,Timezone,Duration"
    courses = f"{header}\nctx-a,https://canvas.example.edu,7,{host},Lab,2027-02-01 09:00,America/New_York,50\n"
    planned = {}
    for dry in (True, False):
        status, created = api("POST", "/provision-jobs", {"fileName": "lp-courses.csv", "dryRun": dry})
        assert status == 201, created
        upload = created["upload"]
        put = recorder.send_presigned("PUT", upload["url"], data=courses.encode(), headers=upload["headers"])
        assert put.status_code == 200, put.text
        key = unquote_plus(upload["url"].split(f"/{BUCKET}/", 1)[1].split("?", 1)[0])
        aws.discard_notifications(key)  # not for the disassociate function here
        if dry:
            planned = {"job_id": created["jobId"], "bucket": BUCKET, "key": key, "version": "", "dry_run": True}
    assert aws.drive_provision(planned)["state"] == "succeeded"
    status, job = api("GET", f"/provision-jobs/{planned['job_id']}")
    assert status == 200 and job["state"] == "succeeded" and job["progress"]["planned"] == 1, job
    assert b'"planned": 1' in download(job["results"]["summary.json"])
    status, preview = api("GET", f"/provision-jobs/{planned['job_id']}/rows?status=planned")
    assert status == 200 and preview["total"] == 1 and preview["rows"][0]["key"], preview
    status, confirmed = api("POST", f"/provision-jobs/{planned['job_id']}/confirm")
    assert status == 201 and confirmed["state"] == "queued", confirmed
    aws.discard_notifications(f"provision/api/{confirmed['jobId']}/lp-courses.csv")
    # The provisioning jobs' start, as the runtime offers it: an execution named by the job id, once.
    with aws.running_as(api.container.env):
        start = api.container.module.runtime.get().start
        document = {"job_id": "pro-0123456789abcdef01234567", "key": "provision/api/x.csv"}
        assert start("provision", document["job_id"], document) == start("provision", document["job_id"], document)

    invoked = [
        (c.params["FunctionName"], c.params.get("InvocationType"))
        for c in recorder.since(mark, "api")
        if c.service == "lambda"
    ]
    assert invoked == [(aws.names["token_refresh"], "RequestResponse")]
    assert [d["job_id"][:4] for d in aws.started(mark, "api")] == ["rep-", "rep-", "pro-", "pro-"]
    aws.assert_least_privilege("api", mark)


# ------------------------------------------------------------------ enforcement is on
def test_calls_outside_the_template_policies_are_refused(aws: Aws):
    from botocore.exceptions import ClientError

    def refused(call) -> tuple[int, str]:
        with pytest.raises(ClientError) as caught:
            call()
        return caught.value.response["ResponseMetadata"]["HTTPStatusCode"], caught.value.response["Error"]["Code"]

    aws.stack.put_file("incoming/lp-refused/x.csv", meetings_csv(1, 81_700_000_000))
    aws.discard_notifications("incoming/lp-refused/x.csv")
    # S3 answers AccessDenied; SQS, DynamoDB and Secrets Manager answer HTTP 403.
    assert refused(lambda: aws.client("api", "s3").get_object(Bucket=BUCKET, Key="incoming/lp-refused/x.csv")) == (
        403,
        "AccessDenied",
    )
    assert refused(lambda: aws.client("token_refresh", "s3").put_object(Bucket=BUCKET, Key="reports/x", Body=b"x")) == (
        403,
        "AccessDenied",
    )
    assert refused(lambda: aws.client("disassociate", "dynamodb").scan(TableName=JOBS_TABLE))[0] == 403
    assert (
        refused(
            lambda: aws.client("participant_report", "sqs").send_message(QueueUrl=aws.stack.queue_url, MessageBody="{}")
        )[0]
        == 403
    )
    assert (
        refused(
            lambda: aws.client("api", "secretsmanager").create_secret(
                Name="zoomops-local/zoom/x/token", SecretString="x"
            )
        )[0]
        == 403
    )
    # A presigned URL carries no more than its signer's policy.
    url = aws.client("api", "s3").generate_presigned_url(
        "get_object", Params={"Bucket": BUCKET, "Key": "incoming/lp-refused/x.csv"}
    )
    assert aws.recorder.send_presigned("GET", url).status_code == 403
    # What moto does not check for DynamoDB, Secrets Manager and Lambda, the template's statements refuse.
    table = aws.resolver.resources["ManifestTable"]["Arn"]
    credentials = aws.resolver.resources["ZoomMainCredentialsSecret"]["Ref"]
    assert iam.authorising(aws.policies["token_refresh"], "dynamodb:PutItem", table) == []
    assert iam.authorising(aws.policies["api"], "secretsmanager:GetSecretValue", credentials) == []
    assert iam.authorising(aws.policies["participant_report"], "secretsmanager:GetSecretValue", credentials) == []
    assert (
        iam.authorising(
            aws.policies["participant_report"], "lambda:InvokeFunction", iam.function_arn(aws.names["token_refresh"])
        )
        == []
    )
    assert (
        iam.authorising(
            aws.policies["disassociate"], "dynamodb:GetItem", aws.resolver.resources["ManifestTable"]["Arn"]
        )
        == []
    )
