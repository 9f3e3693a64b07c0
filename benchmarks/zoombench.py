"""What the Zoom benchmarks share (bench_reports, bench_provision): a rate limiter that records when each
category's slots are taken, and one OAuth token from the simulator answered to every call."""

from __future__ import annotations

import threading
import time


class TimedLimiter:
    """The shared RateLimiter, recording when each category's slots are taken (for the active spans) and how
    long callers waited for them."""

    def __init__(self, rates: dict[str, float]):
        from zoomops.zoom.client import RateLimiter

        self._inner = RateLimiter(rates)
        self._lock = threading.Lock()
        self.first: dict[str, float] = {}
        self.last: dict[str, float] = {}
        self.count: dict[str, int] = {}
        self.waited: dict[str, float] = {}

    def acquire(self, category: str) -> float:
        waited = self._inner.acquire(category)
        now = time.monotonic()
        with self._lock:
            self.first.setdefault(category, now)
            self.last[category] = now
            self.count[category] = self.count.get(category, 0) + 1
            self.waited[category] = self.waited.get(category, 0.0) + waited
        return waited

    def pause(self, category: str, seconds: float) -> None:
        self._inner.pause(category, seconds)


class StaticTokens:
    """One token from the simulator's OAuth endpoint (account credentials), answered to every call."""

    def __init__(self, base_url: str, account_id: str, client_id: str, client_secret: str):
        import requests

        from zoomops.zoom.client import Token

        answer = requests.post(
            f"{base_url}/oauth/token",
            auth=(client_id, client_secret),
            timeout=5,
            params={"grant_type": "account_credentials", "account_id": account_id},
        )
        answer.raise_for_status()
        body = answer.json()
        self._token = Token(body["access_token"], body["api_url"], time.time() + body["expires_in"])

    def token(self, *, force: bool = False):
        return self._token
