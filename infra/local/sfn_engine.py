"""The moto side of the local Step Functions harness: what ``StepFunctions.install()`` switches on and patches
in moto's Step Functions interpreter (this process), a fast clock, and the Lambda runtime's shapes.

* execution on (``/moto-api/config``), ``MOTO_PORT`` for the Distributed Map's ItemReader (moto's own S3 client
  dials localhost:MOTO_PORT), a raised recursion limit (a Map worker recurses once per item);
* ``lambda_eval_utils._invoke_lambda_function``, where both ``arn:aws:states:::lambda:invoke`` and a function
  ARN as ``Resource`` end: answered by the harness's handlers;
* ``Timestamp._get_wait_seconds``: moto compares a Wait's timestamp with naive *local* time and truncates;
  here UTC, rounded up (a Wait never ends before its timestamp);
* with a ``FastClock``: ``WaitFunction._wait_interval`` and the ``time`` module ``retrier_decl`` sleeps with,
  so Wait states and Retry intervals move the virtual clock instead of sleeping.

Everything is undone by :meth:`MotoEngine.undo`, last change first.
"""

from __future__ import annotations

import json
import math
import os
import sys
import threading
import time
import traceback
import types
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

ACCOUNT, PARTITION = "123456789012", "aws"


class FastClock:
    """Virtual UTC time: the real clock plus every interval a Wait state or a Retry skipped (and ``advance``).
    Callable as the project's ``Clock`` (epoch seconds): give the same object to the handlers
    (``runtime.use(clock=...)``) and the simulators (``LocalStack(zoom_clock=...)``).

    One timeline for the whole process: Retry intervals of parallel Map items add up instead of overlapping;
    a Timestamp wait moves it to the timestamp, never further (once there, another wait for it is instant)."""

    def __init__(self, start: datetime | None = None):
        self._origin = start.timestamp() if start else time.time()
        self._real_start = time.monotonic()
        self._offset = 0.0
        self._lock = threading.Lock()
        self.waits: list[float] = []  # every interval skipped, in order

    def __call__(self) -> float:
        return self._origin + (time.monotonic() - self._real_start) + self._offset

    def now(self) -> datetime:
        return datetime.fromtimestamp(self(), UTC)

    def advance(self, seconds: float) -> None:
        with self._lock:
            self._offset += max(0.0, float(seconds))
            self.waits.append(float(seconds))


@dataclass(frozen=True)
class Invocation:
    """One call the hook answered: the function's name, the event, the errorType if it failed."""

    function: str
    event: Any
    error: str | None
    seconds: float


@dataclass(frozen=True)
class Outcome:
    """A finished execution: status, output (parsed JSON, None unless SUCCEEDED), error and cause."""

    arn: str
    status: str
    output: Any
    error: str | None
    cause: str | None
    seconds: float  # start to stop, as the service recorded them

    @classmethod
    def of(cls, described: dict) -> Outcome:
        output = described.get("output")
        took = (described["stopDate"] - described["startDate"]).total_seconds() if "stopDate" in described else 0.0
        return cls(
            described["executionArn"],
            described["status"],
            None if output is None else json.loads(output),
            described.get("error"),
            described.get("cause"),
            took,
        )


