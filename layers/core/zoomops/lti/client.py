"""The LTI Pro REST client: signed bulk calls over one pooled session.

Retries (bounded, exponential backoff with jitter, ``Retry-After`` honoured) on connection errors,
timeouts, 429 and 5xx, with urllib3's ``Retry`` as the policy while the client re-signs every attempt
itself. Never raises for an answer: every outcome is a :class:`BatchResult`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from ..http import RETRY_STATUSES, HttpClient, TimeLeft, TransportError, retry_policy
from .signing import BULK_DISASSOCIATE_PATH, LtiCredentials, sign_call

USER_AGENT = "zoomops/0.1 (+bulk-disassociate)"


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


def verdict(response, attempt: int) -> BatchResult | None:
    """The batch's outcome from an answer, or None when the answer is worth retrying."""
    status = response.status_code
    if status == 200:
        flag, message = _lti_message(response)
        if flag is True:
            return BatchResult(True, message, attempt, 200)
        # LTI Pro may answer a signature failure as a 200 whose errorCode is 401.
        if "(errorCode 401)" in message:
            return BatchResult(False, f"LTI Pro refused the credentials: {message}", attempt, 200, auth_failed=True)
        return BatchResult(False, f"LTI Pro answered: {message}", attempt, 200)
    if status == 401:
        _, message = _lti_message(response)
        return BatchResult(
            False, f"LTI Pro refused the credentials (HTTP 401): {message}", attempt, 401, auth_failed=True
        )
    if status not in RETRY_STATUSES:
        _, message = _lti_message(response)
        return BatchResult(False, f"LTI Pro answered HTTP {status}: {message}", attempt, status)
    return None


class LtiClient(HttpClient):
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
        path: str = BULK_DISASSOCIATE_PATH,
        method: str = "PUT",
    ):
        # Pooling only in the adapter: retries are stepped here, since each attempt needs a new signature.
        super().__init__(
            retry=retry_policy(attempts=attempts, backoff=backoff, max_wait=max_wait, methods={method}),
            pool_maxsize=4,
            user_agent=USER_AGENT,
            connect_timeout=connect_timeout,
            read_timeout=read_timeout,
            session=session,
            clock=clock,
            sleep=sleep,
        )
        self.creds, self._max_wait, self._path, self._method = creds, max_wait, path, method

    def send(self, body: bytes, time_left: TimeLeft | None = None, user_id: str | None = None) -> BatchResult:
        """Send one batch. With ``time_left``, no attempt or wait is started that could not finish in time:
        the batch comes back ``out_of_time`` instead (nothing was accepted)."""
        from urllib3.exceptions import MaxRetryError

        retry, attempt = self.retry.new(), 0
        while True:
            if attempt and not self.fits(time_left):
                return BatchResult(False, "not sent: too little time left to retry", attempt, out_of_time=True)
            attempt += 1
            response, error = self._attempt(body, user_id)
            if response is not None and (result := verdict(response, attempt)) is not None:
                return result
            status = response.status_code if response is not None else None
            reason = str(error) if error is not None else f"HTTP {status}"
            try:
                retry, wait = self.step(retry, self._method, self._path, response, error)
            except MaxRetryError:
                return BatchResult(False, f"gave up after {attempt} attempts: {reason}", attempt, status)
            if not self.fits(time_left, wait):
                return BatchResult(
                    False, f"not sent: waiting {wait:.0f}s would pass the time limit", attempt, out_of_time=True
                )
            if wait > self._max_wait:
                return BatchResult(
                    False,
                    f"LTI Pro asked to wait {wait:.0f}s (over the {self._max_wait:.0f}s limit): {reason}",
                    attempt,
                    status,
                )
            self.sleep(wait)

    def _attempt(self, body: bytes, user_id: str | None):
        """One freshly signed attempt: (answer, None) or (None, the transport error)."""
        call = sign_call(self.creds, body, self.clock(), user_id=user_id, method=self._method, path=self._path)
        try:
            return self.request(call.method, call.url, data=call.body, headers=call.headers), None
        except TransportError as error:
            return None, error
