"""A strict, local simulator of the Zoom LTI Pro bulk import / bulk disassociate API.

Real HTTP on 127.0.0.1 (standard library only).  It rejects what the real
LTI Pro API would reject, so that client bugs show up in tests instead of in
production.  It deliberately does NOT import anything from the ``zoomops``
package: the signature check below is an independent implementation and so
cross-checks the client's.

Endpoints (same signature, query parameters, body forms and 400-meeting limit)::

    POST /api/v1/lti/rich/meeting/bulkImport?key=...&timestamp=...
         -> 200 {"status": true, "result": "Processing Bulk Import"}
    PUT  /api/v1/lti/rich/meeting/bulkDisassociate?key=...&timestamp=...
         -> 200 {"status": true, "result": "Processing Bulk Disassociate"}
    X-Lti-Signature: <urlsafe-b64(HMAC-SHA1(secret, sorted "name=value" query pairs joined by "&")) without '='>
    Content-Type: application/json
    body: [{"meetingId", "contextId", "domain"[, "courseId"]}, ...]  or  {"userId": ..., "meetingList": [...]}

The simulator keeps LTI Pro's associations: bulkImport adds (meetingId, contextId, domain) with its courseId
(an import of a known triple updates its courseId), bulkDisassociate removes the matching triples (its answer
is the same whatever it matched).  ``associations()`` lists them; ``add_associations()`` seeds some (as if
imported by CSV through the UI).

Control endpoints (so another process can drive it)::

    GET  /__sim/state          -> {"received": n, "accepted": [...], "faults_pending": n}
    GET  /__sim/associations   -> {"associations": [...], "imported": [...]}
    POST /__sim/faults         <- JSON list of Fault field dicts (appended)
    POST /__sim/reset          -> clears faults, records and associations

Run in the foreground::

    python infra/local/lti_sim.py --key K --secret S [--port N]

(the secret may also come from the LTI_SIM_SECRET environment variable, so it
need not appear on a command line).  The base URL is printed on one line.

The secret is never logged, echoed, or exposed by any endpoint.
"""

from __future__ import annotations

import argparse
import base64
import copy
import dataclasses
import hashlib
import hmac
import json
import os
import re
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

try:  # a package module, or run as a script from this folder
    from .simhttp import SIM_PREFIX, FaultBase, Reject, SimHandler, SimServer, SimulatorBase, reason
except ImportError:  # pragma: no cover
    from simhttp import SIM_PREFIX, FaultBase, Reject, SimHandler, SimServer, SimulatorBase, reason
from urllib.parse import parse_qsl, urlsplit

__all__ = ["Fault", "LtiProSimulator", "main"]

BASE_PATH = "/api/v1/lti/rich"
ENDPOINT_PATH = BASE_PATH + "/meeting/bulkDisassociate"  # the first endpoint (kept for its importers)
DISASSOCIATE_PATH = ENDPOINT_PATH
IMPORT_PATH = BASE_PATH + "/meeting/bulkImport"
ENDPOINTS = {  # path -> (method, what an accepted call answers)
    IMPORT_PATH: ("POST", "Processing Bulk Import"),
    DISASSOCIATE_PATH: ("PUT", "Processing Bulk Disassociate"),
}
SIGNATURE_HEADER = "X-Lti-Signature"
SIGNATURE_FAILED = "Verify LTI signature failed(2203)."
MAX_BODY_BYTES = 10 * 1024 * 1024

_DIGITS = re.compile(r"[0-9]+\Z")
_REQUIRED_ITEM_FIELDS = ("meetingId", "contextId", "domain")
_OPTIONAL_ITEM_FIELDS = ("courseId",)
_ALLOWED_ITEM_FIELDS = frozenset(_REQUIRED_ITEM_FIELDS + _OPTIONAL_ITEM_FIELDS)


@dataclass
class Fault(FaultBase):
    """One scripted misbehaviour, consumed (in order) by one request to an endpoint (import or disassociate).

    Applied before any validation:
      * ``delay``: sleep first (to provoke client read timeouts);
      * ``drop``: then close the connection without any answer;
      * ``status``: answer that status (body ``body`` or a default error body);
      * ``body`` with ``status`` None: answer HTTP 200 with that body;
      * neither: process the request normally (``retry_after`` is still added).
    """

    status: int | None = None
    retry_after: str | None = None
    body: dict | None = None
    delay: float = 0.0
    drop: bool = False

    def validate(self) -> None:
        super().validate()  # status, retry_after, delay, drop
        if self.body is not None and not isinstance(self.body, (dict, list)):
            raise ValueError("fault 'body' must be a JSON object or null")


def _error(status: int | str, message: str) -> dict:
    return {"status": False, "errorCode": str(status), "errorMessage": message}


