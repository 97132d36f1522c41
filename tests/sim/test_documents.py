"""Served documents: fixtures always present, generated ones reproducible, schemas respected."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml
from openapi_schema_validator import OAS30Validator

from bulkflow.sim import SimConfig
from bulkflow.sim.store import Store
from tests.conftest import CONNECTION, DEST_FLOW, SOURCE_FLOW, Api, SimFactory

DATA = Path(__file__).parent.parent / "data"


@cache
def _components() -> dict[str, Any]:
    spec = yaml.safe_load((DATA / "flow-service-sources.openapi.yaml").read_text())
    components: dict[str, Any] = spec["components"]
    return components


def _validate(schema_name: str, body: Any) -> None:
    schema = {"$ref": f"#/components/schemas/{schema_name}", "components": _components()}
    OAS30Validator(schema).validate(body)


def test_fixtures_are_always_present() -> None:
    """The three tutorial documents are served under their own ids, with schema-typed values."""
    store = Store(SimConfig(flows=10))
    store.seed()
    for kind, doc_id in (("flows", DEST_FLOW), ("flows", SOURCE_FLOW), ("connections", CONNECTION)):
        doc = store.get("prod", kind, doc_id)
        assert doc is not None
        assert isinstance(doc["createdAt"], int)
    source = store.get("prod", "flows", SOURCE_FLOW)
    assert source is not None
    assert source["scheduleParams"]["backfill"] is True
    assert source["runs"] == f"/runs?property=flowId=={SOURCE_FLOW}"


def test_generated_documents_are_deterministic_from_seed() -> None:
    """The same seed gives the same ids and content; another seed gives others."""

    def ids_and_names(seed: int) -> list[tuple[str, str]]:
        store = Store(SimConfig(flows=30, connections=5, seed=seed))
        store.seed()
        return sorted((d["id"], d["name"]) for d in store.docs("prod", "flows").values())

    assert ids_and_names(1) == ids_and_names(1)
    assert ids_and_names(1) != ids_and_names(2)


def test_generated_flows_vary() -> None:
    """Generated flows differ in kind, audiences and destination."""
    store = Store(SimConfig(flows=200, seed=5))
    store.seed()
    flows = list(store.docs("prod", "flows").values())
    destination = [f for f in flows if f["inheritedAttributes"]["properties"]["isDestinationFlow"]]
    assert 0 < len(destination) < len(flows)
    audience_sets = {
        tuple(
            s["value"]["id"]
            for s in f["transformations"][0]["params"]["segmentSelectors"]["selectors"]
        )
        for f in destination
    }
    assert len(audience_sets) > 20
    specs = {
        f["inheritedAttributes"]["targetConnections"][0]["connectionSpec"]["id"]
        for f in destination
    }
    assert len(specs) > 1


def test_load_adds_documents_from_file(tmp_path: Path) -> None:
    """``--load FILE`` adds documents, normalised like the fixtures."""
    extra = tmp_path / "extra.json"
    extra.write_text('{"flows": [{"id": "loaded-1", "name": "x", "etag": "\\"e1\\""}]}')
    store = Store(SimConfig(load=(extra,)))
    store.seed()
    doc = store.get("prod", "flows", "loaded-1")
    assert doc is not None
    assert doc["version"] == '"e1"'


@pytest.mark.parametrize("kind", ["flows", "connections"])
async def test_list_responses_fit_openapi_schema(
    make_sim: SimFactory, make_api: Any, kind: str
) -> None:
    """List bodies validate against FlowListResponse / ConnectionListResponse."""
    api: Api = make_api(await make_sim(flows=20, connections=5))
    _, body, _ = await api.request("GET", f"/{kind}?limit=10")
    _validate("FlowListResponse" if kind == "flows" else "ConnectionListResponse", body)
    for doc in body["items"]:
        _validate("FlowItemDTO" if kind == "flows" else "ConnectionItemDTO", doc)


async def test_patch_response_fits_create_flow_response(api: Api) -> None:
    """A PATCH answer validates against CreateFlowResponse and a patched flow still fits."""
    etag = (await api.get("flows", DEST_FLOW))["etag"]
    _, body, _ = await api.patch(
        "flows", DEST_FLOW, [{"op": "replace", "path": "/name", "value": "n"}], etag
    )
    _validate("CreateFlowResponse", body)
    _validate("FlowItemDTO", await api.get("flows", DEST_FLOW))
