"""Injected faults: throttling, server errors, dropped connections, latency, a rival writer."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import aiohttp
import pytest

from bulkflow.sim import Faults
from tests.conftest import DEST_FLOW, Api, SimFactory


async def _api(make_sim: SimFactory, make_api: Any, **faults: Any) -> Api:
    sim = await make_sim(Faults(**faults))
    api: Api = make_api(sim)
    return api


async def test_throttle_answers_429_with_gateway_body(make_sim: SimFactory, make_api: Any) -> None:
    """A throttled request gets 429, error_code 429050 and Retry-After in seconds."""
    api = await _api(make_sim, make_api, throttle_rate=1.0, retry_after_s=3)
    status, body, resp = await api.request("GET", f"/flows/{DEST_FLOW}")
    assert (status, body["error_code"]) == (429, "429050")
    assert resp.headers["Retry-After"] == "3"


async def test_retry_after_can_be_absent(make_sim: SimFactory, make_api: Any) -> None:
    """Some 429s come without Retry-After, as real gateways do."""
    api = await _api(make_sim, make_api, throttle_rate=1.0, retry_after_missing_rate=1.0)
    status, _, resp = await api.request("GET", f"/flows/{DEST_FLOW}")
    assert status == 429
    assert "Retry-After" not in resp.headers


async def test_token_bucket_throttles_above_rate(make_sim: SimFactory, make_api: Any) -> None:
    """With ``throttle_rps`` a burst beyond the bucket gets 429s."""
    api = await _api(make_sim, make_api, throttle_rps=5)
    statuses = [(await api.request("GET", f"/flows/{DEST_FLOW}"))[0] for _ in range(12)]
    assert statuses.count(200) >= 5
    assert 429 in statuses


async def test_server_errors_use_flow_envelope(make_sim: SimFactory, make_api: Any) -> None:
    """Injected 5xx are 500/503/504 with FLOW-110x bodies."""
    api = await _api(make_sim, make_api, error_rate=1.0)
    for _ in range(5):
        status, body, _ = await api.request("GET", f"/flows/{DEST_FLOW}")
        assert status in (500, 503, 504)
        assert body["type"].endswith(f"-{status}")


async def test_dropped_connection_gives_no_answer(make_sim: SimFactory, make_api: Any) -> None:
    """A dropped request closes the connection before any response."""
    api = await _api(make_sim, make_api, drop_rate=1.0)
    with pytest.raises(aiohttp.ClientError):
        await api.request("GET", f"/flows/{DEST_FLOW}")
    # aiohttp's client itself retries an idempotent request once after a disconnect.
    assert api.sim.stats.count(status=0) >= 1
    assert api.sim.stats.count(status=200) == 0


async def test_latency_is_applied(make_sim: SimFactory, make_api: Any) -> None:
    """A fixed latency delays each answer (checked loosely: at least the latency)."""
    api = await _api(make_sim, make_api, latency_ms=100)
    started = time.monotonic()
    await api.request("GET", f"/flows/{DEST_FLOW}")
    assert time.monotonic() - started >= 0.09


async def test_rival_writer_inserts_foreign_selector_before_patch(
    make_sim: SimFactory, make_api: Any
) -> None:
    """After a read, another writer inserts a selector at index 0, so the reader's PATCH is 412."""
    api = await _api(make_sim, make_api, rival_rate=1.0)
    doc = await api.get("flows", DEST_FLOW)
    ops = [{"op": "remove", "path": "/transformations/0/params/segmentSelectors/selectors/0"}]
    status, _, _ = await api.patch("flows", DEST_FLOW, ops, doc["etag"])
    assert status == 412
    stored = api.sim.doc("flows", DEST_FLOW)
    assert stored is not None
    first = stored["transformations"][0]["params"]["segmentSelectors"]["selectors"][0]
    assert first["value"]["id"] == api.sim.store.rival_writes[0][1]
    assert len(stored["transformations"][0]["params"]["segmentSelectors"]["selectors"]) == 5


async def test_ignored_patch_is_accepted_but_not_applied(
    make_sim: SimFactory, make_api: Any
) -> None:
    """``ignore_patch_rate`` answers 200 with a new etag while the content stays as it was."""
    api = await _api(make_sim, make_api, ignore_patch_rate=1.0)
    doc = await api.get("flows", DEST_FLOW)
    ops = [{"op": "replace", "path": "/name", "value": "never applied"}]
    status, body, _ = await api.patch("flows", DEST_FLOW, ops, doc["etag"])
    assert status == 200
    after = await api.get("flows", DEST_FLOW)
    assert after["etag"] == body["etag"] != doc["etag"]
    assert after["name"] == doc["name"]


async def test_stats_count_concurrency(make_sim: SimFactory, make_api: Any) -> None:
    """The simulator records the most requests it had in flight at once."""
    api = await _api(make_sim, make_api, latency_ms=100)
    await asyncio.gather(*(api.request("GET", f"/flows/{DEST_FLOW}") for _ in range(8)))
    assert api.sim.stats.max_in_flight == 8
    assert api.sim.stats.count("GET", 200) == 8


async def test_sim_view_serves_stats_and_documents(make_sim: SimFactory) -> None:
    """``/_sim/stats`` and ``/_sim/docs`` work without auth for a separate-process client."""
    sim = await make_sim()
    async with aiohttp.ClientSession() as session:
        async with session.get(f"{sim.root_url}/_sim/docs/flows/{DEST_FLOW}") as resp:
            assert (await resp.json())["id"] == DEST_FLOW
        async with session.get(f"{sim.root_url}/_sim/stats") as resp:
            assert (await resp.json())["requests"] >= 1


async def test_sim_command_serves_in_its_own_process() -> None:
    """``bulkflow sim --port 0 --flows 50`` listens on 127.0.0.1 and answers /_sim/stats."""
    import re
    import sys

    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bulkflow", "sim", "--port", "0", "--flows", "50", "--no-jobs",
        stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        line = (await asyncio.wait_for(proc.stdout.readline(), 20)).decode()
        match = re.search(r"http://127\.0\.0\.1:(\d+)", line)
        assert match, line
        assert "52 flows" in line
        async with (
            aiohttp.ClientSession() as session,
            session.get(f"{match[0]}/_sim/stats") as resp,
        ):
            assert resp.status == 200
    finally:
        proc.terminate()
        await proc.wait()
