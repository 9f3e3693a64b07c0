"""The one Zoom REST client every consumer uses.

* The token comes from the token secret (kept fresh by ``token_refresh``) through a short cache; this
  client never calls Zoom's OAuth endpoint and never sees the client credentials. Its ``api_url`` is the
  base (accounts can be regional).
* 401: the secret is re-read once (forced past the cache) and the call retried once.
* 429: ``Retry-After`` (seconds or an HTTP date) is honoured and the category is paused for every thread;
  a ``Daily-limit`` 429 raises :class:`DailyLimitReached` with the time to resume instead of spinning.
* 5xx, connection errors and timeouts: bounded retries with backoff and jitter (urllib3's ``Retry`` on the
  session's adapter; GETs are idempotent).
* ``paginate`` follows ``next_page_token`` (page_size up to 300).
* Meeting UUIDs that begin with ``/`` or contain ``//`` are double URL-encoded in paths.
* A rate limiter shared by threads spaces requests per rate-limit category, so callers can run
  concurrently without tripping 429s.
"""

from __future__ import annotations

import email.utils
import random
import re
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol
from urllib.parse import quote

from ..clock import next_utc_midnight
from ..errors import DailyLimitReached, ZoomError
from ..http import HttpClient, TransportError, retry_policy

MAX_PAGE_SIZE = 300
# Requests per second by category: Zoom's Pro plan (Business, Education and up: 80/60/40).
PRO_RATES = {"light": 30.0, "medium": 20.0, "heavy": 10.0}
BUSINESS_RATES = {"light": 80.0, "medium": 60.0, "heavy": 40.0}

# (methods or None for any, path pattern, category), first match wins: the labels of Zoom's API reference.
_CATEGORIES = (
    (None, re.compile(r"^/(report|metrics)/"), "heavy"),
    (None, re.compile(r"^/users/[^/]+$"), "light"),
    (None, re.compile(r"^/users/[^/]+/meetings$"), "medium"),  # list (GET) and create (POST)
    ({"GET", "PATCH"}, re.compile(r"^/meetings/[^/]+$"), "light"),  # get and update a meeting
    (None, re.compile(r"^/(past_meetings|meetings)/"), "medium"),
    (None, re.compile(r"^/users$"), "medium"),
)


def category_of(path: str, method: str = "GET") -> str:
    """Zoom's rate-limit category for a call (path without ``/v2``); unknown paths count as medium."""
    for methods, pattern, category in _CATEGORIES:
        if (methods is None or method in methods) and pattern.search(path):
            return category
    return "medium"


def quote_uuid(uuid: str) -> str:
    """A meeting UUID for a path segment: double-encoded when it begins with / or contains //."""
    once = quote(uuid, safe="")
    return quote(once, safe="") if uuid.startswith("/") or "//" in uuid else once


@dataclass(frozen=True)
class Token:
    access_token: str = field(repr=False)
    api_url: str
    expires_at: float  # epoch seconds


class TokenSource(Protocol):
    def token(self, *, force: bool = False) -> Token: ...


class RateLimiter:
    """Spaces requests per category at the allowed rate, across every thread that shares it."""

    def __init__(
        self,
        rates: dict[str, float] | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ):
        self._interval = {name: 1.0 / rate for name, rate in (rates or PRO_RATES).items() if rate}
        self._next: dict[str, float] = {}
        self._lock = threading.Lock()
        self._clock, self._sleep = clock, sleep

    def acquire(self, category: str) -> float:
        """Wait for this category's next slot; returns the seconds waited."""
        interval = self._interval.get(category)
        if interval is None:
            return 0.0
        with self._lock:
            now = self._clock()
            slot = max(now, self._next.get(category, now))
            self._next[category] = slot + interval
        wait = slot - now
        if wait > 0:
            self._sleep(wait)
        return max(wait, 0.0)

    def pause(self, category: str, seconds: float) -> None:
        """Nobody sends in this category for ``seconds`` (after a 429)."""
        with self._lock:
            self._next[category] = max(self._next.get(category, 0.0), self._clock() + seconds)


