"""``zoomops token refresh [--account NAME] [--force]`` and ``zoomops token status [--account NAME] [--json]``:
Zoom S2S OAuth tokens in Secrets Manager, per account (ZOOMOPS_ZOOM_ACCOUNTS). Tokens are never printed.
Exit 0: every account fine; 1 (status): some account's token is missing, expired or expiring; 2: refused
usage; 4 (refresh): Zoom refused an account's credentials or could not be reached, or AWS failed."""

from __future__ import annotations

import argparse
import json
import sys
import time

from ..errors import ConfigError
from .common import EXIT_FAILED, EXIT_OK, EXIT_REFUSED, EXIT_UNAVAILABLE, aws_failure, epilog, fail

ENVIRONMENT = {
    "ZOOMOPS_ZOOM_ACCOUNTS": "Zoom account names, comma-separated",
    "ZOOMOPS_ZOOM_SECRET_PREFIX": "where their secrets are: <prefix><account>/credentials and /token",
    "ZOOMOPS_JOBS_TABLE": "the jobs table (a short lease keeps two refreshers from asking Zoom at once)",
    "ZOOMOPS_ZOOM_OAUTH_URL": "Zoom's OAuth token endpoint (default https://zoom.us/oauth/token)",
    "ZOOMOPS_TOKEN_MARGIN_SECONDS": "refresh when less than this is left (default 1800)",
    "AWS_PROFILE / AWS_REGION": "AWS credentials and region as boto3 finds them",
}
EXITS = {
    0: "every account's token is fine (refreshed or fresh)",
    1: "status: some account's token is missing, expired or expiring",
    2: "the usage was refused (an unknown account, a missing variable)",
    4: "refresh: Zoom refused an account's credentials or could not be reached; or AWS failed",
}


def add_parser(commands) -> None:
    token = commands.add_parser(
        "token",
        help="Zoom Server-to-Server OAuth tokens in Secrets Manager",
        description="Zoom S2S OAuth tokens kept in Secrets Manager, per account "
        "(ZOOMOPS_ZOOM_ACCOUNTS). Tokens are never printed.",
        epilog=epilog(ENVIRONMENT, EXITS),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    actions = token.add_subparsers(dest="token_command", required=True, metavar="ACTION")
    helps = {"epilog": epilog(ENVIRONMENT, EXITS), "formatter_class": argparse.RawDescriptionHelpFormatter}
    refresh = actions.add_parser("refresh", help="refresh tokens with less than the margin left", **helps)
    refresh.add_argument("--account", metavar="NAME", help="only this account")
    refresh.add_argument("--force", action="store_true", help="refresh even if the token is fresh")
    status = actions.add_parser("status", help="per account: expires in, scope, last refresh", **helps)
    status.add_argument("--account", metavar="NAME", help="only this account")
    status.add_argument("--json", action="store_true", help="JSON instead of a table")
    token.set_defaults(run=run)


def _token_refresher():
    import boto3

    from ..aws import guard_sdk_logs
    from ..aws.dynamo import DynamoLease
    from ..aws.secrets import SecretsTokenStore
    from ..settings import TokenRefreshSettings
    from ..zoom.tokens import OAuthClient, TokenRefresher

    settings = TokenRefreshSettings.from_env()
    guard_sdk_logs()
    session = boto3.session.Session()
    lease = DynamoLease(settings.jobs_table, session.client("dynamodb"))
    return settings, TokenRefresher(
        SecretsTokenStore(session.client("secretsmanager")),
        OAuthClient(settings.oauth_url),
        margin=settings.margin,
        lease=lease,
    )


def _table(rows: list[dict]) -> None:
    print(f"{'account':<16} {'state':<10} {'expires in':>10}  {'last refresh':<25} scope")
    for row in rows:
        left = row["expires_in_seconds"]
        expires = "-" if left is None else f"{left // 60}m{left % 60:02d}s" if left > 0 else "expired"
        print(
            f"{row['account']:<16} {row['action']:<10} {expires:>10}  {row['refreshed_at'] or '-':<25} "
            f"{row['scope'] or '-'}"
        )
        if row["error"]:
            print(f"  {row['error']}", file=sys.stderr)


def run(args: argparse.Namespace) -> int:
    try:
        settings, refresher = _token_refresher()
        accounts = [a for a in settings.accounts if args.account in (None, a.name)]
    except ConfigError as exc:
        return fail(exc, status=EXIT_REFUSED)
    if not accounts:
        return fail(f"no account named {args.account!r} in ZOOMOPS_ZOOM_ACCOUNTS", status=EXIT_REFUSED)
    try:
        if args.token_command == "refresh":
            results = [refresher.refresh(account, force=args.force) for account in accounts]
        else:
            results = [refresher.status(account) for account in accounts]
    except Exception as exc:  # noqa: BLE001 - AWS failures become one line; anything else goes up
        known = aws_failure(exc)
        if known is None:
            raise
        if "ResourceNotFoundException" in str(known) and "Item" in str(known):
            return fail(
                f"the jobs table {settings.jobs_table} does not exist (ZOOMOPS_JOBS_TABLE)", status=EXIT_UNAVAILABLE
            )
        return fail(known)
    now = time.time()
    rows = [result.public(now) for result in results]
    if getattr(args, "json", False):
        print(json.dumps(rows, indent=2))
    else:
        _table(rows)
    if args.token_command == "refresh":
        return EXIT_UNAVAILABLE if any(row["action"] == "failed" for row in rows) else EXIT_OK
    return EXIT_FAILED if any(row["action"] in {"missing", "expired", "expiring"} for row in rows) else EXIT_OK
