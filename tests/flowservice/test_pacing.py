"""Politeness: --rate caps requests per second; 429s slow every worker through one shared rate."""

from __future__ import annotations

from pathlib import Path

import anyio
import pytest

from bulkflow.flowservice.pacing import InFlightLimit
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


async def test_hard_throttling_finds_the_cap_and_completes(
    make_sim: SimFactory, tmp_path: Path
) -> None:
    """A server allowing 40 requests/s: the shared rate finds it, all done, Retry-After kept."""
    sim = await make_sim(Faults(throttle_rps=40, retry_after_s=0.25, latency_ms=5))
    summary, records = await run_job(
        sim, tmp_path, job_body(flows(sim, 80), ROLLOUT), concurrency=16, max_retries=1
    )
    assert summary.counts["updated"] == 80, [r["error"] for r in records if r["error"]]
    assert summary.throttled == sim.stats.count(status=429) > 0
    # What the gateway accepted over the second before a 429: at most its burst (40) + 40/s.
    assert summary.gateway_rate_per_s is not None
    assert 0 < summary.gateway_rate_per_s <= 80
    assert _assert_retry_after_honoured(sim) > 0


async def test_in_flight_limit_holds_the_next_request_until_one_ends() -> None:
    """With two places taken, a third request waits for a release."""
    limit = InFlightLimit(2)
    await limit._acquire()
    await limit._acquire()
    third_started = anyio.Event()

    async def third() -> None:
        await limit._acquire()
        third_started.set()

    async with anyio.create_task_group() as group:
        group.start_soon(third)
        await anyio.wait_all_tasks_blocked()
        assert not third_started.is_set()
        limit._release()
        await third_started.wait()
    assert limit.in_flight == 2
