"""Starting a job's state machine execution, idempotently: the execution is named by the job id.

Step Functions (Standard) keeps an execution's name for 90 days: StartExecution with the same name and input
while it runs answers the same execution, and anything else with that name is ``ExecutionAlreadyExists``.
Either way the job already has its execution, so a redelivered S3 event, a repeated API call or a retried
hand-over never starts a second one: :meth:`Workflows.start` answers the one execution's ARN.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from ..names import execution_name

ENGINE_LAMBDA = "lambda"  # the job ran (or runs) in one invocation
ENGINE_STEP_FUNCTIONS = "stepfunctions"


def execution_arn(machine_arn: str, name: str) -> str:
    """``arn:<p>:states:<region>:<account>:execution:<machine>:<name>`` (the form Step Functions gives it)."""
    prefix, _, machine = machine_arn.rpartition(":stateMachine:")
    return f"{prefix}:execution:{machine}:{name}"


class Workflows:
    """StartExecution of the zoomops state machines, named by job id (``names.execution_name``)."""

    def __init__(self, client):
        self._sfn = client

    def start(self, machine_arn: str, job_id: str, document: dict[str, Any]) -> str:
        """The ARN of the job's execution: started now, or the one a previous call started."""
        name = execution_name(job_id)
        try:
            answer = self._sfn.start_execution(
                stateMachineArn=machine_arn, name=name, input=json.dumps(document, separators=(",", ":"))
            )
        except self._sfn.exceptions.ExecutionAlreadyExists:
            return execution_arn(machine_arn, name)
        return answer["executionArn"]


def starter(client, machines: dict[str, str]):
    """``start(kind, job_id, document) -> execution ARN`` for the job kinds in ``machines`` (kind -> ARN)."""
    workflows = Workflows(client)

    def start(kind: str, job_id: str, document: dict[str, Any]) -> str:
        if kind not in machines:
            raise ValueError(f"no state machine for job kind {kind!r}; known: {', '.join(sorted(machines))}")
        return workflows.start(machines[kind], job_id, document)

    return start


def execution_ended(event: dict[str, Any], jobs) -> dict[str, Any]:
    """An execution that ended FAILED, TIMED_OUT or ABORTED (EventBridge's status change, shaped by the rule's
    input transformer into ``{"step": "ended", "job_id", "status", "execution"}``): its job ends ``failed``
    saying so, unless it already ended (the machine's own Catch ran first, or the job finished)."""
    from ..clock import utc_now

    job_id, status = str(event.get("job_id") or ""), str(event.get("status") or "FAILED")
    reason = (
        f"its state machine execution ended {status} outside its steps (timed out, stopped, or its last step "
        f"failed for good): see {event.get('execution') or 'the execution'} in the Step Functions console"
    )
    if not job_id:
        return {"job_id": None, "ended": False}
    ended = jobs.end_unless_finished(job_id, state="failed", step="failed", refused=reason, finished_at=utc_now())
    return {"job_id": job_id, "ended": ended}


def run_step(
    event: dict[str, Any],
    deps: Any,
    jobs: Any,
    steps: dict[str, Callable[..., dict]],
    *,
    timed: str,
    time_left: Callable[[], float],
) -> dict[str, Any]:
    """One Task of a state machine: the event's ``step`` among ``steps`` (``timed``, the Map child's, also gets
    the invocation's time left), or ``ended`` (EventBridge: the execution ended outside its Catch)."""
    step = event.get("step")
    if step == "ended":
        return execution_ended(event, jobs)
    chosen = steps.get(step or "")
    if chosen is None:
        raise ValueError(f"unknown step {step!r}: {', '.join([*steps, 'ended'])}")
    return chosen(event, deps, time_left=time_left) if step == timed else chosen(event, deps)
