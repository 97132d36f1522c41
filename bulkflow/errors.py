"""bulkflow's exceptions: one small tree, rooted at :class:`BulkflowError`.

::

    BulkflowError
    ├── InputError          bad job file, secret, flag or environment: exit 2, nothing sent
    ├── AuthError           IMS refused the credentials: exit 2, nothing sent
    ├── StalePlanError      a saved plan's targets changed since review: exit 1, nothing sent
    └── TargetError         one target failed; the engine turns it into a ``failed`` record
        ├── PlanError       the target lacks what a change needs (kind ``invalid_plan``)
        ├── VerifyError     read back after the PATCH, the change is not there (``verify``)
        ├── DriftedError    undo: someone changed what the run changed since (``drifted``)
        ├── IrreversibleError  undo: nothing of the target can be taken back (``irreversible``)
        └── ApiError        an HTTP answer or transport failure, with ``kind`` and ``status``
            ├── RetryableError   429, 5xx, timeouts, dropped connections
            │   └── UnreachableError  no connection at all (refused, DNS, TLS): the run stops early
            ├── ConflictError    412: another writer changed the resource
            ├── InvalidResponseError  a 2xx that is not what Flow Service serves (kind
            │                         ``invalid_response``): not JSON, no ``items``, no etag
            └── UnauthorizedError 401: the token needs refreshing

A failed target is data (a log record), never an exception escaping a worker.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

SHOWN_PROBLEMS = 50  # a file with 400,000 bad lines is said in a screen, not a gigabyte


class BulkflowError(Exception):
    """Root of every error bulkflow raises on purpose."""


#: ``(line, message)``, or ``(line, message, file)`` when the problem is in another file than
#: the error's own (a targets CSV named by the job file, say).
Problem = tuple[int | None, str] | tuple[int | None, str, str]


class InputError(BulkflowError):
    """Invalid input, found before any request: names the file and line where it applies.

    ``problems`` holds every ``(line, message)`` found, so one run reports them all.
    """

    def __init__(
        self,
        message: str,
        path: Path | str | None = None,
        line: int | None = None,
        problems: Sequence[Problem] | None = None,
    ):
        self.path = path
        self.problems: list[Problem] = list(problems or [(line, message)])
        self.line, self.message = self.problems[0][0], self.problems[0][1]
        super().__init__(str(self))

    def __str__(self) -> str:
        shown = [self._where(p) + p[1] for p in self.problems[:SHOWN_PROBLEMS]]
        if len(self.problems) > SHOWN_PROBLEMS:
            shown.append(f"... and {len(self.problems) - SHOWN_PROBLEMS:,} more problems")
        return "\n".join(shown)

    def _where(self, problem: Problem) -> str:
        path = problem[2] if len(problem) > 2 else self.path
        if path is None:
            return ""
        line = problem[0]
        return f"{path}:{line}: " if line is not None else f"{path}: "


class AuthError(BulkflowError):
    """The identity provider refused the credentials (the message never holds a secret)."""


class StalePlanError(BulkflowError):
    """Targets of a saved plan changed since it was reviewed; nothing was sent."""

    def __init__(self, message: str, stale: dict[str, str]):
        super().__init__(message)
        self.stale = stale


class TargetError(BulkflowError):
    """One target failed. ``kind`` is the result log's error kind."""

    kind = "internal"

    def __init__(self, message: str, status: int | None = None, kind: str | None = None):
        super().__init__(message)
        self.message = message
        self.status = status
        if kind is not None:
            self.kind = kind


class PlanError(TargetError):
    """The document lacks the structure a change needs."""

    kind = "invalid_plan"


class VerifyError(TargetError):
    """Read back after the PATCH, the resource does not show the change (kind ``verify``)."""

    kind = "verify"


class DriftedError(TargetError):
    """Undo: the target changed since the run, where the run changed it; left alone."""

    kind = "drifted"


class IrreversibleError(TargetError):
    """Undo: what the run changed on the target cannot be taken back (credentials, say)."""

    kind = "irreversible"


class ApiError(TargetError):
    """A Flow Service answer that is not success; ``kind`` is ``http`` unless said otherwise."""

    kind = "http"


class RetryableError(ApiError):
    """Worth retrying: 429, 5xx, a timeout or a dropped connection."""

    def __init__(
        self,
        message: str,
        status: int | None = None,
        kind: str | None = None,
        retry_after_s: float | None = None,
    ):
        super().__init__(message, status, kind)
        self.retry_after_s = retry_after_s


class UnreachableError(RetryableError):
    """No connection could be made (refused, DNS, TLS); the message names host, port and cause.

    Retried briefly only: when the service cannot be reached, every target would fail the same
    way, so the engine stops the run instead of burning through them.
    """

    def __init__(self, message: str, host: str | None = None, port: int | None = None):
        super().__init__(message, None, "transport")
        self.host = host
        self.port = port


class InvalidResponseError(ApiError):
    """A success status whose body is not what Flow Service serves (kind ``invalid_response``)."""

    kind = "invalid_response"


class ConflictError(ApiError):
    """412: the etag sent is no longer current."""

    kind = "conflict"


class UnauthorizedError(ApiError):
    """401: the token is not (or no longer) valid."""

    kind = "auth"
