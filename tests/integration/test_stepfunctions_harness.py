"""The local Step Functions harness (infra/local/stepfunctions.py): a throwaway ASL deployed from a SAM-shaped
template, executed by the local stack's moto server, every Task answered by a handler in this process."""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from infra.local.stack import BUCKET, ZOOM_ACCOUNTS
from infra.local.stepfunctions import FastClock, StepFunctions
from zoomops.clock import next_utc_midnight
from zoomops.names import LOCAL

TOY_TEMPLATE = Path(__file__).parents[1] / "fixtures" / "statemachines" / "toy.template.yaml"
TOY = "ToyStateMachine"
Z = "%Y-%m-%dT%H:%M:%SZ"  # what moto's Wait accepts ("+00:00" it refuses)


class Throttled(Exception):
    """A partner's 429 as a step raises it: ErrorEquals matches the class name."""


class Toy:
    """The toy's four functions; thread-safe, as moto runs Map items in parallel threads."""

    def __init__(self, stack, clock: FastClock):
        self.clock, self.s3 = clock, stack.client("s3")
        self.lock = threading.Lock()
        self.throttle: dict[int, int] = {}  # item -> Throttled raised before it succeeds
        self.broken: set[int] = set()  # items that always raise ValueError
        self.flaky_steps: list = []  # what the flaky step raises (or returns, when not an exception), in turn
        self.work_seconds = 0.0
        self.running = self.peak = 0

    def handlers(self) -> dict:
        return {f"{LOCAL.stack}-toy-{n}": getattr(self, n) for n in ("plan", "work", "flaky", "finalize")}

    def plan(self, event: dict, context) -> dict:
        answer = {"mode": event["mode"], "function": context.function_name, "timeout": context.timeout_seconds}
        items = [{"n": n} for n in range(event.get("count", 0))]
        if event["mode"] == "inline":
            answer["items"] = items
        elif event["mode"] == "distributed":
            answer["items_key"] = f"plans/{event['job']}/items.json"
            self.s3.put_object(Bucket=BUCKET, Key=answer["items_key"], Body=json.dumps(items).encode())
        elif event["mode"] == "wait":
            answer["resume_at"] = event.get("resume_at") or next_utc_midnight(self.clock.now()).strftime(Z)
        return answer

    def work(self, event: dict, context) -> dict:
        n = event["item"]["n"] if "item" in event else event["n"]
        with self.lock:
            self.running += 1
            self.peak = max(self.peak, self.running)
            throttled = self.throttle.get(n, 0) > 0
            self.throttle[n] = self.throttle.get(n, 0) - 1
        try:
            time.sleep(self.work_seconds)
            if throttled:
                raise Throttled(f"429 on item {n}")
            if n in self.broken:
                raise ValueError(f"item {n} is broken")
            return {"n": n, "ok": True}
        finally:
            with self.lock:
                self.running -= 1

    def flaky(self, event: dict, context):
        with self.lock:
            step = self.flaky_steps.pop(0) if self.flaky_steps else {"ok": True}
        if isinstance(step, Exception):
            raise step
        return step

    def finalize(self, event: dict, context) -> dict:
        results = event.get("results", [])
        failed = {r["index"]: r["failed"] for r in results if "failed" in r}
        flaky = event.get("flaky") or event.get("error")
        return {"ok": sum(1 for r in results if r.get("ok")), "failed": failed, "flaky": flaky, "at": self.clock()}


@pytest.fixture
def clock() -> FastClock:
    return FastClock()


@pytest.fixture
def toy(stack, clock) -> Toy:
    return Toy(stack, clock)


@pytest.fixture
def sfn(stack, toy, clock):
    """The harness on a fast clock, the toy deployed from its template."""
    with StepFunctions(stack, toy.handlers(), clock=clock, template=TOY_TEMPLATE) as harness:
        harness.create(TOY)
        yield harness


