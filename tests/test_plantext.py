"""Plan lines a person reads."""

from __future__ import annotations

from bulkflow.plantext import describe

SEL = "/transformations/0/params/segmentSelectors/selectors"


def test_added_audience_line() -> None:
    """An added selector reads as ``+ audience ID "name"``."""
    op = {
        "op": "add",
        "path": f"{SEL}/-",
        "value": {"type": "PLATFORM_SEGMENT", "value": {"id": "2d79", "name": "Winter"}},
    }
    assert describe(op) == '+ audience 2d79 "Winter"'


def test_removed_attribute_line() -> None:
    """A removed profile selector reads as ``- attribute path``."""
    op = {
        "op": "remove",
        "path": "/transformations/0/params/profileSelectors/selectors/3",
        "value": {"type": "JSON_PATH", "value": {"path": "Email"}},
    }
    assert describe(op) == "- attribute Email"


def test_sensitive_paths_hide_values() -> None:
    """Anything under /auth/params reads as (sensitive), never its value."""
    op = {"op": "replace", "path": "/auth/params", "value": {"password": "hunter2"}}
    assert describe(op) == "~ /auth/params (sensitive)"


def test_replace_line_shows_new_value() -> None:
    """Other replaces show the path and the new value."""
    assert (
        describe({"op": "replace", "path": "/scheduleParams/frequency", "value": "week"})
        == '~ /scheduleParams/frequency = "week"'
    )
