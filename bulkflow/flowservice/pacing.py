"""Politeness: a requests-per-second cap (``--rate``) and concurrency that backs off on 429.

Adobe publishes no Flow Service rate limit, so bulkflow paces itself. ``--rate N`` is a leaky
bucket (aiolimiter) shared by every worker, with a burst of 5% of N, so no one-second window
carries much more than N requests. Independently, :class:`AdaptiveConcurrency` halves the
number of requests allowed in flight when the service answers 429 (at most once per
``decrease_interval_s``) and adds one back per round of successes: additive increase,
multiplicative decrease, as TCP does.
"""

from __future__ import annotations

import time

import anyio
import structlog
from aiolimiter import AsyncLimiter

log = structlog.get_logger("bulkflow.flowservice.pacing")


def rate_limiter(rate_per_s: float | None) -> AsyncLimiter | None:
    """A shared limiter for ``rate_per_s`` requests per second, or None for no cap."""
    if rate_per_s is None:
        return None
    burst = max(1.0, rate_per_s * 0.05)
    return AsyncLimiter(burst, burst / rate_per_s)


class AdaptiveConcurrency:
    """An in-flight limit between 1 and ``maximum`` that reacts to throttling."""

    def __init__(self, maximum: int, decrease_interval_s: float = 0.5) -> None:
        self.maximum = maximum
        self.limit = float(maximum)
        self.lowest = maximum
        self.in_flight = 0
        self.throttled = 0
        self.decreases = 0
        self._interval = decrease_interval_s
        self._last_decrease = float("-inf")
        self._waiters: list[anyio.Event] = []

    @property
    def current(self) -> int:
        """Requests allowed in flight right now."""
        return max(1, int(self.limit))

    def slot(self) -> _Slot:
        """Hold one of the currently allowed places for one request (``async with``)."""
        return _Slot(self)

    async def _acquire(self) -> None:
        # One event loop thread: the check and the increment cannot interleave, so the common
        # case (a place is free) costs no lock at all.
        while self.in_flight >= self.current:
            waiter = anyio.Event()
            self._waiters.append(waiter)
            await waiter.wait()
        self.in_flight += 1

    def _release(self) -> None:
        self.in_flight -= 1
        if self._waiters:
            self._release_waiters()

    def throttle(self) -> None:
        """A 429: halve the limit, unless it was just halved for the same burst."""
        self.throttled += 1
        now = time.monotonic()
        if now - self._last_decrease < self._interval:
            return
        self._last_decrease = now
        self.limit = max(1.0, self.limit / 2)
        self.decreases += 1
        self.lowest = min(self.lowest, self.current)
        log.info("run.throttled", effective_concurrency=self.current, throttled=self.throttled)

    def success(self) -> None:
        """A success: grow by one place per ``limit`` successes, up to the maximum."""
        if self.limit < self.maximum:
            before = self.current
            self.limit = min(float(self.maximum), self.limit + 1 / self.limit)
            if self.current > before and self._waiters:
                self._release_waiters()

    def _release_waiters(self) -> None:
        # Every waiter re-checks the limit, so a cancelled one cannot swallow the wake-up.
        waiters, self._waiters = self._waiters, []
        for waiter in waiters:
            waiter.set()


class _Slot:
    """``async with adaptive.slot():`` without a generator-based context manager's cost."""

    __slots__ = ("_owner",)

    def __init__(self, owner: AdaptiveConcurrency) -> None:
        self._owner = owner

    async def __aenter__(self) -> None:
        await self._owner._acquire()

    async def __aexit__(self, *exc: object) -> None:
        self._owner._release()


class Pacer:
    """Everything that paces requests: the adaptive in-flight limit and the optional rate cap."""

    def __init__(self, concurrency: int, rate_per_s: float | None = None) -> None:
        self.adaptive = AdaptiveConcurrency(concurrency)
        self.limiter = rate_limiter(rate_per_s)

    def request(self) -> _Paced:
        """Wait for a place in flight and, with ``--rate``, for the rate to allow one more."""
        return _Paced(self)

    def answered(self, status: int) -> None:
        """Feed an answer back: 429 slows down, other non-5xx answers let it recover."""
        if status == 429:
            self.adaptive.throttle()
        elif status < 500:
            self.adaptive.success()


class _Paced:
    """The context of one paced request."""

    __slots__ = ("_pacer",)

    def __init__(self, pacer: Pacer) -> None:
        self._pacer = pacer

    async def __aenter__(self) -> None:
        await self._pacer.adaptive._acquire()
        if self._pacer.limiter is not None:
            try:
                await self._pacer.limiter.acquire()
            except BaseException:
                self._pacer.adaptive._release()
                raise

    async def __aexit__(self, *exc: object) -> None:
        self._pacer.adaptive._release()
