"""Shared helpers for the attack findings: a real run's log, then forged copies of it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from bulkflow.sim import Simulator
from tests.cli.test_cli import bulkflow, sim_env
from tests.conftest import job_body, write_job


def patches(sim: Simulator) -> list[str]:
    return [e.path for e in sim.stats.journal if e.method == "PATCH"]


async def real_log(
    sim: Simulator, tmp_path: Path, targets: list[str], changes: list[Any], **extra: Any
) -> Path:
    """A real run's log (``bulkflow run`` against ``sim``)."""
    job = write_job(tmp_path, job_body(targets, changes, **extra), "run-job.yaml")
    log = tmp_path / "run.jsonl"
    status, _, err = await bulkflow("run", str(job), "--log", str(log), env=sim_env(sim))
    assert status == 0, err
    return log


def forge(log: Path, out: Path, header: dict[str, Any] | None = None, **result: Any) -> Path:
    """``log`` with its header and first result edited (intents dropped)."""
    records = [json.loads(line) for line in log.read_text().splitlines()]
    head = records[0] | (header or {})
    first = next(r for r in records if r["type"] == "result") | result
    out.write_text(json.dumps(head) + "\n" + json.dumps(first) + "\n")
    return out
