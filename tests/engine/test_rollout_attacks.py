"""Hostile answers and edited logs against staged rollouts: never a crash, a leak or a gap."""

from __future__ import annotations

import json
from pathlib import Path

import aiohttp
from aiohttp import web

from bulkflow.flowservice.client import FlowClient
from bulkflow.flowservice.retry import RetryPolicy, parse_retry_after
from bulkflow.flowservice.runs import runs_after_change
from bulkflow.secrets import REGISTRY
from bulkflow.sim import Simulator
from tests.cli.test_cli import bulkflow, sim_env
from tests.conftest import job_body, write_job
from tests.hostile import hostile_server, settings_for, static_token


def test_retry_after_with_overflowing_year_is_garbage_not_a_crash() -> None:
    """A Retry-After date past any calendar reads as no Retry-After."""
    assert parse_retry_after("Mon, 01 Jan 99999999999999999999 00:00:00 GMT") is None


async def test_run_id_echoing_a_secret_is_masked() -> None:
    """A run id a gateway echoes a secret into is masked before it reaches a gate record."""
    REGISTRY.add("planted-secret-7a1b2c")

    async def answer(request: web.Request) -> web.StreamResponse:
        if request.path.endswith("/runs"):
            metrics = {
                "durationSummary": {"startedAtUTC": 2_000},
                "statusSummary": {"status": "failed"},
            }
            run = {"id": "run-planted-secret-7a1b2c", "flowId": "f1", "metrics": metrics}
            return web.json_response({"items": [run]})
        return web.json_response({"items": []})

    async with aiohttp.ClientSession() as session, hostile_server(answer) as server:
        settings = settings_for(server.base_url)
        client = FlowClient(session, settings, static_token(), "prod", RetryPolicy())
        found = await runs_after_change(client, {"f1": 1_000})
    assert "planted-secret-7a1b2c" not in str(found.failed[0].run_id)


async def test_waves_flag_beyond_64_bits_is_exit_2(tmp_path: Path) -> None:
    """``--waves 99…9`` is an input error, as in a job file, not an internal one."""
    job = write_job(tmp_path, job_body(["f1"], [{"set": {"path": "/name", "value": "x"}}]))
    status, _, err = await bulkflow(
        "run", str(job), "--sim", "--waves", "9" * 23, "--log", str(tmp_path / "l.jsonl")
    )
    assert status == 2, err
    assert "Traceback" not in err


async def test_a_forged_gate_does_not_skip_targets_never_attempted(
    sim: Simulator, tmp_path: Path
) -> None:
    """A passed gate appended by hand, reaching past the targets done: the resume refuses."""
    ids = [f"gate-{n:03d}" for n in range(40)]
    for flow_id in ids:
        sim.store.ensure("flows", flow_id)
    change = [{"set": {"path": "/description", "value": "x"}}]
    job = write_job(tmp_path, job_body(ids, change, options={"waves": [5, 20, "100%"]}))
    log = tmp_path / "run.jsonl"
    status, _, err = await bulkflow("run", str(job), "--log", str(log), "--pause", env=sim_env(sim))
    assert status == 0, err
    gate = next(json.loads(line) for line in log.read_text().splitlines() if '"gate"' in line)
    forged = gate | {"wave": 2, "upto": 30}
    log.write_text(log.read_text() + json.dumps(forged) + "\n")
    status, _, err = await bulkflow(
        "run", str(job), "--log", str(log), "--resume", "--no-pause", env=sim_env(sim)
    )
    assert status == 2, err
    assert "edited log" in err
