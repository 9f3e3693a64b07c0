"""What the provisioning steps reach on the stack, built from the function's environment: the platform adapter
(Zoom through the account's token secret; Web Meeting v6 and LumiNUS through their secrets), the ledger in
DynamoDB, and LTI Pro's import API (the LTI secret). Adapters are kept per platform and account for the
container's life (their HTTP pools and token caches with them)."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from ..errors import ConfigError
from .run import Context


@dataclass(frozen=True)
class ProvisionSettings:
    bucket: str
    jobs_table: str
    ledger_table: str
    lti_secret_id: str = ""
    lti_base_url: str = ""
    secret_max_age: int = 300

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> ProvisionSettings:
        env = os.environ if env is None else env
        missing = [n for n in ("ZOOMOPS_BUCKET", "ZOOMOPS_JOBS_TABLE", "ZOOMOPS_LEDGER_TABLE") if not env.get(n)]
        if missing:
            raise ConfigError(f"{', '.join(missing)} must be set")
        return cls(
            bucket=env["ZOOMOPS_BUCKET"],
            jobs_table=env["ZOOMOPS_JOBS_TABLE"],
            ledger_table=env["ZOOMOPS_LEDGER_TABLE"],
            lti_secret_id=env.get("ZOOMOPS_LTI_SECRET_ID", ""),
            lti_base_url=env.get("ZOOMOPS_LTI_BASE_URL", ""),
        )


def contexts(settings: ProvisionSettings, session, env: Mapping[str, str] | None = None) -> Callable[[dict], Context]:
    """``options -> Context`` for the steps: the job's platform and account, the ledger of that scope, and
    (``associate: api``) LTI Pro's import API signed with the LTI secret."""
    from aws_lambda_powertools.utilities.parameters import SecretsProvider

    from ..aws.ledger import DynamoLedger
    from . import platforms

    env = os.environ if env is None else env
    dynamodb = session.client("dynamodb")
    secrets = SecretsProvider(boto3_client=session.client("secretsmanager"))
    adapters: dict[tuple[str, str], tuple[Any, str | None, str]] = {}
    lock = threading.Lock()

    def context(options: dict[str, Any]) -> Context:
        wanted = (options["provider"], options.get("account") or "")
        with lock:
            if wanted not in adapters:
                adapters[wanted] = platforms.adapter(wanted[0], wanted[1] or None, env)
            factory, account, scope = adapters[wanted]
        ledger = DynamoLedger(settings.ledger_table, dynamodb, scope)
        lti = _lti_import(settings, secrets, ledger, options) if options["associate"] == "api" else None
        return Context(factory(ledger), ledger, account, lti)

    return context


def _lti_import(settings: ProvisionSettings, secrets, ledger, options: dict[str, Any]):
    from ..aws.secrets import lti_credentials
    from ..lti.client import LtiClient
    from .associate import IMPORT_PATH, ApiImport

    if not settings.lti_secret_id or not settings.lti_base_url:
        raise ConfigError("ZOOMOPS_LTI_SECRET_ID and ZOOMOPS_LTI_BASE_URL must be set to import through LTI Pro's API")
    creds, default_user = lti_credentials(
        settings.lti_secret_id, settings.lti_base_url, max_age=settings.secret_max_age, provider=secrets
    )
    sender = LtiClient(creds, path=IMPORT_PATH, method="POST")
    return ApiImport(creds, ledger, sender=sender, user_id=options.get("user_id") or default_user)
