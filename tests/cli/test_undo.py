"""``bulkflow undo``: a rollout taken back end to end, through the CLI against the simulator."""

from __future__ import annotations

import copy
import signal
from pathlib import Path
from typing import Any

import jsonpatch
import orjson

from bulkflow.records.resultlog import read_log
from bulkflow.sim import Faults, Simulator
from bulkflow.sim.faults import FaultPlan
from tests.cli.test_cli import ROOT, bulkflow, sim_env
from tests.conftest import SimFactory, job_body, write_job
from tests.records.test_resume import start_run, wait_for_results

NEW_A = "2d79d0d8-724f-49fc-a09d-d1dec338c93c"
NEW_B = "7c3e5a1f-0b2d-4e8f-9a61-3d5c7e9f1a2b"
RETIRED = "9f7d37fd-7039-4454-94ef-2b0cd6c3206a"
ROLLOUT = [
    {"add_segment": {"id": NEW_A, "name": "Winter"}},
    {"add_segment": {"id": NEW_B, "name": "Holiday"}},
    {"remove_segment": {"id": RETIRED}},
    {"set": {"path": "/scheduleParams/frequency", "value": "day"}},
    {"set_state": "{{ state }}"},
]
# What the service changes on every write; everything else must be as it was.
VOLATILE = ("etag", "version", "updatedAt", "updatedBy", "updatedClient", "lastOperation")


def seed(sim: Simulator, count: int) -> list[str]:
    """``count`` destination flows, each with a weekly schedule to change."""
    ids = [f"undo-{n:04d}" for n in range(count)]
    for flow_id in ids:
        sim.store.ensure("flows", flow_id)["scheduleParams"] = {"frequency": "week", "interval": 1}
    return ids


def write_rollout(tmp_path: Path, ids: list[str]) -> Path:
    """The rollout job: every third flow is also disabled."""
    rows = "".join(f"{i},{'disabled' if n % 3 == 0 else 'enabled'}\n" for n, i in enumerate(ids))
    (tmp_path / "targets.csv").write_text("id,state\n" + rows)
    body = job_body({"file": "targets.csv"}, ROLLOUT, options={"concurrency": 16})
    return Path(write_job(tmp_path, body))


def lasting(doc: dict[str, Any] | None) -> dict[str, Any]:
    """A document without what every write changes (etag, timestamps, last operation)."""
    assert doc is not None
    return {k: v for k, v in doc.items() if k not in VOLATILE}


def snapshot(sim: Simulator, ids: list[str]) -> dict[str, dict[str, Any]]:
    return {i: copy.deepcopy(lasting(sim.doc("flows", i))) for i in ids}


def rival_edit(sim: Simulator, flow_id: str, ops: list[dict[str, Any]]) -> None:
    sim.store.patch("prod", "flows", flow_id, ops, "rival-writer")


def set_faults(sim: Simulator, faults: Faults) -> None:
    """Change the simulator's faults between two commands."""
    sim.app.faults = FaultPlan(faults, sim.config.seed)


def results(log: Path) -> list[dict[str, Any]]:
    return [r for r in read_log(log) if r["type"] == "result"]


async def rolled_out(
    sim: Simulator, tmp_path: Path, count: int
) -> tuple[list[str], Path, dict[str, Any]]:
    ids = seed(sim, count)
    before = snapshot(sim, ids)
    log = tmp_path / "run.jsonl"
    status, _, err = await bulkflow(
        "run", str(write_rollout(tmp_path, ids)), "--log", str(log), env=sim_env(sim)
    )
    assert status == 0, err
    return ids, log, before


