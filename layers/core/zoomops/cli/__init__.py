"""``zoomops``: the admin command line, on the same core as the Lambda functions.

One module per command group (``disassociate``, ``provision``, ``token``, ``report``, ``credentials``), each adding its
parser and its ``run``; the contracts (options, variables, exit statuses, output files) are in each module's
docstring and ``--help``. Exit statuses are the same for every command: 0 done, 1 some rows or items failed,
2 input or usage refused, 3 stopped early and resumable, 4 credentials, AWS or the network failed. Expected
failures are one line on stderr; ``--debug`` shows the traceback of an unexpected one.
"""

from __future__ import annotations

import argparse
import sys

from .. import __version__
from . import credentials, disassociate, provision, report, token
from .common import EXIT_REFUSED, EXIT_UNAVAILABLE, aws_failure, fail

COMMANDS = (disassociate, provision, token, report, credentials)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="zoomops",
        description="Zoom / LTI Pro chores for campus IT.",
        epilog="exit status (every command): 0 done, 1 some rows or items failed, 2 input or usage refused, "
        "3 stopped early and resumable, 4 credentials, AWS or the network failed",
    )
    parser.add_argument("--version", action="version", version=f"zoomops {__version__}")
    parser.add_argument("--debug", action="store_true", help="show the traceback of an unexpected error")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command in COMMANDS:
        command.add_parser(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    run = getattr(args, "run", None)
    if run is None:  # pragma: no cover - argparse enforces a command
        return EXIT_REFUSED
    try:
        return run(args)
    except Exception as exc:  # noqa: BLE001 - the one place an unexpected error becomes one line
        if args.debug:
            raise
        known = aws_failure(exc)
        if known is not None:
            return fail(known)
        return fail(
            f"unexpected error: {type(exc).__name__}: {exc} (run with --debug for the traceback)",
            status=EXIT_UNAVAILABLE,
        )


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
