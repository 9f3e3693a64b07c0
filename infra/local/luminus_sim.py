"""A strict, local simulator of the LumiNUS conferencing API's "Add meeting" operation.

Written from ``/work/shared/reference/luminus-zoom-conferencing-api.txt`` alone (standard library only,
nothing imported from ``zoomops``), so it cross-checks the project's client instead of echoing it.

Endpoint (the document's base URL ``https://luminus.azure-api.net`` maps to ``base_url``)::

    POST {base_url}/zoom/Meeting[?anything]
    Ocp-Apim-Subscription-Key: <key>            required (401 JSON from the API gateway otherwise)
    Authorization: Bearer <token>               required only when the simulator has a bearer token (403)
    Content-Type: application/json-patch+json   optional; any JSON media type; others are a 400
    body: the document's "Meeting input to create" JSON object

    201 application/json   the document's "Zoom meeting object"
    400 text/plain         "Bad Request" then one "<field>: <reason>" line per broken rule
    403 text/plain         "Login user not authorized to perform this action"
    500 text/plain         "Server Error" (faults only)

Control endpoints (so another process can drive it)::

    GET  /__sim/state    -> {"received": n, "meetings": [...], "faults_pending": n}
    POST /__sim/faults   <- JSON list of Fault field dicts (appended)
    POST /__sim/reset    -> clears faults, meetings and records

Run in the foreground (the key and token come only from the environment, never the command line)::

    LUMINUS_SIM_SUBSCRIPTION_KEY=... [LUMINUS_SIM_BEARER_TOKEN=...] python infra/local/luminus_sim.py [--port N]

The subscription key and bearer token never appear in an answer, a log line, a repr or a recorded request.
"""

from __future__ import annotations

import argparse
import codecs
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
from datetime import UTC, datetime, timedelta, timezone
from typing import Any, cast
from urllib.parse import parse_qsl, urlsplit

try:  # a package module, or run as a script from this folder
    from .simhttp import SIM_PREFIX, FaultBase, Reject, SimHandler, SimServer, SimulatorBase, reason
except ImportError:  # pragma: no cover
    from simhttp import SIM_PREFIX, FaultBase, Reject, SimHandler, SimServer, SimulatorBase, reason

__all__ = ["Fault", "LuminusSimulator", "main", "parse_date_time", "validate_meeting_input"]

BASE_PATH = ""  # the document's base URL has no path: https://luminus.azure-api.net + /zoom/Meeting
ENDPOINT_PATH = "/zoom/Meeting"
KEY_HEADER = "Ocp-Apim-Subscription-Key"
KEY_ENV, TOKEN_ENV = "LUMINUS_SIM_SUBSCRIPTION_KEY", "LUMINUS_SIM_BEARER_TOKEN"
REDACTED = "<redacted>"

BAD_REQUEST = "Bad Request"
FORBIDDEN = "Login user not authorized to perform this action"
SERVER_ERROR = "Server Error"
# The document is an Azure API Management portal page: the gateway, not LumiNUS, refuses a missing or
# wrong key, with 401 and these JSON bodies (Microsoft support article KB 4464930).
APIM_MISSING_KEY = (
    "Access denied due to missing subscription key. "
    "Make sure to include subscription key when making requests to an API."
)
APIM_INVALID_KEY = (
    "Access denied due to invalid subscription key. Make sure to provide a valid key for an active subscription."
)

TEXT = "text/plain; charset=utf-8"
JSON = "application/json; charset=utf-8"

# ---------------------------------------------------------------------------------------------------------
# The request schema, field by field as the document gives it.


@dataclass(frozen=True)
class _Rule:
    kind: str  # "uuid" | "string" | "date-time" | "integer" | "boolean" | "hosts" | "access"
    minimum: int | None = None
    maximum: int | None = None
    step: int | None = None
    enum: tuple[int, ...] | None = None
    max_length: int | None = None


