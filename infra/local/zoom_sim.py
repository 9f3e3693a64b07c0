"""A strict, local simulator of Zoom's Server-to-Server OAuth endpoint and the Meeting API subset zoomops uses.

Real HTTP on 127.0.0.1 (standard library only).  It rejects what Zoom would reject and reproduces the
behaviours that bite clients in production: tokens that expire, several valid tokens at once, per-account
rate limits by category (QPS token buckets and the Heavy daily cap that resets at 00:00 UTC), a 429 that
sometimes carries ``Retry-After`` and sometimes does not, ``next_page_token`` that expires after 15 minutes,
meeting UUIDs that must be double-encoded when they begin with ``/`` or contain ``//``, and participant
endpoints that list nothing for a meeting with a single participant.  It does NOT import anything from the
``zoomops`` package, so it cross-checks the client instead of mirroring it.

Endpoints::

    POST /oauth/token?grant_type=account_credentials&account_id=...   (or the same as a form body)
         Authorization: Basic base64(client_id:client_secret)
    GET  /v2/users/{userId}                                   light
    GET  /v2/users                                            medium  (paginated: users)
    GET  /v2/users/{userId}/meetings                          medium  (paginated: meetings)
    GET  /v2/past_meetings/{meetingId}/instances              medium
    GET  /v2/past_meetings/{meetingId}/participants           medium  (paginated: participants)
    GET  /v2/report/meetings/{meetingId}/participants         heavy   (paginated: participants)
    GET  /v2/metrics/meetings/{meetingId}/participants        heavy   (paginated: participants)
    GET  /v2/meetings/{meetingId}/registrants                 medium  (paginated: registrants)

Control endpoints (so another process can drive it)::

    GET  /__sim/state    -> {"token_requests": {...}, "api_requests": n, "throttled": n, "faults_pending": n}
    POST /__sim/faults   <- JSON list of Fault field dicts (appended)
    POST /__sim/reset    -> clears faults, records and rate-limit state (keeps accounts, tokens and data)
    POST /__sim/revoke   <- {"account_id": "..."} or {} (all accounts): every issued token becomes invalid
    POST /__sim/advance  <- {"seconds": n}: only when the simulator runs on its own FakeClock

Run in the foreground::

    ZOOM_SIM_CLIENT_SECRET=... python infra/local/zoom_sim.py --account ACCOUNT_ID:CLIENT_ID [--port N] [--seed-demo]

The base URL is printed on one line.  The client secret is never logged, echoed or exposed by any endpoint;
access tokens appear only in the token response that issues them.
"""

from __future__ import annotations

import argparse
import base64
import copy
import dataclasses
import email.utils
import hashlib
import hmac
import json
import math
import os
import re
import secrets
import sys
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Callable
try:  # a package module, or run as a script from this folder
    from .simhttp import FaultBase, Reject, SimHandler, SimServer, SimulatorBase
except ImportError:  # pragma: no cover
    from simhttp import FaultBase, Reject, SimHandler, SimServer, SimulatorBase
from urllib.parse import parse_qsl, unquote, urlsplit

__all__ = ["FakeClock", "Fault", "Route", "ROUTES", "ZoomSimulator", "main", "seed_demo"]

API_PREFIX = "/v2"
TOKEN_PATH = "/oauth/token"
SIM_PREFIX = "/__sim/"
MAX_BODY_BYTES = 1024 * 1024

CATEGORIES = ("light", "medium", "heavy")
DEFAULT_LIMITS: dict[str, float | None] = {"light": 30.0, "medium": 20.0, "heavy": 10.0}  # Pro plan, per second
DEFAULT_SCOPE = "meeting:read:admin report:read:admin dashboard_meetings:read:admin user:read:admin"
DEFAULT_PAGE_SIZE = 30
MAX_PAGE_SIZE = 300
PAGE_TOKEN_TTL = 15 * 60
DAY = 86_400

MSG_INVALID_TOKEN = "Invalid access token."
MSG_EXPIRED_TOKEN = "Access token is expired."
MSG_QPS = "You have reached the maximum per-second rate limit for this API. Try again later."
MSG_DAILY = (
    "You have reached the maximum daily rate limit for this API. "
    "Refer to the response header for details on when you can make the next request."
)
MSG_PAGE_TOKEN = "The next page token is invalid or expired."

_DIGITS = re.compile(r"[0-9]+\Z")
_PERCENT_ESCAPE = re.compile(r"%[0-9A-Fa-f]{2}")
_BEARER = re.compile(r"[Bb][Ee][Aa][Rr][Ee][Rr] +([A-Za-z0-9._~+/=-]+)\Z")
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}\Z")

_REASONS = {
    200: "OK",
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    409: "Conflict",
    413: "Payload Too Large",
    429: "Too Many Requests",
    500: "Internal Server Error",
    501: "Not Implemented",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}


# --------------------------------------------------------------------------- clock
class FakeClock:
    """A settable epoch-seconds clock (thread-safe).  Default start: 2024-10-01T12:00:00Z."""

    def __init__(self, start: float = 1_727_784_000.0) -> None:
        self._now = float(start)
        self._lock = threading.Lock()

    def __call__(self) -> float:
        with self._lock:
            return self._now

    def advance(self, seconds: float) -> float:
        if seconds < 0:
            raise ValueError("a clock only moves forward")
        with self._lock:
            self._now += float(seconds)
            return self._now

    def set(self, t: float) -> None:
        with self._lock:
            self._now = float(t)

    def __repr__(self) -> str:
        return f"FakeClock({self():.3f})"


# --------------------------------------------------------------------------- faults
_RATE_LIMIT_TYPES = ("QPS", "Daily-limit")


@dataclass
class Fault(FaultBase):
    """One scripted misbehaviour, consumed (in order) by one request.

    ``oauth=True`` faults are consumed by ``POST /oauth/token`` requests, the others by ``/v2`` API requests
    (each kind keeps its own order).  Applied before any validation:

      * ``delay``: sleep first (to provoke client read timeouts);
      * ``drop``: then close the connection without any answer;
      * ``rate_limit_type`` ("QPS" | "Daily-limit"): answer 429 with ``X-RateLimit-Type``,
        ``X-RateLimit-Category`` (``category``, else the endpoint's) and Zoom's body for that limit;
        ``Retry-After`` is ``retry_after`` if given, else (Daily-limit only) the next 00:00 UTC as an HTTP date;
      * ``status``: answer that status (body ``body`` or a default Zoom-style error body), with
        ``Retry-After: retry_after`` if given (a bare ``status=429`` carries no X-RateLimit-* header at all);
      * ``body`` with ``status`` None: answer HTTP 200 with that body;
      * none of these: process the request normally (after the delay).
    """

    status: int | None = None
    retry_after: str | None = None
    rate_limit_type: str | None = None
    category: str | None = None
    delay: float = 0.0
    drop: bool = False
    oauth: bool = False
    body: dict | list | None = None

    def validate(self) -> None:
        super().validate()  # status, retry_after, delay, drop
        if self.rate_limit_type is not None:
            if self.rate_limit_type not in _RATE_LIMIT_TYPES:
                raise ValueError("fault 'rate_limit_type' must be 'QPS', 'Daily-limit' or null")
            if self.status not in (None, 429):
                raise ValueError("a fault with 'rate_limit_type' answers 429; leave 'status' null or 429")
        if self.category is not None and (
            not isinstance(self.category, str) or self.category.lower() not in CATEGORIES
        ):
            raise ValueError("fault 'category' must be 'light', 'medium', 'heavy' or null")
        if not isinstance(self.oauth, bool):
            raise ValueError("fault 'oauth' must be a boolean")
        if self.body is not None and not isinstance(self.body, (dict, list)):
            raise ValueError("fault 'body' must be a JSON object, a list or null")


