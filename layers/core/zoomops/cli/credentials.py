"""``zoomops credentials lti --secret-id ID_OR_ARN [--user-id ID]``, ``zoomops credentials zoom --account NAME``,
``zoomops credentials webmeeting --secret-id ID_OR_ARN`` and ``zoomops credentials luminus --secret-id ID_OR_ARN``:
store LTI Pro, Zoom, Web Meeting v6 and LumiNUS credentials in Secrets Manager, read from stdin (no echo on a
terminal), as a new secret version. Exit 0: stored; 2: input refused; 4: Secrets Manager refused or failed
(or AWS is not configured: no region, no credentials). Nothing is stored on 2 or 4.

The JSON written is exactly what is read: the LTI secret ``{"key", "secret"[, "user_id"]}``
(``aws.secrets.lti_credentials``), each Zoom account's ``<prefix><account>/credentials``
``{"account_id", "client_id", "client_secret"}`` (``aws.secrets.SecretsTokenStore``), the Web Meeting secret
``{"api_key"}`` and the LumiNUS secret ``{"subscription_key"[, "token"]}`` (``provision.platforms.read_secret``,
which checks them with :func:`check_value` too). No value is ever printed, logged or put into an exception.
"""

from __future__ import annotations

import argparse
import getpass
import json
import os
import sys
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TextIO

from ..errors import ConfigError, Refused, StoreError
from .common import EXIT_OK, EXIT_REFUSED, EXIT_UNAVAILABLE, fail

LTI_FIELDS = ("key", "secret")
ZOOM_FIELDS = ("account_id", "client_id", "client_secret")
WEBMEETING_FIELDS = ("api_key",)
LUMINUS_FIELDS, LUMINUS_OPTIONAL = ("subscription_key",), ("token",)
# identifiers and header values (X-API-KEY, Ocp-Apim-Subscription-Key, "Bearer <token>"): no whitespace anywhere
_IDS = ("key", "account_id", "client_id", "user_id", "api_key", "subscription_key", "token")
PLACEHOLDER = "CHANGE_ME"  # what template.yaml creates the secrets with


class InputError(Refused):
    """Refused input: the message names the field, never its value."""


@dataclass(frozen=True)
class Target:
    what: str  # for messages: "LTI Pro credentials", "Zoom account main credentials"
    secret_id: str
    fields: tuple[str, ...]
    extra: dict[str, str] = field(default_factory=dict)  # stored alongside (LTI user_id)
    create_description: str | None = None  # set: the secret is created if it does not exist
    optional: tuple[str, ...] = ()  # read after ``fields``; empty or absent: not stored


def _secret_id(secret_id: str) -> str:
    if not secret_id.strip() or any(ch.isspace() for ch in secret_id):
        raise InputError("--secret-id must be a secret name or ARN without whitespace")
    return secret_id


def webmeeting_target(secret_id: str) -> Target:
    return Target("Web Meeting API key", _secret_id(secret_id), WEBMEETING_FIELDS)


def luminus_target(secret_id: str) -> Target:
    return Target("LumiNUS credentials", _secret_id(secret_id), LUMINUS_FIELDS, optional=LUMINUS_OPTIONAL)


def lti_target(secret_id: str, user_id: str | None = None) -> Target:
    _secret_id(secret_id)
    extra = {}
    if user_id is not None:
        extra["user_id"] = user_id
        check_value("user_id", user_id, "--user-id")
    return Target("LTI Pro credentials", secret_id, LTI_FIELDS, extra)


def zoom_target(account: str, env: Mapping[str, str]) -> Target:
    from ..settings import _required, parse_accounts

    prefix = _required(env, "ZOOMOPS_ZOOM_SECRET_PREFIX")
    if "," in account or not account.strip():
        raise InputError(f"--account {account!r}: give one account name")
    try:
        [parsed] = parse_accounts(account, prefix)
    except ConfigError as exc:
        raise InputError(str(exc).replace("ZOOMOPS_ZOOM_ACCOUNTS: ", "--account: ")) from None
    return Target(
        f"Zoom account {parsed.name} credentials",
        parsed.credentials_secret,
        ZOOM_FIELDS,
        create_description=f"zoomops: Zoom S2S OAuth app credentials of account {parsed.name}",
    )


