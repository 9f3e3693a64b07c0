"""Invoking another zoomops function (the local stack injects an in-process invoker instead), or starting a
job's state machine execution through the same call."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Optional

Invoker = Callable[[str, dict, bool], Optional[dict]]  # (function name or ARN, payload, wait) -> answer if waited


def lambda_invoker(client) -> Invoker:
    def invoke(function: str, payload: dict, wait: bool) -> dict | None:
        answer = client.invoke(
            FunctionName=function,
            InvocationType="RequestResponse" if wait else "Event",
            Payload=json.dumps(payload).encode(),
        )
        return json.loads(answer["Payload"].read() or b"null") if wait else None

    return invoke


def machine_invoker(invoke: Invoker, start: Callable[[str, str, dict], str], machines: dict[str, str]) -> Invoker:
    """``invoke``, except that a state machine's ARN (one of ``machines``: job kind -> ARN) starts the job's
    execution, named by ``payload["job_id"]``, instead: what the api's routes hand a report job to."""
    kinds = {arn: kind for kind, arn in machines.items()}

    def invoke_or_start(target: str, payload: dict, wait: bool) -> dict | None:
        if target in kinds:
            start(kinds[target], payload["job_id"], payload)
            return None
        return invoke(target, payload, wait)

    return invoke_or_start