# --------------------------------------------------------------------------- routes
@dataclass(frozen=True)
class Route:
    template: str  # OpenAPI path (without /v2)
    category: str  # light | medium | heavy
    handler: str
    list_key: str | None  # the paginated list's key (None: not paginated)
    query: tuple[str, ...]  # query parameters the simulator interprets
    scopes: frozenset[str]  # any one of them suffices (classic and granular scopes)

    @property
    def segments(self) -> tuple[str, ...]:
        return tuple(self.template.strip("/").split("/"))


_PAGED = ("page_size", "next_page_token")

ROUTES: tuple[Route, ...] = (
    Route("/users", "medium", "_h_users", "users", ("status",) + _PAGED,
          frozenset({"user:read:admin", "user:read:list_users:admin"})),
    Route("/users/{userId}", "light", "_h_user", None, (),
          frozenset({"user:read:admin", "user:read", "user_info:read", "user:read:user:admin", "user:read:user"})),
    Route("/users/{userId}/meetings", "medium", "_h_user_meetings", "meetings", ("type", "from", "to") + _PAGED,
          frozenset({"meeting:read:admin", "meeting:read", "meeting:read:list_meetings:admin",
                     "meeting:read:list_meetings"})),
    Route("/past_meetings/{meetingId}/instances", "medium", "_h_instances", None, (),
          frozenset({"meeting:read:admin", "meeting:read", "meeting:read:list_past_instances:admin",
                     "meeting:read:list_past_instances"})),
    Route("/past_meetings/{meetingId}/participants", "medium", "_h_past_participants", "participants", _PAGED,
          frozenset({"meeting:read:admin", "meeting:read", "meeting:read:list_past_participants:admin",
                     "meeting:read:list_past_participants"})),
    Route("/report/meetings/{meetingId}/participants", "heavy", "_h_report_participants", "participants", _PAGED,
          frozenset({"report:read:admin", "report:read:list_meeting_participants:admin"})),
    Route("/metrics/meetings/{meetingId}/participants", "heavy", "_h_metrics_participants", "participants",
          ("type",) + _PAGED,
          frozenset({"dashboard_meetings:read:admin", "dashboard:read:list_meeting_participants:admin"})),
    Route("/meetings/{meetingId}/registrants", "medium", "_h_registrants", "registrants", ("status",) + _PAGED,
          frozenset({"meeting:read:admin", "meeting:read", "meeting:read:list_registrants:admin",
                     "meeting:read:list_registrants"})),
)

# Response fields per endpoint (all declared in Zoom's OpenAPI response schema for that endpoint).
USER_LIST_FIELDS = (
    "id", "first_name", "last_name", "display_name", "email", "type", "pmi", "timezone", "verified", "dept",
    "user_created_at", "created_at", "last_login_time", "status", "role_id",
)
USER_GET_FIELDS = USER_LIST_FIELDS + ("language", "role_name", "use_pmi", "personal_meeting_url", "account_id")
MEETING_LIST_FIELDS = (
    "uuid", "id", "host_id", "topic", "type", "start_time", "duration", "timezone", "created_at", "join_url",
)
PAST_PARTICIPANT_FIELDS = (
    "id", "name", "user_id", "registrant_id", "user_email", "join_time", "leave_time", "duration", "failover",
    "status",
)
REPORT_PARTICIPANT_FIELDS = (
    "id", "user_id", "name", "user_email", "join_time", "leave_time", "duration", "failover", "status",
    "registrant_id", "participant_user_id", "bo_mtg_id",
)
METRICS_PARTICIPANT_FIELDS = (
    "id", "user_id", "user_name", "device", "ip_address", "location", "network_type", "microphone", "speaker",
    "camera", "data_center", "full_data_center", "connection_type", "join_time", "leave_time",
    "share_application", "share_desktop", "share_whiteboard", "recording", "pc_name", "domain", "mac_addr",
    "harddisk_id", "version", "email", "registrant_id", "status", "audio_quality", "video_quality",
    "screen_share_quality", "participant_user_id", "role", "bo_mtg_id",
)
_METRICS_OPTIONAL = ("leave_reason", "customer_key", "in_room_participants", "internal_ip_addresses", "sip_uri",
                     "from_sip_uri", "audio_call")
REGISTRANT_FIELDS = ("id", "email", "first_name", "last_name", "status", "create_time", "join_url")
_REGISTRANT_OPTIONAL = ("address", "city", "country", "zip", "state", "phone", "industry", "org", "job_title",
                        "comments", "custom_questions")
_PARTICIPANT_INPUT = (
    set(REPORT_PARTICIPANT_FIELDS) | set(PAST_PARTICIPANT_FIELDS) | set(METRICS_PARTICIPANT_FIELDS)
    | set(_METRICS_OPTIONAL) | {"customer_key"}
)
_METRICS_DEFAULTS = {
    "device": "Windows", "ip_address": "", "location": "", "network_type": "Wired", "microphone": "Default",
    "speaker": "Default", "camera": "Default", "data_center": "US", "full_data_center": "United States (US)",
    "connection_type": "UDP", "share_application": False, "share_desktop": False, "share_whiteboard": False,
    "recording": False, "pc_name": "", "domain": "", "mac_addr": "", "harddisk_id": "", "version": "6.2.0",
    "audio_quality": "good", "video_quality": "good", "screen_share_quality": "",
}
_MEETINGS_TYPES = ("scheduled", "live", "upcoming", "upcoming_meetings", "previous_meetings")


# --------------------------------------------------------------------------- helpers
_ApiError = Reject


def _err(code: int, message: str) -> dict:
    return {"code": code, "message": message}


def _oauth_err(reason: str, error: str) -> dict:
    return {"reason": reason, "error": error}


def _validation(field: str) -> _ApiError:
    return _ApiError(400, {"code": 300, "message": "Validation Failed.",
                           "errors": [{"field": field, "message": "Invalid field."}]})


def _no_meeting(meeting_id: Any) -> _ApiError:
    return _ApiError(404, _err(3001, f"Meeting does not exist: {meeting_id}."))


def _no_user(user_id: str) -> _ApiError:
    return _ApiError(404, _err(1001, f"User does not exist: {user_id}."))


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _parse_time(value: Any, what: str) -> float:
    if not isinstance(value, str):
        raise ValueError(f"{what} must be an ISO 8601 string")
    try:
        dt = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"{what} is not an ISO 8601 time: {value!r}") from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    return dt.timestamp()


def _http_date(ts: float) -> str:
    return email.utils.format_datetime(datetime.fromtimestamp(ts, tz=timezone.utc), usegmt=True)