def parse_retry_after(value: str | None, now: float) -> float | None:
    """Seconds to wait from a Retry-After header: whole seconds, an HTTP date or an ISO time."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        try:
            when = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, when.timestamp() - now)


class ZoomClient(HttpClient):
    def __init__(
        self,
        tokens: TokenSource,
        *,
        limiter: RateLimiter | None = None,
        session=None,
        connect_timeout: float = 3.05,
        read_timeout: float = 30.0,
        attempts: int = 4,
        backoff: float = 0.5,
        max_429_retries: int = 6,
        max_wait: float = 60.0,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ):
        # 5xx on GETs: the adapter retries. 429s are ours (category pause, daily limit): urllib3 would
        # otherwise sleep out any Retry-After itself, even a daily limit's "tomorrow 00:00 UTC".
        retry = retry_policy(
            attempts=attempts,
            backoff=backoff,
            max_wait=max_wait,
            methods={"GET"},
            statuses=(500, 502, 503, 504),
            respect_retry_after=False,
        )
        super().__init__(
            retry=retry,
            retry_in_adapter=True,
            pool_maxsize=32,
            connect_timeout=connect_timeout,
            read_timeout=read_timeout,
            session=session,
            clock=clock,
            sleep=sleep,
        )
        self._tokens = tokens
        self.limiter = limiter or RateLimiter()
        self._max_429, self._max_wait = max_429_retries, max_wait
        self.stats = {"requests": 0, "throttled": 0, "token_rereads": 0}
        self._stats_lock = threading.Lock()

    def _count(self, name: str) -> None:
        with self._stats_lock:
            self.stats[name] += 1

    def get(self, path: str, params: dict[str, Any] | None = None) -> dict:
        """GET ``/v2{path}``; ``path`` segments must already be quoted (see :func:`quote_uuid`)."""
        return self.call("GET", path, params=params) or {}

    def call(self, method: str, path: str, *, params: dict[str, Any] | None = None, json: Any = None) -> dict | None:
        """``method /v2{path}``: the JSON answer (None for 204). Only GETs are retried on 5xx and timeouts:
        a create is never sent twice blindly."""
        category = category_of(path, method)
        token = self._tokens.token()
        reread, throttled = False, 0
        while True:
            self.limiter.acquire(category)
            self._count("requests")
            headers = {"Authorization": f"Bearer {token.access_token}", "Accept": "application/json"}
            try:
                response = self.request(method, f"{token.api_url}/v2{path}", params=params, json=json, headers=headers)
            except TransportError as exc:  # retries spent (urllib3 Retry) or, for a write, the one attempt
                after = " after retries" if method == "GET" else ""
                raise ZoomError(None, f"{method} {path}: {exc.kind} ({exc.cause}){after}, host {exc.host}") from None
            status = response.status_code
            if status in (200, 201):
                return response.json()
            if status == 204:
                return None
            if status == 401 and not reread:
                reread = True  # the stored token may have been replaced since we cached it
                self._count("token_rereads")
                token = self._tokens.token(force=True)
                continue
            body = _json(response)
            if status != 429:
                raise ZoomError(status, f"{method} {path}: {_message(body, response.reason)}", body.get("code"))
            throttled += 1
            self.limiter.pause(category, self._throttled(response, f"{method} {path}", category, throttled, body))

    def _throttled(self, response, what: str, category: str, throttled: int, body: dict) -> float:
        """How long the category pauses after a 429; raises on a daily limit or when waiting is pointless."""
        self._count("throttled")
        wait = parse_retry_after(response.headers.get("Retry-After"), self.clock())
        message = str(body.get("message") or "")
        if response.headers.get("X-RateLimit-Type", "").lower() == "daily-limit" or "daily rate limit" in message:
            now = datetime.fromtimestamp(self.clock(), UTC)
            resume = now + timedelta(seconds=wait) if wait is not None else next_utc_midnight(now)
            # Zoom's cap of 100 meeting creates/updates a day is the host's ("...for this particular user"),
            # the Heavy and Resource-intensive daily caps the account's.
            per_user = "particular user" in message or "Meeting Create/Update" in message
            raise DailyLimitReached(category, resume, per_user=per_user)
        if throttled > self._max_429:
            raise ZoomError(429, f"{what}: still rate limited after {throttled - 1} waits")
        if wait is None:  # no Retry-After: our own backoff with jitter, never past max_wait
            wait = min(self._max_wait, 0.25 * 2 ** (throttled - 1) * random.uniform(1.0, 1.5))
        if wait > self._max_wait:
            raise ZoomError(429, f"{what}: asked to wait {wait:.0f}s, over {self._max_wait:.0f}s")
        return wait

    def paginate(
        self, path: str, key: str, params: dict[str, Any] | None = None, page_size: int = MAX_PAGE_SIZE
    ) -> Iterator[dict]:
        """Every item under ``key`` across all pages."""
        query = dict(params or {}, page_size=min(page_size, MAX_PAGE_SIZE))
        while True:
            page = self.get(path, query)
            yield from page.get(key) or []
            token = page.get("next_page_token")
            if not token:
                return
            query["next_page_token"] = token


def _message(body: dict, reason: str) -> str:
    """Zoom's message, with the fields a validation error (code 300) names."""
    message = str(body.get("message") or reason)
    fields = [f"{e.get('field')}: {e.get('message')}" for e in body.get("errors") or [] if isinstance(e, dict)]
    return f"{message} ({'; '.join(fields)})" if fields else message


def _json(response) -> dict:
    try:
        data = response.json()
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}
