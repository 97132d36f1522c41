"""The engine against the simulator over real sockets: every change kind, 412, faults, dry run."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bulkflow.sim import Faults, Simulator
from tests.conftest import DEST_FLOW, SOURCE_FLOW, SimFactory, fetched_ids, job_body
from tests.engine_helpers import run_job, segment_ids

NEW = "2d79d0d8-724f-49fc-a09d-d1dec338c93c"
RETIRED = "9f7d37fd-7039-4454-94ef-2b0cd6c3206a"
ROLLOUT = [{"add_segment": {"id": NEW, "name": "Winter"}}, {"remove_segment": {"id": RETIRED}}]


def generated_ids(sim: Simulator, count: int, shape: str = "destination") -> list[str]:
    """Ensure ``count`` generated flows of ``shape`` exist and return their ids."""
    ids = [f"{shape[:3]}-{n:05d}" for n in range(count)]
    for flow_id in ids:
        sim.store.ensure("flows", flow_id, shape)
    return ids


CASES: list[tuple[str, str, dict[str, Any], Any]] = [
    ("set", SOURCE_FLOW, {"set": {"path": "/scheduleParams/frequency", "value": "week"}},
     lambda d: d["scheduleParams"]["frequency"] == "week"),
    ("remove", SOURCE_FLOW, {"remove": {"path": "/description"}}, lambda d: "description" not in d),
    ("add_segment", DEST_FLOW, {"add_segment": {"id": NEW}},
     lambda d: NEW in [s["value"]["id"] for s in d["transformations"][0]["params"]["segmentSelectors"]["selectors"]]),
    ("remove_segment", DEST_FLOW, {"remove_segment": {"id": RETIRED}},
     lambda d: RETIRED not in [s["value"]["id"] for s in d["transformations"][0]["params"]["segmentSelectors"]["selectors"]]),
    ("add_profile_attribute", DEST_FLOW, {"add_profile_attribute": {"path": "mobilePhone.number"}},
     lambda d: d["transformations"][0]["params"]["profileSelectors"]["selectors"][-1]["value"]["path"] == "mobilePhone.number"),
    ("remove_profile_attribute", DEST_FLOW, {"remove_profile_attribute": {"path": "Email"}},
     lambda d: "Email" not in [s["value"]["path"] for s in d["transformations"][0]["params"]["profileSelectors"]["selectors"]]),
    ("set_mapping", SOURCE_FLOW, {"set_mapping": {"mappingId": "m2", "mappingVersion": "2"}},
     lambda d: d["transformations"][1]["params"] == {"mappingId": "m2", "mappingVersion": "2"}),
]  # fmt: skip


@pytest.mark.parametrize(("kind", "flow", "change", "check"), CASES, ids=[c[0] for c in CASES])
async def test_each_change_kind_applies_then_reruns_as_unchanged(
    sim: Simulator, tmp_path: Path, kind: str, flow: str, change: dict[str, Any], check: Any
) -> None:
    """Each change kind updates the flow; running the job again sends no PATCH."""
    _, records = await run_job(sim, tmp_path, job_body([flow], [change]))
    assert [r["status"] for r in records] == ["updated"]
    assert check(sim.doc("flows", flow))
    patches = sim.stats.count("PATCH")
    _summary, records = await run_job(sim, tmp_path, job_body([flow], [change]), "rerun.jsonl")
    assert [r["status"] for r in records] == ["unchanged"]
    assert sim.stats.count("PATCH") == patches


async def test_rotate_credentials_on_connection(sim: Simulator, tmp_path: Path) -> None:
    """rotate_credentials replaces /auth/params of a connection."""
    body = job_body(
        ["139f6a5f-a78b-4744-9f6a-5fa78bd74431"],
        [{"rotate_credentials": {"params": {"username": "u2", "password": "p2"}}}],
    )
    body["resource"] = "connections"
    _, records = await run_job(sim, tmp_path, body)
    assert records[0]["status"] == "updated"
    doc = sim.doc("connections", "139f6a5f-a78b-4744-9f6a-5fa78bd74431")
    assert doc is not None
    assert doc["auth"]["params"] == {"username": "u2", "password": "p2"}


async def test_rerun_of_applied_job_sends_zero_patch(make_sim: SimFactory, tmp_path: Path) -> None:
    """A second run of the rollout on 100 flows: all unchanged, no PATCH at all."""
    sim = await make_sim()
    ids = generated_ids(sim, 100)
    await run_job(sim, tmp_path, job_body(ids, ROLLOUT))
    sim.stats.reset()
    summary, _records = await run_job(sim, tmp_path, job_body(ids, ROLLOUT), "again.jsonl")
    assert summary.counts["unchanged"] == 100
    assert sim.stats.count("PATCH") == 0


async def test_rival_writer_never_overwritten(make_sim: SimFactory, tmp_path: Path) -> None:
    """Rival writer at 50% on 200 flows: new audience once, retired gone, foreign edits kept."""
    sim = await make_sim(Faults(rival_rate=0.5), seed=11)
    ids = generated_ids(sim, 200)
    # Half of all reads are followed by a rival edit, so re-plans must be allowed generously.
    summary, records = await run_job(
        sim, tmp_path, job_body(ids, ROLLOUT), concurrency=16, max_conflict_retries=20
    )
    assert summary.counts["updated"] == 200
    assert sum(r["conflicts"] for r in records) > 0
    assert len(sim.store.rival_writes) > 50
    for flow_id in ids:
        audiences = segment_ids(sim, flow_id)
        assert audiences.count(NEW) == 1
        assert RETIRED not in audiences
    for flow_id, foreign in sim.store.rival_writes:
        assert foreign in segment_ids(sim, flow_id), "a rival's audience was lost"


async def test_endless_412_fails_that_target_alone(make_sim: SimFactory, tmp_path: Path) -> None:
    """A flow that changes before every PATCH fails as conflict; the others are updated."""
    sim = await make_sim(Faults(rival_ids=frozenset({"des-00001"})))
    ids = generated_ids(sim, 5)
    _summary, records = await run_job(
        sim, tmp_path, job_body(ids, ROLLOUT), max_conflict_retries=3, conflict_backoff_s=0.01
    )
    by_id = {r["id"]: r for r in records}
    assert by_id["des-00001"]["status"] == "failed"
    assert by_id["des-00001"]["error"]["kind"] == "conflict"
    assert by_id["des-00001"]["conflicts"] == 4
    assert by_id["des-00001"]["attempts"] == 4
    assert {r["status"] for i, r in by_id.items() if i != "des-00001"} == {"updated"}


def _assert_retry_after_honoured(sim: Simulator) -> int:
    """No request on a path arrives before the Retry-After its last 429 asked for."""
    not_before: dict[str, float] = {}
    throttled = 0
    for entry in sim.stats.journal:
        if entry.path in not_before:
            assert entry.at_s >= not_before.pop(entry.path), f"{entry.path} retried early"
        if entry.status == 429 and entry.retry_after_s is not None:
            not_before[entry.path] = entry.at_s + entry.retry_after_s
            throttled += 1
    return throttled


async def test_throttle_and_5xx_storm_completes_politely(
    make_sim: SimFactory, tmp_path: Path
) -> None:
    """30% 429 (Retry-After 0.2 s, sometimes absent) and 20% 5xx: all updated, none early."""
    faults = Faults(
        throttle_rate=0.3, retry_after_s=0.2, retry_after_missing_rate=0.2, error_rate=0.2
    )
    sim = await make_sim(faults, seed=5)
    ids = generated_ids(sim, 60)
    summary, records = await run_job(
        sim, tmp_path, job_body(ids, ROLLOUT), concurrency=12, max_retries=12
    )
    assert summary.counts["updated"] == 60, [r["error"] for r in records if r["error"]]
    assert sum(r["retries"] for r in records) > 0
    assert _assert_retry_after_honoured(sim) > 10
    for flow_id in ids:
        assert segment_ids(sim, flow_id).count(NEW) == 1


async def test_missing_and_wrong_kind_fail_others_succeed(sim: Simulator, tmp_path: Path) -> None:
    """A missing flow is not_found, a source flow given add_segment is invalid_plan, the rest go on."""
    summary, records = await run_job(
        sim, tmp_path, job_body([DEST_FLOW, "no-such-flow", SOURCE_FLOW], ROLLOUT)
    )
    by_id = {r["id"]: r for r in records}
    assert by_id[DEST_FLOW]["status"] == "updated"
    assert by_id["no-such-flow"]["error"]["kind"] == "not_found"
    assert by_id["no-such-flow"]["error"]["status"] == 404
    assert by_id[SOURCE_FLOW]["error"]["kind"] == "invalid_plan"
    assert "segmentSelectors" in by_id[SOURCE_FLOW]["error"]["message"]
    assert summary.counts["failed"] == 2


async def test_dry_run_sends_no_patch(make_sim: SimFactory, tmp_path: Path) -> None:
    """--dry-run fetches and plans, records planned, and never PATCHes."""
    sim = await make_sim()
    ids = generated_ids(sim, 20)
    summary, records = await run_job(sim, tmp_path, job_body(ids, ROLLOUT), dry_run=True)
    assert summary.counts["planned"] == 20
    assert all(r["ops"] for r in records)
    assert sim.stats.count("PATCH") == 0


async def test_concurrency_is_bounded_and_used(make_sim: SimFactory, tmp_path: Path) -> None:
    """The simulator never sees more than --concurrency requests in flight, and sees close to it."""
    sim = await make_sim(Faults(latency_ms=20))
    ids = generated_ids(sim, 120)
    await run_job(sim, tmp_path, job_body(ids, ROLLOUT), concurrency=8)
    assert 7 <= sim.stats.max_in_flight <= 8


async def test_202_without_body_is_success(make_sim: SimFactory, tmp_path: Path) -> None:
    """A 202 with no body is success; etag_after is null."""
    sim = await make_sim(patch_status=202)
    _, records = await run_job(sim, tmp_path, job_body([DEST_FLOW], ROLLOUT))
    assert records[0]["status"] == "updated"
    assert records[0]["etag_after"] is None


async def test_timeouts_fail_as_transport(make_sim: SimFactory, tmp_path: Path) -> None:
    """A server slower than the request timeout: the target fails as transport, after retries."""
    sim = await make_sim(Faults(latency_ms=400))
    _, records = await run_job(
        sim, tmp_path, job_body([DEST_FLOW], ROLLOUT), timeout_s=0.1, max_retries=1
    )
    assert records[0]["error"]["kind"] == "transport"
    assert records[0]["retries"] == 1


async def test_if_match_is_sent_exactly_as_served(make_sim: SimFactory, tmp_path: Path) -> None:
    """With strict etag matching (quotes required) the engine's PATCHes still succeed."""
    sim = await make_sim(strict_etag=True)
    _, records = await run_job(sim, tmp_path, job_body([DEST_FLOW], ROLLOUT))
    assert records[0]["status"] == "updated"
    assert records[0]["etag_before"].startswith('"')


