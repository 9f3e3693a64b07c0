"""The local stack's state machines: template.yaml's three (removal, reports, provisioning) deployed from their
own ASL files into moto, each Lambda Task answered by its steps function (``functions/*_steps/app.py``) in this
process. An entry point's StartExecution (its own boto3 client, the machine ARN from its environment) reaches
the same moto, so ``make test`` and ``make demo`` run the real workflows.

With a ``FastClock``: the simulators and the steps share it (``runtime.use(clock=...)``, and ``sleep`` where a
step paces itself), Wait states and Retry intervals move it instead of sleeping, and the token refresher runs
on its schedule (rate(10 minutes)) on that clock, as EventBridge would while a report waits for a daily reset.
"""

from __future__ import annotations

import inspect
import math
import threading
from typing import Any

from zoomops.names import LOCAL, MACHINES

from .stack import LambdaContext, load_handler
from .stepfunctions import FastClock, StepFunctions

STEP_FOLDERS = ("removal_steps", "report_steps", "provision_steps")
TOKEN_SCHEDULE_SECONDS = 600.0  # template.yaml's TokenRefreshSchedule: rate(10 minutes)
SCHEDULED = {"version": "0", "source": "aws.events", "detail-type": "Scheduled Event", "detail": {}}


def install(stack: Any, clock: FastClock | None = None, parameters: dict[str, str] | None = None) -> StepFunctions:
    """The harness installed, the steps registered and the three state machines created (``parameters``: template
    parameters other than their defaults, e.g. RemovalConcurrency); the simulators put on ``clock`` until it is
    uninstalled."""
    sfn = StepFunctions(stack, clock=clock, parameters=parameters)
    sfn.install()
    try:
        if clock is not None:
            saved = [(sim, sim.clock) for sim in stack.simulators()]
            stack.use_clock(clock)
            sfn._engine.undo_stack.append(lambda: [setattr(sim, "clock", was) for sim, was in saved])
        for folder in STEP_FOLDERS:
            module = sfn.register_function(folder)
            if clock is not None:
                _give_clock(module, clock)
        if clock is not None:
            _refresh_tokens_on_schedule(sfn, clock)
        for _, logical_id in MACHINES.values():
            sfn.create(logical_id)
    except BaseException:
        sfn.uninstall()
        raise
    return sfn


def _give_clock(module: Any, clock: FastClock) -> None:
    """``clock`` (and ``sleep``: time passes on the clock) for the pieces the function's runtime takes."""
    accepts = inspect.signature(module.build).parameters
    pieces = {"clock": clock, "sleep": clock.advance}
    given = {name: value for name, value in pieces.items() if name in accepts}
    if given:
        module.runtime.use(**given)


def _refresh_tokens_on_schedule(sfn: StepFunctions, clock: FastClock) -> None:
    """Before a report or provisioning step runs, the token refresher runs if its schedule came due on ``clock``:
    a job that waited hours for a daily reset finds the fresh token EventBridge's schedule would have stored."""
    refresher = load_handler("token_refresh")
    refresher.runtime.use(clock=clock)
    last = [-math.inf]
    lock = threading.Lock()

    def scheduled(handler: Any) -> Any:
        def on_schedule(event: Any, context: Any) -> Any:
            with lock:
                if clock() - last[0] >= TOKEN_SCHEDULE_SECONDS:
                    refresher.handler(SCHEDULED, LambdaContext(function_name=LOCAL.function("token_refresh")))
                    last[0] = clock()
            return handler(event, context)

        return on_schedule

    for folder in ("report_steps", "provision_steps"):
        sfn.wrap(LOCAL.function(folder), scheduled)
