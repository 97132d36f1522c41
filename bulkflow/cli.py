"""The ``bulkflow`` command: parse arguments, dispatch, map outcomes to exit codes.

Exit status: 0 every target ``updated``, ``unchanged`` or ``planned``; 1 at least one
``failed``; 2 invalid input or refused credentials (nothing sent); 130 interrupted.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from bulkflow import cli_run, cli_sim
from bulkflow.errors import AuthError, InputError


def build_parser() -> argparse.ArgumentParser:
    """The argument parser for every command."""
    parser = argparse.ArgumentParser(
        prog="bulkflow", description="Safe, fast bulk updates of AEP Flow Service resources."
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    cli_run.add_parsers(commands)
    cli_sim.add_parser(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the process exit status."""
    args = build_parser().parse_args(argv)
    try:
        status: int = args.handler(args)
    except InputError as exc:
        return cli_run.report_input_error(exc)
    except AuthError as exc:
        print(f"error: authentication failed: {exc}", file=sys.stderr)
        return cli_run.EXIT_INPUT
    except KeyboardInterrupt:
        return cli_run.EXIT_INTERRUPTED
    return status


if __name__ == "__main__":
    sys.exit(main())
