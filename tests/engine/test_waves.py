"""Waves and their gates in the engine: bounds, each check, a stop while soaking, a resume."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from bulkflow.engine.waves import wave_bounds
from bulkflow.flowservice.pacing import Pacer
from bulkflow.records.resultlog import read_log
from bulkflow.runconfig import RunConfig
from bulkflow.runner import RunControl, RunPlan, execute
from bulkflow.sim import Faults
from bulkflow.sim.faults import FaultPlan
from tests.cli.test_waves import REJECT_S3, ROLLOUT, seed
from tests.conftest import CONNECTION, SimFactory, job_body
from tests.engine_helpers import prepared, run_job, sim_settings
from tests.records.test_resume import wait_for_results


@pytest.mark.parametrize(
    ("sizes", "total", "bounds"),
    [
        ((10, "10%", "100%"), 1000, [10, 100, 1000]),
        ((5, 10), 30, [5, 10, 30]),  # the targets beyond the last size are one more wave
        ((10, 100, 1000), 50, [10, 50]),  # a size beyond the targets ends the waves there
        ((10,), 5, [5]),
        (("12.5%", "100%"), 8, [1, 8]),  # rounded up, exactly: 12.5% of 8 is 1
        (("33.3%",), 3, [1, 3]),
        (("1%", "2%"), 1000, [10, 20, 1000]),
        ((10,), 0, []),
    ],
)
def test_wave_bounds(sizes: tuple[int | str, ...], total: int, bounds: list[int]) -> None:
    """Cumulative sizes become where each wave ends, the last at the number of targets."""
    assert wave_bounds(sizes, total) == bounds


def test_a_wave_not_larger_than_the_one_before_is_refused() -> None:
    """10% of 50 is 5, not more than 10: the size's index and the figures are in the error."""
    with pytest.raises(ValueError, match=r"wave 2 \(10%: 5 of 50 targets\)") as caught:
        wave_bounds((10, "10%", "100%"), 50)
    assert caught.value.args[0] == 1


async def test_records_carry_their_wave_and_the_summary_counts_per_wave(
    make_sim: SimFactory, tmp_path: Path
) -> None:
    """Each result names its wave; the summary line has the counts of each."""
    sim = await make_sim()
    ids = seed(sim, 12)
    summary, results = await run_job(sim, tmp_path, job_body(ids, ROLLOUT), waves=(2, "50%"))
    assert [r["wave"] for r in results] == [1] * 2 + [2] * 4 + [3] * 6
    record = summary.as_record()
    assert [w["counts"]["updated"] for w in record["waves"]] == [2, 4, 6]
    assert record["paused_after_wave"] is None


async def test_a_run_without_waves_writes_no_wave_fields(
    make_sim: SimFactory, tmp_path: Path
) -> None:
    """Without waves, records and the summary are as before: no ``wave``, no ``waves``."""
    sim = await make_sim()
    summary, results = await run_job(sim, tmp_path, job_body(seed(sim, 3), ROLLOUT))
    assert all("wave" not in r for r in results)
    assert "waves" not in summary.as_record()
    assert "stopped" not in summary.as_record()


async def test_verify_gate_fails_on_a_target_that_did_not_read_back(
    make_sim: SimFactory, tmp_path: Path
) -> None:
    """With ``--verify`` and a tolerant failure rate, one PATCH the service ignored fails the
    gate on its verify check."""
    sim = await make_sim(faults=Faults(ignore_patch_rate=0.5), seed=2)
    ids = seed(sim, 20)
    config = {"waves": (10,), "verify": True, "max_failure_rate": 1.0, "verify_timeout_s": 1}
    summary, results = await run_job(sim, tmp_path, job_body(ids, ROLLOUT), **config)
    assert len(results) == 10
    [gate] = [r for r in read_log(tmp_path / "run.jsonl") if r["type"] == "gate"]
    checks = {c["name"]: c for c in gate["checks"]}
    assert checks["failure_rate"]["passed"] is True
    assert checks["verify"]["passed"] is False
    assert checks["verify"]["failed_verify"] > 0
    assert summary.stopped is not None
    assert "did not read back as intended" in summary.stopped.reason