async def test_undo_restores_untouched_keeps_rival_edits_and_leaves_drifted(
    sim: Simulator, tmp_path: Path
) -> None:
    """300 flows rolled out, 10% edited by a rival, undone: untouched flows exactly as before,
    edits elsewhere kept, edits to the same field drifted and untouched."""
    ids, log, before = await rolled_out(sim, tmp_path, 300)
    same_field, elsewhere = ids[:15], ids[15:30]
    for flow_id in same_field:
        rival_edit(
            sim, flow_id, [{"op": "replace", "path": "/scheduleParams/frequency", "value": "month"}]
        )
    rival_ops = [{"op": "replace", "path": "/description", "value": "edited by a rival"}]
    for flow_id in elsewhere:
        rival_edit(sim, flow_id, rival_ops)
        sim.store.rival_write("prod", "flows", flow_id)  # a foreign audience at index 0
    drifted_docs = snapshot(sim, same_field)
    undo_log = tmp_path / "undo.jsonl"
    status, out, err = await bulkflow("undo", str(log), "--log", str(undo_log), env=sim_env(sim))
    assert status == 1, err + out
    for flow_id in ids[30:]:
        assert lasting(sim.doc("flows", flow_id)) == before[flow_id], flow_id
    foreign = dict(sim.store.rival_writes)
    for flow_id in elsewhere:
        expected = jsonpatch.apply_patch(before[flow_id], rival_ops)
        selectors = expected["transformations"][0]["params"]["segmentSelectors"]["selectors"]
        selectors.insert(
            0,
            {
                "type": "PLATFORM_SEGMENT",
                "value": {"id": foreign[flow_id], "name": "Added by another writer"},
            },
        )
        assert lasting(sim.doc("flows", flow_id)) == expected, flow_id
    records = {r["id"]: r for r in results(undo_log)}
    for flow_id in same_field:
        assert lasting(sim.doc("flows", flow_id)) == drifted_docs[flow_id]
        assert records[flow_id]["status"] == "failed"
        assert records[flow_id]["error"]["kind"] == "drifted"
        assert (
            '/scheduleParams/frequency: the run left "day", now "month"'
            in records[flow_id]["error"]["message"]
        )
    assert {r["status"] for i, r in records.items() if i not in same_field} == {"updated"}


async def test_second_undo_sends_nothing_and_undo_of_undo_restores_the_rollout(
    sim: Simulator, tmp_path: Path
) -> None:
    """Undo twice: the second sends no PATCH; undoing the undo's log puts the rollout back."""
    ids, log, _ = await rolled_out(sim, tmp_path, 60)
    after_run = snapshot(sim, ids)
    undo_log = tmp_path / "undo.jsonl"
    status, _, err = await bulkflow("undo", str(log), "--log", str(undo_log), env=sim_env(sim))
    assert status == 0, err
    sim.stats.reset()
    status, _out, err = await bulkflow(
        "undo", str(log), "--log", str(tmp_path / "again.jsonl"), env=sim_env(sim)
    )
    assert status == 0, err
    assert sim.stats.count("PATCH") == 0
    assert not [e for e in sim.stats.journal if e.method == "POST" and "/flows" in e.path]
    assert {r["status"] for r in results(tmp_path / "again.jsonl")} == {"unchanged"}
    status, _, err = await bulkflow(
        "undo", str(undo_log), "--log", str(tmp_path / "redo.jsonl"), env=sim_env(sim)
    )
    assert status == 0, err
    assert snapshot(sim, ids) == after_run


async def test_undo_of_a_killed_run_reverts_exactly_what_it_applied(
    make_sim: SimFactory, tmp_path: Path
) -> None:
    """SIGKILL mid-run, then undo: every flow, in flight at the kill or not, is as before the run."""
    sim = await make_sim(Faults(latency_ms=15))
    ids = seed(sim, 300)
    before = snapshot(sim, ids)
    log = tmp_path / "run.jsonl"
    proc = await start_run(write_rollout(tmp_path, ids), log, sim)
    await wait_for_results(log, 80)
    proc.send_signal(signal.SIGKILL)
    await proc.wait()
    changed = {i for i in ids if lasting(sim.doc("flows", i)) != before[i]}
    assert 80 <= len(changed) < 300
    undo_log = tmp_path / "undo.jsonl"
    status, _, err = await bulkflow("undo", str(log), "--log", str(undo_log), env=sim_env(sim))
    assert status == 0, err
    assert snapshot(sim, ids) == before
    assert {r["id"] for r in results(undo_log) if r["status"] == "updated"} == changed


async def test_undo_under_a_conflict_storm_ends_in_the_same_state(
    make_sim: SimFactory, tmp_path: Path
) -> None:
    """A rival writer on half the undo's reads: re-fetch and re-plan until everything is reverted."""
    sim = await make_sim()
    ids, log, before = await rolled_out(sim, tmp_path, 100)
    set_faults(sim, Faults(rival_rate=0.5))
    status, _, err = await bulkflow(
        "undo",
        str(log),
        "--log",
        str(tmp_path / "undo.jsonl"),
        "--max-conflict-retries",
        "20",
        env=sim_env(sim),
    )
    assert status == 0, err
    records = results(tmp_path / "undo.jsonl")
    assert sum(r["conflicts"] for r in records) > 0
    for flow_id in ids:
        doc = lasting(sim.doc("flows", flow_id))
        selectors = doc["transformations"][0]["params"]["segmentSelectors"]["selectors"]
        kept = [s for s in selectors if s["value"].get("name") != "Added by another writer"]
        doc["transformations"][0]["params"]["segmentSelectors"]["selectors"] = kept
        assert doc == before[flow_id], flow_id


