"""template.yaml's long jobs: the three Step Functions state machines, their roles, and the rule that no function
re-triggers itself (no sqs:SendMessage on its own trigger queue, no lambda:InvokeFunction on itself, no
StartExecution of the machine whose steps it runs), read from the template and its ASL files."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from cfnlint.decode import cfn_yaml

from infra.local import iam
from zoomops import names

ROOT = Path(__file__).resolve().parents[1]
TEMPLATE = ROOT / "template.yaml"
MACHINES = {logical_id: kind for kind, logical_id in names.MACHINES.values()}
STEPS = {
    "RemovalStateMachine": "RemovalStepsFunction",
    "ReportStateMachine": "ReportStepsFunction",
    "ProvisionStateMachine": "ProvisionStepsFunction",
}
CONCURRENCY = {
    "RemovalStateMachine": "RemovalConcurrency",
    "ReportStateMachine": "ReportConcurrency",
    "ProvisionStateMachine": "ProvisionConcurrency",
}


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return cfn_yaml.load(str(TEMPLATE))


def _props(template: dict[str, Any], name: str) -> dict[str, Any]:
    return template["Resources"][name]["Properties"]


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
    raise AssertionError(f"unexpected resource form {resource}")


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _grants(policies: list[dict]) -> set[tuple[str, str]]:
    return {
        (action, _canonical(resource))
        for policy in policies
        for statement in policy["Statement"]
        for action in _as_list(statement["Action"])
        for resource in _as_list(statement["Resource"])
    }


def _machine_grants(kind: str, steps: str) -> set[tuple[str, str]]:
    here = "arn:${AWS::Partition}:states:${AWS::Region}:${AWS::AccountId}"
    return {
        ("lambda:InvokeFunction", f"{steps}.Arn"),
        ("s3:GetObject", "${FilesBucket.Arn}/" + names.WORK_PREFIX + "*"),  # the Distributed Map's ItemReader
        ("states:StartExecution", f"{here}:stateMachine:${{AWS::StackName}}-{kind}"),  # its child executions
        ("states:DescribeExecution", f"{here}:execution:${{AWS::StackName}}-{kind}/*"),
        ("states:StopExecution", f"{here}:execution:${{AWS::StackName}}-{kind}/*"),
    }


def test_the_template_declares_exactly_the_three_machines(template: dict[str, Any]) -> None:
    declared = {n for n, r in template["Resources"].items() if r["Type"] == "AWS::Serverless::StateMachine"}
    assert declared == set(MACHINES)


@pytest.mark.parametrize("machine", sorted(MACHINES))
def test_each_machine_is_standard_named_by_the_stack_and_deployed_from_its_asl_file(
    template: dict[str, Any], machine: str
) -> None:
    props = _props(template, machine)
    assert props["Type"] == "STANDARD"  # exactly-once steps, up to a year of waiting
    assert props["Name"] == {"Fn::Sub": f"${{AWS::StackName}}-{MACHINES[machine]}"}
    assert names.LOCAL.state_machine(MACHINES[machine]) == f"{names.LOCAL.stack}-{MACHINES[machine]}"
    path = ROOT / props["DefinitionUri"]
    assert path.parent == ROOT / "infra" / "statemachines" and path.is_file()
    text = path.read_text()
    used = set(re.findall(r"\$\{([^}]+)\}", text))
    assert used == set(props["DefinitionSubstitutions"]), "every placeholder substituted, every substitution used"
    # What CloudFormation makes of it is JSON, and states only what Step Functions runs.
    definition = json.loads(re.sub(r"\$\{[^}]+\}", "1", text))
    assert definition["StartAt"] in definition["States"]
    for name in ("JSONata", "Assign", "ItemBatcher"):  # what the local engine cannot run
        assert name not in text, name


@pytest.mark.parametrize("machine", sorted(MACHINES))
def test_each_machines_role_invokes_only_its_steps_and_runs_only_its_own_children(
    template: dict[str, Any], machine: str
) -> None:
    props = _props(template, machine)
    assert all(isinstance(p, dict) and set(p) == {"Statement"} for p in props["Policies"])
    assert _grants(props["Policies"]) == _machine_grants(MACHINES[machine], STEPS[machine])
    assert props["DefinitionSubstitutions"][f"{STEPS[machine][: -len('Function')]}FunctionArn"] == {
        "Fn::GetAtt": [STEPS[machine], "Arn"]
    }


def _tasks(states: dict[str, Any]):
    for name, state in states.items():
        yield name, state
        if state["Type"] == "Map":
            yield from _tasks(state["ItemProcessor"]["States"])


def _definition(template: dict[str, Any], machine: str) -> dict[str, Any]:
    props = _props(template, machine)
    return json.loads(re.sub(r"\$\{[^}]+\}", "1", (ROOT / props["DefinitionUri"]).read_text()))


@pytest.mark.parametrize("machine", ["RemovalStateMachine", "ReportStateMachine"])
def test_the_map_is_distributed_its_concurrency_a_parameter_and_its_items_retried_then_caught(
    template: dict[str, Any], machine: str
) -> None:
    text = (ROOT / _props(template, machine)["DefinitionUri"]).read_text()
    parameter = CONCURRENCY[machine]
    assert f'"MaxConcurrency": ${{{parameter}}}' in text
    assert _props(template, machine)["DefinitionSubstitutions"][parameter] == {"Ref": parameter}
    spec = template["Parameters"][parameter]
    assert spec["Type"] == "Number" and 1 <= int(spec["MinValue"]) <= int(spec["Default"]) <= int(spec["MaxValue"])
    maps = [s for _, s in _tasks(_definition(template, machine)["States"]) if s["Type"] == "Map"]
    assert len(maps) == 1
    (item_map,) = maps
    assert item_map["ItemProcessor"]["ProcessorConfig"] == {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"}
    assert item_map["ItemReader"]["Resource"] == "arn:aws:states:::s3:getObject"
    first = item_map["ItemProcessor"]["States"][item_map["ItemProcessor"]["StartAt"]]
    assert any(r["BackoffRate"] > 1 and r["MaxAttempts"] >= 3 for r in first["Retry"])
    assert first["Catch"][0]["ErrorEquals"] == ["States.ALL"]  # a failed item is recorded, the map goes on


def test_removal_retries_lti_pros_throttling_and_5xx_with_backoff(template: dict[str, Any]) -> None:
    states = dict(_tasks(_definition(template, "RemovalStateMachine")["States"]))
    (retry,) = [r for r in states["SendBatch"]["Retry"] if "LtiThrottled" in r["ErrorEquals"]]
    assert {"LtiThrottled", "LtiUnavailable"} <= set(retry["ErrorEquals"]) and retry["BackoffRate"] >= 2


def test_reports_wait_for_the_recorded_reset_then_fetch_only_whats_left(template: dict[str, Any]) -> None:
    states = _definition(template, "ReportStateMachine")["States"]
    (wait,) = [s for s in states.values() if s["Type"] == "Wait"]
    assert wait["TimestampPath"] == "$.resume_at" and wait["Next"] == "FetchMeetings"
    assert states["Tally"]["Next"] == "AnythingLeft" and states["FetchMeetings"]["Next"] == "Tally"


def test_the_steps_pace_with_the_same_concurrency_the_map_runs_with(template: dict[str, Any]) -> None:
    """The ceiling's arithmetic needs one value for both: MaxConcurrency and what each child divides by."""
    removal = _props(template, "RemovalStepsFunction")["Environment"]["Variables"]
    assert removal["ZOOMOPS_REMOVAL_CONCURRENCY"] == {"Ref": "RemovalConcurrency"}
    assert removal["ZOOMOPS_LTI_REQUESTS_PER_SECOND"] == {"Ref": "LtiRequestsPerSecond"}
    reports = _props(template, "ReportStepsFunction")["Environment"]["Variables"]
    assert reports["ZOOMOPS_REPORT_CONCURRENCY"] == {"Ref": "ReportConcurrency"}


