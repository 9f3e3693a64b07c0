"""``zoomops disassociate FILE --out DIR [--dry-run] [--user-id ID] [--batch-size N]``

Reads ZOOMOPS_LTI_BASE_URL, ZOOMOPS_LTI_KEY, ZOOMOPS_LTI_SECRET; writes DIR/summary.json, DIR/rows.csv,
DIR/retry.csv (and DIR/requests.jsonl on a dry run). Exit 0: every row accounted for and none failed;
1: some failed (retry.csv has them); 2: the file was refused or the usage is wrong.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..errors import ConfigError
from ..jobs.progress import Every
from ..lti import MAX_BATCH, disassociate
from ..lti.client import LtiClient
from ..lti.disassociate import Summary
from ..lti.signing import LtiCredentials
from ..settings import CliLtiSettings
from .common import EXIT_FAILED, EXIT_OK, EXIT_REFUSED, fail


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
        description="Remove (disassociate) the meetings listed in an LTI Pro import CSV from their courses.",
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


class _Progress:
    """One line on stderr at most every second, so a large file is visibly moving."""

    def __init__(self, stream=sys.stderr, interval: float = 1.0):
        self._stream, self._due = stream, Every(interval, first=False)

    def __call__(self, summary: Summary, batches_done: int) -> None:
        if self._due():
            print(
                f"  {summary.total_rows} rows read, batch {batches_done}: sent {summary.sent}, "
                f"planned {summary.planned}, rejected {summary.rejected}, duplicates {summary.duplicates}, "
                f"failed {summary.failed}",
                file=self._stream,
                flush=True,
            )


def run(args: argparse.Namespace) -> int:
    try:
        settings = CliLtiSettings.from_env()
        options = disassociate.Options(dry_run=args.dry_run, user_id=args.user_id, batch_size=args.batch_size)
    except (ConfigError, ValueError) as exc:
        return fail(exc, status=EXIT_REFUSED)
    source = Path(args.file)
    if not source.is_file():
        return fail(f"{source}: no such file", status=EXIT_REFUSED)
    out_dir = Path(args.out)
    if out_dir.exists() and not out_dir.is_dir():
        return fail(f"--out {out_dir}: exists and is not a directory", status=EXIT_REFUSED)
    if not args.dry_run:
        (out_dir / "requests.jsonl").unlink(missing_ok=True)  # an earlier dry run's plan is not this run's
    creds = LtiCredentials(key=settings.key, secret=settings.secret, base_url=settings.base_url)
    sender = None if args.dry_run else LtiClient(creds)
    out = disassociate.result_files(out_dir, dry_run=args.dry_run)
    try:
        with source.open("rb") as stream:
            summary = disassociate.run(
                stream, source.name, out, options, sender=sender, creds=creds, progress=_Progress()
            )
    finally:
        if sender is not None:
            sender.close()
    return report(summary, out_dir)


def report(summary: Summary, out: Path) -> int:
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
    if summary.failed:
        print(
            f"{summary.failed} rows failed: run zoomops disassociate {out / 'retry.csv'} to re-drive them",
            file=sys.stderr,
        )
        return EXIT_FAILED
    return EXIT_OK
