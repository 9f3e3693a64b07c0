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

Meeting provisioning (the ``operations`` of tests/fixtures/zoom_openapi_subset.json, generated from Zoom's
OpenAPI by zoom_openapi_subset.py, give the request schemas the bodies are checked against)::

    POST  /v2/users/{userId}/meetings   medium  201 the meeting (types 2 and 8; 1 and 3 answer 501)
    GET   /v2/meetings/{meetingId}      light   200 the meeting (occurrences not yet over, unless
                                                    show_previous_occurrences=true)
    PATCH /v2/meetings/{meetingId}      light   204 (a start_time in the past is ignored, as documented)

  * bodies: application/json objects, validated against the documented request schema (types, enums,
    maxLength, maximum, required; unknown properties pass: the schemas do not set additionalProperties)
    plus what the field descriptions state (passcode characters, start_time as yyyy-MM-ddTHH:mm:ssZ or a
    local yyyy-MM-ddTHH:mm:ss in ``timezone``, IANA timezone IDs, repeat_interval ranges, weekly_days as
    "1".."7" lists, end_times xor end_date_time, at most 60 occurrences); failures answer 400
    {"code": 300, "message": "Validation Failed.", "errors": [{"field": ..., "message": "Invalid field."}]};
  * occurrences of a type-8 meeting are computed in the meeting's timezone (zoneinfo), so a weekly 09:00
    class stays 09:00 local across a DST change;
  * an unknown host answers 404 {"code": 1001, "message": "User {userId} not exist or not belong to this
    account."};
  * at most ``meeting_daily_cap`` (100) create/update requests per meeting host per UTC day (requests that
    named an existing host, valid or not): then 429 {"code": 429, "message": "You have exceeded the daily
    rate limit (100) of Meeting Create/Update API requests ..."} with no X-RateLimit-Type nor Retry-After (as
    Zoom was seen to answer), or, with ``meeting_cap_style="documented"``, X-RateLimit-Type: Daily-limit,
    X-RateLimit-Limit, X-RateLimit-Remaining: 0 and Retry-After: the next 00:00 UTC as an ISO time;
  * start_url (a fresh ``zak`` on every answer) and passcodes are random secrets: ``issued_secrets()``
    lists every one handed out, for leak checks.  ``meetings()`` and ``host_daily_count()`` inspect state.

Control endpoints (so another process can drive it)::

    GET  /__sim/state    -> {"token_requests": {...}, "api_requests": n, "throttled": n, "faults_pending": n}
    POST /__sim/faults   <- JSON list of Fault field dicts (appended)
    POST /__sim/reset    -> clears faults, records and rate-limit state (keeps accounts, tokens and data)
    POST /__sim/revoke   <- {"account_id": "..."} or {} (all accounts): every issued token becomes invalid
    POST /__sim/advance  <- {"seconds": n}: only when the simulator runs on its own FakeClock
    GET  /__sim/meetings -> {"meetings": [{account_id, id, host_id, topic, type, start_time, timezone,
                             occurrences}], "host_daily": {"account/host": requests today}} (no secrets)

Run in the foreground::

    ZOOM_SIM_CLIENT_SECRET=... python infra/local/zoom_sim.py --account ACCOUNT_ID:CLIENT_ID [--port N] [--seed-demo]

The base URL is printed on one line.  The client secret is never logged, echoed or exposed by any endpoint;
access tokens appear only in the token response that issues them.
"""

from __future__ import annotations

import argparse
import base64
import calendar
import copy
import dataclasses
import email.utils
import hashlib
import hmac
import itertools
import json
import math
import os
import re
import secrets
import sys
import threading
import time
import zoneinfo
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

try:  # a package module, or run as a script from this folder
    from .simhttp import (
        SIM_PREFIX,
        ControlError,
        FaultBase,
        Reject,
        SimHandler,
        SimServer,
        SimulatorBase,
        control_json,
        reason,
    )
except ImportError:  # pragma: no cover
    from simhttp import (
        SIM_PREFIX,
        ControlError,
        FaultBase,
        Reject,
        SimHandler,
        SimServer,
        SimulatorBase,
        control_json,
        reason,
    )
from urllib.parse import parse_qsl, unquote, urlsplit

__all__ = [
    "FakeClock",
    "Fault",
    "Route",
    "ROUTES",
    "MEETING_ROUTES",
    "ZoomSimulator",
    "main",
    "seed_demo",
    "occurrence_starts",
    "schema_errors",
    "meeting_operations",
    "DEFAULT_SCOPE",
    "PROVISIONING_SCOPE",
]

API_PREFIX = "/v2"
TOKEN_PATH = "/oauth/token"
MAX_BODY_BYTES = 1024 * 1024

CATEGORIES = ("light", "medium", "heavy")
DEFAULT_LIMITS: dict[str, float | None] = {"light": 30.0, "medium": 20.0, "heavy": 10.0}  # Pro plan, per second
DEFAULT_SCOPE = "meeting:read:admin report:read:admin dashboard_meetings:read:admin user:read:admin"
PROVISIONING_SCOPE = DEFAULT_SCOPE + " meeting:write:admin"  # DEFAULT_SCOPE plus creating/updating meetings
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
      * ``lose_answer``: process the request as usual, then close the connection instead of answering (the
        create was made; the client never hears of it);
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
    lose_answer: bool = False
    path_contains: str | None = None  # consumed only by an API request whose raw path contains this

    def validate(self) -> None:
        super().validate()  # status, retry_after, delay, drop
        if not isinstance(self.lose_answer, bool):
            raise ValueError("fault 'lose_answer' must be a boolean")
        if self.path_contains is not None and (self.oauth or not isinstance(self.path_contains, str)):
            raise ValueError("fault 'path_contains' must be a string, on an API (not oauth) fault")
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
    method: str = "GET"

    @property
    def segments(self) -> tuple[str, ...]:
        return tuple(self.template.strip("/").split("/"))


_PAGED = ("page_size", "next_page_token")

ROUTES: tuple[Route, ...] = (
    Route(
        "/users",
        "medium",
        "_h_users",
        "users",
        ("status",) + _PAGED,
        frozenset({"user:read:admin", "user:read:list_users:admin"}),
    ),
    Route(
        "/users/{userId}",
        "light",
        "_h_user",
        None,
        (),
        frozenset({"user:read:admin", "user:read", "user_info:read", "user:read:user:admin", "user:read:user"}),
    ),
    Route(
        "/users/{userId}/meetings",
        "medium",
        "_h_user_meetings",
        "meetings",
        ("type", "from", "to") + _PAGED,
        frozenset(
            {"meeting:read:admin", "meeting:read", "meeting:read:list_meetings:admin", "meeting:read:list_meetings"}
        ),
    ),
    Route(
        "/past_meetings/{meetingId}/instances",
        "medium",
        "_h_instances",
        None,
        (),
        frozenset(
            {
                "meeting:read:admin",
                "meeting:read",
                "meeting:read:list_past_instances:admin",
                "meeting:read:list_past_instances",
            }
        ),
    ),
    Route(
        "/past_meetings/{meetingId}/participants",
        "medium",
        "_h_past_participants",
        "participants",
        _PAGED,
        frozenset(
            {
                "meeting:read:admin",
                "meeting:read",
                "meeting:read:list_past_participants:admin",
                "meeting:read:list_past_participants",
            }
        ),
    ),
    Route(
        "/report/meetings/{meetingId}/participants",
        "heavy",
        "_h_report_participants",
        "participants",
        _PAGED,
        frozenset({"report:read:admin", "report:read:list_meeting_participants:admin"}),
    ),
    Route(
        "/metrics/meetings/{meetingId}/participants",
        "heavy",
        "_h_metrics_participants",
        "participants",
        ("type",) + _PAGED,
        frozenset({"dashboard_meetings:read:admin", "dashboard:read:list_meeting_participants:admin"}),
    ),
    Route(
        "/meetings/{meetingId}/registrants",
        "medium",
        "_h_registrants",
        "registrants",
        ("status",) + _PAGED,
        frozenset(
            {
                "meeting:read:admin",
                "meeting:read",
                "meeting:read:list_registrants:admin",
                "meeting:read:list_registrants",
            }
        ),
    ),
)

# The meeting operations (provisioning).  Kept apart from ROUTES, whose GET schemas live under the fixture's
# "paths"; these live under its "operations" (request and response schemas).  Rate-limit labels are the
# spec's: create MEDIUM, get LIGHT, update LIGHT.
MEETING_ROUTES: tuple[Route, ...] = (
    Route(
        "/users/{userId}/meetings",
        "medium",
        "_h_create_meeting",
        None,
        (),
        frozenset({"meeting:write:admin", "meeting:write", "meeting:write:meeting:admin", "meeting:write:meeting"}),
        method="POST",
    ),
    Route(
        "/meetings/{meetingId}",
        "light",
        "_h_get_meeting",
        None,
        ("occurrence_id", "show_previous_occurrences"),  # occurrence_id: 501, not simulated
        frozenset({"meeting:read:admin", "meeting:read", "meeting:read:meeting:admin", "meeting:read:meeting"}),
    ),
    Route(
        "/meetings/{meetingId}",
        "light",
        "_h_update_meeting",
        None,
        ("occurrence_id",),  # 501, not simulated
        frozenset({"meeting:write:admin", "meeting:write", "meeting:update:meeting:admin", "meeting:update:meeting"}),
        method="PATCH",
    ),
)
_ALL_ROUTES = ROUTES + MEETING_ROUTES

# Response fields per endpoint (all declared in Zoom's OpenAPI response schema for that endpoint).
USER_LIST_FIELDS = (
    "id",
    "first_name",
    "last_name",
    "display_name",
    "email",
    "type",
    "pmi",
    "timezone",
    "verified",
    "dept",
    "user_created_at",
    "created_at",
    "last_login_time",
    "status",
    "role_id",
)
USER_GET_FIELDS = USER_LIST_FIELDS + ("language", "role_name", "use_pmi", "personal_meeting_url", "account_id")
MEETING_LIST_FIELDS = (
    "uuid",
    "id",
    "host_id",
    "topic",
    "type",
    "start_time",
    "duration",
    "timezone",
    "created_at",
    "join_url",
    "agenda",
)
PAST_PARTICIPANT_FIELDS = (
    "id",
    "name",
    "user_id",
    "registrant_id",
    "user_email",
    "join_time",
    "leave_time",
    "duration",
    "failover",
    "status",
)
REPORT_PARTICIPANT_FIELDS = (
    "id",
    "user_id",
    "name",
    "user_email",
    "join_time",
    "leave_time",
    "duration",
    "failover",
    "status",
    "registrant_id",
    "participant_user_id",
    "bo_mtg_id",
)
METRICS_PARTICIPANT_FIELDS = (
    "id",
    "user_id",
    "user_name",
    "device",
    "ip_address",
    "location",
    "network_type",
    "microphone",
    "speaker",
    "camera",
    "data_center",
    "full_data_center",
    "connection_type",
    "join_time",
    "leave_time",
    "share_application",
    "share_desktop",
    "share_whiteboard",
    "recording",
    "pc_name",
    "domain",
    "mac_addr",
    "harddisk_id",
    "version",
    "email",
    "registrant_id",
    "status",
    "audio_quality",
    "video_quality",
    "screen_share_quality",
    "participant_user_id",
    "role",
    "bo_mtg_id",
)
_METRICS_OPTIONAL = (
    "leave_reason",
    "customer_key",
    "in_room_participants",
    "internal_ip_addresses",
    "sip_uri",
    "from_sip_uri",
    "audio_call",
)
REGISTRANT_FIELDS = ("id", "email", "first_name", "last_name", "status", "create_time", "join_url")
_REGISTRANT_OPTIONAL = (
    "address",
    "city",
    "country",
    "zip",
    "state",
    "phone",
    "industry",
    "org",
    "job_title",
    "comments",
    "custom_questions",
)
_PARTICIPANT_INPUT = (
    set(REPORT_PARTICIPANT_FIELDS)
    | set(PAST_PARTICIPANT_FIELDS)
    | set(METRICS_PARTICIPANT_FIELDS)
    | set(_METRICS_OPTIONAL)
    | {"customer_key"}
)
_METRICS_DEFAULTS = {
    "device": "Windows",
    "ip_address": "",
    "location": "",
    "network_type": "Wired",
    "microphone": "Default",
    "speaker": "Default",
    "camera": "Default",
    "data_center": "US",
    "full_data_center": "United States (US)",
    "connection_type": "UDP",
    "share_application": False,
    "share_desktop": False,
    "share_whiteboard": False,
    "recording": False,
    "pc_name": "",
    "domain": "",
    "mac_addr": "",
    "harddisk_id": "",
    "version": "6.2.0",
    "audio_quality": "good",
    "video_quality": "good",
    "screen_share_quality": "",
}
_MEETINGS_TYPES = ("scheduled", "live", "upcoming", "upcoming_meetings", "previous_meetings")


# --------------------------------------------------------------------------- helpers
_ApiError = Reject


def _err(code: int, message: str) -> dict:
    return {"code": code, "message": message}


def _oauth_err(reason: str, error: str) -> dict:
    return {"reason": reason, "error": error}


def _validation(field: str) -> _ApiError:
    return _ApiError(
        400, {"code": 300, "message": "Validation Failed.", "errors": [{"field": field, "message": "Invalid field."}]}
    )


def _no_meeting(meeting_id: Any) -> _ApiError:
    return _ApiError(404, _err(3001, f"Meeting does not exist: {meeting_id}."))


def _no_user(user_id: str) -> _ApiError:
    return _ApiError(404, _err(1001, f"User does not exist: {user_id}."))


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _parse_time(value: Any, what: str) -> float:
    if not isinstance(value, str):
        raise ValueError(f"{what} must be an ISO 8601 string")
    try:
        dt = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"{what} is not an ISO 8601 time: {value!r}") from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt.timestamp()


def _http_date(ts: float) -> str:
    return email.utils.format_datetime(datetime.fromtimestamp(ts, tz=UTC), usegmt=True)


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


# --------------------------------------------------------------------------- meetings: spec, validation, time
SUBSET_PATH = Path(__file__).resolve().parents[2] / "tests" / "fixtures" / "zoom_openapi_subset.json"
CREATE_OP = "POST /users/{userId}/meetings"
GET_OP = "GET /meetings/{meetingId}"
UPDATE_OP = "PATCH /meetings/{meetingId}"
MEETING_DAILY_CAP = 100  # create/update requests per meeting host per UTC day (spec: "100 requests per day")
CAP_STYLES = ("observed", "documented")
MSG_USER_DAILY = (
    "You have exceeded the daily rate limit ({limit}) of Meeting Create/Update API requests permitted for this "
    "particular user. You may resume these requests at GMT 00:00:00."
)
MSG_BAD_BODY = "Request Body should be a valid JSON object."
MSG_SCHEDULE_FOR = (
    "The value that you entered for the schedule_for field is invalid. Enter a valid value and try again."
)
MAX_OCCURRENCES = 60  # recurrence.end_times has "maximum": 60
_SCHEDULE_KEYS = frozenset({"type", "start_time", "timezone", "duration", "recurrence"})
_RECURRENCE_KEYS = (
    "type",
    "repeat_interval",
    "weekly_days",
    "monthly_day",
    "monthly_week",
    "monthly_week_day",
    "end_times",
    "end_date_time",
)
_MAX_INTERVAL = {1: 90, 2: 12, 3: 3}  # repeat_interval: daily 90 days, weekly 12 weeks, monthly 3 months
_START_TIME = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(Z?)\Z")
_PASSCODE = re.compile(r"[A-Za-z0-9@_*-]*\Z")  # "alphanumeric characters and the @, -, _, and * characters"
_WEEKLY_DAYS = re.compile(r"[1-7](,[1-7])*\Z")
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+\Z")
_JSON_TYPES: dict[str, Any] = {
    "string": str,
    "integer": int,
    "number": (int, float),
    "boolean": bool,
    "array": list,
    "object": dict,
}
# Answer fields, each declared by the operation's documented response schema (the 201 schema of "Create a
# meeting" declares neither uuid nor host_id nor status: a client that needs them reads GET /meetings/{id}).
CREATE_ANSWER_FIELDS = (
    "id",
    "host_email",
    "assistant_id",
    "topic",
    "type",
    "start_time",
    "duration",
    "timezone",
    "agenda",
    "created_at",
    "start_url",
    "join_url",
    "password",
    "h323_password",
    "pre_schedule",
    "settings",
    "recurrence",
    "occurrences",
    "tracking_fields",
)
GET_ANSWER_FIELDS = (
    "uuid",
    "id",
    "host_id",
    "host_email",
    "assistant_id",
    "topic",
    "type",
    "status",
    "start_time",
    "duration",
    "timezone",
    "agenda",
    "created_at",
    "start_url",
    "join_url",
    "password",
    "h323_password",
    "encrypted_password",
    "pre_schedule",
    "settings",
    "recurrence",
    "occurrences",
    "tracking_fields",
)
DEFAULT_MEETING_SETTINGS: dict[str, Any] = {
    "host_video": False,
    "participant_video": False,
    "join_before_host": False,
    "jbh_time": 0,
    "mute_upon_entry": False,
    "watermark": False,
    "use_pmi": False,
    "approval_type": 2,
    "audio": "both",
    "auto_recording": "none",
    "waiting_room": False,
    "meeting_authentication": False,
    "alternative_hosts": "",
    "alternative_hosts_email_notification": True,
    "email_notification": True,
    "encryption_type": "enhanced_encryption",
    "close_registration": False,
    "show_share_button": False,
    "allow_multiple_devices": False,
    "focus_mode": False,
    "private_meeting": False,
    "internal_meeting": False,
    "participant_focused_meeting": False,
    "push_change_to_calendar": False,
    "registrants_email_notification": True,
    "continuous_meeting_chat": {"enable": False},
}
_OPERATIONS: dict | None = None
_ZONES: frozenset[str] | None = None


def meeting_operations() -> dict:
    """The fixture's ``operations``: request and response schemas of create/get/update, read once.

    One correction, where the spec contradicts itself: ``recurrence.weekly_days`` carries the enum "1".."7"
    while its description documents comma-separated days ("1,3" for Sundays and Tuesdays); the enum is
    dropped from the request schemas and the description's rule is checked instead (``_WEEKLY_DAYS``).
    """
    global _OPERATIONS
    if _OPERATIONS is None:
        with open(SUBSET_PATH, encoding="utf-8") as fh:
            ops = json.load(fh)["operations"]
        for op in ops.values():
            rec = op.get("request_body", {}).get("properties", {}).get("recurrence", {})
            rec.get("properties", {}).get("weekly_days", {}).pop("enum", None)
        _OPERATIONS = ops
    return _OPERATIONS


def _zones() -> frozenset[str]:
    global _ZONES
    if _ZONES is None:
        _ZONES = frozenset(zoneinfo.available_timezones())
    return _ZONES


def _type_ok(value: Any, kind: str) -> bool:
    if kind == "null":
        return value is None
    if isinstance(value, bool) and kind != "boolean":
        return False
    python = _JSON_TYPES.get(kind)
    return python is None or isinstance(value, python)


def _in_enum(value: Any, enum: list) -> bool:
    return any(value == e and isinstance(value, bool) == isinstance(e, bool) for e in enum)


def schema_errors(value: Any, schema: dict, path: str = "") -> list[str]:
    """The JSON paths where ``value`` breaks ``schema`` (the keywords Zoom's request schemas use: type, enum,
    maxLength/minLength, maximum/minimum on numbers, maxItems, items, required, properties, additionalProperties,
    format email).  Unknown properties pass unless ``additionalProperties`` is false (JSON Schema's default)."""
    kind = schema.get("type")
    if kind is not None and not _type_ok(value, kind):
        return [path]
    errors: list[str] = []
    if "enum" in schema and not _in_enum(value, schema["enum"]):
        errors.append(path)
    if isinstance(value, str):
        if not schema.get("minLength", 0) <= len(value) <= schema.get("maxLength", math.inf):
            errors.append(path)
        if schema.get("format") == "email" and not _EMAIL.match(value):
            errors.append(path)
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        if not schema.get("minimum", -math.inf) <= value <= schema.get("maximum", math.inf):
            errors.append(path)
    elif isinstance(value, list):
        if len(value) > schema.get("maxItems", math.inf):
            errors.append(path)
        if isinstance(schema.get("items"), dict):
            for i, item in enumerate(value):
                errors += schema_errors(item, schema["items"], f"{path}[{i}]")
    elif isinstance(value, dict):
        props = schema.get("properties", {})
        errors += [_join(path, name) for name in schema.get("required", []) if name not in value]
        for name, item in value.items():
            if name in props:
                errors += schema_errors(item, props[name], _join(path, name))
            elif schema.get("additionalProperties") is False:
                errors.append(_join(path, name))
    return errors


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def _validation_failed(fields: list[str]) -> _ApiError:
    """Zoom's documented answer for invalid fields (code 300, "Validation Failed.", one entry per field)."""
    unique = sorted(set(fields))
    return _ApiError(
        400,
        {
            "code": 300,
            "message": "Validation Failed.",
            "errors": [{"field": f, "message": "Invalid field."} for f in unique],
        },
    )


def _parse_json_object(raw: bytes, headers) -> dict:
    """A create/update body: application/json, UTF-8, one JSON object (no duplicate keys, no NaN)."""
    ctype = (headers.get("Content-Type") or "").split(";", 1)[0].strip().lower()
    if ctype != "application/json" or not raw:
        raise _ApiError(400, _err(300, MSG_BAD_BODY))
    try:
        data = json.loads(
            raw.decode("utf-8"), object_pairs_hook=_reject_duplicate_keys, parse_constant=_reject_constant
        )
    except (ValueError, UnicodeDecodeError):
        raise _ApiError(400, _err(300, MSG_BAD_BODY)) from None
    if not isinstance(data, dict):
        raise _ApiError(400, _err(300, MSG_BAD_BODY))
    return data


def _reject_constant(name: str) -> Any:
    raise ValueError(f"invalid JSON number {name}")


def _local_start(text: str, tz: zoneinfo.ZoneInfo) -> datetime:
    """``yyyy-MM-ddTHH:mm:ssZ`` (GMT) or ``yyyy-MM-ddTHH:mm:ss`` (in ``tz``), as an aware time in ``tz``."""
    m = _START_TIME.match(text)
    if m is None:
        raise ValueError(text)
    naive = datetime.strptime(text[:19], "%Y-%m-%dT%H:%M:%S")
    if m.group(1):
        return naive.replace(tzinfo=UTC).astimezone(tz)
    return naive.replace(tzinfo=tz)


def _utc_text(dt: datetime) -> str:
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _recurrence_errors(rec: dict) -> list[str]:
    """What the recurrence fields' descriptions add to their schema (the schema itself is checked apart)."""
    errors = []
    kind, interval = rec.get("type"), rec.get("repeat_interval", 1)
    if kind in _MAX_INTERVAL and not (isinstance(interval, int) and 1 <= interval <= _MAX_INTERVAL[kind]):
        errors.append("recurrence.repeat_interval")
    if kind == 2 and not (isinstance(rec.get("weekly_days"), str) and _WEEKLY_DAYS.match(rec["weekly_days"])):
        errors.append("recurrence.weekly_days")  # "required ... for type 2"; "1,3" style lists are documented
    if kind == 3:
        if ("monthly_week" in rec) != ("monthly_week_day" in rec):
            errors.append("recurrence.monthly_week" if "monthly_week" not in rec else "recurrence.monthly_week_day")
        day = rec.get("monthly_day", 1)
        if "monthly_week" not in rec and not (isinstance(day, int) and 1 <= day <= 31):
            errors.append("recurrence.monthly_day")
    if "end_times" in rec and "end_date_time" in rec:
        errors.append("recurrence.end_date_time")  # "Cannot be used with end_times"
    if isinstance(rec.get("end_times"), int) and rec["end_times"] < 1:
        errors.append("recurrence.end_times")
    end = rec.get("end_date_time")
    if isinstance(end, str) and not (_START_TIME.match(end) and end.endswith("Z")):
        errors.append("recurrence.end_date_time")  # "Should be in UTC time, such as 2017-11-25T12:00:00Z"
    return errors


def _body_errors(body: dict, schema: dict) -> list[str]:
    """Schema errors plus the rules the field descriptions state (passcode characters, start_time formats,
    timezone IDs, non-negative duration, recurrence ranges)."""
    errors = schema_errors(body, schema)
    if isinstance(body.get("password"), str) and not _PASSCODE.match(body["password"]):
        errors.append("password")
    if isinstance(body.get("start_time"), str):
        try:
            _local_start(body["start_time"], UTC)  # format and calendar validity only
        except ValueError:
            errors.append("start_time")
    if isinstance(body.get("timezone"), str) and body["timezone"] not in _zones():
        errors.append("timezone")
    if isinstance(body.get("duration"), int) and not isinstance(body["duration"], bool) and body["duration"] < 0:
        errors.append("duration")
    if isinstance(body.get("recurrence"), dict):
        errors += _recurrence_errors(body["recurrence"])
    return errors


# ---- occurrences of a recurring meeting with a fixed time (type 8), in the meeting's own timezone
def _week_dates(first: date, rec: dict) -> Iterator[date]:
    days = sorted({int(d) for d in rec["weekly_days"].split(",")})  # 1 = Sunday ... 7 = Saturday
    sunday = first - timedelta(days=first.isoweekday() % 7)
    week = 0
    while True:
        for day in days:
            candidate = sunday + timedelta(weeks=week, days=day - 1)
            if candidate >= first:
                yield candidate
        week += rec.get("repeat_interval", 1)


def _month_date(year: int, month: int, rec: dict) -> date | None:
    last = calendar.monthrange(year, month)[1]
    if "monthly_week" not in rec:
        day = rec.get("monthly_day", 1)
        return date(year, month, day) if day <= last else None  # no 31st in that month: no occurrence
    weekday = (rec["monthly_week_day"] + 5) % 7  # 1 = Sunday -> Python's 6
    matches = [date(year, month, d) for d in range(1, last + 1) if date(year, month, d).weekday() == weekday]
    return matches[-1] if rec["monthly_week"] == -1 else matches[rec["monthly_week"] - 1]


def _month_dates(first: date, rec: dict) -> Iterator[date]:
    year, month = first.year, first.month
    while True:
        candidate = _month_date(year, month, rec)
        if candidate is not None and candidate >= first:
            yield candidate
        month += rec.get("repeat_interval", 1)
        year, month = year + (month - 1) // 12, (month - 1) % 12 + 1


def _recurrence_dates(first: date, rec: dict) -> Iterator[date]:
    if rec["type"] == 2:
        return _week_dates(first, rec)
    if rec["type"] == 3:
        return _month_dates(first, rec)
    return (first + timedelta(days=n * rec.get("repeat_interval", 1)) for n in itertools.count())


def occurrence_starts(start: datetime, rec: dict) -> list[datetime]:
    """Occurrence start times (aware, in ``start``'s timezone) of a recurrence beginning at ``start``.

    Every occurrence keeps ``start``'s local wall-clock time, so a weekly 09:00 class stays 09:00 local across
    a DST change (its UTC time moves).  Ends after ``end_times`` occurrences (default 1), or with the last one
    starting at or before ``end_date_time``.  ValueError when that makes none, or more than 60.
    """
    end = _local_start(rec["end_date_time"], UTC) if "end_date_time" in rec else None
    wanted = None if end is not None else rec.get("end_times", 1)
    out: list[datetime] = []
    for n, day in enumerate(_recurrence_dates(start.date(), rec)):
        at = datetime.combine(day, start.timetz())
        if (end is not None and at > end) or n > 4000:
            break
        out.append(at)
        if len(out) == wanted or len(out) > MAX_OCCURRENCES:
            break
    if not out or len(out) > MAX_OCCURRENCES:
        raise ValueError("recurrence")
    return out


def _occurrence_rows(starts: list[datetime], duration: int) -> list[dict]:
    return [
        {
            "occurrence_id": str(int(at.timestamp() * 1000)),
            "start_time": _utc_text(at),
            "duration": duration,
            "status": "available",
        }
        for at in starts
    ]


def _passcode(length: int = 8) -> str:
    alphabet = "abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"
    while True:
        code = "".join(secrets.choice(alphabet) for _ in range(length))
        if any(c.isdigit() for c in code) and any(c.isalpha() for c in code):
            return code


def _digits(length: int) -> str:
    return str(secrets.choice("123456789")) + "".join(secrets.choice("0123456789") for _ in range(length - 1))


def _zak() -> str:
    """A start_url ``zak`` token: JWT-shaped and unguessable, as Zoom's are."""
    header = base64.urlsafe_b64encode(b'{"typ":"JWT","alg":"HS256"}').decode().rstrip("=")
    return f"{header}.{secrets.token_urlsafe(96)}.{secrets.token_urlsafe(32)}"


# --------------------------------------------------------------------------- HTTP plumbing
_Server = SimServer


class _Handler(SimHandler):
    server_version = "ZoomSim/1.0"
    content_type = "application/json;charset=UTF-8"
    max_body = MAX_BODY_BYTES
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
            self._api(path, split.query, body)
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
    def _api(self, raw_path: str, query: str, body: bytes = b"") -> None:
        sim = self.server.sim
        record = sim._new_record(self.command, raw_path, query, self.headers)
        fault = sim._next_api_fault(raw_path)
        if fault is not None and self._apply_fault(fault, oauth=False, category=record["category"], record=record):
            return
        if sim.latency:
            sim._stopping.wait(sim.latency)  # no lock held: concurrent requests overlap
        status, out, headers = sim._serve_api(self.command, raw_path, query, self.headers, record, body)
        sim._finish_record(record, status)
        if fault is not None and fault.lose_answer:
            self.close_connection = True
            self._drop()
            return
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


# --------------------------------------------------------------------------- the simulator
class ZoomSimulator(SimulatorBase):
    """Strict Zoom S2S OAuth + Meeting API (subset) simulator on a real local HTTP port."""

    handler_class = _Handler
    fault_class = Fault
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
        meeting_daily_cap: int | None = MEETING_DAILY_CAP,
        meeting_cap_style: str = "observed",
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
        if daily_limit is not None and (
            isinstance(daily_limit, bool) or not isinstance(daily_limit, int) or daily_limit < 0
        ):
            raise ValueError("daily_limit must be a non-negative integer or None")
        if latency < 0:
            raise ValueError("latency must be non-negative")
        if meeting_daily_cap is not None and (
            isinstance(meeting_daily_cap, bool) or not isinstance(meeting_daily_cap, int) or meeting_daily_cap < 0
        ):
            raise ValueError("meeting_daily_cap must be a non-negative integer or None")
        if meeting_cap_style not in CAP_STYLES:
            raise ValueError(f"meeting_cap_style must be one of {CAP_STYLES}")
        self.clock = clock
        self.token_ttl = token_ttl
        self.limits: dict[str, float | None] = merged
        self.daily_limit = daily_limit
        self.latency = float(latency)
        self.qps_retry_after = qps_retry_after
        self.meeting_daily_cap = meeting_daily_cap
        self.meeting_cap_style = meeting_cap_style
        meeting_operations()  # the documented request schemas (the fixture) must be there before any request
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
        self._buckets: dict[tuple[str, str], list[float]] = {}
        self._daily: dict[str, tuple[int, int]] = {}
        self._host_daily: dict[tuple[str, str], tuple[int, int]] = {}  # (account, host id) -> (UTC day, requests)
        self._secrets: set[str] = set()  # meeting passcodes and start URLs handed out (for leak checks)

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

    def reset(self) -> None:
        """Clear records, faults and rate-limit state; keep accounts, issued tokens and data."""
        super().reset()
        with self._lock:
            self._token_requests.clear()
            self._api_requests.clear()
            self._throttled = 0
            self._buckets.clear()
            self._daily.clear()
            self._host_daily.clear()

    def _next_api_fault(self, raw_path: str) -> Fault | None:
        """The first pending API fault this request consumes (one with ``path_contains`` waits for its path)."""
        with self._lock:
            for i, f in enumerate(self._faults):
                if not f.oauth and (f.path_contains is None or f.path_contains in raw_path):
                    return self._faults.pop(i)
        return None

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

    # ---- control routes (state, reset and faults come from SimulatorBase) ----
    def _control_routes(self) -> dict:
        routes = super()._control_routes()
        routes["revoke"] = ("POST", self._control_revoke)
        routes["advance"] = ("POST", self._control_advance)
        routes["meetings"] = ("GET", self._control_meetings)
        return routes

    def _control_revoke(self, body: bytes) -> tuple[int, Any]:
        data = control_json(body)
        data = {} if data is None else data
        account = data.get("account_id") if isinstance(data, dict) else None
        if not isinstance(data, dict) or (account is not None and not isinstance(account, str)):
            raise ValueError('expected {} or {"account_id": "..."}')
        return 200, {"status": True, "revoked": self.revoke_tokens(account)}

    def _control_advance(self, body: bytes) -> tuple[int, Any]:
        data = control_json(body)
        seconds = data.get("seconds") if isinstance(data, dict) else None
        if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or seconds < 0:
            raise ValueError('expected {"seconds": <non-negative number>}')
        try:
            self.advance(seconds)
        except RuntimeError as exc:
            raise ControlError(409, str(exc)) from None
        return 200, {"status": True, "now": self.clock()}

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
        timezone: str = "UTC",  # noqa: A002 - Zoom's field name; the default of the user's meetings
    ) -> dict:
        if not isinstance(email, str) or "@" not in email:
            raise ValueError("email must be an email address")
        if timezone not in _zones():
            raise ValueError(f"unknown timezone {timezone!r}")
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
                "pmi": 5_000_000_000
                + int.from_bytes(hashlib.sha256(uid.encode()).digest()[:3], "big") * 7
                + acct.pmi_seq,
                "timezone": timezone,
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

    def remove_user(self, account_id: str, email: str) -> None:
        """Delete a user with every meeting they host (and its instances), as deleting a Zoom user does."""
        with self._lock:
            acct = self._account(account_id)
            user = self._find_user(acct, email)
            if user is None:
                raise ValueError(f"no user with email {email!r} in account {account_id!r}")
            acct.users.remove(user)
            for meeting_id in [m for m, meeting in acct.meetings.items() if meeting["host_id"] == user["id"]]:
                for instance in acct.meetings.pop(meeting_id).get("instances", []):
                    acct.instances.pop(instance, None)

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
            instance = {
                "uuid": uuid,
                "meeting_id": meeting_id,
                "start_time": _iso(start_ts),
                "start_ts": start_ts,
                "participants": rows,
            }
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
        row.setdefault(
            "role",
            "host" if row["user_email"] and row["user_email"].lower() == meeting["host_email"].lower() else "attendee",
        )
        for k, v in _METRICS_DEFAULTS.items():
            row.setdefault(k, v)
        return row

    @staticmethod
    def _public_meeting(meeting: dict) -> dict:
        out = {k: v for k, v in meeting.items() if k not in ("instances",)}
        out["instances"] = list(meeting["instances"])
        return copy.deepcopy(out)

    # ---- internals: connections, records, faults ---------------------------
    def _count_throttled(self) -> None:
        with self._lock:
            self._throttled += 1

    def _state(self) -> dict:
        with self._lock:
            return {
                "token_requests": dict(self._token_requests),
                "api_requests": len(self._api_requests),
                "throttled": self._throttled,
                "faults_pending": self._pending_faults(),
            }

    def _next_midnight(self) -> float:
        return (math.floor(self.clock() / DAY) + 1) * DAY

    def _default_fault_body(self, status: int, *, oauth: bool) -> dict:
        if oauth:
            if status == 401:
                return _oauth_err("Invalid client_id or client_secret", "invalid_client")
            if status == 429:
                return _oauth_err("Too many requests", "too_many_requests")
            return _oauth_err(reason(status), "server_error" if status >= 500 else "invalid_request")
        if status == 401:
            return _err(124, MSG_INVALID_TOKEN)
        if status == 429:
            return _err(429, MSG_QPS)
        return _err(status, reason(status))

    @staticmethod
    def _match_all(raw_path: str) -> list[tuple[Route, dict[str, str]]]:
        """Every route (any method) whose template matches the raw path, with its raw path parameters."""
        rest = raw_path[len(API_PREFIX) :]
        if not rest.startswith("/"):
            return []
        segs = rest[1:].split("/")
        found = []
        for route in _ALL_ROUTES:
            tmpl = route.segments
            if len(tmpl) != len(segs):
                continue
            params: dict[str, str] = {}
            for t, seg in zip(tmpl, segs):
                if t.startswith("{"):
                    if not seg:
                        break
                    params[t[1:-1]] = seg
                elif t != seg:
                    break
            else:
                found.append((route, params))
        return found

    @classmethod
    def _match(cls, raw_path: str, method: str = "GET") -> tuple[Route, dict[str, str]] | None:
        """The route for ``method`` on that path (else the path's first route, for the records), or None."""
        found = cls._match_all(raw_path)
        for route, params in found:
            if route.method == method:
                return route, params
        return found[0] if found else None

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
        matched = self._match(raw_path, method)
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
        return (
            200,
            {
                "access_token": token,
                "token_type": "bearer",
                "expires_in": self.token_ttl - 1,
                "scope": client.scope,
                "api_url": self.base_url,
            },
            no_store,
        )

    # ---- API ---------------------------------------------------------------
    def _serve_api(
        self, method: str, raw_path: str, query: str, headers, record: dict, body: bytes = b""
    ) -> tuple[int, Any, dict]:
        found = self._match_all(raw_path)
        if not found:
            return 404, _err(404, f"No such API endpoint: {raw_path[len(API_PREFIX) :] or '/'}"), {}
        route, raw_params = next(((r, p) for r, p in found if r.method == method), (None, {}))
        if route is None:
            return 405, _err(405, "Method Not Allowed"), {"Allow": ", ".join(r.method for r, _ in found)}
        info, denied = self._authorize(route, headers)
        if denied is not None:
            return denied
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
                handler = getattr(self, route.handler)
                if route.method == "GET":
                    status, out, more = 200, handler(acct, route, params, q), {}
                else:
                    status, out, more = handler(acct, route, params, q, body, headers)
        except _ApiError as e:
            if e.status == 429:
                self._count_throttled()
            return e.status, e.body, {**extra, **e.headers}
        return status, out, {**extra, **more}

    def _authorize(self, route: Route, headers) -> tuple[_Token | None, tuple[int, Any, dict] | None]:
        """The bearer token's info, or the answer refusing it (invalid, expired, or without the scope)."""
        _, info = self._bearer(headers)
        if info is None:
            return None, (401, _err(124, MSG_INVALID_TOKEN), {})
        if self.clock() >= info.expires_at:
            return None, (401, _err(124, MSG_EXPIRED_TOKEN), {})
        if not (info.scopes & route.scopes):
            wanted = ", ".join(sorted(route.scopes))
            return None, (400, _err(4711, f"Invalid access token, does not contain scopes:[{wanted}]."), {})
        return info, None

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
                    return (
                        429,
                        _err(429, MSG_DAILY),
                        {
                            "X-RateLimit-Category": cat_header,
                            "X-RateLimit-Type": "Daily-limit",
                            "X-RateLimit-Limit": str(self.daily_limit),
                            "X-RateLimit-Remaining": "0",
                            "Retry-After": _http_date((day + 1) * DAY),
                        },
                    )
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
        size = self._page_size(q)
        now = self.clock()
        token = q.get("next_page_token", "")
        state: _PageState | None = None
        if token:
            state = self._pages.get(token)
            if (
                state is None
                or state.account_id != acct.account_id
                or state.path_key != path_key
                or now >= state.expires_at
            ):
                raise _ApiError(400, _err(300, MSG_PAGE_TOKEN))
            all_rows, offset = state.rows, state.offset
        else:
            all_rows, offset = rows(), 0
        for t in [t for t, s in self._pages.items() if now >= s.expires_at]:
            del self._pages[t]
        chunk = all_rows[offset : offset + size]
        next_offset = offset + len(chunk)
        next_token = ""
        if next_offset < len(all_rows):
            # a retried page (same token, same size) gets the same next token while that one lives
            previous = state.next_tokens.get(size) if state is not None else None
            if previous is not None and previous in self._pages:
                next_token = previous
            else:
                next_token = secrets.token_urlsafe(26)
                self._pages[next_token] = _PageState(
                    acct.account_id, path_key, all_rows, next_offset, now + PAGE_TOKEN_TTL
                )
                if state is not None:
                    state.next_tokens[size] = next_token
        total = len(all_rows)
        out: dict[str, Any] = {"page_count": math.ceil(total / size) if total else 0}
        if page_number:
            out["page_number"] = offset // size + 1
        out.update(
            {
                "page_size": size,
                "total_records": total,
                "next_page_token": next_token,
                route.list_key: copy.deepcopy(chunk),
            }
        )
        return out

    @staticmethod
    def _page_size(q: dict[str, str]) -> int:
        size_text = q.get("page_size", "")
        if size_text == "":
            return DEFAULT_PAGE_SIZE
        if not _DIGITS.match(size_text) or int(size_text) < 1:
            raise _validation("page_size")
        return min(int(size_text), MAX_PAGE_SIZE)

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
            keys.add(
                row.get("participant_user_id")
                or row.get("user_email", "").lower()
                or row.get("name")
                or row.get("user_id")
            )
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
            acct,
            route,
            ("users", status),
            q,
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
            if kind in ("upcoming", "upcoming_meetings") and not self._still_ahead(m, start, now):
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
                    out.append({k: m[k] for k in MEETING_LIST_FIELDS if m.get(k) is not None})
            return out

        return self._page(acct, route, ("meetings", user["id"], kind, date_from, date_to), q, rows, page_number=True)

    @staticmethod
    def _still_ahead(m: dict, start: float | None, now: float) -> bool:
        """Not over yet: a recurring meeting with an occurrence still to end (or none computed), or a
        one-off that has not ended."""
        if m["type"] in (3, 8):
            rows = m.get("occurrences")
            return not rows or any(_parse_time(o["start_time"], "start_time") + o["duration"] * 60 > now for o in rows)
        return start is not None and start + m["duration"] * 60 > now

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
            acct,
            route,
            ("registrants", meeting["id"], status),
            q,
            lambda: [dict(r) for r in meeting["registrants"] or [] if r["status"] == status],
            page_number=True,
        )

    # ---- meetings: test hooks ----------------------------------------------
    def meetings(self, account_id: str, host: str | None = None) -> list[dict]:
        """Copies of the account's meetings (of one host, by user ID or email), as stored: secrets included."""
        with self._lock:
            acct = self._account(account_id)
            user = self._find_user(acct, host) if host is not None else None
            if host is not None and user is None:
                raise KeyError(f"no user {host!r} in account {account_id!r}")
            rows = [m for m in acct.meetings.values() if user is None or m["host_id"] == user["id"]]
            return [self._public_meeting(m) for m in sorted(rows, key=lambda m: m["id"])]

    def host_daily_count(self, account_id: str, user: str) -> int:
        """Meeting create/update requests charged to this host (user ID or email) in today's UTC day."""
        with self._lock:
            found = self._find_user(self._account(account_id), user)
            if found is None:
                raise KeyError(f"no user {user!r} in account {account_id!r}")
            day, count = self._host_daily.get((account_id, found["id"]), (None, 0))
            return count if day == math.floor(self.clock() / DAY) else 0

    def issued_secrets(self) -> set[str]:
        """Every meeting passcode, H.323 passcode, start_url and zak token the simulator has handed out."""
        with self._lock:
            return set(self._secrets)

    def _control_meetings(self, body: bytes) -> tuple[int, Any]:
        with self._lock:
            day = math.floor(self.clock() / DAY)
            rows = [
                {
                    "account_id": a.account_id,
                    "id": m["id"],
                    "host_id": m["host_id"],
                    "topic": m["topic"],
                    "type": m["type"],
                    "start_time": m["start_time"],
                    "timezone": m["timezone"],
                    "occurrences": len(m.get("occurrences") or []),
                }
                for a in self._accounts.values()
                for m in sorted(a.meetings.values(), key=lambda m: m["id"])
            ]
            counts = {f"{acct}/{host}": n for (acct, host), (d, n) in sorted(self._host_daily.items()) if d == day}
        return 200, {"meetings": rows, "host_daily": counts}

    # ---- meetings: the per-host daily cap ------------------------------------
    def _charge_host(self, acct: _Account, host: dict) -> None:
        """Count one create/update request against the host's daily cap, or refuse it (429) once reached."""
        if self.meeting_daily_cap is None:
            return
        now = self.clock()
        day = math.floor(now / DAY)
        key = (acct.account_id, host["id"])
        seen, count = self._host_daily.get(key, (day, 0))
        count = count if seen == day else 0
        if count >= self.meeting_daily_cap:
            raise _ApiError(429, _err(429, MSG_USER_DAILY.format(limit=self.meeting_daily_cap)), self._cap_headers(day))
        self._host_daily[key] = (day, count + 1)

    def _cap_headers(self, day: int) -> dict:
        if self.meeting_cap_style != "documented":
            return {}  # as observed: the message alone says it (no X-RateLimit-Type, no Retry-After)
        return {
            "X-RateLimit-Type": "Daily-limit",
            "X-RateLimit-Limit": str(self.meeting_daily_cap),
            "X-RateLimit-Remaining": "0",
            "Retry-After": _iso((day + 1) * DAY),  # the rate-limit page's example: an ISO time, 00:00 UTC
        }

    # ---- meetings: stored state ----------------------------------------------
    def _new_meeting_id(self) -> int:
        taken = {mid for a in self._accounts.values() for mid in a.meetings}
        while True:
            candidate = int(secrets.choice("89") + _digits(10))  # 11 digits, like Zoom's
            if candidate not in taken:
                return candidate

    def _set_passcode(self, m: dict, password: str) -> None:
        m["password"] = password
        m["h323_password"] = (password if password.isdigit() else _digits(8)) if password else ""
        m["encrypted_password"] = f"{secrets.token_urlsafe(24)}.1" if password else ""
        m["join_url"] = f"https://zoom.us/j/{m['id']}" + (f"?pwd={m['encrypted_password']}" if password else "")
        self._secrets.update(v for v in (m["password"], m["h323_password"]) if v)

    def _start_url(self, m: dict) -> str:
        """A fresh start_url on every answer (Zoom's expire after two hours; GET gives a new one)."""
        zak = _zak()
        url = f"https://zoom.us/s/{m['id']}?zak={zak}"
        self._secrets.update((zak, url))
        return url

    def _apply_details(self, m: dict, body: dict) -> None:
        """Fields without scheduling rules: topic, agenda, pre_schedule, settings, tracking_fields, password."""
        for key in ("topic", "agenda", "pre_schedule"):
            if key in body:
                m[key] = body[key]
        declared = meeting_operations()[GET_OP]["responses"]["200"]["properties"]["settings"]["properties"]
        m["settings"] = dict(m.get("settings") or DEFAULT_MEETING_SETTINGS)
        m["settings"].update({k: v for k, v in body.get("settings", {}).items() if k in declared})
        if "tracking_fields" in body:
            m["tracking_fields"] = [{k: t[k] for k in ("field", "value") if k in t} for t in body["tracking_fields"]]
        if "password" in body:
            self._set_passcode(m, body["password"])

    def _schedule(self, m: dict, body: dict, host: dict, *, updating: bool) -> list[str]:
        """Set type, timezone, duration, start_time, recurrence and occurrences; returns the invalid fields."""
        kind = body.get("type", m.get("type", 2))
        tz_name = body.get("timezone") or m.get("timezone") or host.get("timezone") or "UTC"
        tz = zoneinfo.ZoneInfo(tz_name)
        start = _local_start(body["start_time"], tz) if "start_time" in body else None
        if start is not None and updating and start.timestamp() <= self.clock():
            start = None  # "a date in the past: the API ignores this value"
        if start is None and m.get("start_time"):
            start = datetime.fromtimestamp(_parse_time(m["start_time"], "start_time"), tz)
        if start is None:
            start = datetime.fromtimestamp(math.floor(self.clock()), tz)
        m.update(type=kind, timezone=tz_name, duration=body.get("duration", m.get("duration", 60)))
        if kind != 8:
            for key in ("recurrence", "occurrences"):
                m.pop(key, None)
            m["settings"].pop("registration_type", None)
            m["start_time"] = _utc_text(start)
            return []
        rec = body.get("recurrence", m.get("recurrence"))
        if not isinstance(rec, dict):
            return ["recurrence"]  # a recurring meeting with a fixed time needs its recurrence
        try:
            starts = occurrence_starts(start, rec)
        except ValueError:
            return ["recurrence.end_date_time" if "end_date_time" in rec else "recurrence"]
        rec = {k: v for k, v in rec.items() if k in _RECURRENCE_KEYS}
        rec.setdefault("repeat_interval", 1)
        if "end_date_time" not in rec:
            rec.setdefault("end_times", 1)
        m.update(recurrence=rec, occurrences=_occurrence_rows(starts, m["duration"]), start_time=_utc_text(starts[0]))
        m["settings"].setdefault("registration_type", 1)
        return []

    def _meeting_answer(self, m: dict, fields: tuple[str, ...]) -> dict:
        out: dict[str, Any] = {}
        for key in fields:
            value = self._start_url(m) if key == "start_url" else m.get(key)
            if key == "settings" and value is None:
                value = dict(DEFAULT_MEETING_SETTINGS)
            if key == "status" and value is None:
                value = "waiting"
            if value is None or (value == "" and key in ("h323_password", "encrypted_password")):
                continue
            out[key] = copy.deepcopy(value)
        return out

    # ---- meetings: endpoint handlers (called with the lock held) ------------
    def _meeting_by_path(self, acct: _Account, params: dict, message: str) -> dict:
        value, routable = params["meetingId"]
        if not routable or not _DIGITS.match(value) or int(value) not in acct.meetings:
            raise _ApiError(404, _err(3001, message.format(value)))
        return acct.meetings[int(value)]

    def _scheduler_for(self, acct: _Account, requester: dict, body: dict) -> tuple[dict, str | None]:
        """The meeting's host (``schedule_for``, else the requester) and the assistant_id, if any."""
        if "schedule_for" not in body:
            return requester, None
        owner = self._find_user(acct, body["schedule_for"])
        if owner is None:
            raise _ApiError(400, _err(300, MSG_SCHEDULE_FOR))
        return owner, (requester["id"] if owner["id"] != requester["id"] else None)

    def _checked_body(self, raw: bytes, headers, operation: str) -> dict:
        body = _parse_json_object(raw, headers)
        errors = _body_errors(body, meeting_operations()[operation]["request_body"])
        if errors:
            raise _validation_failed(errors)
        if body.get("type") in (1, 3):
            raise _ApiError(
                501, _err(501, "The simulator models scheduled (2) and recurring fixed-time (8) meetings only.")
            )
        return body

    def _h_create_meeting(self, acct, route, params, q, raw, headers) -> tuple[int, Any, dict]:
        value, _ = params["userId"]
        requester = self._find_user(acct, value)
        if requester is None:
            raise _ApiError(404, _err(1001, f"User {value} not exist or not belong to this account."))
        self._charge_host(acct, requester)  # counted before the body is looked at
        body = self._checked_body(raw, headers, CREATE_OP)
        host, assistant = self._scheduler_for(acct, requester, body)
        m: dict[str, Any] = {
            "uuid": base64.b64encode(secrets.token_bytes(16)).decode("ascii"),
            "id": self._new_meeting_id(),
            "host_id": host["id"],
            "host_email": host["email"],
            "topic": "Zoom Meeting",
            "agenda": "",
            "created_at": _iso(self.clock()),
            "status": "waiting",
            "pre_schedule": False,
            "registrants": None,
            "instances": [],
        }
        if assistant is not None:
            m["assistant_id"] = assistant
        self._apply_details(m, body)
        if "password" not in body:
            self._set_passcode(m, _passcode())
        errors = self._schedule(m, body, host, updating=False)
        if errors:
            raise _validation_failed(errors)
        acct.meetings[m["id"]] = m
        return 201, self._meeting_answer(m, CREATE_ANSWER_FIELDS), {}

    def _h_get_meeting(self, acct, route, params, q) -> dict:
        if "occurrence_id" in q:
            raise _ApiError(501, _err(501, "The simulator does not model single occurrences (occurrence_id)."))
        show = q.get("show_previous_occurrences", "")
        if show not in ("", "true", "false"):
            raise _validation("show_previous_occurrences")
        m = self._meeting_by_path(acct, params, "Meeting {} is not found or has expired.")
        out = self._meeting_answer(m, GET_ANSWER_FIELDS)
        if "occurrences" in out and show != "true":  # by default only the occurrences not yet over
            now = self.clock()
            out["occurrences"] = [
                o for o in out["occurrences"] if _parse_time(o["start_time"], "start_time") + o["duration"] * 60 > now
            ]
        return out

    def _h_update_meeting(self, acct, route, params, q, raw, headers) -> tuple[int, Any, dict]:
        m = self._meeting_by_path(acct, params, "A meeting with this {} is not found or has expired.")
        if "occurrence_id" in q:
            raise _ApiError(501, _err(501, "The simulator does not model single occurrences (occurrence_id)."))
        host = self._find_user(acct, m["host_id"])
        if host is None:
            raise _ApiError(404, _err(1001, f"User does not exist: {m['host_id']}."))
        self._charge_host(acct, host)  # counted before the body is looked at
        body = self._checked_body(raw, headers, UPDATE_OP)
        owner, assistant = self._scheduler_for(acct, host, body)
        updated = copy.deepcopy(m)
        updated.update(host_id=owner["id"], host_email=owner["email"])
        if assistant is not None:
            updated["assistant_id"] = assistant
        self._apply_details(updated, body)
        if _SCHEDULE_KEYS & set(body):  # an update that leaves the schedule alone does not recompute it
            errors = self._schedule(updated, body, owner, updating=True)
            if errors:
                raise _validation_failed(errors)
        m.clear()
        m.update(updated)
        return 204, None, {}


