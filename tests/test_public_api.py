"""The public surface is deliberate: ``bulkflow.__all__`` is pinned."""

from __future__ import annotations

import bulkflow


def test_public_names_are_pinned() -> None:
    """Adding or removing a public name is a visible change to this test."""
    assert bulkflow.__all__ == [
        "ApiError",
        "AuthError",
        "BulkflowError",
        "ConflictError",
        "EngineOptions",
        "InputError",
        "Job",
        "PlanError",
        "PreparedJob",
        "RunConfig",
        "RunPlan",
        "Settings",
        "Summary",
        "Target",
        "TargetError",
        "__version__",
        "execute",
        "load_job",
        "plan",
        "prepare",
        "read_log",
    ]
    assert all(hasattr(bulkflow, name) for name in bulkflow.__all__)


def test_public_names_come_from_their_modules() -> None:
    """Each lazily imported public name is the object its own module defines."""
    from bulkflow import planner, runner

    assert bulkflow.plan is planner.plan
    assert bulkflow.execute is runner.execute


def test_unknown_attribute_is_an_attribute_error() -> None:
    """A name the package does not export raises AttributeError, as for any module."""
    import pytest

    with pytest.raises(AttributeError, match="no_such_name"):
        bulkflow.no_such_name  # noqa: B018