# -- no function re-triggers itself ------------------------------------------------------------------------
class _Anything(dict):
    """Local values for every logical id the resolver meets (functions, queues and machines by their names)."""

    def __init__(self, known: dict[str, dict[str, str]]):
        super().__init__(known)

    def __missing__(self, logical_id: str) -> dict[str, str]:
        value = {"Ref": f"ref-{logical_id}", "Arn": f"arn:aws:local:::{logical_id}", "Name": logical_id}
        self[logical_id] = value
        return value


@pytest.fixture(scope="module")
def resolver(template: dict[str, Any]) -> iam.Resolver:
    known: dict[str, dict[str, str]] = {}
    for logical_id, name in iam.function_names(template, iam.Resolver(template, {})).items():
        known[logical_id] = {"Ref": name, "Arn": iam.function_arn(name)}
    for logical_id, resource in template["Resources"].items():
        if resource["Type"] == "AWS::SQS::Queue":
            arn = f"arn:aws:sqs:{iam.REGION}:{iam.ACCOUNT}:{logical_id}"
            known[logical_id] = {"Ref": f"https://sqs/{logical_id}", "Arn": arn, "QueueName": logical_id}
    for logical_id, kind in MACHINES.items():
        arn = iam.state_machine_arn(names.LOCAL.state_machine(kind))
        known[logical_id] = {"Ref": arn, "Arn": arn, "Name": names.LOCAL.state_machine(kind)}
    return iam.Resolver(template, _Anything(known))