_UUID = _Rule("uuid")
_BOOL = _Rule("boolean")
_ROLE = _Rule("integer", enum=(1, 2, 3, 4, 5, 6))  # "customized user role for IVLE."
REQUIRED_FIELDS = ("duration", "moduleID", "name", "startDate")
FIELD_RULES: dict[str, _Rule] = {
    "moduleID": _UUID,
    "lessonID": _UUID,
    "access": _Rule("access"),
    "name": _Rule("string", max_length=200),  # minLength 0: "" is allowed
    "startDate": _Rule("date-time"),
    # "0 to 24 hrs to 0, 15, 30 and 45 mins (maximum is 24 hrs 45 mins)", minimum 15, maximum 1485
    "duration": _Rule("integer", minimum=15, maximum=1485, step=15),
    "isSendEmail": _BOOL,
    "isPublishRecordURL": _BOOL,
    "isWaitingRoom": _BOOL,
    "meetingAuthentication": _BOOL,
    "muteUponEntry": _BOOL,
    "recordType": _Rule("integer", minimum=1, maximum=2),
    "authenticationOpt": _Rule("integer", minimum=1, maximum=2),
    "alternativeHosts": _Rule("hosts"),
    "meetingType": _Rule("integer", minimum=1, maximum=3),
    "exportMultimediaWeb": _BOOL,
    "channelID": _UUID,
    "channelName": _Rule("string"),
    "publishMutimediaChannel": _BOOL,  # sic: the document's spelling
}
_ACCESS_LISTS = (("groupAccess", "groupID"), ("userAccess", "userID"))
INT32 = (-(2**31), 2**31 - 1)

# RFC 4122 textual form (JSON Schema "uuid"); RFC 3339 date-time (OpenAPI "date-time"), offset required.
_UUID_RE = re.compile(r"[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}\Z")
_DATE_TIME_RE = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})[Tt]([0-9]{2}):([0-9]{2}):([0-9]{2})(?:\.([0-9]+))?"
    r"(?:([Zz])|([+-])([0-9]{2}):([0-9]{2}))\Z"
)
_EMAIL_RE = re.compile(r"[^\s@,;]+@[^\s@,;]+\Z")
_HOST_ID_RE = re.compile(r"[A-Za-z0-9._-]+\Z")


def _show(value: Any) -> str:
    """A short echo of a refused value (truncated: an answer should not carry a whole body back)."""
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= 60 else text[:57] + "..."


def parse_date_time(text: str) -> datetime | None:
    """RFC 3339 ``date-time`` (offset required, ``T``/``Z`` in either case, leap second 60) or None."""
    m = _DATE_TIME_RE.match(text)
    if m is None:
        return None
    year, month, day, hour, minute, second = (int(g) for g in m.groups()[:6])
    micro = int((m.group(7) or "0")[:6].ljust(6, "0"))
    if m.group(8):
        tz = UTC
    else:
        off_h, off_m = int(m.group(10)), int(m.group(11))
        if off_h > 23 or off_m > 59:
            return None
        sign = 1 if m.group(9) == "+" else -1
        tz = timezone(sign * timedelta(hours=off_h, minutes=off_m))
    try:  # datetime has no 60th second; RFC 3339 allows one, so it is kept as :59 plus a second
        base = datetime(year, month, day, hour, minute, min(second, 59), micro, tzinfo=tz)
    except ValueError:
        return None
    return base + timedelta(seconds=1) if second == 60 else base


def _check_hosts(path: str, value: str) -> list[str]:
    """ "Alternative host's emails or IDs: multiple values separated by a comma." """
    if not value.strip():
        return []  # no alternative host
    errors = []
    for i, item in enumerate(value.split(",")):
        item = item.strip()
        if not item:
            errors.append(f"{path}: item {i + 1} is empty (emails or IDs separated by a comma)")
        elif not (_EMAIL_RE.match(item) or _HOST_ID_RE.match(item)):
            errors.append(
                f"{path}: item {i + 1} {_show(item)} is neither an email nor an ID (values are separated by a comma)"
            )
    return errors


