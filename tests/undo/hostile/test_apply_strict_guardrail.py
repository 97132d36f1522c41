"""``apply --strict`` sends a saved plan past Adobe's guardrails."""

from __future__ import annotations

from pathlib import Path

from tests.cli.test_cli import ROLLOUT, bulkflow, sim_env
from tests.cli.test_guardrails import CROWDED, _crowded_sim, _patches_to
from tests.conftest import SimFactory, job_body, write_job


async def test_apply_strict_sends_nothing_past_a_guardrail(
    make_sim: SimFactory, tmp_path: Path
) -> None:
    """Apply strict sends nothing past a guardrail."""
    sim = await _crowded_sim(make_sim)
    job = write_job(tmp_path, job_body([CROWDED], ROLLOUT))
    plan = tmp_path / "plan.json"
    status, _, err = await bulkflow(
        "plan", str(job), "--out", str(plan), "--log", str(tmp_path / "p.jsonl"), env=sim_env(sim)
    )
    assert status == 0, err
    status, _, err = await bulkflow(
        "apply", str(plan), "--strict", "--log", str(tmp_path / "a.jsonl"), env=sim_env(sim)
    )
    assert _patches_to(sim, CROWDED) == 0
    assert status == 1
