"""The ``bulkflow`` command: parse arguments, dispatch, map outcomes to exit codes."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from bulkflow import cli_sim


def build_parser() -> argparse.ArgumentParser:
    """The argument parser for every command."""
    parser = argparse.ArgumentParser(
        prog="bulkflow", description="Safe, fast bulk updates of AEP Flow Service resources."
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    cli_sim.add_parser(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the process exit status."""
    args = build_parser().parse_args(argv)
    try:
        status: int = args.handler(args)
    except KeyboardInterrupt:
        return 130
    return status


if __name__ == "__main__":
    sys.exit(main())
