"""The LumiNUS conferencing API client: "Add meeting" (``POST /zoom/Meeting``), the one operation of
/work/shared/reference/luminus-zoom-conferencing-api.txt.

Headers as the document's samples send them: ``Ocp-Apim-Subscription-Key`` and ``Content-Type:
application/json-patch+json``, plus ``Authorization: Bearer <token>`` when a token is configured. The
document's error bodies are text (400 "Bad Request", 403 "Login user not authorized ...", 500 "Server
Error"); the API gateway in front answers a bad key with 401 JSON ``{"statusCode", "message"}``.

The 201 answer holds secrets (``meetingPassword``, ``hostKey``, a ``joinUrl`` with ``pwd=``): the client
returns it to the provider, which copies only safe fields; nothing here puts an answer body in a message.

Retries: only a connection that could not be opened is retried (nothing was sent). A POST that was sent
is never repeated here: a timed-out create may still have created the meeting.
"""

from __future__ import annotations

import json
import re
from typing import Any

from ...errors import ConfigError, Unavailable
from ...http import HttpClient, TransportError, retry_policy
from ...provision.spec import PlatformRefused

BASE_URL = "https://luminus.azure-api.net"  # the document's request URL, without /zoom/Meeting
ENDPOINT = "/zoom/Meeting"
CONTENT_TYPE = "application/json-patch+json"
USER_AGENT = "zoomops/0.1 (+provision luminus)"
_MAX_MESSAGE = 500
_PASSCODE_IN_URL = re.compile(r"(?i)(pwd=)[^&\s\"']+")


class LuminusUnavailable(Unavailable):
    """LumiNUS failed this call (5xx, 429, no answer, an unreadable 201): the row failed, retry later.
    ``maybe_created``: the POST was sent and may have created the meeting, so check before re-running."""

    def __init__(
        self, message: str, *, status: int | None = None, retry_after: float | None = None, maybe_created: bool = False
    ):
        super().__init__(message)
        self.status, self.retry_after, self.maybe_created = status, retry_after, maybe_created


class LuminusClient(HttpClient):
    def __init__(
        self,
        subscription_key: str,
        base_url: str = BASE_URL,
        *,
        token: str | None = None,
        session=None,
        connect_timeout: float = 3.05,
        read_timeout: float = 30.0,
        attempts: int = 3,
        backoff: float = 0.5,
        max_wait: float = 30.0,
    ):
        if not subscription_key:
            raise ConfigError("the LumiNUS subscription key is empty")
        if token is not None and not token:
            raise ConfigError("the LumiNUS bearer token is empty (leave it out instead)")
        if not base_url.startswith(("https://", "http://")):
            raise ConfigError("the LumiNUS base URL must start with https://")
        # urllib3 treats an empty method set as "every method": GET (which LumiNUS has none of) keeps POST
        # out of read and status retries; failed connections are retried whatever the method.
        retry = retry_policy(attempts=attempts, backoff=backoff, max_wait=max_wait, methods={"GET"})
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
        self.__key, self.__token = subscription_key, token

    def __repr__(self) -> str:  # never the key or the token
        return f"LuminusClient(base_url={self.base_url!r}, bearer={'on' if self.__token else 'off'})"

    @property
    def endpoint_url(self) -> str:
        return self.base_url + ENDPOINT

    def add_meeting(self, body: dict[str, Any]) -> dict[str, Any]:
        """``POST /zoom/Meeting``: the 201 answer (the document's "Zoom meeting object", secrets and all).
        Raises :class:`PlatformRefused` (4xx but 429) or :class:`LuminusUnavailable`."""
        headers = {"Ocp-Apim-Subscription-Key": self.__key, "Content-Type": CONTENT_TYPE}
        if self.__token:
            headers["Authorization"] = f"Bearer {self.__token}"
        data = json.dumps(body).encode("utf-8")
        try:
            response = self.request("POST", self.endpoint_url, data=data, headers=headers, allow_redirects=False)
        except TransportError as exc:
            # A connect timeout means nothing left this machine; any other failure may follow a delivered POST.
            sent = exc.kind != "connect timeout"
            raise LuminusUnavailable(_maybe(f"LumiNUS POST {ENDPOINT}: {exc}", sent), maybe_created=sent) from exc
        return self._verdict(response)

    def _verdict(self, response) -> dict[str, Any]:
        status = response.status_code
        if status in (200, 201):
            try:
                answer = response.json()
            except ValueError:
                answer = None
            if isinstance(answer, dict):
                return answer
            raise LuminusUnavailable(
                _maybe(f"LumiNUS POST {ENDPOINT}: HTTP {status} without the meeting object", True),
                status=status,
                maybe_created=True,
            )
        message = self._message(response)
        if status >= 500 or status == 429:
            maybe = status != 429
            raise LuminusUnavailable(
                _maybe(f"LumiNUS POST {ENDPOINT}: HTTP {status}: {message}", maybe),
                status=status,
                retry_after=_retry_after(response.headers.get("Retry-After")),
                maybe_created=maybe,
            )
        raise PlatformRefused(f"LumiNUS refused POST {ENDPOINT} (HTTP {status}): {message}", status=status)

    def _message(self, response) -> str:
        """The platform's words: the text body (lines joined), or the gateway's JSON ``message``; never a
        key, token or join passcode."""
        text = response.text or ""
        if "json" in response.headers.get("Content-Type", ""):
            try:
                answer = response.json()
            except ValueError:
                answer = None
            if isinstance(answer, dict) and answer.get("message"):
                text = str(answer["message"])
        text = "; ".join(line.strip() for line in text.splitlines() if line.strip()) or response.reason or ""
        for secret in (self.__key, self.__token):
            if secret:
                text = text.replace(secret, "<redacted>")
        text = _PASSCODE_IN_URL.sub(r"\1<redacted>", text)
        return text[:_MAX_MESSAGE] or "no message"


def _retry_after(value: str | None) -> float | None:
    return float(value) if value and value.strip().isdigit() else None


def _maybe(message: str, maybe_created: bool) -> str:
    if maybe_created:
        return message + "; the meeting may have been created: check the module's meetings on LumiNUS before re-running"
    return message