FUNCTIONS = [
    n for n, r in cfn_yaml.load(str(TEMPLATE))["Resources"].items() if r["Type"] == "AWS::Serverless::Function"
]


@pytest.mark.parametrize("function", FUNCTIONS)
def test_no_function_sends_to_its_own_trigger_invokes_itself_or_starts_its_own_machine(
    template: dict[str, Any], resolver: iam.Resolver, function: str
) -> None:
    statements = resolver.statements(function)
    itself = resolver.resources[function]["Arn"]
    assert not iam.authorising(statements, "lambda:InvokeFunction", itself), function
    events = _props(template, function).get("Events", {})
    for event in events.values():
        if event["Type"] == "SQS":
            queue = resolver.resolve(event["Properties"]["Queue"])
            assert not iam.authorising(statements, "sqs:SendMessage", queue), (function, queue)
    for machine, steps in STEPS.items():
        if steps == function:  # the steps of a machine never start it (its own map's children are its role's)
            assert not iam.authorising(statements, "states:StartExecution", resolver.resources[machine]["Ref"])


def test_the_old_continuations_are_gone(resolver: iam.Resolver) -> None:
    """What used to continue a long job: the disassociate function re-queued its own event, the report function
    invoked itself. Neither may come back under another statement."""
    queue = resolver.resources["DisassociateQueue"]["Arn"]
    for function in FUNCTIONS:
        assert not iam.authorising(resolver.statements(function), "sqs:SendMessage", queue), function
    report = resolver.resources["ParticipantReportFunction"]["Arn"]
    for function in FUNCTIONS:
        assert not iam.authorising(resolver.statements(function), "lambda:InvokeFunction", report), function


@pytest.mark.parametrize("function", FUNCTIONS)
def test_lambda_stops_any_recursive_loop(template: dict[str, Any], function: str) -> None:
    own = _props(template, function).get("RecursiveLoop")
    assert (own or template["Globals"]["Function"]["RecursiveLoop"]) == "Terminate"


def test_the_ledger_table_and_the_platform_secrets_are_declared(template: dict[str, Any]) -> None:
    ledger = _props(template, "LedgerTable")
    assert ledger["TableName"] == {"Fn::Sub": "${AWS::StackName}-ledger"}
    assert ledger["KeySchema"] == [
        {"AttributeName": "pk", "KeyType": "HASH"},
        {"AttributeName": "sk", "KeyType": "RANGE"},
    ]
    assert ledger["TimeToLiveSpecification"] == {"AttributeName": "expires_at", "Enabled": True}
    assert ledger["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
    assert names.LOCAL.ledger_table == f"{names.LOCAL.stack}-ledger"
    for logical_id, name in (("WebMeetingSecret", "webmeeting"), ("LuminusSecret", "luminus")):
        assert _props(template, logical_id)["Name"] == {"Fn::Sub": f"${{AWS::StackName}}/{name}"}
        assert getattr(names.LOCAL, f"{name}_secret") == f"{names.LOCAL.stack}/{name}"


def test_work_items_expire(template: dict[str, Any]) -> None:
    rules = _props(template, "FilesBucket")["LifecycleConfiguration"]["Rules"]
    """Every job kind's work files expire; a report's outlive its longest job (a round a day, under a year), the
    others are days old at most (each provisioning pass rewrites what it carries)."""
    from zoomops.aws.reports import MAX_ROUNDS

    days = {r["Prefix"]: int(r["ExpirationInDays"]) for r in rules if r.get("Prefix", "").startswith(names.WORK_PREFIX)}
    assert names.WORK_PREFIX not in days  # one rule for all would expire a waiting report's parts
    assert days[names.WORK_PREFIX + "dis-"] <= 30 and days[names.WORK_PREFIX + "provision/"] <= 30
    assert MAX_ROUNDS < days[names.WORK_PREFIX + "rep-"] <= 400


@pytest.mark.parametrize("function", ["RemovalStepsFunction", "ReportStepsFunction"])
def test_the_steps_that_plan_and_finalize_big_jobs_have_room_for_them(template: dict[str, Any], function: str) -> None:
    """docs/scale.md's arithmetic: 10 million rows of bodies or rows.csv, a semester's attendance, in /tmp."""
    props = _props(template, function)
    assert int(props["Timeout"]) == 900 and int(props["EphemeralStorage"]["Size"]) >= 4096
