"""``zoomops report participants (--csv FILE | --meeting ID... | --user EMAIL... [--from DATE --to DATE]) --out DIR``

Participants of every past instance and the registrants of the chosen meetings, written to DIR (its
manifest.json makes the next run skip finished instances), using the account's token secret. Exit 0: done;
1: some instances failed (the next run retries them); 2: refused input; 3: stopped at Zoom's daily limit
(run the same command after the printed time); 4: no token, AWS or Zoom unreachable.
"""

from __future__ import annotations

import argparse
import os
import sys
from datetime import UTC, datetime
from pathlib import Path

from ..errors import ConfigError, Refused, Unavailable
from .common import EXIT_FAILED, EXIT_OK, EXIT_REFUSED, EXIT_STOPPED, epilog, every_second, fail, writable_folder

ENVIRONMENT = {
    "ZOOMOPS_ZOOM_ACCOUNTS": "Zoom account names, comma-separated (the first is the default)",
    "ZOOMOPS_ZOOM_SECRET_PREFIX": "where their secrets are: <prefix><account>/token (the stack's ZoomSecretPrefix)",
    "ZOOMOPS_PSEUDONYM_KEY": "with --pseudonymise: the key (16 bytes or more) names and emails are hashed with",
    "AWS_PROFILE / AWS_REGION": "AWS credentials and region as boto3 finds them",
}
EXITS = {
    0: "every instance written (or already done, or too recent)",
    1: "some instances failed: the next run retries them",
    2: "the request, the CSV or the usage was refused",
    3: "stopped at Zoom's daily limit: run the same command again after the printed time",
    4: "no usable token, or AWS or Zoom could not be reached",
}


