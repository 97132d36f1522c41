"""``bulkflow run`` as a user runs it, against a gateway that does not behave like Flow Service."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bulkflow.records.resultlog import read_log
from bulkflow.sim import Faults, Simulator
from tests.cli.test_cli import ROLLOUT, bulkflow, sim_env
from tests.conftest import DEST_FLOW, SOURCE_FLOW, SimFactory, job_body, write_job
from tests.hostile import closed_port

RENAME = [{"set": {"path": "/name", "value": "renamed"}}]


async def run_cli(
    sim: Simulator, tmp_path: Path, targets: list[str], *flags: str
) -> tuple[int, str, list[dict[str, Any]]]:
    """``bulkflow run`` of a rename job against ``sim``: status, stderr, result records."""
    job = write_job(tmp_path, job_body(targets, RENAME))
    log = tmp_path / "r.jsonl"
    status, _, err = await bulkflow("run", str(job), "--log", str(log), *flags, env=sim_env(sim))
    return status, err, [r for r in read_log(log) if r["type"] == "result"]


@pytest.mark.parametrize("method", ["GET", "PATCH"])
async def test_redirect_is_never_followed_end_to_end(
    make_sim: SimFactory, tmp_path: Path, method: str
) -> None:
    """A 307 to another origin fails the target as http 307; the other origin hears nothing."""
    other = await make_sim()
    faults = Faults(
        redirect_rate=1.0, redirect_to=other.root_url, redirect_methods=frozenset({method})
    )
    sim = await make_sim(faults)
    status, err, records = await run_cli(sim, tmp_path, [DEST_FLOW])
    assert status == 1, err
    assert other.stats.count() == 0
    assert [r["status"] for r in records] == ["failed"]
    assert records[0]["error"] == {
        "kind": "http",
        "status": 307,
        "message": f"{method} answered 307 redirecting to {other.root_url}; "
        "redirects are not followed",
    }
    assert sim.stats.count("PATCH") == (1 if method == "PATCH" else 0)
    assert {(s.doc("flows", DEST_FLOW) or {}).get("name") for s in (sim, other)} == {
        "2021 winter campaign"
    }


async def test_document_without_etag_is_never_patched_end_to_end(
    make_sim: SimFactory, tmp_path: Path
) -> None:
    """Documents served without etag: each target fails invalid_response and no PATCH is sent."""
    sim = await make_sim(Faults(no_etag_rate=1.0))
    status, err, records = await run_cli(sim, tmp_path, [DEST_FLOW, SOURCE_FLOW])
    assert status == 1, err
    assert sim.stats.count("PATCH") == 0
    assert [r["error"]["kind"] for r in records] == ["invalid_response"] * 2
    assert {r["error"]["message"] for r in records} == {
        f"GET /flows/{flow} served the document without an etag; "
        "not sending a PATCH without If-Match"
        for flow in (DEST_FLOW, SOURCE_FLOW)
    }


async def test_non_json_answers_fail_as_invalid_response_end_to_end(
    make_sim: SimFactory, tmp_path: Path
) -> None:
    """Every answer an HTML page with status 200: the target fails invalid_response, exit 1."""
    sim = await make_sim(Faults(garbage_rate=1.0))
    status, err, records = await run_cli(sim, tmp_path, [DEST_FLOW])
    assert status == 1, err
    assert records[0]["error"]["kind"] == "invalid_response"
    assert "not JSON" in records[0]["error"]["message"]


@pytest.mark.timeout(40)
async def test_closed_port_fails_each_target_fast_naming_host_and_port(tmp_path: Path) -> None:
    """AEP_BASE_URL at a closed port: each attempted target fails transport naming host, port
    and cause (the run stops early; see test_run_safety for what is left unrecorded)."""
    port = closed_port()
    targets = [f"flow-{n:03d}" for n in range(20)]
    job = write_job(tmp_path, job_body(targets, ROLLOUT))
    env = {
        "AEP_BASE_URL": f"http://127.0.0.1:{port}/data/foundation/flowservice",
        "AEP_ACCESS_TOKEN": "cli-test-token",
        "AEP_CLIENT_ID": "c",
        "AEP_ORG_ID": "o",
    }
    log = tmp_path / "p.jsonl"
    status, _, err = await bulkflow("plan", str(job), "--log", str(log), env=env)
    assert status == 1, err
    records = [r for r in read_log(log) if r["type"] == "result"]
    assert 3 <= len(records) <= 20
    for record in records:
        assert record["error"]["kind"] == "transport"
        assert record["error"]["message"] == (
            f"cannot connect to 127.0.0.1:{port} (connection refused)"
        )


async def test_ims_unreachable_exits_2_naming_host_port_and_cause(tmp_path: Path) -> None:
    """AEP_IMS_URL at a closed port: exit 2 before any target, naming 127.0.0.1:PORT and refusal."""
    port = closed_port()
    job = write_job(tmp_path, job_body([DEST_FLOW], ROLLOUT))
    env = {
        "AEP_BASE_URL": f"http://127.0.0.1:{port}/data/foundation/flowservice",
        "AEP_IMS_URL": f"http://127.0.0.1:{port}/ims/token/v3",
        "AEP_CLIENT_ID": "c",
        "AEP_CLIENT_SECRET": "cli-test-secret",
        "AEP_ORG_ID": "o",
    }
    status, out, err = await bulkflow("run", str(job), "--log", str(tmp_path / "r.jsonl"), env=env)
    assert status == 2
    assert f"127.0.0.1:{port}" in err
    assert "refused" in err
    assert "Traceback" not in err + out
    assert "cli-test-secret" not in err + out
