"""Zoom Server-to-Server OAuth tokens, kept fresh in Secrets Manager.

Per account two secrets: the *credentials* secret (``account_id``, ``client_id``,
``client_secret``), read only here, and the *token* secret (``access_token``,
``expires_at``, ``scope``, ``api_url``), which consumers read. A token is replaced
when less than ``margin`` of its life is left; a failed refresh leaves the old,
still valid token in place. A short lease in DynamoDB keeps two refreshers from
asking Zoom at once; each write to the token secret is one whole JSON version, so a
reader never sees half of one.
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Callable

from .settings import DEFAULT_MARGIN, DEFAULT_OAUTH_URL, ZoomAccount, parse_accounts  # noqa: F401 - re-exported


class OAuthError(Exception):
    """Zoom refused or failed the token request; the message names the account, never a secret."""

    def __init__(self, account: str, message: str, *, credentials_rejected: bool = False):
        super().__init__(f"Zoom account {account}: {message}")
        self.account, self.credentials_rejected = account, credentials_rejected


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
        return {"account": self.account, "action": self.action, "scope": self.scope,
                "expires_in_seconds": None if remaining is None else int(remaining),
                "refreshed_at": self.refreshed_at, "error": self.error}


class OAuthClient:
    """POSTs ``grant_type=account_credentials`` with HTTP Basic auth; retries 5xx and timeouts."""

    def __init__(self, url: str = DEFAULT_OAUTH_URL, *, session=None, attempts: int = 4, backoff: float = 0.5,
                 timeout: tuple[float, float] = (3.05, 15.0)):
        import requests
        from urllib3.util.retry import Retry

        from .http import pooled_session

        self.url = url
        if session is None:
            retry = Retry(total=attempts - 1, backoff_factor=backoff, backoff_jitter=backoff,
                          status_forcelist=(429, 500, 502, 503, 504), allowed_methods=frozenset({"POST"}),
                          respect_retry_after_header=True, retry_after_max=30, raise_on_status=False)
            session = pooled_session(retry=retry)
        self._session, self._timeout, self._requests = session, timeout, requests

    def request_token(self, account: str, credentials: dict[str, str]) -> dict[str, Any]:
        try:
            response = self._session.post(
                self.url,
                data={"grant_type": "account_credentials", "account_id": credentials["account_id"]},
                auth=(credentials["client_id"], credentials["client_secret"]),
                timeout=self._timeout,
            )
        except self._requests.RequestException as exc:
            raise OAuthError(account, f"token request failed after retries ({type(exc).__name__})") from None
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
    def __init__(self, secrets, oauth: OAuthClient, *, margin: float = DEFAULT_MARGIN, lease=None,
                 clock: Callable[[], float] = time.time):
        self._secrets, self._oauth, self.margin, self._lease, self._clock = secrets, oauth, margin, lease, clock

    def stored(self, account: ZoomAccount) -> dict[str, Any] | None:
        try:
            value = self._secrets.get_secret_value(SecretId=account.token_secret, VersionStage="AWSCURRENT")
        except self._secrets.exceptions.ResourceNotFoundException:
            return None  # never refreshed yet
        try:
            data = json.loads(value.get("SecretString") or "{}")
        except ValueError:
            return None
        return data if isinstance(data, dict) and data.get("access_token") else None

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
        try:
            current = self.stored(account)
            if current and not force and current["expires_at_epoch"] - self._clock() > self.margin:
                return _result(account, "fresh", current)
            if self._lease is not None and not self._lease.acquire(f"token-refresh#{account.name}", ttl=60):
                return _result(account, "locked", current)  # another refresher is on it right now
            try:
                if self._lease is not None and not force:
                    # Someone may have refreshed between our read and the lease: look again.
                    current = self.stored(account)
                    if current and current["expires_at_epoch"] - self._clock() > self.margin:
                        return _result(account, "fresh", current)
                credentials = self._credentials(account)
                issued_at = self._clock()
                answer = self._oauth.request_token(account.name, credentials)
                token = {
                    "account": account.name,
                    "access_token": answer["access_token"],
                    "token_type": answer.get("token_type", "bearer"),
                    "scope": answer.get("scope", ""),
                    "api_url": (answer.get("api_url") or "https://api.zoom.us").rstrip("/"),
                    "expires_at_epoch": issued_at + float(answer.get("expires_in", 3600)),
                    "refreshed_at": _iso(issued_at),
                }
                token["expires_at"] = _iso(token["expires_at_epoch"])
                self._write(account, json.dumps(token))
                return _result(account, "refreshed", token)
            finally:
                if self._lease is not None:
                    self._lease.release(f"token-refresh#{account.name}")
        except OAuthError as exc:
            return _result(account, "failed", _safe_current(self, account), error=str(exc))

    def _write(self, account: ZoomAccount, value: str) -> None:
        """One whole new version of the token secret (created on the first refresh)."""
        from .aws import put_secret

        put_secret(self._secrets, account.token_secret, value,
                   create_description=f"zoomops: Zoom S2S OAuth token of account {account.name}")

    def _credentials(self, account: ZoomAccount) -> dict[str, str]:
        try:
            value = self._secrets.get_secret_value(SecretId=account.credentials_secret, VersionStage="AWSCURRENT")
            data = json.loads(value["SecretString"])
        except self._secrets.exceptions.ResourceNotFoundException:
            raise OAuthError(account.name, f"credentials secret {account.credentials_secret} does not exist") from None
        except (ValueError, KeyError):
            raise OAuthError(account.name, f"credentials secret {account.credentials_secret} is not JSON") from None
        missing = [k for k in ("account_id", "client_id", "client_secret") if not str(data.get(k) or "").strip()]
        if missing:
            raise OAuthError(account.name, f"credentials secret {account.credentials_secret} is missing "
                                           f"{', '.join(missing)}")
        return data


def _safe_current(refresher: TokenRefresher, account: ZoomAccount) -> dict[str, Any] | None:
    try:
        return refresher.stored(account)
    except OAuthError:
        return None


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, timezone.utc).isoformat(timespec="seconds")


def _result(account: ZoomAccount, action: str, token: dict[str, Any] | None, error: str | None = None) -> RefreshResult:
    if not token:
        return RefreshResult(account.name, action, error=error)
    return RefreshResult(account.name, action, float(token["expires_at_epoch"]), token.get("scope"),
                         token.get("refreshed_at"), error)


class DynamoLease:
    """A short exclusive lease in the jobs table (conditional put; expired leases are taken over)."""

    def __init__(self, table: str, client, *, clock: Callable[[], float] = time.time):
        self._table, self._db, self._clock = table, client, clock
        self._owner = str(uuid.uuid4())

    def acquire(self, name: str, ttl: int) -> bool:
        now = self._clock()
        try:
            self._db.put_item(
                TableName=self._table,
                Item={"job_id": {"S": name}, "owner": {"S": self._owner},
                      "lease_until": {"N": str(int(now + ttl))}, "expiration": {"N": str(int(now + ttl + 3600))}},
                ConditionExpression="attribute_not_exists(job_id) OR lease_until < :now OR #o = :me",
                ExpressionAttributeNames={"#o": "owner"},
                ExpressionAttributeValues={":now": {"N": str(int(now))}, ":me": {"S": self._owner}},
            )
            return True
        except self._db.exceptions.ConditionalCheckFailedException:
            return False

    def release(self, name: str) -> None:
        try:
            self._db.delete_item(TableName=self._table, Key={"job_id": {"S": name}},
                                 ConditionExpression="#o = :me", ExpressionAttributeNames={"#o": "owner"},
                                 ExpressionAttributeValues={":me": {"S": self._owner}})
        except self._db.exceptions.ConditionalCheckFailedException:
            pass