# --------------------------------------------------------------------------- demo data
DEMO_UUIDS = {
    "leading_slash": "/kLm3nOp4QrS5tUv6wXy7A==",
    "double_slash": "Qw8//eRtYuIoPaSdFgHjKl==",
    "plain": "Zx3cVbNmAsDfGhJkLqWeRt==",
    "single_participant": "OnlyTaHere1234567890Ab==",
    "pair": "Pq7rSt8uVw9xYz0aBc1dEf==",
}


def _demo_row(name: str, email_: str, join: str, leave: str) -> dict:
    return {"name": name, "user_email": email_, "join_time": join, "leave_time": leave}


def _seed_lecture(sim: ZoomSimulator, account_id: str, instructor: dict, students: list[tuple[str, str]]) -> int:
    row = _demo_row
    lecture = 81234567890
    sim.add_meeting(
        account_id,
        meeting_id=lecture,
        host_email=instructor["email"],
        topic="CS101 Lecture",
        type=8,
        start_time="2024-09-02T09:00:00Z",
        duration=90,
        registrants=[
            {"email": students[0][1], "first_name": "Student", "last_name": "1001"},
            {"email": students[1][1], "first_name": "Student", "last_name": "1002"},
            {"email": students[2][1], "first_name": "Student", "last_name": "1003"},
            {"email": students[3][1], "first_name": "Student", "last_name": "1004", "status": "pending"},
            {"email": "spam@elsewhere.example.com", "first_name": "Spam", "last_name": "Bot", "status": "denied"},
        ],
    )

    host = ("Ada Lovelace", instructor["email"])
    sim.add_instance(
        account_id,
        lecture,
        uuid=DEMO_UUIDS["leading_slash"],
        start_time="2024-09-02T09:00:00Z",
        participants=[
            row(*host, "2024-09-02T08:58:00Z", "2024-09-02T10:31:00Z"),
            row(*students[0], "2024-09-02T09:01:00Z", "2024-09-02T09:40:00Z"),
            row(*students[0], "2024-09-02T09:42:00Z", "2024-09-02T10:30:00Z"),  # rejoined
            row(*students[1], "2024-09-02T09:03:00Z", "2024-09-02T10:30:00Z"),
        ],
    )
    sim.add_instance(
        account_id,
        lecture,
        uuid=DEMO_UUIDS["double_slash"],
        start_time="2024-09-09T09:00:00Z",
        participants=[
            row(*host, "2024-09-09T08:59:00Z", "2024-09-09T10:30:00Z"),
            row(*students[1], "2024-09-09T09:00:00Z", "2024-09-09T10:30:00Z"),
            row(*students[2], "2024-09-09T09:10:00Z", "2024-09-09T10:00:00Z"),
        ],
    )
    sim.add_instance(
        account_id,
        lecture,
        uuid=DEMO_UUIDS["plain"],
        start_time="2024-09-16T09:00:00Z",
        participants=[
            row(*host, "2024-09-16T08:55:00Z", "2024-09-16T10:30:00Z"),
            row(*students[0], "2024-09-16T09:00:00Z", "2024-09-16T10:30:00Z"),
            row(*students[1], "2024-09-16T09:02:00Z", "2024-09-16T10:30:00Z"),
            row(*students[2], "2024-09-16T09:05:00Z", "2024-09-16T10:15:00Z"),
            row("", "", "2024-09-16T09:20:00Z", "2024-09-16T09:50:00Z"),  # HIPAA-blanked guest
        ],
    )

    return lecture


