"""Checks on template.yaml: cfn-lint is clean and the security/reliability settings hold.

The template is read with cfn-lint's own YAML loader, which turns the short-form
tags (!Ref, !Sub, !GetAtt, ...) into their long forms ({"Ref": ...}, {"Fn::Sub": ...}).
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cfnlint.decode import cfn_yaml

from zoomops import names

ROOT = Path(__file__).resolve().parents[1]
TEMPLATE = ROOT / "template.yaml"

FUNCTION = "DisassociateFunction"
BUCKET = "FilesBucket"
QUEUE = "DisassociateQueue"
DLQ = "DisassociateDLQ"

EXPECTED_ENVIRONMENT = {
    "POWERTOOLS_SERVICE_NAME": "disassociate",
    "ZOOMOPS_LTI_SECRET_ID": {"Ref": "LtiSecret"},
    "ZOOMOPS_LTI_BASE_URL": {"Ref": "LtiBaseUrl"},
    "ZOOMOPS_JOBS_TABLE": {"Ref": "JobsTable"},
    "ZOOMOPS_IDEMPOTENCY_TABLE": {"Ref": "IdempotencyTable"},
    "ZOOMOPS_BATCH_SIZE": {"Ref": "BatchSize"},
    "ZOOMOPS_INLINE_MAX_BYTES": {"Ref": "InlineMaxBytes"},
    "ZOOMOPS_REMOVAL_MACHINE": {"Ref": "RemovalStateMachine"},
    "ZOOMOPS_PROVISION_MACHINE": {"Ref": "ProvisionStateMachine"},
}


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return cfn_yaml.load(str(TEMPLATE))


@pytest.fixture(scope="module")
def resources(template: dict[str, Any]) -> dict[str, Any]:
    return template["Resources"]


def _props(resources: dict[str, Any], name: str) -> dict[str, Any]:
    return resources[name]["Properties"]


def _function_setting(template: dict[str, Any], name: str, key: str) -> Any:
    """A function property, falling back to Globals.Function as SAM does."""
    props = template["Resources"][name]["Properties"]
    if key in props:
        return props[key]
    return template.get("Globals", {}).get("Function", {})[key]


def _statements(policies: list[Any]) -> Iterator[dict[str, Any]]:
    for policy in policies:
        yield from policy["Statement"]


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _resource_text(resource: Any) -> str:
    """The ARN text of a Resource entry: a literal, or the string of an Fn::Sub."""
    if isinstance(resource, str):
        return resource
    if isinstance(resource, dict) and "Fn::Sub" in resource:
        sub = resource["Fn::Sub"]
        return sub if isinstance(sub, str) else sub[0]
    return ""  # Ref / GetAtt of a single resource


def test_cfn_lint_is_clean() -> None:
    # cfn-lint has no `python -m cfnlint` entry point; call its console-script main.
    result = subprocess.run(
        [sys.executable, "-c", "import sys; from cfnlint.runner import main; sys.exit(main())", TEMPLATE.name],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, f"cfn-lint rc={result.returncode}\n{result.stdout}\n{result.stderr}"


def test_template_is_sam(template: dict[str, Any]) -> None:
    assert template["Transform"] == "AWS::Serverless-2016-10-31"


def test_bucket_blocks_public_access(resources: dict[str, Any]) -> None:
    block = _props(resources, BUCKET)["PublicAccessBlockConfiguration"]
    for key in ("BlockPublicAcls", "BlockPublicPolicy", "IgnorePublicAcls", "RestrictPublicBuckets"):
        assert block[key] is True, key
    rules = _props(resources, BUCKET)["OwnershipControls"]["Rules"]
    assert rules == [{"ObjectOwnership": "BucketOwnerEnforced"}]


def test_bucket_is_encrypted_and_versioned(resources: dict[str, Any]) -> None:
    props = _props(resources, BUCKET)
    (rule,) = props["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert rule["ServerSideEncryptionByDefault"]["SSEAlgorithm"] in {"AES256", "aws:kms"}
    assert props["VersioningConfiguration"]["Status"] == "Enabled"


def test_bucket_policy_denies_insecure_transport(resources: dict[str, Any]) -> None:
    policies = [
        r["Properties"]
        for r in resources.values()
        if r["Type"] == "AWS::S3::BucketPolicy" and r["Properties"]["Bucket"] == {"Ref": BUCKET}
    ]
    assert policies, "no bucket policy on the files bucket"
    denies = [
        s
        for p in policies
        for s in p["PolicyDocument"]["Statement"]
        if s["Effect"] == "Deny"
        and str(s.get("Condition", {}).get("Bool", {}).get("aws:SecureTransport")).lower() == "false"
    ]
    assert denies, "no statement denies aws:SecureTransport false"
    (deny,) = denies
    assert deny["Principal"] == "*"
    assert deny["Action"] in ("s3:*", ["s3:*"])
    covered = {_resource_text(r) for r in _as_list(deny["Resource"])}
    assert "${FilesBucket.Arn}/*" in covered  # every object
    assert {"Fn::GetAtt": [BUCKET, "Arn"]} in _as_list(deny["Resource"])  # the bucket itself


def test_bucket_events_go_to_the_intake_queue_for_removal_and_provisioning(resources: dict[str, Any]) -> None:
    bucket = resources[BUCKET]
    configs = bucket["Properties"]["NotificationConfiguration"]["QueueConfigurations"]
    prefixes = set()
    for config in configs:
        assert config["Event"] == "s3:ObjectCreated:*"
        assert config["Queue"] == {"Fn::GetAtt": [QUEUE, "Arn"]}
        (rule,) = config["Filter"]["S3Key"]["Rules"]
        assert rule["Name"] == "prefix"
        prefixes.add(rule["Value"])
    assert prefixes == set(names.SOURCE_PREFIXES)
    # S3 validates the destination when the notification is set: the queue policy must exist first.
    assert "DisassociateQueuePolicy" in _as_list(bucket["DependsOn"])


def test_queue_redrives_to_dlq(resources: dict[str, Any]) -> None:
    redrive = _props(resources, QUEUE)["RedrivePolicy"]
    assert redrive["deadLetterTargetArn"] == {"Fn::GetAtt": [DLQ, "Arn"]}
    assert 1 <= int(redrive["maxReceiveCount"]) <= 10
    assert resources[DLQ]["Type"] == "AWS::SQS::Queue"


def test_queue_visibility_timeout_covers_six_function_timeouts(template: dict[str, Any]) -> None:
    timeout = int(_function_setting(template, FUNCTION, "Timeout"))
    assert timeout == 900
    visibility = int(_props(template["Resources"], QUEUE)["VisibilityTimeout"])
    assert visibility >= 6 * timeout


def test_sqs_event_reports_batch_item_failures(resources: dict[str, Any]) -> None:
    events = _props(resources, FUNCTION)["Events"]
    sqs_events = [e["Properties"] for e in events.values() if e["Type"] == "SQS"]
    assert sqs_events, "the function has no SQS event"
    for event in sqs_events:
        assert event["Queue"] == {"Fn::GetAtt": [QUEUE, "Arn"]}
        assert "ReportBatchItemFailures" in event["FunctionResponseTypes"]


def test_function_environment_sets_every_variable(template: dict[str, Any]) -> None:
    variables = _props(template["Resources"], FUNCTION)["Environment"]["Variables"]
    for name, value in EXPECTED_ENVIRONMENT.items():
        assert variables.get(name) == value, name
    shared = template["Globals"]["Function"]["Environment"]["Variables"]
    assert shared["POWERTOOLS_METRICS_NAMESPACE"] == "zoomops"


FUNCTIONS = [
    name
    for name, resource in cfn_yaml.load(str(TEMPLATE))["Resources"].items()
    if resource["Type"] == "AWS::Serverless::Function"
]


@pytest.mark.parametrize("function", FUNCTIONS)
def test_function_policies_are_least_privilege(resources: dict[str, Any], function: str) -> None:
    policies = _props(resources, function).get("Policies", [])
    # Inline statements only: no managed policies or SAM policy templates.
    assert all(isinstance(p, dict) and set(p) == {"Statement"} for p in policies), policies
    statements = list(_statements(policies))
    assert statements or not EXPECTED_GRANTS[function]  # only a function granted nothing has no statement
    for statement in statements:
        assert statement["Effect"] == "Allow"
        assert "NotAction" not in statement and "NotResource" not in statement
        for action in _as_list(statement["Action"]):
            assert action != "*" and not action.endswith(":*"), action
        for resource in _as_list(statement["Resource"]):
            text = _resource_text(resource)
            assert text != "*", statement
            # S3 object access is scoped to a prefix, never the whole bucket.
            assert text != "${FilesBucket.Arn}/*", statement


def test_batch_size_cannot_exceed_400(template: dict[str, Any]) -> None:
    parameter = template["Parameters"]["BatchSize"]
    assert parameter["Type"] == "Number"
    assert int(parameter["MaxValue"]) <= 400
    assert int(parameter["MinValue"]) >= 1
    assert 1 <= int(parameter["Default"]) <= int(parameter["MaxValue"])


def test_every_function_has_a_log_group_with_retention(resources: dict[str, Any]) -> None:
    groups = [
        _resource_text(r["Properties"].get("LogGroupName", ""))
        for r in resources.values()
        if r["Type"] == "AWS::Logs::LogGroup"
    ]
    for function in FUNCTIONS:
        assert f"/aws/lambda/${{{function}}}" in groups, function


SECRET = (
    "arn:${AWS::Partition}:secretsmanager:${AWS::Region}:${AWS::AccountId}:secret:${AWS::StackName}/"
    + names.ZOOM_SECRET_PATH
)
FILES = "${FilesBucket.Arn}/"
TOKENS = SECRET + "*/token-??????"
CRUD = ("dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem", "dynamodb:Query")
JOBS_AND_LEDGER = {("dynamodb:GetItem", "JobsTable.Arn"), ("dynamodb:UpdateItem", "JobsTable.Arn")} | {
    (f"dynamodb:{action}", "LedgerTable.Arn") for action in ("GetItem", "PutItem", "UpdateItem", "Query")
}
# Every (action, resource) each function is granted, exactly. test_least_privilege proves each is used
# and enough; this pins the resources, so a widened pattern (which the same calls would still use) fails
# here. A secret's ARN ends in "-" and six random characters: "token-??????" matches token secrets only;
# the bare ".../token" is what AWS authorises a request against while that secret does not exist yet.
EXPECTED_GRANTS = {
    "DisassociateFunction": {
        ("s3:GetObject", FILES + names.INCOMING_PREFIX + "*"),
        ("s3:GetObject", FILES + names.DRYRUN_PREFIX + "*"),
        ("s3:GetObjectVersion", FILES + names.INCOMING_PREFIX + "*"),
        ("s3:GetObjectVersion", FILES + names.DRYRUN_PREFIX + "*"),
        ("s3:DeleteObject", FILES + names.INCOMING_PREFIX + "*"),
        ("s3:DeleteObject", FILES + names.DRYRUN_PREFIX + "*"),
        ("s3:PutObject", FILES + names.RESULTS_PREFIX + "*"),
        ("s3:PutObject", FILES + names.PROCESSED_PREFIX + "*"),
        ("s3:PutObject", FILES + names.REJECTED_PREFIX + "*"),
        ("states:StartExecution", "Ref:RemovalStateMachine"),
        ("states:StartExecution", "Ref:ProvisionStateMachine"),
        ("secretsmanager:GetSecretValue", "Ref:LtiSecret"),
        ("dynamodb:GetItem", "JobsTable.Arn"),
        ("dynamodb:UpdateItem", "JobsTable.Arn"),
        ("dynamodb:PutItem", "IdempotencyTable.Arn"),
        ("dynamodb:UpdateItem", "IdempotencyTable.Arn"),
        ("dynamodb:DeleteItem", "IdempotencyTable.Arn"),
    },
    "TokenRefreshFunction": {
        ("secretsmanager:GetSecretValue", SECRET + "*"),
        ("secretsmanager:PutSecretValue", SECRET + "*/token"),
        ("secretsmanager:PutSecretValue", SECRET + "*/token-??????"),
        ("secretsmanager:CreateSecret", SECRET + "*/token-??????"),
        ("dynamodb:PutItem", "JobsTable.Arn"),
        ("dynamodb:DeleteItem", "JobsTable.Arn"),
    },
    "ParticipantReportFunction": {
        ("secretsmanager:GetSecretValue", SECRET + "*/token-??????"),
        ("secretsmanager:GetSecretValue", "If(Pseudonymise, Ref:PseudonymKeySecret)"),
        ("s3:PutObject", FILES + names.REPORTS_PREFIX + "*"),
        ("s3:GetObject", FILES + names.INCOMING_PREFIX + "*"),
        ("s3:GetObject", FILES + names.PROCESSED_PREFIX + "*"),
        ("s3:GetObject", FILES + "reports/requests/*"),
        ("dynamodb:GetItem", "ManifestTable.Arn"),
        ("dynamodb:PutItem", "ManifestTable.Arn"),
        ("dynamodb:DeleteItem", "ManifestTable.Arn"),
        ("dynamodb:UpdateItem", "JobsTable.Arn"),
        ("states:StartExecution", "Ref:ReportStateMachine"),
    },
    "ApiFunction": {
        ("dynamodb:GetItem", "JobsTable.Arn"),
        ("dynamodb:PutItem", "JobsTable.Arn"),
        ("dynamodb:Query", "${JobsTable.Arn}/index/by-time"),
        ("s3:PutObject", FILES + names.INCOMING_PREFIX + names.API_UPLOADS + "*"),
        ("s3:PutObject", FILES + names.DRYRUN_PREFIX + names.API_UPLOADS + "*"),
        ("s3:PutObject", FILES + names.REPORT_UPLOADS + "*"),
        ("s3:PutObject", FILES + names.PROVISION_PREFIX + names.API_UPLOADS + "*"),
        ("s3:PutObject", FILES + names.PROVISION_DRYRUN_PREFIX + names.API_UPLOADS + "*"),
        ("s3:GetObject", FILES + names.RESULTS_PREFIX + "*"),
        ("s3:GetObject", FILES + names.REPORTS_PREFIX + "runs/*"),
        ("s3:GetObject", FILES + names.PROCESSED_PREFIX + names.API_UPLOADS + "*"),
        ("s3:GetObject", FILES + names.PROCESSED_PREFIX + names.PROVISION_DRYRUN_PREFIX + names.API_UPLOADS + "*"),
        ("secretsmanager:GetSecretValue", SECRET + "*/token-??????"),
        ("secretsmanager:GetSecretValue", SECRET + "*/token"),
        ("lambda:InvokeFunction", "TokenRefreshFunction.Arn"),
        ("states:StartExecution", "Ref:ReportStateMachine"),
        ("states:StartExecution", "Ref:ProvisionStateMachine"),
    },
    "RemovalStepsFunction": {
        ("s3:GetObjectVersion", FILES + names.INCOMING_PREFIX + "*"),
        ("s3:DeleteObject", FILES + names.INCOMING_PREFIX + "*"),
        ("s3:PutObject", FILES + names.RESULTS_PREFIX + "*"),
        ("s3:PutObject", FILES + names.PROCESSED_PREFIX + "*"),
        ("s3:PutObject", FILES + names.REJECTED_PREFIX + "*"),
        ("s3:PutObject", FILES + names.WORK_PREFIX + "*"),
        ("s3:GetObject", FILES + names.WORK_PREFIX + "*"),
        ("secretsmanager:GetSecretValue", "Ref:LtiSecret"),
        ("dynamodb:GetItem", "JobsTable.Arn"),
        ("dynamodb:UpdateItem", "JobsTable.Arn"),
        ("dynamodb:BatchGetItem", "JobsTable.Arn"),
    },
    "ReportStepsFunction": {
        ("secretsmanager:GetSecretValue", TOKENS),
        ("secretsmanager:GetSecretValue", "If(Pseudonymise, Ref:PseudonymKeySecret)"),
        ("s3:PutObject", FILES + names.REPORTS_PREFIX + "*"),
        ("s3:PutObject", FILES + names.WORK_PREFIX + "*"),
        ("s3:GetObject", FILES + names.WORK_PREFIX + "*"),
        ("s3:GetObject", FILES + names.INCOMING_PREFIX + "*"),
        ("s3:GetObject", FILES + names.PROCESSED_PREFIX + "*"),
        ("s3:GetObject", FILES + names.REPORT_UPLOADS + "*"),
        ("s3:DeleteObject", FILES + names.WORK_PREFIX + "rep-*"),  # its merged parts
        ("dynamodb:GetItem", "ManifestTable.Arn"),
        ("dynamodb:PutItem", "ManifestTable.Arn"),
        ("dynamodb:DeleteItem", "ManifestTable.Arn"),
        ("dynamodb:UpdateItem", "JobsTable.Arn"),
    },
    "ProvisionStepsFunction": {
        ("s3:GetObject", FILES + names.PROVISION_PREFIX + "*"),
        ("s3:GetObject", FILES + names.PROVISION_DRYRUN_PREFIX + "*"),
        ("s3:GetObjectVersion", FILES + names.PROVISION_PREFIX + "*"),
        ("s3:GetObjectVersion", FILES + names.PROVISION_DRYRUN_PREFIX + "*"),
        ("s3:DeleteObject", FILES + names.PROVISION_PREFIX + "*"),
        ("s3:DeleteObject", FILES + names.PROVISION_DRYRUN_PREFIX + "*"),
        ("s3:GetObject", FILES + names.WORK_PREFIX + "*"),
        ("s3:PutObject", FILES + names.RESULTS_PREFIX + "*"),
        ("s3:PutObject", FILES + names.PROCESSED_PREFIX + "*"),
        ("s3:PutObject", FILES + names.REJECTED_PREFIX + "*"),
        ("s3:PutObject", FILES + names.WORK_PREFIX + "*"),
        *JOBS_AND_LEDGER,
        ("secretsmanager:GetSecretValue", TOKENS),
        ("secretsmanager:GetSecretValue", "Ref:LtiSecret"),
        ("secretsmanager:GetSecretValue", "Ref:WebMeetingSecret"),
        ("secretsmanager:GetSecretValue", "Ref:LuminusSecret"),
    },
    "ConsoleFunction": set(),  # static pages and config.json: no AWS call at all (tests/test_template_console.py)
}


def _canonical(resource: Any) -> str:
    if isinstance(resource, str):
        return resource
    ((key, arg),) = resource.items()
    if key == "Fn::Sub":
        return arg if isinstance(arg, str) else arg[0]
    if key == "Ref":
        return f"Ref:{arg}"
    if key == "Fn::GetAtt":
        return ".".join(arg) if isinstance(arg, list) else arg
    if key == "Fn::If":
        return f"If({arg[0]}, {_canonical(arg[1])})"  # the other branch is AWS::NoValue here
    raise AssertionError(f"unexpected resource form {resource}")


@pytest.mark.parametrize("function", sorted(EXPECTED_GRANTS))
def test_every_grant_is_exactly_the_expected_action_on_the_expected_resource(
    resources: dict[str, Any], function: str
) -> None:
    granted = {
        (action, _canonical(resource))
        for statement in _statements(_props(resources, function).get("Policies", []))
        for action in _as_list(statement["Action"])
        for resource in _as_list(statement["Resource"])
    }
    assert granted == EXPECTED_GRANTS[function]
    assert set(EXPECTED_GRANTS) == set(FUNCTIONS)


def test_the_main_accounts_secrets_are_declared_and_the_token_starts_empty(resources: dict[str, Any]) -> None:
    credentials, token = _props(resources, "ZoomMainCredentialsSecret"), _props(resources, "ZoomMainTokenSecret")
    assert credentials["Name"] == {"Fn::Sub": "${AWS::StackName}/zoom/main/credentials"}
    assert token["Name"] == {"Fn::Sub": "${AWS::StackName}/zoom/main/token"}
    assert token["SecretString"] == "{}"  # what the refresher and every consumer read as "no token yet"


def test_token_refresh_runs_on_a_schedule(template: dict[str, Any]) -> None:
    props = _props(template["Resources"], "TokenRefreshFunction")
    assert [e["Type"] for e in props["Events"].values()] == ["Schedule"]


def test_token_life_alarm_fires_when_the_refresher_goes_quiet(resources: dict[str, Any]) -> None:
    alarm = resources["TokenLifeAlarm"]["Properties"]
    assert alarm["MetricName"] == "MinTokenRemainingSeconds" and alarm["TreatMissingData"] == "breaching"


def test_participant_report_runs_on_a_schedule_and_reads_only_tokens(template: dict[str, Any]) -> None:
    props = _props(template["Resources"], "ParticipantReportFunction")
    assert [e["Type"] for e in props["Events"].values()] == ["Schedule"]
    statements = list(_statements(props["Policies"]))
    secrets = next(s for s in statements if "secretsmanager:GetSecretValue" in _as_list(s["Action"]))
    assert _resource_text(_as_list(secrets["Resource"])[0]).endswith("/zoom/*/token-??????")  # never credentials


def test_reports_expire_after_their_retention(resources: dict[str, Any]) -> None:
    rules = _props(resources, BUCKET)["LifecycleConfiguration"]["Rules"]
    assert any(
        r.get("Prefix") == "reports/" and r["ExpirationInDays"] == {"Ref": "ReportsRetentionDays"} for r in rules
    )


def test_every_api_route_is_iam_authorised(resources: dict[str, Any]) -> None:
    api = _props(resources, "HttpApi")
    assert api["Auth"]["DefaultAuthorizer"] == "AWS_IAM"
    events = _props(resources, "ApiFunction")["Events"]
    routes = {(e["Properties"]["Method"], e["Properties"]["Path"]) for e in events.values()}
    assert ("ANY", "/disassociate-jobs") in routes and ("ANY", "/report-jobs/{job_id}") in routes
    for event in events.values():
        assert event["Type"] == "HttpApi" and event["Properties"]["ApiId"] == {"Ref": "HttpApi"}
        # no route opts out of the default IAM authoriser
        assert event["Properties"].get("Auth", {}).get("Authorizer", "AWS_IAM") == "AWS_IAM"
    assert not [n for n, r in resources.items() if r["Type"] == "AWS::Serverless::Api"]  # no other, open API


def _alarms(resources: dict[str, Any]) -> list[dict[str, Any]]:
    return [r["Properties"] for r in resources.values() if r["Type"] == "AWS::CloudWatch::Alarm"]


@pytest.mark.parametrize("function", FUNCTIONS)
def test_every_function_has_an_errors_alarm_and_is_in_the_throttles_alarm(
    resources: dict[str, Any], function: str
) -> None:
    alarms = _alarms(resources)
    errors = [
        a
        for a in alarms
        if a.get("MetricName") == "Errors"
        and a["Namespace"] == "AWS/Lambda"
        and a["Dimensions"] == [{"Name": "FunctionName", "Value": {"Ref": function}}]
    ]
    assert len(errors) == 1, function
    [throttles] = [
        a
        for a in alarms
        if "Metrics" in a
        and any(m.get("MetricStat", {}).get("Metric", {}).get("MetricName") == "Throttles" for m in a["Metrics"])
    ]
    watched = {
        m["Id"]: m["MetricStat"]["Metric"]["Dimensions"][0]["Value"] for m in throttles["Metrics"] if "MetricStat" in m
    }
    assert {"Ref": function} in watched.values()
    [total] = [m for m in throttles["Metrics"] if m.get("ReturnData", True)]
    assert all(metric_id in total["Expression"] for metric_id in watched)


def test_the_dlq_alarm_fires_on_the_first_message(resources: dict[str, Any]) -> None:
    [alarm] = [a for a in _alarms(resources) if a.get("Namespace") == "AWS/SQS"]
    assert alarm["Dimensions"][0]["Value"] == {"Fn::GetAtt": [DLQ, "QueueName"]}
    assert alarm["MetricName"] == "ApproximateNumberOfMessagesVisible"
    assert (alarm["Threshold"], alarm["ComparisonOperator"]) == (0, "GreaterThanThreshold")


def test_every_alarm_notifies_the_topic_when_one_is_given(resources: dict[str, Any]) -> None:
    for alarm in _alarms(resources):
        assert alarm["AlarmActions"] == {
            "Fn::If": ["HasAlarmTopic", [{"Ref": "AlarmTopicArn"}], {"Ref": "AWS::NoValue"}]
        }, alarm["AlarmDescription"]
