"""Several sandboxes in one job: dev then prod, each with its own ids, one log."""

from __future__ import annotations

import signal
from pathlib import Path
from typing import Any

from bulkflow.records.resultlog import read_log
from bulkflow.sim import Faults, Simulator
from tests.cli.test_cli import bulkflow, sim_env
from tests.conftest import SimFactory, job_body, write_job
from tests.records.test_resume import start_run, wait_for_results

MARK = "rollout-2026"
CHANGE = [{"set": {"path": "/description", "value": "rolled out"}}]


def seed(sim: Simulator, sandbox: str, matching: int, other: int) -> list[str]:
    """Flows in ``sandbox``: ``matching`` named for the query, ``other`` not."""
    ids = []
    for n in range(matching + other):
        flow_id = f"{sandbox}-{n:04d}"
        doc = sim.store.build("flows", flow_id)
        doc["name"] = MARK if n < matching else f"other {n}"
        sim.store.put("flows", doc, sandbox=sandbox)
        ids += [flow_id] if n < matching else []
    return ids


def described(sim: Simulator, sandbox: str) -> set[str]:
    docs = sim.store.docs(sandbox, "flows")
    return {i for i, doc in docs.items() if doc.get("description") == "rolled out"}


def query_job(tmp_path: Path, sandboxes: list[str], **options: Any) -> Path:
    targets = {"query": {"property": [f"name=={MARK}"]}}
    body = job_body(targets, CHANGE, sandboxes=sandboxes, options=options)
    return Path(write_job(tmp_path, body))


def results(log: Path) -> list[dict[str, Any]]:
    return [r for r in read_log(log) if r["type"] == "result"]


async def test_a_query_over_two_sandboxes_changes_the_matches_in_each_and_only_there(
    sim: Simulator, tmp_path: Path
) -> None:
    """``sandboxes: [dev, prod]``: the query runs in each; a third sandbox is left alone."""
    dev, prod, stage = seed(sim, "dev", 12, 5), seed(sim, "prod", 8, 5), seed(sim, "stage", 6, 0)
    log = tmp_path / "run.jsonl"
    status, _out, err = await bulkflow(
        "run", str(query_job(tmp_path, ["dev", "prod"])), "--log", str(log), env=sim_env(sim)
    )
    assert status == 0, err
    assert described(sim, "dev") == set(dev)
    assert described(sim, "prod") == set(prod)
    assert described(sim, "stage") == set()
    assert {(r["sandbox"], r["id"]) for r in results(log)} == {("dev", i) for i in dev} | {
        ("prod", i) for i in prod
    }
    summary = [r for r in read_log(log) if r["type"] == "summary"][-1]
    assert summary["sandboxes"] == {"dev": {"updated": 12}, "prod": {"updated": 8}}
    assert len(stage) == 6


async def test_resume_after_a_kill_in_the_second_sandbox_does_not_repeat_the_first(
    make_sim: SimFactory, tmp_path: Path
) -> None:
    """Killed while in prod, resumed: dev is not fetched again and prod is finished."""
    sim = await make_sim(Faults(latency_ms=20))
    dev, prod = seed(sim, "dev", 30, 0), seed(sim, "prod", 200, 0)
    job = query_job(tmp_path, ["dev", "prod"], concurrency=4)
    log = tmp_path / "run.jsonl"
    proc = await start_run(job, log, sim)
    await wait_for_results(log, 60)
    proc.send_signal(signal.SIGKILL)
    await proc.wait()
    assert {r["sandbox"] for r in results(log)} == {"dev", "prod"}
    sim.stats.reset()
    status, _, err = await bulkflow(
        "run", str(job), "--log", str(log), "--resume", env=sim_env(sim)
    )
    assert status == 0, err
    assert not [e for e in sim.stats.journal if "dev-" in e.path], "dev was fetched again"
    assert described(sim, "dev") == set(dev)
    assert described(sim, "prod") == set(prod)


async def test_a_failure_in_one_sandbox_stops_the_next_unless_told_to_go_on(
    sim: Simulator, tmp_path: Path
) -> None:
    """A target failing in dev halts prod; ``--continue-on-failure`` runs prod anyway."""
    seed(sim, "dev", 3, 0)
    prod = seed(sim, "prod", 3, 0)
    sim.store.docs("dev", "flows")["dev-0002"]["transformations"] = "broken"
    csv = tmp_path / "targets.csv"
    csv.write_text("id,sandbox\ndev-0000,dev\ndev-0002,dev\nprod-0000,prod\nprod-0001,prod\n")
    bad = [{"set": {"path": "/transformations/0/name", "value": "x"}}]
    job = Path(write_job(tmp_path, job_body({"file": "targets.csv"}, bad)))
    log = tmp_path / "run.jsonl"
    status, out, _ = await bulkflow("run", str(job), "--log", str(log), env=sim_env(sim))
    assert status == 1
    assert {r["sandbox"] for r in results(log)} == {"dev"}
    assert "Not started: prod" in out
    status, _, _ = await bulkflow("retry", str(log), "--continue-on-failure", env=sim_env(sim))
    assert status == 1
    again = tmp_path / "again.jsonl"
    status, _, _ = await bulkflow(
        "run", str(job), "--log", str(again), "--continue-on-failure", env=sim_env(sim)
    )
    assert status == 1
    assert {r["sandbox"] for r in results(again)} == {"dev", "prod"}
    assert len(prod) == 3


async def test_a_csv_sandbox_column_is_undone_per_sandbox(sim: Simulator, tmp_path: Path) -> None:
    """The same id in two sandboxes (a CSV's sandbox column): run, then undo, both sandboxes."""
    for sandbox in ("dev", "prod"):
        sim.store.put("flows", sim.store.build("flows", "same-id"), sandbox=sandbox)
    (tmp_path / "targets.csv").write_text("id,sandbox\nsame-id,dev\nsame-id,prod\n")
    job = Path(write_job(tmp_path, job_body({"file": "targets.csv"}, CHANGE)))
    log = tmp_path / "run.jsonl"
    status, _, err = await bulkflow("run", str(job), "--log", str(log), env=sim_env(sim))
    assert status == 0, err
    assert described(sim, "dev") == described(sim, "prod") == {"same-id"}
    status, _, err = await bulkflow(
        "undo", str(log), "--log", str(tmp_path / "undo.jsonl"), env=sim_env(sim)
    )
    assert status == 0, err
    assert described(sim, "dev") == described(sim, "prod") == set()
    assert {(r["sandbox"], r["status"]) for r in results(tmp_path / "undo.jsonl")} == {
        ("dev", "updated"),
        ("prod", "updated"),
    }


async def test_sandboxes_with_listed_ids_is_an_input_error(sim: Simulator, tmp_path: Path) -> None:
    """Ids differ per sandbox: ``sandboxes`` with listed ids, or beside ``sandbox``, is exit 2."""
    for extra in ({"sandboxes": ["dev", "prod"]}, {"sandboxes": ["dev"], "sandbox": "dev"}):
        job = write_job(tmp_path, job_body(["a"], CHANGE, **extra))
        status, _, err = await bulkflow("validate", str(job))
        assert status == 2, err
        assert "sandbox" in err