def _seed_office_hours(sim: ZoomSimulator, account_id: str, ta: dict, students: list[tuple[str, str]]) -> int:
    row = _demo_row
    office = 82345678901
    sim.add_meeting(
        account_id,
        meeting_id=office,
        host_email=ta["email"],
        topic="CS101 Office Hours",
        type=8,
        start_time="2024-09-03T15:00:00Z",
        duration=60,
    )
    sim.add_instance(
        account_id,
        office,
        uuid=DEMO_UUIDS["single_participant"],
        start_time="2024-09-03T15:00:00Z",
        participants=[row("Alan Turing", ta["email"], "2024-09-03T15:00:00Z", "2024-09-03T16:00:00Z")],
    )
    sim.add_instance(
        account_id,
        office,
        uuid=DEMO_UUIDS["pair"],
        start_time="2024-09-10T15:00:00Z",
        participants=[
            row("Alan Turing", ta["email"], "2024-09-10T15:00:00Z", "2024-09-10T16:00:00Z"),
            row(*students[4], "2024-09-10T15:10:00Z", "2024-09-10T15:35:00Z"),
        ],
    )

    return office


def _seed_review(sim: ZoomSimulator, account_id: str, instructor: dict, students: list[tuple[str, str]]) -> int:
    review = 83456789012
    sim.add_meeting(
        account_id,
        meeting_id=review,
        host_email=instructor["email"],
        topic="CS101 Final Review",
        type=2,
        start_time="2030-01-15T14:00:00Z",
        duration=120,
        registrants=[
            {"email": students[0][1], "first_name": "Student", "last_name": "1001"},
            {"email": students[4][1], "first_name": "Student", "last_name": "1005"},
            {"email": students[2][1], "first_name": "Student", "last_name": "1003", "status": "pending"},
        ],
    )
    return review


