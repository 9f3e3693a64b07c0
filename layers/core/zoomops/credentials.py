"""``zoomops credentials``: store LTI Pro and Zoom credentials in Secrets Manager from stdin.

The JSON written is exactly what the functions read: the LTI secret
``{"key", "secret"[, "user_id"]}`` (``aws.lti_credentials``) and each Zoom account's
``<prefix><account>/credentials`` ``{"account_id", "client_id", "client_secret"}``
(``tokens.TokenRefresher``). No value is ever printed, logged or put into an exception.
"""

from __future__ import annotations

import getpass
import json
import sys
from dataclasses import dataclass, field
from typing import Callable, Iterable, Mapping, TextIO

LTI_FIELDS = ("key", "secret")
ZOOM_FIELDS = ("account_id", "client_id", "client_secret")
_IDS = ("key", "account_id", "client_id", "user_id")  # identifiers: no whitespace anywhere
PLACEHOLDER = "CHANGE_ME"  # what template.yaml creates the secrets with


class InputError(ValueError):
    """Refused input: the message names the field, never its value."""


class StoreError(RuntimeError):
    """Secrets Manager refused or failed the write: the message names the secret, never a value."""


@dataclass(frozen=True)
class Target:
    what: str  # for messages: "LTI Pro credentials", "Zoom account main credentials"
    secret_id: str
    fields: tuple[str, ...]
    extra: dict[str, str] = field(default_factory=dict)  # stored alongside (LTI user_id)
    create_description: str | None = None  # set: the secret is created if it does not exist


def lti_target(secret_id: str, user_id: str | None = None) -> Target:
    if not secret_id.strip() or any(ch.isspace() for ch in secret_id):
        raise InputError("--secret-id must be a secret name or ARN without whitespace")
    extra = {}
    if user_id is not None:
        extra["user_id"] = user_id
        _check("user_id", user_id, "--user-id")
    return Target("LTI Pro credentials", secret_id, LTI_FIELDS, extra)


def zoom_target(account: str, env: Mapping[str, str]) -> Target:
    from .settings import ConfigError, _required
    from .tokens import parse_accounts

    prefix = _required(env, "ZOOMOPS_ZOOM_SECRET_PREFIX")
    if "," in account or not account.strip():
        raise InputError(f"--account {account!r}: give one account name")
    try:
        [parsed] = parse_accounts(account, prefix)
    except ConfigError as exc:
        raise InputError(str(exc).replace("ZOOMOPS_ZOOM_ACCOUNTS: ", "--account: ")) from None
    return Target(f"Zoom account {parsed.name} credentials", parsed.credentials_secret, ZOOM_FIELDS,
                  create_description=f"zoomops: Zoom S2S OAuth app credentials of account {parsed.name}")


def read_values(fields: tuple[str, ...], stream: TextIO | None = None,
                prompt: Callable[[str], str] = getpass.getpass) -> dict[str, str]:
    """A TTY is asked for each field without echo; anything else gives one value per line, in order."""
    stream = sys.stdin if stream is None else stream
    if stream.isatty():
        values = [prompt(f"{name}: ") for name in fields]
    else:
        try:
            text = stream.read()
        except UnicodeDecodeError:
            raise InputError("stdin is not UTF-8 text") from None
        values = [line.removesuffix("\r") for line in text.removeprefix("\ufeff").split("\n")]
        while values and not values[-1].strip():
            values.pop()
        if len(values) > len(fields):
            raise InputError(f"stdin has {len(values)} lines; expected {len(fields)}: "
                             f"{', '.join(fields)}, one per line")
        if len(values) < len(fields):
            raise InputError(f"{fields[len(values)]} is missing: expected {len(fields)} lines on stdin "
                             f"({', '.join(fields)}), got {len(values)}")
    result = dict(zip(fields, values))
    for name, value in result.items():
        _check(name, value)
    return result


def _check(name: str, value: str, label: str | None = None) -> None:
    label = label or name
    if not value.strip():
        raise InputError(f"{label} is empty")
    if name in _IDS and any(ch.isspace() for ch in value):
        raise InputError(f"{label} contains whitespace")
    if value != value.strip():
        raise InputError(f"{label} has leading or trailing whitespace")
    if value == PLACEHOLDER:
        raise InputError(f"{label} is still the placeholder {PLACEHOLDER}")
    if name == "client_id" and ":" in value:
        raise InputError(f"{label} contains ':' (HTTP Basic auth cannot carry it)")


def store(client, target: Target, values: dict[str, str]) -> tuple[str, str, bool]:
    """Write ``values`` (and the target's extras) as one JSON version; errors carry no value."""
    from botocore.exceptions import BotoCoreError, ClientError

    secrets = [*values.values(), *target.extra.values()]
    try:
        from .aws import put_secret

        return put_secret(client, target.secret_id, json.dumps({**values, **target.extra}),
                          create_description=target.create_description)
    except (BotoCoreError, ClientError) as exc:
        raise StoreError(f"could not store {target.what} in {target.secret_id}: {aws_reason(exc, secrets)}") from None


def aws_reason(exc: Exception, secrets: Iterable[str]) -> str:
    """The error code and AWS's message, with any of ``secrets`` (raw or JSON-escaped) masked;
    a parameter validation error (whose text may quote the parameters) by its kind only."""
    from botocore.exceptions import ClientError, ParamValidationError

    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        text = f"{error.get('Code') or 'error'}: {error.get('Message') or 'no message'}"
    elif isinstance(exc, ParamValidationError):
        text = "the request failed parameter validation"
    else:  # connection, credentials, region: no parameter values in these
        text = f"{type(exc).__name__}: {exc}"
    for value in secrets:
        for form in {value, json.dumps(value)[1:-1]}:
            if form:
                text = text.replace(form, "***")
    return text
