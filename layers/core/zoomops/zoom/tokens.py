"""Zoom Server-to-Server OAuth tokens, kept fresh in a token store (Secrets Manager on AWS).

Per account two secrets: the *credentials* (``account_id``, ``client_id``, ``client_secret``), read only
here, and the *token* (``access_token``, ``expires_at``, ``scope``, ``api_url``), which consumers read. A
token is replaced when less than ``margin`` of its life is left; a failed refresh leaves the old, still
valid token in place. A short lease keeps two refreshers from asking Zoom at once; each write of a token
is one whole JSON version, so a reader never sees half of one.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from ..clock import iso
from ..errors import OAuthError
from ..http import HttpClient, TransportError, retry_policy
from ..settings import DEFAULT_MARGIN, DEFAULT_OAUTH_URL, ZoomAccount


class TokenStore(Protocol):
    """Where an account's secrets live (``zoomops.aws.secrets.SecretsTokenStore``)."""

    def stored(self, account: ZoomAccount) -> dict[str, Any] | None: ...

    def credentials(self, account: ZoomAccount) -> dict[str, str]: ...

    def write(self, account: ZoomAccount, token: dict[str, Any]) -> None: ...


class Lease(Protocol):
    def acquire(self, name: str, ttl: int) -> bool: ...

    def release(self, name: str) -> None: ...


@dataclass
class RefreshResult:
    account: str
    action: str  # refreshed | fresh | locked | failed; status(): valid | expiring | expired | missing
    expires_at: float | None = None  # the token now in the secret (epoch seconds)
    scope: str | None = None
    refreshed_at: str | None = None
    error: str | None = None

    def remaining(self, now: float) -> float | None:
        return None if self.expires_at is None else self.expires_at - now

    def public(self, now: float) -> dict[str, Any]:
        """What may be shown or logged: never the token."""
        remaining = self.remaining(now)
        return {
            "account": self.account,
            "action": self.action,
            "scope": self.scope,
            "expires_in_seconds": None if remaining is None else int(remaining),
            "refreshed_at": self.refreshed_at,
            "error": self.error,
        }


class OAuthClient(HttpClient):
    """POSTs ``grant_type=account_credentials`` with HTTP Basic auth; retries 5xx and timeouts."""

    def __init__(
        self,
        url: str = DEFAULT_OAUTH_URL,
        *,
        session=None,
        attempts: int = 4,
        backoff: float = 0.5,
        timeout: tuple[float, float] = (3.05, 15.0),
    ):
        retry = retry_policy(attempts=attempts, backoff=backoff, max_wait=120.0, methods={"POST"}, retry_after_max=30)
        super().__init__(
            retry=retry, retry_in_adapter=True, connect_timeout=timeout[0], read_timeout=timeout[1], session=session
        )
        self.url = url

    def request_token(self, account: str, credentials: dict[str, str]) -> dict[str, Any]:
        try:
            response = self.request(
                "POST",
                self.url,
                data={"grant_type": "account_credentials", "account_id": credentials["account_id"]},
                auth=(credentials["client_id"], credentials["client_secret"]),
            )
        except TransportError as exc:
            raise OAuthError(account, f"token request failed after retries ({exc})") from None
        try:
            body = response.json()
        except ValueError:
            body = {}
        if response.status_code in (400, 401):
            reason = body.get("reason") or body.get("error") or f"HTTP {response.status_code}"
            raise OAuthError(account, f"credentials rejected by Zoom: {reason}", credentials_rejected=True)
        if response.status_code != 200 or not body.get("access_token"):
            raise OAuthError(account, f"token request failed: HTTP {response.status_code}")
        return body


class TokenRefresher:
    def __init__(
        self,
        store: TokenStore,
        oauth: OAuthClient | None,
        *,
        margin: float = DEFAULT_MARGIN,
        lease: Lease | None = None,
        clock: Callable[[], float] = time.time,
    ):
        self._store, self._oauth, self.margin, self._lease, self._clock = store, oauth, margin, lease, clock

    def stored(self, account: ZoomAccount) -> dict[str, Any] | None:
        return self._store.stored(account)

    def _fresh(self, token: dict[str, Any] | None) -> bool:
        return bool(token) and token["expires_at_epoch"] - self._clock() > self.margin  # type: ignore[index]

    def status(self, account: ZoomAccount) -> RefreshResult:
        """The stored token's state without refreshing: valid | expiring | expired | missing."""
        try:
            current = self.stored(account)
        except OAuthError as exc:
            return RefreshResult(account.name, "missing", error=str(exc))
        if not current:
            return _result(account, "missing", None)
        left = current["expires_at_epoch"] - self._clock()
        return _result(account, "valid" if left > self.margin else "expiring" if left > 0 else "expired", current)

    def refresh(self, account: ZoomAccount, *, force: bool = False) -> RefreshResult:
        lease_name = f"token-refresh#{account.name}"
        try:
            current = self.stored(account)
            if not force and self._fresh(current):
                return _result(account, "fresh", current)
            if self._lease is not None and not self._lease.acquire(lease_name, ttl=60):
                return _result(account, "locked", current)  # another refresher is on it right now
            try:
                if self._lease is not None and not force:
                    # Someone may have refreshed between our read and the lease: look again.
                    current = self.stored(account)
                    if self._fresh(current):
                        return _result(account, "fresh", current)
                return _result(account, "refreshed", self._new_token(account))
            finally:
                if self._lease is not None:
                    self._lease.release(lease_name)
        except OAuthError as exc:
            return _result(account, "failed", self._safe_current(account), error=str(exc))

    def _new_token(self, account: ZoomAccount) -> dict[str, Any]:
        """Ask Zoom for a token and store it as one whole new version."""
        if self._oauth is None:
            raise OAuthError(account.name, "this refresher only reads tokens")
        credentials = self._store.credentials(account)
        issued_at = self._clock()
        answer = self._oauth.request_token(account.name, credentials)
        token = {
            "account": account.name,
            "access_token": answer["access_token"],
            "token_type": answer.get("token_type", "bearer"),
            "scope": answer.get("scope", ""),
            "api_url": (answer.get("api_url") or "https://api.zoom.us").rstrip("/"),
            "expires_at_epoch": issued_at + float(answer.get("expires_in", 3600)),
            "refreshed_at": iso(issued_at),
        }
        token["expires_at"] = iso(token["expires_at_epoch"])
        self._store.write(account, token)
        return token

    def _safe_current(self, account: ZoomAccount) -> dict[str, Any] | None:
        try:
            return self.stored(account)
        except OAuthError:
            return None


def _result(account: ZoomAccount, action: str, token: dict[str, Any] | None, error: str | None = None) -> RefreshResult:
    if not token:
        return RefreshResult(account.name, action, error=error)
    return RefreshResult(
        account.name, action, float(token["expires_at_epoch"]), token.get("scope"), token.get("refreshed_at"), error
    )