def _number_text(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def _stable_id(*parts: Any, length: int = 22) -> str:
    digest = hashlib.sha256("\x1f".join(map(str, parts)).encode("utf-8")).digest()
    return base64.urlsafe_b64encode(digest).decode("ascii")[:length]


def _stable_uuid(*parts: Any) -> str:
    """A Zoom-looking meeting UUID (24 characters of standard base64) that needs no double-encoding."""
    digest = hashlib.sha256("\x1f".join(map(str, parts)).encode("utf-8")).digest()[:16]
    return base64.b64encode(digest).decode("ascii").replace("/", "A")


def _decode_path_param(raw: str) -> tuple[str, bool]:
    """Percent-decode a raw path segment once; once more if the client double-encoded it.

    Returns ``(value, routable)``.  A value that begins with '/' or contains '//' after a single decoding
    would have broken Zoom's routing (it only survives when double-encoded), so it is reported unroutable.
    """
    once = unquote(raw)
    if _PERCENT_ESCAPE.search(once):  # the client double-encoded (%252F -> %2F, %253D -> %3D, ...)
        return unquote(once), True
    return once, not (once.startswith("/") or "//" in once)


def _reject_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict:
    out: dict = {}
    for k, v in pairs:
        if k in out:
            raise ValueError(f"duplicate field {k!r}")
        out[k] = v
    return out


class _Account:
    def __init__(self, account_id: str) -> None:
        self.account_id = account_id
        self.users: list[dict] = []
        self.meetings: dict[int, dict] = {}
        self.instances: dict[str, dict] = {}
        self.participant_seq = 16_778_240
        self.pmi_seq = 0


@dataclass
class _Client:
    account_id: str
    client_id: str
    secret: bytes
    scope: str

    def __repr__(self) -> str:  # never show the secret
        return f"_Client(account_id={self.account_id!r}, client_id={self.client_id!r})"


@dataclass
class _Token:
    account_id: str
    client_id: str
    scopes: frozenset[str]
    expires_at: float


@dataclass
class _PageState:
    account_id: str
    path_key: tuple
    rows: list[dict]
    offset: int
    expires_at: float
    next_tokens: dict[int, str] = dataclasses.field(default_factory=dict)  # page size -> token it issued


# --------------------------------------------------------------------------- HTTP plumbing
_Server = SimServer


class _Handler(SimHandler):
    server_version = "ZoomSim/1.0"
    content_type = "application/json;charset=UTF-8"
    max_body = MAX_BODY_BYTES
    reasons = _REASONS
    server: _Server

    def error_body(self, status: int, message: str) -> Any:
        return _err(status, message)

    # ---- dispatch ----------------------------------------------------------
    def _dispatch(self) -> None:
        try:
            body = self._read_body()
        except _ApiError as r:
            self.close_connection = True
            self._send(r.status, r.body)
            return
        split = urlsplit(self.path)
        path = split.path
        if path.startswith(SIM_PREFIX):
            self._control(path, body)
        elif path == TOKEN_PATH:
            self._oauth(split.query, body)
        elif path == API_PREFIX or path.startswith(API_PREFIX + "/"):
            self._api(path, split.query)
        else:
            self._send(404, _err(404, "Not Found"))

    # ---- OAuth -------------------------------------------------------------
    def _oauth(self, query: str, body: bytes) -> None:
        sim = self.server.sim
        if self.command != "POST":
            self._send(405, _oauth_err("Method Not Allowed", "invalid_request"), {"Allow": "POST"})
            return
        sim._count_token_request(sim._oauth_params(query, self.headers, body).get("account_id"))
        fault = sim._next_fault(oauth=True)
        if fault is not None and self._apply_fault(fault, oauth=True, category=None):
            return
        status, out, headers = sim._issue_token(query, self.headers, body)
        self._send(status, out, headers)

    # ---- API ---------------------------------------------------------------
    def _api(self, raw_path: str, query: str) -> None:
        sim = self.server.sim
        record = sim._new_record(self.command, raw_path, query, self.headers)
        fault = sim._next_fault(oauth=False)
        if fault is not None:
            if self._apply_fault(fault, oauth=False, category=record["category"], record=record):
                return
        if sim.latency:
            sim._stopping.wait(sim.latency)  # no lock held: concurrent requests overlap
        status, out, headers = sim._serve_api(self.command, raw_path, query, self.headers, record)
        sim._finish_record(record, status)
        self._send(status, out, headers)

    def _apply_fault(self, fault: Fault, *, oauth: bool, category: str | None, record: dict | None = None) -> bool:
        """Apply a fault; True when it produced the answer (or dropped the connection)."""
        sim = self.server.sim
        if fault.delay:
            sim._stopping.wait(fault.delay)
        if fault.drop:
            if record is not None:
                sim._finish_record(record, None)
            self.close_connection = True
            self._drop()
            return True
        headers: dict[str, str] = {}
        if fault.retry_after is not None:
            headers["Retry-After"] = fault.retry_after
        status: int | None = fault.status
        out: Any = fault.body
        if fault.rate_limit_type is not None:
            status = 429
            cat = (fault.category or category or "").lower()
            if cat:
                headers["X-RateLimit-Category"] = cat.capitalize()
            headers["X-RateLimit-Type"] = fault.rate_limit_type
            headers["X-RateLimit-Remaining"] = "0"
            if fault.rate_limit_type == "Daily-limit":
                if sim.daily_limit is not None:
                    headers["X-RateLimit-Limit"] = str(sim.daily_limit)
                if fault.retry_after is None:
                    headers["Retry-After"] = _http_date(sim._next_midnight())
                if out is None:
                    out = _oauth_err("Too many requests", "too_many_requests") if oauth else _err(429, MSG_DAILY)
            else:
                limit = sim.limits.get(cat) if cat else None
                if limit is not None:
                    headers["X-RateLimit-Limit"] = _number_text(limit)
        elif fault.category is not None and status == 429:
            headers["X-RateLimit-Category"] = fault.category.lower().capitalize()
        if status is None and out is None:
            return False
        if status is None:
            status = 200
        if out is None:
            out = sim._default_fault_body(status, oauth=oauth)
        if status == 429 and not oauth:
            sim._count_throttled()
        if record is not None:
            sim._finish_record(record, status)
        self._send(status, out, headers)
        return True

    # ---- control endpoints -------------------------------------------------
    def _control(self, path: str, body: bytes) -> None:
        sim = self.server.sim
        if path == "/__sim/state":
            if self.command != "GET":
                self._send(405, _err(405, "Method Not Allowed"), {"Allow": "GET"})
                return
            self._send(200, sim._state())
            return
        if path not in ("/__sim/reset", "/__sim/faults", "/__sim/revoke", "/__sim/advance"):
            self._send(404, _err(404, "Not Found"))
            return
        if self.command != "POST":
            self._send(405, _err(405, "Method Not Allowed"), {"Allow": "POST"})
            return
        if path == "/__sim/reset":
            sim.reset()
            self._send(200, {"status": True})
            return
        try:
            data = json.loads(body.decode("utf-8") or "null", object_pairs_hook=_reject_duplicate_keys)
        except (ValueError, UnicodeDecodeError) as exc:
            self._send(400, _err(400, f"Malformed JSON: {exc}"))
            return
        if path == "/__sim/faults":
            try:
                if not isinstance(data, list):
                    raise ValueError("expected a JSON list of fault objects")
                faults = [Fault.from_dict(d) for d in data]
            except (ValueError, TypeError) as exc:
                self._send(400, _err(400, f"Invalid faults: {exc}"))
                return
            sim.add_faults(*faults)
            self._send(200, {"status": True, "faults_pending": sim._pending_faults()})
            return
        if path == "/__sim/revoke":
            data = {} if data is None else data
            account = data.get("account_id") if isinstance(data, dict) else None
            if not isinstance(data, dict) or (account is not None and not isinstance(account, str)):
                self._send(400, _err(400, "expected {} or {\"account_id\": \"...\"}"))
                return
            revoked = sim.revoke_tokens(account)
            self._send(200, {"status": True, "revoked": revoked})
            return
        # /__sim/advance
        seconds = data.get("seconds") if isinstance(data, dict) else None
        if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or seconds < 0:
            self._send(400, _err(400, "expected {\"seconds\": <non-negative number>}"))
            return
        try:
            sim.advance(seconds)
        except RuntimeError as exc:
            self._send(409, _err(409, str(exc)))
            return
        self._send(200, {"status": True, "now": sim.clock()})

    # ---- responses ---------------------------------------------------------
# --------------------------------------------------------------------------- the simulator
class ZoomSimulator(SimulatorBase):
    """Strict Zoom S2S OAuth + Meeting API (subset) simulator on a real local HTTP port."""

    handler_class = _Handler
    thread_name = "zoom-sim"
    base_path = ""

    def __init__(
        self,
        *,
        clock: Callable[[], float] = time.time,
        token_ttl: int = 3600,
        host: str = "127.0.0.1",
        port: int = 0,
        limits: dict[str, float | None] | None = None,
        daily_limit: int | None = None,
        latency: float = 0.0,
        qps_retry_after: bool = True,
    ) -> None:
        if isinstance(token_ttl, bool) or not isinstance(token_ttl, int) or token_ttl < 2:
            raise ValueError("token_ttl must be an integer of at least 2 seconds")
        merged = dict(DEFAULT_LIMITS)
        for name, qps in (limits or {}).items():
            if name not in CATEGORIES:
                raise ValueError(f"unknown rate-limit category {name!r} (expected one of {CATEGORIES})")
            if qps is not None and (isinstance(qps, bool) or not isinstance(qps, (int, float)) or qps <= 0):
                raise ValueError(f"rate limit for {name!r} must be a positive number or None")
            merged[name] = None if qps is None else float(qps)
        if daily_limit is not None and (isinstance(daily_limit, bool) or not isinstance(daily_limit, int)
                                        or daily_limit < 0):
            raise ValueError("daily_limit must be a non-negative integer or None")
        if latency < 0:
            raise ValueError("latency must be non-negative")
        self.clock = clock
        self.token_ttl = token_ttl
        self.limits: dict[str, float | None] = merged
        self.daily_limit = daily_limit
        self.latency = float(latency)
        self.qps_retry_after = qps_retry_after
        self._init_server(host, port)
        # configuration and data
        self._clients: dict[str, _Client] = {}
        self._accounts: dict[str, _Account] = {}
        self._tokens: dict[str, _Token] = {}
        self._pages: dict[str, _PageState] = {}
        # records and scripting
        self._token_requests: dict[str, int] = {}
        self._api_requests: list[dict] = []
        self._throttled = 0
        self._faults: list[Fault] = []
        self._buckets: dict[tuple[str, str], list[float]] = {}
        self._daily: dict[str, tuple[int, int]] = {}

    def __repr__(self) -> str:  # never show a secret or a token
        return f"ZoomSimulator(base_url={self.base_url!r}, accounts={sorted(self._accounts)!r})"

    # ---- configuration -----------------------------------------------------
    def add_account(self, account_id: str, client_id: str, client_secret: str, *, scope: str = DEFAULT_SCOPE) -> None:
        """Register an S2S OAuth app (client_id/secret) for an account.  Several apps may share an account."""
        for name, value in (("account_id", account_id), ("client_id", client_id), ("client_secret", client_secret)):
            if not isinstance(value, str) or not value:
                raise ValueError(f"{name} must be a non-empty string")
        if ":" in client_id:
            raise ValueError("client_id must not contain ':'")
        if not isinstance(scope, str):
            raise ValueError("scope must be a space-separated string")
        with self._lock:
            existing = self._clients.get(client_id)
            if existing is not None and existing.account_id != account_id:
                raise ValueError(f"client_id {client_id!r} already belongs to another account")
            self._clients[client_id] = _Client(account_id, client_id, client_secret.encode("utf-8"), scope)
            self._accounts.setdefault(account_id, _Account(account_id))

    @property
    def token_requests(self) -> dict[str, int]:
        """POST /oauth/token requests (successful and failed) per account_id; unknown accounts under '?'."""
        with self._lock:
            return dict(self._token_requests)

    @property
    def api_requests(self) -> list[dict]:
        """Every /v2 request: {"method", "path" (raw, as sent), "query", "account", "category", "status"}."""
        with self._lock:
            return [dict(r, query=dict(r["query"])) for r in self._api_requests]

    @property
    def throttled(self) -> int:
        """How many API requests were answered 429 (rate limiter or scripted)."""
        with self._lock:
            return self._throttled

    def add_faults(self, *faults: Fault) -> None:
        for f in faults:
            if not isinstance(f, Fault):
                raise TypeError("add_faults() takes Fault instances")
            f.validate()
        with self._lock:
            self._faults.extend(faults)

    def reset(self) -> None:
        """Clear records, faults and rate-limit state; keep accounts, issued tokens and data."""
        with self._lock:
            self._faults.clear()
            self._token_requests.clear()
            self._api_requests.clear()
            self._throttled = 0
            self._buckets.clear()
            self._daily.clear()

    def revoke_tokens(self, account_id: str | None = None) -> int:
        """Invalidate every issued access token (of one account, or of all); returns how many."""
        with self._lock:
            doomed = [t for t, info in self._tokens.items() if account_id is None or info.account_id == account_id]
            for t in doomed:
                del self._tokens[t]
            return len(doomed)

    def advance(self, seconds: float) -> None:
        if not isinstance(self.clock, FakeClock):
            raise RuntimeError("advance() needs the simulator to run on a FakeClock")
        self.clock.advance(seconds)

    # ---- data --------------------------------------------------------------
    def _account(self, account_id: str) -> _Account:
        acct = self._accounts.get(account_id)
        if acct is None:
            raise KeyError(f"unknown account {account_id!r}: add_account() first")
        return acct

    def add_user(
        self,
        account_id: str,
        *,
        user_id: str | None = None,
        email: str,
        first_name: str = "",
        last_name: str = "",
        status: str = "active",
        created_at: str | None = None,
    ) -> dict:
        if not isinstance(email, str) or "@" not in email:
            raise ValueError("email must be an email address")
        if status not in ("active", "inactive", "pending"):
            raise ValueError("status must be active, inactive or pending")
        with self._lock:
            acct = self._account(account_id)
            uid = user_id or _stable_id("user", account_id, email.lower())
            if any(u["id"] == uid or u["email"].lower() == email.lower() for u in acct.users):
                raise ValueError(f"user {uid!r} / {email!r} already exists")
            acct.pmi_seq += 1
            created = _iso(_parse_time(created_at, "created_at")) if created_at else _iso(self.clock())
            user = {
                "id": uid,
                "first_name": first_name,
                "last_name": last_name,
                "display_name": f"{first_name} {last_name}".strip() or email,
                "email": email,
                "type": 2,
                "pmi": 5_000_000_000 + int.from_bytes(hashlib.sha256(uid.encode()).digest()[:3], "big") * 7
                + acct.pmi_seq,
                "timezone": "UTC",
                "verified": 1,
                "dept": "",
                "user_created_at": created,
                "created_at": created,
                "last_login_time": created,
                "language": "en-US",
                "status": status,
                "role_id": "0" if not acct.users else "2",
                "role_name": "Owner" if not acct.users else "Member",
                "use_pmi": False,
                "account_id": account_id,
            }
            user["personal_meeting_url"] = f"https://zoom.us/j/{user['pmi']}"
            acct.users.append(user)
            return copy.deepcopy(user)

    def add_meeting(
        self,
        account_id: str,
        *,
        meeting_id: int,
        host_email: str,
        topic: str = "",
        type: int = 8,  # noqa: A002 - Zoom's field name
        start_time: str | None = None,
        duration: int = 60,
        registrants: list[dict] | None = None,
    ) -> dict:
        if isinstance(meeting_id, bool) or not isinstance(meeting_id, int) or meeting_id <= 0:
            raise ValueError("meeting_id must be a positive integer")
        if type not in (1, 2, 3, 8):
            raise ValueError("type must be 1, 2, 3 or 8")
        if isinstance(duration, bool) or not isinstance(duration, int) or duration < 0:
            raise ValueError("duration must be a non-negative integer (minutes)")
        with self._lock:
            acct = self._account(account_id)
            if meeting_id in acct.meetings:
                raise ValueError(f"meeting {meeting_id} already exists")
            host = self._find_user(acct, host_email)
            if host is None:
                raise ValueError(f"no user with email {host_email!r} in account {account_id!r}")
            start = _iso(_parse_time(start_time, "start_time")) if start_time is not None else None
            created = _iso(min(self.clock(), _parse_time(start, "start_time")) if start else self.clock())
            meeting = {
                "uuid": _stable_uuid("meeting", account_id, meeting_id),
                "id": meeting_id,
                "host_id": host["id"],
                "host_email": host["email"],
                "topic": topic,
                "type": type,
                "start_time": start,
                "duration": duration,
                "timezone": "UTC",
                "created_at": created,
                "join_url": f"https://zoom.us/j/{meeting_id}",
                "registrants": None if registrants is None else [],
                "instances": [],
            }
            for reg in registrants or []:
                meeting["registrants"].append(self._make_registrant(meeting, reg))
            acct.meetings[meeting_id] = meeting
            return self._public_meeting(meeting)

    def add_instance(
        self, account_id: str, meeting_id: int, *, uuid: str, start_time: str, participants: list[dict]
    ) -> dict:
        if not isinstance(uuid, str) or not uuid or _PERCENT_ESCAPE.search(uuid) or _DIGITS.match(uuid):
            raise ValueError("uuid must be a non-empty, non-numeric string without percent escapes")
        start_ts = _parse_time(start_time, "start_time")
        with self._lock:
            acct = self._account(account_id)
            meeting = acct.meetings.get(meeting_id)
            if meeting is None:
                raise ValueError(f"no meeting {meeting_id} in account {account_id!r}")
            if uuid in acct.instances:
                raise ValueError(f"instance {uuid!r} already exists")
            rows = [self._make_participant(acct, meeting, start_ts, p) for p in participants]
            instance = {"uuid": uuid, "meeting_id": meeting_id, "start_time": _iso(start_ts), "start_ts": start_ts,
                        "participants": rows}
            acct.instances[uuid] = instance
            meeting["instances"].append(uuid)
            meeting["instances"].sort(key=lambda u: acct.instances[u]["start_ts"])
            return copy.deepcopy({k: v for k, v in instance.items() if k != "start_ts"})

    @staticmethod
    def _find_user(acct: _Account, key: str) -> dict | None:
        if key == "me":
            return acct.users[0] if acct.users else None
        for u in acct.users:
            if u["id"] == key or u["email"].lower() == key.lower():
                return u
        return None

    def _make_registrant(self, meeting: dict, reg: dict) -> dict:
        if not isinstance(reg, dict) or not isinstance(reg.get("email"), str) or "@" not in reg["email"]:
            raise ValueError("a registrant is a dict with an 'email'")
        unknown = set(reg) - set(REGISTRANT_FIELDS) - set(_REGISTRANT_OPTIONAL)
        if unknown:
            raise ValueError(f"unknown registrant field(s): {sorted(unknown)}")
        out = dict(reg)
        out.setdefault("first_name", "")
        out.setdefault("last_name", "")
        out.setdefault("status", "approved")
        if out["status"] not in ("approved", "pending", "denied"):
            raise ValueError("registrant status must be approved, pending or denied")
        out.setdefault("id", _stable_id("registrant", meeting["id"], reg["email"].lower()))
        out.setdefault("create_time", meeting["created_at"])
        out.setdefault("join_url", f"https://zoom.us/w/{meeting['id']}?tk={_stable_id('tk', out['id'], length=43)}")
        return {k: out[k] for k in REGISTRANT_FIELDS + _REGISTRANT_OPTIONAL if k in out}

    def _make_participant(self, acct: _Account, meeting: dict, start_ts: float, p: dict) -> dict:
        if not isinstance(p, dict):
            raise ValueError("a participant is a dict")
        unknown = set(p) - _PARTICIPANT_INPUT
        if unknown:
            raise ValueError(f"unknown participant field(s): {sorted(unknown)}")
        row = dict(p)
        row.setdefault("name", "")
        row.setdefault("user_email", row.get("email", ""))
        join_ts = _parse_time(row["join_time"], "join_time") if "join_time" in row else start_ts
        if "leave_time" in row:
            leave_ts = _parse_time(row["leave_time"], "leave_time")
        else:
            leave_ts = join_ts + (row["duration"] if "duration" in row else meeting["duration"] * 60)
        if leave_ts < join_ts:
            raise ValueError("leave_time is before join_time")
        row["join_time"], row["leave_time"] = _iso(join_ts), _iso(leave_ts)
        row.setdefault("duration", int(leave_ts - join_ts))
        user = self._find_user(acct, row["user_email"]) if row["user_email"] else None
        row.setdefault("id", user["id"] if user else "")
        row.setdefault("participant_user_id", user["id"] if user else "")
        acct.participant_seq += 1
        row.setdefault("user_id", str(acct.participant_seq))
        reg_id = ""
        for reg in meeting["registrants"] or []:
            if row["user_email"] and reg["email"].lower() == row["user_email"].lower() and reg["status"] == "approved":
                reg_id = reg["id"]
        row.setdefault("registrant_id", reg_id)
        row.setdefault("failover", False)
        row.setdefault("status", "in_meeting")
        row.setdefault("bo_mtg_id", "")
        row.setdefault("user_name", row["name"])
        row.setdefault("email", row["user_email"])
        row.setdefault("role", "host" if row["user_email"] and row["user_email"].lower()
                       == meeting["host_email"].lower() else "attendee")
        for k, v in _METRICS_DEFAULTS.items():
            row.setdefault(k, v)
        return row

    @staticmethod
    def _public_meeting(meeting: dict) -> dict:
        out = {k: v for k, v in meeting.items() if k not in ("instances",)}
        out["instances"] = list(meeting["instances"])
        return copy.deepcopy(out)

    # ---- internals: connections, records, faults ---------------------------
    def _next_fault(self, *, oauth: bool) -> Fault | None:
        with self._lock:
            for i, f in enumerate(self._faults):
                if f.oauth == oauth:
                    return self._faults.pop(i)
        return None

    def _pending_faults(self) -> int:
        with self._lock:
            return len(self._faults)

    def _count_throttled(self) -> None:
        with self._lock:
            self._throttled += 1

    def _state(self) -> dict:
        with self._lock:
            return {
                "token_requests": dict(self._token_requests),
                "api_requests": len(self._api_requests),
                "throttled": self._throttled,
                "faults_pending": len(self._faults),
            }

    def _next_midnight(self) -> float:
        return (math.floor(self.clock() / DAY) + 1) * DAY

    def _default_fault_body(self, status: int, *, oauth: bool) -> dict:
        if oauth:
            if status == 401:
                return _oauth_err("Invalid client_id or client_secret", "invalid_client")
            if status == 429:
                return _oauth_err("Too many requests", "too_many_requests")
            return _oauth_err(_REASONS.get(status, "Error"), "server_error" if status >= 500 else "invalid_request")
        if status == 401:
            return _err(124, MSG_INVALID_TOKEN)
        if status == 429:
            return _err(429, MSG_QPS)
        return _err(status, _REASONS.get(status, "Error"))

    @staticmethod
    def _match(raw_path: str) -> tuple[Route, dict[str, str]] | None:
        rest = raw_path[len(API_PREFIX):]
        if not rest.startswith("/"):
            return None
        segs = rest[1:].split("/")
        for route in ROUTES:
            tmpl = route.segments
            if len(tmpl) != len(segs):
                continue
            params: dict[str, str] = {}
            for t, s in zip(tmpl, segs):
                if t.startswith("{"):
                    if not s:
                        break
                    params[t[1:-1]] = s
                elif t != s:
                    break
            else:
                return route, params
        return None

    def _bearer(self, headers) -> tuple[str | None, _Token | None]:
        values = headers.get_all("Authorization") or []
        if len(values) != 1:
            return None, None
        m = _BEARER.match(values[0].strip())
        if not m:
            return None, None
        token = m.group(1)
        with self._lock:
            return token, self._tokens.get(token)

    def _new_record(self, method: str, raw_path: str, query: str, headers) -> dict:
        matched = self._match(raw_path)
        _, info = self._bearer(headers)
        record = {
            "method": method,
            "path": raw_path,
            "query": dict(parse_qsl(query, keep_blank_values=True)),
            "account": info.account_id if info else None,
            "category": matched[0].category if matched else None,
            "status": None,
        }
        with self._lock:
            self._api_requests.append(record)
        return record

    def _finish_record(self, record: dict, status: int | None) -> None:
        with self._lock:
            record["status"] = status

    def _count_token_request(self, account_id: str | None) -> None:
        with self._lock:
            key = account_id if account_id in self._accounts else "?"
            self._token_requests[key] = self._token_requests.get(key, 0) + 1

    # ---- OAuth -------------------------------------------------------------
    @staticmethod
    def _oauth_params(query: str, headers, body: bytes) -> dict[str, str]:
        params: dict[str, str] = {}
        ctype = (headers.get("Content-Type") or "").split(";", 1)[0].strip().lower()
        if body and ctype == "application/x-www-form-urlencoded":
            try:
                for k, v in parse_qsl(body.decode("utf-8"), keep_blank_values=True):
                    params.setdefault(k, v)
            except UnicodeDecodeError:
                pass
        for k, v in parse_qsl(query, keep_blank_values=True):
            params.setdefault(k, v)
        return params

    def _basic_client(self, headers) -> _Client | None:
        values = headers.get_all("Authorization") or []
        if len(values) != 1:
            return None
        scheme, _, encoded = values[0].strip().partition(" ")
        if scheme.lower() != "basic" or not encoded.strip():
            return None
        try:
            decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
        except (ValueError, UnicodeDecodeError):
            return None
        client_id, sep, secret = decoded.partition(":")
        if not sep:
            return None
        with self._lock:
            client = self._clients.get(client_id)
        if client is None:
            hmac.compare_digest(secret.encode("utf-8"), b"\0" * 32)  # same work either way
            return None
        if not hmac.compare_digest(secret.encode("utf-8"), client.secret):
            return None
        return client

    def _issue_token(self, query: str, headers, body: bytes) -> tuple[int, dict, dict]:
        params = self._oauth_params(query, headers, body)
        account_id = params.get("account_id")
        no_store = {"Cache-Control": "no-store", "Pragma": "no-cache"}
        client = self._basic_client(headers)
        if client is None:
            return 401, _oauth_err("Invalid client_id or client_secret", "invalid_client"), no_store
        if params.get("grant_type") != "account_credentials":
            return 400, _oauth_err("unsupported grant type", "unsupported_grant_type"), no_store
        if not account_id or account_id != client.account_id:
            return 400, _oauth_err("Invalid account_id", "invalid_request"), no_store
        token = secrets.token_urlsafe(48)
        with self._lock:
            self._tokens[token] = _Token(
                account_id=client.account_id,
                client_id=client.client_id,
                scopes=frozenset(client.scope.split()),
                expires_at=self.clock() + self.token_ttl,
            )
        return 200, {
            "access_token": token,
            "token_type": "bearer",
            "expires_in": self.token_ttl - 1,
            "scope": client.scope,
            "api_url": self.base_url,
        }, no_store

    # ---- API ---------------------------------------------------------------
    def _serve_api(self, method: str, raw_path: str, query: str, headers, record: dict) -> tuple[int, Any, dict]:
        matched = self._match(raw_path)
        if matched is None:
            return 404, _err(404, f"No such API endpoint: {raw_path[len(API_PREFIX):] or '/'}"), {}
        route, raw_params = matched
        if method != "GET":
            return 405, _err(405, "Method Not Allowed"), {"Allow": "GET"}
        token, info = self._bearer(headers)
        if info is None:
            return 401, _err(124, MSG_INVALID_TOKEN), {}
        if self.clock() >= info.expires_at:
            return 401, _err(124, MSG_EXPIRED_TOKEN), {}
        if not (info.scopes & route.scopes):
            wanted = ", ".join(sorted(route.scopes))
            return 400, _err(4711, f"Invalid access token, does not contain scopes:[{wanted}]."), {}
        throttled = self._admit(info.account_id, route.category)
        if throttled is not None:
            self._count_throttled()
            return throttled
        extra = self._daily_headers(info.account_id, route.category)
        q = dict(parse_qsl(query, keep_blank_values=True))
        params = {name: _decode_path_param(raw) for name, raw in raw_params.items()}
        try:
            with self._lock:
                acct = self._account(info.account_id)
                body = getattr(self, route.handler)(acct, route, params, q)
        except _ApiError as e:
            return e.status, e.body, {**extra, **e.headers}
        return 200, body, extra

    # ---- rate limits -------------------------------------------------------
    def _admit(self, account_id: str, category: str) -> tuple[int, dict, dict] | None:
        with self._lock:
            now = self.clock()
            cat_header = category.capitalize()
            if category == "heavy" and self.daily_limit is not None:
                day = math.floor(now / DAY)
                seen_day, count = self._daily.get(account_id, (day, 0))
                if seen_day != day:
                    count = 0
                if count >= self.daily_limit:
                    self._daily[account_id] = (day, count)
                    return 429, _err(429, MSG_DAILY), {
                        "X-RateLimit-Category": cat_header,
                        "X-RateLimit-Type": "Daily-limit",
                        "X-RateLimit-Limit": str(self.daily_limit),
                        "X-RateLimit-Remaining": "0",
                        "Retry-After": _http_date((day + 1) * DAY),
                    }
            qps = self.limits.get(category)
            if qps is not None:
                capacity = max(1.0, qps)
                key = (account_id, category)
                bucket = self._buckets.get(key)
                if bucket is None:
                    bucket = self._buckets[key] = [capacity, now]
                elapsed = max(0.0, now - bucket[1])
                bucket[0] = min(capacity, bucket[0] + elapsed * qps)
                bucket[1] = max(bucket[1], now)
                if bucket[0] < 1.0 - 1e-6:  # tolerance: float epoch seconds are coarse (~0.2 us)
                    headers = {
                        "X-RateLimit-Category": cat_header,
                        "X-RateLimit-Type": "QPS",
                        "X-RateLimit-Limit": _number_text(qps),
                        "X-RateLimit-Remaining": "0",
                    }
                    if self.qps_retry_after:
                        headers["Retry-After"] = str(max(1, math.ceil((1.0 - bucket[0]) / qps)))
                    return 429, _err(429, MSG_QPS), headers
                bucket[0] = max(0.0, bucket[0] - 1.0)
            if category == "heavy" and self.daily_limit is not None:
                day = math.floor(now / DAY)
                seen_day, count = self._daily.get(account_id, (day, 0))
                self._daily[account_id] = (day, (count if seen_day == day else 0) + 1)
        return None

    def _daily_headers(self, account_id: str, category: str) -> dict:
        if category != "heavy" or self.daily_limit is None:
            return {}
        with self._lock:
            _, count = self._daily.get(account_id, (0, 0))
        return {
            "X-RateLimit-Category": "Heavy",
            "X-RateLimit-Type": "Daily-limit",
            "X-RateLimit-Limit": str(self.daily_limit),
            "X-RateLimit-Remaining": str(max(0, self.daily_limit - count)),
        }

    # ---- pagination --------------------------------------------------------
    def _page(
        self,
        acct: _Account,
        route: Route,
        path_key: tuple,
        q: dict[str, str],
        rows: Callable[[], list[dict]],
        *,
        page_number: bool = False,
    ) -> dict:
        size_text = q.get("page_size", "")
        if size_text == "":
            size = DEFAULT_PAGE_SIZE
        else:
            if not _DIGITS.match(size_text) or int(size_text) < 1:
                raise _validation("page_size")
            size = min(int(size_text), MAX_PAGE_SIZE)
        now = self.clock()
        token = q.get("next_page_token", "")
        state: _PageState | None = None
        if token:
            state = self._pages.get(token)
            if (state is None or state.account_id != acct.account_id or state.path_key != path_key
                    or now >= state.expires_at):
                raise _ApiError(400, _err(300, MSG_PAGE_TOKEN))
            all_rows, offset = state.rows, state.offset
        else:
            all_rows, offset = rows(), 0
        for t in [t for t, s in self._pages.items() if now >= s.expires_at]:
            del self._pages[t]
        chunk = all_rows[offset:offset + size]
        next_offset = offset + len(chunk)
        next_token = ""
        if next_offset < len(all_rows):
            # a retried page (same token, same size) gets the same next token while that one lives
            previous = state.next_tokens.get(size) if state is not None else None
            if previous is not None and previous in self._pages:
                next_token = previous
            else:
                next_token = secrets.token_urlsafe(26)
                self._pages[next_token] = _PageState(acct.account_id, path_key, all_rows, next_offset,
                                                     now + PAGE_TOKEN_TTL)
                if state is not None:
                    state.next_tokens[size] = next_token
        total = len(all_rows)
        out: dict[str, Any] = {"page_count": math.ceil(total / size) if total else 0}
        if page_number:
            out["page_number"] = offset // size + 1
        out.update({"page_size": size, "total_records": total, "next_page_token": next_token,
                    route.list_key: copy.deepcopy(chunk)})
        return out

    # ---- resolution helpers ------------------------------------------------
    def _user_or_404(self, acct: _Account, params: dict) -> dict:
        value, _ = params["userId"]
        user = self._find_user(acct, value)
        if user is None:
            raise _no_user(value)
        return user

    def _meeting_or_404(self, acct: _Account, params: dict) -> dict:
        value, routable = params["meetingId"]
        if not routable or not _DIGITS.match(value) or int(value) not in acct.meetings:
            raise _no_meeting(value)
        return acct.meetings[int(value)]

    def _instance_or_404(self, acct: _Account, params: dict) -> dict:
        """A numeric meeting ID means its latest instance; anything else is an instance UUID."""
        value, routable = params["meetingId"]
        if not routable:
            raise _no_meeting(value)
        if _DIGITS.match(value):
            meeting = acct.meetings.get(int(value))
            if meeting is None or not meeting["instances"]:
                raise _no_meeting(value)
            return acct.instances[meeting["instances"][-1]]
        instance = acct.instances.get(value)
        if instance is None:
            raise _no_meeting(value)
        return instance

    @staticmethod
    def _distinct_participants(instance: dict) -> int:
        keys = set()
        for row in instance["participants"]:
            keys.add(row.get("participant_user_id") or row.get("user_email", "").lower() or row.get("name")
                     or row.get("user_id"))
        return len(keys)

    # ---- endpoint handlers (called with the lock held) ---------------------
    def _h_user(self, acct, route, params, q) -> dict:
        user = self._user_or_404(acct, params)
        return {k: copy.deepcopy(user[k]) for k in USER_GET_FIELDS}

    def _h_users(self, acct, route, params, q) -> dict:
        status = q.get("status", "") or "active"
        if status not in ("active", "inactive", "pending"):
            raise _validation("status")
        return self._page(
            acct, route, ("users", status), q,
            lambda: [{k: u[k] for k in USER_LIST_FIELDS} for u in acct.users if u["status"] == status],
            page_number=True,
        )

    def _h_user_meetings(self, acct, route, params, q) -> dict:
        user = self._user_or_404(acct, params)
        kind = q.get("type", "") or "scheduled"
        if kind not in _MEETINGS_TYPES:
            raise _validation("type")
        bounds = []
        for name in ("from", "to"):
            text = q.get(name, "")
            if text and not _DATE.match(text):
                raise _validation(name)
            if text:
                try:
                    datetime.strptime(text, "%Y-%m-%d")
                except ValueError:
                    raise _validation(name) from None
            bounds.append(text)
        date_from, date_to = bounds
        now = self.clock()

        def wanted(m: dict) -> bool:
            start = _parse_time(m["start_time"], "start_time") if m["start_time"] else None
            live = start is not None and start <= now < start + m["duration"] * 60
            if kind == "live" and not live:
                return False
            if kind in ("upcoming", "upcoming_meetings") and not (
                m["type"] in (3, 8) or (start is not None and start + m["duration"] * 60 > now)
            ):
                return False
            if kind == "previous_meetings" and not m["instances"]:
                return False
            if date_from or date_to:
                if m["start_time"] is None:
                    return False
                day = m["start_time"][:10]
                if (date_from and day < date_from) or (date_to and day > date_to):
                    return False
            return True

        def rows() -> list[dict]:
            out = []
            for m in sorted(acct.meetings.values(), key=lambda m: (m["start_time"] or "", m["id"])):
                if m["host_id"] == user["id"] and wanted(m):
                    out.append({k: m[k] for k in MEETING_LIST_FIELDS if m[k] is not None})
            return out

        return self._page(acct, route, ("meetings", user["id"], kind, date_from, date_to), q, rows,
                          page_number=True)

    def _h_instances(self, acct, route, params, q) -> dict:
        meeting = self._meeting_or_404(acct, params)
        return {"meetings": [{"uuid": u, "start_time": acct.instances[u]["start_time"]} for u in meeting["instances"]]}

    def _h_past_participants(self, acct, route, params, q) -> dict:
        instance = self._instance_or_404(acct, params)

        def rows() -> list[dict]:
            if self._distinct_participants(instance) < 2:
                return []  # Zoom: nothing for a meeting with a single participant
            return [{k: r[k] for k in PAST_PARTICIPANT_FIELDS} for r in instance["participants"]]

        return self._page(acct, route, ("past", instance["uuid"]), q, rows)

    def _h_report_participants(self, acct, route, params, q) -> dict:
        instance = self._instance_or_404(acct, params)

        def rows() -> list[dict]:
            if self._distinct_participants(instance) < 2:
                return []  # Zoom documents "two or more participants, including the host"
            return [{k: r[k] for k in REPORT_PARTICIPANT_FIELDS} for r in instance["participants"]]

        return self._page(acct, route, ("report", instance["uuid"]), q, rows)

    def _h_metrics_participants(self, acct, route, params, q) -> dict:
        kind = q.get("type", "") or "live"
        if kind not in ("past", "pastOne", "live"):
            raise _validation("type")
        value, _ = params["meetingId"]
        if kind == "live":  # nothing is ever live in the simulator
            raise _no_meeting(value)
        instance = self._instance_or_404(acct, params)

        def rows() -> list[dict]:
            out = []
            for r in instance["participants"]:
                row = {k: r[k] for k in METRICS_PARTICIPANT_FIELDS}
                row.update({k: r[k] for k in _METRICS_OPTIONAL if k in r})
                out.append(row)
            return out

        return self._page(acct, route, ("metrics", instance["uuid"], kind), q, rows)

    def _h_registrants(self, acct, route, params, q) -> dict:
        meeting = self._meeting_or_404(acct, params)
        status = q.get("status", "") or "approved"
        if status not in ("approved", "pending", "denied"):
            raise _validation("status")
        return self._page(
            acct, route, ("registrants", meeting["id"], status), q,
            lambda: [dict(r) for r in meeting["registrants"] or [] if r["status"] == status],
            page_number=True,
        )


# --------------------------------------------------------------------------- demo data
DEMO_UUIDS = {
    "leading_slash": "/kLm3nOp4QrS5tUv6wXy7A==",
    "double_slash": "Qw8//eRtYuIoPaSdFgHjKl==",
    "plain": "Zx3cVbNmAsDfGhJkLqWeRt==",
    "single_participant": "OnlyTaHere1234567890Ab==",
    "pair": "Pq7rSt8uVw9xYz0aBc1dEf==",
}


def seed_demo(sim: ZoomSimulator, account_id: str) -> dict:
    """Fill a small deterministic data set into an account already added with ``add_account``.

    Two users; a recurring lecture (registration on) with three past instances whose UUIDs begin with '/',
    contain '//', and are plain; recurring office hours with a single-participant instance and a two-person
    one; a scheduled review session in the future with registrants and no instance.  Returns the identifiers.
    """
    instructor = sim.add_user(account_id, user_id="DemoInstructorAda00001", email="ada.lovelace@campus.example.edu",
                              first_name="Ada", last_name="Lovelace", created_at="2023-08-01T00:00:00Z")
    ta = sim.add_user(account_id, user_id="DemoTeachingAlan000002", email="alan.turing@campus.example.edu",
                      first_name="Alan", last_name="Turing", created_at="2023-08-02T00:00:00Z")
    students = [(f"Student {n}", f"s{n}@students.campus.example.edu") for n in range(1001, 1006)]

    lecture = 81234567890
    sim.add_meeting(
        account_id, meeting_id=lecture, host_email=instructor["email"], topic="CS101 Lecture", type=8,
        start_time="2024-09-02T09:00:00Z", duration=90,
        registrants=[
            {"email": students[0][1], "first_name": "Student", "last_name": "1001"},
            {"email": students[1][1], "first_name": "Student", "last_name": "1002"},
            {"email": students[2][1], "first_name": "Student", "last_name": "1003"},
            {"email": students[3][1], "first_name": "Student", "last_name": "1004", "status": "pending"},
            {"email": "spam@elsewhere.example.com", "first_name": "Spam", "last_name": "Bot", "status": "denied"},
        ],
    )

    def row(name: str, email_: str, join: str, leave: str) -> dict:
        return {"name": name, "user_email": email_, "join_time": join, "leave_time": leave}

    host = ("Ada Lovelace", instructor["email"])
    sim.add_instance(account_id, lecture, uuid=DEMO_UUIDS["leading_slash"], start_time="2024-09-02T09:00:00Z",
                     participants=[
                         row(*host, "2024-09-02T08:58:00Z", "2024-09-02T10:31:00Z"),
                         row(*students[0], "2024-09-02T09:01:00Z", "2024-09-02T09:40:00Z"),
                         row(*students[0], "2024-09-02T09:42:00Z", "2024-09-02T10:30:00Z"),  # rejoined
                         row(*students[1], "2024-09-02T09:03:00Z", "2024-09-02T10:30:00Z"),
                     ])
    sim.add_instance(account_id, lecture, uuid=DEMO_UUIDS["double_slash"], start_time="2024-09-09T09:00:00Z",
                     participants=[
                         row(*host, "2024-09-09T08:59:00Z", "2024-09-09T10:30:00Z"),
                         row(*students[1], "2024-09-09T09:00:00Z", "2024-09-09T10:30:00Z"),
                         row(*students[2], "2024-09-09T09:10:00Z", "2024-09-09T10:00:00Z"),
                     ])
    sim.add_instance(account_id, lecture, uuid=DEMO_UUIDS["plain"], start_time="2024-09-16T09:00:00Z",
                     participants=[
                         row(*host, "2024-09-16T08:55:00Z", "2024-09-16T10:30:00Z"),
                         row(*students[0], "2024-09-16T09:00:00Z", "2024-09-16T10:30:00Z"),
                         row(*students[1], "2024-09-16T09:02:00Z", "2024-09-16T10:30:00Z"),
                         row(*students[2], "2024-09-16T09:05:00Z", "2024-09-16T10:15:00Z"),
                         row("", "", "2024-09-16T09:20:00Z", "2024-09-16T09:50:00Z"),  # HIPAA-blanked guest
                     ])

    office = 82345678901
    sim.add_meeting(account_id, meeting_id=office, host_email=ta["email"], topic="CS101 Office Hours", type=8,
                    start_time="2024-09-03T15:00:00Z", duration=60)
    sim.add_instance(account_id, office, uuid=DEMO_UUIDS["single_participant"], start_time="2024-09-03T15:00:00Z",
                     participants=[row("Alan Turing", ta["email"], "2024-09-03T15:00:00Z", "2024-09-03T16:00:00Z")])
    sim.add_instance(account_id, office, uuid=DEMO_UUIDS["pair"], start_time="2024-09-10T15:00:00Z",
                     participants=[
                         row("Alan Turing", ta["email"], "2024-09-10T15:00:00Z", "2024-09-10T16:00:00Z"),
                         row(*students[4], "2024-09-10T15:10:00Z", "2024-09-10T15:35:00Z"),
                     ])

    review = 83456789012
    sim.add_meeting(
        account_id, meeting_id=review, host_email=instructor["email"], topic="CS101 Final Review", type=2,
        start_time="2030-01-15T14:00:00Z", duration=120,
        registrants=[
            {"email": students[0][1], "first_name": "Student", "last_name": "1001"},
            {"email": students[4][1], "first_name": "Student", "last_name": "1005"},
            {"email": students[2][1], "first_name": "Student", "last_name": "1003", "status": "pending"},
        ],
    )
    return {
        "account_id": account_id,
        "users": {"instructor": instructor["id"], "ta": ta["id"]},
        "emails": {"instructor": instructor["email"], "ta": ta["email"]},
        "meetings": {"lecture": lecture, "office_hours": office, "review": review},
        "instances": dict(DEMO_UUIDS),
    }


# --------------------------------------------------------------------------- CLI
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Strict local Zoom S2S OAuth + Meeting API simulator")
    parser.add_argument("--account", action="append", required=True, metavar="ACCOUNT_ID:CLIENT_ID",
                        help="an S2S OAuth app (repeatable); the secret comes from ZOOM_SIM_CLIENT_SECRET")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--seed-demo", action="store_true", help="fill a small deterministic demo data set")
    parser.add_argument("--token-ttl", type=int, default=3600)
    parser.add_argument("--daily-limit", type=int, default=None, help="Heavy requests per UTC day per account")
    parser.add_argument("--latency", type=float, default=0.0, help="seconds before each API answer")
    parser.add_argument("--unlimited", action="store_true", help="no QPS limits")
    args = parser.parse_args(argv)
    secret = os.environ.get("ZOOM_SIM_CLIENT_SECRET")
    if not secret:
        parser.error("set the client secret in the ZOOM_SIM_CLIENT_SECRET environment variable")
    accounts = []
    for spec in args.account:
        account_id, sep, client_id = spec.partition(":")
        if not sep or not account_id or not client_id:
            parser.error(f"--account expects ACCOUNT_ID:CLIENT_ID, got {spec!r}")
        accounts.append((account_id, client_id))

    sim = ZoomSimulator(
        token_ttl=args.token_ttl, host=args.host, port=args.port, daily_limit=args.daily_limit,
        latency=args.latency, limits={c: None for c in CATEGORIES} if args.unlimited else None,
    )
    for account_id, client_id in accounts:
        sim.add_account(account_id, client_id, secret)
        if args.seed_demo:
            seed_demo(sim, account_id)
    sim.serve_until_signalled()
    return 0


if __name__ == "__main__":
    sys.exit(main())
