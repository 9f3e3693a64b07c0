"""What the provisioning steps reach on the stack, built from the function's environment: the platform adapter
(Zoom through the account's token secret; Web Meeting v6 and LumiNUS through their secrets), the ledger in
DynamoDB, and LTI Pro's import API (the LTI secret). Adapters are kept per platform and account for the
container's life (their HTTP pools and token caches with them)."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

from ..clock import Clock
from ..errors import ConfigError
from ..settings import ProvisionStepsSettings
from .run import Context


def contexts(
    settings: ProvisionStepsSettings, session, env: Mapping[str, str] | None = None, *, clock: Clock = time.time
) -> Callable[..., Context]:
    """``(options, share=1.0) -> Context`` for the steps: the job's platform and account (``share``: the part
    of the account's Zoom rates one worker may use), the ledger of that scope, and (``associate: api``) LTI
    Pro's import API signed with the LTI secret."""
    from aws_lambda_powertools.utilities.parameters import SecretsProvider

    from ..aws.ledger import DynamoLedger
    from . import platforms

    env = os.environ if env is None else env
    dynamodb = session.client("dynamodb")
    secrets = SecretsProvider(boto3_client=session.client("secretsmanager"))
    adapters: dict[tuple[str, str, float], tuple[Any, str | None, str]] = {}
    lock = threading.Lock()

    def context(options: dict[str, Any], share: float = 1.0) -> Context:
        wanted = (options["provider"], options.get("account") or "", share)
        with lock:
            if wanted not in adapters:
                adapters[wanted] = platforms.adapter(wanted[0], wanted[1] or None, env, share=share, clock=clock)
            factory, account, scope = adapters[wanted]
        ledger = DynamoLedger(settings.ledger_table, dynamodb, scope)
        lti = _lti_import(settings, secrets, ledger, options) if options["associate"] == "api" else None
        return Context(factory(ledger), ledger, account, lti)

    return context


def _lti_import(settings: ProvisionStepsSettings, secrets, ledger, options: dict[str, Any]):
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