async def test_result_log_shape(sim: Simulator, tmp_path: Path) -> None:
    """Header, one result per target with the contract's fields, then a summary."""
    from bulkflow.records.resultlog import read_log

    await run_job(
        sim,
        tmp_path,
        job_body([DEST_FLOW, SOURCE_FLOW], [{"set": {"path": "/name", "value": "n"}}]),
    )
    records = [r for r in read_log(tmp_path / "run.jsonl") if r["type"] != "intent"]
    assert [r["type"] for r in records] == ["run", "result", "result", "summary"]
    assert {"run_id", "job", "digest", "dry_run", "started_at"} <= set(records[0])
    fields = {
        "id",
        "resource",
        "status",
        "attempts",
        "conflicts",
        "etag_before",
        "etag_after",
        "ops",
        "error",
        "duration_ms",
        "at",
    }
    assert fields <= set(records[1])
    assert records[1]["at"].endswith("Z")
    assert records[-1]["counts"] == {
        "updated": 2,
        "unchanged": 0,
        "planned": 0,
        "stale": 0,
        "failed": 0,
    }


async def test_result_log_is_private(sim: Simulator, tmp_path: Path) -> None:
    """The log is created with mode 0600."""
    await run_job(sim, tmp_path, job_body([DEST_FLOW], ROLLOUT))
    assert (tmp_path / "run.jsonl").stat().st_mode & 0o777 == 0o600


async def test_resume_skips_done_targets(sim: Simulator, tmp_path: Path) -> None:
    """--resume skips targets whose latest record is updated or unchanged and re-runs failures."""
    body = job_body([DEST_FLOW, "no-such-flow"], ROLLOUT)
    await run_job(sim, tmp_path, body)
    sim.stats.reset()
    _summary, records = await run_job(sim, tmp_path, body, resume=True)
    assert [r["id"] for r in records] == ["no-such-flow"]
    assert fetched_ids(sim) == {"no-such-flow"}


async def test_token_expiry_mid_run_is_refreshed(make_sim: SimFactory, tmp_path: Path) -> None:
    """Tokens that live 0.3 s expire during the run; a 401 refreshes and the run completes."""
    sim = await make_sim(Faults(latency_ms=15), token_ttl_s=0.3)
    ids = generated_ids(sim, 80)
    summary, _ = await run_job(sim, tmp_path, job_body(ids, ROLLOUT), concurrency=4)
    assert summary.counts["updated"] == 80
    assert sim.app.tokens.issued >= 2
