"""IAM for the local stack: each function's template policy, resolved, installed and checked.

* ``Resolver`` reads template.yaml (cfn-lint's loader: short tags become ``Ref``/``Fn::*``) and resolves
  ``Ref``, ``Fn::GetAtt``, ``Fn::Sub``, ``Fn::If`` (with the template's ``Conditions``) and
  ``AWS::NoValue`` against the local stack: logical ids map to the local stack's physical names and ARNs
  (``local_resources``), ``AWS::StackName`` is ``zoomops-local`` so ``${AWS::StackName}/zoom/*`` is the local
  ``ZOOM_SECRET_PREFIX``.
* ``create_users`` makes, in moto's IAM, an admin user (everything) for the harness and one user per function
  whose inline policy is that function's ``Policies`` statements (``moto_statements`` says how they are
  adapted to what moto can enforce); ``enable_enforcement`` then turns moto's IAM checks on.
* ``requested`` maps one SDK call to the IAM actions and resource ARNs AWS authorises it against;
  ``authorising`` evaluates statements for one of them (IAM's ``*`` and ``?`` wildcards, no conditions).
* ``Recorder`` patches botocore's ``BaseClient._make_api_call`` to record every call a function user makes,
  answers ``lambda:Invoke`` in-process (moto runs no function code), and uses presigned URLs the way a
  browser would (``send_presigned``).
* ``MotoSubprocess`` runs moto's server in a child process: moto's state and its IAM switch are global to
  a process, so a stack that enforces IAM must not share one with the suite's other stack.
"""

from __future__ import annotations

import calendar
import io
import json
import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit, urlunsplit

from zoomops.names import FUNCTIONS, LOCAL, MACHINES  # noqa: F401 - FUNCTIONS: handler folder -> logical id

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "template.yaml"
STACK_NAME = LOCAL.stack  # the local resource names' prefix, as AWS::StackName
ACCOUNT = "123456789012"  # moto's default account
REGION = "us-east-1"
PARTITION = "aws"

# Functions the template does not name get a generated name on AWS (<stack>-<logical id>-<random>);
# locally they get the local stack's names. (ParticipantReportFunction's FunctionName comes from the template.)
GENERATED_FUNCTION_NAMES = {logical_id: LOCAL.function(folder) for folder, logical_id in FUNCTIONS.items()}
PSEUDONYM_SECRET = LOCAL.pseudonym_secret  # the template's name for PseudonymKeySecret


# ----------------------------------------------------------------------------------- moto in a child process
_CHILD = """
import logging, sys
logging.getLogger("werkzeug").setLevel(logging.ERROR)
from moto.server import ThreadedMotoServer
server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
server.start()
print(server.get_host_and_port()[1], flush=True)
sys.stdin.read()  # until the parent closes the pipe (or dies)
server.stop()
"""