@pytest.fixture
def real_sfn(stack, toy):
    """The harness on the real clock: Wait states take their time."""
    with StepFunctions(stack, toy.handlers(), template=TOY_TEMPLATE) as harness:
        harness.create(TOY)
        yield harness


def in_an_hour() -> str:
    return (datetime.now(UTC) + timedelta(hours=1)).strftime(Z)


def test_task_choice_and_inline_map_with_max_concurrency_and_a_retried_item(sfn, toy, clock):
    toy.throttle, toy.work_seconds = {1: 1}, 0.05
    outcome = sfn.run(TOY, "inline-1", {"mode": "inline", "count": 6})

    assert outcome.status == "SUCCEEDED", outcome
    assert outcome.output["ok"] == 6 and outcome.output["failed"] == {}
    assert toy.peak == 2  # MaxConcurrency: 2, and the items did run side by side
    assert clock.waits == [5.0]  # item 1's one retry, IntervalSeconds 5, skipped
    plan = next(i for i in sfn.invocations if i.function.endswith("-toy-plan"))
    assert plan.event == {"mode": "inline", "count": 6}  # Payload.$: "$"
    entered = [
        e["stateEnteredEventDetails"]["name"] for e in sfn.history(outcome.arn) if "stateEnteredEventDetails" in e
    ]
    assert entered[:3] == ["Plan", "Route", "Inline"] and entered[-1] == "Finalize"


def test_plan_sees_its_name_and_the_templates_timeout_in_its_context(sfn):
    outcome = sfn.run(TOY, "context-1", {"mode": "nothing"})

    assert (outcome.status, outcome.error) == ("FAILED", "UnknownMode")  # the Choice's Default
    plan = json.loads(sfn.history(outcome.arn, "TaskSucceeded")[0]["taskSucceededEventDetails"]["output"])
    assert plan["Payload"]["function"] == f"{LOCAL.stack}-toy-plan" and plan["Payload"]["timeout"] == 60.0


def test_distributed_map_reads_its_items_from_s3_and_catches_inside_the_item(sfn, toy, clock):
    toy.throttle, toy.broken = {3: 1}, {7}
    outcome = sfn.run(TOY, "dist-1", {"mode": "distributed", "job": "dist-1", "count": 20})

    assert outcome.status == "SUCCEEDED", outcome
    assert outcome.output["ok"] == 19 and outcome.output["failed"] == {"7": "ValueError"}
    assert clock.waits == [5.0]
    (run,) = sfn.map_runs(outcome.arn)
    assert run["maxConcurrency"] == 8 and run["itemCounts"]["succeeded"] == 20
    items = [i.event for i in sfn.invocations if i.function.endswith("-toy-work")]
    assert {"job": "dist-1", "index": 0, "item": {"n": 0}} in items  # the ItemSelector's shape


def test_600_item_distributed_map_finishes_in_seconds(sfn, toy):
    began = time.monotonic()
    outcome = sfn.run(TOY, "dist-600", {"mode": "distributed", "job": "dist-600", "count": 600})
    took = time.monotonic() - began

    assert outcome.status == "SUCCEEDED", outcome
    assert outcome.output["ok"] == 600
    assert sum(1 for i in sfn.invocations if i.function.endswith("-toy-work")) == 600
    assert took < 6.0, f"600 items took {took:.1f} s"


def test_retry_on_a_python_exception_name_backs_off_on_the_fast_clock(sfn, toy, clock):
    toy.flaky_steps = [Throttled("429 slow down"), Throttled("429 slow down")]
    began = time.monotonic()
    outcome = sfn.run(TOY, "flaky-1", {"mode": "flaky"})

    assert outcome.status == "SUCCEEDED", outcome
    assert outcome.output["flaky"] == {"answer": {"ok": True}}  # ResultSelector over $.Payload
    assert clock.waits == [30.0, 60.0]  # IntervalSeconds 30, BackoffRate 2
    assert time.monotonic() - began < 3.0
    failures = sfn.history(outcome.arn, "TaskFailed")
    assert [f["taskFailedEventDetails"]["error"] for f in failures] == ["Throttled", "Throttled"]


