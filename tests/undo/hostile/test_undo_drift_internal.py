"""drift where the container is gone is an internal error (TypeError), not drifted."""

from __future__ import annotations

from pathlib import Path

from bulkflow.sim import Simulator
from bulkflow.undo.inverse import Applied, invert
from tests.cli.test_cli import bulkflow, sim_env
from tests.cli.test_undo import results
from tests.conftest import SOURCE_FLOW
from tests.undo.hostile.helpers import real_log


def test_parent_gone_is_drift() -> None:
    """Parent gone is drift."""
    ops = [{"op": "remove", "path": "/scheduleParams/interval"}]
    inverse = invert(
        {"name": "x"}, [Applied(ops, [{"path": "/scheduleParams/interval", "was": "15"}])]
    )
    assert inverse.drifts
    assert not inverse.ops


def test_array_gone_is_drift() -> None:
    """Array gone is drift."""
    path = "/transformations/0/params/segmentSelectors/selectors/0"
    image = {
        "path": path,
        "was": {"type": "PLATFORM_SEGMENT", "value": {"id": "a"}},
        "array": True,
        "prev": None,
        "next": None,
    }
    inverse = invert(
        {"transformations": [{"params": {}}]}, [Applied([{"op": "remove", "path": path}], [image])]
    )
    assert inverse.drifts
    assert not inverse.ops


async def test_undo_after_a_rival_removed_the_parent(sim: Simulator, tmp_path: Path) -> None:
    """Undo after a rival removed the parent."""
    log = await real_log(
        sim, tmp_path, [SOURCE_FLOW], [{"remove": {"path": "/scheduleParams/interval"}}]
    )
    sim.store.patch(
        "prod", "flows", SOURCE_FLOW, [{"op": "remove", "path": "/scheduleParams"}], "rival"
    )
    undo = tmp_path / "u.jsonl"
    await bulkflow("undo", str(log), "--log", str(undo), env=sim_env(sim))
    assert results(undo)[0]["error"]["kind"] == "drifted"
