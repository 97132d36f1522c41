"""Guardrails end to end: a plan past 250 audiences is warned; ``--strict`` sends nothing for it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from bulkflow.sim import Simulator
from tests.cli.test_cli import ROLLOUT, bulkflow, sim_env
from tests.conftest import DEST_FLOW, SimFactory, job_body, write_job

CROWDED = "3b1f0a2e-5c4d-4e6f-8a7b-9c0d1e2f3a4b"  # a destination dataflow with 250 audiences


async def _crowded_sim(make_sim: SimFactory) -> Simulator:
    """The tutorial's destination flow, and one already at Adobe's 250 audiences."""
    sim: Simulator = await make_sim()
    doc = sim.store.ensure("flows", CROWDED, "destination")
    doc["transformations"][0]["params"]["segmentSelectors"]["selectors"] = [
        {"type": "PLATFORM_SEGMENT", "value": {"id": f"audience-{n:03d}"}} for n in range(250)
    ]
    return sim


def _results(log: Path) -> dict[str, dict[str, Any]]:
    records = [json.loads(line) for line in log.read_text().splitlines()]
    return {r["id"]: r for r in records if r["type"] == "result"}


def _patches_to(sim: Simulator, flow_id: str) -> int:
    return sum(e.method == "PATCH" and e.path.endswith(flow_id) for e in sim.stats.journal)


async def test_plan_warns_of_the_251st_audience(make_sim: SimFactory, tmp_path: Path) -> None:
    """The plan line, the record's ``warnings`` and the summary all tell of the 251st audience."""
    sim = await _crowded_sim(make_sim)
    job = write_job(tmp_path, job_body([DEST_FLOW, CROWDED], ROLLOUT))
    log = tmp_path / "plan.jsonl"
    status, out, err = await bulkflow("plan", str(job), "--log", str(log), env=sim_env(sim))
    assert status == 0, err
    lines = out.splitlines()
    crowded = next(i for i, line in enumerate(lines) if line.startswith(f"flows {CROWDED}"))
    assert "! guardrail: 251 audiences" in "\n".join(lines[crowded : crowded + 3])
    results = _results(log)
    assert results[CROWDED]["status"] == "planned"
    assert "251 audiences" in results[CROWDED]["warnings"][0]
    assert results[DEST_FLOW]["warnings"] == []
    assert "Guardrail warnings on 1 target" in out
    summary = json.loads(log.read_text().splitlines()[-1])
    assert summary["warned"] == 1


async def test_strict_fails_the_crowded_flow_and_sends_it_nothing(
    make_sim: SimFactory, tmp_path: Path
) -> None:
    """``run --strict``: that flow fails with kind guardrail and gets no PATCH; the other is updated."""
    sim = await _crowded_sim(make_sim)
    job = write_job(tmp_path, job_body([DEST_FLOW, CROWDED], ROLLOUT))
    log = tmp_path / "run.jsonl"
    status, out, err = await bulkflow(
        "run", str(job), "--strict", "--log", str(log), env=sim_env(sim)
    )
    assert status == 1, err
    results = _results(log)
    assert results[CROWDED]["status"] == "failed"
    assert results[CROWDED]["error"]["kind"] == "guardrail"
    assert "251 audiences" in results[CROWDED]["error"]["message"]
    assert results[CROWDED]["ops"] == []
    assert results[DEST_FLOW]["status"] == "updated"
    assert _patches_to(sim, CROWDED) == 0
    assert _patches_to(sim, DEST_FLOW) == 1
    assert (
        len(
            sim.doc("flows", CROWDED)["transformations"][0]["params"]["segmentSelectors"][
                "selectors"
            ]
        )
        == 250
    )
    assert "guardrail" in out


async def test_strict_is_recorded_and_kept_by_retry(make_sim: SimFactory, tmp_path: Path) -> None:
    """``--strict`` is in the run header's config, and ``retry`` of that log stays strict."""
    sim = await _crowded_sim(make_sim)
    job = write_job(tmp_path, job_body([CROWDED], ROLLOUT))
    log = tmp_path / "run.jsonl"
    env = sim_env(sim)
    assert (await bulkflow("run", str(job), "--strict", "--log", str(log), env=env))[0] == 1
    header = json.loads(log.read_text().splitlines()[0])
    assert header["config"]["strict"] is True
    status, _, err = await bulkflow("retry", str(log), env=env)
    assert status == 1, err
    assert _patches_to(sim, CROWDED) == 0


async def test_without_strict_the_run_goes_ahead_with_the_warning(
    make_sim: SimFactory, tmp_path: Path
) -> None:
    """A run without ``--strict`` sends the change and records the warning on the updated target."""
    sim = await _crowded_sim(make_sim)
    job = write_job(tmp_path, job_body([CROWDED], ROLLOUT))
    log = tmp_path / "run.jsonl"
    status, out, err = await bulkflow("run", str(job), "--log", str(log), env=sim_env(sim))
    assert status == 0, err
    record = _results(log)[CROWDED]
    assert record["status"] == "updated"
    assert "251 audiences" in record["warnings"][0]
    assert "Guardrail warnings on 1 target" in out
