"""a forged log makes undo write under /auth/params (credentials)."""

from __future__ import annotations

from pathlib import Path

from bulkflow.sim import Simulator
from bulkflow.undo.inverse import Applied, invert
from tests.cli.test_cli import bulkflow, sim_env
from tests.conftest import CONNECTION
from tests.undo.hostile.helpers import forge, patches, real_log


def test_invert_never_plans_an_op_under_auth_params() -> None:
    """Invert never plans an op under auth params."""
    doc = {"auth": {"params": {"environmentUrl": "login.salesforce.com", "username": "u"}}}
    ops = [
        {"op": "replace", "path": "/auth/params/environmentUrl", "value": "login.salesforce.com"}
    ]
    images = [{"path": "/auth/params/environmentUrl", "was": "evil.example.com"}]
    inverse = invert(doc, [Applied(ops, images)])
    assert not any(op["path"].startswith("/auth") for op in inverse.ops)
    assert inverse.irreversible


async def test_forged_log_cannot_rewrite_a_connections_credentials(
    sim: Simulator, tmp_path: Path
) -> None:
    """Forged log cannot rewrite a connections credentials."""
    log = await real_log(
        sim,
        tmp_path,
        [CONNECTION],
        [{"set": {"path": "/description", "value": "x"}}],
        resource="connections",
    )
    url = sim.doc("connections", CONNECTION)["auth"]["params"]["environmentUrl"]
    forged = forge(
        log,
        tmp_path / "forged.jsonl",
        ops=[{"op": "replace", "path": "/auth/params/environmentUrl", "value": url}],
        before=[{"path": "/auth/params/environmentUrl", "was": "evil.example.com"}],
    )
    sent = len(patches(sim))
    _status, _out, _err = await bulkflow(
        "undo", str(forged), "--log", str(tmp_path / "u.jsonl"), env=sim_env(sim)
    )
    assert sim.doc("connections", CONNECTION)["auth"]["params"]["environmentUrl"] == url
    assert len(patches(sim)) == sent
