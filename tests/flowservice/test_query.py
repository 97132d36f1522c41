"""Targets by query, verifying what the service applied, and flow state changes."""

from __future__ import annotations

from pathlib import Path

import aiohttp
import pytest

from bulkflow.errors import InputError
from bulkflow.flowservice.client import FlowClient
from bulkflow.flowservice.query import run_query
from bulkflow.flowservice.retry import RetryPolicy
from bulkflow.job.jobfile import load_job
from bulkflow.job.prepare import prepare
from bulkflow.sim import Faults, Simulator
from bulkflow.sim.generate import DESTINATION_SPECS
from tests.cli.test_cli import bulkflow, sim_env
from tests.conftest import DEST_FLOW, SimFactory, job_body, write_job
from tests.engine_helpers import run_job, sim_settings

S3_SPEC = DESTINATION_SPECS[1][0]
BY_SPEC = [
    "inheritedAttributes.properties.isDestinationFlow==true",
    f"inheritedAttributes.targetConnections[].connectionSpec.id=={S3_SPEC}",
]
NEW = "2d79d0d8-724f-49fc-a09d-d1dec338c93c"


def s3_flows(sim: Simulator) -> set[str]:
    return {
        doc_id
        for doc_id, doc in sim.store.docs("prod", "flows").items()
        if doc["inheritedAttributes"]["properties"]["isDestinationFlow"]
        and doc["inheritedAttributes"]["targetConnections"][0]["connectionSpec"]["id"] == S3_SPEC
    }


def list_calls(sim: Simulator) -> int:
    return sum(
        1 for e in sim.stats.journal if e.method == "GET" and "/flowservice/flows?" in e.path
    )


async def test_query_selects_exactly_matching_flows_across_pages(make_sim: SimFactory) -> None:
    """Destination flows of one connection spec: exactly those, followed over several pages."""
    sim = await make_sim(flows=600, seed=9)
    expected = s3_flows(sim)
    assert len(expected) > 100
    async with aiohttp.ClientSession() as session:
        from bulkflow.flowservice.auth import ImsTokens

        settings = sim_settings(sim)
        client = FlowClient(session, settings, ImsTokens(session, settings), "prod", RetryPolicy())
        selected = await run_query(client, "flows", BY_SPEC, None)
    assert {s.id for s in selected} == expected
    assert len(selected) == len(expected)
    assert list_calls(sim) >= 2


async def test_query_limit_caps_selection(make_sim: SimFactory, tmp_path: Path) -> None:
    """``limit`` is a safety cap on how many targets a query may select."""
    sim = await make_sim(flows=300, seed=9)
    body = job_body({"query": {"property": BY_SPEC, "limit": 7}}, [{"add_segment": {"id": NEW}}])
    summary, _records = await run_job(sim, tmp_path, body)
    assert summary.counts["updated"] == 7


async def test_targets_command_prints_selection(make_sim: SimFactory, tmp_path: Path) -> None:
    """``bulkflow targets`` lists id, name and state of what the query selects, changing nothing."""
    sim = await make_sim(flows=300, seed=9)
    job = write_job(
        tmp_path, job_body({"query": {"property": BY_SPEC}}, [{"add_segment": {"id": NEW}}])
    )
    status, out, err = await bulkflow("targets", str(job), env=sim_env(sim))
    assert status == 0, err
    expected = s3_flows(sim)
    for flow_id in expected:
        assert flow_id in out
    assert f"{len(expected)} flows selected by the query." in out
    assert "Amazon S3 export" in out
    assert sim.stats.count("PATCH") == 0
    status, out, _ = await bulkflow("targets", str(job), "--ids-only", env=sim_env(sim))
    assert set(out.split()) == expected


async def test_resolved_ids_are_logged_and_resume_keeps_them(
    make_sim: SimFactory, tmp_path: Path
) -> None:
    """The header records the resolved ids; a resume uses them though the query now differs."""
    sim = await make_sim(flows=200, seed=9)
    body = job_body({"query": {"property": BY_SPEC}}, [{"add_segment": {"id": NEW}}])
    _, first = await run_job(sim, tmp_path, body)
    header = next(
        r for r in (tmp_path / "run.jsonl").read_text().splitlines() if '"type":"run"' in r
    )
    assert all(r["id"] in header for r in first)
    late = sim.store.ensure("flows", "late-s3-flow")
    late["inheritedAttributes"]["targetConnections"][0]["connectionSpec"]["id"] = S3_SPEC
    _, resumed = await run_job(sim, tmp_path, body, resume=True)
    assert resumed == []
    assert NEW not in str(sim.doc("flows", "late-s3-flow"))


def test_bad_property_filter_is_an_input_error(tmp_path: Path) -> None:
    """A filter without an operator is refused at its line."""
    job = write_job(
        tmp_path, job_body({"query": {"property": ["state enabled"]}}, [{"remove": {"path": "/x"}}])
    )
    with pytest.raises(InputError, match="is not a property filter") as info:
        prepare(load_job(job))
    assert info.value.line is not None