def _check_integer(path: str, value: Any, rule: _Rule) -> list[str]:
    # bool is an int in Python, not in JSON; 15.0 is a number, not a JSON Schema (draft 4) integer
    if isinstance(value, bool) or not isinstance(value, int):
        return [f"{path}: must be an integer, got {_show(value)}"]
    if not INT32[0] <= value <= INT32[1]:
        return [f"{path}: must be a 32-bit integer, got {value}"]
    if rule.enum is not None and value not in rule.enum:
        return [f"{path}: must be one of {', '.join(map(str, rule.enum))}, got {value}"]
    if rule.minimum is not None and value < rule.minimum:
        return [f"{path}: must be at least {rule.minimum}, got {value}"]
    if rule.maximum is not None and value > rule.maximum:
        return [f"{path}: must be at most {rule.maximum}, got {value}"]
    if rule.step is not None and value % rule.step:
        return [f"{path}: must be a multiple of {rule.step} minutes, got {value}"]
    return []


def _check_string(path: str, value: Any, rule: _Rule) -> list[str]:
    if not isinstance(value, str):
        return [f"{path}: must be a string, got {_show(value)}"]
    if rule.kind == "uuid" and not _UUID_RE.match(value):
        return [f"{path}: must be a UUID (8-4-4-4-12 hex digits), got {_show(value)}"]
    if rule.kind == "date-time" and parse_date_time(value) is None:
        return [
            (
                f"{path}: must be an RFC 3339 date-time with a UTC offset "
                f"(e.g. 2024-08-12T10:00:00+08:00), got {_show(value)}"
            )
        ]
    if rule.max_length is not None and len(value) > rule.max_length:
        return [f"{path}: must be at most {rule.max_length} characters, got {len(value)}"]
    if rule.kind == "hosts":
        return _check_hosts(path, value)
    return []


def _check_role_entry(path: str, entry: Any, id_name: str) -> list[str]:
    if not isinstance(entry, dict):
        return [f"{path}: must be an object, got {_show(entry)}"]
    errors = []
    for name, rule in ((id_name, _UUID), ("accessRole", _ROLE)):
        if entry.get(name) is None:  # both are "required"; null is no value
            errors.append(f"{path}.{name}: is required")
        else:
            errors.extend(_check(f"{path}.{name}", entry[name], rule))
    return errors


def _check_access(path: str, value: Any) -> list[str]:
    if not isinstance(value, dict):
        return [f"{path}: must be an object, got {_show(value)}"]
    errors = []
    for list_name, id_name in _ACCESS_LISTS:
        entries = value.get(list_name)
        if entries is None:
            continue
        if not isinstance(entries, list):
            errors.append(f"{path}.{list_name}: must be an array, got {_show(entries)}")
            continue
        for i, entry in enumerate(entries):
            errors.extend(_check_role_entry(f"{path}.{list_name}[{i}]", entry, id_name))
    # "null means NO_ACCESS" / "not null means it follow permission from another resource"
    for name, rule in (("publicAccess", _ROLE), ("inheritedResourceID", _UUID)):
        if value.get(name) is not None:
            errors.extend(_check(f"{path}.{name}", value[name], rule))
    return errors


def _check(path: str, value: Any, rule: _Rule) -> list[str]:
    if rule.kind == "integer":
        return _check_integer(path, value, rule)
    if rule.kind == "boolean":
        return [] if isinstance(value, bool) else [f"{path}: must be a boolean, got {_show(value)}"]
    if rule.kind == "access":
        return _check_access(path, value)
    return _check_string(path, value, rule)


def validate_meeting_input(data: Any) -> list[str]:
    """Every rule the document states for "Meeting input to create", as ``"<field>: <reason>"`` lines.

    Optional fields given as null count as absent (the document itself gives null a meaning for
    ``publicAccess`` and ``inheritedResourceID``); required ones must have a value.  Properties the
    document does not list are ignored, as the schema does not forbid them.
    """
    if not isinstance(data, dict):
        return [f"body: must be a JSON object, got {_show(data)}"]
    errors = [f"{name}: is required" for name in REQUIRED_FIELDS if data.get(name) is None]
    for name, rule in FIELD_RULES.items():
        if data.get(name) is not None:
            errors.extend(_check(name, data[name], rule))
    return errors


