"""What a run does with an earlier log, its flags and an unreachable service: never the unsafe thing."""

from __future__ import annotations

import fcntl
import json
import socket
from pathlib import Path
from typing import Any

import pytest

from bulkflow.sim import Faults, Simulator
from tests.cli.test_cli import bulkflow, sim_env
from tests.conftest import DEST_FLOW, SOURCE_FLOW, SimFactory, job_body, write_job

RENAME = [{"set": {"path": "/name", "value": "renamed"}}]


def records(log: Path, kind: str = "result") -> list[dict[str, Any]]:
    """The log's records of one type, in order."""
    lines = [json.loads(line) for line in log.read_text().splitlines() if line.strip()]
    return [r for r in lines if r.get("type") == kind]


def nowhere_env(port: int) -> dict[str, str]:
    """Environment pointing bulkflow at a loopback port nothing listens on, with a token."""
    return {
        "AEP_BASE_URL": f"http://127.0.0.1:{port}/data/foundation/flowservice",
        "AEP_ACCESS_TOKEN": "a-token-for-nowhere",
        "AEP_CLIENT_ID": "c",
        "AEP_ORG_ID": "o",
    }


def closed_port() -> int:
    """A loopback port nothing listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


async def test_retry_of_a_dry_run_log_stays_a_dry_run(sim: Simulator, tmp_path: Path) -> None:
    """``plan --log L`` then ``retry L``: the failed targets are planned again, nothing is sent."""
    job = write_job(tmp_path, job_body([DEST_FLOW, "late-flow"], RENAME))
    log = tmp_path / "plan.jsonl"
    status, _, _ = await bulkflow("plan", str(job), "--log", str(log), env=sim_env(sim))
    assert status == 1
    sim.store.ensure("flows", "late-flow")
    status, _, err = await bulkflow("retry", str(log), env=sim_env(sim))
    assert status == 0, err
    assert sim.stats.count("PATCH") == 0
    assert records(log)[-1]["id"] == "late-flow"
    assert records(log)[-1]["status"] == "planned"
    assert all(header["dry_run"] for header in records(log, "run"))


async def test_real_retry_of_a_dry_run_log_is_refused(sim: Simulator, tmp_path: Path) -> None:
    """``retry L --no-dry-run`` of a plan's log: exit 2, the ``bulkflow run`` to use, no request."""
    job = write_job(tmp_path, job_body([DEST_FLOW, "late-flow"], RENAME))
    log = tmp_path / "plan.jsonl"
    await bulkflow("plan", str(job), "--log", str(log), env=sim_env(sim))
    sim.stats.reset()
    status, out, err = await bulkflow("retry", str(log), "--no-dry-run", env=sim_env(sim))
    assert status == 2
    assert f"bulkflow run {job}" in err
    assert "Traceback" not in err + out
    assert sim.stats.count() == 0


async def test_resume_of_a_dry_run_log_resumes_a_dry_run(sim: Simulator, tmp_path: Path) -> None:
    """``run JOB --resume --log L`` where L is a plan's log: a dry run again, no PATCH."""
    job = write_job(tmp_path, job_body([DEST_FLOW, SOURCE_FLOW], RENAME))
    log = tmp_path / "plan.jsonl"
    await bulkflow("plan", str(job), "--log", str(log), env=sim_env(sim))
    status, _, err = await bulkflow(
        "run", str(job), "--resume", "--log", str(log), env=sim_env(sim)
    )
    assert status == 0, err
    assert sim.stats.count("PATCH") == 0
    assert [h["dry_run"] for h in records(log, "run")] == [True, True]


async def test_real_run_into_a_dry_run_log_is_refused(sim: Simulator, tmp_path: Path) -> None:
    """A log holds one kind of run: a real run appending to a plan's log is refused, exit 2."""
    job = write_job(tmp_path, job_body([DEST_FLOW], RENAME))
    log = tmp_path / "plan.jsonl"
    await bulkflow("plan", str(job), "--log", str(log), env=sim_env(sim))
    sim.stats.reset()
    status, _, err = await bulkflow("run", str(job), "--log", str(log), env=sim_env(sim))
    assert status == 2
    assert "dry run" in err
    assert sim.stats.count() == 0


