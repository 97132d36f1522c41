"""Politeness: --rate caps requests per second; 429s lower the effective concurrency."""

from __future__ import annotations

from pathlib import Path

import pytest

from bulkflow.flowservice.pacing import AdaptiveConcurrency
from bulkflow.sim import Faults, Simulator
from tests.conftest import SimFactory, job_body
from tests.engine.test_engine import _assert_retry_after_honoured
from tests.engine_helpers import run_job

# Rates and wake-ups measured on the wall clock: run alone, not beside other workers.
pytestmark = pytest.mark.timing

ROLLOUT = [{"add_segment": {"id": "2d79d0d8-724f-49fc-a09d-d1dec338c93c"}}]


def flows(sim: Simulator, count: int) -> list[str]:
    ids = [f"pace-{n:04d}" for n in range(count)]
    for flow_id in ids:
        sim.store.ensure("flows", flow_id)
    return ids


def busiest_second(sim: Simulator) -> int:
    """The most Flow Service requests that arrived within any one-second window."""
    times = sorted(e.at_s for e in sim.stats.journal if "/flowservice/" in e.path)
    best, start = 0, 0
    for end, at in enumerate(times):
        while at - times[start] >= 1.0:
            start += 1
        best = max(best, end - start + 1)
    return best


async def test_rate_caps_requests_per_second(make_sim: SimFactory, tmp_path: Path) -> None:
    """--rate 50 with 16 workers and an instant server: no one-second window sees more than ~50."""
    sim = await make_sim()
    summary, _ = await run_job(
        sim,
        tmp_path,
        job_body(flows(sim, 60), ROLLOUT),
        concurrency=16,
        rate_per_s=50,
        batch_fetch=False,
    )
    assert summary.counts["updated"] == 60
    assert busiest_second(sim) <= 53
    assert summary.elapsed_s > 1.5


async def test_hard_throttling_lowers_concurrency_and_completes(
    make_sim: SimFactory, tmp_path: Path
) -> None:
    """A server allowing 40 requests/s: 429s halve concurrency, the run completes, Retry-After kept."""
    sim = await make_sim(Faults(throttle_rps=40, retry_after_s=0.25, latency_ms=5))
    summary, records = await run_job(
        sim, tmp_path, job_body(flows(sim, 80), ROLLOUT), concurrency=16, max_retries=20
    )
    assert summary.counts["updated"] == 80, [r["error"] for r in records if r["error"]]
    assert summary.throttled > 0
    assert summary.lowest_concurrency is not None
    assert summary.lowest_concurrency < 16
    assert _assert_retry_after_honoured(sim) > 0


async def test_adaptive_halves_once_per_burst_and_recovers() -> None:
    """Several 429s at once halve the limit once; successes add it back one round at a time."""
    adaptive = AdaptiveConcurrency(16, decrease_interval_s=10)
    for _ in range(5):
        adaptive.throttle()
    assert adaptive.current == 8
    assert adaptive.throttled == 5
    for _ in range(9):  # +1/limit each: about one place per round of `limit` successes
        adaptive.success()
    assert adaptive.current == 9
    for _ in range(200):
        adaptive.success()
    assert adaptive.current == 16


async def test_adaptive_never_below_one() -> None:
    """However hard the throttling, one request may still go."""
    adaptive = AdaptiveConcurrency(4, decrease_interval_s=0)
    for _ in range(10):
        adaptive.throttle()
    assert adaptive.current == 1
    assert adaptive.lowest == 1