class MotoEngine:
    """The switches and patches of one installed harness, and how to undo them."""

    def __init__(self) -> None:
        self.undo_stack: list[Callable[[], Any]] = []
        self.threads = 0  # moto's thread list's length at install: later ones are the harness's

    def enable(self, endpoint: str, recursion_limit: int) -> None:
        import requests
        from moto.core.config import default_user_config
        from moto.stepfunctions.parser.utils import TMP_THREADS

        # The route turns execution on; it does not report the switch, and the server may be gone by uninstall:
        # the previous value is read and put back in-process (the server runs in this process).
        previous = dict(default_user_config.get("stepfunctions", {}))
        config = {"stepfunctions": {"execute_state_machine": True}}
        requests.post(f"{endpoint}/moto-api/config", json=config, timeout=10).raise_for_status()
        self.undo_stack.append(lambda: default_user_config.update(stepfunctions=previous))
        port = os.environ.get("MOTO_PORT")
        os.environ["MOTO_PORT"] = endpoint.rsplit(":", 1)[1]
        self.undo_stack.append(
            lambda: os.environ.pop("MOTO_PORT", None) if port is None else os.environ.update(MOTO_PORT=port)
        )
        limit = sys.getrecursionlimit()
        sys.setrecursionlimit(max(limit, recursion_limit))
        self.undo_stack.append(lambda: sys.setrecursionlimit(limit))
        self.threads = len(TMP_THREADS)

    def patch(self, invoke: Callable[..., dict], clock: FastClock | None) -> None:
        from moto.stepfunctions.parser.asl.component.common.retry import retrier_decl
        from moto.stepfunctions.parser.asl.component.state.exec.state_task import lambda_eval_utils
        from moto.stepfunctions.parser.asl.component.state.wait.wait_function import timestamp, wait_function

        self.replace(lambda_eval_utils, "_invoke_lambda_function", invoke)
        self.replace(timestamp.Timestamp, "_get_wait_seconds", _utc_wait_seconds(clock or time.time))
        if clock is not None:
            self.replace(wait_function.WaitFunction, "_wait_interval", _virtual_wait(clock))
            fake_time = types.SimpleNamespace(sleep=clock.advance, time=time.time, monotonic=time.monotonic)
            self.replace(retrier_decl, "time", fake_time)

    def replace(self, owner: Any, name: str, value: Any) -> None:
        """``owner.name = value`` until undo (an attribute ``owner`` did not define itself is deleted again)."""
        own, previous = name in vars(owner), vars(owner).get(name)
        setattr(owner, name, value)
        self.undo_stack.append(lambda: setattr(owner, name, previous) if own else delattr(owner, name))

    def drain(self, timeout: float) -> list[threading.Thread]:
        """Wait for the harness's threads in moto; the ones still alive after ``timeout``."""
        from moto.stepfunctions.parser.utils import TMP_THREADS

        deadline = time.monotonic() + timeout
        for thread in list(TMP_THREADS[self.threads :]):
            thread.join(max(0.0, deadline - time.monotonic()))
        return [t for t in TMP_THREADS[self.threads :] if t.is_alive()]

    def undo(self) -> list[Exception]:
        """Every change undone (whatever another raises); what failed."""
        failures: list[Exception] = []
        while self.undo_stack:
            try:
                self.undo_stack.pop()()
            except Exception as error:
                failures.append(error)
        return failures


# -- the Lambda runtime's shapes ------------------------------------------------------------------------
def function_name(requested: str) -> tuple[str, str | None]:
    """Lambda's FunctionName forms: name, name:qualifier, account:function:name[:q], the full ARN[:q]."""
    parts = requested.split(":")
    if parts[0] == "arn":
        parts = parts[4:]
    if len(parts) >= 3 and parts[1] == "function":
        parts = parts[2:]
    return parts[0], (parts[1] if len(parts) > 1 else None)


def not_found(name: str, qualifier: str | None, region: str) -> Exception:
    from botocore.exceptions import ClientError

    arn = f"arn:{PARTITION}:lambda:{region}:{ACCOUNT}:function:{name}" + (f":{qualifier}" if qualifier else "")
    error = {"Code": "ResourceNotFoundException", "Message": f"Function not found: {arn}", "Type": "User"}
    return ClientError(
        {"Error": error, "ResponseMetadata": {"HTTPStatusCode": 404, "RequestId": str(uuid.uuid4())}}, "Invoke"
    )


def error_document(kind: str, message: str, request_id: str, trace: types.TracebackType | None = None) -> dict:
    """The Python runtime's answer for an unhandled exception (keys in its order)."""
    stack = traceback.format_list(traceback.extract_tb(trace)) if trace is not None else []
    return {"errorMessage": message, "errorType": kind, "requestId": request_id, "stackTrace": stack}


def runtime_json(value: Any) -> Any:
    """What the runtime sends back, parsed as the service does (a DynamoDB Decimal as the runtime writes it)."""
    return json.loads(json.dumps(value, default=_decimal))


def _decimal(value: Any) -> Any:
    if isinstance(value, Decimal):  # as the runtime's encoder writes a DynamoDB number
        return int(value) if value == value.to_integral_value() else float(value)
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def substitute(text: str, substitutions: Mapping[str, Any]) -> str:
    """``${key}`` replaced as DefinitionSubstitutions do; anything left unsubstituted is refused."""
    import re

    for key, value in substitutions.items():
        text = text.replace("${" + key + "}", str(value))
    left = sorted(set(re.findall(r"\$\{[^}]*\}", text)))
    if left:
        raise ValueError(f"not substituted: {', '.join(left)}")
    return text


def _utc_wait_seconds(clock: Callable[[], float]) -> Callable[..., int]:
    from moto.stepfunctions.parser.asl.component.common.error_name.failure_event import FailureEventException

    def get_wait_seconds(self: Any, env: Any) -> int:
        self.string.eval(env=env)
        text = env.stack.pop()
        target = self._from_timestamp_string(timestamp=text)
        if target is None:
            raise FailureEventException(self._create_failure_event(env, text))
        return math.ceil(target.replace(tzinfo=UTC).timestamp() - clock())

    return get_wait_seconds


def _virtual_wait(clock: FastClock) -> Callable[..., None]:
    def wait_interval(self: Any, env: Any, wait_seconds: int) -> None:
        if wait_seconds > 0 and env.is_running():
            clock.advance(wait_seconds)

    return wait_interval
