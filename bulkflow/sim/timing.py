"""Simulated latency that is the configured latency on average, not a millisecond or two more.

An idle asyncio loop waits in ``epoll_wait``, whose timeout has a resolution of one
millisecond; :mod:`selectors` rounds it up so a sleep never ends early. Each sleep of the
simulator's latency therefore ended about half a millisecond late on average, and with two
sleeps per request a 50 ms latency became 51–52 ms: concurrency / (2 × latency) was then out
of reach for any client, the bare reference loop included. :class:`Deadlines` measures how late
its wake-ups are and starts each sleep that much early, so the mean lateness is zero.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

# How much of each wake-up's error goes into the lead: small enough to average out jitter,
# large enough to settle within a few hundred requests.
GAIN = 0.05
MAX_LEAD_S = 0.002


def _loop_time() -> float:
    return asyncio.get_running_loop().time()


@dataclass
class Deadlines:
    """Sleeps until loop times, early by the lateness measured so far (never by over 2 ms)."""

    clock: Callable[[], float] = _loop_time
    sleep: Callable[[float], Awaitable[None]] = field(default=asyncio.sleep)
    lead_s: float = 0.0
    wakeups: int = 0
    lateness_total_s: float = 0.0

    async def until(self, due: float) -> None:
        """Return at ``due`` (a ``clock`` time) on average; at once when ``due`` has passed."""
        delay = due - self.lead_s - self.clock()
        if delay <= 0:
            return
        await self.sleep(delay)
        lateness = self.clock() - due
        self.wakeups += 1
        self.lateness_total_s += lateness
        self.lead_s = min(MAX_LEAD_S, max(0.0, self.lead_s + GAIN * lateness))

    @property
    def mean_lateness_ms(self) -> float:
        """Mean of (wake-up − due) over every sleep so far, in milliseconds (may be negative)."""
        return 1000 * self.lateness_total_s / self.wakeups if self.wakeups else 0.0
