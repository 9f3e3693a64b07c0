"""What ``zoomops provision`` talks to, built from the environment: the platform adapter (Zoom through the
account's token secret; Web Meeting v6 and LumiNUS through their keys) and LTI Pro's import API."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from ..errors import ConfigError
from ..settings import _required, _url


def adapter(provider: str, account: str | None, env: Mapping[str, str]) -> tuple[Callable[[Any], Any], str | None, str]:
    """(a factory of the adapter given the ledger, the Zoom account, the ledger's scope)."""
    from .provision import scope_of

    if provider == "zoom":
        factory, name = _zoom(account, env)
        return factory, name, scope_of(provider, name, None)
    if account:
        raise ConfigError(f"--account is for Zoom: {provider} has none")
    if provider == "webmeeting":
        from ..providers.webmeeting import WebMeetingClient, WebMeetings

        url = _url(env, "ZOOMOPS_WEBMEETING_URL")
        meetings = WebMeetingClient(_required(env, "ZOOMOPS_WEBMEETING_API_KEY"), url)
        return (lambda ledger: WebMeetings(meetings, ledger.memory)), None, scope_of(provider, None, url)
    from ..providers.luminus.client import LuminusClient
    from ..providers.luminus.provider import LuminusMeetings

    url = _url(env, "ZOOMOPS_LUMINUS_URL")
    token = (env.get("ZOOMOPS_LUMINUS_TOKEN") or "").strip() or None
    client = LuminusClient(_required(env, "ZOOMOPS_LUMINUS_SUBSCRIPTION_KEY"), url, token=token)
    return (lambda ledger: LuminusMeetings(client)), None, scope_of(provider, None, url)


def _zoom(account: str | None, env: Mapping[str, str]) -> tuple[Callable[[Any], Any], str]:
    import boto3
    from aws_lambda_powertools.utilities.parameters import SecretsProvider

    from ..aws import guard_sdk_logs
    from ..aws.secrets import SecretTokenSource
    from ..settings import parse_accounts
    from ..zoom.client import ZoomClient
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
    client = ZoomClient(SecretTokenSource(chosen.token_secret, secrets))
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