def test_a_handlers_exception_and_an_unmarshallable_answer_reach_catch_as_on_aws(sfn, toy, clock):
    toy.flaky_steps = [ValueError("row 7 is broken"), {"when": datetime.now(UTC)}]
    raised = sfn.run(TOY, "flaky-raise", {"mode": "flaky"})
    marshal = sfn.run(TOY, "flaky-marshal", {"mode": "flaky"})

    assert raised.status == "SUCCEEDED" and raised.output["error"] == "ValueError"  # no Retry matched: Catch
    document = json.loads(raised.output["cause"])
    assert list(document) == ["errorMessage", "errorType", "requestId", "stackTrace"]
    assert document["errorMessage"] == "row 7 is broken" and "in flaky" in document["stackTrace"][-1]
    assert marshal.output["error"] == "Runtime.MarshalError"
    assert "Unable to marshal response" in json.loads(marshal.output["cause"])["errorMessage"]
    assert clock.waits == []


def test_an_unknown_function_fails_as_lambdas_resource_not_found(stack, toy, clock):
    handlers = {name: h for name, h in toy.handlers().items() if not name.endswith("-toy-flaky")}
    with StepFunctions(stack, handlers, clock=clock, template=TOY_TEMPLATE) as harness:
        outcome = harness.run(harness.create(TOY), "missing-1", {"mode": "flaky"})

    assert outcome.output["error"] == "Lambda.ResourceNotFoundException"
    arn = f"arn:aws:lambda:us-east-1:123456789012:function:{LOCAL.stack}-toy-flaky"
    assert outcome.output["cause"].startswith(f"Function not found: {arn} (Service: AWSLambda; Status Code: 404")


def test_wait_until_tomorrow_midnight_utc_is_instant_on_the_fast_clock(sfn, clock):
    midnight = next_utc_midnight(clock.now())
    began = time.monotonic()
    outcome = sfn.run(TOY, "wait-1", {"mode": "wait"})

    assert outcome.status == "SUCCEEDED", outcome
    assert time.monotonic() - began < 3.0
    assert outcome.output["at"] >= midnight.timestamp()  # the handler after the Wait reads the virtual clock
    assert len(clock.waits) == 1 and 0 < clock.waits[0] <= 86_400
    assert [e["type"] for e in sfn.history(outcome.arn, "WaitStateEntered", "WaitStateExited")] == [
        "WaitStateEntered",
        "WaitStateExited",
    ]


def test_current_state_while_waiting_on_the_real_clock_in_a_zone_east_of_utc(real_sfn):
    saved = os.environ.get("TZ")
    os.environ["TZ"] = "JST-9"  # moto's own Wait compares with local time: it would not wait at all here
    time.tzset()
    try:
        arn = real_sfn.start(TOY, "wait-real", {"mode": "wait", "resume_at": in_an_hour()})
        deadline = time.monotonic() + 5
        while real_sfn.current_state(arn) != "UntilReset" and time.monotonic() < deadline:
            time.sleep(0.02)
        time.sleep(0.3)
        assert real_sfn.current_state(arn) == "UntilReset"
    finally:
        if saved is None:
            del os.environ["TZ"]
        else:
            os.environ["TZ"] = saved
        time.tzset()
    real_sfn.abort(arn)
    assert real_sfn.wait(arn, timeout=5).status == "ABORTED" and real_sfn.current_state(arn) is None


