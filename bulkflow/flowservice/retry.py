"""Transport retries: what is retried, how long to wait, and when to give up.

Retryable: 429, 5xx, timeouts and dropped connections (:class:`RetryableError`). The wait is
jittered exponential backoff (tenacity's), unless the server sent ``Retry-After`` (seconds or an
HTTP date): then exactly that long plus a small margin, so no request goes out before it has
passed. A ``Retry-After`` beyond ``max_retry_after_s`` is not waited out: the request fails.

Throttling (429) is not a failure of the request but the gateway asking for patience, so it is
retried on the *run's* time budget, not a count: for as long as the service has accepted any of
the run's requests within ``throttle_patience_s`` (:class:`Progress`, the shared rate finder),
which slows every worker meanwhile. 5xx, timeouts and dropped connections get
``max_attempts`` in all, however many 429s came between them. A service that cannot be reached
at all (:class:`UnreachableError`: refused, DNS, TLS) is retried only briefly
(``unreachable_attempts``, short backoff): every other request would fail the same way, so each
target should fail within about a second, not after minutes of backoff.
"""

from __future__ import annotations

import email.utils
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Protocol, TypeVar

import anyio
import structlog
from tenacity import wait_random_exponential

from bulkflow.errors import RetryableError, UnreachableError

T = TypeVar("T")
log = structlog.get_logger("bulkflow.flowservice.retry")
THROTTLED = 429


class Progress(Protocol):
    """How the run is doing: seconds since the service last accepted one of its requests."""

    def quiet_s(self) -> float:
        """Seconds since the service last accepted a request of this run."""


@dataclass(frozen=True)
class RetryPolicy:
    """How hard to retry one request.

    Example::

        RetryPolicy(max_attempts=7, base_s=0.5, cap_s=30, max_retry_after_s=120,
                    unreachable_attempts=3, unreachable_backoff_s=0.2,
                    throttle_patience_s=300, throttle_cap_s=10)

    With the defaults an unreachable service costs at most 0.2 s + 0.4 s of waiting, and 429s
    are retried until the service has accepted nothing for five minutes.
    """

    max_attempts: int = 7
    base_s: float = 0.5
    cap_s: float = 30.0
    max_retry_after_s: float = 120.0
    retry_after_margin_s: float = 0.05
    unreachable_attempts: int = 3
    unreachable_backoff_s: float = 0.2
    throttle_patience_s: float = 300.0
    throttle_cap_s: float = 10.0

    def attempts_for(self, exc: BaseException | None) -> int:
        """How many attempts in all a request may take that failed (not throttled) with ``exc``."""
        if isinstance(exc, UnreachableError):
            return min(self.max_attempts, self.unreachable_attempts)
        return self.max_attempts


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header: delta-seconds or an HTTP date."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    try:
        return max(0.0, float(text))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError, OverflowError):  # a year past any calendar is garbage too
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


@dataclass(frozen=True)
class _Attempt:
    """The one field of tenacity's retry state that its backoff waits read."""

    attempt_number: int


@dataclass
class _Tally:
    """One request's failures so far: 429s and the others are counted apart."""

    throttled: int = 0
    failed: int = 0
    started_s: float = field(default_factory=time.monotonic)

    def add(self, exc: RetryableError) -> int:
        """Count ``exc``; its number among the failures of its kind."""
        if exc.status == THROTTLED:
            self.throttled += 1
            return self.throttled
        self.failed += 1
        return self.failed

    def exhausted(
        self, exc: RetryableError, policy: RetryPolicy, progress: Progress | None
    ) -> bool:
        """Whether ``exc`` should end the request instead of being retried."""
        if exc.status != THROTTLED:
            return self.failed >= policy.attempts_for(exc)
        quiet = progress.quiet_s() if progress is not None else time.monotonic() - self.started_s
        return quiet > policy.throttle_patience_s


def _delay(policy: RetryPolicy, exc: BaseException | None, attempt: int) -> float:
    """Seconds to wait after ``exc``, the ``attempt``-th failure of its kind."""
    retry_after = getattr(exc, "retry_after_s", None)
    if retry_after is not None:
        jitter = random.uniform(0, policy.retry_after_margin_s)
        return float(retry_after) + policy.retry_after_margin_s + jitter
    if isinstance(exc, UnreachableError):
        return float(policy.unreachable_backoff_s * 2 ** (attempt - 1))
    throttled = isinstance(exc, RetryableError) and exc.status == THROTTLED
    cap = policy.throttle_cap_s if throttled else policy.cap_s
    backoff = wait_random_exponential(multiplier=policy.base_s, max=cap)
    return float(backoff(_Attempt(attempt)))  # type: ignore[arg-type]


def _announce(
    exc: RetryableError,
    attempt: int,
    delay: float,
    on_retry: Callable[[RetryableError, float], None] | None,
    context: dict[str, object],
) -> None:
    log.info(
        "target.retry_scheduled",
        attempt=attempt,
        status=exc.status,
        reason=exc.kind,
        wait_s=round(delay, 3),
        **context,
    )
    if on_retry is not None:
        on_retry(exc, delay)


async def with_retries(
    call: Callable[[], Awaitable[T]],
    policy: RetryPolicy,
    on_retry: Callable[[RetryableError, float], None] | None = None,
    progress: Progress | None = None,
    **context: object,
) -> T:
    """Run ``call`` until it succeeds, raises something not retryable, or may not retry.

    A plain loop rather than tenacity's: most requests succeed at once, and tenacity's
    machinery cost more than a fast request; only its backoff arithmetic is used.
    """
    tally: _Tally | None = None
    while True:
        try:
            return await call()
        except RetryableError as exc:
            tally = tally or _Tally()
            number = tally.add(exc)
            if tally.exhausted(exc, policy, progress):
                raise
            delay = _delay(policy, exc, number)
            _announce(exc, tally.throttled + tally.failed, delay, on_retry, context)
            await anyio.sleep(delay)
