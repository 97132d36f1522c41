"""Staged rollouts end to end: waves, their gates, the failure breaker and undo on stop, through
the CLI against a simulator that rejects one destination kind or fails runs after a change."""

from __future__ import annotations

import copy
from collections import Counter
from pathlib import Path
from typing import Any

from bulkflow.records.resultlog import read_log
from bulkflow.sim import Faults, Simulator
from bulkflow.sim.generate import DESTINATION_SPECS, destination_spec
from tests.cli.test_cli import bulkflow, sim_env
from tests.conftest import SimFactory, job_body, write_job

NEW = "2d79d0d8-724f-49fc-a09d-d1dec338c93c"
RETIRED = "9f7d37fd-7039-4454-94ef-2b0cd6c3206a"
ROLLOUT = [{"add_segment": {"id": NEW, "name": "Winter"}}, {"remove_segment": {"id": RETIRED}}]
S3 = DESTINATION_SPECS[1]
REJECT_S3 = Faults(fail_patch_where=f"flowSpec.id=={S3[2]}")
VOLATILE = ("etag", "version", "updatedAt", "updatedBy", "updatedClient", "lastOperation")
WAVES = [10, "10%", "100%"]


def seed(sim: Simulator, count: int) -> list[str]:
    """``count`` destination flows (about 30% of them Amazon S3 ones), in the job's order."""
    ids = [f"wave-{n:04d}" for n in range(count)]
    for flow_id in ids:
        sim.store.ensure("flows", flow_id)
    return ids


def write_rollout(tmp_path: Path, ids: list[str], **options: Any) -> Path:
    (tmp_path / "targets.txt").write_text("".join(f"{i}\n" for i in ids))
    body = job_body({"file": "targets.txt"}, ROLLOUT, options={"concurrency": 16, **options})
    return Path(write_job(tmp_path, body))


def records(log: Path, kind: str = "result") -> list[dict[str, Any]]:
    return [r for r in read_log(log) if r["type"] == kind]


def lasting(doc: dict[str, Any] | None) -> dict[str, Any]:
    """A flow without what every write (or read, for its last run) changes."""
    assert doc is not None
    return {k: v for k, v in doc.items() if k not in (*VOLATILE, "lastRunDetails")}


def patches(sim: Simulator) -> Counter[str]:
    """PATCH requests per flow id."""
    return Counter(e.path.rsplit("/", 1)[1] for e in sim.stats.journal if e.method == "PATCH")


async def test_a_rejecting_destination_kind_stops_the_rollout_at_the_first_gate(
    make_sim: SimFactory, tmp_path: Path
) -> None:
    """1,000 flows, waves 10,10%,100%, every PATCH to S3 flows refused: the first wave's gate
    fails, no more than its 10 targets are attempted, exit 1, and the error kind is named."""
    sim = await make_sim(faults=REJECT_S3)
    ids = seed(sim, 1000)
    assert 270 <= sum(destination_spec(i) == S3 for i in ids) <= 330
    assert any(destination_spec(i) == S3 for i in ids[:10])
    job, log = write_rollout(tmp_path, ids, waves=WAVES), tmp_path / "run.jsonl"
    status, out, err = await bulkflow("run", str(job), "--log", str(log), env=sim_env(sim))
    assert status == 1, err
    results = records(log)
    assert len(results) == 10
    assert sum(patches(sim).values()) <= 10
    assert {r["wave"] for r in results} == {1}
    [gate] = records(log, "gate")
    assert gate["passed"] is False
    assert gate["checks"][0]["name"] == "failure_rate"
    assert "Stopped at the gate after wave 1 of 3" in out
    assert "http 400" in out
    assert "its destination rejects this change" in out
    assert f"run {job} --log {log} --resume" in out


async def test_undo_on_stop_puts_the_wave_back_exactly(
    make_sim: SimFactory, tmp_path: Path
) -> None:
    """With ``--undo-on-stop`` the flows the first wave updated are back to their documents as
    they were before the run, and the summary says so and names the undo's log."""
    sim = await make_sim(faults=REJECT_S3)
    ids = seed(sim, 1000)
    before = {i: copy.deepcopy(lasting(sim.doc("flows", i))) for i in ids[:10]}
    job, log = write_rollout(tmp_path, ids, waves=WAVES), tmp_path / "run.jsonl"
    status, out, err = await bulkflow(
        "run", str(job), "--log", str(log), "--undo-on-stop", env=sim_env(sim)
    )
    assert status == 1, err
    updated = [r["id"] for r in records(log) if r["status"] == "updated"]
    assert updated
    assert {i: lasting(sim.doc("flows", i)) for i in ids[:10]} == before
    undo_log = tmp_path / "run-undo.jsonl"
    assert sorted(r["id"] for r in records(undo_log) if r["status"] == "updated") == sorted(updated)
    assert f"Undo on stop: {len(updated)} of {len(updated)} changed targets reverted" in out
    assert str(undo_log) in out


