"""LTI Pro REST client: signing and the bulk disassociate call.

Signature (LTI Pro reference + Zoom's docs): the query parameters as
``name=value`` joined by ``&`` in alphabetical order of name, HMAC-SHA1 with
the LTI secret, URL-safe base64 without ``=`` padding, in ``X-Lti-Signature``.
A request is signed when it is sent, and again for every retry, so a slow
retry never carries a stale timestamp.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from json.encoder import encode_basestring
import time
from dataclasses import dataclass, field
from typing import Any, Callable
from urllib.parse import urlencode

from .settings import MAX_BATCH  # noqa: F401 - 400, the documented most per bulk call; part of this interface

BULK_DISASSOCIATE_PATH = "/meeting/bulkDisassociate"
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
USER_AGENT = "zoomops/0.1 (+bulk-disassociate)"


def signature(params: dict[str, str], secret: str) -> str:
    base = "&".join(f"{name}={params[name]}" for name in sorted(params))
    digest = hmac.new(secret.encode(), base.encode(), hashlib.sha1).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


@dataclass(frozen=True, slots=True)
class LtiCredentials:
    key: str
    secret: str = field(repr=False)
    base_url: str

    def __post_init__(self) -> None:
        for name in ("key", "secret", "base_url"):
            if not getattr(self, name):
                raise ValueError(f"LTI credentials: {name} is empty")


def encode_body(items: list[dict[str, str]], user_id: str | None) -> bytes:
    body: Any = {"userId": user_id, "meetingList": items} if user_id else items
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()


ITEM_JSON = '{{"meetingId":"{}","contextId":{},"domain":{},"courseId":{}}}'.format
_ITEM_JSON_PLAIN = '{{"meetingId":"{}","contextId":"{}","domain":"{}","courseId":"{}"}}'.format


def encode_item_columns(meetings: list[str], contexts: list[str], domains: list[str],
                        courses: list[str]) -> list[str]:
    """Each row's item as JSON text (``ITEM_JSON``); meeting IDs must be digits already."""
    if all(_json_plain("".join(column)) for column in (contexts, domains, courses)):
        return list(map(_ITEM_JSON_PLAIN, meetings, contexts, domains, courses))
    return list(map(ITEM_JSON, meetings, map(encode_basestring, contexts), map(encode_basestring, domains),
                    map(encode_basestring, courses)))


def _json_plain(text: str) -> bool:
    """True when JSON needs no escape inside ``text`` (printable, no quote or backslash)."""
    return text.isprintable() and '"' not in text and "\\" not in text
_NO_COURSE = ',"courseId":""'  # cannot occur inside an encoded string: its quotes are escaped


def encode_items(items: list[str], user_id: str | None) -> bytes:
    """The body for items already encoded with ``ITEM_JSON``: the same bytes as ``encode_body``."""
    body = ("[" + ",".join(items) + "]").replace(_NO_COURSE, "")
    if user_id:
        body = '{"userId":' + encode_basestring(user_id) + ',"meetingList":' + body + "}"
    return body.encode()


@dataclass(slots=True)
class SignedCall:
    method: str
    url: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes

    def as_record(self, batch: int) -> str:
        """One ``requests.jsonl`` line: everything sent, never the secret."""
        head = json.dumps(
            {"batch": batch, "method": self.method, "url": self.url, "query": self.query,
             "headers": self.headers},
            separators=(",", ":"),
        )
        return f'{head[:-1]},"body":{self.body.decode()}}}\n'


def sign_call(creds: LtiCredentials, body: bytes, now: float) -> SignedCall:
    query = {"key": creds.key, "timestamp": str(int(now * 1000))}
    headers = {
        "Content-Type": "application/json",
        "X-Lti-Signature": signature(query, creds.secret),
    }
    url = f"{creds.base_url.rstrip('/')}{BULK_DISASSOCIATE_PATH}?{urlencode(query)}"
    return SignedCall("PUT", url, query, headers, body)


@dataclass(slots=True)
class BatchResult:
    ok: bool
    message: str = ""
    attempts: int = 0
    status: int | None = None
    auth_failed: bool = False  # credentials refused: later batches would fail the same way
    out_of_time: bool = False  # gave up only because the caller's time is running out


def _lti_message(response) -> tuple[bool | None, str]:
    """(status flag, message) from an LTI Pro JSON answer."""
    try:
        data = response.json()
    except ValueError:
        text = response.text[:200].strip()
        return None, f"HTTP {response.status_code}, not JSON: {text!r}" if text else f"HTTP {response.status_code}"
    if not isinstance(data, dict):
        return None, f"HTTP {response.status_code}, unexpected answer {str(data)[:200]!r}"
    message = data.get("errorMessage") or data.get("result") or ""
    code = data.get("errorCode")
    if code is not None:
        message = f"{message} (errorCode {code})" if message else f"errorCode {code}"
    return data.get("status"), message