async def test_soak_has_nothing_to_read_for_connections(
    make_sim: SimFactory, tmp_path: Path
) -> None:
    """Connections have no runs: the soak check waits, passes and says why it read nothing."""
    sim = await make_sim(connections=3, run_interval_s=0.05)
    ids = sorted(sim.store.docs("prod", "connections"))
    assert CONNECTION in ids
    body = job_body(ids, [{"set": {"path": "/description", "value": "x"}}], resource="connections")
    summary, _ = await run_job(sim, tmp_path, body, waves=(1,), soak_s=0.05)
    assert summary.stopped is None
    [gate] = [r for r in read_log(tmp_path / "run.jsonl") if r["type"] == "gate"]
    assert gate["checks"][-1] | {"reason": None} == {
        "name": "soak",
        "passed": True,
        "soak_s": 0.05,
        "skipped": "connections have no runs",
        "reason": None,
    }


async def test_a_stop_during_the_soak_ends_the_run_without_a_verdict(
    make_sim: SimFactory, tmp_path: Path
) -> None:
    """Ctrl-C while a gate soaks: the run ends interrupted at once, and no gate is recorded (a
    resume judges the wave again)."""
    sim = await make_sim(run_interval_s=0.05)
    job = prepared(tmp_path, job_body(seed(sim, 20), ROLLOUT))
    config = RunConfig(waves=(5,), soak_s=600)
    control = RunControl(Pacer(config.concurrency, None))
    run = asyncio.create_task(
        execute(job, sim_settings(sim), RunPlan(config, tmp_path / "r.jsonl"), None, control)
    )
    await wait_for_results(tmp_path / "r.jsonl", 5)
    await asyncio.sleep(0.3)  # the wave is over: its gate soaks
    control.request_stop()
    summary = await asyncio.wait_for(run, 60)
    assert summary.interrupted
    assert summary.total == 5
    assert not [r for r in read_log(tmp_path / "r.jsonl") if r["type"] == "gate"]


async def test_a_resume_after_a_failed_gate_judges_the_wave_again(
    make_sim: SimFactory, tmp_path: Path
) -> None:
    """Stopped at a gate, the cause fixed, ``--resume``: only the wave's failed targets are sent
    again, its gate passes, and the rollout goes on to the end."""
    sim = await make_sim(faults=REJECT_S3)
    ids = seed(sim, 40)
    body = job_body(ids, ROLLOUT)
    summary, first = await run_job(sim, tmp_path, body, waves=(10, 20))
    assert summary.stopped is not None
    failed = {r["id"] for r in first if r["status"] == "failed"}
    assert failed
    sim.app.faults = FaultPlan(Faults(), 0)  # the destination accepts the change now
    summary, again = await run_job(sim, tmp_path, body, waves=(10, 20), resume=True)
    assert summary.stopped is None
    assert {r["id"] for r in again if r["wave"] == 1} == failed
    assert len(again) == len(failed) + 30
    gates = [r for r in read_log(tmp_path / "run.jsonl") if r["type"] == "gate"]
    assert [(g["wave"], g["passed"]) for g in gates] == [(1, False), (1, True), (2, True)]


async def test_undo_on_stop_writes_beside_an_earlier_undos_log(
    make_sim: SimFactory, tmp_path: Path
) -> None:
    """A second stop of the same log undoes into ``run-undo-2.jsonl``, not into the first
    undo's log; what it reverted is in the summary."""
    sim = await make_sim(faults=REJECT_S3)
    (tmp_path / "run-undo.jsonl").write_text("")
    body = job_body(seed(sim, 40), ROLLOUT)
    summary, results = await run_job(sim, tmp_path, body, waves=(10,), undo_on_stop=True)
    assert summary.undo is not None
    assert summary.undo["log"] == str(tmp_path / "run-undo-2.jsonl")
    assert summary.undo["reverted"] == sum(r["status"] == "updated" for r in results) > 0


async def test_a_dry_run_stopped_at_a_gate_undoes_nothing(
    make_sim: SimFactory, tmp_path: Path
) -> None:
    """A plan in waves whose first wave fails its gate stops; there is nothing to undo."""
    sim = await make_sim()
    body = job_body([f"gone-{n}" for n in range(20)], ROLLOUT)
    summary, _ = await run_job(sim, tmp_path, body, waves=(5,), dry_run=True, undo_on_stop=True)
    assert summary.stopped is not None
    assert summary.undo is None
