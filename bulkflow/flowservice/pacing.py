"""Politeness: one sending rate shared by every worker, found from 429s, and ``--rate``.

Adobe publishes no Flow Service rate limit, so bulkflow finds the gateway's: from the first 429
on, every request takes its send time from one token bucket whose rate follows the 429s
(:mod:`bulkflow.flowservice.ratefinder`: cut on throttling, recovered by probing), so all
workers slow down together and the run settles just under the cap. ``--rate N`` is a hard
ceiling on top: a leaky bucket (aiolimiter) shared by every worker, with a burst of 5% of N, so
no one-second window carries much more than N requests. :class:`InFlightLimit` keeps at most
``concurrency`` requests in flight.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import anyio
import structlog
from aiolimiter import AsyncLimiter

from bulkflow.flowservice.ratefinder import RateFinder, Ticket

log = structlog.get_logger("bulkflow.flowservice.pacing")


def rate_limiter(rate_per_s: float | None) -> AsyncLimiter | None:
    """A shared limiter for ``rate_per_s`` requests per second, or None for no cap."""
    if rate_per_s is None:
        return None
    burst = max(1.0, rate_per_s * 0.05)
    return AsyncLimiter(burst, burst / rate_per_s)


class InFlightLimit:
    """At most ``maximum`` requests in flight across every worker (and the batch feed).

    It no longer shrinks on 429: halving it cost throughput wherever a request takes long
    (at 200 ms and concurrency 64 the run fell to 0.84–0.88 of the gateway's cap instead of
    0.91–0.94), and the shared rate already slows every worker. ``current`` and ``lowest``
    stay for the progress bar and the summary.
    """

    def __init__(self, maximum: int) -> None:
        self.maximum = maximum
        self.lowest = maximum
        self.in_flight = 0
        self._waiters: list[anyio.Event] = []

    @property
    def current(self) -> int:
        """Requests allowed in flight."""
        return self.maximum

    async def _acquire(self) -> None:
        # One event loop thread: the check and the increment cannot interleave, so the common
        # case (a place is free) costs no lock at all.
        while self.in_flight >= self.maximum:
            waiter = anyio.Event()
            self._waiters.append(waiter)
            await waiter.wait()
        self.in_flight += 1

    def _release(self) -> None:
        self.in_flight -= 1
        if self._waiters:
            # Every waiter re-checks, so a cancelled one cannot swallow the wake-up.
            waiters, self._waiters = self._waiters, []
            for waiter in waiters:
                waiter.set()


#: The name the progress bar (``cli/console.py``) knows the in-flight limit by.
AdaptiveConcurrency = InFlightLimit


class Pacer:
    """Everything that paces requests: the shared rate found from 429s
    (:class:`~bulkflow.flowservice.ratefinder.RateFinder`), the in-flight limit, and the
    optional ``--rate`` ceiling."""

    def __init__(
        self,
        concurrency: int,
        rate_per_s: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.adaptive = InFlightLimit(concurrency)
        self.limiter = rate_limiter(rate_per_s)
        self.finder = RateFinder(clock)

    @property
    def throttled(self) -> int:
        """429s answered so far."""
        return self.finder.throttled

    def gateway_rate_per_s(self) -> float | None:
        """Requests/s the gateway accepted when it last throttled (None: it never did)."""
        found = self.finder.w_max_per_s
        return None if found is None else round(found, 1)

    def quiet_s(self) -> float:
        """Seconds since the service last accepted a request (the retry loop's measure)."""
        return self.finder.quiet_s()

    def request(self) -> _Paced:
        """Wait for a place in flight, the shared rate, and ``--rate``; yields the ticket."""
        return _Paced(self)

    def answered(self, status: int, ticket: Ticket) -> None:
        """Feed an answer back: a 429 cuts the shared rate, other answers let it recover."""
        cuts = self.finder.cuts
        self.finder.answered(status, ticket)
        if self.finder.cuts != cuts:
            rate = self.finder.rate_per_s or 0.0
            log.info("run.throttled", rate_per_s=round(rate, 1), throttled=self.throttled)


class _Paced:
    """The context of one paced request."""

    __slots__ = ("_pacer",)

    def __init__(self, pacer: Pacer) -> None:
        self._pacer = pacer

    async def __aenter__(self) -> Ticket:
        pacer = self._pacer
        await pacer.adaptive._acquire()
        try:
            ticket = pacer.finder.reserve()
            wait_s = pacer.finder.wait_s(ticket)
            if wait_s > 0:
                await anyio.sleep(wait_s)
            if pacer.limiter is not None:
                await pacer.limiter.acquire()
        except BaseException:
            pacer.adaptive._release()
            raise
        return ticket

    async def __aexit__(self, *exc: object) -> None:
        self._pacer.adaptive._release()
