"""The one Zoom REST client every consumer uses.

* The token comes from the token secret (kept fresh by ``token_refresh``) through a
  short cache; this client never calls Zoom's OAuth endpoint and never sees the
  client credentials. Its ``api_url`` is the base (accounts can be regional).
* 401: the secret is re-read once (forced past the cache) and the call retried once.
* 429: ``Retry-After`` (seconds or an HTTP date) is honoured and the category is paused
  for every thread; a ``Daily-limit`` 429 raises :class:`DailyLimitReached` with the
  time to resume instead of spinning.
* 5xx, connection errors and timeouts: bounded retries with backoff and jitter
  (urllib3's ``Retry`` on the session's adapter; GETs are idempotent).
* ``paginate`` follows ``next_page_token`` (page_size up to 300).
* Meeting UUIDs that begin with ``/`` or contain ``//`` are double URL-encoded in paths.
* A rate limiter shared by threads spaces requests per rate-limit category, so callers
  can run concurrently without tripping 429s.
"""

from __future__ import annotations

import email.utils
import random
import re
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, Callable, Iterator, Protocol
from urllib.parse import quote

MAX_PAGE_SIZE = 300
# Requests per second by category: Zoom's Pro plan (Business, Education and up: 80/60/40).
PRO_RATES = {"light": 30.0, "medium": 20.0, "heavy": 10.0}
BUSINESS_RATES = {"light": 80.0, "medium": 60.0, "heavy": 40.0}

_CATEGORIES = (
    (re.compile(r"^/(report|metrics)/"), "heavy"),
    (re.compile(r"^/users/[^/]+$"), "light"),
    (re.compile(r"^/users/[^/]+/meetings$"), "medium"),
    (re.compile(r"^/(past_meetings|meetings)/"), "medium"),
    (re.compile(r"^/users$"), "medium"),
)


def category_of(path: str) -> str:
    """Zoom's rate-limit category for an API path (``/v2`` excluded); unknown paths count as medium."""
    for pattern, category in _CATEGORIES:
        if pattern.search(path):
            return category
    return "medium"


def quote_uuid(uuid: str) -> str:
    """A meeting UUID for a path segment: double-encoded when it begins with / or contains //."""
    once = quote(uuid, safe="")
    return quote(once, safe="") if uuid.startswith("/") or "//" in uuid else once


class ZoomError(Exception):
    def __init__(self, status: int | None, message: str, code: Any = None):
        super().__init__(f"Zoom API {status}: {message}" + (f" (code {code})" if code is not None else ""))
        self.status, self.code, self.message = status, code, message


class DailyLimitReached(ZoomError):
    """The account's daily quota for a category is spent: stop and resume at ``resume_after``."""

    def __init__(self, category: str, resume_after: datetime):
        super().__init__(429, f"daily rate limit reached for {category} requests; resume after "
                              f"{resume_after.isoformat(timespec='seconds')}")
        self.category, self.resume_after = category, resume_after


@dataclass(frozen=True)
class Token:
    access_token: str = field(repr=False)
    api_url: str
    expires_at: float  # epoch seconds


class TokenSource(Protocol):
    def token(self, *, force: bool = False) -> Token: ...


class SecretTokenSource:
    """Reads one account's token secret (written by token_refresh) through a Powertools cache."""

    def __init__(self, secret_id: str, provider, *, max_age: int = 60):
        from .aws import guard_sdk_logs

        guard_sdk_logs()  # botocore would log the GetSecretValue answer, token included, at DEBUG
        self.secret_id, self._provider, self._max_age = secret_id, provider, max_age

    def token(self, *, force: bool = False) -> Token:
        value = self._provider.get(self.secret_id, transform="json", max_age=self._max_age, force_fetch=force)
        try:
            return Token(value["access_token"], value["api_url"].rstrip("/"), float(value["expires_at_epoch"]))
        except (KeyError, TypeError, ValueError, AttributeError):
            raise ZoomError(None, f"token secret {self.secret_id} holds no usable token: run the token "
                                  f"refresh (zoomops token refresh)") from None


