"""A strict, local simulator of the white-label "Web Meeting API v6" (accounts, organizers, meetings).

Written from /work/shared/reference/web-meeting-api-v6.txt alone; it imports nothing from ``zoomops``, so
it cross-checks the client instead of mirroring it.  Real HTTP on 127.0.0.1, standard library only.

Endpoints (every one needs ``X-API-KEY``; bodies are JSON with ``Content-Type: application/json``)::

    POST /api/v6/account                      create an account and its first meeting organizer
    GET  /api/v6/account/admin/{accountId}    the account's admin organizer(s), as a list
    POST /api/v6/meeting                      create a meeting for the organizer in X-USER-ID
    PUT  /api/v6/meeting/{meetingId}/false    update that meeting (X-USER-ID); "/true" accepted and noted

Success: HTTP 200 ``{"responseCode": 0, "data": ...}`` in the document's shapes.  Refusal: the HTTP status
below and ``{"responseCode": <negative>, "responseMessage": "...", "data": null}`` (the vendor's v1
convention; the v6 document shows no error at all):

    401  -1   X-API-KEY missing, repeated or wrong
    403  -3   the key lacks the "Account" / "Meeting" permission the call needs
    400  -4   data not valid (the message names the field or header); 415 for a non-JSON body,
              404 for an unknown id or path, 405 for a known path with another method
    409  -10  the admin email already exists in this instance
    5xx  -99  only from scripted faults (any other faulted 4xx: -4)

What the document leaves open is accepted and written down as a note on the request record
(``undocumented()``), so a client test can still insist that the client stays inside the document.

Control endpoints (for another process)::

    GET  /__sim/state    -> {"received": [records], "accounts": [...], "organizers": [...], "meetings": [...],
                             "notes": [...], "faults_pending": n}
    POST /__sim/faults   <- JSON list of Fault field dicts (appended)
    POST /__sim/seed     <- {"email": ..., "firstname": ..., "lastname": ...} -> {"accountId", "userId"}
    POST /__sim/reset    -> an empty instance (state, records, faults): {"status": true}

Run in the foreground (the key comes from the environment, never the command line)::

    WEBMEETING_SIM_API_KEY=... python infra/local/webmeeting_sim.py [--port N]

The API key is never logged, echoed, recorded or shown by any endpoint or repr.
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import hmac
import json
import os
import re
import secrets
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, urlsplit

try:  # a package module, or run as a script from this folder
    from .simhttp import (
        SIM_PREFIX,
        ControlError,
        FaultBase,
        Reject,
        SimHandler,
        SimulatorBase,
        control_json,
        reason,
    )
except ImportError:  # pragma: no cover
    from simhttp import (  # type: ignore[no-redef]
        SIM_PREFIX,
        ControlError,
        FaultBase,
        Reject,
        SimHandler,
        SimulatorBase,
        control_json,
        reason,
    )

__all__ = ["ENDPOINTS", "Fault", "WebMeetingSimulator", "main"]

KEY_ENV = "WEBMEETING_SIM_API_KEY"
REDACTED = "<redacted>"
PERMISSIONS = ("Account", "Meeting")
TRIAL_DAYS = 14  # the example's trial account: created 2020-04-13T12:23:33Z (its id), paidUntil 14 days later

# Response codes: 0 is the document's success; the negative ones follow the vendor's v1 API.
OK, BAD_KEY, NOT_ALLOWED, INVALID, EXISTS, UNKNOWN = 0, -1, -3, -4, -10, -99

# (method, path pattern, endpoint name, permission the key needs)
ENDPOINTS = (
    ("POST", re.compile(r"/api/v6/account\Z"), "create_account", "Account"),
    ("GET", re.compile(r"/api/v6/account/admin/([^/]+)\Z"), "get_admin", "Account"),
    ("POST", re.compile(r"/api/v6/meeting\Z"), "create_meeting", "Meeting"),
    ("PUT", re.compile(r"/api/v6/meeting/([^/]+)/(false|true)\Z"), "update_meeting", "Meeting"),
)

# The document's times are JavaScript ISO strings: UTC, milliseconds, "Z" ("2020-04-07T09:00:00.000Z").
_ISO_TIME = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}Z\Z")
# WHATWG "valid e-mail address", plus a dot in the domain (a host name alone is not a mailbox).
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_EMAIL = re.compile(r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@" + _LABEL + r"(?:\." + _LABEL + r")+\Z")
_OBJECT_ID = re.compile(r"[0-9a-f]{24}\Z")


# --------------------------------------------------------------------------- faults and errors
@dataclass
class Fault(FaultBase):
    """One scripted misbehaviour, consumed in order by the next API request it matches.

    ``endpoint`` (one of ``ENDPOINTS``' names, or None for any API request) picks which request takes it.
    Applied before any check, the API key's included: ``delay`` sleeps first; ``drop`` then closes the
    connection unanswered; ``status`` answers that status (``body`` or a default error body);
    ``body`` alone answers HTTP 200 with it; neither processes normally.  ``retry_after`` adds the header.
    """

    status: int | None = None
    retry_after: str | None = None
    body: dict | list | None = None
    delay: float = 0.0
    drop: bool = False
    endpoint: str | None = None

    def validate(self) -> None:
        super().validate()  # status, retry_after, delay, drop
        if self.body is not None and not isinstance(self.body, (dict, list)):
            raise ValueError("fault 'body' must be a JSON object, a list or null")
        names = [name for _, _, name, _ in ENDPOINTS]
        if self.endpoint is not None and self.endpoint not in names:
            raise ValueError(f"fault 'endpoint' must be one of {names} or null")


def _error(code: int, message: str) -> dict:
    return {"responseCode": code, "responseMessage": message, "data": None}


def _code_for(status: int) -> int:
    return {401: BAD_KEY, 403: NOT_ALLOWED, 409: EXISTS}.get(status, UNKNOWN if status >= 500 else INVALID)


def _refuse(status: int, message: str, headers: dict | None = None) -> Reject:
    return Reject(status, _error(_code_for(status), message), headers)


def _invalid(message: str) -> Reject:
    return _refuse(400, f"Data not valid: {message}")


def _default_fault_body(status: int) -> dict:
    messages = {401: "Invalid API key", 403: "Not allowed", 409: "Account already exists", 429: "Too many requests"}
    return _error(_code_for(status), messages.get(status) or ("Unknown error" if status >= 500 else reason(status)))


# --------------------------------------------------------------------------- field checks
def _iso(t: float) -> str:
    ms = round(t * 1000)  # whole milliseconds first: 0.852 must not print as .851
    return datetime.fromtimestamp(ms // 1000, UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"


def _parse_iso(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _js_string(number: float) -> str:
    """How JavaScript's String() writes a JSON number: 60 and 60.0 are both "60"."""
    return str(int(number)) if float(number).is_integer() else repr(float(number))


def _check(name: str, value: Any, kind: str) -> None:
    """Refuse ``value`` unless it has the type (and format) the document's example shows for ``name``."""
    if kind == "string" and not isinstance(value, str):
        raise _invalid(f"'{name}' must be a string")
    if kind == "boolean" and not isinstance(value, bool):
        raise _invalid(f"'{name}' must be true or false")
    if kind == "number" and not _is_number(value):
        raise _invalid(f"'{name}' must be a number")
    if kind == "array" and not isinstance(value, list):
        raise _invalid(f"'{name}' must be an array")
    if kind == "object" and not isinstance(value, dict):
        raise _invalid(f"'{name}' must be an object")
    if kind == "id-or-null" and value is not None and not isinstance(value, str):
        raise _invalid(f"'{name}' must be null or an id string")
    if kind == "email" and not (isinstance(value, str) and len(value) <= 254 and _EMAIL.match(value)):
        raise _invalid(f"'{name}' must be an email address")
    if kind == "time":
        if not (isinstance(value, str) and _ISO_TIME.match(value)):
            raise _invalid(f"'{name}' must be an ISO time like 2020-04-07T09:00:00.000Z (UTC, milliseconds)")
        try:
            _parse_iso(value)
        except ValueError:
            raise _invalid(f"'{name}' is not a real date and time") from None


# Create account: the document's "Input data".  Only the admin email is required (an organizer "is defined
# by an email address"); the others are checked when present.
_ACCOUNT_FIELDS = {
    "sendPassword": "boolean",
    "accountType": "string",
    "adminFirstname": "string",
    "adminLastname": "string",
    "adminEmail": "email",
    "adminPreferredLanguage": "string",
    "paidUntil": "time",
}
# Create meeting: "The minimal data set we need to send", so every one is required.
_MEETING_FIELDS = {
    "topic": "string",
    "startTime": "time",
    "endTime": "time",
    "duration": "number",
    "type": "string",
    "isRecurring": "boolean",
    "isRecorded": "boolean",
    "isDialin": "boolean",
    "invitedParticipants": "array",
    "recurring": "object",
    "meetingPermissionId": "id-or-null",
}
# Fields of the meeting answer a request may also carry (silence: accepted when they are strings).
_MEETING_OPTIONAL = {"agenda": "string", "timezone": "string"}
_SHOWN_VALUES = {"accountType": "trial", "adminPreferredLanguage": "en", "type": "standard"}


def _check_account(body: dict, notes: list[str]) -> None:
    if "adminEmail" not in body:
        raise _invalid("'adminEmail' is required")
    for name, kind in _ACCOUNT_FIELDS.items():
        if name in body:
            _check(name, body[name], kind)
        else:
            notes.append(f"'{name}' left out (the document does not say whether it is required)")
    _note_extras(body, _ACCOUNT_FIELDS, notes)


def _check_meeting(body: dict, notes: list[str], *, update_id: str | None = None) -> None:
    required = dict(_MEETING_FIELDS, **({"id": "string"} if update_id is not None else {}))
    missing = [name for name in required if name not in body]
    if missing:
        raise _invalid("missing " + ", ".join(f"'{m}'" for m in missing))
    for name, kind in required.items():
        _check(name, body[name], kind)
    if update_id is not None and body["id"] != update_id:
        raise _invalid(f"'id' {body['id']!r} is not the meeting id in the path")
    for name, kind in _MEETING_OPTIONAL.items():
        if name in body:
            _check(name, body[name], kind)
    _note_extras(body, {**required, **_MEETING_OPTIONAL}, notes)
    _note_meeting_silences(body, notes)


def _note_extras(body: dict, known: dict, notes: list[str]) -> None:
    for name in body:
        if name not in known:
            notes.append(f"unknown field '{name}' ignored")
    for name, shown in _SHOWN_VALUES.items():
        if name in known and name in body and body[name] != shown:
            notes.append(f"'{name}' {body[name]!r} is not a value the document shows ({shown!r})")


def _note_meeting_silences(body: dict, notes: list[str]) -> None:
    start, end = _parse_iso(body["startTime"]), _parse_iso(body["endTime"])
    if end <= start:
        notes.append("'endTime' is not after 'startTime'")
    elif body["duration"] * 60 != (end - start).total_seconds():
        notes.append("'duration' is not the minutes from 'startTime' to 'endTime'")
    if body["duration"] <= 0:
        notes.append("'duration' is not positive")
    if not isinstance(body["duration"], int):
        notes.append("'duration' not written as a whole number (the document shows 60)")
    if not body["topic"].strip():
        notes.append("'topic' is blank")
    if body["isRecurring"] or body["recurring"]:
        notes.append("recurrence requested (the document shows no recurring input)")
    if body["invitedParticipants"]:
        notes.append("'invitedParticipants' not empty (the document shows no element format)")
    if body["meetingPermissionId"] is not None:
        notes.append("'meetingPermissionId' set (the document shows only null)")


# --------------------------------------------------------------------------- record redaction
def _scrub(value: Any, secrets_: list[str]) -> Any:
    """``value`` with every secret replaced, in strings, keys and nested containers."""
    if isinstance(value, str):
        for s in secrets_:
            value = value.replace(s, REDACTED)
        return value
    if isinstance(value, list):
        return [_scrub(v, secrets_) for v in value]
    if isinstance(value, dict):
        return {_scrub(k, secrets_): _scrub(v, secrets_) for k, v in value.items()}
    return value


def _reject_constant(name: str) -> Any:
    raise ValueError(f"invalid JSON number {name}")  # NaN/Infinity: not JSON, JSON.parse refuses them


def _parse_json(raw: bytes) -> Any:
    """Strict JSON (no NaN); a repeated key keeps its last value, as JavaScript's JSON.parse does."""
    return json.loads(raw.decode("utf-8"), parse_constant=_reject_constant)


def _route(method: str, path: str) -> tuple[str | None, tuple, set[str]]:
    """(endpoint name, path groups, methods the path allows): name None when the path/method is unknown."""
    allowed = set()
    for verb, pattern, name, _ in ENDPOINTS:
        m = pattern.match(path)
        if m:
            if verb == method:
                return name, m.groups(), {verb}
            allowed.add(verb)
    return None, (), allowed


# --------------------------------------------------------------------------- HTTP handler
class _Handler(SimHandler):
    server_version = "WebMeetingSim/1.0"

    def error_body(self, status: int, message: str) -> Any:
        return _error(_code_for(status), message)

    def _dispatch(self) -> None:
        sim = self.server.sim
        try:
            raw = self._read_body()
        except Reject as r:
            self.close_connection = True
            self._send(r.status, r.body)
            return
        split = urlsplit(self.path)
        if split.path.startswith(SIM_PREFIX):
            self._control(split.path, raw)
            return
        endpoint = _route(self.command, split.path)[0]
        record = sim._record(self.command, split, self.headers, raw, endpoint, self._conn_id)
        fault = sim._next_fault_for(endpoint)
        headers: dict[str, str] = {}
        if fault is not None:
            record["fault"] = _scrub(dataclasses.asdict(fault), [sim._api_key])
            if fault.delay:
                sim._stopping.wait(fault.delay)
            if fault.drop:
                self.close_connection = True
                self._drop()
                return
            if fault.retry_after is not None:
                headers["Retry-After"] = fault.retry_after
            if fault.status is not None or fault.body is not None:
                status = fault.status or 200
                self._answer(
                    record, status, fault.body if fault.body is not None else _default_fault_body(status), headers
                )
                return
        try:
            status, out = sim._process(self.command, split.path, self.headers, raw, record)
        except Reject as r:
            status, out = r.status, r.body
            headers.update(r.headers)
        self._answer(record, status, out, headers)

    def _answer(self, record: dict, status: int, body: Any, headers: dict) -> None:
        sim = self.server.sim
        body = _scrub(body, [sim._api_key])  # a last guard: the key never leaves in an answer
        with sim._lock:
            record["status"] = status
            record["responseCode"] = body.get("responseCode") if isinstance(body, dict) else None
        self._send(status, body, headers)


# --------------------------------------------------------------------------- the simulator
class WebMeetingSimulator(SimulatorBase):
    """Strict Web Meeting API v6 simulator on a real local HTTP port.

    Read access (deep copies): ``accounts()``, ``organizers()``, ``meetings()``, ``undocumented()``,
    ``state()``; ``received`` lists every API request as it arrived (the API key value never in it).
    """

    handler_class = _Handler
    fault_class = Fault
    thread_name = "webmeeting-sim"
    base_path = ""

    def __init__(
        self,
        api_key: str,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        clock: Callable[[], float] = time.time,
        permissions: tuple[str, ...] = PERMISSIONS,
    ) -> None:
        if not isinstance(api_key, str) or not api_key:
            raise ValueError("api_key must be a non-empty string")
        unknown = set(permissions) - set(PERMISSIONS)
        if unknown:
            raise ValueError(f"unknown permission(s) {sorted(unknown)}; expected some of {PERMISSIONS}")
        self._api_key = api_key
        self.permissions = frozenset(permissions)
        self.clock = clock
        self._init_server(host, port)
        # Ids look like the document's (MongoDB ObjectIds): 4-byte time, 5-byte process value, 3-byte counter.
        self._process_hex = secrets.token_hex(5)
        self._counter = secrets.randbelow(1 << 23)
        self._started = clock()  # the example's recurring.endsOn predates its meeting: a process-start default
        self.whitelabel_id = self._new_id()
        self.received: list[dict] = []
        self._clear_state()

    def __repr__(self) -> str:  # never the key
        return f"WebMeetingSimulator(base_url={self.base_url!r}, permissions={sorted(self.permissions)})"

    def _clear_state(self) -> None:
        self._accounts: dict[str, dict] = {}
        self._users: dict[str, dict] = {}
        self._emails: dict[str, str] = {}  # casefolded email -> user id
        self._meetings: dict[str, dict] = {}
        self._meeting_numbers: set[str] = set()

    # ---- test hooks ----------------------------------------------------------
    def reset(self) -> None:
        """An empty instance: no accounts, organizers, meetings, records or pending faults."""
        with self._lock:
            super().reset()  # the shared fault queue
            self.received.clear()
            self._clear_state()

    def faults_pending(self) -> int:
        return self._pending_faults()

    def seed_account(
        self, email: str, firstname: str = "", lastname: str = "", *, account_type: str = "trial", language: str = "en"
    ) -> tuple[str, str]:
        """An existing account and admin organizer, as if created earlier: (account id, user id).

        ValueError when the email is not an address or already exists (the API's own rules)."""
        try:
            return self._seed(email, firstname, lastname, account_type, language)
        except Reject as r:
            raise ValueError(r.body["responseMessage"]) from None

    def _seed(self, email: Any, firstname: Any, lastname: Any, account_type: Any, language: Any) -> tuple[str, str]:
        body = {
            "sendPassword": False,
            "accountType": account_type,
            "adminFirstname": firstname,
            "adminLastname": lastname,
            "adminEmail": email,
            "adminPreferredLanguage": language,
        }
        with self._lock:
            view = self._create_account(body, [])
            return view["id"], self._accounts[view["id"]]["adminUserId"]

    def accounts(self) -> list[dict]:
        """The accounts in creation order: the create answer's ``data`` plus ``adminUserId``."""
        with self._lock:
            return [dict(copy.deepcopy(a["view"]), adminUserId=a["adminUserId"]) for a in self._accounts.values()]

    def organizers(self) -> list[dict]:
        """The organizers: the admin answer's element plus ``accountId`` and ``sendPassword``."""
        with self._lock:
            return [
                dict(copy.deepcopy(u["view"]), accountId=u["accountId"], sendPassword=u["sendPassword"])
                for u in self._users.values()
            ]

    def meetings(self) -> list[dict]:
        """The meetings as the last create/update answered them."""
        with self._lock:
            return copy.deepcopy(list(self._meetings.values()))

    def undocumented(self) -> list[dict]:
        """Every accepted request that relied on a silence of the document: {request, method, path, note}."""
        with self._lock:
            return [
                {"request": r["seq"], "method": r["method"], "path": r["path"], "note": n}
                for r in self.received
                if r["responseCode"] == OK
                for n in r["notes"]
            ]

    def state(self) -> dict:
        """What ``GET /__sim/state`` answers: every record and all state (copies, the key redacted)."""
        with self._lock:
            received = copy.deepcopy(self.received)
        state = {
            "received": received,
            "accounts": self.accounts(),
            "organizers": self.organizers(),
            "meetings": self.meetings(),
            "notes": self.undocumented(),
            "faults_pending": self.faults_pending(),
        }
        return _scrub(state, [self._api_key])

    _state = state  # the shared control route's name for it

    def _control_routes(self) -> dict:
        return dict(super()._control_routes(), seed=("POST", self._control_seed))

    def _control_seed(self, raw: bytes) -> tuple[int, Any]:
        data = control_json(raw)
        if not isinstance(data, dict) or "email" not in data or set(data) - {"email", "firstname", "lastname"}:
            raise ValueError('expected {"email": ..., "firstname": ..., "lastname": ...}')
        try:
            account_id, user_id = self._seed(
                data["email"], data.get("firstname", ""), data.get("lastname", ""), "trial", "en"
            )
        except Reject as r:  # the API's own refusal (bad email 400, existing email 409)
            raise ControlError(r.status, r.body["responseMessage"]) from None
        return 200, {"responseCode": OK, "accountId": account_id, "userId": user_id}

    # ---- records and faults ----------------------------------------------------
    def _record(self, method: str, split, headers, raw: bytes, endpoint: str | None, conn: int) -> dict:
        keys = headers.get_all("X-API-KEY") or []
        hidden = [self._api_key] + [k for k in keys if len(k) >= 8]  # a wrong key may be another real key
        if not keys:
            api_key = "missing"
        elif len(keys) == 1 and hmac.compare_digest(keys[0].encode(), self._api_key.encode()):
            api_key = "valid"
        else:
            api_key = "wrong"
        try:
            body = _parse_json(raw) if raw else None
        except (ValueError, UnicodeDecodeError):
            body = None
        record = {
            "method": method,
            "path": _scrub(split.path, hidden),
            "query": _scrub(dict(parse_qsl(split.query, keep_blank_values=True)), hidden),
            "headers": _scrub({k.lower(): v for k, v in headers.items() if k.lower() != "x-api-key"}, hidden),
            "api_key": api_key,
            "body": _scrub(body, hidden),
            "body_text": _scrub(raw.decode("utf-8", errors="replace"), hidden),
            "endpoint": endpoint,
            "connection": conn,
            "fault": None,
            "status": None,
            "responseCode": None,
            "notes": [],
        }
        with self._lock:
            record["seq"] = len(self.received)
            self.received.append(record)
        return record

    def _next_fault_for(self, endpoint: str | None) -> Fault | None:
        """The shared queue's first fault for this request: one naming its endpoint, or naming none."""
        with self._lock:
            for i, f in enumerate(self._faults):
                if isinstance(f, Fault) and f.endpoint in (None, endpoint):
                    return self._faults.pop(i)  # type: ignore[return-value]
        return None

    # ---- request processing ------------------------------------------------------
    def _process(self, method: str, path: str, headers, raw: bytes, record: dict) -> tuple[int, dict]:
        """Key, route, permission, body, then the endpoint; refusals raise Reject."""
        if record["api_key"] == "missing":
            raise _refuse(401, "Missing API key (X-API-KEY header)")
        if record["api_key"] != "valid":
            raise _refuse(401, "Invalid API key")
        endpoint, groups, allowed = _route(method, path)
        if endpoint is None:
            if allowed:
                raise _refuse(405, f"Method {method} not allowed here", {"Allow": ", ".join(sorted(allowed))})
            raise _refuse(404, f"Not found: {path}")
        permission = next(p for _, _, name, p in ENDPOINTS if name == endpoint)
        if permission not in self.permissions:
            raise _refuse(403, f"Not allowed: the API key lacks the '{permission}' permission")
        notes: list[str] = record["notes"]
        if record["query"]:
            notes.append("query string ignored (the document shows none)")
        body = self._json_body(headers, raw) if method in ("POST", "PUT") else {}
        with self._lock:
            if endpoint == "create_account":
                return 200, {"responseCode": OK, "data": self._create_account(body, notes)}
            if endpoint == "get_admin":
                return 200, {"responseCode": OK, "data": self._admins(groups[0])}
            user = self._acting_user(headers)
            if endpoint == "create_meeting":
                return 200, {"responseCode": OK, "data": self._create_meeting(user, body, notes)}
            if groups[1] == "true":
                notes.append("update path ends in /true (the document shows only /false)")
            return 200, {"responseCode": OK, "data": self._update_meeting(user, groups[0], body, notes)}

    @staticmethod
    def _json_body(headers, raw: bytes) -> dict:
        ctype = (headers.get("Content-Type") or "").split(";", 1)[0].strip().lower()
        if ctype != "application/json":
            raise _refuse(415, "Data not valid: Content-Type must be application/json")
        if not raw:
            raise _invalid("a JSON request body is required")
        try:
            body = _parse_json(raw)
        except UnicodeDecodeError:
            raise _invalid("the request body is not UTF-8") from None
        except ValueError as exc:
            raise _invalid(f"malformed JSON ({exc})") from None
        if not isinstance(body, dict):
            raise _invalid("the request body must be a JSON object")
        return body

    def _acting_user(self, headers) -> dict:
        values = headers.get_all("X-USER-ID") or []
        if not values:
            raise _invalid("the X-USER-ID header is required")
        if len(values) > 1:
            raise _invalid("the X-USER-ID header appears more than once")
        return self._users[self._known_id(values[0].strip(), self._users, "X-USER-ID", "user")]

    @staticmethod
    def _known_id(value: str, table: dict, name: str, what: str) -> str:
        if not _OBJECT_ID.match(value):
            raise _invalid(f"{name} {value!r} is not an id (24 lowercase hexadecimal characters)")
        if value not in table:
            raise _refuse(404, f"Data not valid: no {what} with id {value}")
        return value

    def _new_id(self) -> str:
        self._counter = (self._counter + 1) % (1 << 24)
        return f"{int(self.clock()) & 0xFFFFFFFF:08x}{self._process_hex}{self._counter:06x}"

    # ---- endpoints (called with the lock held) -----------------------------------------
    def _create_account(self, body: dict, notes: list[str]) -> dict:
        _check_account(body, notes)
        email = body["adminEmail"]
        if email.casefold() in self._emails:
            raise _refuse(409, f"Account already exists: a meeting organizer with email {email} exists")
        now = self.clock()
        user_id, account_id, room_id = self._new_id(), self._new_id(), self._new_id()  # the example's order
        account_type = body.get("accountType", "trial")
        if account_type == "trial":  # the example answers creation + 14 days, not the paidUntil it was sent
            paid_until: str | None = _iso(now + TRIAL_DAYS * 86_400)
        else:
            paid_until = body.get("paidUntil")
        ics = f"{uuid.uuid4()}-{uuid.uuid4()}"
        user_view = {
            "email": email,
            "firstName": body.get("adminFirstname", ""),
            "lastName": body.get("adminLastname", ""),
            "externalUserId": None,
            "preferredLanguage": body.get("adminPreferredLanguage", "en"),
            "timezone": "Europe/Paris",
            "additionalTimezones": [],
            "id": user_id,
            "icsToken": ics,
            "icsPath": f"/api/v6/meeting/calender/user/{ics}",  # sic: the document's spelling
        }
        account_view = {
            "name": email,
            "accountType": account_type,
            "numberOfMeetings": 0,
            "numberOfMeetingOrganizers": 0,
            "numberOfMeetingRooms": 1,
            "paidUntil": paid_until,
            "iceCandidatesToFilter": [],
            "customDialInNumbers": [],
            "displayStandardDialInNumbersInInvite": True,
            "defaultMeetingPermissions": None,
            "defaultMeetingType": "standard",
            "defaultMeetingHasDialin": False,
            "defaultMeetingHasRecording": False,
            "autoExtendMeetings": False,
            "autoDeleteMeetingsAfterXDays": 360,
            "id": account_id,
            "canAddMeetingOrganizer": True,
            "accountRooms": [],
        }
        self._users[user_id] = {
            "view": user_view,
            "accountId": account_id,
            "roomId": room_id,
            "sendPassword": body.get("sendPassword", False),
        }
        self._accounts[account_id] = {"view": account_view, "adminUserId": user_id}
        self._emails[email.casefold()] = user_id
        return copy.deepcopy(account_view)

    def _admins(self, account_id: str) -> list[dict]:
        account = self._accounts[self._known_id(account_id, self._accounts, "account id", "account")]
        return [copy.deepcopy(self._users[account["adminUserId"]]["view"])]

    def _meeting_number(self) -> str:
        while True:
            digits = "".join(str(secrets.randbelow(10)) for _ in range(16))
            number = "-".join(digits[i : i + 4] for i in range(0, 16, 4))
            if number not in self._meeting_numbers:
                self._meeting_numbers.add(number)
                return number

    def _create_meeting(self, user: dict, body: dict, notes: list[str]) -> dict:
        _check_meeting(body, notes)
        u = user["view"]
        meeting_id = self._new_id()
        view = {
            "invitedParticipants": [],
            "meetingId": self._meeting_number(),
            "id": meeting_id,
            "topic": "",
            "startTime": "",
            "endTime": "",
            "duration": "",
            "type": "",
            "roomId": user["roomId"],
            "isRecurring": False,
            "isDialin": False,
            "recurring": {},
            "isRecorded": False,
            "agenda": "",
            "documents": [],
            "meetingPermissionId": None,
            "videoResolution": "standard",
            "dtClosedAt": None,
            "whitelabelId": self.whitelabel_id,
            "addedByUserId": u["id"],
            "addedByUserEmail": u["email"],
            "accountId": user["accountId"],
            "addedByUserName": f"{u['firstName']} {u['lastName']}".strip(),
            "timezone": "Europe/Zurich",
            "privateDataVisible": True,
            "icalSequence": "0",
            "icsToken": f"{uuid.uuid4()}-{uuid.uuid4()}",
            "isActive": False,
            "isClosed": False,
            "isOpen": False,
            "dialInConferenceRoom": None,
            "dialInNumbers": [],
            "dialInPin": None,
            "sipProxy": None,
            "sipDomain": None,
            "isDemo": False,
            "isPromo": False,
        }
        self._apply(view, body)
        self._meetings[meeting_id] = view
        return copy.deepcopy(view)

    def _update_meeting(self, user: dict, meeting_id: str, body: dict, notes: list[str]) -> dict:
        view = self._meetings[self._known_id(meeting_id, self._meetings, "meeting id", "meeting")]
        _check_meeting(body, notes, update_id=meeting_id)
        if view["addedByUserId"] != user["view"]["id"]:
            notes.append("X-USER-ID is not the meeting's organizer (the document does not say who may update)")
        self._apply(view, body)
        view["icalSequence"] = str(int(view["icalSequence"]) + 1)  # iCalendar SEQUENCE: one more per change
        return copy.deepcopy(view)

    def _apply(self, view: dict, body: dict) -> None:
        """Copy a checked meeting body into its answer, in the answer's own types."""
        for name in _MEETING_FIELDS:
            if name not in ("duration", "recurring"):
                view[name] = copy.deepcopy(body[name])
        view["duration"] = _js_string(body["duration"])  # sent as a number, answered as a string
        view["recurring"] = {
            "frequencyType": "",
            "frequency": None,
            "monthlyPattern": "",
            "endsType": "",
            "endsOn": _iso(self._started),
            "endsAfter": 0,
            **copy.deepcopy(body["recurring"]),
        }
        for name in _MEETING_OPTIONAL:
            if name in body:
                view[name] = body[name]
        # The example (a meeting of 7 April created on 13 April) is closed: closed once its end has passed.
        view["isClosed"] = _parse_iso(view["endTime"]).timestamp() <= self.clock()


# --------------------------------------------------------------------------- program mode
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=f"Strict local Web Meeting API v6 simulator (API key from ${KEY_ENV})")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument(
        "--permissions",
        default=",".join(PERMISSIONS),
        help="the key's permissions, comma-separated (default: Account,Meeting)",
    )
    args = parser.parse_args(argv)
    key = os.environ.get(KEY_ENV)
    if not key:
        parser.error(f"set {KEY_ENV} to the API key the simulator accepts")
    perms = tuple(p.strip() for p in args.permissions.split(",") if p.strip())
    try:
        sim = WebMeetingSimulator(key, host=args.host, port=args.port, permissions=perms)
    except ValueError as exc:
        parser.error(str(exc))
    sim.serve_until_signalled()
    return 0


if __name__ == "__main__":
    sys.exit(main())
