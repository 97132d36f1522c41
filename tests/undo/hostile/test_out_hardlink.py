"""``undo --out`` through a hard link overwrites the log being undone."""

from __future__ import annotations

import os
from pathlib import Path

from bulkflow.sim import Simulator
from tests.cli.test_cli import bulkflow, sim_env
from tests.conftest import SOURCE_FLOW
from tests.undo.hostile.helpers import real_log


async def test_out_may_not_be_the_undone_log(sim: Simulator, tmp_path: Path) -> None:
    """Out may not be the undone log."""
    log = await real_log(
        sim,
        tmp_path,
        [SOURCE_FLOW],
        [{"set": {"path": "/scheduleParams/frequency", "value": "week"}}],
    )
    before = log.read_bytes()
    os.link(log, tmp_path / "plan.json")
    status, _, _ = await bulkflow(
        "undo",
        str(log),
        "--out",
        str(tmp_path / "plan.json"),
        "--log",
        str(tmp_path / "u.jsonl"),
        env=sim_env(sim),
    )
    assert log.read_bytes() == before
    assert status == 2
