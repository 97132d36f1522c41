"""Long runs you can trust: a SIGKILL, a resume, torn lines, retrying only failures."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

import orjson

from bulkflow.records.resultlog import read_log
from bulkflow.sim import Faults, Simulator
from tests.cli.test_cli import ROOT, bulkflow, sim_env
from tests.conftest import DEST_FLOW, SimFactory, fetched_ids, job_body, write_job
from tests.engine_helpers import run_job, segment_ids

NEW = "2d79d0d8-724f-49fc-a09d-d1dec338c93c"
RETIRED = "9f7d37fd-7039-4454-94ef-2b0cd6c3206a"
ROLLOUT = [{"add_segment": {"id": NEW, "name": "Winter"}}, {"remove_segment": {"id": RETIRED}}]


def flows(sim: Simulator, count: int) -> list[str]:
    ids = [f"res-{n:04d}" for n in range(count)]
    for flow_id in ids:
        sim.store.ensure("flows", flow_id)
    return ids


def results(log: Path) -> list[dict[str, object]]:
    return [r for r in read_log(log) if r["type"] == "result"]


async def start_run(
    job: Path, log: Path, sim: Simulator, *extra: str
) -> asyncio.subprocess.Process:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AEP_")} | sim_env(sim)
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bulkflow", "run", str(job), "--log", str(log), *extra,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=env, cwd=ROOT,
    )  # fmt: skip


async def wait_for_results(log: Path, count: int, timeout_s: float = 30) -> None:
    for _ in range(int(timeout_s / 0.02)):
        if log.exists() and len(results(log)) >= count:
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"fewer than {count} results in {log}")


async def test_sigkill_then_resume_finishes_each_flow_exactly_once(
    make_sim: SimFactory, tmp_path: Path
) -> None:
    """Killed mid-run and resumed: every flow done once, every target recorded, done ones not fetched."""
    sim = await make_sim(Faults(latency_ms=15))
    ids = flows(sim, 300)
    job = write_job(tmp_path, job_body(ids, ROLLOUT, options={"concurrency": 8}))
    log = tmp_path / "run.jsonl"
    proc = await start_run(job, log, sim)
    await wait_for_results(log, 100)
    proc.send_signal(signal.SIGKILL)
    await proc.wait()
    done_before = {r["id"] for r in results(log) if r["status"] in ("updated", "unchanged")}
    assert 100 <= len(done_before) < 300
    sim.stats.reset()
    status, _out, err = await bulkflow(
        "run", str(job), "--log", str(log), "--resume", env=sim_env(sim)
    )
    assert status == 0, err
    assert not fetched_ids(sim) & done_before, "the resumed run fetched targets the log shows done"
    latest: dict[object, object] = {}
    for record in results(log):
        latest[record["id"]] = record["status"]
    assert set(latest) == set(ids)
    assert set(latest.values()) <= {"updated", "unchanged"}
    for flow_id in ids:
        audiences = segment_ids(sim, flow_id)
        assert audiences.count(NEW) == 1
        assert RETIRED not in audiences


async def test_sigint_stops_gracefully_with_exit_130(make_sim: SimFactory, tmp_path: Path) -> None:
    """Ctrl-C mid-run: in-flight targets finish and are recorded, summary printed, exit 130."""
    sim = await make_sim(Faults(latency_ms=30))
    ids = flows(sim, 300)
    job = write_job(tmp_path, job_body(ids, ROLLOUT, options={"concurrency": 8}))
    log = tmp_path / "run.jsonl"
    proc = await start_run(job, log, sim)
    await wait_for_results(log, 40)
    proc.send_signal(signal.SIGINT)
    out, err = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == 130, err
    assert "Summary" in out.decode()
    assert "Interrupted" in out.decode()
    records = list(read_log(log))
    assert records[-1]["type"] == "summary"
    assert records[-1]["interrupted"] is True
    recorded = {r["id"] for r in records if r["type"] == "result"}
    patched = {
        e.path.rsplit("/", 1)[1]
        for e in sim.stats.journal
        if e.method == "PATCH" and e.status == 200
    }
    assert patched <= recorded, "a target the simulator patched has no record"
    assert len(recorded) < 300


async def test_second_sigint_stops_at_once(make_sim: SimFactory, tmp_path: Path) -> None:
    """A second Ctrl-C does not wait for slow in-flight targets."""
    sim = await make_sim(Faults(latency_ms=2000))
    job = write_job(tmp_path, job_body(flows(sim, 20), ROLLOUT))
    log = tmp_path / "run.jsonl"
    proc = await start_run(job, log, sim)
    for _ in range(500):
        if sim.stats.in_flight >= 4:
            break
        await asyncio.sleep(0.01)
    proc.send_signal(signal.SIGINT)
    await asyncio.sleep(0.2)
    proc.send_signal(signal.SIGINT)
    await asyncio.wait_for(proc.communicate(), 5)
    assert proc.returncode == 130
    assert list(read_log(log))[-1]["type"] == "summary"


async def test_torn_last_line_is_tolerated_and_closed(sim: Simulator, tmp_path: Path) -> None:
    """A log ending mid-record (a crash mid-write) resumes fine and the torn line is reported."""
    body = job_body([DEST_FLOW, "no-such-flow"], ROLLOUT)
    await run_job(sim, tmp_path, body)
    log = tmp_path / "run.jsonl"
    with log.open("ab") as handle:
        handle.write(b'{"type": "result", "id": "no-such-fl')
    _, records = await run_job(sim, tmp_path, body, resume=True)
    assert [r["id"] for r in records] == ["no-such-flow"]
    lines = log.read_bytes().split(b"\n")
    headers = [orjson.loads(line) for line in lines if line.startswith(b'{"type":"run"')]
    assert headers[-1]["torn_lines_closed"] is True
    assert all(line.startswith(b"{") for line in lines if line)


async def test_resume_refuses_log_of_another_job(sim: Simulator, tmp_path: Path) -> None:
    """--resume with a log whose digest differs: exit 2 unless --force."""
    log = tmp_path / "run.jsonl"
    first = write_job(tmp_path, job_body([DEST_FLOW], ROLLOUT), "a.yaml")
    await bulkflow("run", str(first), "--log", str(log), env=sim_env(sim))
    other = write_job(
        tmp_path, job_body([DEST_FLOW], [{"set": {"path": "/name", "value": "x"}}]), "b.yaml"
    )
    status, _, err = await bulkflow(
        "run", str(other), "--log", str(log), "--resume", env=sim_env(sim)
    )
    assert status == 2
    assert "different version of the job" in err
    status, _, err = await bulkflow(
        "run", str(other), "--log", str(log), "--resume", "--force", env=sim_env(sim)
    )
    assert status == 0, err


async def test_retry_runs_only_failed_targets(sim: Simulator, tmp_path: Path) -> None:
    """``bulkflow retry LOG`` re-runs the failed targets with the same job, appending to LOG."""
    job = write_job(tmp_path, job_body([DEST_FLOW, "late-flow"], ROLLOUT))
    log = tmp_path / "run.jsonl"
    status, out, _ = await bulkflow("run", str(job), "--log", str(log), env=sim_env(sim))
    assert status == 1
    assert f"bulkflow retry {log}" in out
    sim.store.ensure("flows", "late-flow")
    sim.stats.reset()
    status, out, err = await bulkflow("retry", str(log), env=sim_env(sim))
    assert status == 0, err
    assert fetched_ids(sim) == {"late-flow"}
    assert results(log)[-1] == {**results(log)[-1], "id": "late-flow", "status": "updated"}
