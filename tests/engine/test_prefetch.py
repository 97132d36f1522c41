"""Batch fetching: one list request per 100 targets, single GETs only when needed."""

from __future__ import annotations

from pathlib import Path

import anyio
from aiohttp import web

from bulkflow.runconfig import RunConfig
from bulkflow.runner import RunPlan, execute
from bulkflow.sim import Simulator
from tests.conftest import SimFactory, job_body
from tests.engine_helpers import prepared, run_job, segment_ids
from tests.hostile import hostile_server, settings_for

NEW = "2d79d0d8-724f-49fc-a09d-d1dec338c93c"
ROLLOUT = [{"add_segment": {"id": NEW}}]
SET = {"path": "/description", "value": "listed"}


def flows(sim: Simulator, count: int) -> list[str]:
    ids = [f"batch-{n:04d}" for n in range(count)]
    for flow_id in ids:
        sim.store.ensure("flows", flow_id)
    return ids


def gets(sim: Simulator) -> tuple[int, int]:
    """(list requests, single-document GETs) the simulator answered."""
    entries = [e for e in sim.stats.journal if e.method == "GET" and "/flowservice/flows" in e.path]
    lists = sum(1 for e in entries if "/flows?" in e.path)
    return lists, len(entries) - lists


async def test_batches_of_100_replace_single_gets(make_sim: SimFactory, tmp_path: Path) -> None:
    """250 targets: 3 list requests, no single GET, 250 PATCHes."""
    sim = await make_sim()
    summary, _ = await run_job(sim, tmp_path, job_body(flows(sim, 250), ROLLOUT), concurrency=16)
    assert summary.counts["updated"] == 250
    assert gets(sim) == (3, 0)
    assert sim.stats.count("PATCH", 200) == 250


async def test_no_batch_fetch_gets_each_target(make_sim: SimFactory, tmp_path: Path) -> None:
    """With batch fetching off, every target has its own GET."""
    sim = await make_sim()
    await run_job(sim, tmp_path, job_body(flows(sim, 30), ROLLOUT), batch_fetch=False)
    assert gets(sim) == (0, 30)


async def test_unlisted_target_is_fetched_alone(make_sim: SimFactory, tmp_path: Path) -> None:
    """A target the list does not return gets a single GET: a missing one ends not_found."""
    sim = await make_sim()
    ids = [*flows(sim, 5), "no-such-flow"]
    _, records = await run_job(sim, tmp_path, job_body(ids, ROLLOUT))
    by_id = {r["id"]: r for r in records}
    assert by_id["no-such-flow"]["error"]["kind"] == "not_found"
    assert gets(sim) == (1, 1)


async def test_conflict_after_batch_falls_back_to_single_get(
    make_sim: SimFactory, tmp_path: Path
) -> None:
    """A listed document edited before its PATCH: 412, then a single GET and a re-plan."""
    sim = await make_sim()
    ids = flows(sim, 5)
    sim.app.rival_pending.add(("prod", "flows", "batch-0002"))  # edits it just before its PATCH
    _, records = await run_job(sim, tmp_path, job_body(ids, ROLLOUT))
    by_id = {r["id"]: r for r in records}
    assert all(r["status"] == "updated" for r in records)
    assert by_id["batch-0002"]["conflicts"] == 1
    assert by_id["batch-0002"]["attempts"] == 2
    assert gets(sim) == (1, 1)
    foreign = sim.store.rival_writes[0][1]
    assert foreign in segment_ids(sim, "batch-0002")
    assert NEW in segment_ids(sim, "batch-0002")


async def test_two_batches_are_listed_at_once(tmp_path: Path) -> None:
    """The feed keeps two list requests in flight, so workers never wait on a single one."""
    lists_in_flight, most = 0, 0
    both_asked = anyio.Event()

    async def answer(request: web.Request) -> web.StreamResponse:
        nonlocal lists_in_flight, most
        if request.method == "PATCH":
            return web.json_response({"id": request.path.rsplit("/", 1)[1], "etag": '"2"'})
        ids = request.query["property"].removeprefix("id==").split(",")
        lists_in_flight += 1
        most = max(most, lists_in_flight)
        if lists_in_flight == 2:
            both_asked.set()
        with anyio.move_on_after(2):  # one fetcher alone never gets a second list in flight
            await both_asked.wait()
        lists_in_flight -= 1
        return web.json_response({"items": [{"id": i, "etag": '"1"'} for i in ids]})

    async with hostile_server(answer) as server:
        job = prepared(tmp_path, job_body([f"f{n}" for n in range(250)], [{"set": SET}]))
        plan = RunPlan(config=RunConfig(concurrency=4), log_path=tmp_path / "run.jsonl")
        summary = await execute(job, settings_for(server.base_url), plan)
    assert summary.counts["updated"] == 250
    assert most == 2