class LtiClient:
    """Sends signed bulk disassociate calls over one pooled ``requests.Session``.

    Retries (bounded, exponential backoff with jitter, ``Retry-After`` honoured)
    on connection errors, timeouts, 429 and 5xx, using urllib3's ``Retry`` for
    the policy while re-signing every attempt itself.
    """

    def __init__(
        self,
        creds: LtiCredentials,
        *,
        session=None,
        connect_timeout: float = 3.05,
        read_timeout: float = 30.0,
        attempts: int = 5,
        backoff: float = 0.5,
        max_wait: float = 120.0,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ):
        import requests  # edge dependency: the dry run and the parser never need it
        from urllib3.util.retry import Retry

        from .http import pooled_session

        self.creds = creds
        if session is None:
            # Pooling only: retries are ours, since each attempt needs a new signature.
            session = pooled_session(pool_maxsize=4, user_agent=USER_AGENT)
        self._session = session
        self._timeout = (connect_timeout, read_timeout)
        self._retry = Retry(
            total=attempts - 1,
            backoff_factor=backoff,
            backoff_jitter=backoff,
            backoff_max=max_wait,
            status_forcelist=RETRY_STATUSES,
            allowed_methods=frozenset({"PUT"}),
            respect_retry_after_header=True,
            raise_on_status=False,
        )
        self._max_wait = max_wait
        self._clock = clock
        self._sleep = sleep
        self._requests = requests

    def close(self) -> None:
        self._session.close()

    def send(self, body: bytes, time_left: Callable[[], float] | None = None) -> BatchResult:
        """Send one batch. With ``time_left``, no attempt or wait is started that could not finish
        in time: the batch comes back ``out_of_time`` instead (nothing was accepted)."""
        from urllib3.exceptions import (
            ConnectTimeoutError,
            InvalidHeader,
            MaxRetryError,
            ProtocolError,
            ReadTimeoutError,
        )

        requests = self._requests
        retry = self._retry.new()
        attempt = 0
        worst_case = sum(self._timeout)
        while True:
            if time_left is not None and attempt and time_left() < worst_case:
                return BatchResult(False, "not sent: too little time left to retry", attempt, out_of_time=True)
            attempt += 1
            call = sign_call(self.creds, body, self._clock())
            error = response = None
            try:
                response = self._session.request(
                    call.method, call.url, data=call.body, headers=call.headers, timeout=self._timeout
                )
            except requests.ConnectTimeout:
                error = ConnectTimeoutError("connect timeout")
            except requests.ReadTimeout:
                error = ReadTimeoutError(None, BULK_DISASSOCIATE_PATH, "read timeout")
            except requests.RequestException as exc:  # refused, reset, cut-off body, ...
                error = ProtocolError(f"connection error: {type(exc).__name__}")
            if response is not None:
                if response.status_code == 200:
                    flag, message = _lti_message(response)
                    if flag is True:
                        return BatchResult(True, message, attempt, 200)
                    # LTI Pro may answer a signature failure as a 200 whose errorCode is 401.
                    refused = "(errorCode 401)" in message
                    return BatchResult(False, f"LTI Pro answered: {message}", attempt, 200, auth_failed=refused)
                if response.status_code == 401:
                    _, message = _lti_message(response)
                    return BatchResult(
                        False, f"LTI Pro refused the request (HTTP 401): {message}", attempt, 401,
                        auth_failed=True,
                    )
                if response.status_code not in RETRY_STATUSES:
                    _, message = _lti_message(response)
                    return BatchResult(
                        False, f"LTI Pro answered HTTP {response.status_code}: {message}", attempt,
                        response.status_code,
                    )
            reason = str(error) if error is not None else f"HTTP {response.status_code}"
            try:
                retry = retry.increment(
                    method=call.method,
                    url=BULK_DISASSOCIATE_PATH,
                    response=response.raw if response is not None else None,
                    error=error,
                )
            except MaxRetryError:
                return BatchResult(
                    False, f"gave up after {attempt} attempts: {reason}", attempt,
                    response.status_code if response is not None else None,
                )
            wait = None
            if response is not None:
                try:
                    wait = retry.get_retry_after(response.raw)
                except InvalidHeader:
                    wait = None  # unparseable Retry-After: fall back to our backoff
            if wait is None:
                wait = retry.get_backoff_time()
            if time_left is not None and wait + worst_case > time_left():
                return BatchResult(False, f"not sent: waiting {wait:.0f}s would pass the time limit", attempt,
                                   out_of_time=True)
            if wait > self._max_wait:
                return BatchResult(
                    False,
                    f"LTI Pro asked to wait {wait:.0f}s (over the {self._max_wait:.0f}s limit): {reason}",
                    attempt,
                    response.status_code if response is not None else None,
                )
            self._sleep(wait)