def add_parser(commands) -> None:
    report = commands.add_parser("report", help="Zoom attendance reports")
    kinds = report.add_subparsers(dest="report_command", required=True, metavar="REPORT")
    part = kinds.add_parser(
        "participants",
        help="past-meeting participants and registrants, incrementally",
        description="Participants of every past instance and the registrants of the chosen meetings, written "
        "to DIR (manifest.json there makes the next run skip finished instances).",
        epilog=epilog(ENVIRONMENT, EXITS),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    source = part.add_mutually_exclusive_group(required=True)
    source.add_argument("--csv", metavar="FILE", help="the meeting IDs of an LTI Pro import CSV")
    source.add_argument("--meeting", metavar="ID", nargs="+", help="explicit meeting IDs")
    source.add_argument("--user", metavar="EMAIL", nargs="+", help="these users' past meetings (with --from/--to)")
    part.add_argument("--from", dest="since", metavar="DATE", help="YYYY-MM-DD (with --user; default 7 days ago)")
    part.add_argument("--to", dest="until", metavar="DATE", help="YYYY-MM-DD, inclusive (default today)")
    part.add_argument("--out", required=True, metavar="DIR", help="directory for the reports")
    part.add_argument("--account", metavar="NAME", help="Zoom account (default: the first configured)")
    part.add_argument("--workers", type=int, default=8, metavar="N", help="instances fetched at once (default 8)")
    part.add_argument(
        "--pseudonymise",
        action="store_true",
        help="store names and emails as keyed hashes (key from ZOOMOPS_PSEUDONYM_KEY)",
    )
    report.set_defaults(run=run)


def _account(name: str | None):
    from ..settings import ZoomAccountsSettings

    names = os.environ.get("ZOOMOPS_ZOOM_ACCOUNTS", "").strip()
    prefix = os.environ.get("ZOOMOPS_ZOOM_SECRET_PREFIX", "").strip()
    if not names or not prefix:
        raise ConfigError("environment variables ZOOMOPS_ZOOM_ACCOUNTS and ZOOMOPS_ZOOM_SECRET_PREFIX are required")
    accounts = {a.name: a for a in ZoomAccountsSettings(names, prefix).accounts}
    if name is not None and name not in accounts:
        raise KeyError(name)
    return accounts[name] if name else next(iter(accounts.values()))


def _request(args: argparse.Namespace):
    """The run's request and options from the command line; errors name the option."""
    from ..zoom.reports.pseudonymise import Pseudonymiser
    from ..zoom.reports.request import ReportRequest

    payload = {
        "from": args.since,
        "to": args.until,
        "meeting_ids": args.meeting,
        "users": args.user,
        "csv": args.csv,
    }  # a CSV's meetings get no default date range
    request = ReportRequest.from_payload(
        {k: v for k, v in payload.items() if v}, lookback_days=7, default_users=None, now=datetime.now(UTC)
    )
    pseudonymise = Pseudonymiser(os.environ.get("ZOOMOPS_PSEUDONYM_KEY", "").encode()) if args.pseudonymise else None
    if args.workers < 1:
        raise ValueError("--workers must be at least 1")
    return request, pseudonymise


def _meeting_ids(args: argparse.Namespace, request, client) -> list[str]:
    from ..zoom.reports.request import meeting_ids_from_csv, meetings_of_users

    if args.csv:
        with open(args.csv, "rb") as stream:
            return meeting_ids_from_csv(stream, args.csv)
    if request.meeting_ids:
        return request.meeting_ids
    return meetings_of_users(client, request.users, request.since, request.until)


def _progress():
    due = every_second()

    def progress(summary) -> None:
        if due():
            print(
                f"  {summary.instances_written} instances written, {summary.rows_written} rows, "
                f"{len(summary.failed)} failed",
                file=sys.stderr,
                flush=True,
            )

    return progress


def run(args: argparse.Namespace) -> int:
    import boto3
    from aws_lambda_powertools.utilities.parameters import SecretsProvider

    from ..aws import guard_sdk_logs
    from ..aws.secrets import SecretTokenSource
    from ..zoom.client import ZoomClient
    from ..zoom.reports.files import FileManifest, FolderSink
    from ..zoom.reports.run import Options, ReportRun

    out = Path(args.out)
    try:
        account = _account(args.account)
        request, pseudonymise = _request(args)
        writable_folder(out)
    except KeyError:
        return fail(f"no account named {args.account!r} in ZOOMOPS_ZOOM_ACCOUNTS", status=EXIT_REFUSED)
    except (ConfigError, ValueError) as exc:
        return fail(exc, status=EXIT_REFUSED)
    guard_sdk_logs()
    secrets = SecretsProvider(boto3_client=boto3.session.Session().client("secretsmanager"))
    client = ZoomClient(SecretTokenSource(account.token_secret, secrets))
    try:
        ids = _meeting_ids(args, request, client)
        options = Options(since=request.since, until=request.until, workers=args.workers, pseudonymise=pseudonymise)
        summary = ReportRun(
            client, FolderSink(out), FileManifest(out / "manifest.json"), options, progress=_progress()
        ).run(ids)
    except (Refused, OSError) as exc:  # the CSV was refused, or it could not be read
        return fail(exc, status=EXIT_REFUSED)
    except Unavailable as exc:  # no usable token, Zoom unreachable
        return fail(exc)
    finally:
        client.close()
    return _outcome(summary, out, len(ids))


def _outcome(summary, out: Path, asked: int) -> int:
    left = len(summary.remaining_meetings)
    print(
        f"{asked} meetings asked for: {summary.meetings} planned"
        + (f", {left} left for the next run" if left else "")
        + f"; {summary.instances} instances: {summary.instances_written} written "
        f"({summary.rows_written} participant rows, {summary.single_participant} single-participant), "
        f"{summary.skipped_done} already done, {summary.skipped_recent} too recent, {len(summary.failed)} failed"
        f"{f', {summary.deferred} deferred' if summary.deferred else ''}; {summary.registrants_written} registrants"
    )
    print(f"results: {out}/runs/{summary.run_id}/ (attendance.csv, instances.csv, summary.json)")
    for failure in summary.failed:
        print(
            f"failed: meeting {failure['meeting_id']} {failure['instance_uuid']}: {failure['reason']}", file=sys.stderr
        )
    if summary.stopped:
        print(
            f"zoomops: stopped early ({summary.stopped}); run the same command again after "
            f"{summary.resume_after or 'now'}: finished instances are not fetched again",
            file=sys.stderr,
        )
        return EXIT_STOPPED
    return EXIT_FAILED if summary.failed else EXIT_OK