async def test_without_waves_the_breaker_stops_the_same_job(
    make_sim: SimFactory, tmp_path: Path
) -> None:
    """No waves: the failure breaker stops the job after at most a window plus the concurrency
    of targets, exit 1, naming the error kind; the log can be resumed."""
    sim = await make_sim(faults=REJECT_S3)
    ids = seed(sim, 1000)
    job, log = write_rollout(tmp_path, ids), tmp_path / "run.jsonl"
    status, out, err = await bulkflow("run", str(job), "--log", str(log), env=sim_env(sim))
    assert status == 1, err
    assert 50 <= len(records(log)) <= 50 + 16
    [summary] = records(log, "summary")
    assert summary["stopped"]["by"] == "breaker"
    assert summary["stopped"]["kind"] == "http 400"
    assert "Stopped by the failure breaker" in out
    assert "of the last 50 targets failed (more than 5%), most with http 400" in out
    assert f"run {job} --log {log} --resume" in out


async def test_the_breaker_window_and_rate_are_flags(make_sim: SimFactory, tmp_path: Path) -> None:
    """``--breaker-window 20 --max-failure-rate 0.5``: a 30% failure rate no longer trips it."""
    sim = await make_sim(faults=REJECT_S3)
    ids = seed(sim, 120)
    job, log = write_rollout(tmp_path, ids), tmp_path / "run.jsonl"
    flags = ("--breaker-window", "20", "--max-failure-rate", "0.5")
    status, _, err = await bulkflow("run", str(job), "--log", str(log), *flags, env=sim_env(sim))
    assert status == 1, err
    assert len(records(log)) == 120
    [summary] = records(log, "summary")
    assert "stopped" not in summary


async def test_soak_fails_the_gate_when_runs_fail_after_the_change(
    make_sim: SimFactory, tmp_path: Path
) -> None:
    """``--soak`` with every run after a change failing: the first gate fails on its soak
    check, though every target of the wave was updated."""
    sim = await make_sim(run_interval_s=0.05, faults=Faults(fail_runs_after_change=1.0))
    ids = seed(sim, 200)
    job, log = write_rollout(tmp_path, ids, waves=WAVES), tmp_path / "run.jsonl"
    flags = ("--soak", "0.2")
    status, out, err = await bulkflow("run", str(job), "--log", str(log), *flags, env=sim_env(sim))
    assert status == 1, err
    assert Counter(r["status"] for r in records(log)) == {"updated": 10}
    [gate] = records(log, "gate")
    assert [(c["name"], c["passed"]) for c in gate["checks"]] == [
        ("failure_rate", True),
        ("soak", False),
    ]
    assert gate["checks"][1]["failed_runs"] > 0
    assert "failed after the change" in out
    assert "ACTIVATION_BATCH-0000-FAILED" in out


async def test_soak_with_healthy_runs_ends_as_a_run_without_waves(
    make_sim: SimFactory, tmp_path: Path
) -> None:
    """With runs that do not fail every gate passes, and the flows and statuses come out as a
    run without waves leaves them."""
    staged = await make_sim(run_interval_s=0.05)
    plain = await make_sim(run_interval_s=0.05)
    ids = seed(staged, 200)
    seed(plain, 200)
    job = write_rollout(tmp_path, ids)
    logs = tmp_path / "staged.jsonl", tmp_path / "plain.jsonl"
    staged_flags = ("--waves", "10,10%,100%", "--soak", "0.2")
    status, _, err = await bulkflow(
        "run", str(job), "--log", str(logs[0]), *staged_flags, env=sim_env(staged)
    )
    assert status == 0, err
    status, _, err = await bulkflow("run", str(job), "--log", str(logs[1]), env=sim_env(plain))
    assert status == 0, err
    assert [g["passed"] for g in records(logs[0], "gate")] == [True, True]
    statuses = [{r["id"]: r["status"] for r in records(log)} for log in logs]
    assert statuses[0] == statuses[1]
    # Each simulator dates its generated flows from its own start.
    assert [lasting(staged.doc("flows", i)) | {"createdAt": 0} for i in ids] == [
        lasting(plain.doc("flows", i)) | {"createdAt": 0} for i in ids
    ]
    [summary] = records(logs[0], "summary")
    assert [w["counts"]["updated"] for w in summary["waves"]] == [10, 10, 180]


async def test_pause_then_resume_runs_each_wave_once(make_sim: SimFactory, tmp_path: Path) -> None:
    """``--pause`` stops after each passed gate with exit 0 and the command that continues; a
    resume starts the next wave (and pauses again), and no target is sent twice."""
    sim = await make_sim()
    ids = seed(sim, 30)
    job, log = write_rollout(tmp_path, ids, waves=[5, 10, "100%"]), tmp_path / "run.jsonl"
    command = f"run {job} --log {log} --resume"
    status, out, err = await bulkflow(
        "run", str(job), "--log", str(log), "--pause", env=sim_env(sim)
    )
    assert status == 0, err
    assert "Paused after wave 1 of 3" in out
    assert command in out
    for wave in (2, 3):
        status, out, err = await bulkflow(*command.split(), env=sim_env(sim))
        assert status == 0, err
        assert ("Paused after wave 2 of 3" in out) is (wave == 2)
    assert patches(sim) == dict.fromkeys(ids, 1)
    waves = {r["id"]: r["wave"] for r in records(log)}
    assert waves == {i: 1 if n < 5 else 2 if n < 10 else 3 for n, i in enumerate(ids)}
    assert [g["wave"] for g in records(log, "gate")] == [1, 2]


