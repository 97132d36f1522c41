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