# ---------------------------------------------------------------------------------------------------------
# Request parsing: media type, charset, JSON.

_JSON_TYPES = frozenset({"application/json", "text/json"})


def _is_json_media_type(media_type: str) -> bool:
    # The samples send application/json-patch+json, the C# sample names application/json; the document
    # shows four (unnamed) JSON representations of the body.  Any JSON media type is taken.
    return media_type in _JSON_TYPES or (media_type.startswith("application/") and media_type.endswith("+json"))


def _parse_body(content_type: str | None, raw: bytes) -> Any:
    """The JSON body, or a 400 naming what is wrong with it.  No Content-Type is fine: it is "(optional)"."""
    charset = "utf-8"
    if content_type is not None and content_type.strip():
        media_type, _, params = content_type.partition(";")
        media_type = media_type.strip().lower()
        if not _is_json_media_type(media_type):
            raise _bad(
                [
                    (
                        f"Content-Type: {_show(media_type)} is not a JSON media type "
                        "(the body is JSON, e.g. application/json-patch+json)"
                    )
                ]
            )
        for param in params.split(";"):
            name, _, val = param.partition("=")
            if name.strip().lower() == "charset":
                charset = val.strip().strip('"').lower()
        try:
            codecs.lookup(charset)
        except LookupError:
            raise _bad([f"Content-Type: unknown charset {_show(charset)}"]) from None
    if not raw.strip():
        raise _bad(["body: is required (the meeting input to create)"])
    try:
        text = raw.decode("utf-8-sig" if codecs.lookup(charset).name == "utf-8" else charset)
    except UnicodeDecodeError:
        raise _bad([f"body: is not valid {charset}"]) from None
    try:
        return json.loads(text, parse_constant=_refuse_constant)
    except ValueError as exc:
        raise _bad([f"body: is not valid JSON ({exc})"]) from None


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _bad(errors: list[str]) -> Reject:
    return Reject(400, "\n".join([BAD_REQUEST, *errors]))


# ---------------------------------------------------------------------------------------------------------
# Faults.


@dataclass
class Fault(FaultBase):
    """One scripted misbehaviour, consumed (in order) by one request to ``/zoom/Meeting``.

    Applied before any check (path, method, key, token, body):
      * ``delay``: sleep first (to provoke client read timeouts);
      * ``drop``: then close the connection without any answer;
      * ``status``: answer that status with ``body`` (text) or the document's text for it
        (400 "Bad Request", 403 "Login user not authorized ...", 500 "Server Error"; 401 the gateway's
        JSON; others the reason phrase);
      * ``body`` with ``status`` None: answer 201 with that text as the body (a malformed success);
      * neither: process the request normally.  ``retry_after`` adds a ``Retry-After`` header either way.
    Nothing is created while a fault answers.
    """

    status: int | None = None
    retry_after: str | None = None
    body: str | None = None
    delay: float = 0.0
    drop: bool = False

    def validate(self) -> None:
        super().validate()  # status, retry_after, delay, drop
        if self.body is not None and not isinstance(self.body, str):
            raise ValueError("fault 'body' must be a string (the answer's text) or null")


@dataclass(frozen=True)
class _Answer:
    status: int
    body: Any  # str -> sent as is; anything else -> JSON
    content_type: str = TEXT
    headers: tuple[tuple[str, str], ...] = ()


def _apim_401(message: str) -> _Answer:
    return _Answer(401, {"statusCode": 401, "message": message}, JSON)


