"""What ``zoomops provision`` talks to, built from the environment: the platform adapter (Zoom through the
account's token secret; Web Meeting v6 and LumiNUS through their keys) and LTI Pro's import API.

Web Meeting and LumiNUS keys come from Secrets Manager when a secret id is set (what the stack does, and
what ``zoomops credentials webmeeting|luminus`` writes), else from variables (local development):

===========================  ======================================  ==========================================
platform                     secret (``*_SECRET_ID``), JSON           without a secret id
===========================  ======================================  ==========================================
webmeeting                   ``{"api_key"}``                          ZOOMOPS_WEBMEETING_API_KEY
luminus                      ``{"subscription_key"[, "token"]}``      ZOOMOPS_LUMINUS_SUBSCRIPTION_KEY, _TOKEN
===========================  ======================================  ==========================================

The base URLs are settings either way (ZOOMOPS_WEBMEETING_URL, ZOOMOPS_LUMINUS_URL). A secret that is
missing, unreadable or malformed stops the command before anything is done, with one line naming the secret
and the field (never a value). A platform that refuses the key itself (HTTP 401) stops the run: every
other call would be refused too, so the rows not done yet are failed "not sent" (exit 4), and the message
names the setting to fix.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from ..clock import Clock
from ..errors import ConfigError, TokenUnavailable, Unavailable
from ..settings import _required, _url

WEBMEETING_SECRET_ID = "ZOOMOPS_WEBMEETING_SECRET_ID"
LUMINUS_SECRET_ID = "ZOOMOPS_LUMINUS_SECRET_ID"


class SecretUnusable(Unavailable):
    """A platform's credentials secret is missing, unreadable or malformed: the message names the secret and
    the field, never a value."""


class CredentialsRefused(TokenUnavailable):
    """The platform refused the credential itself (HTTP 401): nothing can be done with it, so the run stops
    (the executor halts on a TokenUnavailable) and the rows not done yet are failed "not sent"."""


@dataclass(frozen=True)
class Credential:
    """A platform's key(s) and where each is set, for messages that say what to fix (never a value)."""

    values: dict[str, str | None]
    where: dict[str, str]  # field -> "secret <id> (ZOOMOPS_..._SECRET_ID)" or the variable's name
    fix: dict[str, str]  # field -> how to set a new value

    def __repr__(self) -> str:  # never the values
        return f"Credential(where={self.where!r})"


def adapter(
    provider: str, account: str | None, env: Mapping[str, str], *, share: float = 1.0, clock: Clock = time.time
) -> tuple[Callable[[Any], Any], str | None, str]:
    """(a factory of the adapter given the ledger, the Zoom account, the ledger's scope). ``share``: the part
    of the account's Zoom rates this process may use (a state machine's child gets 1/MaxConcurrency)."""

    if provider == "zoom":
        factory, name = _zoom(account, env, share, clock)
        return factory, name, scope_of(provider, name, None)
    if account:
        raise ConfigError(f"--account is for Zoom: {provider} has none")
    if provider == "webmeeting":
        return _webmeeting(env)
    return _luminus(env)


def _webmeeting(env: Mapping[str, str]) -> tuple[Callable[[Any], Any], None, str]:
    from ..providers.webmeeting import WebMeetingClient, WebMeetings

    url = _url(env, "ZOOMOPS_WEBMEETING_URL")
    credential = webmeeting_credential(env)
    api_key = credential.values["api_key"]
    assert api_key is not None
    meetings = WebMeetingClient(api_key, url)

    def factory(ledger):
        return Guarded(WebMeetings(meetings, ledger.memory), "Web Meeting", ("api_key", "API key"), credential)

    return factory, None, scope_of("webmeeting", None, url)


def _luminus(env: Mapping[str, str]) -> tuple[Callable[[Any], Any], None, str]:
    from ..providers.luminus.client import LuminusClient
    from ..providers.luminus.provider import LuminusMeetings

    url = _url(env, "ZOOMOPS_LUMINUS_URL")
    credential = luminus_credential(env)
    key, token = credential.values["subscription_key"], credential.values.get("token")
    assert key is not None
    client = LuminusClient(key, url, token=token)

    if token:
        forbidden = (
            f"the user the bearer token in {credential.where['token']} signs in as may not add meetings to this "
            f"module, or the token is no longer valid: {credential.fix['token']}"
        )
    else:
        forbidden = f"LumiNUS may want a signed-in user's bearer token: {credential.fix['token']}"

    def factory(ledger):
        key = ("subscription_key", "subscription key")
        return Guarded(LuminusMeetings(client), "LumiNUS", key, credential, forbidden=forbidden)

    return factory, None, scope_of("luminus", None, url)


