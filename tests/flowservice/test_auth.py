"""Tokens: one IMS fetch shared by all workers, renewal before expiry, one refresh per 401."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aiohttp
import anyio
import pytest
from pydantic import SecretStr

from bulkflow.errors import AuthError
from bulkflow.flowservice.auth import ImsTokens
from bulkflow.runconfig import RunConfig
from bulkflow.runner import RunPlan, execute
from bulkflow.sim import Faults, Simulator
from tests.conftest import DEST_FLOW, SimFactory, job_body
from tests.engine_helpers import prepared, run_job, sim_settings

ROLLOUT = [{"add_segment": {"id": "2d79d0d8-724f-49fc-a09d-d1dec338c93c"}}]


def ims_requests(sim: Simulator) -> int:
    """Token requests the simulator's IMS answered."""
    return sum(1 for e in sim.stats.journal if e.path == "/ims/token/v3")


def flows(sim: Simulator, count: int) -> list[str]:
    ids = [f"auth-{n:04d}" for n in range(count)]
    for flow_id in ids:
        sim.store.ensure("flows", flow_id)
    return ids


async def test_fifty_workers_cause_one_token_request(sim: Simulator) -> None:
    """50 callers at once wait on a single IMS fetch."""
    async with aiohttp.ClientSession() as session:
        tokens = ImsTokens(session, sim_settings(sim))
        results: list[str] = []

        async def worker() -> None:
            results.append(await tokens.token())

        async with anyio.create_task_group() as group:
            for _ in range(50):
                group.start_soon(worker)
    assert len(set(results)) == 1
    assert ims_requests(sim) == 1


async def test_fifty_workers_in_a_run_cause_one_token_request(
    make_sim: SimFactory, tmp_path: Path
) -> None:
    """A run at concurrency 50 asks IMS once."""
    sim = await make_sim()
    summary, _ = await run_job(sim, tmp_path, job_body(flows(sim, 100), ROLLOUT), concurrency=50)
    assert summary.counts["updated"] == 100
    assert ims_requests(sim) == 1


async def test_two_second_token_is_renewed_mid_run(make_sim: SimFactory, tmp_path: Path) -> None:
    """With 2-second tokens, a run longer than that renews and completes."""
    sim = await make_sim(Faults(latency_ms=15), token_ttl_s=2)
    summary, _ = await run_job(
        sim, tmp_path, job_body(flows(sim, 300), ROLLOUT), concurrency=4, batch_fetch=False
    )
    assert summary.counts["updated"] == 300
    assert summary.elapsed_s > 2
    assert ims_requests(sim) >= 2
    assert sim.stats.count(status=401) <= 4


async def test_401_mid_run_causes_one_refresh(make_sim: SimFactory, tmp_path: Path) -> None:
    """Every token revoked mid-run: all workers get 401, and IMS is asked once more, not 20 times."""
    sim = await make_sim(Faults(latency_ms=10))
    job = prepared(tmp_path, job_body(flows(sim, 200), ROLLOUT))

    class RevokeAt50:
        done = 0

        def target_done(self, record: dict[str, Any]) -> None:
            self.done += 1
            if self.done == 50:
                sim.app.tokens.revoke_all()

    plan = RunPlan(config=RunConfig(concurrency=20), log_path=tmp_path / "r.jsonl")
    summary = await execute(job, sim_settings(sim), plan, RevokeAt50())
    assert summary.counts["updated"] == 200
    assert sim.stats.count(status=401) >= 2
    assert ims_requests(sim) == 2


async def test_refused_static_token_fails_targets_as_auth(
    make_sim: SimFactory, tmp_path: Path
) -> None:
    """AEP_ACCESS_TOKEN that the service refuses: the target fails with kind auth."""
    sim = await make_sim(fixed_token="right-token")
    job = prepared(tmp_path, job_body([DEST_FLOW], ROLLOUT))
    settings = sim_settings(sim, access_token=SecretStr("wrong-token"))
    plan = RunPlan(config=RunConfig(), log_path=tmp_path / "r.jsonl")
    summary = await execute(job, settings, plan)
    assert summary.failed[0]["error"]["kind"] == "auth"


async def test_renewal_margin_scales_with_lifetime(make_sim: SimFactory) -> None:
    """A 2 s token is renewed after 1.8 s (10% margin), not kept until it fails."""
    sim = await make_sim(token_ttl_s=2)
    now = [0.0]
    async with aiohttp.ClientSession() as session:
        tokens = ImsTokens(session, sim_settings(sim), clock=lambda: now[0])
        first = await tokens.token()
        now[0] = 1.7
        assert await tokens.token() == first
        now[0] = 1.85
        assert await tokens.token() != first
    assert ims_requests(sim) == 2


async def test_refused_credentials_message_is_clear_and_secret_free(make_sim: SimFactory) -> None:
    """IMS refusing the credentials raises AuthError with IMS's reason, never the secret."""
    sim = await make_sim(client_id="engine-test", client_secret="the-real-one")
    settings = sim_settings(sim, client_secret=SecretStr("do-not-print"))
    async with aiohttp.ClientSession() as session:
        with pytest.raises(AuthError) as info:
            await ImsTokens(session, settings).token()
    assert "invalid client_secret parameter" in str(info.value)
    assert "do-not-print" not in str(info.value)