def seed_demo(sim: ZoomSimulator, account_id: str) -> dict:
    """Fill a small deterministic data set into an account already added with ``add_account``.

    Two users; a recurring lecture (registration on) with three past instances whose UUIDs begin with '/',
    contain '//', and are plain; recurring office hours with a single-participant instance and a two-person
    one; a scheduled review session in the future with registrants and no instance.  Returns the identifiers.
    """
    instructor = sim.add_user(
        account_id,
        user_id="DemoInstructorAda00001",
        email="ada.lovelace@campus.example.edu",
        first_name="Ada",
        last_name="Lovelace",
        created_at="2023-08-01T00:00:00Z",
    )
    ta = sim.add_user(
        account_id,
        user_id="DemoTeachingAlan000002",
        email="alan.turing@campus.example.edu",
        first_name="Alan",
        last_name="Turing",
        created_at="2023-08-02T00:00:00Z",
    )
    students = [(f"Student {n}", f"s{n}@students.campus.example.edu") for n in range(1001, 1006)]

    lecture = _seed_lecture(sim, account_id, instructor, students)
    office = _seed_office_hours(sim, account_id, ta, students)
    review = _seed_review(sim, account_id, instructor, students)
    return {
        "account_id": account_id,
        "users": {"instructor": instructor["id"], "ta": ta["id"]},
        "emails": {"instructor": instructor["email"], "ta": ta["email"]},
        "meetings": {"lecture": lecture, "office_hours": office, "review": review},
        "instances": dict(DEMO_UUIDS),
    }