def _default_fault_body(status: int) -> dict:
    if status == 401:
        return _error(401, SIGNATURE_FAILED)
    if status == 429:
        return _error(429, "Too Many Requests")
    return _error(status, reason(status, "Service Unavailable") if status >= 400 else "Service Unavailable")


def _expected_signature(secret: bytes, params: list[tuple[str, str]]) -> str:
    """Independent implementation: sorted ``name=value`` joined by ``&``, HMAC-SHA1, urlsafe b64, no padding."""
    base = "&".join(f"{name}={value}" for name, value in sorted(params, key=lambda p: p[0]))
    digest = hmac.new(secret, base.encode("utf-8"), hashlib.sha1).digest()
    return base64.urlsafe_b64encode(digest).decode("ascii").rstrip("=")


_Reject = Reject


def _reject_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict:
    out: dict = {}
    for k, v in pairs:
        if k in out:
            raise ValueError(f"duplicate field {k!r}")
        out[k] = v
    return out


def _reject_constant(name: str) -> Any:
    raise ValueError(f"invalid JSON number {name}")


_Server = SimServer


class _Handler(SimHandler):
    server_version = "LtiProSim/1.0"
    content_type = "application/json"
    max_body = MAX_BODY_BYTES
    server: _Server

    def error_body(self, status: int, message: str) -> Any:
        return _error(status, message)

    # ---- dispatch ----------------------------------------------------------
    def _dispatch(self) -> None:
        sim = self.server.sim
        try:
            body = self._read_body()
        except _Reject as r:
            self.close_connection = True
            self._send(r.status, r.body)
            return
        split = urlsplit(self.path)
        if split.path.startswith(SIM_PREFIX):
            self._control(split.path, body)
            return
        record = {
            "method": self.command,
            "path": split.path,
            "query": dict(parse_qsl(split.query, keep_blank_values=True)),
            "headers": {k.lower(): v for k, v in self.headers.items()},
            "body_text": body.decode("utf-8", errors="replace"),
            "status": None,
            "connection": self._conn_id,
            "fault": None,
        }
        sim._record_received(record)
        extra_headers: dict[str, str] = {}
        fault = sim._next_fault() if split.path in ENDPOINTS else None  # only the API endpoints consume faults
        if fault is not None and self._apply_fault(fault, record, extra_headers):
            return
        if sim.latency and split.path in ENDPOINTS:
            sim._stopping.wait(sim.latency)  # no lock held: concurrent requests overlap
        try:
            status, out = sim._process(self.command, split, self.headers, body)
        except _Reject as r:
            status, out = r.status, r.body
            extra_headers.update(r.headers)
        self._answer(record, status, out, extra_headers)

    def _apply_fault(self, fault: Fault, record: dict, extra_headers: dict) -> bool:
        """Apply a scripted fault; True when it produced the answer (or dropped the connection)."""
        record["fault"] = dataclasses.asdict(fault)
        if fault.delay:
            self.server.sim._stopping.wait(fault.delay)
        if fault.drop:
            self.close_connection = True
            self._drop()
            return True
        if fault.retry_after is not None:
            extra_headers["Retry-After"] = fault.retry_after
        if fault.status is not None:
            out = fault.body if fault.body is not None else _default_fault_body(fault.status)
            self._answer(record, fault.status, out, extra_headers)
            return True
        if fault.body is not None:
            self._answer(record, 200, fault.body, extra_headers)
            return True
        return False

    # ---- responses ---------------------------------------------------------
    def _answer(self, record: dict, status: int, body: Any, headers: dict | None = None) -> None:
        with self.server.sim._lock:
            record["status"] = status
        self._send(status, body, headers)


