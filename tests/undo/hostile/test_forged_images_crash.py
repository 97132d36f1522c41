"""forged images crash the inverse planner or the log writer (internal / exit 70)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bulkflow.sim import Simulator
from bulkflow.undo.inverse import Applied, invert
from tests.cli.test_cli import bulkflow, sim_env
from tests.conftest import DEST_FLOW
from tests.undo.hostile.helpers import forge, real_log

SEL = "/transformations/0/params/segmentSelectors/selectors"
DOC = {"transformations": [{"params": {"segmentSelectors": {"selectors": []}}}], "a": [1, 2]}


@pytest.mark.parametrize(
    ("op", "image"),
    [
        (
            {"op": "remove", "path": f"{SEL}/abc"},
            {"path": f"{SEL}/abc", "was": {"x": 1}, "array": True},
        ),
        (
            {"op": "remove", "path": f"{SEL}/-5"},
            {"path": f"{SEL}/-5", "was": {"x": 1}, "array": True},
        ),
        ({"op": "add", "path": "/a/-", "value": 2}, {"path": "/a/-", "absent": True}),
    ],
)
def test_a_garbled_image_is_irreversible_not_a_crash(
    op: dict[str, Any], image: dict[str, Any]
) -> None:
    """A garbled image is irreversible not a crash."""
    invert(DOC, [Applied([op], [image])])


async def test_a_deep_before_image_is_not_an_internal_error(sim: Simulator, tmp_path: Path) -> None:
    """A deep before image is not an internal error."""
    log = await real_log(
        sim, tmp_path, [DEST_FLOW], [{"set": {"path": "/description", "value": "q"}}]
    )
    deep: Any = "x"
    for _ in range(300):
        deep = [deep]
    forged = forge(log, tmp_path / "f.jsonl", before=[{"path": "/description", "was": deep}])
    status, _, err = await bulkflow(
        "undo", str(forged), "--dry-run", "--log", str(tmp_path / "u.jsonl"), env=sim_env(sim)
    )
    assert status in (1, 2), err
    assert "internal" not in err