def test_start_by_name_is_idempotent_while_running_and_refused_otherwise(real_sfn):
    data = {"mode": "wait", "resume_at": in_an_hour()}
    first = real_sfn.start(TOY, "job-7", data)

    assert real_sfn.start(TOY, "job-7", data) == first
    with pytest.raises(ClientError) as other_input:
        real_sfn.start(TOY, "job-7", {**data, "extra": 1})
    real_sfn.abort(first)
    real_sfn.wait(first, timeout=5)
    with pytest.raises(ClientError) as closed:
        real_sfn.start(TOY, "job-7", data)

    assert other_input.value.response["Error"]["Code"] == "ExecutionAlreadyExists"
    assert closed.value.response["Error"]["Code"] == "ExecutionAlreadyExists"
    assert len(real_sfn.client.list_executions(stateMachineArn=real_sfn.machines[TOY])["executions"]) == 1


def test_uninstall_restores_every_patch(stack, toy, clock):
    from moto.core.config import default_user_config
    from moto.stepfunctions.parser.asl.component.common.retry import retrier_decl
    from moto.stepfunctions.parser.asl.component.state.exec.state_task import lambda_eval_utils
    from moto.stepfunctions.parser.asl.component.state.wait.wait_function import timestamp, wait_function

    places = [
        (lambda_eval_utils, "_invoke_lambda_function"),
        (timestamp.Timestamp, "_get_wait_seconds"),
        (wait_function.WaitFunction, "_wait_interval"),
        (retrier_decl, "time"),
    ]
    before = [vars(owner)[name] for owner, name in places]
    limit, port = sys.getrecursionlimit(), os.environ.get("MOTO_PORT")
    with StepFunctions(stack, toy.handlers(), clock=clock, template=TOY_TEMPLATE):
        assert all(vars(owner)[name] is not was for (owner, name), was in zip(places, before))
        assert os.environ["MOTO_PORT"] == stack.endpoint.rsplit(":", 1)[1] and sys.getrecursionlimit() >= 20_000
        with pytest.raises(RuntimeError, match="another StepFunctions"):
            StepFunctions(stack, template=TOY_TEMPLATE).install()

    assert [vars(owner)[name] for owner, name in places] == before
    assert (sys.getrecursionlimit(), os.environ.get("MOTO_PORT")) == (limit, port)
    assert default_user_config["stepfunctions"] == {"execute_state_machine": False}


def test_uninstall_stops_what_still_runs(stack, toy):
    with StepFunctions(stack, toy.handlers(), template=TOY_TEMPLATE) as harness:
        arn = harness.start(harness.create(TOY), "left-running", {"mode": "wait", "resume_at": in_an_hour()})
        deadline = time.monotonic() + 5
        while harness.current_state(arn) != "UntilReset" and time.monotonic() < deadline:
            time.sleep(0.02)
        assert harness.current_state(arn) == "UntilReset"

    assert harness.aborted == [arn]  # and its thread ended (uninstall raises otherwise)


def test_a_real_handler_answers_a_task(stack):
    with StepFunctions(stack) as harness:
        harness.register_function("token_refresh")
        name = LOCAL.function("token_refresh")
        task = {"Type": "Task", "Resource": f"arn:aws:lambda:us-east-1:123456789012:function:{name}", "End": True}
        machine = harness.create_machine(f"{LOCAL.stack}-probe", {"StartAt": "Refresh", "States": {"Refresh": task}})
        outcome = harness.run(machine, "refresh-1", {"detail": {}})

    assert outcome.status == "SUCCEEDED", outcome
    assert {a["account"] for a in outcome.output["accounts"]} == set(ZOOM_ACCOUNTS)
    assert all(a["action"] != "failed" for a in outcome.output["accounts"])
    assert harness.function_timeouts()[name] > 0


def test_template_state_machines_deploy_locally_with_every_substitution_resolved(stack):
    with StepFunctions(stack) as harness:
        machines = harness.machine_names()
        if not machines:
            pytest.skip("template.yaml declares no state machine yet")
        for logical_id in machines:
            definition = harness.client.describe_state_machine(stateMachineArn=harness.create(logical_id))
            assert "${" not in definition["definition"], logical_id