class RateLimiter:
    """Spaces requests per category at the allowed rate, across every thread that shares it."""

    def __init__(self, rates: dict[str, float] | None = None, *, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep):
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


def _next_utc_midnight(now: datetime) -> datetime:
    return (now + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)


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
        when = when.replace(tzinfo=timezone.utc)
    return max(0.0, when.timestamp() - now)


class ZoomClient:
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
        import requests
        from urllib3.util.retry import Retry

        from .http import pooled_session

        self._tokens = tokens
        self.limiter = limiter or RateLimiter()
        if session is None:
            retry = Retry(
                total=attempts - 1, backoff_factor=backoff, backoff_jitter=backoff, backoff_max=max_wait,
                status_forcelist=(500, 502, 503, 504), allowed_methods=frozenset({"GET"}),
                # 429s are ours (category pause, daily limit): urllib3 would otherwise sleep out any
                # Retry-After itself, even a daily limit's "tomorrow 00:00 UTC".
                respect_retry_after_header=False, raise_on_status=False,
            )
            session = pooled_session(retry=retry, pool_maxsize=32)
        self._session = session
        self._timeout = (connect_timeout, read_timeout)
        self._max_429 = max_429_retries
        self._max_wait = max_wait
        self._clock, self._sleep = clock, sleep
        self._requests = requests
        self.stats = {"requests": 0, "throttled": 0, "token_rereads": 0}
        self._stats_lock = threading.Lock()

    def close(self) -> None:
        self._session.close()

    def _count(self, name: str) -> None:
        with self._stats_lock:
            self.stats[name] += 1

    def get(self, path: str, params: dict[str, Any] | None = None) -> dict:
        """GET ``/v2{path}``; ``path`` segments must already be quoted (see :func:`quote_uuid`)."""
        category = category_of(path)
        token = self._tokens.token()
        reread = False
        throttled = 0
        while True:
            self.limiter.acquire(category)
            self._count("requests")
            try:
                response = self._session.get(
                    f"{token.api_url}/v2{path}", params=params, timeout=self._timeout,
                    headers={"Authorization": f"Bearer {token.access_token}", "Accept": "application/json"},
                )
            except self._requests.RequestException as exc:  # retries spent (urllib3 Retry)
                raise ZoomError(None, f"GET {path}: {type(exc).__name__} after retries") from None
            status = response.status_code
            if status == 200:
                return response.json()
            body = _json(response)
            if status == 401 and not reread:
                reread = True  # the stored token may have been replaced since we cached it
                self._count("token_rereads")
                token = self._tokens.token(force=True)
                continue
            if status == 429:
                self._count("throttled")
                wait = parse_retry_after(response.headers.get("Retry-After"), self._clock())
                if response.headers.get("X-RateLimit-Type", "").lower() == "daily-limit":
                    now = datetime.fromtimestamp(self._clock(), timezone.utc)
                    resume = now + timedelta(seconds=wait) if wait is not None else _next_utc_midnight(now)
                    raise DailyLimitReached(category, resume)
                throttled += 1
                if throttled > self._max_429:
                    raise ZoomError(429, f"GET {path}: still rate limited after {throttled - 1} waits")
                if wait is None:  # no Retry-After: our own backoff with jitter, never past max_wait
                    wait = min(self._max_wait, 0.25 * 2 ** (throttled - 1) * random.uniform(1.0, 1.5))
                if wait > self._max_wait:
                    raise ZoomError(429, f"GET {path}: asked to wait {wait:.0f}s, over {self._max_wait:.0f}s")
                self.limiter.pause(category, wait)
                continue
            raise ZoomError(status, f"GET {path}: {body.get('message') or response.reason}", body.get("code"))

    def paginate(self, path: str, key: str, params: dict[str, Any] | None = None,
                 page_size: int = MAX_PAGE_SIZE) -> Iterator[dict]:
        """Every item under ``key`` across all pages."""
        query = dict(params or {}, page_size=min(page_size, MAX_PAGE_SIZE))
        while True:
            page = self.get(path, query)
            yield from page.get(key) or []
            token = page.get("next_page_token")
            if not token:
                return
            query["next_page_token"] = token


def _json(response) -> dict:
    try:
        data = response.json()
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}
