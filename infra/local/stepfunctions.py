"""Step Functions for the local stack: the state machines template.yaml deploys, executed by moto's server in
this process, every Lambda Task answered by the project's own handler, in-process.

moto runs state machines once told to, but runs no Lambda code without Docker. ``StepFunctions`` (on a started
``LocalStack`` whose moto server runs in this process) turns execution on and patches moto's interpreter
(``sfn_engine.MotoEngine``: Lambda invocations, UTC Wait timestamps, a fast clock) until ``uninstall()`` puts
every change back. Lambda's Invoke is answered by the registered handler as Lambda does: an exception becomes
the Python runtime's error document, so ``ErrorEquals`` matches its class name as on AWS; an unknown function is
Lambda's ``ResourceNotFoundException``; the result makes the JSON round trip the runtime makes.

The template side: ``create(logical_id)`` deploys a state machine as SAM does (its DefinitionUri file, its
DefinitionSubstitutions resolved for the local stack, its Name), so the very ASL files template.yaml deploys
are the ones that run.
"""

from __future__ import annotations

import functools
import json
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from types import ModuleType
from typing import Any

from zoomops.names import FUNCTIONS

from .iam import ACCOUNT, PARTITION, REGION, ROOT, TEMPLATE, Resolver, function_names, load_template, local_resources
from .sfn_engine import (
    FastClock,
    Invocation,
    MotoEngine,
    Outcome,
    error_document,
    function_name,
    not_found,
    runtime_json,
    substitute,
)
from .stack import LambdaContext, load_handler

__all__ = ["FastClock", "Invocation", "Outcome", "StepFunctions", "substitute"]

Handler = Callable[[Any, Any], Any]
MACHINE_TYPES = {"AWS::Serverless::StateMachine": "Name", "AWS::StepFunctions::StateMachine": "StateMachineName"}
DEFAULT_LAMBDA_TIMEOUT = 3  # Lambda's own default, when neither the function nor Globals sets one
_ACTIVE: list[StepFunctions] = []  # moto's interpreter is global to the process: one harness at a time


