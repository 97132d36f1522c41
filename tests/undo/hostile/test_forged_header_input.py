"""a forged log's header/record fields are used unchecked (model_construct)."""

from __future__ import annotations

from pathlib import Path

from bulkflow.sim import Simulator
from tests.cli.test_cli import bulkflow, sim_env
from tests.conftest import SOURCE_FLOW
from tests.undo.hostile.helpers import forge, real_log

CHANGE = [{"set": {"path": "/scheduleParams/frequency", "value": "week"}}]


async def test_sandbox_with_a_line_break_is_an_input_error(sim: Simulator, tmp_path: Path) -> None:
    """Sandbox with a line break is an input error."""
    log = await real_log(sim, tmp_path, [SOURCE_FLOW], CHANGE)
    forged = forge(log, tmp_path / "f.jsonl", {"sandbox": "prod\r\nX-Evil: 1"})
    status, _, err = await bulkflow(
        "undo", str(forged), "--dry-run", "--log", str(tmp_path / "u.jsonl"), env=sim_env(sim)
    )
    assert status == 2, err
    assert "internal error" not in err


async def test_record_sandbox_must_be_a_sandbox_name(sim: Simulator, tmp_path: Path) -> None:
    """Record sandbox must be a sandbox name."""
    log = await real_log(sim, tmp_path, [SOURCE_FLOW], CHANGE)
    forged = forge(log, tmp_path / "f.jsonl", {"sandboxes": ["prod"]}, sandbox="../x")
    status, _, err = await bulkflow(
        "undo", str(forged), "--dry-run", "--log", str(tmp_path / "u.jsonl"), env=sim_env(sim)
    )
    assert status == 2, err


async def test_record_id_must_be_a_resource_id(sim: Simulator, tmp_path: Path) -> None:
    """Record id must be a resource id."""
    log = await real_log(sim, tmp_path, [SOURCE_FLOW], CHANGE)
    forged = forge(log, tmp_path / "f.jsonl", id="..")
    sent = len(sim.stats.journal)
    status, _, err = await bulkflow(
        "undo", str(forged), "--dry-run", "--log", str(tmp_path / "u.jsonl"), env=sim_env(sim)
    )
    assert status == 2, err
    assert not any("/.." in e.path for e in list(sim.stats.journal)[sent:])


async def test_job_name_cannot_place_the_undo_log(sim: Simulator, tmp_path: Path) -> None:
    """Job name cannot place the undo log."""
    log = await real_log(sim, tmp_path, [SOURCE_FLOW], CHANGE)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    forged = forge(log, tmp_path / "f.jsonl", {"job": str(elsewhere / "evil")})
    work = tmp_path / "work"
    work.mkdir()
    await bulkflow("undo", str(forged), "--dry-run", env=sim_env(sim), cwd=work)
    assert list(elsewhere.iterdir()) == []


async def test_resolved_targets_sandbox_with_a_line_break(sim: Simulator, tmp_path: Path) -> None:
    """Resolved targets sandbox with a line break."""
    import json

    from tests.conftest import job_body, write_job

    job = write_job(
        tmp_path, job_body({"query": {"property": ["state==enabled"], "limit": 5}}, CHANGE)
    )
    log = tmp_path / "q.jsonl"
    assert (await bulkflow("run", str(job), "--log", str(log), env=sim_env(sim)))[0] in (0, 1)
    head = json.loads(log.read_text().splitlines()[0]) | {
        "resolved_targets": [["dev\r\nX: 1", SOURCE_FLOW]]
    }
    log.write_text(json.dumps(head) + "\n")
    status, _, err = await bulkflow(
        "run", str(job), "--resume", "--log", str(log), env=sim_env(sim)
    )
    assert status == 2, err