async def test_retry_of_a_verify_run_verifies(make_sim: SimFactory, tmp_path: Path) -> None:
    """``retry`` of a ``run --verify`` log verifies again: an ignored PATCH is not ``updated``."""
    sim = await make_sim(Faults(ignore_patch_rate=1.0))
    job = write_job(tmp_path, job_body([DEST_FLOW, "late-flow"], RENAME))
    log = tmp_path / "run.jsonl"
    status, _, _ = await bulkflow("run", str(job), "--verify", "--log", str(log), env=sim_env(sim))
    assert status == 1
    sim.store.ensure("flows", "late-flow")
    status, _, err = await bulkflow("retry", str(log), env=sim_env(sim))
    assert status == 1, err
    retried = {r["id"]: r for r in records(log)[2:]}
    assert retried["late-flow"]["status"] == "failed"
    assert retried["late-flow"]["error"]["kind"] == "verify"
    assert records(log, "run")[-1]["config"]["verify"] is True


async def test_header_records_the_whole_configuration(sim: Simulator, tmp_path: Path) -> None:
    """The run header holds every setting; a retry keeps them and a flag given again wins."""
    job = write_job(tmp_path, job_body([DEST_FLOW, "late-flow"], RENAME))
    log = tmp_path / "run.jsonl"
    flags = ["--concurrency", "3", "--rate", "50", "--timeout", "7", "--no-batch-fetch"]
    flags += ["--max-conflict-retries", "2", "--grace", "4"]
    await bulkflow("run", str(job), *flags, "--log", str(log), env=sim_env(sim))
    first = records(log, "run")[0]["config"]
    assert first | {"dry_run": False, "verify": False} == first
    expected = {"concurrency": 3, "rate_per_s": 50.0, "timeout_s": 7.0, "batch_fetch": False}
    expected |= {"max_conflict_retries": 2, "grace_s": 4.0}
    assert first | expected == first
    status, _, err = await bulkflow("retry", str(log), "--concurrency", "2", env=sim_env(sim))
    assert status == 1, err
    again = records(log, "run")[-1]["config"]
    assert again == first | {"concurrency": 2}


@pytest.mark.parametrize(
    ("flag", "value"),
    [
        ("--concurrency", "0"),
        ("--concurrency", "-3"),
        ("--timeout", "0"),
        ("--timeout", "nan"),
        ("--rate", "0"),
        ("--rate", "-1"),
        ("--max-conflict-retries", "-1"),
        ("--grace", "-1"),
    ],
)
async def test_nonpositive_flags_are_refused(
    sim: Simulator, tmp_path: Path, flag: str, value: str
) -> None:
    """--concurrency/--timeout/--rate ≤ 0 (and friends): exit 2 naming the flag, nothing sent."""
    job = write_job(tmp_path, job_body([DEST_FLOW], RENAME))
    status, out, err = await bulkflow(
        "run", str(job), flag, value, "--log", str(tmp_path / "r.jsonl"), env=sim_env(sim)
    )
    assert status == 2, out
    assert flag in err
    assert "Traceback" not in err
    assert sim.stats.count() == 0


async def test_log_of_another_job_is_refused(sim: Simulator, tmp_path: Path) -> None:
    """``--log`` naming another job's log: exit 2 before any request, both jobs named."""
    log = tmp_path / "run.jsonl"
    first = write_job(tmp_path, job_body([DEST_FLOW], RENAME), "a.yaml")
    await bulkflow("run", str(first), "--log", str(log), env=sim_env(sim))
    other = write_job(tmp_path, job_body([DEST_FLOW], RENAME, name="other-job"), "b.yaml")
    sim.stats.reset()
    before = log.read_bytes()
    status, _, err = await bulkflow("run", str(other), "--log", str(log), env=sim_env(sim))
    assert status == 2
    assert "test-job" in err
    assert "other-job" in err
    assert sim.stats.count() == 0
    assert log.read_bytes() == before


