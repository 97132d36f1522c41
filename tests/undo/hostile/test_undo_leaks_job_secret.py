"""undo does not know the undone job's secrets: they leak into its log, plan, stdout."""

from __future__ import annotations

from pathlib import Path

from bulkflow.sim import Simulator
from tests.cli.test_cli import bulkflow, sim_env
from tests.conftest import DEST_FLOW, job_body, write_job

SECRET = "PLANTED-attack-secret-0123456789"


async def test_undo_outputs_hold_no_job_secret(sim: Simulator, tmp_path: Path) -> None:
    """Undo outputs hold no job secret."""
    env = sim_env(sim) | {"PW": SECRET}
    job = write_job(
        tmp_path,
        job_body(
            [DEST_FLOW],
            [
                {"set": {"path": "/name", "value": "n {{ secrets.pw }}"}},
                {"set": {"path": "/description", "value": "d"}},
            ],
            secrets={"pw": {"env": "PW"}},
        ),
    )
    assert (await bulkflow("run", str(job), "--log", str(tmp_path / "r.jsonl"), env=env))[0] == 0
    _, out1, err1 = await bulkflow(
        "undo",
        str(tmp_path / "r.jsonl"),
        "--out",
        str(tmp_path / "p.json"),
        "--log",
        str(tmp_path / "d.jsonl"),
        "--log-level",
        "debug",
        env=env,
    )
    _, out2, err2 = await bulkflow(
        "undo",
        str(tmp_path / "r.jsonl"),
        "--log",
        str(tmp_path / "u.jsonl"),
        "--log-level",
        "debug",
        env=env,
    )
    texts = [out1, err1, out2, err2] + [
        (tmp_path / f).read_text() for f in ("p.json", "d.jsonl", "u.jsonl")
    ]
    assert not any(SECRET[:16] in text for text in texts)
