"""The seed tutorials' own requests, replayed against the simulator, give their documented results."""

from __future__ import annotations

from tests.conftest import CONNECTION, DEST_FLOW, SOURCE_FLOW, Api

SEGMENT_SELECTORS = "/transformations/0/params/segmentSelectors/selectors"


async def test_connection_update_from_tutorial(api: Api) -> None:
    """update-connections-and-flows.md: new credentials, name and description on the connection."""
    before = await api.get("connections", CONNECTION)
    ops = [
        {
            "op": "replace",
            "path": "/auth/params",
            "value": {
                "username": "salesforce-connector-username",
                "password": "{NEW_PASSWORD}",
                "securityToken": "{NEW_SECURITY_TOKEN}",
            },
        },
        {"op": "replace", "path": "/name", "value": "Test salesforce connection"},
        {"op": "add", "path": "/description", "value": "A test salesforce connection"},
    ]
    # The tutorial sends this If-Match without quotes; the simulator tolerates both forms.
    status, body, _ = await api.patch("connections", CONNECTION, ops, before["etag"].strip('"'))
    assert status == 200
    assert body["id"] == CONNECTION
    assert body["etag"] != before["etag"]
    after = await api.get("connections", CONNECTION)
    assert after["name"] == "Test salesforce connection"
    assert after["description"] == "A test salesforce connection"
    assert after["auth"]["params"]["username"] == "salesforce-connector-username"
    assert after["auth"]["params"]["securityToken"] == "{NEW_SECURITY_TOKEN}"
    assert after["etag"] == after["version"] == body["etag"]
    assert after["updatedAt"] > before["updatedAt"]


async def test_source_flow_schedule_update_from_tutorial(api: Api) -> None:
    """update-connections-and-flows.md: replace /scheduleParams/frequency with week."""
    before = await api.get("flows", SOURCE_FLOW)
    ops = [{"op": "replace", "path": "/scheduleParams/frequency", "value": "week"}]
    status, body, _ = await api.patch("flows", SOURCE_FLOW, ops, before["etag"])
    assert status == 200
    after = await api.get("flows", SOURCE_FLOW)
    assert after["scheduleParams"]["frequency"] == "week"
    assert after["etag"] == body["etag"] != before["etag"]
    assert after["lastOperation"]["ops"] == ops
    assert after["lastOperation"]["status"]["value"] == "completed"
    assert after["updatedAt"] == after["lastOperation"]["updated"]


async def test_flow_basic_info_update_from_tutorial(api: Api) -> None:
    """update-destination-dataflows.md: schedule, name and description in one PATCH."""
    before = await api.get("flows", SOURCE_FLOW)
    ops = [
        {"op": "replace", "path": "/scheduleParams/frequency", "value": "day"},
        {"op": "replace", "path": "/name", "value": "Database Dataflow Feb2021"},
        {
            "op": "replace",
            "path": "/description",
            "value": "Database dataflow for testing update API",
        },
    ]
    status, _, _ = await api.patch("flows", SOURCE_FLOW, ops, before["etag"])
    assert status == 200
    after = await api.get("flows", SOURCE_FLOW)
    assert (after["name"], after["description"]) == (
        "Database Dataflow Feb2021",
        "Database dataflow for testing update API",
    )


async def test_add_segment_from_tutorial(api: Api) -> None:
    """update-destination-dataflows.md: add the Winter 2021/2022 audience with /selectors/-."""
    before = await api.get("flows", DEST_FLOW)
    value = {
        "type": "PLATFORM_SEGMENT",
        "value": {
            "id": "2d79d0d8-724f-49fc-a09d-d1dec338c93c",
            "name": "Winter 2021/2022 campaign",
            "filenameTemplate": "%DESTINATION_NAME%_%SEGMENT_ID%_%SEGMENT_NAME%_custom-text",
            "exportMode": "DAILY_FULL_EXPORT",
            "schedule": {"startDate": "2022-01-05", "frequency": "ONCE", "startTime": "16:00"},
        },
    }
    ops = [{"op": "add", "path": f"{SEGMENT_SELECTORS}/-", "value": value}]
    status, _, _ = await api.patch("flows", DEST_FLOW, ops, before["etag"])
    assert status == 200
    selectors = (await api.get("flows", DEST_FLOW))["transformations"][0]["params"][
        "segmentSelectors"
    ]["selectors"]
    assert len(selectors) == 5
    assert selectors[-1] == value


async def test_remove_segment_by_index_from_tutorial(api: Api) -> None:
    """update-destination-dataflows.md: remove /selectors/0 (a value is sent, and ignored)."""
    before = await api.get("flows", DEST_FLOW)
    ops = [
        {
            "op": "remove",
            "path": f"{SEGMENT_SELECTORS}/0",
            "value": {"type": "PLATFORM_SEGMENT", "value": {}},
        }
    ]
    status, _, _ = await api.patch("flows", DEST_FLOW, ops, before["etag"])
    assert status == 200
    selectors = (await api.get("flows", DEST_FLOW))["transformations"][0]["params"][
        "segmentSelectors"
    ]["selectors"]
    ids = [s["value"]["id"] for s in selectors]
    assert "9f7d37fd-7039-4454-94ef-2b0cd6c3206a" not in ids
    assert len(ids) == 3


async def test_add_profile_attribute_from_tutorial(api: Api) -> None:
    """update-destination-dataflows.md: add mobilePhone.status to profileSelectors."""
    before = await api.get("flows", DEST_FLOW)
    value = {"type": "JSON_PATH", "value": {"path": "mobilePhone.status", "operator": "EXISTS"}}
    path = "/transformations/0/params/profileSelectors/selectors/-"
    status, _, _ = await api.patch(
        "flows", DEST_FLOW, [{"op": "add", "path": path, "value": value}], before["etag"]
    )
    assert status == 200
    after = await api.get("flows", DEST_FLOW)
    assert after["transformations"][0]["params"]["profileSelectors"]["selectors"][-1] == value


async def test_mapping_update_from_tutorial(api: Api) -> None:
    """update-destination-dataflows.md: replace /transformations/0 with a new Mapping."""
    before = await api.get("flows", SOURCE_FLOW)
    mapping = {
        "name": "Mapping",
        "params": {"mappingId": "c5f22f04e09f44498e528901546a83b1", "mappingVersion": 2},
    }
    ops = [{"op": "replace", "path": "/transformations/0", "value": mapping}]
    status, body, _ = await api.patch("flows", SOURCE_FLOW, ops, before["etag"])
    assert status == 200
    assert set(body) == {"id", "etag"}
    assert (await api.get("flows", SOURCE_FLOW))["transformations"][0] == mapping
