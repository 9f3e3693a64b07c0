"""Invoking another zoomops function (the local stack injects an in-process invoker instead)."""

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
