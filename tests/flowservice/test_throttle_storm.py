"""A storm of 429s against a small cap: throttling is never a target failure, Retry-After is kept."""

from __future__ import annotations

from pathlib import Path

from bulkflow.records.resultlog import read_log
from bulkflow.sim import Faults, Simulator
from tests.cli.test_cli import bulkflow, sim_env
from tests.conftest import SimFactory, job_body, write_job
from tests.engine.test_engine import _assert_retry_after_honoured
from tests.engine_helpers import run_job

ROLLOUT = [{"add_segment": {"id": "2d79d0d8-724f-49fc-a09d-d1dec338c93c"}}]
TARGETS = 60


def flows(sim: Simulator, count: int) -> list[str]:
    """``count`` flows the simulator holds."""
    ids = [f"storm-{n:04d}" for n in range(count)]
    for flow_id in ids:
        sim.store.ensure("flows", flow_id)
    return ids


async def test_storm_with_retry_after_ends_with_every_target_done(
    make_sim: SimFactory, tmp_path: Path
) -> None:
    """A 20/s cap, 16 workers, one retry allowed per request: all updated, none sent early."""
    sim = await make_sim(Faults(throttle_rps=20, retry_after_s=0.3, latency_ms=5))
    summary, records = await run_job(
        sim, tmp_path, job_body(flows(sim, TARGETS), ROLLOUT), concurrency=16, max_retries=1
    )
    assert summary.counts["updated"] == TARGETS, [r["error"] for r in records if r["error"]]
    assert summary.throttled > 0
    assert _assert_retry_after_honoured(sim) == summary.throttled


async def test_storm_without_retry_after_ends_with_every_target_done(
    make_sim: SimFactory, tmp_path: Path
) -> None:
    """The same storm with no Retry-After on any 429: backoff and the shared rate finish it."""
    sim = await make_sim(Faults(throttle_rps=20, retry_after_missing_rate=1.0, latency_ms=5))
    summary, records = await run_job(
        sim,
        tmp_path,
        job_body(flows(sim, TARGETS), ROLLOUT),
        concurrency=16,
        max_retries=1,
        batch_fetch=False,
    )
    assert summary.counts["updated"] == TARGETS, [r["error"] for r in records if r["error"]]
    assert summary.throttled > 0
    assert sim.stats.count(status=429) == summary.throttled


async def test_cli_run_through_a_storm_exits_0_and_records_the_gateway_rate(
    make_sim: SimFactory, tmp_path: Path
) -> None:
    """``bulkflow run`` as a process against a 20/s cap: exit 0, all updated, the cap found."""
    sim = await make_sim(Faults(throttle_rps=20, retry_after_s=0.3, latency_ms=5))
    job = write_job(tmp_path, job_body(flows(sim, TARGETS), ROLLOUT))
    log = tmp_path / "run.jsonl"
    status, _, err = await bulkflow(
        "run", str(job), "--log", str(log), "--concurrency", "16", env=sim_env(sim)
    )
    assert status == 0, err
    summary = [r for r in read_log(log) if r["type"] == "summary"][-1]
    assert summary["counts"]["updated"] == TARGETS
    assert summary["throttled"] == sim.stats.count(status=429) > 0
    assert 0 < summary["gateway_rate_per_s"] <= 40  # at most the burst (20) + 20/s
    assert _assert_retry_after_honoured(sim) == summary["throttled"]