async def test_undo_of_a_dry_run_log_is_refused(sim: Simulator, tmp_path: Path) -> None:
    """A dry run changed nothing: undoing its log is an input error, exit 2, nothing sent."""
    ids = seed(sim, 3)
    log = tmp_path / "plan.jsonl"
    status, _, err = await bulkflow(
        "run", str(write_rollout(tmp_path, ids)), "--dry-run", "--log", str(log), env=sim_env(sim)
    )
    assert status == 0, err
    sim.stats.reset()
    status, _, err = await bulkflow("undo", str(log), env=sim_env(sim), cwd=tmp_path)
    assert status == 2
    assert "dry run" in err
    assert "nothing to undo" in err
    assert sim.stats.count() == 0


async def test_undo_dry_run_prints_the_inverse_plan(sim: Simulator, tmp_path: Path) -> None:
    """``undo --dry-run`` shows each flow's inverse, readable, and sends nothing."""
    _ids, log, _ = await rolled_out(sim, tmp_path, 3)
    sim.stats.reset()
    status, out, err = await bulkflow("undo", str(log), "--dry-run", env=sim_env(sim), cwd=tmp_path)
    assert status == 0, err
    assert f"- audience {NEW_A}" in out
    assert f"+ audience {RETIRED}" in out
    assert '~ /scheduleParams/frequency: "day" → "week"' in out
    assert '~ state: "disabled" → "enabled"' in out
    assert "Plan: 3 to change" in out
    assert sim.stats.count("PATCH") == 0


async def test_undo_plan_saved_then_applied(sim: Simulator, tmp_path: Path) -> None:
    """``undo --out PLAN`` then ``apply PLAN``: the flows are as before the run."""
    ids, log, before = await rolled_out(sim, tmp_path, 20)
    plan = tmp_path / "undo-plan.json"
    status, out, err = await bulkflow(
        "undo", str(log), "--out", str(plan), env=sim_env(sim), cwd=tmp_path
    )
    assert status == 0, err
    assert f"bulkflow apply {plan}" in out
    assert orjson.loads(plan.read_bytes())["undo_of"] == str(log.resolve())
    status, _, err = await bulkflow("apply", str(plan), env=sim_env(sim), cwd=tmp_path)
    assert status == 0, err
    assert snapshot(sim, ids) == before


async def test_retry_of_an_undo_log_retries_the_inverse(
    make_sim: SimFactory, tmp_path: Path
) -> None:
    """Targets an undo failed (every PATCH refused) are taken back by ``retry UNDO_LOG``."""
    sim = await make_sim()
    ids, log, before = await rolled_out(sim, tmp_path, 20)
    set_faults(sim, Faults(echo_reject_rate=1.0))
    undo_log = tmp_path / "undo.jsonl"
    status, _, _ = await bulkflow("undo", str(log), "--log", str(undo_log), env=sim_env(sim))
    assert status == 1
    set_faults(sim, Faults())
    status, _, err = await bulkflow("retry", str(undo_log), env=sim_env(sim))
    assert status == 0, err
    assert snapshot(sim, ids) == before


async def test_undo_of_a_rotation_is_irreversible_and_writes_no_credential(
    sim: Simulator, tmp_path: Path
) -> None:
    """Credentials are never recorded: undo says irreversible, puts back the rest, leaks nothing."""
    secret = "Rotated-Pa55word-do-not-leak-8731"
    ids = [f"conn-{n}" for n in range(5)]
    for connection_id in ids:
        sim.store.ensure("connections", connection_id)
    before = {i: lasting(sim.store.get("prod", "connections", i)).get("description") for i in ids}
    params = {"username": "u", "password": "{{ secrets.pw }}"}
    changes = [
        {"rotate_credentials": {"params": params}},
        {"set": {"path": "/description", "value": "rotated 2026-11"}},
    ]
    body = job_body(ids, changes, resource="connections", secrets={"pw": {"env": "NEW_PW"}})
    env = sim_env(sim) | {"NEW_PW": secret}
    log, undo_log = tmp_path / "run.jsonl", tmp_path / "undo.jsonl"
    status, out1, err1 = await bulkflow(
        "run", str(write_job(tmp_path, body)), "--log", str(log), env=env
    )
    assert status == 0, err1
    status, out2, err2 = await bulkflow("undo", str(log), "--log", str(undo_log), env=env)
    assert status == 1, err2
    records = results(undo_log)
    assert {r["error"]["kind"] for r in records} == {"irreversible"}
    assert all("other changes are reverted" in r["error"]["message"] for r in records)
    for connection_id in ids:
        doc = sim.store.get("prod", "connections", connection_id)
        assert doc is not None
        assert doc.get("description") == before[connection_id]
    report = tmp_path / "report.html"
    status, _, err3 = await bulkflow("report", str(undo_log), "--out", str(report), env=env)
    assert status == 0, err3
    outputs = [
        out1,
        err1,
        out2,
        err2,
        err3,
        log.read_text(),
        undo_log.read_text(),
        report.read_text(),
    ]
    assert not [text for text in outputs if secret in text or secret[:12] in text]


