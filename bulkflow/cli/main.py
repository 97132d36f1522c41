"""The ``bulkflow`` program: parse arguments, dispatch to a command, turn errors into exits.

Which outcome ends with which status is :mod:`bulkflow.cli.exits`; an unexpected error (a bug)
is reported in one line, without a traceback unless ``BULKFLOW_TRACEBACK=1``.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import os
import sys
import traceback
from collections.abc import Sequence
from types import ModuleType
from typing import Any, NoReturn

YOUNG_COLLECTION_EVERY = 10_000  # allocations (CPython's default is 700)


def run() -> NoReturn:
    """The ``bulkflow`` program: :func:`main`, plus what only a whole process may decide."""
    # What the imports build lives until exit. Collecting while they run only walks it again
    # and again (about 40 ms), and freezing it afterwards keeps every later collection, and the
    # one at exit, from walking it once more (about 0.1 s per process; the longest collector
    # pause during a run drops from 50-75 ms to about 25 ms). Each target allocates a
    # document's worth of containers that die with it: collecting the young generation every
    # 10,000 allocations instead of 700 lets most of them go first (young-generation time per
    # 5,000 targets: 150 ms -> 35 ms).
    gc.disable()
    try:
        _commands()
    except KeyboardInterrupt:  # Ctrl-C while still starting: nothing began, nothing to say
        sys.exit(130)
    gc.freeze()
    gc.set_threshold(YOUNG_COLLECTION_EVERY)
    gc.enable()
    sys.exit(main())


def _commands() -> tuple[ModuleType, ...]:
    from bulkflow.cli import apply, report, run, sim, targets, undo

    return run, apply, undo, targets, report, sim


class HelpFormatter(argparse.HelpFormatter):
    """Help that names each option's default, unless its text already does or there is none."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help or ""
        default = action.default
        if "default" in text or not action.option_strings or default in (None, False, []):
            return text
        if default is argparse.SUPPRESS:
            return text
        return f"{text} (default: %(default)s)"


class Parser(argparse.ArgumentParser):
    """An argument parser whose help shows defaults (every command's parser is one)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", HelpFormatter)
        super().__init__(*args, **kwargs)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser for every command."""
    from bulkflow._version import __version__

    run_cmds, *others = _commands()
    parser = Parser(
        prog="bulkflow", description="Safe, fast bulk updates of AEP Flow Service resources."
    )
    parser.add_argument("--version", action="version", version=f"bulkflow {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    run_cmds.add_parsers(commands)
    for module in others:
        module.add_parser(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the process exit status."""
    from bulkflow.cli.exits import EXIT_INTERNAL, EXIT_INTERRUPTED, for_error
    from bulkflow.cli.options import resolve_log_level
    from bulkflow.secrets import REGISTRY

    args = build_parser().parse_args(argv)
    resolve_log_level(args)
    _register_environment_secrets()
    try:
        status: int = args.handler(args)
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    except Exception as exc:
        known = for_error(exc)
        if known is not None:
            return _error(known[1], known[0])
        # A bug: say so without a traceback that could carry a secret.
        if os.environ.get("BULKFLOW_TRACEBACK"):
            print(REGISTRY.text(traceback.format_exc()), file=sys.stderr)
        hint = " (set BULKFLOW_TRACEBACK=1 for the traceback)"
        return _error(f"internal error: {type(exc).__name__}: {exc}{hint}", EXIT_INTERNAL)
    return status


def _register_environment_secrets() -> None:
    """Mask the credentials the environment holds from the first line any command prints.

    ``validate`` never builds settings, yet a message of its may quote a file (a ``.env``
    named as a targets file, say) that holds one.
    """
    from bulkflow.secrets import REGISTRY

    from_file: dict[str, str | None] = {}
    with contextlib.suppress(OSError, ValueError):
        from dotenv import dotenv_values  # what pydantic-settings reads .env with

        from_file = dict(dotenv_values(".env")) if os.path.isfile(".env") else {}
    for name in ("AEP_CLIENT_SECRET", "AEP_ACCESS_TOKEN"):
        for value in (os.environ.get(name), from_file.get(name)):
            if value:
                REGISTRY.add(value)


def _error(message: str, status: int) -> int:
    from bulkflow.job.jobfile import plain_message
    from bulkflow.secrets import REGISTRY

    print(f"error: {REGISTRY.text(plain_message(message))}", file=sys.stderr)
    return status


if __name__ == "__main__":
    run()
