"""PATCH semantics: If-Match, atomicity, supported ops, answers, lastOperation."""

from __future__ import annotations

from typing import Any

from bulkflow.sim import Simulator
from tests.conftest import DEST_FLOW, SOURCE_FLOW, Api, SimFactory

RENAME = [{"op": "replace", "path": "/name", "value": "renamed"}]


async def test_stale_if_match_gets_412_and_changes_nothing(api: Api, sim: Simulator) -> None:
    """A stale etag is answered 412 with the FLOW-1404-412 envelope; the document is untouched."""
    before = await api.get("flows", SOURCE_FLOW)
    status, body, _ = await api.patch("flows", SOURCE_FLOW, RENAME, '"00000000-stale"')
    assert status == 412
    assert body["type"] == "https://ns.adobe.com/aep/errors/FLOW-1404-412"
    assert body["title"] == "Version not matching"
    assert body["status"] == 412
    assert {"detailed-message", "request-id"} <= set(body["report"])
    assert body["errorMessage"]
    assert body["errorDetails"]
    assert sim.doc("flows", SOURCE_FLOW) == before


async def test_missing_if_match_gets_400(api: Api, sim: Simulator) -> None:
    """No If-Match header: 400 with FLOW-1403-400, nothing changed."""
    before = await api.get("flows", SOURCE_FLOW)
    status, body, _ = await api.patch("flows", SOURCE_FLOW, RENAME, None)
    assert status == 400
    assert body["type"].endswith("FLOW-1403-400")
    assert "If-Match" in body["errorMessage"]
    assert sim.doc("flows", SOURCE_FLOW) == before


async def test_failing_op_in_multi_op_patch_changes_nothing(api: Api, sim: Simulator) -> None:
    """The second op's bad path fails the whole PATCH (1455) and the first op is not applied."""
    before = await api.get("flows", SOURCE_FLOW)
    ops = [*RENAME, {"op": "replace", "path": "/no/such/thing", "value": 1}]
    status, body, _ = await api.patch("flows", SOURCE_FLOW, ops, before["etag"])
    assert status == 400
    assert body["type"].endswith("FLOW-1455-400")
    assert sim.doc("flows", SOURCE_FLOW) == before


async def test_unsupported_op_is_rejected_with_1434(api: Api) -> None:
    """``move`` is not a Flow Service op: 400 FLOW-1434-400."""
    etag = (await api.get("flows", SOURCE_FLOW))["etag"]
    ops = [{"op": "move", "from": "/name", "path": "/description"}]
    status, body, _ = await api.patch("flows", SOURCE_FLOW, ops, etag)
    assert status == 400
    assert body["type"].endswith("FLOW-1434-400")


async def test_op_names_are_case_insensitive(api: Api, sim: Simulator) -> None:
    """The spec's upper-case ``REPLACE`` works like ``replace``."""
    etag = (await api.get("flows", SOURCE_FLOW))["etag"]
    ops = [{"op": "REPLACE", "path": "/name", "value": "upper"}]
    status, _, _ = await api.patch("flows", SOURCE_FLOW, ops, etag)
    assert status == 200
    doc = sim.doc("flows", SOURCE_FLOW)
    assert doc is not None
    assert doc["name"] == "upper"


async def test_missing_field_is_rejected_with_1455(api: Api) -> None:
    """An ``add`` without ``value`` is a 1455 validation error."""
    etag = (await api.get("flows", SOURCE_FLOW))["etag"]
    status, body, _ = await api.patch("flows", SOURCE_FLOW, [{"op": "add", "path": "/x"}], etag)
    assert status == 400
    assert "Missing field" in body["errorMessage"]


async def test_patch_without_json_content_type_is_rejected(api: Api) -> None:
    """PATCH needs ``Content-Type: application/json`` (BadRequestError)."""
    etag = (await api.get("flows", SOURCE_FLOW))["etag"]
    headers = api.headers(**{"If-Match": etag, "Content-Type": "text/plain"})
    status, body, _ = await api.request("PATCH", f"/flows/{SOURCE_FLOW}", headers, data="[]")
    assert status == 400
    assert body["title"] == "BadRequestError"