def scope_of(provider: str, account: str | None, url: str | None) -> str:
    """The ledger's scope: the platform and the Zoom account, or the instance's host."""
    return f"{provider}:{account or urlsplit(url or '').netloc}"


# ---- credentials ----------------------------------------------------------------------------------------
def webmeeting_credential(env: Mapping[str, str], *, client=None) -> Credential:
    secret_id = (env.get(WEBMEETING_SECRET_ID) or "").strip()
    if secret_id:
        values = read_secret(secret_id, ("api_key",), (), "webmeeting", client=client)
        return _in_secret(values, secret_id, WEBMEETING_SECRET_ID, "webmeeting")
    name = "ZOOMOPS_WEBMEETING_API_KEY"
    return Credential({"api_key": _required(env, name)}, {"api_key": name}, {"api_key": f"set the right one in {name}"})


def luminus_credential(env: Mapping[str, str], *, client=None) -> Credential:
    secret_id = (env.get(LUMINUS_SECRET_ID) or "").strip()
    if secret_id:
        values = read_secret(secret_id, ("subscription_key",), ("token",), "luminus", client=client)
        return _in_secret(values, secret_id, LUMINUS_SECRET_ID, "luminus")
    key, token = "ZOOMOPS_LUMINUS_SUBSCRIPTION_KEY", "ZOOMOPS_LUMINUS_TOKEN"
    return Credential(
        {"subscription_key": _required(env, key), "token": (env.get(token) or "").strip() or None},
        {"subscription_key": key, "token": token},
        {"subscription_key": f"set the right one in {key}", "token": f"set one in {token}"},
    )


def _in_secret(values: dict[str, str | None], secret_id: str, variable: str, kind: str) -> Credential:
    where = f"secret {secret_id} ({variable})"
    fix = f"store the right one with: zoomops credentials {kind} --secret-id {secret_id}"
    return Credential(values, dict.fromkeys(values, where), dict.fromkeys(values, fix))


def _store_hint(kind: str, secret_id: str) -> str:
    return f"store it with: zoomops credentials {kind} --secret-id {secret_id}"


def read_secret(
    secret_id: str, required: tuple[str, ...], optional: tuple[str, ...], kind: str, *, client=None
) -> dict[str, str | None]:
    """The secret's JSON fields: ``required`` ones must be usable values, ``optional`` ones are None when absent,
    null or empty. Every error names the secret and the field, never a value (nor AWS's message, which may
    quote the request)."""
    import boto3
    from botocore.exceptions import ClientError

    from ..aws import guard_sdk_logs
    from ..cli.credentials import InputError, check_value

    guard_sdk_logs()  # botocore logs GetSecretValue's answer at DEBUG
    if client is None:
        client = boto3.session.Session().client("secretsmanager")
    store = _store_hint(kind, secret_id)
    try:
        answer = client.get_secret_value(SecretId=secret_id)
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code") or "error"
        if code == "ResourceNotFoundException":
            raise SecretUnusable(f"secret {secret_id} does not exist ({code}): {store}") from None
        raise SecretUnusable(f"secret {secret_id} cannot be read ({code})") from None
    shape = "{" + ", ".join([*(f'"{f}"' for f in required), *(f'"{f}" (optional)' for f in optional)]) + "}"
    try:
        data = json.loads(answer.get("SecretString") or "")
    except ValueError:
        data = None
    if not isinstance(data, dict):
        raise SecretUnusable(f"secret {secret_id} does not hold a JSON object {shape}: {store}")
    values: dict[str, str | None] = {}
    for name in (*required, *optional):
        value = data.get(name)
        if name in optional and value in (None, ""):
            values[name] = None
            continue
        if value is None:
            raise SecretUnusable(f"secret {secret_id} has no {name} (expected {shape}): {store}")
        if not isinstance(value, str):
            raise SecretUnusable(f"secret {secret_id}: {name} must be a string: {store}")
        try:
            check_value(name, value, f"secret {secret_id}: {name}")
        except InputError as exc:
            raise SecretUnusable(f"{exc}: {store}") from None
        values[name] = value
    return values