async def test_undo_refuses_what_is_not_a_real_runs_log(sim: Simulator, tmp_path: Path) -> None:
    """A job file, an empty file, a folder, or the undo's log named as the run's: exit 2, no request."""
    job = write_rollout(tmp_path, seed(sim, 2))
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    log = tmp_path / "run.jsonl"
    status, _, err = await bulkflow("run", str(job), "--log", str(log), env=sim_env(sim))
    assert status == 0, err
    sim.stats.reset()
    for args in ([str(job)], [str(empty)], [str(tmp_path)], [str(log), "--log", str(log)]):
        status, out, err = await bulkflow("undo", *args, env=sim_env(sim), cwd=tmp_path)
        assert status == 2, (args, out, err)
        assert "Traceback" not in err
    assert sim.stats.count() == 0


async def test_an_edited_log_is_irreversible_not_a_crash(sim: Simulator, tmp_path: Path) -> None:
    """Garbled ops and before-images in a hand-edited log: those targets are irreversible."""
    _ids, log, _ = await rolled_out(sim, tmp_path, 4)
    lines = [orjson.loads(line) for line in log.read_text().splitlines()]
    garbage: list[Any] = [None, 7, "x", [1], {"path": 3}, {"op": "add", "path": "no-slash"}]
    for n, record in enumerate(r for r in lines if r["type"] in ("result", "intent")):
        record["ops" if n % 2 else "before"] = garbage[n % len(garbage)]
    log.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in lines))
    status, out, err = await bulkflow(
        "undo", str(log), "--log", str(tmp_path / "u.jsonl"), env=sim_env(sim)
    )
    assert status in (0, 1), out + err
    assert "internal" not in out + err
    assert "Traceback" not in err


async def test_a_sim_runs_log_is_undone_and_redone_against_a_replaying_simulator(
    tmp_path: Path,
) -> None:
    """``run --sim`` then ``undo``: the simulator replays the run first, so every flow is
    really reverted; undoing that undo's log (replayed after the run's) redoes them all."""
    log, undo_log = tmp_path / "run.jsonl", tmp_path / "undo.jsonl"
    job = str(ROOT / "jobs" / "q4-segment-rollout.yaml")
    status, _, err = await bulkflow("run", job, "--sim", "--log", str(log), cwd=tmp_path)
    assert status == 0, err
    status, out, err = await bulkflow("undo", str(log), "--log", str(undo_log), cwd=tmp_path)
    assert status == 0, err
    assert "embedded simulator" in out
    assert {r["status"] for r in results(undo_log)} == {"updated"}
    redo = tmp_path / "redo.jsonl"
    status, _, err = await bulkflow("undo", str(undo_log), "--log", str(redo), cwd=tmp_path)
    assert status == 0, err
    assert {r["status"] for r in results(redo)} == {"updated"}
    assert len(results(redo)) == len(results(log))


async def test_undo_with_verify_reads_every_flow_back(sim: Simulator, tmp_path: Path) -> None:
    """``undo --verify``: each reverted flow is read back with nothing left to revert."""
    ids, log, before = await rolled_out(sim, tmp_path, 10)
    undo_log = tmp_path / "undo.jsonl"
    status, _, err = await bulkflow(
        "undo", str(log), "--verify", "--log", str(undo_log), env=sim_env(sim)
    )
    assert status == 0, err
    assert snapshot(sim, ids) == before
    status, _out, err = await bulkflow(
        "undo", str(log), "--log", str(undo_log), "--resume", env=sim_env(sim)
    )
    assert status == 0, err
    assert len(results(undo_log)) == 10, "the resumed undo redid finished targets"