async def test_sequential_removes_apply_in_order(api: Api, sim: Simulator) -> None:
    """Two removes apply one after the other (RFC 6902): /0 then /1 drops originals 0 and 2."""
    doc = await api.get("flows", DEST_FLOW)
    ids = [
        s["value"]["id"]
        for s in doc["transformations"][0]["params"]["segmentSelectors"]["selectors"]
    ]
    base = "/transformations/0/params/segmentSelectors/selectors"
    ops = [{"op": "remove", "path": f"{base}/0"}, {"op": "remove", "path": f"{base}/1"}]
    status, _, _ = await api.patch("flows", DEST_FLOW, ops, doc["etag"])
    assert status == 200
    after = await api.get("flows", DEST_FLOW)
    left = [
        s["value"]["id"]
        for s in after["transformations"][0]["params"]["segmentSelectors"]["selectors"]
    ]
    assert left == [ids[1], ids[3]]


async def test_patch_can_answer_202_with_no_body(make_sim: SimFactory, make_api: Any) -> None:
    """With ``patch_status=202`` a successful PATCH answers 202 and an empty body."""
    api: Api = make_api(await make_sim(patch_status=202))
    etag = (await api.get("flows", SOURCE_FLOW))["etag"]
    status, body, _ = await api.patch("flows", SOURCE_FLOW, RENAME, etag)
    assert (status, body) == (202, None)
    assert (await api.get("flows", SOURCE_FLOW))["etag"] != etag


async def test_strict_etag_refuses_unquoted_if_match(make_sim: SimFactory, make_api: Any) -> None:
    """With ``strict_etag`` only the etag exactly as served (quotes included) matches."""
    api: Api = make_api(await make_sim(strict_etag=True))
    etag = (await api.get("flows", SOURCE_FLOW))["etag"]
    status, _, _ = await api.patch("flows", SOURCE_FLOW, RENAME, etag.strip('"'))
    assert status == 412
    status, _, _ = await api.patch("flows", SOURCE_FLOW, RENAME, etag)
    assert status == 200


async def test_read_only_fields_cannot_be_patched(api: Api) -> None:
    """``/id`` and ``/etag`` are the service's, not the client's."""
    etag = (await api.get("flows", SOURCE_FLOW))["etag"]
    status, _, _ = await api.patch(
        "flows", SOURCE_FLOW, [{"op": "replace", "path": "/id", "value": "x"}], etag
    )
    assert status == 400


async def test_patch_of_unknown_flow_is_404(api: Api) -> None:
    """An unknown id: 404 with FLOW-1439-404 naming the resource."""
    status, body, _ = await api.patch("flows", "no-such-flow", RENAME, '"x"')
    assert status == 404
    assert body["type"].endswith("FLOW-1439-404")
    assert body["report"]["id"] == "no-such-flow"


async def test_enable_disable_action_toggles_state(api: Api, sim: Simulator) -> None:
    """``POST /flows/{id}/action?op=disable`` sets state and bumps the etag; case-insensitive."""
    etag = (await api.get("flows", SOURCE_FLOW))["etag"]
    status, body, _ = await api.request("POST", f"/flows/{SOURCE_FLOW}/action?op=DISABLE")
    assert status == 200
    assert body["etag"] != etag
    doc = sim.doc("flows", SOURCE_FLOW)
    assert doc is not None
    assert doc["state"] == "disabled"
    status, _, _ = await api.request("POST", f"/flows/{SOURCE_FLOW}/action?op=enable")
    assert status == 200
    assert (await api.get("flows", SOURCE_FLOW))["state"] == "enabled"


async def test_action_with_stale_if_match_is_412(api: Api) -> None:
    """An If-Match on an action is optional, but checked when present."""
    headers = api.headers(**{"If-Match": '"stale"'})
    status, _, _ = await api.request("POST", f"/flows/{SOURCE_FLOW}/action?op=disable", headers)
    assert status == 412
