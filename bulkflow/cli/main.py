"""The ``bulkflow`` command: parse arguments, dispatch, map outcomes to exit codes.

Exit status: 0 every target ``updated``, ``unchanged`` or ``planned``; 1 at least one
``failed``; 2 invalid input or refused credentials (nothing sent); 130 interrupted;
70 an internal error (a bug), reported without a traceback unless ``BULKFLOW_TRACEBACK=1``.
"""

from __future__ import annotations

import argparse
import gc
import os
import sys
import traceback
from collections.abc import Sequence
from types import ModuleType
from typing import NoReturn

EXIT_INTERNAL = 70  # EX_SOFTWARE
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
    _commands()
    gc.freeze()
    gc.set_threshold(YOUNG_COLLECTION_EVERY)
    gc.enable()
    sys.exit(main())


def _commands() -> tuple[ModuleType, ModuleType, ModuleType]:
    from bulkflow.cli import apply as cli_plan
    from bulkflow.cli import run as cli_run
    from bulkflow.cli import sim as cli_sim

    return cli_run, cli_plan, cli_sim


def build_parser() -> argparse.ArgumentParser:
    """The argument parser for every command."""
    cli_run, cli_plan, cli_sim = _commands()
    parser = argparse.ArgumentParser(
        prog="bulkflow", description="Safe, fast bulk updates of AEP Flow Service resources."
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    cli_run.add_parsers(commands)
    cli_plan.add_parsers(commands)
    cli_sim.add_parser(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the process exit status."""
    from bulkflow.cli.run import EXIT_FAILED, EXIT_INPUT, EXIT_INTERRUPTED
    from bulkflow.errors import AuthError, InputError, StalePlanError, TargetError
    from bulkflow.secrets import REGISTRY

    args = build_parser().parse_args(argv)
    try:
        status: int = args.handler(args)
    except InputError as exc:
        return _error(str(exc), EXIT_INPUT)
    except AuthError as exc:
        return _error(f"authentication failed: {exc}", EXIT_INPUT)
    except StalePlanError as exc:
        return _error(str(exc), EXIT_FAILED)
    except TargetError as exc:  # before any target: resolving a query, checking a plan
        return _error(f"the service answered: {exc.message}", EXIT_FAILED)
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    except Exception as exc:  # a bug: say so without a traceback that could carry a secret
        if os.environ.get("BULKFLOW_TRACEBACK"):
            print(REGISTRY.text(traceback.format_exc()), file=sys.stderr)
        hint = " (set BULKFLOW_TRACEBACK=1 for the traceback)"
        return _error(f"internal error: {type(exc).__name__}: {exc}{hint}", EXIT_INTERNAL)
    return status


def _error(message: str, status: int) -> int:
    from bulkflow.secrets import REGISTRY

    print(f"error: {REGISTRY.text(message)}", file=sys.stderr)
    return status


if __name__ == "__main__":
    run()