class MotoSubprocess:
    """moto's server on 127.0.0.1 in a child process (``start``/``stop``/``get_host_and_port`` as
    ``ThreadedMotoServer``): its own backends and its own ``/moto-api/reset-auth`` switch."""

    def __init__(self, timeout: float = 60.0):
        self._timeout = timeout
        self._process: subprocess.Popen | None = None
        self._port = 0

    def start(self) -> None:
        env = {k: v for k, v in os.environ.items() if k != "INITIAL_NO_AUTH_ACTION_COUNT"}  # enforcement: later
        self._process = subprocess.Popen(
            [sys.executable, "-c", _CHILD], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env
        )
        line: list[str] = []
        reader = threading.Thread(target=lambda: line.append(self._process.stdout.readline()), daemon=True)
        reader.start()
        reader.join(self._timeout)
        if not line or not line[0].strip().isdigit():
            self.stop()
            raise RuntimeError("moto's server did not start in its child process")
        self._port = int(line[0])

    def get_host_and_port(self) -> tuple[str, int]:
        return "127.0.0.1", self._port

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is None:
            return
        try:
            process.stdin.close()
            process.wait(timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            process.kill()
            process.wait(timeout=10)
        finally:
            process.stdout.close()


# ----------------------------------------------------------------------------------- template resolution
NO_VALUE = object()


def load_template(path: Path = TEMPLATE) -> dict:
    from cfnlint.decode import cfn_yaml

    return cfn_yaml.load(str(path))


class Resolver:
    """Resolves template values for one stack: ``resources[logical id]`` holds ``Ref`` and attribute values."""

    def __init__(
        self,
        template: dict,
        resources: dict[str, dict[str, str]],
        *,
        parameters: dict[str, str] | None = None,
        stack_name: str = STACK_NAME,
        region: str = REGION,
        account: str = ACCOUNT,
        partition: str = PARTITION,
    ):
        self.template, self.resources = template, resources
        self.parameters = {name: str(spec.get("Default", "")) for name, spec in template.get("Parameters", {}).items()}
        self.parameters.update(parameters or {})
        self.pseudo = {
            "AWS::StackName": stack_name,
            "AWS::Region": region,
            "AWS::AccountId": account,
            "AWS::Partition": partition,
            "AWS::URLSuffix": "amazonaws.com",
        }

    # -- values
    def ref(self, name: str) -> Any:
        if name == "AWS::NoValue":
            return NO_VALUE
        if name in self.pseudo:
            return self.pseudo[name]
        if name in self.parameters:
            return self.parameters[name]
        return self._attribute(name, "Ref")

    def _attribute(self, logical_id: str, attribute: str) -> str:
        try:
            return self.resources[logical_id][attribute]
        except KeyError:
            raise KeyError(f"no local value for {logical_id}.{attribute} (add it to local_resources)") from None

    def condition(self, name: str) -> bool:
        return bool(self.resolve(self.template["Conditions"][name]))

    def resolve(self, node: Any) -> Any:
        if isinstance(node, list):
            values = [self.resolve(item) for item in node]
            return [v for v in values if v is not NO_VALUE]
        if not isinstance(node, dict):
            return node
        if len(node) == 1:
            ((key, arg),) = node.items()
            if key == "Ref":
                return self.ref(arg)
            if key == "Fn::GetAtt":
                logical_id, attribute = arg if isinstance(arg, list) else arg.split(".", 1)
                return self._attribute(logical_id, attribute)
            if key == "Fn::Sub":
                text, extra = (arg, {}) if isinstance(arg, str) else (arg[0], self.resolve(arg[1]))
                return self._sub(text, extra)
            if key == "Fn::If":
                name, yes, no = arg
                return self.resolve(yes if self.condition(name) else no)
            if key == "Fn::Equals":
                left, right = (self.resolve(v) for v in arg)
                return str(left) == str(right)
            if key == "Fn::Not":
                return not self.resolve(arg[0])
            if key == "Fn::And":
                return all(self.resolve(v) for v in arg)
            if key == "Fn::Or":
                return any(self.resolve(v) for v in arg)
            if key == "Condition":
                return self.condition(arg)
            if key.startswith("Fn::"):
                raise NotImplementedError(f"{key} is not resolved locally")
        values = {k: self.resolve(v) for k, v in node.items()}
        return {k: v for k, v in values.items() if v is not NO_VALUE}

    def _sub(self, text: str, extra: dict[str, Any]) -> str:
        def value(match: re.Match) -> str:
            name = match.group(1)
            if name.startswith("!"):
                return "${" + name[1:] + "}"
            if name in extra:
                return str(extra[name])
            if "." in name and not name.startswith("AWS::"):
                logical_id, attribute = name.split(".", 1)
                return self._attribute(logical_id, attribute)
            return str(self.ref(name))

        return re.sub(r"\$\{([^}]+)\}", value, text)

    # -- what a function gets
    def function_properties(self, logical_id: str) -> dict:
        return self.template["Resources"][logical_id]["Properties"]

    def statements(self, logical_id: str) -> list[dict]:
        """The function's ``Policies`` statements, resolved; Action and Resource always lists."""
        found = []
        for policy in self.function_properties(logical_id).get("Policies", []):
            if not isinstance(policy, dict) or set(policy) != {"Statement"}:
                raise ValueError(f"{logical_id}: only inline statements are resolved, got {policy!r}")
            for statement in self.resolve(policy["Statement"]):
                statement = dict(statement)
                for key in ("Action", "Resource"):
                    if isinstance(statement.get(key), str):
                        statement[key] = [statement[key]]
                found.append(statement)
        return found

    def environment(self, logical_id: str) -> dict[str, str]:
        """The variables the template sets that name something of the stack (resources, stack name,
        conditions), resolved; variables that are only a parameter or a literal are left out (the local
        stack sets those for its simulators)."""
        variables = self.function_properties(logical_id).get("Environment", {}).get("Variables", {})
        return {
            name: str(self.resolve(value))
            for name, value in variables.items()
            if isinstance(value, dict) and not (set(value) == {"Ref"} and value["Ref"] in self.parameters)
        }


def function_names(template: dict, resolver_for_names: Resolver) -> dict[str, str]:
    """Physical name of every function: its FunctionName if the template gives one, else the local name."""
    names = {}
    for logical_id, resource in template["Resources"].items():
        if resource["Type"] != "AWS::Serverless::Function":
            continue
        given = resource["Properties"].get("FunctionName")
        names[logical_id] = resolver_for_names.resolve(given) if given else GENERATED_FUNCTION_NAMES[logical_id]
    return names


def local_resources(stack, template: dict, *, pseudonym_secret_arn: str | None = None) -> dict[str, dict[str, str]]:
    """Logical id -> {"Ref": ..., attribute: ...} for the local stack (``stack`` started, resources made).

    The local names differ from what CloudFormation would make (the bucket is ``zoomops-local-files``, not
    ``<stack>-files-<account>-<region>``; tables and queues have fixed names, not generated ones), so the
    mapping is by logical id: every policy and variable that names a resource goes through it.
    """
    from . import stack as local

    sm = stack.client("secretsmanager")

    def secret_arn(name: str) -> str:
        return sm.describe_secret(SecretId=name)["ARN"]

    def table(name: str) -> dict[str, str]:
        return {"Ref": name, "Arn": f"arn:{PARTITION}:dynamodb:{REGION}:{ACCOUNT}:table/{name}"}

    def queue(url: str, name: str) -> dict[str, str]:
        return {"Ref": url, "Arn": f"arn:{PARTITION}:sqs:{REGION}:{ACCOUNT}:{name}", "QueueName": name}

    resources = {
        "FilesBucket": {"Ref": local.BUCKET, "Arn": f"arn:{PARTITION}:s3:::{local.BUCKET}"},
        "DisassociateQueue": queue(stack.queue_url, local.QUEUE),
        "DisassociateDLQ": queue(stack.dlq_url, local.DLQ),
        "JobsTable": table(local.JOBS_TABLE),
        "IdempotencyTable": table(local.IDEMPOTENCY_TABLE),
        "ManifestTable": table(local.MANIFEST_TABLE),
        "LtiSecret": {"Ref": secret_arn(local.LTI_SECRET)},
        "ZoomMainCredentialsSecret": {"Ref": secret_arn(f"{local.ZOOM_SECRET_PREFIX}main/credentials")},
        "ZoomMainTokenSecret": {"Ref": secret_arn(f"{local.ZOOM_SECRET_PREFIX}main/token")},
    }
    resources["LedgerTable"] = table(local.LEDGER_TABLE)
    for logical_id, name in (("WebMeetingSecret", local.WEBMEETING_SECRET), ("LuminusSecret", local.LUMINUS_SECRET)):
        resources[logical_id] = {"Ref": secret_arn(name)}
    for kind, logical_id in MACHINES.values():
        name = LOCAL.state_machine(kind)
        resources[logical_id] = {"Ref": state_machine_arn(name), "Arn": state_machine_arn(name), "Name": name}
    if pseudonym_secret_arn:
        resources["PseudonymKeySecret"] = {"Ref": pseudonym_secret_arn}
    names = function_names(template, Resolver(template, {}))
    for logical_id, name in names.items():
        resources[logical_id] = {"Ref": name, "Arn": function_arn(name)}
    return resources


def state_machine_arn(name: str) -> str:
    return f"arn:{PARTITION}:states:{REGION}:{ACCOUNT}:stateMachine:{name}"


def function_arn(name_or_arn: str) -> str:
    if name_or_arn.startswith("arn:"):
        return name_or_arn
    return f"arn:{PARTITION}:lambda:{REGION}:{ACCOUNT}:function:{name_or_arn}"


# ----------------------------------------------------------------------------------- policies and users
# moto checks these services' actions; of those, resources only for S3 and SQS.
MOTO_CHECKS_RESOURCES = {"s3", "sqs"}


def service_of(action: str) -> str:
    return action.split(":", 1)[0].lower()


def moto_statements(statements: list[dict]) -> list[dict]:
    """What moto is given: S3 and SQS statements as they are; any other service's statement with
    ``Resource: "*"`` (moto grants DynamoDB and Secrets Manager actions only so; Lambda is never called).
    The resources those statements name are checked against the calls made, in Python (see ``authorising``)."""
    installed = []
    for statement in statements:
        by_kind: dict[bool, list[str]] = {}
        for action in statement["Action"]:
            by_kind.setdefault(service_of(action) in MOTO_CHECKS_RESOURCES, []).append(action)
        for exact, actions in sorted(by_kind.items()):
            installed.append(
                {
                    **statement,
                    "Action": actions,
                    "Resource": statement["Resource"] if exact else ["*"],
                    **({"Sid": f"{statement['Sid']}Any"} if "Sid" in statement and not exact else {}),
                }
            )
    return installed


@dataclass(frozen=True)
class Principal:
    name: str
    access_key: str
    secret_key: str


def create_users(iam, policies: dict[str, list[dict]], *, prefix: str = STACK_NAME) -> dict[str, Principal]:
    """An ``admin`` user (Action "*" on "*") and one user per entry of ``policies`` with exactly that
    inline policy; returns their keys by name."""
    everything = [{"Effect": "Allow", "Action": "*", "Resource": "*"}]
    principals = {}
    for name, statements in {"admin": everything, **policies}.items():
        user = f"{prefix}-{name}".replace("_", "-")
        iam.create_user(UserName=user)
        iam.put_user_policy(
            UserName=user,
            PolicyName=f"{user}-policy",
            PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": statements}),
        )
        key = iam.create_access_key(UserName=user)["AccessKey"]
        principals[name] = Principal(name, key["AccessKeyId"], key["SecretAccessKey"])
    return principals


def enable_enforcement(endpoint: str) -> None:
    """From now on moto checks every request against its caller's IAM policies."""
    import requests

    requests.post(f"{endpoint}/moto-api/reset-auth", data=b"0", timeout=10).raise_for_status()


# ----------------------------------------------------------------------------------- calls -> IAM actions
def s3_arn(bucket: str, key: str | None = None) -> str:
    return f"arn:{PARTITION}:s3:::{bucket}" + (f"/{key}" if key is not None else "")


def _s3_read(bucket: str, key: str, version: str | None) -> tuple[str, str]:
    return ("s3:GetObjectVersion" if version else "s3:GetObject"), s3_arn(bucket, key)


def _copy_source(source: Any) -> tuple[str, str, str | None]:
    if isinstance(source, dict):
        return source["Bucket"], source["Key"], source.get("VersionId")
    path, _, query = str(source).lstrip("/").partition("?")
    bucket, key = path.split("/", 1)
    version = dict(parse_qsl(query)).get("versionId")
    return bucket, unquote(key), version


def requested(service: str, operation: str, params: dict, response: dict | None = None) -> list[tuple[str, str]]:
    """The (IAM action, resource ARN) pairs AWS authorises ``operation`` against.

    S3 follows the S3 user guide's mapping (HeadObject is s3:GetObject; a GetObject or DeleteObject naming a
    VersionId needs the *Version action; CopyObject reads its source and writes its target). A Secrets Manager
    call is authorised against the secret's stored ARN (with its six-character suffix, as the answer gives it)
    when the secret exists, and against the ARN of the name as given when it does not (AWS has no other ARN to
    use); CreateSecret against the new secret's ARN. Anything not mapped here raises, so the table stays
    complete for what the functions call.
    """
    if service == "s3":
        bucket, key = params.get("Bucket"), params.get("Key")
        if operation in ("GetObject", "HeadObject"):
            return [_s3_read(bucket, key, params.get("VersionId"))]
        if operation in ("PutObject", "CreateMultipartUpload", "UploadPart", "CompleteMultipartUpload"):
            return [("s3:PutObject", s3_arn(bucket, key))]
        if operation == "AbortMultipartUpload":
            return [("s3:AbortMultipartUpload", s3_arn(bucket, key))]
        if operation == "CopyObject":
            source_bucket, source_key, version = _copy_source(params["CopySource"])
            return [_s3_read(source_bucket, source_key, version), ("s3:PutObject", s3_arn(bucket, key))]
        if operation == "DeleteObject":
            action = "s3:DeleteObjectVersion" if params.get("VersionId") else "s3:DeleteObject"
            return [(action, s3_arn(bucket, key))]
        if operation == "DeleteObjects":  # each key is authorised as its own DeleteObject
            return [("s3:DeleteObject", s3_arn(bucket, o["Key"])) for o in params["Delete"]["Objects"]]
        if operation in ("ListObjectsV2", "ListObjects"):
            return [("s3:ListBucket", s3_arn(bucket))]
        if operation == "ListObjectVersions":
            return [("s3:ListBucketVersions", s3_arn(bucket))]
    if service == "sqs" and "QueueUrl" in params:
        name = params["QueueUrl"].rstrip("/").rsplit("/", 1)[-1]
        return [(f"sqs:{operation}", f"arn:{PARTITION}:sqs:{REGION}:{ACCOUNT}:{name}")]
    if service == "dynamodb" and operation == "BatchGetItem":
        return [
            (f"dynamodb:{operation}", f"arn:{PARTITION}:dynamodb:{REGION}:{ACCOUNT}:table/{table}")
            for table in params["RequestItems"]
        ]
    if service == "stepfunctions" and operation == "StartExecution":
        return [("states:StartExecution", params["stateMachineArn"])]
    if service == "stepfunctions" and operation in ("DescribeExecution", "StopExecution"):
        return [(f"states:{operation}", params["executionArn"])]
    if service == "dynamodb" and "TableName" in params:
        table = f"arn:{PARTITION}:dynamodb:{REGION}:{ACCOUNT}:table/{params['TableName']}"
        # A Query or Scan of an index is authorised against the index's ARN, not the table's.
        index = f"/index/{params['IndexName']}" if params.get("IndexName") else ""
        return [(f"dynamodb:{operation}", table + index)]
    if service == "secretsmanager":
        secret = params.get("SecretId") or params.get("Name")
        arn = (response or {}).get("ARN")
        if not arn:
            arn = (
                secret
                if secret.startswith("arn:")
                else f"arn:{PARTITION}:secretsmanager:{REGION}:{ACCOUNT}:secret:{secret}"
            )
        return [(f"secretsmanager:{operation}", arn)]
    if service == "lambda" and operation == "Invoke":
        name = params["FunctionName"]
        if name.startswith("arn:") and name.count(":") > 6:  # a qualified ARN: the function's own ARN
            name = name.rsplit(":", 1)[0]
        return [("lambda:InvokeFunction", function_arn(name))]
    raise KeyError(f"no IAM mapping for {service}:{operation} (add it to infra/local/iam.py requested())")


def _requested(service: str, operation: str, params: dict, response: dict | None = None) -> list[tuple[str, str]]:
    """``requested``, or a ``?service:Operation`` marker for a call it cannot map (reported by the test)."""
    try:
        return requested(service, operation, params, response)
    except KeyError:
        return [(f"?{service}:{operation}", "")]


def _wildcard(pattern: str, *, case: bool = True) -> re.Pattern:
    body = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.compile(f"^{body}$", 0 if case else re.IGNORECASE)


def matches(pattern: str, value: str, *, case: bool = True) -> bool:
    """IAM's wildcard match: ``*`` any run of characters (``/`` included), ``?`` exactly one."""
    return bool(_wildcard(pattern, case=case).match(value))


def authorising(statements: list[dict], action: str, arn: str) -> list[tuple[str, str, str]]:
    """The (statement id, action pattern, resource pattern) grants of ``statements`` that allow
    ``action`` on ``arn`` (actions match case-insensitively, resources case-sensitively)."""
    found = []
    for index, statement in enumerate(statements):
        if statement.get("Effect") != "Allow":
            continue
        for action_pattern in statement["Action"]:
            if not matches(action_pattern, action, case=False):
                continue
            for resource in statement["Resource"]:
                if matches(resource, arn):
                    found.append((statement.get("Sid", f"#{index}"), action_pattern, resource))
    return found


def grants(statements: list[dict]) -> set[tuple[str, str, str]]:
    """Every (statement id, action, resource) a policy grants."""
    return {
        (s.get("Sid", f"#{i}"), action, resource)
        for i, s in enumerate(statements)
        for action in s["Action"]
        for resource in s["Resource"]
    }


# ----------------------------------------------------------------------------------- recording calls
@dataclass
class Call:
    principal: str
    service: str
    operation: str
    params: dict
    status: int
    error: str | None
    actions: list[tuple[str, str]] = field(default_factory=list)

    @property
    def denied(self) -> bool:
        return self.status == 403 or (self.error or "").startswith("AccessDenied")

    def __str__(self) -> str:
        what = ", ".join(f"{a} {r}" for a, r in self.actions) or f"{self.service}:{self.operation}"
        return f"{self.principal}: {what} -> {self.status}{' ' + self.error if self.error else ''}"


Invoker = Callable[[str, bytes, str], "bytes | None"]


class Recorder:
    """Records every AWS call made with a known principal's keys (by access key, so threads and nested
    invocations are attributed correctly). ``Invoke`` is answered by ``invoker(function_arn, payload,
    invocation_type)`` in this process; what it returns is the synchronous answer's payload."""

    def __init__(self, principals: dict[str, Principal], invoker: Invoker | None = None):
        self.by_key = {p.access_key: p for p in principals.values()}
        self.invoker = invoker
        self.calls: list[Call] = []
        self._lock = threading.Lock()

    def install(self, monkeypatch) -> None:
        import botocore.client

        original = botocore.client.BaseClient._make_api_call
        recorder = self

        def make_api_call(client, operation_name, api_params):
            principal = recorder._principal(client)
            if principal is None:
                return original(client, operation_name, api_params)
            return recorder._call(principal, client, operation_name, api_params, original)

        monkeypatch.setattr(botocore.client.BaseClient, "_make_api_call", make_api_call)

    def _principal(self, client) -> Principal | None:
        credentials = getattr(client._request_signer, "_credentials", None)
        if credentials is None:
            return None
        return self.by_key.get(credentials.get_frozen_credentials().access_key)

    def _call(self, principal: Principal, client, operation: str, params: dict, original) -> Any:
        from botocore.exceptions import ClientError

        service = client.meta.service_model.service_name
        if service == "lambda" and operation == "Invoke":
            return self._invoke(principal, params)
        try:
            response = original(client, operation, params)
        except ClientError as error:
            status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
            code = error.response.get("Error", {}).get("Code")
            self._add(
                Call(
                    principal.name,
                    service,
                    operation,
                    dict(params),
                    status,
                    code,
                    _requested(service, operation, params),
                )
            )
            raise
        status = response.get("ResponseMetadata", {}).get("HTTPStatusCode", 200)
        self._add(
            Call(
                principal.name,
                service,
                operation,
                dict(params),
                status,
                None,
                _requested(service, operation, params, response),
            )
        )
        return response

    def _invoke(self, principal: Principal, params: dict) -> dict:
        from botocore.response import StreamingBody

        kind = params.get("InvocationType", "RequestResponse")
        actions = requested("lambda", "Invoke", params)
        status = 202 if kind == "Event" else 200
        self._add(Call(principal.name, "lambda", "Invoke", dict(params), status, None, actions))
        if self.invoker is None:
            raise RuntimeError("no in-process Lambda: Recorder(invoker=...)")
        payload = params.get("Payload") or b""
        answer = self.invoker(actions[0][1], payload.encode() if isinstance(payload, str) else payload, kind) or b""
        return {
            "StatusCode": status,
            "ExecutedVersion": "$LATEST",
            "Payload": StreamingBody(io.BytesIO(answer), len(answer)),
        }

    def _add(self, call: Call) -> None:
        with self._lock:
            self.calls.append(call)

    def mark(self) -> int:
        return len(self.calls)

    def since(self, mark: int, principal: str | None = None) -> list[Call]:
        with self._lock:
            calls = self.calls[mark:]
        return [c for c in calls if principal is None or c.principal == principal]

    # -- presigned URLs: what a browser or curl does with the URL the api hands out
    def send_presigned(
        self,
        method: str,
        url: str,
        *,
        data: bytes | None = None,
        headers: dict[str, str] | None = None,
        timeout: float = 10.0,
    ):
        """Use a presigned S3 URL as its holder would, and record it as the signer's S3 action.

        moto cannot authorise query-string signatures once IAM is enforced (its check reads the
        Authorization header, and answers 500 without one). So the harness does what S3 does first: checks
        the URL's signature (SigV2 or SigV4) with the signer's secret key and its expiry, then sends the
        same method, key, body and headers signed in the header with the same signer's keys, so that moto
        decides with the signer's policy. Returns the ``requests`` response.
        """
        import requests
        from botocore.auth import S3SigV4Auth
        from botocore.awsrequest import AWSRequest
        from botocore.credentials import Credentials

        headers = dict(headers or {})
        parts = urlsplit(url)
        query = parse_qsl(parts.query, keep_blank_values=True)
        access_key, problem = _verify_presigned(method, url, headers, {k: p.secret_key for k, p in self.by_key.items()})
        bucket, _, key = unquote(parts.path).lstrip("/").partition("/")
        principal = self.by_key.get(access_key)
        params = {"Bucket": bucket, "Key": key}
        if dict(query).get("versionId"):
            params["VersionId"] = dict(query)["versionId"]
        operation = {"GET": "GetObject", "HEAD": "HeadObject", "PUT": "PutObject", "DELETE": "DeleteObject"}[method]
        if problem:
            answer = requests.models.Response()
            answer.status_code, answer._content, answer.url = 403, problem.encode(), url
        else:
            # SigV2 URLs also carry the signed Content-Type as a parameter: the header says it again.
            kept = [
                (k, v) for k, v in query if not _is_auth_param(k) and k.lower() not in ("content-type", "content-md5")
            ]
            plain = urlunsplit(parts._replace(query=urlencode(kept)))
            request = AWSRequest(method=method, url=plain, data=data or b"", headers=headers)
            S3SigV4Auth(Credentials(principal.access_key, principal.secret_key), "s3", REGION).add_auth(request)
            prepared = request.prepare()
            answer = requests.request(method, prepared.url, data=data, headers=dict(prepared.headers), timeout=timeout)
        if principal is not None:
            self._add(
                Call(
                    principal.name,
                    "s3",
                    f"presigned {operation}",
                    params,
                    answer.status_code,
                    None if answer.status_code < 400 else (problem or "AccessDenied"),
                    requested("s3", operation, params),
                )
            )
        return answer


_AUTH_PARAMS = {"awsaccesskeyid", "signature", "expires", "x-amz-security-token"}


def _is_auth_param(name: str) -> bool:
    return name.lower() in _AUTH_PARAMS or name.lower().startswith("x-amz-")


def _verify_presigned(
    method: str, url: str, headers: dict[str, str], secrets: dict[str, str]
) -> tuple[str | None, str | None]:
    """(access key, None) when the URL's signature and expiry hold, else (access key or None, reason)."""
    from botocore.auth import HmacV1QueryAuth, S3SigV4QueryAuth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    parts = urlsplit(url)
    given = dict(parse_qsl(parts.query, keep_blank_values=True))
    if "X-Amz-Signature" in given:  # SigV4
        access_key, _date, region, service, _ = given["X-Amz-Credential"].split("/")
        if access_key not in secrets:
            return None, "InvalidAccessKeyId"
        signed = given["X-Amz-SignedHeaders"].split(";")
        request_headers = {k: v for k, v in headers.items() if k.lower() in signed}
        request_headers["host"] = parts.netloc
        rest = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k != "X-Amz-Signature"]
        request = AWSRequest(
            method=method, url=urlunsplit(parts._replace(query=urlencode(rest))), headers=request_headers
        )
        request.context["timestamp"] = given["X-Amz-Date"]
        auth = S3SigV4QueryAuth(
            Credentials(access_key, secrets[access_key]), service, region, expires=int(given["X-Amz-Expires"])
        )
        signature = auth.signature(auth.string_to_sign(request, auth.canonical_request(request)), request)
        issued = calendar.timegm(time.strptime(given["X-Amz-Date"], "%Y%m%dT%H%M%SZ"))
        expires = issued + int(given["X-Amz-Expires"])
        ok = signature == given["X-Amz-Signature"]
    elif "Signature" in given:  # SigV2 (what botocore presigns S3 URLs with unless told s3v4)
        access_key = given["AWSAccessKeyId"]
        if access_key not in secrets:
            return None, "InvalidAccessKeyId"
        expires = int(given["Expires"])
        kept = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if not _is_auth_param(k)]
        split = urlsplit(urlunsplit(parts._replace(query=urlencode(kept))))
        # Signed: the request's own Content-Type / Content-MD5 / x-amz-* headers, and Expires as the Date.
        signed = {
            k: v
            for k, v in headers.items()
            if k.lower() in ("content-type", "content-md5") or k.lower().startswith("x-amz-")
        }
        auth = HmacV1QueryAuth(Credentials(access_key, secrets[access_key]))
        auth._get_date = lambda: str(expires)  # the Date it signs is the URL's Expires
        signature = auth.get_signature(method, split, signed)
        ok = signature == given["Signature"]
    else:
        return None, "not a presigned URL"
    if not ok:
        return access_key, "SignatureDoesNotMatch"
    if time.time() > expires:
        return access_key, "AccessDenied: Request has expired"
    return access_key, None


def denied(calls: Iterable[Call]) -> list[Call]:
    return [c for c in calls if c.denied]