class LtiProSimulator(SimulatorBase):
    """Strict LTI Pro ``bulkImport`` / ``bulkDisassociate`` simulator on a real local HTTP port."""

    handler_class = _Handler
    fault_class = Fault
    thread_name = "lti-sim"
    base_path = BASE_PATH

    def __init__(
        self,
        key: str,
        secret: str,
        *,
        max_batch: int = 400,
        window_ms: int = 3_600_000,
        clock: Callable[[], float] = time.time,
        host: str = "127.0.0.1",
        port: int = 0,
        latency: float = 0.0,
    ) -> None:
        """``latency``: seconds before every API answer (LTI Pro's own time to answer), as the Zoom simulator's."""
        if not key or not secret:
            raise ValueError("key and secret must be non-empty")
        if latency < 0:
            raise ValueError("latency must be non-negative")
        self.key = key
        self._secret = secret.encode("utf-8")
        self.max_batch = max_batch
        self.window_ms = window_ms
        self.clock = clock
        self.latency = float(latency)
        self._init_server(host, port)
        self.received: list[dict] = []
        self.accepted: list[dict] = []  # accepted bulkDisassociate calls
        self.imported: list[dict] = []  # accepted bulkImport calls
        self._associations: dict[tuple[str, str, str], dict] = {}  # (meetingId, contextId, domain) -> item

    def __repr__(self) -> str:  # never show the secret
        return f"LtiProSimulator(key={self.key!r}, base_url={self.base_url!r})"

    # ---- scripting, records and associations -------------------------------
    def reset(self) -> None:
        """Clear faults, records and associations."""
        super().reset()
        with self._lock:
            self.received.clear()
            self.accepted.clear()
            self.imported.clear()
            self._associations.clear()

    def accepted_items(self) -> list[dict]:
        """Every item of every accepted bulkDisassociate call, in order."""
        with self._lock:
            return [copy.deepcopy(item) for call in self.accepted for item in call["items"]]

    def imported_items(self) -> list[dict]:
        """Every item of every accepted bulkImport call, in order."""
        with self._lock:
            return [copy.deepcopy(item) for call in self.imported for item in call["items"]]

    def associations(self) -> list[dict]:
        """The meetings now associated with courses: ``{"meetingId", "contextId", "domain"[, "courseId"]}``
        in the order they were first imported."""
        with self._lock:
            return [copy.deepcopy(item) for item in self._associations.values()]

    def add_associations(self, *items: dict) -> None:
        """Seed associations (as if imported through LTI Pro's CSV import); items are checked like a body's."""
        try:
            items_list, _ = self._validate_shape(list(items))
        except _Reject as r:
            raise ValueError(r.body["errorMessage"]) from None
        with self._lock:
            self._associate(items_list)

    def _associate(self, items: list[dict]) -> None:
        for item in items:
            key = (item["meetingId"], item["contextId"], item["domain"])
            known = self._associations.setdefault(key, {k: item[k] for k in _REQUIRED_ITEM_FIELDS})
            if "courseId" in item:
                known["courseId"] = item["courseId"]

    def _disassociate(self, items: list[dict]) -> None:
        for item in items:
            self._associations.pop((item["meetingId"], item["contextId"], item["domain"]), None)

    # ---- internals ---------------------------------------------------------
    def _record_received(self, record: dict) -> None:
        with self._lock:
            self.received.append(record)

    def _state(self) -> dict:
        with self._lock:
            return {
                "received": len(self.received),
                "accepted": copy.deepcopy(self.accepted),
                "faults_pending": self._pending_faults(),
            }

    def _control_routes(self) -> dict:
        routes = super()._control_routes()
        routes["associations"] = ("GET", self._control_associations)
        return routes

    def _control_associations(self, body: bytes) -> tuple[int, Any]:
        with self._lock:
            return 200, {"associations": self.associations(), "imported": copy.deepcopy(self.imported)}

    def _process(self, method: str, split, headers, body: bytes) -> tuple[int, dict]:
        # 1. path and method
        if split.path not in ENDPOINTS:
            raise _Reject(404, _error(404, "Not Found"))
        wanted, result = ENDPOINTS[split.path]
        if method != wanted:
            raise _Reject(405, _error(405, "Method Not Allowed"), {"Allow": wanted})
        # 2-5. query parameters, key, timestamp, signature
        params, timestamp, signature = self._authenticate(split, headers)
        # 6. content type and JSON
        data = self._json_body(headers, body)
        # 7. shape
        items, user_id = self._validate_shape(data)
        signed_user = dict(params).get("userId")
        if user_id is not None and signed_user != user_id:
            # Zoom's LTI Pro API articles: the admin userId is part of the signature base string
            # (key=...&timestamp=...&userId=...), so it travels as a signed query parameter too.
            raise _Reject(401, _error(401, SIGNATURE_FAILED))
        if user_id is None:
            user_id = signed_user
        # 8. batch limit
        if len(items) > self.max_batch:
            return 200, _error(1001, f"The number of meetings exceeds the limit of {self.max_batch}.")
        # 9. accept
        call = {"timestamp": timestamp, "user_id": user_id, "items": copy.deepcopy(items), "signature": signature}
        with self._lock:
            if split.path == IMPORT_PATH:
                self.imported.append(call)
                self._associate(items)
            else:
                self.accepted.append(call)
                self._disassociate(items)
        return 200, {"status": True, "result": result}

    def _authenticate(self, split, headers) -> tuple[list[tuple[str, str]], int, str]:
        """The query pairs, the timestamp and the signature of a correctly signed request (else 400/401)."""
        params = parse_qsl(split.query, keep_blank_values=True)
        for name in ("key", "timestamp"):  # required, each exactly once
            count = sum(1 for n, _ in params if n == name)
            if count == 0:
                raise _Reject(400, _error(400, f"Missing required parameter: {name}"))
            if count > 1:
                raise _Reject(400, _error(400, f"Duplicate parameter: {name}"))
        query = dict(params)
        unauthorized = _Reject(401, _error(401, SIGNATURE_FAILED))
        if not hmac.compare_digest(query["key"].encode("utf-8"), self.key.encode("utf-8")):
            raise unauthorized
        ts_text = query["timestamp"]  # milliseconds, within the validity window
        if not _DIGITS.match(ts_text) or abs(int(ts_text) - self.clock() * 1000.0) > self.window_ms:
            raise unauthorized
        sigs = headers.get_all(SIGNATURE_HEADER) or []
        if len(sigs) != 1:
            raise unauthorized
        given = sigs[0].strip().encode("latin-1", errors="replace")
        expected = _expected_signature(self._secret, params).encode("ascii")
        if not hmac.compare_digest(given, expected):
            raise unauthorized
        return params, int(ts_text), sigs[0].strip()

    @staticmethod
    def _json_body(headers, body: bytes) -> Any:
        ctype = (headers.get("Content-Type") or "").split(";", 1)[0].strip().lower()
        if ctype != "application/json":
            raise _Reject(415, _error(415, "Unsupported Media Type: Content-Type must be application/json"))
        if not body:
            raise _Reject(400, _error(400, "Required request body is missing"))
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            raise _Reject(400, _error(400, "Request body is not valid UTF-8")) from None
        try:
            return json.loads(text, object_pairs_hook=_reject_duplicate_keys, parse_constant=_reject_constant)
        except ValueError as exc:
            raise _Reject(400, _error(400, f"Malformed JSON request body: {exc}")) from None

    @staticmethod
    def _validate_shape(data: Any) -> tuple[list[dict], str | None]:
        def bad(message: str) -> _Reject:
            return _Reject(400, _error(400, message))

        user_id: str | None = None
        if isinstance(data, list):
            items = data
            where = "item"
        elif isinstance(data, dict):
            keys = set(data)
            expected = {"userId", "meetingList"}
            if keys != expected:
                missing = sorted(expected - keys)
                extra = sorted(keys - expected)
                parts = []
                if missing:
                    parts.append("missing field(s) " + ", ".join(map(repr, missing)))
                if extra:
                    parts.append("unexpected field(s) " + ", ".join(map(repr, extra)))
                raise bad(
                    "Request body object must have exactly the fields 'userId' and 'meetingList': " + "; ".join(parts)
                )
            user_id = data["userId"]
            if not isinstance(user_id, str) or not user_id.strip():
                raise bad("Field 'userId' must be a non-empty string")
            items = data["meetingList"]
            if not isinstance(items, list):
                raise bad("Field 'meetingList' must be a list of meetings")
            where = "meetingList item"
        else:
            raise bad("Request body must be a JSON list of meetings or an object with 'userId' and 'meetingList'")
        if not items:
            raise bad("The meeting list is empty")

        for i, item in enumerate(items):
            prefix = f"Invalid {where} at index {i}"
            if not isinstance(item, dict):
                raise bad(f"{prefix}: must be an object")
            extra = sorted(k for k in item if k not in _ALLOWED_ITEM_FIELDS)
            if extra:
                raise bad(f"{prefix}: unexpected field {extra[0]!r}")
            for field in _REQUIRED_ITEM_FIELDS:
                if field not in item:
                    raise bad(f"{prefix}: missing required field {field!r}")
                value = item[field]
                if not isinstance(value, str) or not value.strip():
                    raise bad(f"{prefix}: field {field!r} must be a non-empty string")
            if not _DIGITS.match(item["meetingId"]):
                raise bad(f"{prefix}: field 'meetingId' must contain digits only")
            if "courseId" in item and not isinstance(item["courseId"], str):
                raise bad(f"{prefix}: field 'courseId' must be a string")
        return items, user_id


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Strict local LTI Pro bulkDisassociate simulator")
    parser.add_argument("--key", required=True, help="LTI key")
    parser.add_argument("--secret", default=None, help="LTI secret (default: the LTI_SIM_SECRET environment variable)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--max-batch", type=int, default=400)
    parser.add_argument("--window-ms", type=int, default=3_600_000)
    parser.add_argument("--latency", type=float, default=0.0, help="seconds before each API answer")
    args = parser.parse_args(argv)
    secret = args.secret if args.secret is not None else os.environ.get("LTI_SIM_SECRET")
    if not secret:
        parser.error("a secret is required (--secret or LTI_SIM_SECRET)")

    sim = LtiProSimulator(
        args.key,
        secret,
        max_batch=args.max_batch,
        window_ms=args.window_ms,
        host=args.host,
        port=args.port,
        latency=args.latency,
    )
    sim.serve_until_signalled()
    return 0


if __name__ == "__main__":
    sys.exit(main())
