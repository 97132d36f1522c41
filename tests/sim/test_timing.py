"""Simulated latency: deadlines that are on time on average, and a collector that does not stall."""

from __future__ import annotations

import asyncio
import gc
from typing import Any

import aiohttp
import pytest

from bulkflow.sim import Faults
from bulkflow.sim.server import keep_collections_short
from bulkflow.sim.timing import MAX_LEAD_S, Deadlines
from tests.conftest import DEST_FLOW, SimFactory

# Rates and wake-ups measured on the wall clock: run alone, not beside other workers.
pytestmark = pytest.mark.timing


class LateClock:
    """A fake clock whose sleeps always end ``late_s`` after they should."""

    def __init__(self, late_s: float) -> None:
        self.now = 0.0
        self.late_s = late_s
        self.slept: list[float] = []

    def time(self) -> float:
        return self.now

    async def sleep(self, delay_s: float) -> None:
        self.slept.append(delay_s)
        self.now += delay_s + self.late_s


async def test_deadlines_learn_how_late_wakeups_are() -> None:
    """Wake-ups that are always 0.8 ms late are started 0.8 ms early once the lead has settled."""
    clock = LateClock(0.0008)
    deadlines = Deadlines(clock=clock.time, sleep=clock.sleep)
    for _ in range(300):
        await deadlines.until(clock.now + 0.025)
    assert abs(deadlines.lead_s - 0.0008) < 0.00005
    due = clock.now + 0.025
    await deadlines.until(due)
    assert abs(clock.now - due) < 0.00005


async def test_deadlines_never_lead_by_more_than_the_cap() -> None:
    """However late wake-ups are, a sleep never starts more than MAX_LEAD_S early."""
    clock = LateClock(0.010)
    deadlines = Deadlines(clock=clock.time, sleep=clock.sleep)
    for _ in range(500):
        await deadlines.until(clock.now + 0.025)
    assert deadlines.lead_s == MAX_LEAD_S
    assert min(clock.slept) >= 0.025 - MAX_LEAD_S - 1e-12


async def test_deadline_in_the_past_returns_without_sleeping() -> None:
    """A deadline already passed (slow handling) returns at once and teaches the lead nothing."""
    clock = LateClock(0.001)
    deadlines = Deadlines(clock=clock.time, sleep=clock.sleep)
    clock.now = 5.0
    await deadlines.until(4.0)
    assert clock.slept == []
    assert (deadlines.wakeups, deadlines.lead_s) == (0, 0.0)


async def test_real_loop_deadline_is_not_missed_by_more_than_the_lead() -> None:
    """On the real event loop a deadline returns no earlier than the lead allows."""
    deadlines = Deadlines()
    loop = asyncio.get_running_loop()
    due = loop.time() + 0.02
    await deadlines.until(due)
    assert loop.time() >= due - MAX_LEAD_S
    assert deadlines.wakeups == 1


async def test_collector_housekeeping_freezes_survivors() -> None:
    """The standalone simulator moves long-lived objects out of the collector's sight."""
    task = asyncio.create_task(keep_collections_short(every_s=0.01))
    try:
        await asyncio.sleep(0.05)
        assert gc.get_freeze_count() > 0
    finally:
        task.cancel()
        gc.unfreeze()


async def test_stats_report_how_late_latency_wakeups_were(
    make_sim: SimFactory, make_api: Any
) -> None:
    """``/_sim/stats`` counts the latency wake-ups (two per request) and their mean lateness."""
    # 100 ms, so that handling a request never overruns the second wait even on a loaded
    # machine (a wait whose deadline has already passed does not sleep, and is not counted).
    sim = await make_sim(Faults(latency_ms=100))
    api = make_api(sim)
    for _ in range(3):
        await api.request("GET", f"/flows/{DEST_FLOW}")
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"{sim.root_url}/_sim/stats") as resp,
    ):
        stats = await resp.json()
    assert stats["latency_wakeups"] == 6
    assert isinstance(stats["latency_mean_lateness_ms"], float)