# ---- the run stops on a refused credential --------------------------------------------------------------
class Guarded:
    """A platform adapter whose refused credential stops the run, with a message naming the setting.

    A 401 is the key itself (Web Meeting: responseCode -1; LumiNUS: the API gateway): every other call would be
    refused too, so it becomes :class:`CredentialsRefused` (the executor halts: exit 4, and marks the refused
    create absent, so the run after the fix creates it). LumiNUS' 403 ("Login user not authorized") stays the
    row's failure: it may be one module's permission; ``forbidden`` is what its reason adds (the token to
    check)."""

    def __init__(
        self,
        inner: Any,
        platform: str,
        key: tuple[str, str],  # (the credential's field, what to call it)
        credential: Credential,
        *,
        forbidden: str | None = None,
    ):
        self._inner, self._platform, self._key = inner, platform, key
        self._credential, self._forbidden = credential, forbidden

    def __getattr__(self, name: str) -> Any:  # name, can_recover, daily_cap, check, body, plan, recover, ...
        return getattr(self._inner, name)

    def __repr__(self) -> str:
        return f"Guarded({self._inner!r})"

    def create(self, spec):
        return self._guarded(self._inner.create, spec)

    def update(self, spec, previous):
        return self._guarded(self._inner.update, spec, previous)

    def _guarded(self, call, *args):
        try:
            return call(*args)
        except Unavailable as exc:
            translated = self._translated(exc)
            if translated is None:
                raise
            raise translated from None

    def _translated(self, exc: Unavailable) -> Exception | None:
        """What a refusal becomes: CredentialsRefused (401), the 403 with its hint, or None (as it is)."""
        from ..provision.spec import PlatformRefused

        if not isinstance(exc, PlatformRefused):
            return None
        if exc.status == 401:
            field, what = self._key
            return CredentialsRefused(
                f"{self._platform} refused the {what} in {self._credential.where[field]} [{exc}]: "
                f"{self._credential.fix[field]}; nothing more is sent until then"
            )
        if exc.status == 403 and self._forbidden:
            return PlatformRefused(f"{exc} ({self._forbidden})", status=exc.status)
        return None


# ---- Zoom and LTI Pro -----------------------------------------------------------------------------------
def _zoom(
    account: str | None, env: Mapping[str, str], share: float = 1.0, clock: Clock = time.time
) -> tuple[Callable[[Any], Any], str]:
    import boto3
    from aws_lambda_powertools.utilities.parameters import SecretsProvider

    from ..aws import guard_sdk_logs
    from ..aws.secrets import SecretTokenSource
    from ..settings import parse_accounts
    from ..zoom.client import BUSINESS_RATES, PRO_RATES, RateLimiter, ZoomClient
    from ..zoom.meetings import ZoomMeetings

    accounts = {
        a.name: a
        for a in parse_accounts(_required(env, "ZOOMOPS_ZOOM_ACCOUNTS"), _required(env, "ZOOMOPS_ZOOM_SECRET_PREFIX"))
    }
    if account is not None and account not in accounts:
        raise ConfigError(f"no account named {account!r} in ZOOMOPS_ZOOM_ACCOUNTS")
    chosen = accounts[account] if account else next(iter(accounts.values()))
    guard_sdk_logs()
    secrets = SecretsProvider(boto3_client=boto3.session.Session().client("secretsmanager"))
    rates = BUSINESS_RATES if (env.get("ZOOMOPS_ZOOM_PLAN") or "").strip().lower() == "business" else PRO_RATES
    limiter = RateLimiter({category: rate * share for category, rate in rates.items()})
    client = ZoomClient(SecretTokenSource(chosen.token_secret, secrets), limiter=limiter, clock=clock)
    return (lambda ledger: ZoomMeetings(client)), chosen.name


def lti_import(env: Mapping[str, str], *, user_id: str | None, dry_run: bool) -> Callable[[Any], Any]:
    """LTI Pro's import API: an import-only credential when given (ZOOMOPS_LTI_IMPORT_KEY/_SECRET), else the
    LTI credential; a factory given the ledger."""
    from ..lti.client import LtiClient
    from ..lti.signing import LtiCredentials
    from ..provision.associate import IMPORT_PATH, ApiImport

    base = _url(env, "ZOOMOPS_LTI_BASE_URL")
    if (env.get("ZOOMOPS_LTI_IMPORT_KEY") or "").strip():
        creds = LtiCredentials(
            _required(env, "ZOOMOPS_LTI_IMPORT_KEY"), _required(env, "ZOOMOPS_LTI_IMPORT_SECRET"), base
        )
    else:
        creds = LtiCredentials(_required(env, "ZOOMOPS_LTI_KEY"), _required(env, "ZOOMOPS_LTI_SECRET"), base)
    sender = None if dry_run else LtiClient(creds, path=IMPORT_PATH, method="POST")
    return lambda ledger: ApiImport(creds, ledger, sender=sender, user_id=user_id, dry_run=dry_run)
