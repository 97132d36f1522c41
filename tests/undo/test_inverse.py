"""The inverse planner: revert what the run left, leave alone what someone changed since."""

from __future__ import annotations

from typing import Any

import jsonpatch

from bulkflow.undo.images import before_images
from bulkflow.undo.inverse import Applied, invert

SELECTORS = "/transformations/0/params/segmentSelectors/selectors"


def flow(*ids: str, **extra: Any) -> dict[str, Any]:
    selectors = [{"type": "PLATFORM_SEGMENT", "value": {"id": i}} for i in ids]
    doc = {
        "state": "enabled",
        "scheduleParams": {"frequency": "week"},
        "transformations": [{"params": {"segmentSelectors": {"selectors": selectors}}}],
    }
    return doc | extra


def audience(audience_id: str) -> dict[str, Any]:
    return {"type": "PLATFORM_SEGMENT", "value": {"id": audience_id}}


def run(
    doc: dict[str, Any], ops: list[dict[str, Any]], **state: Any
) -> tuple[dict[str, Any], Applied]:
    """Apply ``ops`` as a run would, returning the document after and the record of it."""
    applied = Applied(ops, before_images(doc, ops), **state)
    return jsonpatch.apply_patch(doc, ops), applied


def undone(doc: dict[str, Any], *history: Applied) -> dict[str, Any]:
    inverse = invert(doc, list(history))
    assert not inverse.drifts
    result: dict[str, Any] = jsonpatch.apply_patch(doc, inverse.ops)
    return result


def test_a_rollout_is_taken_back_exactly() -> None:
    """Audiences added and removed and a value set: the inverse gives the document back."""
    doc = flow("a", "b", "c")
    after, applied = run(
        doc,
        [
            {"op": "add", "path": f"{SELECTORS}/-", "value": audience("x")},
            {"op": "replace", "path": "/scheduleParams/frequency", "value": "day"},
            {"op": "remove", "path": f"{SELECTORS}/1"},
        ],
    )
    assert undone(after, applied) == doc


def test_an_added_audience_is_removed_wherever_it_is_now() -> None:
    """Someone inserted audiences before it: it is found by id, not by position."""
    after, applied = run(
        flow("a"), [{"op": "add", "path": f"{SELECTORS}/-", "value": audience("x")}]
    )
    after["transformations"][0]["params"]["segmentSelectors"]["selectors"][:0] = [audience("r")]
    ids = [
        s["value"]["id"]
        for s in undone(after, applied)["transformations"][0]["params"]["segmentSelectors"][
            "selectors"
        ]
    ]
    assert ids == ["r", "a"]


def test_a_removed_audience_goes_back_beside_its_neighbours() -> None:
    """A rival audience inserted at the front does not shift where it goes back."""
    after, applied = run(flow("a", "b", "c"), [{"op": "remove", "path": f"{SELECTORS}/1"}])
    after["transformations"][0]["params"]["segmentSelectors"]["selectors"][:0] = [audience("r")]
    ids = [
        s["value"]["id"]
        for s in undone(after, applied)["transformations"][0]["params"]["segmentSelectors"][
            "selectors"
        ]
    ]
    assert ids == ["r", "a", "b", "c"]


def test_a_removed_audience_present_again_is_not_added_twice() -> None:
    """Someone put it back already: nothing to do."""
    after, applied = run(flow("a", "b"), [{"op": "remove", "path": f"{SELECTORS}/0"}])
    after["transformations"][0]["params"]["segmentSelectors"]["selectors"].append(audience("a"))
    assert invert(after, [applied]).ops == []


def test_a_value_changed_since_is_drift_and_nothing_is_sent() -> None:
    """The schedule someone set since: drifted, naming the path, both values, no ops at all."""
    after, applied = run(
        flow("a"),
        [
            {"op": "add", "path": f"{SELECTORS}/-", "value": audience("x")},
            {"op": "replace", "path": "/scheduleParams/frequency", "value": "day"},
        ],
    )
    after["scheduleParams"]["frequency"] = "month"
    inverse = invert(after, [applied])
    assert inverse.ops == []
    assert inverse.drifts == ['/scheduleParams/frequency: the run left "day", now "month"']


def test_a_value_already_back_is_not_drift() -> None:
    """Someone reverted it by hand: nothing to do for it, no drift."""
    after, applied = run(
        flow(), [{"op": "replace", "path": "/scheduleParams/frequency", "value": "day"}]
    )
    after["scheduleParams"]["frequency"] = "week"
    inverse = invert(after, [applied])
    assert (inverse.ops, inverse.drifts) == ([], [])


def test_a_member_the_run_added_is_removed_only_if_unchanged() -> None:
    """An added member still holding the run's value is removed; another value is drift."""
    after, applied = run(flow(), [{"op": "add", "path": "/description", "value": "d"}])
    assert "description" not in undone(after, applied)
    after["description"] = "someone else's"
    assert invert(after, [applied]).drifts


def test_a_removed_member_is_put_back() -> None:
    """A value the run removed goes back when its place is still empty."""
    doc = flow(description="d")
    after, applied = run(doc, [{"op": "remove", "path": "/description"}])
    assert undone(after, applied) == doc


def test_state_is_reversed_only_while_it_is_the_runs() -> None:
    """Disabled by the run: enabled again; enabled since by someone: nothing to do."""
    applied = Applied([], [], action="disable", state_before="enabled")
    assert invert(flow(state="disabled"), [applied]).action == "enable"
    assert invert(flow(state="enabled"), [applied]).action is None


def test_credentials_are_irreversible_and_the_rest_reverted() -> None:
    """A rotation's op is listed irreversible; the name the same run set is still put back."""
    doc = flow(name="old", auth={"params": {"password": "p"}})
    after, applied = run(
        doc,
        [
            {"op": "replace", "path": "/auth/params", "value": {"password": "q"}},
            {"op": "replace", "path": "/name", "value": "new"},
        ],
    )
    inverse = invert(after, [applied])
    assert inverse.ops == [{"op": "replace", "path": "/name", "value": "old"}]
    assert inverse.irreversible == ["/auth/params: credentials are never recorded"]


def test_newest_change_first() -> None:
    """Two runs set the same value: taking both back ends at the first one's before-value."""
    first, one = run(
        flow(), [{"op": "replace", "path": "/scheduleParams/frequency", "value": "day"}]
    )
    _second, two = run(
        first, [{"op": "replace", "path": "/scheduleParams/frequency", "value": "hour"}]
    )
    assert undone(_second, two, one)["scheduleParams"] == {"frequency": "week"}


def test_a_record_without_images_is_irreversible() -> None:
    """A log written before before-images existed: nothing is guessed."""
    applied = Applied([{"op": "replace", "path": "/name", "value": "n"}], None)
    inverse = invert(flow(name="n"), [applied])
    assert inverse.ops == []
    assert inverse.irreversible == ["/name: the log holds no before-value for it"]
