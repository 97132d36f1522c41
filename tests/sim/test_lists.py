"""List endpoints: property filters, paging, ordering, counting."""

from __future__ import annotations

from typing import Any

from bulkflow.sim import Simulator
from tests.conftest import DEST_FLOW, SOURCE_FLOW, Api, SimFactory

RETIRED = "9f7d37fd-7039-4454-94ef-2b0cd6c3206a"


async def _all_pages(api: Api, query: str) -> tuple[list[dict[str, Any]], int]:
    items: list[dict[str, Any]] = []
    pages = 0
    path = f"/flows?{query}"
    while path:
        status, body, _ = await api.request("GET", path)
        assert status == 200, body
        items += body["items"]
        pages += 1
        path = body["_links"].get("next", {}).get("href", "")
    return items, pages


async def _big(make_sim: SimFactory, make_api: Any) -> tuple[Simulator, Api]:
    sim = await make_sim(flows=250, seed=3)
    return sim, make_api(sim)


async def test_filter_by_id_list_returns_exactly_those(make_sim: SimFactory, make_api: Any) -> None:
    """``property=id==a,b,c`` is any-of: exactly the named flows come back."""
    sim, api = await _big(make_sim, make_api)
    wanted = [*sorted(sim.store.docs("prod", "flows"))[:3], SOURCE_FLOW]
    status, body, _ = await api.request("GET", f"/flows?property=id=={','.join(wanted)}")
    assert status == 200
    assert sorted(doc["id"] for doc in body["items"]) == sorted(wanted)


async def test_nested_array_filter_with_paging(make_sim: SimFactory, make_api: Any) -> None:
    """A ``[]`` filter on audience ids selects every flow exporting it, across several pages."""
    sim, api = await _big(make_sim, make_api)
    expected = {
        doc_id
        for doc_id, doc in sim.store.docs("prod", "flows").items()
        if any(
            s["value"]["id"] == RETIRED
            for t in doc["transformations"]
            for s in t["params"].get("segmentSelectors", {}).get("selectors", [])
        )
    }
    path = "transformations[].params.segmentSelectors.selectors[].value.id"
    items, pages = await _all_pages(api, f"property={path}=={RETIRED}&limit=40")
    assert pages > 2
    assert [d["id"] for d in items if d["id"] in expected] == [d["id"] for d in items]
    assert {d["id"] for d in items} == expected
    assert len(items) == len(expected)


async def test_repeated_property_filters_are_anded(make_sim: SimFactory, make_api: Any) -> None:
    """Two ``property`` parameters must both hold."""
    sim, api = await _big(make_sim, make_api)
    query = (
        "property=inheritedAttributes.properties.isDestinationFlow==true&property=state==enabled"
    )
    items, _ = await _all_pages(api, query)
    destination = [
        d
        for d in sim.store.docs("prod", "flows").values()
        if d["inheritedAttributes"]["properties"]["isDestinationFlow"]
    ]
    assert len(items) == len(destination)
    assert SOURCE_FLOW not in {d["id"] for d in items}


async def test_not_equal_and_comparison_operators(api: Api) -> None:
    """``!=`` excludes and ``>`` compares numbers."""
    status, body, _ = await api.request("GET", f"/flows?property=id!={DEST_FLOW}")
    assert [d["id"] for d in body["items"]] == [SOURCE_FLOW]
    status, body, _ = await api.request("GET", "/flows?property=createdAt>1612310475904")
    assert status == 200
    assert SOURCE_FLOW in {d["id"] for d in body["items"]}


async def test_count_returns_only_the_count(api: Api) -> None:
    """``count=true`` answers ``{"count": N}`` with no items."""
    status, body, _ = await api.request("GET", "/flows?count=true")
    assert (status, body) == (200, {"count": 2})


async def test_count_with_limit_is_1401(api: Api) -> None:
    """``limit`` and ``count`` together are refused."""
    status, body, _ = await api.request("GET", "/flows?count=true&limit=5")
    assert status == 400
    assert body["type"].endswith("FLOW-1401-400")


async def test_limit_above_100_is_refused(api: Api) -> None:
    """The spec caps ``limit`` at 100."""
    status, _, _ = await api.request("GET", "/flows?limit=101")
    assert status == 400


async def test_multiple_values_need_equality(api: Api) -> None:
    """A comma list with ``<`` is 1443."""
    status, body, _ = await api.request("GET", "/flows?property=createdAt<1,2")
    assert status == 400
    assert body["type"].endswith("FLOW-1443-400")


async def test_unknown_field_is_refused(api: Api) -> None:
    """A filter on a field flows do not have is a 400."""
    status, _, _ = await api.request("GET", "/flows?property=colour==red")
    assert status == 400


async def test_orderby_name_ascending_and_descending(make_sim: SimFactory, make_api: Any) -> None:
    """``orderby=name`` sorts ascending, ``-name`` descending."""
    _, api = await _big(make_sim, make_api)
    _, up, _ = await api.request("GET", "/flows?orderby=name&limit=20")
    _, down, _ = await api.request("GET", "/flows?orderby=-name&limit=20")
    names_up = [d["name"] for d in up["items"]]
    names_down = [d["name"] for d in down["items"]]
    assert names_up == sorted(names_up)
    assert names_down == sorted(names_down, reverse=True)


async def test_default_order_is_newest_first(make_sim: SimFactory, make_api: Any) -> None:
    """Without ``orderby`` the most recently updated come first."""
    _, api = await _big(make_sim, make_api)
    _, body, _ = await api.request("GET", "/flows?limit=50")
    stamps = [d["updatedAt"] for d in body["items"]]
    assert stamps == sorted(stamps, reverse=True)


async def test_last_page_has_no_next_link(api: Api) -> None:
    """Paging ends when ``_links.next`` is absent."""
    _, body, _ = await api.request("GET", "/flows?limit=1")
    assert "next" in body["_links"]
    _, last, _ = await api.request("GET", body["_links"]["next"]["href"])
    assert len(last["items"]) == 1
    assert "next" not in last["_links"]


async def test_bad_continuation_token_is_400(api: Api) -> None:
    """A made-up token is refused, not silently read as page one."""
    status, _, _ = await api.request("GET", "/flows?continuationToken=%%%")
    assert status == 400


async def test_connections_list_filters_by_spec(make_sim: SimFactory, make_api: Any) -> None:
    """``GET /connections`` filters on nested properties too."""
    api = make_api(await make_sim(connections=5))
    query = "property=connectionSpec.id==cfc0fee1-7dc0-40ef-b73e-d8b134c436f5"
    status, body, _ = await api.request("GET", f"/connections?{query}")
    assert status == 200
    assert len(body["items"]) == 6


async def test_documents_are_scoped_by_sandbox(api: Api) -> None:
    """Another sandbox does not see prod's flows."""
    headers = api.headers(**{"x-sandbox-name": "dev"})
    status, _, _ = await api.request("GET", f"/flows/{DEST_FLOW}", headers)
    assert status == 404
    _, body, _ = await api.request("GET", "/flows?count=true", headers)
    assert body == {"count": 0}