class StepFunctions:
    """moto's Step Functions executing the template's ASL with the project's handlers; see the module's doc."""

    def __init__(
        self,
        stack: Any,
        handlers: Mapping[str, Handler] | None = None,
        *,
        clock: FastClock | None = None,
        template: Path | dict = TEMPLATE,
        resources: Mapping[str, dict[str, str]] | None = None,
        recursion_limit: int = 20_000,
        drain_timeout: float = 10.0,
        parameters: Mapping[str, str] | None = None,
    ):
        """``stack``: a started ``LocalStack`` (moto in this process). ``handlers``: function name -> handler.
        ``template``: SAM template (path, or a loaded dict whose DefinitionUri paths are relative to the repo).
        ``resources``: logical id -> {"Ref"/attribute: value} for what ``iam.local_resources`` does not map.
        ``parameters``: template parameter values other than their defaults (a deploy's overrides)."""
        self.stack, self.clock = stack, clock
        self.client = stack.client("stepfunctions")
        self._template_source, self._template = template, template if isinstance(template, dict) else None
        self._base = Path(template).parent if isinstance(template, Path | str) else ROOT
        self._resources = dict(resources or {})
        self._parameters = dict(parameters or {})
        self._handlers: dict[str, tuple[Handler, float]] = {}
        self._timeouts: dict[str, float] | None = None
        for name, handler in (handlers or {}).items():
            self.register(name, handler)
        self.recursion_limit, self.drain_timeout = recursion_limit, drain_timeout
        self.machines: dict[str, str] = {}  # logical id and name -> ARN, for start()
        self.invocations: list[Invocation] = []
        self.modules: dict[str, ModuleType] = {}  # functions/<folder> -> module, for what register_function loaded
        self.aborted: list[str] = []  # executions uninstall() found running and stopped
        self._lock = threading.Lock()
        self._engine = MotoEngine()  # what install() changed, undone last first

    # -- lifecycle ------------------------------------------------------------------------------
    def install(self) -> StepFunctions:
        from moto.server import ThreadedMotoServer

        if not isinstance(self.stack.moto, ThreadedMotoServer):
            raise RuntimeError("StepFunctions needs the stack's moto server in this process (ThreadedMotoServer)")
        if _ACTIVE:
            raise RuntimeError("another StepFunctions is installed in this process: uninstall it first")
        _ACTIVE.append(self)
        try:
            self._engine.enable(self.stack.endpoint, self.recursion_limit)
            self._engine.patch(self._invoke, self.clock)
        except BaseException:
            self.uninstall()
            raise
        return self

    def uninstall(self) -> None:
        """Stop every running execution, wait for moto's threads, then undo all that ``install`` changed.
        Raises if a thread is still alive after ``drain_timeout`` (a handler that never returns)."""
        if self not in _ACTIVE:
            return
        alive: list[threading.Thread] = []
        try:
            if self._engine.undo_stack:
                self._abort_running()
                alive = self._engine.drain(self.drain_timeout)
        finally:
            failures = self._engine.undo()
            _ACTIVE.remove(self)
        if failures:
            raise failures[0]
        if alive:
            raise RuntimeError(f"{len(alive)} Step Functions thread(s) still running after {self.drain_timeout} s")

    def __enter__(self) -> StepFunctions:
        return self.install()

    def __exit__(self, *exc: Any) -> None:
        self.uninstall()

    def _abort_running(self) -> None:
        for page in self.client.get_paginator("list_state_machines").paginate():
            for machine in page["stateMachines"]:
                pages = self.client.get_paginator("list_executions").paginate(
                    stateMachineArn=machine["stateMachineArn"], statusFilter="RUNNING"
                )
                for execution in (e for p in pages for e in p["executions"]):
                    self.abort(execution["executionArn"])
                    self.aborted.append(execution["executionArn"])

    # -- functions ------------------------------------------------------------------------------
    def register(self, name: str, handler: Handler, *, timeout: float | None = None) -> None:
        """Answer Invoke of function ``name`` (a name or an ARN) with ``handler(event, context)``; the context's
        timeout is ``timeout``, else the template's for that function name, else 900 s."""
        name = function_name(name)[0]
        if timeout is None:
            timeout = self.function_timeouts().get(name, 900.0)
        self._handlers[name] = (handler, float(timeout))

    def wrap(self, name: str, wrapper: Callable[[Handler], Handler]) -> None:
        """Answer ``name``'s invocations with ``wrapper(its handler)`` (a test's fault or observation)."""
        name = function_name(name)[0]
        handler, timeout = self._handlers[name]
        self._handlers[name] = (wrapper(handler), timeout)

    def register_function(self, folder: str) -> ModuleType:
        """A cold copy of ``functions/<folder>/app.py`` registered under the function's local name; returned
        so a test can inject pieces (``module.runtime.use(clock=...)``)."""
        module = self.modules[folder] = load_handler(folder)
        self.register(function_names(self.template, Resolver(self.template, {}))[FUNCTIONS[folder]], module.handler)
        return module

    def function_timeouts(self) -> dict[str, float]:
        """Function name -> its Timeout in the template (or Globals', or Lambda's default of 3 s)."""
        if self._timeouts is None:
            default = self.template.get("Globals", {}).get("Function", {}).get("Timeout", DEFAULT_LAMBDA_TIMEOUT)
            resolver = Resolver(self.template, {})
            resources = self.template["Resources"]
            self._timeouts = {
                name: float(resolver.resolve(resources[logical_id].get("Properties", {}).get("Timeout", default)))
                for logical_id, name in function_names(self.template, resolver).items()
            }
        return self._timeouts

    def _invoke(self, parameters: dict, region: str, state_credentials: Any = None) -> dict:
        """moto's ``_invoke_lambda_function``: Lambda's Invoke answered by the registered handler."""
        requested = str(parameters["FunctionName"])
        name, qualifier = function_name(requested)
        qualifier = parameters.get("Qualifier") or qualifier
        event = json.loads(parameters.get("Payload") or b"{}")
        entry = self._handlers.get(name)
        if entry is None:
            self._record(name, event, "ResourceNotFoundException", 0.0)
            raise not_found(name, qualifier, region)
        handler, timeout = entry
        context = LambdaContext(function_name=name, timeout_seconds=timeout)
        began = time.monotonic()
        try:
            result = handler(event, context)
        except Exception as error:
            trace = error.__traceback__.tb_next  # from the handler's frame on, as the runtime reports it
            document = error_document(type(error).__name__, str(error), context.aws_request_id, trace)
            return self._failed(name, event, began, document)
        try:  # what the runtime sends, parsed back as the service does
            payload = runtime_json(result)
        except (TypeError, ValueError) as error:
            message = f"Unable to marshal response: {error}"
            return self._failed(
                name, event, began, error_document("Runtime.MarshalError", message, context.aws_request_id)
            )
        self._record(name, event, None, time.monotonic() - began)
        return {"StatusCode": 200, "ExecutedVersion": "$LATEST", "Payload": payload}

    def _failed(self, name: str, event: Any, began: float, document: dict) -> dict:
        self._record(name, event, document["errorType"], time.monotonic() - began)
        return {"StatusCode": 200, "FunctionError": "Unhandled", "ExecutedVersion": "$LATEST", "Payload": document}

    def _record(self, name: str, event: Any, error: str | None, seconds: float) -> None:
        with self._lock:
            self.invocations.append(Invocation(name, event, error, seconds))

    # -- state machines -------------------------------------------------------------------------
    @property
    def template(self) -> dict:
        if self._template is None:
            path = Path(self._template_source)
            self._template = _load_template(str(path), path.stat().st_mtime)
        return self._template

    def machine_names(self) -> dict[str, str]:
        """Logical id -> local name of every state machine in the template (its Name, else <stack>-<id>)."""
        names, resolver = {}, Resolver(self.template, {})
        for logical_id, resource in self.template["Resources"].items():
            key = MACHINE_TYPES.get(resource["Type"])
            if key is not None:
                given = resource.get("Properties", {}).get(key)
                names[logical_id] = (
                    resolver.resolve(given) if given else f"{resolver.ref('AWS::StackName')}-{logical_id}"
                )
        return names

    def resolver(self) -> Resolver:
        """template.yaml's values for the local stack: ``iam.local_resources``, the state machines, ``resources``."""
        resources = local_resources(self.stack, self.template)
        for logical_id, name in self.machine_names().items():
            arn = f"arn:{PARTITION}:states:{REGION}:{ACCOUNT}:stateMachine:{name}"
            resources[logical_id] = {"Ref": arn, "Arn": arn, "Name": name}
        resources.update(self._resources)
        return Resolver(self.template, resources, parameters=self._parameters)

    def create(self, logical_id: str) -> str:
        """The template's state machine as SAM deploys it: its DefinitionUri (or Definition) with its
        DefinitionSubstitutions resolved for the local stack, under its name and type; returns its ARN."""
        properties = self.template["Resources"][logical_id]["Properties"]
        resolver = self.resolver()
        substitutions = {k: resolver.resolve(v) for k, v in properties.get("DefinitionSubstitutions", {}).items()}
        if "DefinitionUri" in properties:
            if not isinstance(properties["DefinitionUri"], str):
                raise ValueError(f"{logical_id}: only a local DefinitionUri file is read locally")
            definition: Path | dict = self._base / properties["DefinitionUri"]
        else:
            definition = properties["Definition"]
        name = self.machine_names()[logical_id]
        arn = self.create_machine(name, definition, substitutions, kind=properties.get("Type", "STANDARD"))
        self.machines[logical_id] = arn
        return arn

    def create_machine(
        self,
        name: str,
        definition: Path | dict | str,
        substitutions: Mapping[str, Any] | None = None,
        *,
        kind="STANDARD",
    ) -> str:
        """A state machine from an ASL file, dict or text, ``${key}`` replaced as DefinitionSubstitutions do
        (anything left unsubstituted is refused); returns its ARN."""
        if isinstance(definition, Path):
            text = definition.read_text()
        else:
            text = definition if isinstance(definition, str) else json.dumps(definition)
        text = substitute(text, substitutions or {})
        json.loads(text)  # refuse a definition the substitutions broke before moto does, less clearly
        role = f"arn:{PARTITION}:iam::{ACCOUNT}:role/{name}-role"
        answer = self.client.create_state_machine(name=name, definition=text, roleArn=role, type=kind)
        self.machines[name] = answer["stateMachineArn"]
        return answer["stateMachineArn"]

    # -- executions -----------------------------------------------------------------------------
    def start(self, machine: str, name: str, input: Any = None) -> str:
        """StartExecution by name (always: moto names an unnamed one "None"); ``machine`` an ARN, a logical id
        or a name created here. Same name and input while running: the same ARN; else ExecutionAlreadyExists."""
        arn = self.machines.get(machine, machine)
        document = json.dumps({} if input is None else input)
        return self.client.start_execution(stateMachineArn=arn, name=name, input=document)["executionArn"]

    def wait(self, execution_arn: str, timeout: float = 30.0) -> Outcome:
        """The execution once it is no longer RUNNING; TimeoutError (naming its current state) after ``timeout``."""
        deadline = time.monotonic() + timeout
        while True:
            described = self.client.describe_execution(executionArn=execution_arn)
            if described["status"] != "RUNNING":
                return Outcome.of(described)
            if time.monotonic() > deadline:
                state = self.current_state(execution_arn)
                raise TimeoutError(f"{execution_arn} still RUNNING after {timeout} s, in state {state!r}")
            time.sleep(0.02)

    def run(self, machine: str, name: str, input: Any = None, timeout: float = 30.0) -> Outcome:
        return self.wait(self.start(machine, name, input), timeout)

    def abort(self, execution_arn: str, cause: str = "stopped by the local harness") -> None:
        """StopExecution (a running Wait ends at once; a handler in flight finishes its call)."""
        self.client.stop_execution(executionArn=execution_arn, error="Harness.Stopped", cause=cause)

    def history(self, execution_arn: str, *types: str) -> list[dict]:
        """The execution's events, oldest first (only those of ``types``, e.g. "TaskFailed", if given)."""
        events, token = [], None
        while True:
            page = self.client.get_execution_history(
                executionArn=execution_arn, **({"nextToken": token} if token else {})
            )
            events.extend(page["events"])
            token = page.get("nextToken")
            if not token:
                break
        events.sort(key=lambda event: event["id"])
        return [e for e in events if e["type"] in types] if types else events

    def current_state(self, execution_arn: str) -> str | None:
        """The top-level state a running execution is in (the last one it entered); None when it is not running."""
        described = self.client.describe_execution(executionArn=execution_arn)
        if described["status"] != "RUNNING":
            return None
        definition = self.client.describe_state_machine(stateMachineArn=described["stateMachineArn"])["definition"]
        top = set(json.loads(definition)["States"])
        for event in reversed(self.history(execution_arn)):
            entered = event.get("stateEnteredEventDetails")
            if entered and entered["name"] in top:
                return entered["name"]
        return None

    def map_runs(self, execution_arn: str) -> list[dict]:
        """DescribeMapRun of each Distributed Map run of the execution (itemCounts, maxConcurrency, status)."""
        runs = self.client.list_map_runs(executionArn=execution_arn)["mapRuns"]
        return [self.client.describe_map_run(mapRunArn=run["mapRunArn"]) for run in runs]


@functools.lru_cache(maxsize=8)
def _load_template(path: str, mtime: float) -> dict:
    """A template read once per version of the file (harnesses only read it)."""
    return load_template(Path(path))
