"""Adobe's activation guardrails at plan time: 250 audiences, 50 profile attributes per dataflow."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import TypeAdapter

from bulkflow.guardrails import GuardrailError, enforce, guardrail_warnings
from bulkflow.job.changes import Change
from bulkflow.planner import plan
from bulkflow.sim.generate import load_fixture

CHANGES = TypeAdapter(list[Change])
ADD_AUDIENCE = {"add_segment": {"id": "2d79d0d8-724f-49fc-a09d-d1dec338c93c"}}
ADD_ATTRIBUTE = {"add_profile_attribute": {"path": "loyalty.tier"}}


def _flow(audiences: int, attributes: int = 3) -> dict[str, Any]:
    doc = load_fixture("flow-destination-batch.json")
    params = doc["transformations"][0]["params"]
    params["segmentSelectors"]["selectors"] = [
        {"type": "PLATFORM_SEGMENT", "value": {"id": f"audience-{n}"}} for n in range(audiences)
    ]
    params["profileSelectors"]["selectors"] = [
        {"type": "JSON_PATH", "value": {"path": f"attr.n{n}", "operator": "EXISTS"}}
        for n in range(attributes)
    ]
    return doc


def _warnings(doc: dict[str, Any], *changes: dict[str, Any]) -> list[str]:
    return guardrail_warnings(doc, plan(doc, CHANGES.validate_python(list(changes))))


def test_the_251st_audience_is_warned() -> None:
    """Adding an audience to a dataflow with 250 says it goes past Adobe's 250."""
    (warning,) = _warnings(_flow(250), ADD_AUDIENCE)
    assert "251 audiences" in warning
    assert "250" in warning


def test_the_250th_audience_is_not_warned() -> None:
    """Reaching the limit exactly is within it."""
    assert _warnings(_flow(249), ADD_AUDIENCE) == []


def test_removing_from_a_dataflow_already_past_the_limit_is_not_warned() -> None:
    """A change that lowers the count does not take the dataflow past anything."""
    remove = {"remove_segment": {"id": "audience-7"}}
    assert _warnings(_flow(260), remove) == []


def test_adding_to_a_dataflow_already_past_the_limit_is_warned() -> None:
    """A dataflow already over the limit that gets one more is warned again."""
    (warning,) = _warnings(_flow(260), ADD_AUDIENCE)
    assert "261 audiences" in warning


def test_the_51st_profile_attribute_is_warned() -> None:
    """Adding an attribute to a dataflow with 50 mapped ones says it goes past 50."""
    (warning,) = _warnings(_flow(3, attributes=50), ADD_ATTRIBUTE)
    assert "51 profile attributes" in warning


def test_a_raw_patch_replacing_the_selectors_is_counted() -> None:
    """A ``patch`` that replaces the whole audience list is counted as what it leaves."""
    selectors = [{"type": "PLATFORM_SEGMENT", "value": {"id": f"a{n}"}} for n in range(300)]
    path = "/transformations/0/params/segmentSelectors/selectors"
    raw = {"patch": [{"op": "replace", "path": path, "value": selectors}]}
    (warning,) = _warnings(_flow(10), raw)
    assert "300 audiences" in warning


def test_both_limits_are_warned_separately() -> None:
    """One change set past both limits gives two warnings."""
    assert len(_warnings(_flow(250, attributes=50), ADD_AUDIENCE, ADD_ATTRIBUTE)) == 2


def test_changes_elsewhere_are_not_counted() -> None:
    """Ops outside ``/transformations`` (a schedule, a name) never warn, whatever the counts."""
    rename = {"set": {"path": "/name", "value": "renamed"}}
    assert _warnings(_flow(300, attributes=60), rename) == []


def test_enforce_fails_the_target_as_guardrail() -> None:
    """``--strict``: the warnings become a failure of kind ``guardrail`` naming them."""
    with pytest.raises(GuardrailError) as info:
        enforce(["251 audiences on this dataflow"], strict=True)
    assert info.value.kind == "guardrail"
    assert "251 audiences" in info.value.message
    assert "nothing was sent" in info.value.message


def test_enforce_without_strict_only_reports() -> None:
    """Without ``--strict`` warnings pass through."""
    enforce(["251 audiences on this dataflow"], strict=False)
    enforce([], strict=True)
