"""Plans change management can sign: readable, saved, applied exactly as reviewed or not at all."""

from __future__ import annotations

import json
from pathlib import Path

from bulkflow.sim import Faults, Simulator
from tests.cli.test_cli import bulkflow, sim_env
from tests.conftest import DEST_FLOW, SimFactory, job_body, write_job
from tests.engine_helpers import segment_ids

WINTER = "2d79d0d8-724f-49fc-a09d-d1dec338c93c"
RETIRED = "9f7d37fd-7039-4454-94ef-2b0cd6c3206a"
ROLLOUT = [
    {"add_segment": {"id": WINTER, "name": "Winter 2021/2022 campaign"}},
    {"remove_segment": {"id": RETIRED}},
]


def flows(sim: Simulator, count: int) -> list[str]:
    ids = [f"plan-{n:03d}" for n in range(count)]
    for flow_id in ids:
        sim.store.ensure("flows", flow_id)
    return ids


async def make_plan(sim: Simulator, tmp_path: Path, targets: list[str]) -> tuple[Path, str]:
    job = write_job(tmp_path, job_body(targets, ROLLOUT))
    plan = tmp_path / "plan.json"
    status, out, err = await bulkflow(
        "plan", str(job), "--out", str(plan), "--log", str(tmp_path / "p.jsonl"), env=sim_env(sim)
    )
    assert status == 0, err
    return plan, out


async def test_plan_reads_like_a_diff(sim: Simulator, tmp_path: Path) -> None:
    """The seed flow with an audience added and one removed reads as a person expects."""
    _, out = await make_plan(sim, tmp_path, [DEST_FLOW])
    assert f'flows {DEST_FLOW} "2021 winter campaign"' in out
    assert f'+ audience {WINTER} "Winter 2021/2022 campaign"' in out
    assert f'- audience {RETIRED} "Interested in Mountain Biking"' in out
    assert "Plan: 1 to change, 0 unchanged, 0 failed." in out


async def test_replace_shows_old_and_new_value(sim: Simulator, tmp_path: Path) -> None:
    """A replace reads ``~ path: old → new``."""
    job = write_job(
        tmp_path,
        job_body(
            ["2edc08ac-4df5-4fe6-936f-81a19ce92f5c"],
            [{"set": {"path": "/scheduleParams/frequency", "value": "week"}}],
        ),
    )
    status, out, _ = await bulkflow(
        "plan", str(job), "--log", str(tmp_path / "p.jsonl"), env=sim_env(sim)
    )
    assert status == 0
    assert '~ /scheduleParams/frequency: "day" → "week"' in out


async def test_detailed_exitcode(make_sim: SimFactory, tmp_path: Path) -> None:
    """--detailed-exitcode: 3 changes pending, 0 no changes, 1 failed targets, 2 invalid input."""
    sim = await make_sim()
    job = write_job(tmp_path, job_body([DEST_FLOW], ROLLOUT))
    args = ("plan", str(job), "--log", str(tmp_path / "p.jsonl"), "--detailed-exitcode")
    assert (await bulkflow(*args, env=sim_env(sim)))[0] == 3
    await bulkflow("run", str(job), "--log", str(tmp_path / "r.jsonl"), env=sim_env(sim))
    assert (await bulkflow(*args, env=sim_env(sim)))[0] == 0
    missing = write_job(tmp_path, job_body(["no-such-flow"], ROLLOUT), "missing.yaml")
    assert (
        await bulkflow(
            "plan",
            str(missing),
            "--log",
            str(tmp_path / "m.jsonl"),
            "--detailed-exitcode",
            env=sim_env(sim),
        )
    )[0] == 1
    bad = write_job(tmp_path, job_body([DEST_FLOW], [{"nope": {}}]), "bad.yaml")
    assert (await bulkflow("plan", str(bad), "--detailed-exitcode", env=sim_env(sim)))[0] == 2


async def test_saved_plan_applies_to_unchanged_flows(make_sim: SimFactory, tmp_path: Path) -> None:
    """``apply`` sends the plan's ops with the planned etags: every flow updated, no GET needed."""
    sim = await make_sim()
    ids = flows(sim, 10)
    plan, _ = await make_plan(sim, tmp_path, ids)
    body = json.loads(plan.read_text())
    assert {t["id"] for t in body["targets"]} == set(ids)
    assert all(t["etag"].startswith('"') for t in body["targets"])
    sim.stats.reset()
    status, _out, err = await bulkflow(
        "apply", str(plan), "--log", str(tmp_path / "a.jsonl"), env=sim_env(sim)
    )
    assert status == 0, err
    assert sim.stats.count("GET") == 1, "only the list request that checks the planned etags"
    assert sim.stats.count("PATCH", 200) == 10
    for flow_id in ids:
        assert WINTER in segment_ids(sim, flow_id)


