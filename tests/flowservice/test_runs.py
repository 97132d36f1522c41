"""Reading the runs that followed a change (``--soak``): the simulator, and a hostile server."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import aiohttp
import pytest
from aiohttp import web

from bulkflow.flowservice.auth import ImsTokens
from bulkflow.flowservice.client import FlowClient
from bulkflow.flowservice.retry import RetryPolicy
from bulkflow.flowservice.runs import runs_after_change
from bulkflow.secrets import REGISTRY
from bulkflow.sim import Faults
from bulkflow.sim.generate import now_ms
from tests.conftest import SimFactory
from tests.engine_helpers import sim_settings
from tests.hostile import hostile_server, settings_for, static_token

PLANTED = "runs-secret-4f1c9a7e2b"


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as opened:
        yield opened


async def test_failed_runs_after_the_change_are_found_in_batches_of_100(
    make_sim: SimFactory, session: aiohttp.ClientSession
) -> None:
    """150 changed flows, every later run failing: all found, with two runs requests of at
    most 100 flow ids each; runs before a flow's change do not count."""
    sim = await make_sim(run_interval_s=0.02, faults=Faults(fail_runs_after_change=1.0))
    ids = [f"soak-{n:03d}" for n in range(150)]
    for flow_id in ids:
        sim.store.ensure("flows", flow_id)
        sim.store.changed_at[("prod", "flows", flow_id)] = now_ms()
    changed = {flow_id: now_ms() for flow_id in ids}
    await asyncio.sleep(0.1)
    settings = sim_settings(sim)
    client = FlowClient(session, settings, ImsTokens(session, settings), "prod", RetryPolicy())
    found = await runs_after_change(client, changed)
    assert found.flows == 150
    assert 0 < found.failed_count <= found.runs_after  # the newest may still be running
    assert {run.flow_id for run in found.failed} <= set(ids)
    assert "ACTIVATION_BATCH-0000-FAILED: Job aborted." in found.failed[0].message
    listings = [e.path for e in sim.stats.journal if urlsplit(e.path).path.endswith("/runs")]
    first_pages = [parse_qs(urlsplit(p).query) for p in listings if "flowId" in p]
    assert [len(q["property"][0].split(",")) for q in first_pages] == [100, 50]


def _odd_runs() -> list[Any]:
    good = {"startedAtUTC": 2_000}
    return [
        "not an object",
        {"flowId": "f1", "metrics": []},
        {"flowId": "f1", "metrics": {"durationSummary": {"startedAtUTC": "2000"}}},
        {"flowId": "f1", "metrics": {"durationSummary": {"startedAtUTC": True}}},
        {"flowId": 7, "metrics": {"durationSummary": good, "statusSummary": {"status": "failed"}}},
        {"flowId": "f1", "metrics": {"durationSummary": good, "statusSummary": {"status": 3}}},
        {
            "id": "r-before",
            "flowId": "f1",
            "metrics": {
                "durationSummary": {"startedAtUTC": 500},
                "statusSummary": {"status": "failed"},
            },
        },
        {
            "id": "r-bad",
            "flowId": "f1",
            "metrics": {
                "durationSummary": good,
                "statusSummary": {"status": "Failed", "errors": [{"message": f"pw={PLANTED}"}]},
            },
        },
    ]


async def test_odd_run_documents_are_skipped_and_messages_masked(
    session: aiohttp.ClientSession,
) -> None:
    """Runs of odd shapes count for nothing, a run before the change is left out, and a failed
    run's message is masked; a flow's failed ``lastRunDetails`` counts too."""
    REGISTRY.add(PLANTED)

    async def answer(request: web.Request) -> web.StreamResponse:
        if request.path.endswith("/runs"):
            return web.json_response({"items": _odd_runs(), "_links": {}})
        last = {"id": "r-last", "state": "failed", "startedAtUTC": 3_000}
        return web.json_response({"items": [{"id": "f1", "etag": '"e"', "lastRunDetails": last}]})

    async with hostile_server(answer) as server:
        settings = settings_for(server.base_url)
        client = FlowClient(session, settings, static_token(), "prod", RetryPolicy())
        found = await runs_after_change(client, {"f1": 1_000})
    assert [(run.run_id, run.started_ms) for run in found.failed] == [
        ("r-bad", 2_000),
        ("r-last", 3_000),
    ]
    assert found.failed[0].message == "pw=***"
    assert found.runs_after == 2


async def test_nothing_changed_asks_nothing(session: aiohttp.ClientSession) -> None:
    """A wave that changed no flow reads no runs."""
    async with hostile_server() as server:
        settings = settings_for(server.base_url)
        client = FlowClient(session, settings, static_token(), "prod", RetryPolicy())
        found = await runs_after_change(client, {})
    assert (found.flows, found.runs_after, server.seen) == (0, 0, [])
