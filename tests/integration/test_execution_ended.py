"""An execution that ends outside its own Catch (timed out, stopped from the console, its Abandon's retries
spent) still ends its job: template.yaml routes Step Functions' status change through EventBridge to the
machine's steps function. Here the template's own rule (pattern and input transformer) is applied to the event
AWS sends, and the result given to each steps function's real handler against moto."""

from __future__ import annotations

import json
import re
import uuid
from pathlib import Path
from typing import Any

import pytest
from cfnlint.decode import cfn_yaml

from infra.local.stack import JOBS_TABLE, MACHINE_ARNS, LambdaContext, load_handler
from zoomops.aws.jobstore import JobStore

pytestmark = pytest.mark.integration
TEMPLATE = Path(__file__).resolve().parents[2] / "template.yaml"
STEPS = {  # job kind -> (steps function folder, its logical id, the machine's logical id)
    "disassociate": ("removal_steps", "RemovalStepsFunction", "RemovalStateMachine"),
    "report": ("report_steps", "ReportStepsFunction", "ReportStateMachine"),
    "provision": ("provision_steps", "ProvisionStepsFunction", "ProvisionStateMachine"),
}


def status_change(machine_arn: str, name: str, status: str) -> dict[str, Any]:
    """EventBridge's "Step Functions Execution Status Change" event, as AWS sends it."""
    execution = machine_arn.replace(":stateMachine:", ":execution:") + f":{name}"
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Step Functions Execution Status Change",
        "source": "aws.states",
        "account": "123456789012",
        "time": "2026-11-30T12:00:00Z",
        "region": "us-east-1",
        "resources": [execution],
        "detail": {
            "executionArn": execution,
            "stateMachineArn": machine_arn,
            "name": name,
            "status": status,
            "startDate": 1796040000000,
            "stopDate": 1796043600000,
            "input": json.dumps({"job_id": name}),
            "output": None,
        },
    }


def transformed(rule: dict[str, Any], event: dict[str, Any]) -> dict[str, Any]:
    """The rule's input transformer applied as EventBridge applies it: each path's value, JSON-encoded."""
    values = {}
    for name, path in rule["InputTransformer"]["InputPathsMap"].items():
        value: Any = event
        for part in path.removeprefix("$.").split("."):
            value = value[part]
        values[name] = json.dumps(value)
    return json.loads(re.sub(r"<(\w+)>", lambda m: values[m.group(1)], rule["InputTransformer"]["InputTemplate"]))


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return cfn_yaml.load(str(TEMPLATE))


@pytest.mark.parametrize("kind", sorted(STEPS))
def test_an_execution_that_ended_outside_its_catch_ends_its_job(stack, template, kind):
    folder, function, machine = STEPS[kind]
    rule = template["Resources"][function]["Properties"]["Events"]["ExecutionEnded"]["Properties"]
    assert rule["Pattern"]["source"] == ["aws.states"]
    assert rule["Pattern"]["detail"]["stateMachineArn"] == [{"Ref": machine}]
    assert set(rule["Pattern"]["detail"]["status"]) == {"FAILED", "TIMED_OUT", "ABORTED"}
    jobs = JobStore(JOBS_TABLE, stack.client("dynamodb"))
    running, finished = (f"{kind[:3]}-{uuid.uuid4().hex[:24]}" for _ in range(2))
    jobs.start(running, {"kind": kind})
    jobs.start(finished, {"kind": kind})
    jobs.set(finished, state="succeeded", finished_at="2026-11-30T11:00:00+00:00")
    handler = load_handler(folder).handler

    for job_id, status in ((running, "TIMED_OUT"), (finished, "FAILED")):
        answer = handler(transformed(rule, status_change(MACHINE_ARNS[kind], job_id, status)), LambdaContext())
        assert answer == {"job_id": job_id, "ended": job_id == running}
    ended = jobs.get(running)
    assert ended["state"] == "failed" and ended["finished_at"] and "ended TIMED_OUT" in ended["refused"]
    assert jobs.get(finished)["state"] == "succeeded"  # what its own steps said stands