# --------------------------------------------------------------------------- CLI
def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description="Strict local Zoom S2S OAuth + Meeting API simulator")
    parser.add_argument(
        "--account",
        action="append",
        required=True,
        metavar="ACCOUNT_ID:CLIENT_ID",
        help="an S2S OAuth app (repeatable); the secret comes from ZOOM_SIM_CLIENT_SECRET",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--seed-demo", action="store_true", help="fill a small deterministic demo data set")
    parser.add_argument("--token-ttl", type=int, default=3600)
    parser.add_argument("--daily-limit", type=int, default=None, help="Heavy requests per UTC day per account")
    parser.add_argument("--latency", type=float, default=0.0, help="seconds before each API answer")
    parser.add_argument("--unlimited", action="store_true", help="no QPS limits")
    parser.add_argument(
        "--scope",
        default=DEFAULT_SCOPE,
        help=f"the apps' scopes (space-separated); provisioning needs meeting:write:admin, e.g. {PROVISIONING_SCOPE!r}",
    )
    parser.add_argument(
        "--meeting-daily-cap",
        type=int,
        default=MEETING_DAILY_CAP,
        help="meeting create/update requests per host per UTC day (-1: no cap)",
    )
    parser.add_argument(
        "--meeting-cap-style",
        choices=CAP_STYLES,
        default="observed",
        help="the cap's 429: the message only (observed) or with X-RateLimit-*/Retry-After",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
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
        token_ttl=args.token_ttl,
        host=args.host,
        port=args.port,
        daily_limit=args.daily_limit,
        latency=args.latency,
        limits=dict.fromkeys(CATEGORIES) if args.unlimited else None,
        meeting_daily_cap=None if args.meeting_daily_cap < 0 else args.meeting_daily_cap,
        meeting_cap_style=args.meeting_cap_style,
    )
    for account_id, client_id in accounts:
        sim.add_account(account_id, client_id, secret, scope=args.scope)
        if args.seed_demo:
            seed_demo(sim, account_id)
    sim.serve_until_signalled()
    return 0


if __name__ == "__main__":
    sys.exit(main())
