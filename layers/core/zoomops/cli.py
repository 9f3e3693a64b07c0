"""``zoomops``: the admin command line, on the same core as the Lambda functions.

Contract (other tooling relies on it):
    zoomops disassociate FILE --out DIR [--dry-run] [--user-id ID] [--batch-size N]
reads ZOOMOPS_LTI_BASE_URL, ZOOMOPS_LTI_KEY, ZOOMOPS_LTI_SECRET; writes
DIR/summary.json, DIR/rows.csv, DIR/retry.csv (and DIR/requests.jsonl on a dry
run). Exit 0: every row accounted for and none failed; 1: some failed
(retry.csv has them); 2: the file was refused or the usage is wrong.

    zoomops credentials lti --secret-id ID_OR_ARN [--user-id ID]
    zoomops credentials zoom --account NAME
read the values from stdin (no echo on a terminal) and store them as a new
secret version. Exit 0: stored; 1: Secrets Manager failed; 2: input refused.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from . import disassociate
from .lti import MAX_BATCH, LtiClient, LtiCredentials
from .results import ResultFiles, Summary
from .settings import CliLtiSettings, ConfigError

EXIT_OK, EXIT_FAILED, EXIT_REFUSED = 0, 1, 2


def _batch_size(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a whole number, got {text!r}") from None
    if not 1 <= value <= MAX_BATCH:
        raise argparse.ArgumentTypeError(f"must be between 1 and {MAX_BATCH}, got {value}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="zoomops", description="Zoom / LTI Pro chores for campus IT.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    dis = commands.add_parser(
        "disassociate",
        help="remove the meetings of an LTI Pro import CSV from their courses",
        description="Remove (disassociate) the meetings listed in an LTI Pro import CSV from their courses.",
    )
    dis.add_argument("file", metavar="FILE", help="the CSV (the LTI Pro import template format)")
    dis.add_argument("--out", required=True, metavar="DIR", help="directory for summary.json, rows.csv, retry.csv")
    dis.add_argument("--dry-run", action="store_true", help="sign and write the requests to requests.jsonl; send nothing")
    dis.add_argument("--user-id", metavar="ID", help="Zoom admin user ID: sends the {userId, meetingList} body form")
    dis.add_argument("--batch-size", type=_batch_size, default=MAX_BATCH, metavar="N",
                     help=f"meetings per request, 1-{MAX_BATCH} (default {MAX_BATCH})")

    token = commands.add_parser("token", help="Zoom Server-to-Server OAuth tokens in Secrets Manager",
                                description="Zoom S2S OAuth tokens kept in Secrets Manager, per account "
                                            "(ZOOMOPS_ZOOM_ACCOUNTS). Tokens are never printed.")
    token_commands = token.add_subparsers(dest="token_command", required=True, metavar="ACTION")
    refresh = token_commands.add_parser("refresh", help="refresh tokens with less than the margin left")
    refresh.add_argument("--account", metavar="NAME", help="only this account")
    refresh.add_argument("--force", action="store_true", help="refresh even if the token is fresh")
    status = token_commands.add_parser("status", help="per account: expires in, scope, last refresh")
    status.add_argument("--account", metavar="NAME", help="only this account")
    status.add_argument("--json", action="store_true", help="JSON instead of a table")

    report = commands.add_parser("report", help="Zoom attendance reports")
    report_commands = report.add_subparsers(dest="report_command", required=True, metavar="REPORT")
    part = report_commands.add_parser(
        "participants", help="past-meeting participants and registrants, incrementally",
        description="Participants of every past instance and the registrants of the chosen meetings, written "
                    "to DIR (manifest.json there makes the next run skip finished instances).")
    source = part.add_mutually_exclusive_group(required=True)
    source.add_argument("--csv", metavar="FILE", help="the meeting IDs of an LTI Pro import CSV")
    source.add_argument("--meeting", metavar="ID", nargs="+", help="explicit meeting IDs")
    source.add_argument("--user", metavar="EMAIL", nargs="+", help="these users' past meetings (with --from/--to)")
    part.add_argument("--from", dest="since", metavar="DATE", help="YYYY-MM-DD (with --user; default 7 days ago)")
    part.add_argument("--to", dest="until", metavar="DATE", help="YYYY-MM-DD, inclusive (default today)")
    part.add_argument("--out", required=True, metavar="DIR", help="directory for the reports")
    part.add_argument("--account", metavar="NAME", help="Zoom account (default: the first configured)")
    part.add_argument("--workers", type=int, default=8, metavar="N", help="instances fetched at once (default 8)")
    part.add_argument("--pseudonymise", action="store_true",
                      help="store names and emails as keyed hashes (key from ZOOMOPS_PSEUDONYM_KEY)")

    creds = commands.add_parser(
        "credentials", help="store LTI Pro or Zoom credentials in Secrets Manager, read from stdin",
        description="Store credentials in Secrets Manager as a new secret version, read from stdin so no value "
                    "lands in shell history. Values are never printed.")
    creds_commands = creds.add_subparsers(dest="credentials_command", required=True, metavar="KIND")
    stdin_help = ("stdin: on a terminal each value is asked for without echo; otherwise one value per line,\n"
                  "in the order above (CRLF, a BOM and trailing blank lines are fine; nothing else).\n"
                  "Exit 0: stored; 1: Secrets Manager refused or failed; 2: input or usage refused\n"
                  "(1 and 2 store nothing).")
    raw = argparse.RawDescriptionHelpFormatter
    lti = creds_commands.add_parser(
        "lti", help="the LTI Pro key and secret (the disassociate function's secret)", formatter_class=raw,
        description="Read the LTI Pro key and secret (lines: key, secret) and store them as a new version of\n"
                    "the LTI secret: {\"key\": ..., \"secret\": ...[, \"user_id\": ...]}.\n\n" + stdin_help,
        epilog="examples:\n"
               "  zoomops credentials lti --secret-id \"$LTI_SECRET_ARN\"     # asks: key, secret\n"
               "  pass show lti-pro | zoomops credentials lti --secret-id \"$LTI_SECRET_ARN\"")
    lti.add_argument("--secret-id", required=True, metavar="ID_OR_ARN",
                     help="the LTI secret: the stack output LtiSecretArn")
    lti.add_argument("--user-id", metavar="ID", help="also store a default Zoom admin user id (the {userId, "
                                                     "meetingList} body form); without it the secret has none")
    zoom = creds_commands.add_parser(
        "zoom", help="a Zoom account's Server-to-Server OAuth app credentials", formatter_class=raw,
        description="Read a Zoom S2S OAuth app's credentials (lines: account_id, client_id, client_secret)\n"
                    "and store them in <ZOOMOPS_ZOOM_SECRET_PREFIX><account>/credentials, the secret the token\n"
                    "refresher reads (created if it does not exist).\n\n" + stdin_help,
        epilog="examples:\n"
               "  zoomops credentials zoom --account main     # asks: account_id, client_id, client_secret\n"
               "  pass show zoom/main | zoomops credentials zoom --account main\n"
               "then: zoomops token refresh --account main --force")
    zoom.add_argument("--account", required=True, metavar="NAME",
                      help="account name (letters, digits, - and _), as in ZOOMOPS_ZOOM_ACCOUNTS")
    return parser


def cmd_credentials(args: argparse.Namespace) -> int:
    import os

    import boto3
    from botocore.exceptions import BotoCoreError

    from . import credentials
    from .aws import guard_sdk_logs

    try:
        if args.credentials_command == "lti":
            target = credentials.lti_target(args.secret_id, args.user_id)
        else:
            target = credentials.zoom_target(args.account, os.environ)
        values = credentials.read_values(target.fields)
    except (ConfigError, ValueError) as exc:  # InputError is a ValueError
        print(f"zoomops: {exc}; nothing stored", file=sys.stderr)
        return EXIT_REFUSED
    except (EOFError, KeyboardInterrupt):
        print("\nzoomops: cancelled; nothing stored", file=sys.stderr)
        return EXIT_REFUSED
    guard_sdk_logs()
    try:
        arn, version, created = credentials.store(boto3.session.Session().client("secretsmanager"), target, values)
    except (credentials.StoreError, BotoCoreError) as exc:  # BotoCoreError: no client (no region), no value in it
        print(f"zoomops: {exc}", file=sys.stderr)
        return EXIT_FAILED
    print(f"stored {target.what} in {arn}: version {version}" + (" (new secret)" if created else ""))
    if args.credentials_command == "zoom":
        configured = [n.strip() for n in os.environ.get("ZOOMOPS_ZOOM_ACCOUNTS", "").split(",") if n.strip()]
        if configured and args.account not in configured:
            print(f"note: {args.account} is not in ZOOMOPS_ZOOM_ACCOUNTS: add it to the stack's ZoomAccounts "
                  f"parameter so the refresher keeps its token", file=sys.stderr)
        print(f"next: zoomops token refresh --account {args.account} --force", file=sys.stderr)
    return EXIT_OK


def cmd_report(args: argparse.Namespace) -> int:
    import os
    from datetime import datetime, timezone

    import boto3
    from aws_lambda_powertools.utilities.parameters import SecretsProvider

    from .aws import guard_sdk_logs
    from .reports import FileManifest, FolderSink, Options, Pseudonymiser, ReportRequest, ReportRun
    from .reports import meeting_ids_from_csv, meetings_of_users
    from .settings import ZoomAccountsSettings
    from .zoom import SecretTokenSource, ZoomClient, ZoomError

    try:
        names = os.environ.get("ZOOMOPS_ZOOM_ACCOUNTS", "").strip()
        prefix = os.environ.get("ZOOMOPS_ZOOM_SECRET_PREFIX", "").strip()
        if not names or not prefix:
            raise ConfigError("environment variables ZOOMOPS_ZOOM_ACCOUNTS and ZOOMOPS_ZOOM_SECRET_PREFIX are required")
        accounts = {a.name: a for a in ZoomAccountsSettings(names, prefix).accounts}
        account = accounts[args.account] if args.account else next(iter(accounts.values()))
        payload = {"from": args.since, "to": args.until}
        if args.meeting:
            payload["meeting_ids"] = args.meeting
        elif args.user:
            payload["users"] = args.user
        request = ReportRequest.from_payload({k: v for k, v in payload.items() if v}, lookback_days=7,
                                             default_users=None, now=datetime.now(timezone.utc))
        pseudonymise = None
        if args.pseudonymise:
            key = os.environ.get("ZOOMOPS_PSEUDONYM_KEY", "")
            pseudonymise = Pseudonymiser(key.encode())
        if args.workers < 1:
            raise ValueError("--workers must be at least 1")
    except KeyError:
        print(f"zoomops: no account named {args.account!r} in ZOOMOPS_ZOOM_ACCOUNTS", file=sys.stderr)
        return EXIT_REFUSED
    except (ConfigError, ValueError) as exc:
        print(f"zoomops: {exc}", file=sys.stderr)
        return EXIT_REFUSED
    guard_sdk_logs()
    secrets = SecretsProvider(boto3_client=boto3.session.Session().client("secretsmanager"))
    client = ZoomClient(SecretTokenSource(account.token_secret, secrets))
    out = Path(args.out)
    try:
        if args.csv:
            with open(args.csv, "rb") as stream:
                ids = meeting_ids_from_csv(stream, args.csv)
        elif request.meeting_ids:
            ids = request.meeting_ids
        else:
            ids = meetings_of_users(client, request.users, request.since, request.until)
        last = [time.monotonic()]

        def progress(summary) -> None:
            if time.monotonic() - last[0] >= 1.0:
                last[0] = time.monotonic()
                print(f"  {summary.instances_written} instances written, {summary.rows_written} rows, "
                      f"{len(summary.failed)} failed", file=sys.stderr, flush=True)

        if args.csv:
            payload["csv"] = args.csv  # no default date range for a CSV's meetings
            request = ReportRequest.from_payload({k: v for k, v in payload.items() if v}, lookback_days=7,
                                                 default_users=None, now=datetime.now(timezone.utc))
        run = ReportRun(client, FolderSink(out), FileManifest(out / "manifest.json"),
                        Options(since=request.since, until=request.until, workers=args.workers,
                                pseudonymise=pseudonymise), progress=progress)
        summary = run.run(ids)
    except (OSError, ValueError, ZoomError) as exc:  # ValueError: the CSV was refused
        print(f"zoomops: {exc}", file=sys.stderr)
        return EXIT_REFUSED
    finally:
        client.close()
    print(f"{summary.meetings} meetings, {summary.instances} instances: {summary.instances_written} written "
          f"({summary.rows_written} participant rows, {summary.single_participant} single-participant), "
          f"{summary.skipped_done} already done, {summary.skipped_recent} too recent, {len(summary.failed)} failed; "
          f"{summary.registrants_written} registrants")
    print(f"results: {out}/runs/{summary.run_id}/ (attendance.csv, instances.csv, summary.json)")
    for failure in summary.failed:
        print(f"failed: meeting {failure['meeting_id']} {failure['instance_uuid']}: {failure['reason']}", file=sys.stderr)
    if summary.stopped:
        print(f"stopped early ({summary.stopped}); resume after {summary.resume_after or 'now'}: run the same "
              f"command again", file=sys.stderr)
    return EXIT_FAILED if summary.failed or summary.stopped else EXIT_OK


def _token_refresher():
    import boto3

    from .aws import guard_sdk_logs
    from .settings import TokenRefreshSettings
    from .tokens import DynamoLease, OAuthClient, TokenRefresher

    settings = TokenRefreshSettings.from_env()
    guard_sdk_logs()
    session = boto3.session.Session()
    lease = DynamoLease(settings.jobs_table, session.client("dynamodb"))
    return settings, TokenRefresher(session.client("secretsmanager"), OAuthClient(settings.oauth_url),
                                    margin=settings.margin, lease=lease)


def cmd_token(args: argparse.Namespace) -> int:
    import json

    try:
        settings, refresher = _token_refresher()
        accounts = [a for a in settings.accounts if args.account in (None, a.name)]
    except ConfigError as exc:
        print(f"zoomops: {exc}", file=sys.stderr)
        return EXIT_REFUSED
    if not accounts:
        print(f"zoomops: no account named {args.account!r} in ZOOMOPS_ZOOM_ACCOUNTS", file=sys.stderr)
        return EXIT_REFUSED
    if args.token_command == "refresh":
        results = [refresher.refresh(account, force=args.force) for account in accounts]
        bad = {"failed"}
    else:
        results = [refresher.status(account) for account in accounts]
        bad = {"missing", "expired", "expiring"}
    now = time.time()
    rows = [result.public(now) for result in results]
    if getattr(args, "json", False):
        print(json.dumps(rows, indent=2))
    else:
        print(f"{'account':<16} {'state':<10} {'expires in':>10}  {'last refresh':<25} scope")
        for row in rows:
            left = row["expires_in_seconds"]
            expires = "-" if left is None else f"{left // 60}m{left % 60:02d}s" if left > 0 else "expired"
            print(f"{row['account']:<16} {row['action']:<10} {expires:>10}  {row['refreshed_at'] or '-':<25} "
                  f"{row['scope'] or '-'}")
            if row["error"]:
                print(f"  {row['error']}", file=sys.stderr)
    return EXIT_FAILED if any(row["action"] in bad for row in rows) else EXIT_OK


class _Progress:
    """One line on stderr at most every second, so a large file is visibly moving."""

    def __init__(self, stream=sys.stderr, interval: float = 1.0):
        self._stream, self._interval, self._last = stream, interval, time.monotonic()
        self.shown = False

    def __call__(self, summary: Summary, batches_done: int) -> None:
        now = time.monotonic()
        if now - self._last >= self._interval:
            self._last = now
            self.shown = True
            print(f"  {summary.total_rows} rows read, batch {batches_done}: sent {summary.sent}, "
                  f"planned {summary.planned}, rejected {summary.rejected}, duplicates {summary.duplicates}, "
                  f"failed {summary.failed}", file=self._stream, flush=True)


def cmd_disassociate(args: argparse.Namespace) -> int:
    try:
        settings = CliLtiSettings.from_env()
        options = disassociate.Options(dry_run=args.dry_run, user_id=args.user_id, batch_size=args.batch_size)
    except (ConfigError, ValueError) as exc:
        print(f"zoomops: {exc}", file=sys.stderr)
        return EXIT_REFUSED
    source = Path(args.file)
    if not source.is_file():
        print(f"zoomops: {source}: no such file", file=sys.stderr)
        return EXIT_REFUSED
    out_dir = Path(args.out)
    if out_dir.exists() and not out_dir.is_dir():
        print(f"zoomops: --out {out_dir}: exists and is not a directory", file=sys.stderr)
        return EXIT_REFUSED
    if not args.dry_run:
        (out_dir / "requests.jsonl").unlink(missing_ok=True)  # an earlier dry run's plan is not this run's
    creds = LtiCredentials(key=settings.key, secret=settings.secret, base_url=settings.base_url)
    sender = None if args.dry_run else LtiClient(creds)
    out = ResultFiles(out_dir, dry_run=args.dry_run)
    try:
        with source.open("rb") as stream:
            summary = disassociate.run(stream, source.name, out, options, sender=sender, creds=creds,
                                       progress=_Progress())
    finally:
        if sender is not None:
            sender.close()
    return report(summary, Path(args.out))


def report(summary: Summary, out: Path) -> int:
    if summary.refused:
        print(f"zoomops: file refused: {summary.refused}", file=sys.stderr)
        print(f"summary: {out / 'summary.json'}", file=sys.stderr)
        return EXIT_REFUSED
    verb = "planned" if summary.dry_run else "sent"
    print(f"{summary.file}: {summary.total_rows} rows ({summary.encoding}): "
          f"{summary.sent + summary.planned} {verb}, {summary.rejected} rejected, "
          f"{summary.duplicates} duplicate, {summary.failed} failed, in {summary.batches} batches")
    for warning in summary.warnings:
        print(f"warning: {warning}")
    print(f"results: {out}/summary.json, rows.csv, retry.csv" + (", requests.jsonl" if summary.dry_run else ""))
    if summary.failed:
        print(f"{summary.failed} rows failed: run zoomops disassociate {out / 'retry.csv'} to re-drive them",
              file=sys.stderr)
        return EXIT_FAILED
    return EXIT_OK


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "disassociate":
        return cmd_disassociate(args)
    if args.command == "token":
        return cmd_token(args)
    if args.command == "report":
        return cmd_report(args)
    if args.command == "credentials":
        return cmd_credentials(args)
    return EXIT_REFUSED  # pragma: no cover - argparse enforces the choices


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
