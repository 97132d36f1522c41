"""Credential rotation as a job: the tutorial's connection update gives the documented document."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bulkflow.sim import Simulator
from tests.conftest import CONNECTION, job_body
from tests.engine_helpers import run_job

AFTER = json.loads(
    (Path(__file__).parent / "data" / "connection-salesforce-after-update.json").read_text()
)


async def test_tutorial_connection_update_as_job(
    sim: Simulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """New username, password, security token, name and description, as in the tutorial."""
    monkeypatch.setenv("TUTORIAL_PASSWORD", "{NEW_PASSWORD}")
    monkeypatch.setenv("TUTORIAL_TOKEN", "{NEW_SECURITY_TOKEN}")
    params = {
        "username": "salesforce-connector-username",
        "password": "{{ secrets.password }}",
        "securityToken": "{{ secrets.token }}",
    }
    body = job_body(
        [CONNECTION],
        [
            {"rotate_credentials": {"params": params}},
            {"set": {"path": "/name", "value": "Test salesforce connection"}},
            {"set": {"path": "/description", "value": "A test salesforce connection"}},
        ],
        resource="connections",
        secrets={"password": {"env": "TUTORIAL_PASSWORD"}, "token": {"env": "TUTORIAL_TOKEN"}},
    )
    _, records = await run_job(sim, tmp_path, body)
    assert records[0]["status"] == "updated"
    assert [op["op"] for op in records[0]["ops"]] == ["replace", "replace", "add"]
    doc = sim.doc("connections", CONNECTION)
    assert doc is not None
    for field in ("id", "name", "description", "connectionSpec", "state"):
        assert doc[field] == AFTER[field]
    # The tutorial's sample shows "{PASSWORD}" after the update; it sent "{NEW_PASSWORD}".
    expected = AFTER["auth"]["params"] | {"password": "{NEW_PASSWORD}"}
    assert doc["auth"]["params"] == expected
    assert doc["etag"] == records[0]["etag_after"] != records[0]["etag_before"]