async def test_waves_that_do_not_grow_are_refused_at_their_line(
    sim: Simulator, tmp_path: Path
) -> None:
    """``waves: [10, "10%"]`` over 50 targets (10% is 5): exit 2 at the job's line, before any
    request."""
    job = write_rollout(tmp_path, [f"w-{n}" for n in range(50)], waves=[10, "10%"])
    status, out, err = await bulkflow(
        "run", str(job), "--log", str(tmp_path / "r.jsonl"), env=sim_env(sim)
    )
    assert status == 2
    line = job.read_text().splitlines().index("  - 10%") + 1
    assert f"{job}:{line}: options.waves: wave 2 (10%: 5 of 50 targets) is not larger" in err
    assert "Traceback" not in err + out
    assert sim.stats.count() == 0


async def test_a_bad_waves_flag_is_an_input_error(sim: Simulator, tmp_path: Path) -> None:
    """``--waves 10,abc`` and ``--waves 20,10``: exit 2 naming ``--waves``, nothing sent."""
    job = write_rollout(tmp_path, [f"w-{n}" for n in range(50)])
    for sizes, problem in (("10,abc", "'abc' is not a wave size"), ("20,10", "not larger")):
        status, _, err = await bulkflow(
            "run", str(job), "--log", str(tmp_path / "r.jsonl"), "--waves", sizes, env=sim_env(sim)
        )
        assert status == 2
        assert "--waves: " in err
        assert problem in err
    assert sim.stats.count() == 0


async def test_a_query_jobs_waves_are_checked_once_it_has_answered(
    make_sim: SimFactory, tmp_path: Path
) -> None:
    """A query that selects 50 flows with waves 10,10%: exit 2 after the query, no PATCH."""
    sim = await make_sim(flows=200, seed=4)
    query = {
        "query": {
            "property": ["inheritedAttributes.properties.isDestinationFlow==true"],
            "limit": 50,
        }
    }
    body = job_body(query, ROLLOUT, options={"waves": [10, "10%"]})
    job = write_job(tmp_path, body)
    status, _, err = await bulkflow(
        "run", str(job), "--log", str(tmp_path / "r.jsonl"), env=sim_env(sim)
    )
    assert status == 2
    assert "options.waves: wave 2 (10%: 5 of 50 targets)" in err
    assert sim.stats.count("GET") > 0
    assert sim.stats.count("PATCH") == 0


async def test_the_stop_message_never_shows_a_secret(make_sim: SimFactory, tmp_path: Path) -> None:
    """A 400 that echoes the request body (holding a job secret) trips the breaker; its sample
    message is masked on the terminal, in the log and in the summary line."""
    secret = "waves-secret-9d3f0b7c1e"
    sim = await make_sim(faults=Faults(echo_reject_rate=1.0))
    ids = seed(sim, 40)
    (tmp_path / "targets.txt").write_text("".join(f"{i}\n" for i in ids))
    change = [{"set": {"path": "/description", "value": "key={{ secrets.key }}"}}]
    body = job_body({"file": "targets.txt"}, change, secrets={"key": {"env": "WAVES_KEY"}})
    job, log = write_job(tmp_path, body), tmp_path / "run.jsonl"
    env = sim_env(sim) | {"WAVES_KEY": secret}
    status, out, err = await bulkflow("run", str(job), "--log", str(log), env=env)
    assert status == 1, err
    [summary] = records(log, "summary")
    assert summary["stopped"]["kind"] == "http 400"
    assert "10 targets in a row failed with http 400" in out
    assert "key=***" in summary["stopped"]["sample"]
    assert secret not in out + err + log.read_text()


async def test_validate_refuses_wave_sizes_a_run_would_refuse(tmp_path: Path) -> None:
    """``validate`` checks the waves of a job whose targets are listed, at their line."""
    body = job_body(["a1", "a2", "a3"], [{"set": {"path": "/name", "value": "x"}}])
    job = write_job(tmp_path, body | {"options": {"waves": [2, 1]}})
    status, _, err = await bulkflow("validate", str(job))
    assert status == 2
    assert "options.waves" in err
    assert "not larger than the wave before it" in err


async def test_a_bad_waves_flag_is_said_without_library_words(tmp_path: Path) -> None:
    """``--waves 0``: the reason alone, no "value error," before it."""
    job = write_job(tmp_path, job_body(["a1"], [{"set": {"path": "/name", "value": "x"}}]))
    status, _, err = await bulkflow("run", str(job), "--waves", "0", "--sim", cwd=tmp_path)
    assert status == 2
    assert "--waves: a wave of 0 targets" in err
    assert "value error" not in err.lower()