def read_values(
    fields: tuple[str, ...],
    stream: TextIO | None = None,
    prompt: Callable[[str], str] = getpass.getpass,
    optional: tuple[str, ...] = (),
) -> dict[str, str]:
    """A TTY is asked for each field without echo (an optional one may be left empty); anything else gives one
    value per line, in order, the optional ones last and only if wanted. Optional fields left empty are not in
    the result."""
    stream = sys.stdin if stream is None else stream
    if stream.isatty():
        values = [prompt(f"{name}: ") for name in fields]
        values += [prompt(f"{name} (optional, Enter for none): ") for name in optional]
    else:
        try:
            text = stream.read()
        except UnicodeDecodeError:
            raise InputError("stdin is not UTF-8 text") from None
        values = [line.removesuffix("\r") for line in text.removeprefix("\ufeff").split("\n")]
        while values and not values[-1].strip():
            values.pop()
        if len(values) > len(fields) + len(optional):
            raise InputError(f"stdin has {len(values)} lines; expected {_expected(fields, optional)}, one per line")
        if len(values) < len(fields):
            raise InputError(
                f"{fields[len(values)]} is missing: expected {_expected(fields, optional)} on stdin, "
                f"got {len(values)} lines"
                if optional
                else f"{fields[len(values)]} is missing: expected {len(fields)} lines on stdin "
                f"({', '.join(fields)}), got {len(values)}"
            )
    result = dict(zip((*fields, *optional), values))
    for name in optional:
        if name in result and not result[name]:
            del result[name]  # left empty: none
    for name, value in result.items():
        check_value(name, value)
    return result


def _expected(fields: tuple[str, ...], optional: tuple[str, ...]) -> str:
    if not optional:
        return f"{len(fields)}: {', '.join(fields)}"
    both = len(fields) + len(optional)
    return f"{len(fields)} or {both} lines: {', '.join(fields)}, then {', '.join(optional)} (optional)"


def check_value(name: str, value: str, label: str | None = None) -> None:
    """Refuse a value no credential can be (empty, padded, the template's placeholder, ...), naming ``label``
    (default: the field), never the value."""
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
        from ..aws.secrets import put_secret

        return put_secret(
            client,
            target.secret_id,
            json.dumps({**values, **target.extra}),
            create_description=target.create_description,
        )
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


_STDIN_HELP = (
    "stdin: on a terminal each value is asked for without echo; otherwise one value per line,\n"
    "in the order above (CRLF, a BOM and trailing blank lines are fine; nothing else).\n"
    "Exit 0: stored; 2: input or usage refused; 4: Secrets Manager refused or failed, or AWS\n"
    "is not configured (no region, no credentials). 2 and 4 store nothing."
)


def add_parser(commands) -> None:
    creds = commands.add_parser(
        "credentials",
        help="store LTI Pro, Zoom, Web Meeting or LumiNUS credentials in Secrets Manager, read from stdin",
        description="Store credentials in Secrets Manager as a new secret version, read from stdin so no value "
        "lands in shell history. Values are never printed.",
    )
    kinds = creds.add_subparsers(dest="credentials_command", required=True, metavar="KIND")
    for add in (_lti_parser, _zoom_parser, _webmeeting_parser, _luminus_parser):
        add(kinds)
    creds.set_defaults(run=run)


def _lti_parser(kinds) -> None:
    lti = kinds.add_parser(
        "lti",
        help="the LTI Pro key and secret (the disassociate function's secret)",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Read the LTI Pro key and secret (lines: key, secret) and store them as a new version of\n"
        'the LTI secret: {"key": ..., "secret": ...[, "user_id": ...]}.\n\n' + _STDIN_HELP,
        epilog="examples:\n"
        '  zoomops credentials lti --secret-id "$LTI_SECRET_ARN"     # asks: key, secret\n'
        '  pass show lti-pro | zoomops credentials lti --secret-id "$LTI_SECRET_ARN"',
    )
    lti.add_argument(
        "--secret-id", required=True, metavar="ID_OR_ARN", help="the LTI secret: the stack output LtiSecretArn"
    )
    lti.add_argument(
        "--user-id",
        metavar="ID",
        help="also store a default Zoom admin user id (the {userId, "
        "meetingList} body form); without it the secret has none",
    )


def _zoom_parser(kinds) -> None:
    zoom = kinds.add_parser(
        "zoom",
        help="a Zoom account's Server-to-Server OAuth app credentials",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Read a Zoom S2S OAuth app's credentials (lines: account_id, client_id, client_secret)\n"
        "and store them in <ZOOMOPS_ZOOM_SECRET_PREFIX><account>/credentials, the secret the token\n"
        "refresher reads (created if it does not exist).\n\n" + _STDIN_HELP,
        epilog="examples:\n"
        "  zoomops credentials zoom --account main     # asks: account_id, client_id, client_secret\n"
        "  pass show zoom/main | zoomops credentials zoom --account main\n"
        "then: zoomops token refresh --account main --force",
    )
    zoom.add_argument(
        "--account",
        required=True,
        metavar="NAME",
        help="account name (letters, digits, - and _), as in ZOOMOPS_ZOOM_ACCOUNTS",
    )


