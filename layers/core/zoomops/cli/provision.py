"""``zoomops provision FILE --out DIR [--dry-run] [--associate csv|api|none] [--user-id ID] [--ledger PATH]
[--account NAME] [--provider zoom|webmeeting|luminus] [--workers N] [--daily-cap N] [--retry-lost]``

A course-meetings CSV becomes meetings tied to their LMS courses; writes DIR/summary.json, rows.csv,
lti-import-NNN.csv, removal.csv, retry.csv (and requests.jsonl on a dry run). Re-runs change only what
changed (the ledger). Exit 0: done; 1: some rows failed; 2: refused; 3: stopped early (deferred past a
host's daily allowance, or interrupted): run the same command again after the printed time; 4: credentials,
AWS or the platform could not be used.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from ..errors import ConfigError, Refused, Unavailable
from ..jobs.runfolder import RunFolder
from ..provision.run import ASSOCIATE, Context, Options, Summary, default_association
from .common import EXIT_FAILED, EXIT_OK, EXIT_REFUSED, EXIT_STOPPED, EXIT_UNAVAILABLE, Signals, epilog, fail

PROVIDERS = ("zoom", "webmeeting", "luminus")
LEDGER = "zoomops-ledger.jsonl"
ENVIRONMENT = {
    "ZOOMOPS_ZOOM_ACCOUNTS": "zoom: account names (the token secret of --account, default the first, is read)",
    "ZOOMOPS_ZOOM_SECRET_PREFIX": "zoom: where the accounts' secrets are (<prefix><account>/token)",
    "ZOOMOPS_ZOOM_PLAN": "zoom: pro (default) or business: the account's rate limits, which the creates keep",
    "ZOOMOPS_WEBMEETING_URL": "webmeeting: the instance's base URL (https://meeting.example.org)",
    "ZOOMOPS_WEBMEETING_SECRET_ID": 'webmeeting: the secret holding {"api_key"} (zoomops credentials webmeeting)',
    "ZOOMOPS_WEBMEETING_API_KEY": "webmeeting, when no secret id is set (local development): the API key itself",
    "ZOOMOPS_LUMINUS_URL": "luminus: the API's base URL (https://luminus.azure-api.net)",
    "ZOOMOPS_LUMINUS_SECRET_ID": 'luminus: the secret holding {"subscription_key"[, "token"]} (zoomops credentials '
    "luminus)",
    "ZOOMOPS_LUMINUS_SUBSCRIPTION_KEY": "luminus, when no secret id is set (local development): the subscription key",
    "ZOOMOPS_LUMINUS_TOKEN": "luminus, when no secret id is set: an optional bearer token of the signed-in user",
    "ZOOMOPS_LTI_BASE_URL / _KEY / _SECRET": "--associate api: LTI Pro (ZOOMOPS_LTI_IMPORT_KEY/_SECRET win: an "
    "import-only credential)",
}
EXITS = {
    0: "every row created, updated or unchanged (or rejected: see rows.csv)",
    1: "some rows failed (or their import did): retry.csv has them in the input's own columns",
    2: "the file or the usage was refused (nothing done)",
    3: "stopped early: rows deferred past a host's daily allowance, or interrupted: run the same command again "
    "after the printed time",
    4: "credentials, AWS or the platform could not be used",
}


def add_parser(commands) -> None:
    cmd = commands.add_parser(
        "provision",
        help="create course meetings from a CSV and tie them to their LMS courses",
        description="Create (or update) the meetings of a course-meetings CSV on Zoom, Web Meeting v6 or LumiNUS, "
        "and write LTI Pro's import files and the exact removal file. Re-runs change only what changed.",
        epilog=epilog(ENVIRONMENT, EXITS),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    cmd.add_argument("file", metavar="FILE", help="the course-meetings CSV")
    cmd.add_argument("--out", required=True, metavar="DIR", help="a new folder for the results")
    cmd.add_argument("--dry-run", action="store_true", help="plan every request into requests.jsonl; change nothing")
    cmd.add_argument(
        "--associate",
        choices=ASSOCIATE,
        help="csv: write LTI Pro import files (Zoom's default); api: LTI Pro's import API; none (the default "
        "for webmeeting and luminus: LTI Pro holds Zoom meetings only)",
    )
    cmd.add_argument("--user-id", metavar="ID", help="LTI Pro admin user ID for --associate api (signed)")
    cmd.add_argument("--ledger", metavar="PATH", help=f"the ledger (default: {LEDGER} beside FILE)")
    cmd.add_argument("--account", metavar="NAME", help="Zoom account (default: the first configured)")
    cmd.add_argument("--provider", choices=PROVIDERS, default="zoom", help="the platform (default zoom)")
    cmd.add_argument("--workers", type=int, default=16, metavar="N", help="rows worked on at once (default 16)")
    cmd.add_argument(
        "--daily-cap",
        type=int,
        metavar="N",
        help="meeting creates/updates per host per UTC day (default: the platform's; Zoom allows 100)",
    )
    cmd.add_argument(
        "--retry-lost",
        action="store_true",
        help="create again where a create's answer was lost and the platform cannot be asked",
    )
    cmd.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    source, out = Path(args.file), Path(args.out)
    if not source.is_file():
        return fail(f"{source}: no such file", status=EXIT_REFUSED)
    try:
        options = Options(
            provider=args.provider,
            associate=args.associate or default_association(args.provider),
            dry_run=args.dry_run,
            user_id=args.user_id,
            workers=_workers(args.workers),
            daily_cap=_daily_cap(args.daily_cap),
            retry_lost=args.retry_lost,
        )
        provider, account, scope = _provider(args)
        lti = _lti(args, options)
    except (ConfigError, Refused) as exc:
        return fail(exc, status=EXIT_REFUSED)
    except Unavailable as exc:  # a platform's credentials secret cannot be used
        return fail(exc, status=EXIT_UNAVAILABLE)
    from ..provision.ledger import FileLedger

    ledger = FileLedger(Path(args.ledger) if args.ledger else source.parent / LEDGER, scope)
    provider = provider(ledger)
    folder = RunFolder(
        out,
        "provision",
        source,
        {
            "provider": args.provider,
            "associate": options.associate,
            "user_id": args.user_id,
            "account": account,
            "dry_run": args.dry_run,
        },
    )
    try:
        read_from = folder.prepare()
    except Refused as exc:
        return fail(exc)
    from ..provision import run as provision

    with Signals() as signals, read_from.open("rb") as stream:
        lti_import = lti(ledger) if lti else None
        ctx = Context(provider, ledger, account, lti_import, stop=signals.reason, run_id=str(out.resolve()))
        summary = provision.run(stream, source.name, out, options, ctx)
    stopped = summary.interrupted or (f"deferred until {summary.resume_after}" if summary.deferred else None)
    folder.finish(interrupted=stopped)
    return report(summary, out)


def _workers(n: int) -> int:
    if not 1 <= n <= 64:
        raise Refused(f"--workers must be between 1 and 64, got {n}")
    return n


def _daily_cap(n: int | None) -> int | None:
    if n is not None and n < 1:
        raise Refused(f"--daily-cap must be at least 1, got {n}")
    return n


def _provider(args: argparse.Namespace):
    """A factory of the platform adapter (it needs the ledger's memory), the account, and the ledger's scope."""
    from ..provision import platforms

    return platforms.adapter(args.provider, args.account, os.environ)


def _lti(args: argparse.Namespace, options: Options):
    if options.associate != "api":
        return None
    from ..provision import platforms

    return platforms.lti_import(os.environ, user_id=args.user_id, dry_run=options.dry_run)


def report(summary: Summary, out: Path) -> int:
    if summary.refused:
        print(f"zoomops: file refused: {summary.refused}", file=sys.stderr)
        return EXIT_REFUSED
    done = "planned" if summary.dry_run else "created"
    print(
        f"{summary.file}: {summary.total_rows} rows ({summary.encoding}): {summary.created + summary.planned} "
        f"{done}, {summary.updated} updated, {summary.unchanged} unchanged, {summary.rejected} rejected, "
        f"{summary.failed} failed, {summary.deferred} deferred"
    )
    for warning in summary.warnings:
        print(f"warning: {warning}")
    print(f"results: {out}/ ({', '.join(summary.files)})")
    if summary.interrupted:
        print(
            f"zoomops: interrupted: {summary.interrupted}; run the same command again: nothing done is done twice",
            file=sys.stderr,
        )
        return EXIT_STOPPED
    if summary.stopped and not summary.deferred:
        print(f"zoomops: stopped: {summary.stopped}", file=sys.stderr)
        return EXIT_UNAVAILABLE
    if summary.deferred:
        print(
            f"zoomops: {summary.deferred} rows deferred past a host's daily allowance: run the same command "
            f"again after {summary.resume_after}",
            file=sys.stderr,
        )
        return EXIT_STOPPED
    if summary.import_failed:
        print(
            f"zoomops: {summary.import_failed} meetings were made but LTI Pro did not import them: run the same "
            f"command again to import them (nothing is created twice)",
            file=sys.stderr,
        )
    return EXIT_FAILED if summary.failed or summary.import_failed else EXIT_OK