def _fault_answer(fault: Fault) -> _Answer | None:
    headers = (("Retry-After", fault.retry_after),) if fault.retry_after is not None else ()
    if fault.status is None:
        return None if fault.body is None else _Answer(201, fault.body, JSON, headers)
    if fault.body is not None:
        return _Answer(fault.status, fault.body, TEXT, headers)
    if fault.status == 401:
        return dataclasses.replace(_apim_401(APIM_INVALID_KEY), headers=headers)
    documented = {400: BAD_REQUEST, 403: FORBIDDEN, 500: SERVER_ERROR}
    return _Answer(fault.status, documented.get(fault.status) or reason(fault.status), TEXT, headers)


# ---------------------------------------------------------------------------------------------------------
# HTTP.


class _Handler(SimHandler):
    server_version = "LuminusSim/1.0"
    server: SimServer

    def error_body(self, status: int, message: str) -> Any:
        return message  # the document's errors are plain strings

    def _send(self, status: int, body: Any, headers: dict | None = None, content_type: str | None = None) -> None:
        """Text bodies as text/plain, anything else as JSON; headers and body in one write."""
        if isinstance(body, str):
            payload, ctype = body.encode("utf-8"), content_type or TEXT
        else:
            payload, ctype = json.dumps(body).encode("utf-8"), content_type or JSON
        try:
            self.send_response(status, self.reasons.get(status))
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(payload)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            if self.close_connection:
                self.send_header("Connection", "close")
            self._headers_buffer.append(b"\r\n")
            if self.command != "HEAD":
                self._headers_buffer.append(payload)
            self.flush_headers()
        except OSError:
            self.close_connection = True  # the client went away (e.g. it timed out during a delay fault)

    def _dispatch(self) -> None:
        sim: LuminusSimulator = self.server.sim
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
        record = sim._record(self.command, split, self.headers, raw, self._conn_id)
        fault = cast("Fault | None", sim._next_fault()) if split.path == ENDPOINT_PATH else None
        if fault is not None:
            record["fault"] = dataclasses.asdict(fault)
            if fault.delay:
                sim._stopping.wait(fault.delay)
            if fault.drop:
                self.close_connection = True
                self._drop()
                return
        answer = _fault_answer(fault) if fault is not None else None
        if answer is None:
            try:
                answer = sim._process(self.command, split.path, self.headers, raw)
            except Reject as r:
                answer = _Answer(r.status, r.body, JSON if isinstance(r.body, dict) else TEXT, tuple(r.headers.items()))
            if fault is not None and fault.retry_after is not None:
                answer = dataclasses.replace(answer, headers=(*answer.headers, ("Retry-After", fault.retry_after)))
        with sim._lock:
            record["status"] = answer.status
        self._send(answer.status, sim._scrub(answer.body), dict(answer.headers), answer.content_type)


# ---------------------------------------------------------------------------------------------------------
# The simulator.

SIM_USER = {  # the signed-in user the created meetings are attributed to (``creatorID``, ``userID``, ...)
    "creatorID": "6f1c2a9e-3b4d-4e5f-8a7b-9c0d1e2f3a4b",
    "userID": "e0123456",  # a NUSNET ID
    "userName": "ZOOMOPS SERVICE ACCOUNT",
    "email": "zoomops@nus.edu.sg",
    "apiUserName": "luminus-zoom-api@nus.edu.sg",
}
JOIN_HOST = "https://nus-sg.zoom.us"  # the document's NUS Zoom site (authenticationOpt 1)


