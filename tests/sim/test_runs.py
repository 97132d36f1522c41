"""Flow runs: ``GET /runs``, ``lastRunDetails``, and the faults a staged rollout is tested with."""

from __future__ import annotations

import asyncio
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml
from openapi_schema_validator import OAS30Validator
from pydantic import ValidationError

from bulkflow.sim import Faults, SimConfig
from bulkflow.sim.generate import DESTINATION_SPECS, destination_spec
from bulkflow.sim.store import Store
from tests.conftest import DEST_FLOW, SOURCE_FLOW, Api, SimFactory

DATA = Path(__file__).parent.parent / "data"
S3_FLOW_SPEC = DESTINATION_SPECS[1][2]


@cache
def _components(spec: str) -> dict[str, Any]:
    document = yaml.safe_load((DATA / f"flow-service-{spec}.openapi.yaml").read_text())
    components: dict[str, Any] = document["components"]
    return components


def _validate(spec: str, schema_name: str, body: Any) -> None:
    schema = {"$ref": f"#/components/schemas/{schema_name}", "components": _components(spec)}
    OAS30Validator(schema).validate(body)


async def _runs(api: Api, query: str) -> list[dict[str, Any]]:
    """Every run a listing answers, following its next links."""
    found: list[dict[str, Any]] = []
    path = f"/runs?{query}"
    while path:
        status, body, _ = await api.request("GET", path)
        assert status == 200, body
        found += body["items"]
        href = body["_links"].get("next", {}).get("href")
        path = href or ""
    return found


def _status(run: dict[str, Any]) -> str:
    return str(run["metrics"]["statusSummary"]["status"]).lower()


async def _patch_name(api: Api, flow_id: str) -> tuple[int, Any]:
    etag = (await api.get("flows", flow_id))["etag"]
    status, body, _ = await api.patch(
        "flows", flow_id, [{"op": "replace", "path": "/name", "value": "renamed"}], etag
    )
    return status, body


async def test_runs_listing_fits_both_run_schemas(make_sim: SimFactory, make_api: Any) -> None:
    """``GET /runs`` answers FlowRunsListResponse; runs fit FlowRunItemDTO, a destination flow's
    also Flow_Run (whose status enum is capitalised: Success, Failed, Processing)."""
    api: Api = make_api(await make_sim(run_interval_s=60))
    status, body, _ = await api.request("GET", f"/runs?property=flowId=={DEST_FLOW}")
    assert status == 200
    assert body["items"]
    _validate("sources", "FlowRunsListResponse", body)
    for run in body["items"]:
        _validate("sources", "FlowRunItemDTO", run)
        _validate("destinations", "Flow_Run", run)
        assert run["flowId"] == DEST_FLOW
    _, body, _ = await api.request("GET", f"/runs?property=flowId=={SOURCE_FLOW}")
    assert body["items"]
    for run in body["items"]:
        _validate("sources", "FlowRunItemDTO", run)
        assert run["metrics"]["statusSummary"]["status"] in ("success", "inProgress")


async def test_runs_filter_takes_a_list_of_flow_ids(make_sim: SimFactory, make_api: Any) -> None:
    """``flowId==a,b`` lists the runs of exactly those flows, newest first."""
    sim = await make_sim(flows=20, run_interval_s=60)
    api: Api = make_api(sim)
    runs = await _runs(api, f"property=flowId=={DEST_FLOW},{SOURCE_FLOW}")
    assert {run["flowId"] for run in runs} == {DEST_FLOW, SOURCE_FLOW}
    updated = [run["updatedAt"] for run in runs]
    assert updated == sorted(updated, reverse=True)


async def test_runs_listing_pages_without_repeats(make_sim: SimFactory, make_api: Any) -> None:
    """``limit`` pages the runs; following the next links gives each run once."""
    api: Api = make_api(await make_sim(flows=10, run_interval_s=60))
    everything = await _runs(api, "limit=100")
    paged = await _runs(api, "limit=7")
    assert len(paged) == len(everything) > 7
    assert len({run["id"] for run in paged}) == len(paged)


async def test_flows_carry_their_last_run(make_sim: SimFactory, make_api: Any) -> None:
    """A flow read back names its latest run (``lastRunDetails``), and still fits FlowItemDTO."""
    api: Api = make_api(await make_sim(run_interval_s=60))
    flow = await api.get("flows", DEST_FLOW)
    runs = await _runs(api, f"property=flowId=={DEST_FLOW}")
    assert flow["lastRunDetails"]["id"] == runs[0]["id"]
    assert flow["lastRunDetails"]["state"] == "success"
    _validate("sources", "FlowItemDTO", flow)


async def test_runs_are_off_unless_an_interval_is_given(api: Api) -> None:
    """Without ``run_interval_s`` there are no runs, and served flows are left as they are."""
    status, body, _ = await api.request("GET", "/runs")
    assert status == 200
    assert body["items"] == []
    assert "lastRunDetails" not in await api.get("flows", DEST_FLOW)


async def test_runs_filter_on_an_unknown_field_is_a_400(
    make_sim: SimFactory, make_api: Any
) -> None:
    """A filter on a field runs do not have is refused, as for the other lists."""
    api: Api = make_api(await make_sim(run_interval_s=60))
    status, _, _ = await api.request("GET", "/runs?property=nonsense==1")
    assert status == 400