def _webmeeting_parser(kinds) -> None:
    webmeeting = kinds.add_parser(
        "webmeeting",
        help="the Web Meeting v6 API key (zoomops provision --provider webmeeting)",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description='Read the Web Meeting v6 API key (one line: api_key; it needs the "Account" and "Meeting"\n'
        'permissions) and store it as a new version of the Web Meeting secret: {"api_key": ...}.\n'
        "zoomops provision --provider webmeeting reads it when ZOOMOPS_WEBMEETING_SECRET_ID names the secret.\n\n"
        + _STDIN_HELP,
        epilog="examples:\n"
        '  zoomops credentials webmeeting --secret-id "$WEBMEETING_SECRET_ARN"     # asks: api_key\n'
        '  pass show web-meeting | zoomops credentials webmeeting --secret-id "$WEBMEETING_SECRET_ARN"\n'
        'then: ZOOMOPS_WEBMEETING_SECRET_ID="$WEBMEETING_SECRET_ARN" zoomops provision FILE --out DIR '
        "--provider webmeeting --associate none --dry-run",
    )
    webmeeting.add_argument(
        "--secret-id",
        required=True,
        metavar="ID_OR_ARN",
        help="the Web Meeting secret: <stack name>/webmeeting, or its ARN",
    )


def _luminus_parser(kinds) -> None:
    luminus = kinds.add_parser(
        "luminus",
        help="the LumiNUS subscription key and an optional bearer token (zoomops provision --provider luminus)",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Read the LumiNUS Ocp-Apim-Subscription-Key, then optionally a signed-in user's bearer token\n"
        "(lines: subscription_key[, token]; on a terminal, Enter at the token prompt stores none) and store\n"
        'them as a new version of the LumiNUS secret: {"subscription_key": ...[, "token": ...]}. A version\n'
        "stored without a token drops the previous one. zoomops provision --provider luminus reads it when\n"
        "ZOOMOPS_LUMINUS_SECRET_ID names the secret.\n\n" + _STDIN_HELP,
        epilog="examples:\n"
        '  zoomops credentials luminus --secret-id "$LUMINUS_SECRET_ARN"     # asks: subscription_key, token\n'
        '  pass show luminus/key | zoomops credentials luminus --secret-id "$LUMINUS_SECRET_ARN"   # no token\n'
        "  (pass show luminus/key; pass show luminus/token) |\n"
        '      zoomops credentials luminus --secret-id "$LUMINUS_SECRET_ARN"     # key and token',
    )
    luminus.add_argument(
        "--secret-id",
        required=True,
        metavar="ID_OR_ARN",
        help="the LumiNUS secret: <stack name>/luminus, or its ARN",
    )


def _target(args: argparse.Namespace) -> Target:
    kind = args.credentials_command
    if kind == "lti":
        return lti_target(args.secret_id, args.user_id)
    if kind == "webmeeting":
        return webmeeting_target(args.secret_id)
    if kind == "luminus":
        return luminus_target(args.secret_id)
    return zoom_target(args.account, os.environ)


def run(args: argparse.Namespace) -> int:
    import boto3
    from botocore.exceptions import BotoCoreError

    from ..aws import guard_sdk_logs

    try:
        target = _target(args)
        values = read_values(target.fields, optional=target.optional)
    except (ConfigError, ValueError) as exc:  # InputError is a ValueError
        return fail(exc, status=EXIT_REFUSED, suffix="; nothing stored")
    except (EOFError, KeyboardInterrupt):
        print("\nzoomops: cancelled; nothing stored", file=sys.stderr)
        return EXIT_REFUSED
    guard_sdk_logs()
    try:
        arn, version, created = store(boto3.session.Session().client("secretsmanager"), target, values)
    except (StoreError, BotoCoreError) as exc:  # BotoCoreError: no client (no region), no value in it
        return fail(exc, status=EXIT_UNAVAILABLE)
    print(f"stored {target.what} in {arn}: version {version}" + (" (new secret)" if created else ""))
    if args.credentials_command == "zoom":
        configured = [n.strip() for n in os.environ.get("ZOOMOPS_ZOOM_ACCOUNTS", "").split(",") if n.strip()]
        if configured and args.account not in configured:
            print(
                f"note: {args.account} is not in ZOOMOPS_ZOOM_ACCOUNTS: add it to the stack's ZoomAccounts "
                f"parameter so the refresher keeps its token",
                file=sys.stderr,
            )
        print(f"next: zoomops token refresh --account {args.account} --force", file=sys.stderr)
    elif args.credentials_command in ("webmeeting", "luminus"):
        variable = f"ZOOMOPS_{args.credentials_command.upper()}_SECRET_ID"
        print(f"next: zoomops provision reads it with {variable}={arn}", file=sys.stderr)
    return EXIT_OK
