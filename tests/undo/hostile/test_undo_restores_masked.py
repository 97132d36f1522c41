"""plan --out masks before-images; apply logs them; undo writes back '***'."""

from __future__ import annotations

from pathlib import Path

from bulkflow.sim import Simulator
from tests.cli.test_cli import bulkflow, sim_env
from tests.conftest import DEST_FLOW, job_body, write_job

SECRET = "PLANTED-attack-secret-0123456789"


async def test_undo_of_an_applied_plan_never_writes_a_mask(sim: Simulator, tmp_path: Path) -> None:
    """Undo of an applied plan never writes a mask."""
    env = sim_env(sim) | {"PW": SECRET}
    secrets = {"pw": {"env": "PW"}}
    a = write_job(
        tmp_path,
        job_body(
            [DEST_FLOW],
            [{"set": {"path": "/description", "value": "creds {{ secrets.pw }} here"}}],
            name="job-a",
            secrets=secrets,
        ),
        "a.yaml",
    )
    b = write_job(
        tmp_path,
        job_body(
            [DEST_FLOW],
            [{"set": {"path": "/description", "value": "clean"}}],
            name="job-b",
            secrets=secrets,
        ),
        "b.yaml",
    )
    assert (await bulkflow("run", str(a), "--log", str(tmp_path / "a.jsonl"), env=env))[0] == 0
    plan = tmp_path / "b-plan.json"
    assert (
        await bulkflow(
            "plan", str(b), "--out", str(plan), "--log", str(tmp_path / "bp.jsonl"), env=env
        )
    )[0] == 0
    assert (await bulkflow("apply", str(plan), "--log", str(tmp_path / "b.jsonl"), env=env))[0] == 0
    await bulkflow("undo", str(tmp_path / "b.jsonl"), "--log", str(tmp_path / "u.jsonl"), env=env)
    assert "***" not in sim.doc("flows", DEST_FLOW)["description"]
