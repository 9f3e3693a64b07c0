"""``zoomops``: the admin command line, on the same core as the Lambda functions.

One module per command group (``disassociate``, ``token``, ``report``, ``credentials``), each adding its
parser and its ``run``; the contracts (options, exit statuses, output files) are in each module's docstring.
"""

from __future__ import annotations

import argparse
import sys

from . import credentials, disassociate, report, token
from .common import EXIT_REFUSED

COMMANDS = (disassociate, token, report, credentials)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="zoomops", description="Zoom / LTI Pro chores for campus IT.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command in COMMANDS:
        command.add_parser(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    run = getattr(args, "run", None)
    return run(args) if run is not None else EXIT_REFUSED


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
