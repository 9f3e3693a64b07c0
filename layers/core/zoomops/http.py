"""The client base every outbound adapter uses (LTI Pro, Zoom, Zoom OAuth, the other platforms).

One pooled ``requests.Session`` per client, a urllib3 ``Retry`` policy (applied by the session's adapter
for idempotent calls, or stepped by the client itself when every attempt must be prepared afresh, e.g.
re-signed), connect/read timeouts, the caller's time budget, and transport errors that name the host and
what went wrong, never a URL's query, a header or a body (where keys and tokens travel).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from .errors import Unavailable

USER_AGENT = "zoomops/0.1"
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
TimeLeft = Callable[[], float]  # seconds the caller has left (a Lambda's remaining time)


class TransportError(Unavailable):
    """No HTTP answer: refused, reset, timed out, or the adapter's retries spent."""

    def __init__(self, method: str, url: str, kind: str, cause: str):
        host = urlsplit(url).netloc or url
        super().__init__(f"{method} {host}: {kind} ({cause})")
        self.method, self.host, self.kind, self.cause = method, host, kind, cause


def pooled_session(*, retry=None, pool_maxsize: int = 10, user_agent: str = USER_AGENT):
    """A ``requests.Session`` whose adapter pools connections and applies ``retry`` (None: no retries)."""
    import requests  # edge dependency, imported on first use
    from requests.adapters import HTTPAdapter

    session = requests.Session()
    adapter = HTTPAdapter(pool_maxsize=pool_maxsize, max_retries=retry if retry is not None else 0)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    session.headers["User-Agent"] = user_agent
    return session


def retry_policy(
    *,
    attempts: int,
    backoff: float,
    max_wait: float,
    methods: set[str],
    statuses=RETRY_STATUSES,
    respect_retry_after: bool = True,
    retry_after_max: float | None = None,
):
    """urllib3's Retry with zoomops' defaults: exponential backoff with jitter, capped, never raising on
    a status (the client reads the last answer)."""
    from urllib3.util.retry import Retry

    extra: dict[str, Any] = {} if retry_after_max is None else {"retry_after_max": retry_after_max}
    return Retry(
        total=attempts - 1,
        backoff_factor=backoff,
        backoff_jitter=backoff,
        backoff_max=max_wait,
        status_forcelist=statuses,
        allowed_methods=frozenset(methods),
        respect_retry_after_header=respect_retry_after,
        raise_on_status=False,
        **extra,
    )


class HttpClient:
    """Base of the outbound clients: session, policy, timeouts, time budget, host-naming errors."""

    def __init__(
        self,
        *,
        retry=None,
        retry_in_adapter: bool = False,
        pool_maxsize: int = 10,
        user_agent: str = USER_AGENT,
        connect_timeout: float = 3.05,
        read_timeout: float = 30.0,
        session=None,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ):
        self.retry = retry
        if session is None:
            session = pooled_session(
                retry=retry if retry_in_adapter else None, pool_maxsize=pool_maxsize, user_agent=user_agent
            )
        self.session = session
        self.timeout = (connect_timeout, read_timeout)
        self.clock, self.sleep = clock, sleep

    def close(self) -> None:
        self.session.close()

    @property
    def worst_case(self) -> float:
        """The longest one attempt can take."""
        return sum(self.timeout)

    def fits(self, time_left: TimeLeft | None, wait: float = 0.0) -> bool:
        """True when waiting ``wait`` and one more attempt still end within the caller's time."""
        return time_left is None or wait + self.worst_case <= time_left()

    def request(self, method: str, url: str, **kwargs: Any):
        """One request (the adapter may retry it); no answer at all raises :class:`TransportError`."""
        import requests

        try:
            return self.session.request(method, url, timeout=self.timeout, **kwargs)
        except requests.ConnectTimeout:
            raise TransportError(method, url, "connect timeout", f"no connection within {self.timeout[0]:g}s") from None
        except requests.ReadTimeout:
            raise TransportError(method, url, "read timeout", f"no answer within {self.timeout[1]:g}s") from None
        except requests.RequestException as exc:  # refused, reset, cut-off body, retries spent
            raise TransportError(method, url, "connection error", type(exc).__name__) from None

    def step(self, retry, method: str, path: str, response=None, error: TransportError | None = None):
        """Advance a client-stepped ``retry`` after a failed attempt: ``(next retry, seconds to wait)``
        (``Retry-After`` honoured, else backoff with jitter). Raises urllib3's MaxRetryError when spent."""
        from urllib3.exceptions import ConnectTimeoutError, InvalidHeader, ProtocolError, ReadTimeoutError

        cause = None
        if error is not None:
            cause = {
                "connect timeout": ConnectTimeoutError(str(error)),
                "read timeout": ReadTimeoutError(None, path, str(error)),  # type: ignore[arg-type]
            }.get(error.kind, ProtocolError(str(error)))
        raw = response.raw if response is not None else None
        retry = retry.increment(method=method, url=path, response=raw, error=cause)
        wait = None
        if raw is not None:
            try:
                wait = retry.get_retry_after(raw)
            except InvalidHeader:
                wait = None  # unparseable Retry-After: our backoff instead
        return retry, retry.get_backoff_time() if wait is None else wait