async def test_runs_after_a_change_fail_under_the_fault(
    make_sim: SimFactory, make_api: Any
) -> None:
    """``fail_runs_after_change=1``: runs that start after a PATCH fail, the earlier ones not."""
    sim = await make_sim(run_interval_s=0.02, faults=Faults(fail_runs_after_change=1.0))
    api: Api = make_api(sim)
    status, _ = await _patch_name(api, DEST_FLOW)
    assert status == 200
    changed = sim.doc("flows", DEST_FLOW)["updatedAt"]
    await asyncio.sleep(0.1)
    runs = await _runs(api, f"property=flowId=={DEST_FLOW}")
    after = [r for r in runs if r["metrics"]["durationSummary"]["startedAtUTC"] > changed]
    before = [r for r in runs if r["metrics"]["durationSummary"]["startedAtUTC"] <= changed]
    finished = [r for r in after if _status(r) != "processing"]
    assert finished
    assert before
    assert {_status(r) for r in finished} == {"failed"}
    assert {_status(r) for r in before} == {"success"}
    untouched = await _runs(api, f"property=flowId=={SOURCE_FLOW}")
    assert {_status(r) for r in untouched} <= {"success", "inprogress"}


async def test_runs_filter_on_status(make_sim: SimFactory, make_api: Any) -> None:
    """``metrics.statusSummary.status==failed`` selects the failed runs only."""
    sim = await make_sim(run_interval_s=0.02, faults=Faults(fail_runs_after_change=1.0))
    api: Api = make_api(sim)
    await _patch_name(api, DEST_FLOW)
    await asyncio.sleep(0.1)
    failed = await _runs(api, "property=metrics.statusSummary.status==Failed")
    assert failed
    assert {r["flowId"] for r in failed} == {DEST_FLOW}


async def test_disabled_flows_stop_running(make_sim: SimFactory, make_api: Any) -> None:
    """A flow disabled through the action endpoint starts no run after that."""
    sim = await make_sim(run_interval_s=0.02)
    api: Api = make_api(sim)
    etag = (await api.get("flows", DEST_FLOW))["etag"]
    extra = api.headers(**{"If-Match": etag})
    status, _, _ = await api.request("POST", f"/flows/{DEST_FLOW}/action?op=disable", extra)
    assert status == 200
    disabled_at = sim.doc("flows", DEST_FLOW)["updatedAt"]
    await asyncio.sleep(0.1)
    runs = await _runs(api, f"property=flowId=={DEST_FLOW}")
    assert runs
    assert all(r["metrics"]["durationSummary"]["startedAtUTC"] <= disabled_at for r in runs)


async def test_fail_patch_where_refuses_matching_flows_only(
    make_sim: SimFactory, make_api: Any
) -> None:
    """``fail_patch_where``: every PATCH to a matching flow is a 400; other flows are patched."""
    sim = await make_sim(faults=Faults(fail_patch_where="state==enabled"))
    api: Api = make_api(sim)
    status, body = await _patch_name(api, DEST_FLOW)
    assert status == 400
    assert "rejects" in body["errorMessage"]
    assert sim.doc("flows", DEST_FLOW)["name"] != "renamed"
    other = await make_sim(faults=Faults(fail_patch_where="state==disabled"))
    status, _ = await _patch_name(make_api(other), DEST_FLOW)
    assert status == 200


def test_fail_patch_where_must_be_a_property_filter() -> None:
    """A fault filter that is not ``path OP value`` is refused when the simulator is set up."""
    with pytest.raises(ValidationError):
        Faults(fail_patch_where="flowSpec.id")


def test_destination_kinds_are_fixed_by_the_id() -> None:
    """A destination flow's kind (connection spec and flow spec) depends on its id alone; about
    30% of them are Amazon S3 flows."""
    ids = [f"flow-{n:04d}" for n in range(1000)]
    store = Store(SimConfig(seed=3))
    docs = [store.build("flows", flow_id) for flow_id in ids]
    s3 = [d for d in docs if d["flowSpec"]["id"] == S3_FLOW_SPEC]
    assert 270 <= len(s3) <= 330
    for doc in s3:
        target = doc["inheritedAttributes"]["targetConnections"][0]
        assert target["connectionSpec"]["id"] == DESTINATION_SPECS[1][0]
    again = Store(SimConfig(seed=4))
    assert [destination_spec(i) for i in ids] == [
        next(s for s in DESTINATION_SPECS if s[2] == again.build("flows", i)["flowSpec"]["id"])
        for i in ids
    ]


def test_sim_flags_set_the_run_interval_and_the_rollout_faults() -> None:
    """``bulkflow sim`` flags reach ``run_interval_s`` and the two faults a rollout meets."""
    from bulkflow.cli.main import build_parser
    from bulkflow.cli.sim import faults_from_args

    args = build_parser().parse_args(
        [
            "sim",
            *("--run-interval", "30", "--fail-runs-after-change", "0.5"),
            *("--fail-patch-where", f"flowSpec.id=={S3_FLOW_SPEC}"),
        ]
    )
    faults = faults_from_args(args)
    assert args.run_interval == 30
    assert faults.fail_runs_after_change == 0.5
    assert faults.fail_patch_where == f"flowSpec.id=={S3_FLOW_SPEC}"


def test_a_fault_filter_that_does_not_parse_is_an_input_error() -> None:
    """``--fail-patch-where nonsense`` is an input error (exit 2), not a crash."""
    from bulkflow.cli.main import build_parser
    from bulkflow.cli.sim import faults_from_args
    from bulkflow.errors import InputError

    args = build_parser().parse_args(["sim", "--fail-patch-where", "nonsense"])
    with pytest.raises(InputError, match="fail_patch_where"):
        faults_from_args(args)