async def test_stale_plan_is_refused_whole(make_sim: SimFactory, tmp_path: Path) -> None:
    """Flows edited after the review: nothing is sent, exit 1, the stale ids and the next step."""
    sim = await make_sim()
    ids = flows(sim, 6)
    plan, _ = await make_plan(sim, tmp_path, ids)
    for flow_id in ids[:2]:
        sim.store.rival_write("prod", "flows", flow_id)
    before = {flow_id: sim.doc("flows", flow_id) for flow_id in ids}
    sim.stats.reset()
    status, out, err = await bulkflow(
        "apply", str(plan), "--log", str(tmp_path / "a.jsonl"), env=sim_env(sim)
    )
    assert status == 1, err
    assert sim.stats.count("PATCH") == 0
    assert sim.stats.count("GET") == 1, "one list request checks up to 100 planned etags"
    assert {flow_id: sim.doc("flows", flow_id) for flow_id in ids} == before
    said = out + err
    assert all(flow_id in said for flow_id in ids[:2])
    assert not any(flow_id in said for flow_id in ids[2:])
    assert "bulkflow plan" in said
    assert "--skip-stale" in said
    assert "bulkflow retry" not in said


async def test_skip_stale_applies_the_rest(make_sim: SimFactory, tmp_path: Path) -> None:
    """``--skip-stale``: the unchanged flows are applied, the edited ones recorded ``stale``."""
    sim = await make_sim()
    ids = flows(sim, 6)
    plan, _ = await make_plan(sim, tmp_path, ids)
    for flow_id in ids[:2]:
        sim.store.rival_write("prod", "flows", flow_id)
    edited = {flow_id: sim.doc("flows", flow_id) for flow_id in ids[:2]}
    status, out, _ = await bulkflow(
        "apply", str(plan), "--skip-stale", "--log", str(tmp_path / "a.jsonl"), env=sim_env(sim)
    )
    assert status == 1
    for flow_id in ids[:2]:
        assert sim.doc("flows", flow_id) == edited[flow_id]
    for flow_id in ids[2:]:
        assert WINTER in segment_ids(sim, flow_id)
    records = [json.loads(line) for line in (tmp_path / "a.jsonl").read_text().splitlines()]
    stale = {r["id"] for r in records if r.get("status") == "stale"}
    assert stale == set(ids[:2])
    assert "0 conflicts re-planned" in out
    assert "bulkflow retry" not in out
    assert "bulkflow plan" in out


async def test_edit_after_the_check_ends_stale_not_re_planned(
    make_sim: SimFactory, tmp_path: Path
) -> None:
    """An edit between the etag check and the PATCH: that target ``stale``, never a re-plan."""
    sim = await make_sim(Faults(rival_ids=frozenset({"plan-000"})))
    ids = flows(sim, 3)
    plan, _ = await make_plan(sim, tmp_path, ids)
    status, out, _ = await bulkflow(
        "apply", str(plan), "--log", str(tmp_path / "a.jsonl"), env=sim_env(sim)
    )
    assert status == 1
    records = [json.loads(line) for line in (tmp_path / "a.jsonl").read_text().splitlines()]
    assert {r["id"]: r["status"] for r in records if r["type"] == "result"} == {
        ids[0]: "stale",
        ids[1]: "updated",
        ids[2]: "updated",
    }
    assert "0 conflicts re-planned" in out
    assert "bulkflow retry" not in out


async def test_replan_updates_stale_targets(make_sim: SimFactory, tmp_path: Path) -> None:
    """With --replan, targets changed since the review are fetched and planned again."""
    sim = await make_sim()
    ids = flows(sim, 3)
    plan, _ = await make_plan(sim, tmp_path, ids)
    sim.store.rival_write("prod", "flows", ids[0])
    foreign = sim.store.rival_writes[-1][1]
    status, _, err = await bulkflow(
        "apply", str(plan), "--replan", "--log", str(tmp_path / "a.jsonl"), env=sim_env(sim)
    )
    assert status == 0, err
    assert sim.stats.count("PATCH", 412) == 0, "the check found it changed: no stale etag sent"
    audiences = segment_ids(sim, ids[0])
    assert WINTER in audiences
    assert foreign in audiences
    assert RETIRED not in audiences


async def test_edited_plan_is_refused(sim: Simulator, tmp_path: Path) -> None:
    """Changing one character of a plan file: refused before any request."""
    plan, _ = await make_plan(sim, tmp_path, [DEST_FLOW])
    plan.write_text(plan.read_text().replace("Winter 2021/2022", "Winter 2021/2O22"))
    sim.stats.reset()
    status, _, err = await bulkflow("apply", str(plan), env=sim_env(sim))
    assert status == 2
    assert "changed after it was written" in err
    assert sim.stats.count() == 0


async def test_apply_without_job_file_fails_clearly(sim: Simulator, tmp_path: Path) -> None:
    """The plan's job file is gone: exit 2, and the message says why that matters."""
    plan, _ = await make_plan(sim, tmp_path, [DEST_FLOW])
    (tmp_path / "job.yaml").unlink()
    status, _, err = await bulkflow("apply", str(plan), env=sim_env(sim))
    assert status == 2
    assert "is gone" in err