async def test_verify_catches_a_patch_that_was_not_applied(
    make_sim: SimFactory, tmp_path: Path
) -> None:
    """A service that accepts a PATCH but does not apply it: --verify fails the target as verify."""
    sim = await make_sim(Faults(ignore_patch_rate=1.0))
    body = job_body([DEST_FLOW], [{"add_segment": {"id": NEW, "name": "Winter"}}])
    _, unverified = await run_job(sim, tmp_path, body, log_name="a.jsonl")
    assert unverified[0]["status"] == "updated"
    _, verified = await run_job(sim, tmp_path, body, log_name="b.jsonl", verify=True)
    assert verified[0]["status"] == "failed"
    assert verified[0]["error"]["kind"] == "verify"
    assert f'+ audience {NEW} "Winter"' in verified[0]["error"]["message"]


async def test_verify_waits_for_operation_in_progress(make_sim: SimFactory, tmp_path: Path) -> None:
    """lastOperation inProgress for 0.5 s: verify waits and passes; with a short bound it fails."""
    sim = await make_sim(operation_s=0.5)
    body = job_body([DEST_FLOW], [{"add_segment": {"id": NEW}}])
    _, records = await run_job(sim, tmp_path, body, verify=True)
    assert records[0]["status"] == "updated"
    body2 = job_body([DEST_FLOW], [{"remove_segment": {"id": NEW}}])
    _, records = await run_job(
        sim, tmp_path, body2, log_name="b.jsonl", verify=True, verify_timeout_s=0.1
    )
    assert records[0]["error"]["kind"] == "verify"
    assert "inprogress" in records[0]["error"]["message"].lower()


async def test_set_state_toggles_only_flows_that_need_it(
    make_sim: SimFactory, tmp_path: Path
) -> None:
    """set_state disabled: an action for each enabled flow, none for disabled ones; rerun: none."""
    sim = await make_sim()
    ids = [f"state-{n}" for n in range(4)]
    for flow_id in ids:
        sim.store.ensure("flows", flow_id)
    for flow_id in ids[:2]:
        sim.store.set_state("prod", flow_id, "disabled", "someone")
    body = job_body(ids, [{"set_state": "disabled"}])
    summary, records = await run_job(sim, tmp_path, body)
    by_id = {r["id"]: r for r in records}
    assert {i for i, r in by_id.items() if r["status"] == "updated"} == set(ids[2:])
    assert {i for i, r in by_id.items() if r["status"] == "unchanged"} == set(ids[:2])
    assert by_id[ids[2]]["changes"] == ['~ state: "enabled" → "disabled"']
    actions = [e for e in sim.stats.journal if e.method == "POST" and "/action" in e.path]
    assert len(actions) == 2
    assert all(sim.doc("flows", i)["state"] == "disabled" for i in ids)  # type: ignore[index]
    sim.stats.reset()
    summary, _ = await run_job(sim, tmp_path, body, log_name="again.jsonl")
    assert summary.counts["unchanged"] == 4
    assert not [e for e in sim.stats.journal if e.method == "POST" and "/action" in e.path]


async def test_set_state_with_patch_sends_both(make_sim: SimFactory, tmp_path: Path) -> None:
    """A PATCH and a state change in one job: both happen, the action after the PATCH."""
    sim = await make_sim()
    body = job_body([DEST_FLOW], [{"add_segment": {"id": NEW}}, {"set_state": "disabled"}])
    _, records = await run_job(sim, tmp_path, body, verify=True)
    assert records[0]["status"] == "updated"
    doc = sim.doc("flows", DEST_FLOW)
    assert doc is not None
    assert doc["state"] == "disabled"
    assert NEW in str(doc["transformations"])
    assert records[0]["etag_after"] == doc["etag"]


async def test_state_change_after_a_202_patch_uses_the_served_etag(
    make_sim: SimFactory, tmp_path: Path
) -> None:
    """A PATCH answered 202 (no etag), then set_state: the flow is read again for its etag."""
    sim = await make_sim(patch_status=202)
    body = job_body([DEST_FLOW], [{"add_segment": {"id": NEW}}, {"set_state": "disabled"}])
    _, records = await run_job(sim, tmp_path, body)
    assert records[0]["status"] == "updated", records[0]["error"]
    doc = sim.doc("flows", DEST_FLOW)
    assert doc is not None
    assert doc["state"] == "disabled"
    assert NEW in str(doc["transformations"])


async def test_patch_while_operation_in_progress_is_retried(
    make_sim: SimFactory, tmp_path: Path
) -> None:
    """A second write while the first is still applying gets 400 FLOW-1421; it is retried."""
    sim = await make_sim(operation_s=0.4)
    await run_job(sim, tmp_path, job_body([DEST_FLOW], [{"add_segment": {"id": NEW}}]))
    _, records = await run_job(
        sim,
        tmp_path,
        job_body([DEST_FLOW], [{"set": {"path": "/name", "value": "n"}}]),
        log_name="b.jsonl",
    )
    assert records[0]["status"] == "updated"
    assert records[0]["retries"] >= 1
    assert sim.stats.count("PATCH", 400) >= 1