class LuminusSimulator(SimulatorBase):
    """Strict LumiNUS ``POST /zoom/Meeting`` simulator on a real local HTTP port."""

    handler_class = _Handler
    fault_class = Fault
    thread_name = "luminus-sim"
    base_path = BASE_PATH

    def __init__(
        self,
        subscription_key: str,
        *,
        bearer_token: str | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not subscription_key or (bearer_token is not None and not bearer_token):
            raise ValueError("the subscription key (and a bearer token, when given) must be non-empty")
        self._key = subscription_key
        self._token = bearer_token
        self.clock = clock
        self.user = dict(SIM_USER)
        self._init_server(host, port)
        self._received: list[dict] = []
        self._meetings: list[dict] = []

    def __repr__(self) -> str:  # never the key or the token
        return f"LuminusSimulator(base_url={self.base_url!r}, bearer={'on' if self._token else 'off'})"

    @property
    def endpoint_url(self) -> str:
        return self.base_url + ENDPOINT_PATH

    @property
    def received(self) -> list[dict]:
        """Every request to a non-control path, in order: method, path, query, headers (key and token
        values redacted), body (parsed JSON or None), body_text, status (None until answered or when
        dropped), connection, fault."""
        with self._lock:
            return copy.deepcopy(self._received)

    @property
    def meetings(self) -> list[dict]:
        """The meeting records created (exactly as answered with 201), in order."""
        with self._lock:
            return copy.deepcopy(self._meetings)

    def reset(self) -> None:
        super().reset()
        with self._lock:
            self._received.clear()
            self._meetings.clear()

    def _state(self) -> dict:
        with self._lock:
            return {
                "received": len(self._received),
                "meetings": copy.deepcopy(self._meetings),
                "faults_pending": self._pending_faults(),
            }

    # ---- secrets stay out of everything recorded or answered ----------------------------------------------
    def _scrub(self, value: Any) -> Any:
        if isinstance(value, str):
            for secret in (self._key, self._token):
                if secret:
                    value = value.replace(secret, REDACTED)
            return value
        if isinstance(value, dict):
            return {self._scrub(k): self._scrub(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self._scrub(v) for v in value]
        return value

    def _record(self, method: str, split, headers, raw: bytes, conn_id: int) -> dict:
        shown = {}
        for name, value in headers.items():
            name = name.lower()
            if name == KEY_HEADER.lower():
                value = REDACTED  # even a wrong key is somebody's key
            elif name == "authorization":
                scheme, _, rest = value.strip().partition(" ")
                value = f"{scheme} {REDACTED}" if rest else REDACTED
            shown[name] = value
        query = {
            k: (REDACTED if k.lower() == "subscription-key" else v)
            for k, v in parse_qsl(split.query, keep_blank_values=True)
        }
        text = raw.decode("utf-8", errors="replace")
        try:
            body = json.loads(text) if text.strip() else None
        except ValueError:
            body = None
        record = self._scrub(
            {"method": method, "path": split.path, "query": query, "headers": shown, "body": body, "body_text": text}
        )
        record.update(status=None, connection=conn_id, fault=None)
        with self._lock:
            self._received.append(record)
        return record

    # ---- the operation ------------------------------------------------------------------------------------
    def _process(self, method: str, path: str, headers, raw: bytes) -> _Answer:
        if path != ENDPOINT_PATH:
            raise Reject(404, "Not Found")
        if method != "POST":
            raise Reject(405, "Method Not Allowed", {"Allow": "POST"})
        keys = [v.strip() for v in headers.get_all(KEY_HEADER) or [] if v.strip()]
        if not keys:
            return _apim_401(APIM_MISSING_KEY)
        if len(keys) != 1 or not hmac.compare_digest(keys[0].encode(), self._key.encode()):
            return _apim_401(APIM_INVALID_KEY)
        if self._token is not None and not self._bearer_ok(headers):
            return _Answer(403, FORBIDDEN)
        data = _parse_body(headers.get("Content-Type"), raw)
        errors = validate_meeting_input(data)
        if errors:
            raise _bad(errors)
        return _Answer(201, self._create(data), JSON)

    def _bearer_ok(self, headers) -> bool:
        values = headers.get_all("Authorization") or []
        if self._token is None or len(values) != 1:
            return False
        scheme, _, token = values[0].strip().partition(" ")
        return scheme.lower() == "bearer" and hmac.compare_digest(token.strip().encode(), self._token.encode())

    def _create(self, data: dict) -> dict:
        start = parse_date_time(data["startDate"])
        assert start is not None  # validated before
        created = datetime.fromtimestamp(self.clock(), UTC)
        with self._lock:
            taken = {m["meetingID"] for m in self._meetings}
            zoom_id = _zoom_meeting_id(taken)
            meeting = {
                "id": str(uuid.uuid4()),
                "name": data["name"],
                "startDate": _rfc3339(start),
                "endDate": _rfc3339(start + timedelta(minutes=data["duration"])),
                "createdDate": _rfc3339(created),
                "creatorID": self.user["creatorID"],
                "readonlyAccess": False,  # the creator may edit what they created
                "userID": self.user["userID"],
                "userName": self.user["userName"],
                "email": self.user["email"],
                "topic": data["name"],
                "apiUserName": self.user["apiUserName"],
                "meetingID": zoom_id,
                "meetingDuration": data["duration"],
                "meetingPassword": _passcode(),
                "joinUrl": f"{JOIN_HOST}/j/{zoom_id}?pwd={secrets.token_urlsafe(24)}",
                "hostKey": "".join(secrets.choice("0123456789") for _ in range(6)),
                **{name: bool(data.get(name)) for name in _ECHOED_BOOLEANS},
                "isSetPassword": True,
                "notFoundInZoom": False,
                "recordType": data.get("recordType") or 0,  # the answer's enum adds 0: no recording
                "authenticationOpt": data.get("authenticationOpt") or 0,
                "alternativeHosts": data.get("alternativeHosts"),
                "meetingType": data.get("meetingType") or 0,
                "moduleID": data["moduleID"],
                "channelID": data.get("channelID"),
                "channelName": data.get("channelName"),
            }
            # the document's order; a client that put its key into the body must not see it stored or echoed
            meeting = self._scrub({name: meeting[name] for name in MEETING_FIELDS})
            self._meetings.append(meeting)
            return copy.deepcopy(meeting)


_ECHOED_BOOLEANS = (
    "isSendEmail",
    "isPublishRecordURL",
    "isWaitingRoom",
    "meetingAuthentication",
    "muteUponEntry",
    "exportMultimediaWeb",
    "publishMutimediaChannel",
)
MEETING_FIELDS = (  # the "Zoom meeting object", in the document's order
    "id",
    "name",
    "startDate",
    "endDate",
    "createdDate",
    "creatorID",
    "readonlyAccess",
    "userID",
    "userName",
    "email",
    "topic",
    "apiUserName",
    "meetingID",
    "meetingDuration",
    "meetingPassword",
    "joinUrl",
    "hostKey",
    "isSendEmail",
    "isPublishRecordURL",
    "isSetPassword",
    "isWaitingRoom",
    "meetingAuthentication",
    "muteUponEntry",
    "notFoundInZoom",
    "recordType",
    "authenticationOpt",
    "alternativeHosts",
    "meetingType",
    "moduleID",
    "exportMultimediaWeb",
    "channelID",
    "channelName",
    "publishMutimediaChannel",
)
_PASSCODE_ALPHABET = "abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"


def _rfc3339(moment: datetime) -> str:
    text = moment.isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def _zoom_meeting_id(taken: set[str]) -> str:
    """An 11-digit Zoom meeting number, unique among the meetings created here."""
    while True:
        candidate = str(secrets.randbelow(9 * 10**10) + 10**10)
        if candidate not in taken:
            return candidate


def _passcode() -> str:
    """A Zoom-style generated passcode: 8 letters and digits (Zoom allows at most 10)."""
    return "".join(secrets.choice(_PASSCODE_ALPHABET) for _ in range(8))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Strict local LumiNUS 'Add meeting' simulator",
        epilog=f"The subscription key comes from {KEY_ENV} (required) and the optional bearer token from "
        f"{TOKEN_ENV}; neither is ever taken from the command line.",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args(argv)
    key = os.environ.get(KEY_ENV)
    if not key:
        parser.error(f"set {KEY_ENV} to the subscription key")
    sim = LuminusSimulator(key, bearer_token=os.environ.get(TOKEN_ENV) or None, host=args.host, port=args.port)
    sim.serve_until_signalled()
    return 0


if __name__ == "__main__":
    sys.exit(main())
