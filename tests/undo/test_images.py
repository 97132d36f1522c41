"""Before-images: what each planned op replaced, read as the earlier ops leave the document."""

from __future__ import annotations

from typing import Any

from bulkflow.undo.images import before_images

SELECTORS = "/transformations/0/params/segmentSelectors/selectors"


def flow(*ids: str) -> dict[str, Any]:
    selectors = [{"type": "PLATFORM_SEGMENT", "value": {"id": i}} for i in ids]
    return {
        "name": "n",
        "auth": {"params": {"password": "hunter2"}},
        "transformations": [{"params": {"segmentSelectors": {"selectors": selectors}}}],
    }


def test_replace_records_the_old_value() -> None:
    """A replace's image holds the value it replaced."""
    ops = [{"op": "replace", "path": "/name", "value": "new"}]
    assert before_images(flow(), ops) == [{"path": "/name", "was": "n"}]


def test_add_of_a_new_member_records_absent() -> None:
    """An add where nothing stood records that nothing did."""
    ops = [{"op": "add", "path": "/description", "value": "d"}]
    assert before_images(flow(), ops) == [{"path": "/description", "absent": True}]


def test_array_insert_is_recorded_as_inserted() -> None:
    """An add into an array (an audience) is an insert, not a replacement."""
    ops = [{"op": "add", "path": f"{SELECTORS}/-", "value": {"type": "PLATFORM_SEGMENT"}}]
    assert before_images(flow("a"), ops) == [{"path": f"{SELECTORS}/-", "inserted": True}]


def test_removed_element_keeps_its_neighbours() -> None:
    """A removed audience's image holds it whole, with the identities of its neighbours."""
    image = before_images(flow("a", "b", "c"), [{"op": "remove", "path": f"{SELECTORS}/1"}])[0]
    assert image["was"] == {"type": "PLATFORM_SEGMENT", "value": {"id": "b"}}
    assert image["prev"] == ["audience", "a"]
    assert image["next"] == ["audience", "c"]
    assert image["array"] is True


def test_images_follow_earlier_ops_of_the_same_plan() -> None:
    """A second set of one path records the first set's value, not the document's."""
    ops = [
        {"op": "replace", "path": "/name", "value": "first"},
        {"op": "replace", "path": "/name", "value": "second"},
    ]
    assert [i["was"] for i in before_images(flow(), ops)] == ["n", "first"]


def test_credentials_are_withheld() -> None:
    """Nothing at /auth/params (or above it) is ever recorded."""
    ops = [{"op": "replace", "path": "/auth/params", "value": {"password": "new"}}]
    image = before_images(flow(), ops)[0]
    assert "withheld" in image
    assert "hunter2" not in str(image)


def test_a_value_holding_a_sensitive_key_is_withheld() -> None:
    """A value with a password inside, wherever it stands, is not recorded."""
    doc = flow() | {"params": {"password": "hunter2"}}
    image = before_images(doc, [{"op": "remove", "path": "/params"}])[0]
    assert "withheld" in image
    assert "hunter2" not in str(image)


def test_move_is_irreversible() -> None:
    """A raw move is not undone: its image says so."""
    ops = [{"op": "move", "from": "/name", "path": "/title"}]
    assert "irreversible" in before_images(flow(), ops)[0]
