"""The embedded local stack: AWS on 127.0.0.1 without an account or Docker.

* moto's server (``ThreadedMotoServer``) on a free port on 127.0.0.1 as AWS;
* the resources template.yaml declares, with the same shape: the files bucket
  with its ``incoming/`` and ``dryrun/`` notifications to the queue, the queue
  with its DLQ redrive, the jobs and idempotency tables, the LTI secret;
* the LTI Pro, Zoom, Web Meeting v6 and LumiNUS simulators on other free ports (one clock for all of them:
  ``use_clock``);
* a dispatcher that does what Lambda's SQS event source mapping does: receive,
  hand the handler a real SQS event, delete what succeeded, leave the reported
  failures for redelivery (and, after ``maxReceiveCount``, the DLQ);
* the state machines template.yaml deploys, on demand (``workflows()``): their own ASL files executed by moto,
  each Task answered by the steps function in this process (``workflows.py``), so an entry point's
  StartExecution runs the real workflow.

The handlers run in this process with the environment template.yaml gives them.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import os
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from zoomops.aws.jobstore import LIST_INDEX
from zoomops.names import FUNCTIONS, LOCAL, MACHINES, SOURCE_PREFIXES, zoom_credentials_secret, zoom_token_secret

from .lti_sim import LtiProSimulator
from .luminus_sim import LuminusSimulator
from .webmeeting_sim import WebMeetingSimulator
from .zoom_sim import PROVISIONING_SCOPE, ZoomSimulator, seed_demo

ROOT = Path(__file__).resolve().parents[2]
REGION = "us-east-1"

# Local resource names (zoomops.names; the deployed ones come from template.yaml's outputs).
BUCKET = LOCAL.bucket
QUEUE = LOCAL.queue
DLQ = LOCAL.dlq
JOBS_TABLE = LOCAL.jobs_table
IDEMPOTENCY_TABLE = LOCAL.idempotency_table
MANIFEST_TABLE = LOCAL.manifest_table
LTI_SECRET = LOCAL.lti_secret
ZOOM_SECRET_PREFIX = LOCAL.zoom_secret_prefix
LEDGER_TABLE = LOCAL.ledger_table
WEBMEETING_SECRET = LOCAL.webmeeting_secret
LUMINUS_SECRET = LOCAL.luminus_secret
ACCOUNT = "123456789012"  # moto's default account
# Job kind -> its state machine's ARN in the local stack (the template names them <stack>-<kind>).
MACHINE_ARNS = {
    job: f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:{LOCAL.state_machine(kind)}"
    for job, (kind, _) in MACHINES.items()
}
MAX_RECEIVE_COUNT = 3
# Zoom accounts the local stack configures: name -> (account id, client id); the client secrets
# are made up per stack and live only in Secrets Manager (moto) and the simulator.
ZOOM_ACCOUNTS = {"main": ("LocalMainAcct01", "local-main-client"), "sub": ("LocalSubAcct002", "local-sub-client")}


def load_handler(function: str) -> ModuleType:
    """A fresh copy of ``functions/<function>/app.py`` (its caches start empty), named ``app`` as
    Lambda imports it (Powertools Idempotency puts the module name into its keys)."""
    path = ROOT / "functions" / function / "app.py"
    spec = importlib.util.spec_from_file_location("app", path)
    module = importlib.util.module_from_spec(spec)
    previous = sys.modules.get("app")
    sys.modules["app"] = module  # as Lambda imports it (dataclasses look their module up while it loads)
    try:
        spec.loader.exec_module(module)
    finally:
        if previous is None:
            sys.modules.pop("app", None)
        else:
            sys.modules["app"] = previous
    return module


@dataclass
class LambdaContext:
    """What the Lambda runtime passes as ``context``; the deadline is real time."""

    function_name: str = LOCAL.function("disassociate")
    timeout_seconds: float = 900.0
    memory_limit_in_mb: int = 512
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    _deadline: float = 0.0

    def __post_init__(self) -> None:
        self._deadline = time.monotonic() + self.timeout_seconds
        self.invoked_function_arn = f"arn:aws:lambda:{REGION}:123456789012:function:{self.function_name}"
        self.function_version = "$LATEST"
        self.log_group_name = f"/aws/lambda/{self.function_name}"
        self.log_stream_name = "local"

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def aws_env(endpoint: str) -> dict[str, str]:
    """Environment that points boto3 at the local moto server with fake credentials."""
    return {
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": REGION,
        "AWS_REGION": REGION,
        "AWS_EC2_METADATA_DISABLED": "true",
    }


class LocalStack:
    def __init__(
        self,
        *,
        lti_key: str = "local-lti-key",
        lti_secret: str = "local-lti-secret",
        lti_user_id: str | None = None,
        batch_size: int = 400,
        inline_max_bytes: int = 1_048_576,
        visibility_timeout: int = 2,
        zoom_clock: Callable[[], float] = time.time,
        moto_server: Callable[[], Any] | None = None,
        clock: Callable[[], float] | None = None,
    ):
        """``clock``: every simulator's (``zoom_clock`` sets only the Zoom simulator's). ``moto_server``: makes the
        AWS server (default: moto's ``ThreadedMotoServer`` in this process; anything
        with ``start()``, ``stop()`` and ``get_host_and_port()``, e.g. ``iam.MotoSubprocess`` for a stack whose
        state and IAM enforcement must not be shared with another stack in the same process)."""
        self.lti_key, self._lti_secret, self.lti_user_id = lti_key, lti_secret, lti_user_id
        self._moto_server = moto_server
        # The harness's own AWS credentials (its clients and the environment it sets); see use_credentials().
        self._access_key, self._secret_key, self._session_token = "testing", "testing", "testing"
        self.batch_size = batch_size
        self.inline_max_bytes = inline_max_bytes
        self.visibility_timeout = visibility_timeout
        self.moto = None
        self.endpoint = ""
        self.lti = LtiProSimulator(lti_key, lti_secret)
        self.zoom = ZoomSimulator(clock=zoom_clock)
        self._platform_keys = {"webmeeting": f"local-wm-{uuid.uuid4().hex}", "luminus": f"local-lu-{uuid.uuid4().hex}"}
        self.webmeeting = WebMeetingSimulator(self._platform_keys["webmeeting"])
        self.luminus = LuminusSimulator(self._platform_keys["luminus"])
        if clock is not None:
            self.use_clock(clock)
        self._zoom_secrets = {name: f"local-{name}-{uuid.uuid4().hex}" for name in ZOOM_ACCOUNTS}
        for name, (account_id, client_id) in ZOOM_ACCOUNTS.items():
            self.zoom.add_account(account_id, client_id, self._zoom_secrets[name], scope=PROVISIONING_SCOPE)
            seed_demo(self.zoom, account_id)
        self.queue_url = self.dlq_url = ""
        self._saved_env: dict[str, str | None] = {}
        self.background: list[threading.Thread] = []
        self.sfn: Any = None  # the installed StepFunctions harness (workflows())

    # -- lifecycle -------------------------------------------------------------------------
    def start(self) -> LocalStack:
        from moto.server import ThreadedMotoServer

        logging.getLogger("werkzeug").setLevel(logging.ERROR)  # moto's request log
        if self._moto_server is not None:
            self.moto = self._moto_server()
        else:
            self.moto = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        self.moto.start()
        host, port = self.moto.get_host_and_port()
        self.endpoint = f"http://{host}:{port}"
        for sim in self.simulators():
            sim.start()
        self._create_resources()
        self._set_env(self.function_env())
        return self

    def reset(self) -> None:
        """Empty every AWS resource and the simulator's records; recreate the resources."""
        import requests

        self.close_workflows()
        requests.post(f"{self.endpoint}/moto-api/reset", timeout=10).raise_for_status()
        for sim in self.simulators():
            sim.reset()
        self._create_resources()

    def simulators(self) -> tuple[Any, ...]:
        return (self.lti, self.zoom, self.webmeeting, self.luminus)

    def use_clock(self, clock: Callable[[], float]) -> None:
        """One clock for every simulator (a fast clock: signatures, daily limits and tokens on the same time)."""
        for sim in self.simulators():
            sim.clock = clock

    def stop(self) -> None:
        self.close_workflows()
        for sim in self.simulators():
            sim.stop()
        if self.moto is not None:
            self.moto.stop()
            self.moto = None
        for name, value in self._saved_env.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        self._saved_env.clear()

    def __enter__(self) -> LocalStack:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    # -- configuration ----------------------------------------------------------------------
    def function_env(self, function: str | None = None) -> dict[str, str]:
        """A function's environment, as template.yaml sets it (no name: every function's variables)."""
        token_refresh = {
            "ZOOMOPS_ZOOM_ACCOUNTS": ",".join(ZOOM_ACCOUNTS),
            "ZOOMOPS_ZOOM_SECRET_PREFIX": ZOOM_SECRET_PREFIX,
            "ZOOMOPS_ZOOM_OAUTH_URL": f"{self.zoom.base_url}/oauth/token",
            "ZOOMOPS_JOBS_TABLE": JOBS_TABLE,
            "ZOOMOPS_TOKEN_MARGIN_SECONDS": "1800",
        }
        reports = {
            "ZOOMOPS_ZOOM_ACCOUNTS": ",".join(ZOOM_ACCOUNTS),
            "ZOOMOPS_ZOOM_SECRET_PREFIX": ZOOM_SECRET_PREFIX,
            "ZOOMOPS_REPORTS_BUCKET": BUCKET,
            "ZOOMOPS_REPORTS_PREFIX": "reports/",
            "ZOOMOPS_MANIFEST_TABLE": MANIFEST_TABLE,
            "ZOOMOPS_JOBS_TABLE": JOBS_TABLE,
        }
        api = {
            "ZOOMOPS_ZOOM_ACCOUNTS": ",".join(ZOOM_ACCOUNTS),
            "ZOOMOPS_ZOOM_SECRET_PREFIX": ZOOM_SECRET_PREFIX,
            "ZOOMOPS_JOBS_TABLE": JOBS_TABLE,
            "ZOOMOPS_FILES_BUCKET": BUCKET,
            "ZOOMOPS_TOKEN_REFRESH_FUNCTION": LOCAL.function("token_refresh"),
            "ZOOMOPS_REPORT_MACHINE": MACHINE_ARNS["report"],
            "ZOOMOPS_PROVISION_MACHINE": MACHINE_ARNS["provision"],
        }
        own = {
            "api": api,
            "participant_report": {**reports, "ZOOMOPS_REPORT_MACHINE": MACHINE_ARNS["report"]},
            "token_refresh": token_refresh,
            **self._steps_env(reports),
        }
        if function in own:
            return {
                **self._common_env(),
                **own[function],
                "POWERTOOLS_SERVICE_NAME": function,
                "AWS_LAMBDA_FUNCTION_NAME": LOCAL.function(function),
            }
        disassociate = {
            "ZOOMOPS_LTI_SECRET_ID": LTI_SECRET,
            "ZOOMOPS_LTI_BASE_URL": self.lti.base_url,
            "ZOOMOPS_JOBS_TABLE": JOBS_TABLE,
            "ZOOMOPS_IDEMPOTENCY_TABLE": IDEMPOTENCY_TABLE,
            "ZOOMOPS_BATCH_SIZE": str(self.batch_size),
            "ZOOMOPS_INLINE_MAX_BYTES": str(self.inline_max_bytes),
            "ZOOMOPS_REMOVAL_MACHINE": MACHINE_ARNS["disassociate"],
            "ZOOMOPS_PROVISION_MACHINE": MACHINE_ARNS["provision"],
            "POWERTOOLS_SERVICE_NAME": "disassociate",
            "AWS_LAMBDA_FUNCTION_NAME": LOCAL.function("disassociate"),
        }
        if function == "disassociate":
            return {**self._common_env(), **disassociate}
        merged = {**disassociate, **token_refresh}
        for name in ("participant_report", "api", "removal_steps", "report_steps", "provision_steps"):
            merged.update(own[name])
        return {**self._common_env(), **merged, "POWERTOOLS_SERVICE_NAME": "disassociate"}

    def _steps_env(self, reports: dict[str, str]) -> dict[str, dict[str, str]]:
        """The state machines' steps functions, as template.yaml sets them (concurrency: the parameters' defaults)."""
        return {
            "removal_steps": {
                "ZOOMOPS_LTI_SECRET_ID": LTI_SECRET,
                "ZOOMOPS_LTI_BASE_URL": self.lti.base_url,
                "ZOOMOPS_JOBS_TABLE": JOBS_TABLE,
                "ZOOMOPS_FILES_BUCKET": BUCKET,
                "ZOOMOPS_REMOVAL_CONCURRENCY": "4",
                "ZOOMOPS_LTI_REQUESTS_PER_SECOND": "4",
            },
            "report_steps": {**reports, "ZOOMOPS_REPORT_CONCURRENCY": "4"},
            "provision_steps": {
                "ZOOMOPS_BUCKET": BUCKET,
                "ZOOMOPS_JOBS_TABLE": JOBS_TABLE,
                "ZOOMOPS_LEDGER_TABLE": LEDGER_TABLE,
                "ZOOMOPS_ZOOM_ACCOUNTS": ",".join(ZOOM_ACCOUNTS),
                "ZOOMOPS_ZOOM_SECRET_PREFIX": ZOOM_SECRET_PREFIX,
                "ZOOMOPS_LTI_BASE_URL": self.lti.base_url,
                "ZOOMOPS_LTI_SECRET_ID": LTI_SECRET,
                "ZOOMOPS_WEBMEETING_URL": self.webmeeting.base_url,
                "ZOOMOPS_WEBMEETING_SECRET_ID": WEBMEETING_SECRET,
                "ZOOMOPS_LUMINUS_URL": self.luminus.base_url,
                "ZOOMOPS_LUMINUS_SECRET_ID": LUMINUS_SECRET,
            },
        }

    def use_credentials(self, access_key: str, secret_key: str, session_token: str | None = None) -> None:
        """Make the harness's own calls (its clients, and the environment it sets from now on) with these
        credentials: an IAM user's keys once the server enforces IAM, where the default fake keys are refused."""
        self._access_key, self._secret_key, self._session_token = access_key, secret_key, session_token

    def _common_env(self) -> dict[str, str]:
        env = aws_env(self.endpoint)
        env.update(AWS_ACCESS_KEY_ID=self._access_key, AWS_SECRET_ACCESS_KEY=self._secret_key)
        if self._session_token is None:  # an IAM user's long-term keys: no session token
            del env["AWS_SESSION_TOKEN"]
        else:
            env["AWS_SESSION_TOKEN"] = self._session_token
        return {
            **env,
            "POWERTOOLS_METRICS_NAMESPACE": "zoomops",
            "POWERTOOLS_TRACE_DISABLED": "true",
            "POWERTOOLS_LOG_LEVEL": os.environ.get("POWERTOOLS_LOG_LEVEL", "WARNING"),
        }

    def _set_env(self, env: dict[str, str]) -> None:
        for name, value in env.items():
            self._saved_env.setdefault(name, os.environ.get(name))
            os.environ[name] = value

    def client(self, service: str):
        import boto3

        return boto3.client(
            service,
            endpoint_url=self.endpoint,
            region_name=REGION,
            aws_access_key_id=self._access_key,
            aws_secret_access_key=self._secret_key,
        )

    def _create_resources(self) -> None:
        s3, sqs, ddb, sm = (self.client(s) for s in ("s3", "sqs", "dynamodb", "secretsmanager"))
        s3.create_bucket(Bucket=BUCKET)
        s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
        self.dlq_url = sqs.create_queue(QueueName=DLQ)["QueueUrl"]
        dlq_arn = sqs.get_queue_attributes(QueueUrl=self.dlq_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        self.queue_url = sqs.create_queue(
            QueueName=QUEUE,
            Attributes={
                "VisibilityTimeout": str(self.visibility_timeout),
                "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": MAX_RECEIVE_COUNT}),
            },
        )["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=self.queue_url, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]
        s3.put_bucket_notification_configuration(
            Bucket=BUCKET,
            NotificationConfiguration={
                "QueueConfigurations": [
                    {
                        "QueueArn": queue_arn,
                        "Events": ["s3:ObjectCreated:*"],
                        "Filter": {"Key": {"FilterRules": [{"Name": "prefix", "Value": prefix}]}},
                    }
                    for prefix in SOURCE_PREFIXES
                ]
            },
        )
        ddb.create_table(
            TableName=JOBS_TABLE,
            BillingMode="PAY_PER_REQUEST",
            AttributeDefinitions=[
                {"AttributeName": name, "AttributeType": "S"} for name in ("job_id", "listed", "created_key")
            ],
            KeySchema=[{"AttributeName": "job_id", "KeyType": "HASH"}],
            GlobalSecondaryIndexes=[  # as template.yaml declares it: jobs newest first
                {
                    "IndexName": LIST_INDEX,
                    "KeySchema": [
                        {"AttributeName": "listed", "KeyType": "HASH"},
                        {"AttributeName": "created_key", "KeyType": "RANGE"},
                    ],
                    "Projection": {"ProjectionType": "ALL"},
                }
            ],
        )
        ddb.create_table(
            TableName=IDEMPOTENCY_TABLE,
            BillingMode="PAY_PER_REQUEST",
            AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
            KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        )
        ddb.create_table(
            TableName=MANIFEST_TABLE,
            BillingMode="PAY_PER_REQUEST",
            AttributeDefinitions=[{"AttributeName": "key", "AttributeType": "S"}],
            KeySchema=[{"AttributeName": "key", "KeyType": "HASH"}],
        )
        ddb.update_time_to_live(
            TableName=IDEMPOTENCY_TABLE, TimeToLiveSpecification={"Enabled": True, "AttributeName": "expiration"}
        )
        ddb.create_table(  # as template.yaml declares it: provisioning's ledger
            TableName=LEDGER_TABLE,
            BillingMode="PAY_PER_REQUEST",
            AttributeDefinitions=[{"AttributeName": name, "AttributeType": "S"} for name in ("pk", "sk")],
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        )
        for table in (JOBS_TABLE, LEDGER_TABLE):
            ddb.update_time_to_live(
                TableName=table, TimeToLiveSpecification={"Enabled": True, "AttributeName": "expires_at"}
            )
        keys = self._platform_keys
        sm.create_secret(Name=WEBMEETING_SECRET, SecretString=json.dumps({"api_key": keys["webmeeting"]}))
        sm.create_secret(Name=LUMINUS_SECRET, SecretString=json.dumps({"subscription_key": keys["luminus"]}))
        secret = {"key": self.lti_key, "secret": self._lti_secret}
        if self.lti_user_id:
            secret["user_id"] = self.lti_user_id
        sm.create_secret(Name=LTI_SECRET, SecretString=json.dumps(secret))
        for name, (account_id, client_id) in ZOOM_ACCOUNTS.items():
            sm.create_secret(
                Name=zoom_credentials_secret(ZOOM_SECRET_PREFIX, name),
                SecretString=json.dumps(
                    {"account_id": account_id, "client_id": client_id, "client_secret": self._zoom_secrets[name]}
                ),
            )
        # As template.yaml declares main's token secret ({} until the first refresh); the other accounts'
        # token secrets are created by their first refresh.
        sm.create_secret(Name=zoom_token_secret(ZOOM_SECRET_PREFIX, "main"), SecretString="{}")

    # -- the state machines -----------------------------------------------------------------------
    def workflows(self, clock: Any = None, parameters: dict[str, str] | None = None) -> Any:
        """The template's state machines, executed in this process (``workflows.install``); installed once and
        kept until ``close_workflows()`` (``reset()`` and ``stop()`` close them). ``clock``: a ``FastClock`` for
        every simulator and step (Wait states and retries then take no real time). ``parameters``: template
        parameters other than their defaults (the steps read theirs from the environment, as deployed)."""
        if self.sfn is None:
            from .workflows import install

            self.sfn = install(self, clock, parameters)
        elif clock is not None and self.sfn.clock is not clock:
            raise RuntimeError("the state machines run on another clock: close_workflows() first")
        return self.sfn

    def close_workflows(self) -> None:
        sfn, self.sfn = self.sfn, None
        if sfn is not None:
            sfn.uninstall()

    def wait_workflows(self, timeout: float = 60.0) -> None:
        """Until no execution of the state machines is running."""
        if self.sfn is None:
            return
        deadline = time.monotonic() + timeout
        client = self.client("stepfunctions")
        while True:
            running = [
                e
                for arn in self.sfn.machines.values()
                for e in client.list_executions(stateMachineArn=arn, statusFilter="RUNNING")["executions"]
            ]
            if not running:
                return
            if time.monotonic() > deadline:
                raise TimeoutError(f"{len(running)} execution(s) still running after {timeout} s")
            time.sleep(0.05)

    # -- what AWS does between the bucket and the function ---------------------------------------
    def load_api(self) -> ModuleType:
        """The api handler, with its calls to other functions made in-process (moto runs no Lambda code) and
        the state machines it starts executed (``workflows()``)."""
        module = load_handler("api")
        module.runtime.use(invoker=self.invoker())
        return module

    def invoker(self) -> Callable[[str, dict, bool], dict | None]:
        """Lambda's Invoke for the local stack: the named function's handler, in this process (a thread for
        an asynchronous invocation, as Lambda's event queue would run it). A state machine's ARN starts the
        job's execution (named by the job id) on the local state machines, as the api's own invoker does."""
        functions = {LOCAL.function(folder): folder for folder in FUNCTIONS}
        loaded: dict[str, ModuleType] = {}

        def invoke(function: str, payload: dict, wait: bool) -> dict | None:
            if function in MACHINE_ARNS.values():
                from zoomops.aws.workflows import Workflows

                self.workflows()
                Workflows(self.client("stepfunctions")).start(function, payload["job_id"], payload)
                return None
            name = functions[function.rsplit(":", 1)[-1]]
            target = loaded.setdefault(name, load_handler(name))
            call = lambda: target.handler(payload, LambdaContext(function_name=function))  # noqa: E731
            if wait:
                return call()
            thread = threading.Thread(target=call, daemon=True)
            thread.start()
            self.background.append(thread)
            return None

        return invoke

    def wait_background(self, timeout: float = 30.0) -> None:
        """Wait for the asynchronous invocations the api made, and the executions it started, to finish."""
        for thread in self.background:
            thread.join(timeout)
        self.background.clear()
        self.wait_workflows(timeout)

    def zoom_token(self, account: str = "main") -> dict | None:
        """The token secret's JSON as consumers read it (None before the first refresh)."""
        try:
            value = self.client("secretsmanager").get_secret_value(
                SecretId=zoom_token_secret(ZOOM_SECRET_PREFIX, account), VersionStage="AWSCURRENT"
            )
        except self.client("secretsmanager").exceptions.ResourceNotFoundException:
            return None
        return json.loads(value["SecretString"]) or None

    def receive_events(self, max_messages: int = 1, wait: int = 1) -> tuple[dict, dict[str, str]]:
        """One SQS event as Lambda's event source mapping builds it, and receipt handles by id."""
        sqs = self.client("sqs")
        answer = sqs.receive_message(
            QueueUrl=self.queue_url, MaxNumberOfMessages=max_messages, WaitTimeSeconds=wait, AttributeNames=["All"]
        )
        records, receipts = [], {}
        arn = f"arn:aws:sqs:{REGION}:123456789012:{QUEUE}"
        for message in answer.get("Messages", []):
            receipts[message["MessageId"]] = message["ReceiptHandle"]
            message["Body"] = _with_sequencer(message["Body"], message["MessageId"])
            records.append(
                {
                    "messageId": message["MessageId"],
                    "receiptHandle": message["ReceiptHandle"],
                    "body": message["Body"],
                    "attributes": message.get("Attributes", {}),
                    "messageAttributes": {},
                    "md5OfBody": message.get("MD5OfBody", ""),
                    "eventSource": "aws:sqs",
                    "eventSourceARN": arn,
                    "awsRegion": REGION,
                }
            )
        return {"Records": records}, receipts

    def dispatch(
        self,
        handler: Callable[[dict, Any], dict],
        *,
        timeout: float = 30.0,
        context_factory: Callable[[], LambdaContext] = LambdaContext,
    ) -> list[dict]:
        """Deliver queued events to ``handler`` until nothing is queued or in flight; returns the responses."""
        sqs = self.client("sqs")
        responses, deadline = [], time.monotonic() + timeout
        while time.monotonic() < deadline:
            event, receipts = self.receive_events(wait=0)
            if not event["Records"]:
                if self.in_flight() == 0 and self.queued() == 0:  # both: one may turn into the other
                    break
                time.sleep(0.1)  # a failed message becomes visible again after its timeout
                continue
            try:
                response = handler(event, context_factory())
                failed = {item["itemIdentifier"] for item in response.get("batchItemFailures", [])}
            except Exception as error:  # Lambda: the invocation failed, every message comes back
                response = {"error": f"{type(error).__name__}: {error}"}
                failed = set(receipts)
            responses.append(response)
            for message_id, receipt in receipts.items():
                if message_id not in failed:
                    sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=receipt)
        return responses

    def _count(self, queue_url: str, attribute: str) -> int:
        attrs = self.client("sqs").get_queue_attributes(QueueUrl=queue_url, AttributeNames=[attribute])
        return int(attrs["Attributes"][attribute])

    def dlq_messages(self) -> int:
        return self._count(self.dlq_url, "ApproximateNumberOfMessages")

    def queued(self) -> int:
        return self._count(self.queue_url, "ApproximateNumberOfMessages")

    def in_flight(self) -> int:
        return self._count(self.queue_url, "ApproximateNumberOfMessagesNotVisible")

    # -- conveniences for the demo and tests -------------------------------------------------------
    def put_file(self, key: str, body: bytes, metadata: dict[str, str] | None = None) -> str:
        answer = self.client("s3").put_object(Bucket=BUCKET, Key=key, Body=body, Metadata=metadata or {})
        return answer["ETag"].strip('"')

    def keys(self, prefix: str = "") -> list[str]:
        pages = self.client("s3").get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=prefix)
        return sorted(obj["Key"] for page in pages for obj in page.get("Contents", []))

    def read(self, key: str) -> bytes:
        return self.client("s3").get_object(Bucket=BUCKET, Key=key)["Body"].read()

    def results(self, file_name: str) -> dict[str, bytes]:
        """The newest run's result files for ``file_name``, by file name."""
        keys = self.keys(f"results/{file_name}/")
        if not keys:
            return {}
        run = sorted({key.split("/")[2] for key in keys})[-1]
        prefix = f"results/{file_name}/{run}/"
        return {key[len(prefix) :]: self.read(key) for key in keys if key.startswith(prefix)}

    def job(self, job_id: str) -> dict | None:
        from zoomops.aws.jobstore import JobStore

        return JobStore(JOBS_TABLE, self.client("dynamodb")).get(job_id)


def _with_sequencer(body: str, message_id: str) -> str:
    """AWS gives every S3 event a ``sequencer``; moto does not, so two uploads of the same bytes
    would look like one. Derive one from the S3 event's message (stable across redeliveries)."""
    try:
        notification = json.loads(body)
    except ValueError:
        return body
    for record in notification.get("Records", []) if isinstance(notification, dict) else []:
        obj = record.get("s3", {}).get("object", {})
        if "sequencer" not in obj and record.get("eventName", "").startswith("ObjectCreated:Put"):
            obj["sequencer"] = uuid.uuid5(uuid.NAMESPACE_URL, message_id).hex[:18].upper()
    return json.dumps(notification)


@contextmanager
def running(**kwargs: Any) -> Iterator[LocalStack]:
    stack = LocalStack(**kwargs)
    try:
        yield stack.start()
    finally:
        stack.stop()
