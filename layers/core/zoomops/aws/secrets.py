"""Secrets Manager: LTI credentials, Zoom account secrets (credentials and tokens), new secret versions."""

from __future__ import annotations

import json
import uuid
from typing import Any

from ..errors import ConfigError, OAuthError, TokenUnavailable
from ..lti.signing import LtiCredentials
from ..settings import ZoomAccount
from . import guard_sdk_logs


def put_secret(client, secret_id: str, value: str, *, create_description: str | None = None) -> tuple[str, str, bool]:
    """A new version of the secret (created first if missing and ``create_description`` is given):
    ``(arn, version id, created)``."""
    token = str(uuid.uuid4())
    try:
        answer = client.put_secret_value(SecretId=secret_id, SecretString=value, ClientRequestToken=token)
        return answer["ARN"], answer["VersionId"], False
    except client.exceptions.ResourceNotFoundException:
        if create_description is None:
            raise
    answer = client.create_secret(
        Name=secret_id, SecretString=value, Description=create_description, ClientRequestToken=token
    )
    return answer["ARN"], answer["VersionId"], True


def lti_credentials(secret_id: str, base_url: str, *, max_age: int, provider) -> tuple[LtiCredentials, str | None]:
    """LTI key/secret (and the deployment's default admin user id) from Secrets Manager.

    ``provider`` is a Powertools ``SecretsProvider``: values are cached for ``max_age``.
    """
    value = provider.get(secret_id, transform="json", max_age=max_age)
    if not isinstance(value, dict):
        raise ConfigError(f"secret {secret_id} must hold a JSON object with key and secret")
    missing = [name for name in ("key", "secret") if not str(value.get(name) or "").strip()]
    if missing:
        raise ConfigError(f"secret {secret_id} is missing {', '.join(missing)}")
    user_id = str(value.get("user_id") or "").strip() or None
    return LtiCredentials(key=value["key"], secret=value["secret"], base_url=base_url), user_id


class SecretTokenSource:
    """Reads one account's token secret (written by token_refresh) through a Powertools cache: what
    ``zoomops.zoom.client.ZoomClient`` uses."""

    def __init__(self, secret_id: str, provider, *, max_age: int = 60):
        guard_sdk_logs()  # botocore would log the GetSecretValue answer, token included, at DEBUG
        self.secret_id, self._provider, self._max_age = secret_id, provider, max_age

    def token(self, *, force: bool = False):
        """The stored token; a cached value without a usable token is read again at once, so a token stored
        a moment ago (the first refresh, a refresh through the API) is used by the very next request."""
        try:
            return self._read(force)
        except TokenUnavailable:
            if force:
                raise
            return self._read(True)

    def _read(self, force: bool):
        from aws_lambda_powertools.utilities.parameters.exceptions import GetParameterError, TransformParameterError

        from ..zoom.client import Token

        try:
            value = self._provider.get(self.secret_id, transform="json", max_age=self._max_age, force_fetch=force)
        except (GetParameterError, TransformParameterError) as exc:
            raise TokenUnavailable(
                f"token secret {self.secret_id} cannot be read ({_reason(exc)}): run the token refresh "
                f"(zoomops token refresh)",
            ) from None
        try:
            return Token(value["access_token"], value["api_url"].rstrip("/"), float(value["expires_at_epoch"]))
        except (KeyError, TypeError, ValueError, AttributeError):
            raise TokenUnavailable(
                f"token secret {self.secret_id} holds no usable token: run the token refresh (zoomops token refresh)",
            ) from None


def _reason(exc: Exception) -> str:
    """The AWS error code behind a Powertools parameter error (its text may quote the request)."""
    cause = exc.__cause__ or exc.__context__
    response = getattr(cause, "response", None) or {}
    return str(response.get("Error", {}).get("Code") or type(cause or exc).__name__)


class SecretsTokenStore:
    """Each Zoom account's credentials and token secrets, for ``zoomops.zoom.tokens.TokenRefresher``."""

    def __init__(self, client):
        self._secrets = client

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

    def credentials(self, account: ZoomAccount) -> dict[str, str]:
        secret = account.credentials_secret
        try:
            value = self._secrets.get_secret_value(SecretId=secret, VersionStage="AWSCURRENT")
            data = json.loads(value["SecretString"])
        except self._secrets.exceptions.ResourceNotFoundException:
            raise OAuthError(account.name, f"credentials secret {secret} does not exist") from None
        except (ValueError, KeyError):
            raise OAuthError(account.name, f"credentials secret {secret} is not JSON") from None
        missing = [k for k in ("account_id", "client_id", "client_secret") if not str(data.get(k) or "").strip()]
        if missing:
            raise OAuthError(account.name, f"credentials secret {secret} is missing {', '.join(missing)}")
        return data

    def write(self, account: ZoomAccount, token: dict[str, Any]) -> None:
        """One whole new version of the token secret (created on the first refresh)."""
        put_secret(
            self._secrets,
            account.token_secret,
            json.dumps(token),
            create_description=f"zoomops: Zoom S2S OAuth token of account {account.name}",
        )
