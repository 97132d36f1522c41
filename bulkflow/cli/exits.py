"""Every exit status ``bulkflow`` ends with, in one place, and which outcome gives which.

0 every target ``updated``, ``unchanged`` or ``planned`` (also when ``--pause`` stopped after a
passed gate); 1 at least one ``failed`` or ``stale``, the service unreachable, a wave's gate
failed or the failure breaker tripped, or a saved plan stale (nothing sent); 2 invalid input
or refused credentials (nothing sent); 3 ``plan --detailed-exitcode`` with changes pending; 70 an internal
error (a bug); 130 interrupted (in-flight targets finished and recorded first).
"""

from __future__ import annotations

from bulkflow.engine.pool import Summary
from bulkflow.errors import AuthError, InputError, StalePlanError, TargetError
from bulkflow.records.resultlog import Status

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_INPUT = 2
EXIT_CHANGES = 3
EXIT_INTERNAL = 70  # EX_SOFTWARE
EXIT_INTERRUPTED = 130


def exit_status(summary: Summary, detailed: bool = False) -> int:
    """The status a finished run ends with (``detailed``: 3 when changes are pending)."""
    if summary.interrupted:
        return EXIT_INTERRUPTED
    counts = summary.counts
    if counts.get(Status.FAILED) or counts.get(Status.STALE) or summary.unreachable:
        return EXIT_FAILED
    if summary.stopped is not None:  # a wave's gate failed, or the failure breaker tripped
        return EXIT_FAILED
    if detailed and counts.get(Status.PLANNED):
        return EXIT_CHANGES
    return EXIT_OK


def for_error(exc: BaseException) -> tuple[int, str] | None:
    """The status and message for an error that ended a command, or None for a bug."""
    if isinstance(exc, InputError):
        return EXIT_INPUT, str(exc)
    if isinstance(exc, AuthError):
        return EXIT_INPUT, f"authentication failed: {exc}"
    if isinstance(exc, StalePlanError):
        return EXIT_FAILED, str(exc)
    if isinstance(exc, TargetError):  # before any target: resolving a query, checking a plan
        return EXIT_FAILED, f"the service answered: {exc.message}"
    return None
