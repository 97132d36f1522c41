"""The planner: every change kind as JSON Patch, found by content, checked, idempotent."""

from __future__ import annotations

import copy
from typing import Any

import jsonpatch
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import TypeAdapter

from bulkflow.errors import PlanError
from bulkflow.job.changes import Change
from bulkflow.planner import plan
from bulkflow.sim.generate import load_fixture

CHANGES = TypeAdapter(list[Change])
SEL = "/transformations/0/params/segmentSelectors/selectors"
RETIRED = "9f7d37fd-7039-4454-94ef-2b0cd6c3206a"
BIRTH_YEAR = "f52a3785-2e7c-40a7-8137-9be99af7794e"
NEW = "2d79d0d8-724f-49fc-a09d-d1dec338c93c"


def changes(*items: dict[str, Any]) -> list[Any]:
    return CHANGES.validate_python(list(items))


@pytest.fixture
def dest() -> dict[str, Any]:
    return load_fixture("flow-destination-batch.json")


@pytest.fixture
def source() -> dict[str, Any]:
    return load_fixture("flow-source-bigquery.json")


def test_set_replaces_when_different(source: dict[str, Any]) -> None:
    """``set`` on a present, different value is a replace."""
    ops = plan(source, changes({"set": {"path": "/scheduleParams/frequency", "value": "week"}}))
    assert ops == [{"op": "replace", "path": "/scheduleParams/frequency", "value": "week"}]


def test_set_is_empty_when_equal(source: dict[str, Any]) -> None:
    """``set`` to the current value plans nothing."""
    assert (
        plan(source, changes({"set": {"path": "/scheduleParams/frequency", "value": "day"}})) == []
    )


def test_set_adds_when_absent_under_present_parent(source: dict[str, Any]) -> None:
    """``set`` on a missing key whose parent exists is an add."""
    ops = plan(source, changes({"set": {"path": "/scheduleParams/endTime", "value": 1}}))
    assert ops == [{"op": "add", "path": "/scheduleParams/endTime", "value": 1}]


def test_set_fails_when_parent_absent(source: dict[str, Any]) -> None:
    """``set`` below a missing parent fails the target as invalid_plan, saying what is missing."""
    with pytest.raises(PlanError, match="/nope/deeper does not exist"):
        plan(source, changes({"set": {"path": "/nope/deeper/x", "value": 1}}))


def test_remove_only_when_present(source: dict[str, Any]) -> None:
    """``remove`` plans a remove for a present path and nothing for an absent one."""
    assert plan(source, changes({"remove": {"path": "/description"}})) == [
        {"op": "remove", "path": "/description"}
    ]
    assert plan(source, changes({"remove": {"path": "/labels"}})) == []


def test_add_segment_appends_selector(dest: dict[str, Any]) -> None:
    """``add_segment`` appends a PLATFORM_SEGMENT selector with the given fields."""
    ops = plan(
        dest,
        changes({"add_segment": {"id": NEW, "name": "Winter", "exportMode": "DAILY_FULL_EXPORT"}}),
    )
    value = {
        "type": "PLATFORM_SEGMENT",
        "value": {"id": NEW, "name": "Winter", "exportMode": "DAILY_FULL_EXPORT"},
    }
    assert ops == [{"op": "add", "path": f"{SEL}/-", "value": value}]


def test_add_segment_already_present_is_empty(dest: dict[str, Any]) -> None:
    """An audience the flow already exports is not added again."""
    assert plan(dest, changes({"add_segment": {"id": RETIRED}})) == []


def test_add_segment_on_source_flow_is_invalid_plan(source: dict[str, Any]) -> None:
    """A source dataflow has no segmentSelectors: the message says so."""
    with pytest.raises(PlanError, match=r"no transformation holds params\.segmentSelectors"):
        plan(source, changes({"add_segment": {"id": NEW}}))


def test_segment_transformation_found_by_content(dest: dict[str, Any]) -> None:
    """The transformation holding segmentSelectors is found wherever it sits."""
    dest["transformations"].insert(0, {"name": "Other", "params": {}})
    ops = plan(dest, changes({"add_segment": {"id": NEW}}))
    assert ops[0]["path"] == "/transformations/1/params/segmentSelectors/selectors/-"


