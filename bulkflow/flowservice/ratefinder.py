"""One sending rate shared by every worker, found from the gateway's 429s (CUBIC).

This is the AWS SDKs' *adaptive* retry mode: until the service first answers 429 nothing is held
back; from then on each request takes a send time from one token bucket that all workers share,
and the bucket's rate follows CUBIC (RFC 9438). A 429 sets ``W_max``, the rate the gateway is
taken to allow, and cuts the rate to ``β × W_max``; each accepted answer then sets the rate to
``W_max − C·(K − t)³`` (``t`` seconds since the cut, ``K`` when the curve is back at ``W_max``):
quickly back up, a long plateau just under ``W_max``, then probing beyond it, slowly at first.
The rate never exceeds twice what was sent over the last second (or twice the cap as found,
if more), so a rate nobody uses cannot grow without bound.

Where this differs from the SDKs, and why:

- ``W_max`` is the rate the gateway *accepted* over the last second, not the rate sent: against
  a token bucket that is the cap itself (plus whatever burst was left), so the plateau sits just
  under the cap instead of above it, and few requests are refused.
- A 429 to a request scheduled before the last cut, or sent less than a round trip after it
  (while requests scheduled at the old rate were still reaching the gateway), does not cut
  again: it says nothing about the new rate (TCP's once per round trip). Without this, the 64
  answers to one burst cut the rate 64 times, to the floor.
- The bucket lets through bursts of at most :data:`BURST_S` seconds' worth, not a whole second's,
  and none right after a cut (the gateway's own bucket is empty then).

What it does less well: a gateway whose burst is much smaller than a second's worth is
underestimated at a run's first 429 (the run is younger than the window), and found again by
probing over some ten seconds; 429s that do not depend on this run's rate (another client
emptying a shared quota) keep cutting it, which is the polite reading of them.
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable
from typing import NamedTuple

BETA = 0.7  # the cut: CUBIC's β, as the AWS SDKs use
SCALE = 0.4  # CUBIC's C, in (requests/s) per s³: back at W_max 5 s after a cut at 200/s
WINDOW_S = 1.0  # rates are counted over the last second
BURST_S = 0.05  # how far ahead of its schedule the bucket lets a request go
MIN_RATE_PER_S = 0.5  # however hard the throttling, a request every two seconds may go


class _Window:
    """How many events happened in the last :data:`WINDOW_S` seconds."""

    __slots__ = ("_times",)

    def __init__(self) -> None:
        self._times: deque[float] = deque()

    def add(self, at: float) -> None:
        """Count one event at time ``at`` (and forget those that left the window)."""
        self._times.append(at)
        self._forget(at)

    def rate_per_s(self, now: float) -> float:
        """Events per second over the window ending at ``now``."""
        self._forget(now)
        return len(self._times) / WINDOW_S

    def _forget(self, now: float) -> None:
        times = self._times
        while times and times[0] <= now - WINDOW_S:
            times.popleft()


class Ticket(NamedTuple):
    """A request's place in the bucket: when it may go, and under which cut it was scheduled."""

    send_at: float
    generation: int


class RateFinder:
    """A token bucket whose rate finds the gateway's cap from its 429s.

    Example::

        finder = RateFinder()
        ticket = finder.reserve()           # sleep until ticket.send_at, then send
        finder.answered(429, ticket)        # or any other status
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self.rate_per_s: float | None = None  # None: never throttled, nothing held back
        self.w_max_per_s: float | None = None  # the cap as last found
        self.lowest_per_s: float | None = None
        self.throttled = 0
        self.cuts = 0
        self.last_accepted_at = clock()
        self._k_s = 0.0
        self._cut_at = -math.inf
        self._due = -math.inf  # the bucket's next free send time (GCRA's theoretical arrival)
        self._sent = _Window()
        self._accepted = _Window()

    def reserve(self) -> Ticket:
        """Take the next send time (a clock reading: now, or later when the rate holds back)."""
        now = self._clock()
        send_at = now
        if self.rate_per_s is not None:
            due = max(self._due, now)
            send_at = max(now, due - BURST_S)
            self._due = due + 1 / self.rate_per_s
        self._sent.add(send_at)
        return Ticket(send_at, self.cuts)

    def wait_s(self, ticket: Ticket) -> float:
        """Seconds from now until ``ticket`` may be sent (0 when it may go now)."""
        return max(0.0, ticket.send_at - self._clock())

    def answered(self, status: int, ticket: Ticket) -> None:
        """Feed back the answer to the request sent with ``ticket``: 429 cuts, others grow."""
        if status == 429:
            self._throttled(ticket)
        else:
            self._accepted_one()

    def quiet_s(self) -> float:
        """Seconds since the service last accepted a request (or since this finder started)."""
        return self._clock() - self.last_accepted_at

    def _accepted_one(self) -> None:
        now = self._clock()
        self.last_accepted_at = now
        self._accepted.add(now)
        if self.w_max_per_s is not None:
            since_cut = now - self._cut_at
            self._set(now, SCALE * (since_cut - self._k_s) ** 3 + self.w_max_per_s)

    def _throttled(self, ticket: Ticket) -> None:
        self.throttled += 1
        now = self._clock()
        round_trip_s = now - ticket.send_at
        if ticket.generation < self.cuts or ticket.send_at - self._cut_at < round_trip_s:
            # Scheduled at the rate before the last cut, or sent while requests scheduled at it
            # were still arriving at the gateway: no news about the current rate.
            return
        accepted = self._accepted.rate_per_s(now)
        w_max = accepted if self.rate_per_s is None else min(accepted, self.rate_per_s)
        self.w_max_per_s = w_max
        self._k_s = (w_max * (1 - BETA) / SCALE) ** (1 / 3)
        self._cut_at = now
        self.cuts += 1
        self._set(now, BETA * w_max)
        self._due = max(self._due, now) + BURST_S  # no burst into the gateway's empty bucket

    def _set(self, now: float, rate_per_s: float) -> None:
        # Never below twice the cap as found: after every worker slept out a Retry-After, the
        # last second's few sends must not cap the rate like a slow start.
        bound = 2 * max(self._sent.rate_per_s(now), self.w_max_per_s or 0.0)
        rate = max(MIN_RATE_PER_S, min(rate_per_s, bound))
        self.rate_per_s = rate
        if self.lowest_per_s is None or rate < self.lowest_per_s:
            self.lowest_per_s = rate
