"""Every error the API answers, in one shape: RFC 9457 problem details (``application/problem+json``).

``precheck`` answers what must be refused before routing (too large, not UTF-8, not JSON, the wrong
method); ``problem`` builds any other answer; ``field_problems`` words pydantic's errors as
``{field, problem}`` pairs.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from http import HTTPStatus
from typing import Any

PROBLEM = "application/problem+json"
MAX_BODY_BYTES = 512 * 1024


def problem(status: int, detail: str, *, errors: list[dict] | None = None, headers: dict | None = None) -> dict:
    """A Lambda proxy answer carrying problem details."""
    body: dict[str, Any] = {
        "type": "about:blank",
        "title": HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
    }
    if errors:
        body["errors"] = errors
    return {"statusCode": status, "headers": {"Content-Type": PROBLEM, **(headers or {})}, "body": json.dumps(body)}


def field_problems(errors: list[dict]) -> list[dict]:
    """pydantic's errors as ``{field, problem}``: the field's dotted path in the body or the query."""
    found = []
    for e in errors:
        location = [str(p) for p in e.get("loc", ()) if p not in ("body", "query", "path")]
        message = str(e.get("msg") or e.get("type"))
        found.append({"field": ".".join(location) or "body", "problem": message.removeprefix("Value error, ")})
    return found


def precheck(event: dict, allowed: Callable[[str], set[str]]) -> dict | None:
    """Refusals before routing: 413 too large, 400 not UTF-8 or not JSON, 405 with Allow, 415 not JSON."""
    body = event.get("body") or ""
    data = body.encode() if not event.get("isBase64Encoded") else base64.b64decode(body)
    if len(data) > MAX_BODY_BYTES:
        return problem(413, f"the request body is over {MAX_BODY_BYTES} bytes")
    method = event["requestContext"]["http"]["method"]
    methods = allowed(event.get("rawPath") or "/")
    if methods and method not in methods:
        allow = ", ".join(sorted(methods))
        return problem(405, f"{method} is not allowed on {event.get('rawPath')}; use {allow}", headers={"Allow": allow})
    if not data:
        return None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        return problem(400, f"the request body is not UTF-8 text (byte {exc.start})")
    if event.get("isBase64Encoded"):
        event["body"], event["isBase64Encoded"] = text, False  # what the routes expect
    content_type = (event.get("headers") or {}).get("content-type", "")
    if content_type.split(";")[0].strip().lower() != "application/json":
        given = f"Content-Type {content_type!r}" if content_type else "no Content-Type"
        return problem(415, f"the request body must be JSON sent as application/json ({given})")
    try:
        json.loads(text)
    except ValueError as exc:
        return problem(400, f"the request body is not valid JSON: {exc}")
    return None
