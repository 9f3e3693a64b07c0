"""The Web Meeting API v6 client (/work/shared/reference/web-meeting-api-v6.txt).

Every call carries ``X-API-KEY``; a meeting call also ``X-USER-ID`` (the organizer it acts for). An answer
is ``{"responseCode": 0, "data": ...}`` on success; any other code, or an HTTP error, is turned into an
error here, so callers only ever see ``data``.

Retries: the session's urllib3 ``Retry`` repeats GETs (the admin lookup) on 429/5xx/timeouts, and any
call whose connection could not be opened (nothing was sent). A POST or PUT that was sent is never
repeated here: a create that timed out may still have created the account or meeting, so the caller
decides (the error says ``maybe_created``).
"""

from __future__ import annotations

import json
from typing import Any

from ...errors import ConfigError, Unavailable
from ...http import HttpClient, TransportError, retry_policy
from ...provision.spec import PlatformRefused

API_PREFIX = "/api/v6"
USER_AGENT = "zoomops/0.1 (+provision webmeeting)"
_MAX_MESSAGE = 300


class WebMeetingUnavailable(Unavailable):
    """Web Meeting failed this call (5xx, 429, no answer, an unreadable answer): the row failed, retry
    later. ``maybe_created``: a write was sent and may have taken effect, so check before re-running."""

    def __init__(
        self, message: str, *, status: int | None = None, retry_after: float | None = None, maybe_created: bool = False
    ):
        super().__init__(message)
        self.status, self.retry_after, self.maybe_created = status, retry_after, maybe_created


def _retry_after(value: str | None) -> float | None:
    return float(value) if value and value.strip().isdigit() else None


class WebMeetingClient(HttpClient):
    def __init__(
        self,
        api_key: str,
        base_url: str,
        *,
        session=None,
        connect_timeout: float = 3.05,
        read_timeout: float = 30.0,
        attempts: int = 3,
        backoff: float = 0.5,
        max_wait: float = 30.0,
    ):
        if not api_key:
            raise ConfigError("the Web Meeting API key is empty")
        if not base_url.startswith(("https://", "http://")):
            raise ConfigError("the Web Meeting base URL must start with https://")
        retry = retry_policy(
            attempts=attempts, backoff=backoff, max_wait=max_wait, methods={"GET"}, retry_after_max=int(max_wait)
        )
        super().__init__(
            retry=retry,
            retry_in_adapter=True,
            pool_maxsize=4,
            user_agent=USER_AGENT,
            connect_timeout=connect_timeout,
            read_timeout=read_timeout,
            session=session,
        )
        self.base_url = base_url.rstrip("/")
        self.__key = api_key

    def __repr__(self) -> str:  # never the key
        return f"WebMeetingClient(base_url={self.base_url!r})"

    def url(self, path: str) -> str:
        return self.base_url + API_PREFIX + path

    def call(self, method: str, path: str, *, body: dict | None = None, user_id: str | None = None) -> Any:
        """``method /api/v6{path}``: the answer's ``data``. Raises :class:`PlatformRefused` (a 4xx, or a
        responseCode other than 0) or :class:`WebMeetingUnavailable`."""
        headers = {"X-API-KEY": self.__key}
        if user_id is not None:
            headers["X-USER-ID"] = user_id
        data = None
        if body is not None:
            headers["Content-Type"] = "application/json"
            data = json.dumps(body).encode("utf-8")
        what = f"{method} {API_PREFIX}{path}"
        try:
            response = self.request(method, self.url(path), data=data, headers=headers, allow_redirects=False)
        except TransportError as exc:
            # A connect timeout means nothing left this machine; any other failure may follow a delivered write.
            sent = method != "GET" and exc.kind != "connect timeout"
            raise WebMeetingUnavailable(
                _unsent_or_maybe(f"Web Meeting {what}: {exc}", sent), maybe_created=sent
            ) from exc
        return self._verdict(what, method, response)

    def _verdict(self, what: str, method: str, response) -> Any:
        status = response.status_code
        answer = _json_object(response)
        code = answer.get("responseCode") if answer is not None else None
        message = self._message(answer, response)
        if status >= 500 or status == 429:
            maybe = method != "GET" and status != 429
            raise WebMeetingUnavailable(
                _unsent_or_maybe(f"Web Meeting {what}: HTTP {status}: {message}", maybe),
                status=status,
                retry_after=_retry_after(response.headers.get("Retry-After")),
                maybe_created=maybe,
            )
        if not 200 <= status < 300:
            suffix = f" (responseCode {code})" if code is not None else ""
            raise PlatformRefused(f"Web Meeting refused {what} (HTTP {status}){suffix}: {message}", status=status)
        if answer is None or code is None or isinstance(code, bool):
            maybe = method != "GET"
            raise WebMeetingUnavailable(
                _unsent_or_maybe(f"Web Meeting {what}: HTTP {status} without a responseCode", maybe),
                status=status,
                maybe_created=maybe,
            )
        if code != 0:
            raise PlatformRefused(f"Web Meeting refused {what} (responseCode {code}): {message}", status=status)
        return answer.get("data")

    def _message(self, answer: dict | None, response) -> str:
        """The platform's own words (the v1 convention ``responseMessage``, or ``message``), never our key."""
        text = ""
        if answer is not None:
            text = str(answer.get("responseMessage") or answer.get("message") or "")
        text = (text or response.reason or "no message").replace(self.__key, "<redacted>")
        return text[:_MAX_MESSAGE]


def _json_object(response) -> dict | None:
    try:
        answer = response.json()
    except ValueError:
        return None
    return answer if isinstance(answer, dict) else None


def _unsent_or_maybe(message: str, maybe_created: bool) -> str:
    if maybe_created:
        return message + "; the write may have been applied: check on Web Meeting before re-running this row"
    return message
