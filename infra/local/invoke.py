"""Invoke a function's handler with an event read from stdin, as Lambda would.

    python -m infra.local.invoke disassociate [--timeout SECONDS] < event.json

The environment (endpoint, table names, secret ids) is the caller's: the local
stack's ``function_env()`` gives the same variables template.yaml sets.
"""

from __future__ import annotations

import argparse
import json
import sys

from zoomops.names import LOCAL

from .stack import LambdaContext, load_handler


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m infra.local.invoke")
    parser.add_argument("function", help="folder name under functions/")
    parser.add_argument("--timeout", type=float, default=900.0, help="the Lambda's timeout in seconds")
    args = parser.parse_args(argv)
    event = json.load(sys.stdin)
    module = load_handler(args.function)
    response = module.handler(
        event, LambdaContext(function_name=LOCAL.function(args.function), timeout_seconds=args.timeout)
    )
    print(json.dumps(response))
    return 0


if __name__ == "__main__":
    sys.exit(main())
