"""``zoomops disassociate FILE --out DIR [--dry-run] [--user-id ID] [--batch-size N]``

Reads ZOOMOPS_LTI_BASE_URL, ZOOMOPS_LTI_KEY, ZOOMOPS_LTI_SECRET; writes DIR/summary.json, DIR/rows.csv,
DIR/retry.csv (and DIR/requests.jsonl on a dry run), with DIR/checkpoint.json. Exit 0: every row accounted
for and none failed; 1: some failed (retry.csv has them; the cause is named when it is the credentials or
the host); 2: the file was refused or the usage is wrong; 3: interrupted: run the same command again to
resume (added to the original contract: before, an interruption was a traceback).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..errors import ConfigError, Refused
from ..jobs.runfolder import RunFolder, free_name
from ..lti import MAX_BATCH, disassociate
from ..lti.client import LtiClient
from ..lti.disassociate import Summary
from ..lti.signing import LtiCredentials
from ..settings import CliLtiSettings
from .common import (
    EXIT_FAILED,
    EXIT_OK,
    EXIT_REFUSED,
    EXIT_STOPPED,
    Progress,
    Signals,
    epilog,
    fail,
)

ENVIRONMENT = {
    "ZOOMOPS_LTI_BASE_URL": "LTI Pro's REST base URL (https://applications.zoom.us/api/v1/lti/rich)",
    "ZOOMOPS_LTI_KEY": "the LTI Pro key (LTI Pro's configuration page)",
    "ZOOMOPS_LTI_SECRET": "the LTI Pro secret (read it without echo: read -rs ZOOMOPS_LTI_SECRET)",
}
EXITS = {
    0: "every row accounted for, none failed",
    1: "some rows failed (also when LTI Pro refused the credentials or could not be reached: the message says so):"
    " DIR/retry.csv has them, and the printed command re-drives them",
    2: "the file or the usage was refused (nothing sent)",
    3: "interrupted (Ctrl-C, SIGTERM, an error): run the same command again to resume",
}


def _batch_size(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a whole number, got {text!r}") from None
    if not 1 <= value <= MAX_BATCH:
        raise argparse.ArgumentTypeError(f"must be between 1 and {MAX_BATCH}, got {value}")
    return value


def add_parser(commands) -> None:
    dis = commands.add_parser(
        "disassociate",
        help="remove the meetings of an LTI Pro import CSV from their courses",
        description="Remove (disassociate) the meetings listed in an LTI Pro import CSV from their courses. "
        "Results go to DIR, which must be new (or hold an interrupted run of the same file, which is resumed).",
        epilog=epilog(ENVIRONMENT, EXITS),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    dis.add_argument("file", metavar="FILE", help="the CSV (the LTI Pro import template format)")
    dis.add_argument("--out", required=True, metavar="DIR", help="directory for summary.json, rows.csv, retry.csv")
    dis.add_argument(
        "--dry-run", action="store_true", help="sign and write the requests to requests.jsonl; send nothing"
    )
    dis.add_argument("--user-id", metavar="ID", help="Zoom admin user ID: sends the {userId, meetingList} body form")
    dis.add_argument(
        "--batch-size",
        type=_batch_size,
        default=MAX_BATCH,
        metavar="N",
        help=f"meetings per request, 1-{MAX_BATCH} (default {MAX_BATCH})",
    )
    dis.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    try:
        settings = CliLtiSettings.from_env()
        options = disassociate.Options(dry_run=args.dry_run, user_id=args.user_id, batch_size=args.batch_size)
    except (ConfigError, ValueError) as exc:
        return fail(exc, status=EXIT_REFUSED)
    source, out_dir = Path(args.file), Path(args.out)
    if not source.is_file():
        return fail(f"{source}: no such file", status=EXIT_REFUSED)
    folder = RunFolder(
        out_dir,
        "disassociate",
        source,
        {"dry_run": options.dry_run, "user_id": options.user_id, "batch_size": options.batch_size},
    )
    try:
        read_from = folder.prepare()
    except Refused as exc:
        return fail(exc)
    if folder.resumed:
        print(
            f"resuming the interrupted run in {out_dir} ({len(folder.accepted_batches())} batches already "
            f"accepted by LTI Pro are not sent again)",
            file=sys.stderr,
        )
    creds = LtiCredentials(key=settings.key, secret=settings.secret, base_url=settings.base_url)
    summary = _run(read_from, source.name, out_dir, options, creds, folder)
    return report(summary, out_dir, source)


def _run(read_from: Path, name: str, out_dir: Path, options, creds: LtiCredentials, folder: RunFolder) -> Summary:
    """The run, with Ctrl-C and SIGTERM turned into a clean stop: the rest is recorded as not sent."""
    sender = None if options.dry_run else LtiClient(creds)
    out = disassociate.result_files(out_dir, dry_run=options.dry_run)
    with Signals() as signals, read_from.open("rb") as stream, Progress(stream, "batches") as progress:
        try:
            summary = disassociate.run(
                stream,
                name,
                out,
                options,
                sender=sender,
                creds=creds,
                checkpoint=folder,
                progress=progress.update,
                stop=signals.reason,
            )
        finally:
            if sender is not None:
                sender.close()
    folder.finish(interrupted=summary.interrupted)
    return summary


def report(summary: Summary, out: Path, source: Path | None = None) -> int:
    if summary.refused:
        print(f"zoomops: file refused: {summary.refused}", file=sys.stderr)
        print(f"summary: {out / 'summary.json'}", file=sys.stderr)
        return EXIT_REFUSED
    verb = "planned" if summary.dry_run else "sent"
    print(
        f"{summary.file}: {summary.total_rows} rows ({summary.encoding}): "
        f"{summary.sent + summary.planned} {verb}, {summary.rejected} rejected, "
        f"{summary.duplicates} duplicate, {summary.failed} failed, in {summary.batches} batches"
    )
    for warning in summary.warnings:
        print(f"warning: {warning}")
    print(f"results: {out}/summary.json, rows.csv, retry.csv" + (", requests.jsonl" if summary.dry_run else ""))
    if summary.interrupted:
        print(
            f"zoomops: interrupted: {summary.interrupted}; {summary.failed} rows not sent (in {out / 'retry.csv'}). "
            f"Run the same command again to resume without re-sending what LTI Pro accepted.",
            file=sys.stderr,
        )
        return EXIT_STOPPED
    if not summary.failed:
        return EXIT_OK
    again = free_name(out, "redrive")
    print(
        f"{summary.failed} rows failed: re-drive them with: zoomops disassociate {out / 'retry.csv'} --out {again}",
        file=sys.stderr,
    )
    return _failure_status(summary)


def _failure_status(summary: Summary) -> int:
    """1, as the contract says for failed rows, with the cause named when it is the credentials or the host."""
    if summary.credentials_refused:
        print(
            "zoomops: LTI Pro refused the credentials: check ZOOMOPS_LTI_KEY and ZOOMOPS_LTI_SECRET (or the "
            "LTI secret) against LTI Pro's configuration page",
            file=sys.stderr,
        )
    elif summary.unreachable and not summary.sent:
        print(f"zoomops: LTI Pro could not be reached: {summary.unreachable}", file=sys.stderr)
    return EXIT_FAILED