async def test_log_held_by_a_live_process_is_refused(sim: Simulator, tmp_path: Path) -> None:
    """A log another process is writing (advisory lock held): exit 2, no request."""
    job = write_job(tmp_path, job_body([DEST_FLOW], RENAME))
    log = tmp_path / "run.jsonl"
    with log.open("ab") as held:
        fcntl.flock(held.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        status, _, err = await bulkflow("run", str(job), "--log", str(log), env=sim_env(sim))
    assert status == 2
    assert "another" in err
    assert sim.stats.count() == 0


@pytest.mark.parametrize("shape", ["parent-is-a-file", "log-is-a-directory"])
async def test_unusable_log_path_is_input(sim: Simulator, tmp_path: Path, shape: str) -> None:
    """A ``--log`` that cannot be written: exit 2 with the path, no traceback, nothing sent."""
    job = write_job(tmp_path, job_body([DEST_FLOW], RENAME))
    if shape == "parent-is-a-file":
        (tmp_path / "afile").write_text("x")
        log = tmp_path / "afile" / "run.jsonl"
    else:
        log = tmp_path / "adir"
        log.mkdir()
    status, out, err = await bulkflow("run", str(job), "--log", str(log), env=sim_env(sim))
    assert status == 2, err
    assert str(log) in err
    assert "Traceback" not in err + out
    assert sim.stats.count() == 0


async def test_unusable_plan_out_path_is_refused_before_planning(
    sim: Simulator, tmp_path: Path
) -> None:
    """``plan --out`` into a directory: exit 2 before any request, not after the whole plan."""
    job = write_job(tmp_path, job_body([DEST_FLOW], RENAME))
    status, _, err = await bulkflow(
        "plan", str(job), "--out", str(tmp_path), "--log", str(tmp_path / "p.jsonl"),
        env=sim_env(sim),
    )  # fmt: skip
    assert status == 2, err
    assert "Traceback" not in err
    assert sim.stats.count() == 0


async def test_default_logs_are_fresh_each_run(sim: Simulator, tmp_path: Path) -> None:
    """Two runs without ``--log`` in the same second write two logs, never one appended."""
    job = write_job(tmp_path, job_body([DEST_FLOW], RENAME))
    for _ in range(2):
        status, _, err = await bulkflow("run", str(job), env=sim_env(sim), cwd=tmp_path)
        assert status == 0, err
    logs = sorted((tmp_path / "runs").iterdir())
    assert len(logs) == 2
    assert all(len(records(log, "run")) == 1 for log in logs)


@pytest.mark.timeout(40)
async def test_unreachable_service_stops_the_run_fast(sim: Simulator, tmp_path: Path) -> None:
    """Nothing listens at AEP_BASE_URL: the run stops early naming host, port and cause, exit 1;
    the targets it did not attempt are not in the log, and ``--resume`` does them."""
    ids = [f"far-{n:03d}" for n in range(200)]
    job = write_job(tmp_path, job_body(ids, RENAME))
    log = tmp_path / "run.jsonl"
    port = closed_port()
    status, out, err = await bulkflow("run", str(job), "--log", str(log), env=nowhere_env(port))
    assert status == 1, err
    assert f"127.0.0.1:{port}" in out + err
    assert "refused" in (out + err).lower()
    assert "Traceback" not in out + err
    attempted = records(log)
    assert 0 < len(attempted) < 50
    for flow_id in ids:
        sim.store.ensure("flows", flow_id)
    status, _, err = await bulkflow(
        "run", str(job), "--log", str(log), "--resume", env=sim_env(sim)
    )
    assert status == 0, err
    latest = {r["id"]: r["status"] for r in records(log)}
    assert set(latest) == set(ids)
    assert set(latest.values()) == {"updated"}


@pytest.mark.timeout(20)
async def test_secret_file_that_is_a_pipe_is_refused_unread(tmp_path: Path) -> None:
    """A secret ``{file: …}`` naming a pipe (it might never end): exit 2 at once, no hang."""
    import os

    os.mkfifo(tmp_path / "pipe")
    body = job_body([DEST_FLOW], [{"set": {"path": "/name", "value": "{{ secrets.pw }}"}}])
    job = write_job(tmp_path, body | {"secrets": {"pw": {"file": "pipe"}}})
    status, out, err = await bulkflow("validate", str(job))
    assert status == 2, out
    assert "not a regular file" in err
    assert "Traceback" not in err


@pytest.mark.parametrize("name", ["AEP_SANDBOX", "AEP_ORG_ID", "AEP_ACCESS_TOKEN"])
async def test_line_break_in_environment_is_refused(
    sim: Simulator, tmp_path: Path, name: str
) -> None:
    """A CR/LF in a value that becomes a header: exit 2 naming the variable, never its value."""
    job = write_job(tmp_path, job_body([DEST_FLOW], RENAME))
    env = sim_env(sim) | {name: "evil\r\nX-Injected: value-9f3a"}
    status, out, err = await bulkflow("run", str(job), "--log", str(tmp_path / "r.jsonl"), env=env)
    assert status == 2, out
    assert name in err
    assert "value-9f3a" not in out + err
    assert sim.stats.count() == 0


async def test_simulated_and_real_runs_never_share_a_log(sim: Simulator, tmp_path: Path) -> None:
    """``retry L --sim`` of a real run's log: exit 2, nothing simulated is recorded as real."""
    job = write_job(tmp_path, job_body([DEST_FLOW, "late-flow"], RENAME))
    log = tmp_path / "run.jsonl"
    status, _, _ = await bulkflow("run", str(job), "--log", str(log), env=sim_env(sim))
    assert status == 1
    before = log.read_bytes()
    status, _, err = await bulkflow("retry", str(log), "--sim", env=sim_env(sim))
    assert status == 2
    assert "simulator" in err
    assert log.read_bytes() == before


async def test_resume_of_a_simulated_run_stays_simulated(tmp_path: Path) -> None:
    """``run --resume`` of a ``--sim`` log goes to the simulator again, and says so."""
    job = write_job(tmp_path, job_body([DEST_FLOW, SOURCE_FLOW], RENAME))
    log = tmp_path / "run.jsonl"
    status, _, err = await bulkflow("run", str(job), "--sim", "--log", str(log))
    assert status == 0, err
    status, out, err = await bulkflow("run", str(job), "--resume", "--log", str(log))
    assert status == 0, err
    assert [h["sim"] for h in records(log, "run")] == [True, True]
    assert "Skipped 2 targets" in out
    assert "simulator" in out


async def test_report_says_what_an_unreachable_service_left_undone(tmp_path: Path) -> None:
    """The report of a run stopped because the service was unreachable says so, with counts."""
    ids = [f"far-{n:03d}" for n in range(60)]
    job = write_job(tmp_path, job_body(ids, RENAME))
    log = tmp_path / "run.jsonl"
    env = nowhere_env(closed_port())
    status, _, _ = await bulkflow("run", str(job), "--log", str(log), env=env)
    assert status == 1
    attempted = len(records(log))
    status, out, err = await bulkflow("report", str(log))
    assert status == 0, err
    assert f"{60 - attempted} of 60 targets" in out
    assert "could not be reached" in out


async def test_runs_started_together_get_a_log_each(sim: Simulator, tmp_path: Path) -> None:
    """Four runs started at once without ``--log``: four logs, one run each, none refused."""
    import asyncio

    job = write_job(tmp_path, job_body([DEST_FLOW], RENAME))
    results = await asyncio.gather(
        *(bulkflow("run", str(job), env=sim_env(sim), cwd=tmp_path) for _ in range(4))
    )
    assert [status for status, _, _ in results] == [0, 0, 0, 0], [e for _, _, e in results]
    logs = sorted((tmp_path / "runs").iterdir())
    assert len(logs) == 4
    assert all(len(records(log, "run")) == 1 for log in logs)


async def test_a_device_as_log_is_refused(sim: Simulator, tmp_path: Path) -> None:
    """``--log /dev/null`` would keep no record: exit 2, nothing sent."""
    job = write_job(tmp_path, job_body([DEST_FLOW], RENAME))
    status, _, err = await bulkflow("run", str(job), "--log", "/dev/null", env=sim_env(sim))
    assert status == 2
    assert "not a regular file" in err
    assert sim.stats.count() == 0


@pytest.mark.parametrize("name", ["AEP_CLIENT_SECRET", "AEP_SANDBOX"])
async def test_environment_value_that_is_not_utf8_is_refused(
    sim: Simulator, tmp_path: Path, name: str
) -> None:
    """An ``AEP_`` value that is not UTF-8 (a stray byte): exit 2 naming the variable, not 70."""
    job = write_job(tmp_path, job_body([DEST_FLOW], RENAME))
    env = sim_env(sim) | {name: "ab\udcffcd-value"}  # the byte 0xff, as os.environ holds it
    status, out, err = await bulkflow("run", str(job), "--log", str(tmp_path / "r.jsonl"), env=env)
    assert status == 2, out + err
    assert name in err
    assert sim.stats.count() == 0