def test_remove_segment_by_id_not_position(dest: dict[str, Any]) -> None:
    """``remove_segment`` finds the audience's current index."""
    dest["transformations"][0]["params"]["segmentSelectors"]["selectors"].insert(
        0, {"type": "PLATFORM_SEGMENT", "value": {"id": "foreign"}}
    )
    ops = plan(dest, changes({"remove_segment": {"id": RETIRED}}))
    assert [op["path"] for op in ops] == [f"{SEL}/1"]


def test_several_removes_in_descending_order(dest: dict[str, Any]) -> None:
    """Two removes from one array come highest index first."""
    ops = plan(
        dest,
        changes(
            {"remove_segment": {"id": RETIRED}},
            {"remove_segment": {"id": "4c41c318-9e8c-4a4f-b880-877cdd629fc7"}},
        ),
    )
    assert [op["path"] for op in ops] == [f"{SEL}/3", f"{SEL}/0"]


def test_descending_removes_are_right_under_snapshot_semantics(dest: dict[str, Any]) -> None:
    """Applying the removes each against the original gives the same result as sequentially."""
    ops = plan(
        dest, changes({"remove_segment": {"id": RETIRED}}, {"remove_segment": {"id": BIRTH_YEAR}})
    )
    sequential = jsonpatch.apply_patch(dest, ops)
    selectors = copy.deepcopy(dest["transformations"][0]["params"]["segmentSelectors"]["selectors"])
    doomed = {int(op["path"].rsplit("/", 1)[1]) for op in ops}
    snapshot = [s for i, s in enumerate(selectors) if i not in doomed]
    assert sequential["transformations"][0]["params"]["segmentSelectors"]["selectors"] == snapshot


def test_remove_absent_segment_is_empty(dest: dict[str, Any]) -> None:
    """Removing an audience the flow does not export plans nothing."""
    assert plan(dest, changes({"remove_segment": {"id": NEW}})) == []


def test_add_profile_attribute_with_identity(dest: dict[str, Any]) -> None:
    """``add_profile_attribute`` appends a JSON_PATH selector, with the identity when given."""
    ops = plan(
        dest,
        changes(
            {"add_profile_attribute": {"path": "mobilePhone.number", "identity_namespace": "Phone"}}
        ),
    )
    assert ops == [
        {
            "op": "add",
            "path": "/transformations/0/params/profileSelectors/selectors/-",
            "value": {
                "type": "JSON_PATH",
                "value": {
                    "path": "mobilePhone.number",
                    "operator": "EXISTS",
                    "identity": {"namespace": "Phone"},
                },
            },
        }
    ]


def test_remove_profile_attribute_by_path(dest: dict[str, Any]) -> None:
    """``remove_profile_attribute`` removes by its current index."""
    ops = plan(dest, changes({"remove_profile_attribute": {"path": "person.name.lastName"}}))
    assert [op["path"] for op in ops] == ["/transformations/0/params/profileSelectors/selectors/2"]


def test_set_mapping_finds_mapping_by_name(source: dict[str, Any]) -> None:
    """The transformation named Mapping (index 1 here) gets set semantics."""
    ops = plan(source, changes({"set_mapping": {"mappingId": "abc", "mappingVersion": 2}}))
    assert ops == [
        {"op": "replace", "path": "/transformations/1/params/mappingId", "value": "abc"},
        {"op": "replace", "path": "/transformations/1/params/mappingVersion", "value": 2},
    ]


def test_set_mapping_version_compares_as_text(source: dict[str, Any]) -> None:
    """mappingVersion "0" (schema: string) equals 0 from a job: no change."""
    same = {"mappingId": "0b090130b58b4819afc78b6dc98b484d", "mappingVersion": 0}
    assert plan(source, changes({"set_mapping": same})) == []


def test_set_mapping_without_mapping_is_invalid(dest: dict[str, Any]) -> None:
    """A flow without a Mapping transformation fails clearly."""
    with pytest.raises(PlanError, match="no transformation named Mapping"):
        plan(dest, changes({"set_mapping": {"mappingId": "a", "mappingVersion": 1}}))


