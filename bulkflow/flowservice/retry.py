"""Transport retries: the only module that drives tenacity.

Retryable: 429, 5xx, timeouts and dropped connections (:class:`RetryableError`). The wait is
jittered exponential backoff, unless the server sent ``Retry-After`` (seconds or an HTTP date):
then exactly that long plus a small margin, so no request goes out before it has passed.
A ``Retry-After`` beyond ``max_retry_after_s`` is not waited out: the request fails instead.
A service that cannot be reached at all (:class:`UnreachableError`: refused, DNS, TLS) is
retried only briefly (``unreachable_attempts``, short backoff): every other request would fail
the same way, so each target should fail within about a second, not after minutes of backoff.
"""

from __future__ import annotations

import email.utils
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TypeVar

import anyio
import structlog
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception_type,
    wait_random_exponential,
)

from bulkflow.errors import RetryableError, UnreachableError

T = TypeVar("T")
log = structlog.get_logger("bulkflow.flowservice.retry")


@dataclass(frozen=True)
class RetryPolicy:
    """How hard to retry one request.

    Example::

        RetryPolicy(max_attempts=7, base_s=0.5, cap_s=30, max_retry_after_s=120,
                    unreachable_attempts=3, unreachable_backoff_s=0.2)

    With the defaults an unreachable service costs at most 0.2 s + 0.4 s of waiting.
    """

    max_attempts: int = 7
    base_s: float = 0.5
    cap_s: float = 30.0
    max_retry_after_s: float = 120.0
    retry_after_margin_s: float = 0.05
    unreachable_attempts: int = 3
    unreachable_backoff_s: float = 0.2

    def attempts_for(self, exc: BaseException | None) -> int:
        """How many attempts in all a request may take that failed with ``exc``."""
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
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


@dataclass(frozen=True)
class _Attempt:
    """The one field of tenacity's retry state that its backoff waits read."""

    attempt_number: int


def _delay(policy: RetryPolicy, exc: BaseException | None, attempt: int) -> float:
    """Seconds to wait after failed attempt number ``attempt``."""
    retry_after = getattr(exc, "retry_after_s", None)
    if retry_after is not None:
        jitter = random.uniform(0, policy.retry_after_margin_s)
        return float(retry_after) + policy.retry_after_margin_s + jitter
    if isinstance(exc, UnreachableError):
        return float(policy.unreachable_backoff_s * 2 ** (attempt - 1))
    backoff = wait_random_exponential(multiplier=policy.base_s, max=policy.cap_s)
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
    **context: object,
) -> T:
    """Run ``call`` until it succeeds, raises something not retryable, or attempts run out.

    The first attempt runs directly: tenacity's machinery costs more than a fast request,
    and most requests succeed at once. Only after a retryable failure does tenacity take over,
    counting that failure as attempt 1.
    """
    try:
        return await call()
    except RetryableError as exc:
        if policy.attempts_for(exc) <= 1:
            raise
        first = exc
    delay = _delay(policy, first, 1)
    _announce(first, 1, delay, on_retry, context)
    await anyio.sleep(delay)
    return await _retrying(policy, on_retry, context)(call)


def _retrying(
    policy: RetryPolicy,
    on_retry: Callable[[RetryableError, float], None] | None,
    context: dict[str, object],
) -> AsyncRetrying:
    """tenacity, for the attempts after the first; its attempt 1 is our attempt 2."""

    def failure(state: RetryCallState) -> BaseException | None:
        return state.outcome.exception() if state.outcome else None

    def before_sleep(state: RetryCallState) -> None:
        exc = failure(state)
        if isinstance(exc, RetryableError):
            _announce(exc, state.attempt_number + 1, state.upcoming_sleep, on_retry, context)

    def wait(state: RetryCallState) -> float:
        return _delay(policy, failure(state), state.attempt_number + 1)

    def stop(state: RetryCallState) -> bool:
        return state.attempt_number + 1 >= policy.attempts_for(failure(state))

    return AsyncRetrying(
        stop=stop,
        wait=wait,
        retry=retry_if_exception_type(RetryableError),
        before_sleep=before_sleep,
        reraise=True,
    )
