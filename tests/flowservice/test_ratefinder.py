"""The shared sending rate: cut on throttling, recovered by probing (a fake clock, no waiting)."""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import pytest

from bulkflow.flowservice.ratefinder import BETA, MIN_RATE_PER_S, RateFinder, Ticket


@dataclass
class FakeClock:
    """Seconds that pass only when a test says so."""

    now: float = 1000.0

    def __call__(self) -> float:
        return self.now


def accept_steadily(
    finder: RateFinder, clock: FakeClock, rate_per_s: float, seconds: float
) -> None:
    """Send and have accepted ``rate_per_s`` requests a second for ``seconds``."""
    for _ in range(int(rate_per_s * seconds)):
        clock.now += 1 / rate_per_s
        finder.answered(200, finder.reserve())


def throttle_once(finder: RateFinder, clock: FakeClock) -> None:
    """One request scheduled now, refused a round trip (20 ms) later."""
    ticket = finder.reserve()
    clock.now += 0.02
    finder.answered(429, ticket)


def test_nothing_is_held_back_before_the_first_429() -> None:
    """Until the service throttles, every request may go at once."""
    clock = FakeClock()
    finder = RateFinder(clock)
    sends = [finder.reserve().send_at for _ in range(1000)]
    assert finder.rate_per_s is None
    assert sends == [clock.now] * 1000


def test_a_429_cuts_the_rate_below_what_the_gateway_accepted() -> None:
    """200 requests/s accepted, then a 429: the shared rate drops to β × 200."""
    clock = FakeClock()
    finder = RateFinder(clock)
    accept_steadily(finder, clock, 200, 2)
    throttle_once(finder, clock)
    assert finder.rate_per_s == pytest.approx(BETA * 200, rel=0.02)
    assert finder.w_max_per_s == pytest.approx(200, rel=0.02)
    assert finder.throttled == 1


def test_the_rate_recovers_to_the_cap_and_then_probes_beyond_it() -> None:
    """After a cut, accepted answers bring the rate back to W_max within seconds, then above it."""
    clock = FakeClock()
    finder = RateFinder(clock)
    accept_steadily(finder, clock, 200, 2)
    throttle_once(finder, clock)
    cut = finder.rate_per_s
    assert cut is not None
    accept_steadily(finder, clock, cut, 1)
    rate_at_1s = finder.rate_per_s
    assert rate_at_1s is not None
    assert cut < rate_at_1s < 200
    for _ in range(8):
        accept_steadily(finder, clock, finder.rate_per_s, 1)
    assert finder.rate_per_s > 200


def test_429s_to_requests_scheduled_before_a_cut_do_not_cut_again() -> None:
    """The 64 answers to one burst cut the rate once, not 64 times."""
    clock = FakeClock()
    finder = RateFinder(clock)
    accept_steadily(finder, clock, 200, 2)
    burst = [finder.reserve() for _ in range(64)]
    clock.now += 0.02
    for ticket in burst:
        finder.answered(429, ticket)
    assert finder.cuts == 1
    assert finder.throttled == 64
    assert finder.rate_per_s == pytest.approx(BETA * 200, rel=0.05)


def test_a_429_sent_at_the_new_rate_cuts_again() -> None:
    """Still throttled a round trip after a cut: the rate is cut once more."""
    clock = FakeClock()
    finder = RateFinder(clock)
    accept_steadily(finder, clock, 200, 2)
    throttle_once(finder, clock)
    first = finder.rate_per_s
    assert first is not None
    clock.now += 0.1
    throttle_once(finder, clock)
    assert finder.cuts == 2
    assert finder.rate_per_s is not None
    assert finder.rate_per_s < first


def test_the_bucket_spaces_requests_evenly_at_its_rate() -> None:
    """At 100 requests/s, waiting workers go out 10 ms apart (no burst right after a cut)."""
    clock = FakeClock()
    finder = RateFinder(clock)
    accept_steadily(finder, clock, 100 / BETA, 2)
    throttle_once(finder, clock)
    assert finder.rate_per_s == pytest.approx(100, rel=0.05)
    sends = [finder.reserve().send_at for _ in range(50)]
    gaps = [later - earlier for earlier, later in itertools.pairwise(sends)]
    assert sends[0] == pytest.approx(clock.now)
    assert all(gap == pytest.approx(1 / finder.rate_per_s) for gap in gaps)


def test_the_rate_never_falls_below_the_floor() -> None:
    """A gateway that accepts nothing still lets one request through every two seconds."""
    clock = FakeClock()
    finder = RateFinder(clock)
    for _ in range(20):
        throttle_once(finder, clock)
        clock.now += 1.0
    assert finder.rate_per_s == MIN_RATE_PER_S
    assert finder.lowest_per_s == MIN_RATE_PER_S


def test_an_unused_rate_grows_no_further_than_twice_the_cap_found() -> None:
    """Workers sending 20/s for 30 s after a cut at 200/s: the rate stops at 400/s."""
    clock = FakeClock()
    finder = RateFinder(clock)
    accept_steadily(finder, clock, 200, 2)
    throttle_once(finder, clock)
    accept_steadily(finder, clock, 20, 30)
    assert finder.rate_per_s == pytest.approx(2 * 200, rel=0.05)


def test_a_used_rate_grows_no_further_than_twice_what_was_sent() -> None:
    """Sending 500/s long after a cut at 200/s: the rate probes up to 1,000/s, no further."""
    clock = FakeClock()
    finder = RateFinder(clock)
    accept_steadily(finder, clock, 200, 2)
    throttle_once(finder, clock)
    accept_steadily(finder, clock, 140, 20)
    accept_steadily(finder, clock, 500, 2)
    assert finder.rate_per_s == pytest.approx(2 * 500, rel=0.05)


def test_quiet_counts_from_the_last_accepted_answer() -> None:
    """How long the service has accepted nothing: the run's measure of progress."""
    clock = FakeClock()
    finder = RateFinder(clock)
    clock.now += 5
    assert finder.quiet_s() == 5
    finder.answered(200, Ticket(clock.now, 0))
    clock.now += 2
    throttle_once(finder, clock)
    assert finder.quiet_s() == pytest.approx(2.02)


def test_against_a_token_bucket_the_rate_settles_just_under_the_cap() -> None:
    """16 workers, 20 ms, a 100/s gateway (429 + Retry-After 1 s): near the cap, few refused."""
    sent, refused = run_against_bucket(cap_per_s=100, workers=16, seconds=60)
    accepted = sent - refused
    assert 0.85 * 100 * 60 <= accepted <= 100 * 61
    assert refused / sent < 0.05


def run_against_bucket(cap_per_s: float, workers: int, seconds: float) -> tuple[int, int]:
    """Workers sending through one finder to a token-bucket gateway, event by event."""
    clock = FakeClock(0.0)
    finder = RateFinder(clock)
    tokens, filled_at = cap_per_s, 0.0
    ready = [0.0] * workers  # when each worker next wants to send
    sent = refused = 0
    while True:
        worker = min(range(workers), key=ready.__getitem__)
        clock.now = ready[worker]
        if clock.now >= seconds:
            return sent, refused
        ticket = finder.reserve()
        at_gateway = ticket.send_at + 0.01
        tokens = min(cap_per_s, tokens + (at_gateway - filled_at) * cap_per_s)
        filled_at = at_gateway
        accepted = tokens >= 1
        tokens -= 1 if accepted else 0
        clock.now = at_gateway + 0.01
        finder.answered(200 if accepted else 429, ticket)
        sent += 1
        refused += 0 if accepted else 1
        ready[worker] = clock.now + (0 if accepted else 1.05)