def test_rotate_credentials_replaces_auth_params() -> None:
    """``rotate_credentials`` is always a replace of /auth/params."""
    conn = load_fixture("connection-salesforce.json")
    ops = plan(
        conn, changes({"rotate_credentials": {"params": {"username": "u", "password": "p"}}})
    )
    assert ops == [
        {"op": "replace", "path": "/auth/params", "value": {"username": "u", "password": "p"}}
    ]


def test_raw_patch_is_checked_against_document(source: dict[str, Any]) -> None:
    """A raw op that does not apply fails before anything is sent."""
    with pytest.raises(PlanError):
        plan(source, changes({"patch": [{"op": "replace", "path": "/missing/x", "value": 1}]}))


def test_later_change_sees_earlier_ones(source: dict[str, Any]) -> None:
    """A ``set`` then a ``set`` below it plans against the first's result."""
    ops = plan(
        source,
        changes(
            {"set": {"path": "/labels", "value": {}}},
            {"set": {"path": "/labels/core", "value": "C12"}},
        ),
    )
    assert ops == [
        {"op": "add", "path": "/labels", "value": {}},
        {"op": "add", "path": "/labels/core", "value": "C12"},
    ]


def test_plan_does_not_modify_document(dest: dict[str, Any]) -> None:
    """Planning leaves the fetched document as it was."""
    before = copy.deepcopy(dest)
    plan(dest, changes({"add_segment": {"id": NEW}}, {"remove_segment": {"id": RETIRED}}))
    assert dest == before


AUDIENCES = [RETIRED, BIRTH_YEAR, NEW, "a1", "b2", "c3"]
ATTRIBUTES = ["Email", "person.name.lastName", "mobilePhone.number", "homeAddress.city"]
change_strategy = st.one_of(
    st.builds(lambda a: {"add_segment": {"id": a, "name": f"n-{a}"}}, st.sampled_from(AUDIENCES)),
    st.builds(lambda a: {"remove_segment": {"id": a}}, st.sampled_from(AUDIENCES)),
    st.builds(lambda p: {"add_profile_attribute": {"path": p}}, st.sampled_from(ATTRIBUTES)),
    st.builds(lambda p: {"remove_profile_attribute": {"path": p}}, st.sampled_from(ATTRIBUTES)),
    st.builds(lambda v: {"set": {"path": "/description", "value": v}}, st.text(max_size=5)),
    st.just({"remove": {"path": "/description"}}),
)


def _consistent(items: list[dict[str, Any]]) -> bool:
    keys = {
        (k, str(v.get("id") or v.get("path")))
        for item in items
        for k, v in item.items()
        if k != "set" and k != "remove"
    }
    adds = {(k.replace("add_", ""), v) for k, v in keys if k.startswith("add_")}
    removes = {(k.replace("remove_", ""), v) for k, v in keys if k.startswith("remove_")}
    fields = [next(iter(i)) for i in items if next(iter(i)) in ("set", "remove")]
    return not adds & removes and len(fields) <= 1


@settings(max_examples=200, deadline=None)
@given(st.lists(change_strategy, min_size=1, max_size=6).filter(_consistent))
def test_plan_apply_plan_is_empty(items: list[dict[str, Any]]) -> None:
    """Property: plan, apply the plan, plan again → nothing left to do."""
    doc = load_fixture("flow-destination-batch.json")
    job_changes = changes(*items)
    applied = jsonpatch.apply_patch(doc, plan(doc, job_changes))
    assert plan(applied, job_changes) == []


def test_removed_audience_is_named_in_its_op(dest: dict[str, Any]) -> None:
    """A remove carries the selector's id and name, so plans and logs say what goes."""
    ops = plan(dest, changes({"remove_segment": {"id": RETIRED}}))
    assert ops[0]["value"] == {
        "type": "PLATFORM_SEGMENT",
        "value": {"id": RETIRED, "name": "Interested in Mountain Biking"},
    }
