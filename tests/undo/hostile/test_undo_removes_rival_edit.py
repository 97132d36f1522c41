"""undo removes an audience it added even after another writer edited it."""

from __future__ import annotations

from bulkflow.undo.inverse import Applied, invert

SELECTORS = "/transformations/0/params/segmentSelectors/selectors"


def test_an_added_audience_edited_since_is_drift() -> None:
    """An added audience edited since is drift."""
    added = {"type": "PLATFORM_SEGMENT", "value": {"id": "new", "exportMode": "DAILY_FULL_EXPORT"}}
    edited = {
        "type": "PLATFORM_SEGMENT",
        "value": {"id": "new", "exportMode": "FIRST_FULL_THEN_INCREMENTAL"},
    }
    doc = {"transformations": [{"params": {"segmentSelectors": {"selectors": [edited]}}}]}
    ops = [{"op": "add", "path": f"{SELECTORS}/-", "value": added}]
    inverse = invert(doc, [Applied(ops, [{"path": f"{SELECTORS}/-", "inserted": True}])])
    assert inverse.ops == []
    assert inverse.drifts
