"""bulkflow: safe, fast bulk updates of Adobe Experience Platform Flow Service resources.

The command line (``bulkflow run|plan|validate|sim``) is the main interface; from Python::

    job = prepare(load_job("jobs/q4-segment-rollout.yaml"))
    summary = await execute(job, Settings(), RunPlan(RunConfig(), Path("run.jsonl")))

The public names are imported on first use (PEP 562), so ``import bulkflow.sim`` or a command
that needs only part of the package does not pay for all of it.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from bulkflow._version import __version__

if TYPE_CHECKING:
    from bulkflow.engine.pool import Summary
    from bulkflow.engine.target import EngineOptions
    from bulkflow.errors import (
        ApiError,
        AuthError,
        BulkflowError,
        ConflictError,
        InputError,
        PlanError,
        TargetError,
    )
    from bulkflow.flowservice.settings import Settings
    from bulkflow.job.jobfile import Job, load_job
    from bulkflow.job.prepare import PreparedJob, prepare
    from bulkflow.job.targets import Target
    from bulkflow.planner import plan
    from bulkflow.records.resultlog import read_log
    from bulkflow.runconfig import RunConfig
    from bulkflow.runner import RunPlan, execute

_HOMES = {
    "ApiError": "errors",
    "AuthError": "errors",
    "BulkflowError": "errors",
    "ConflictError": "errors",
    "EngineOptions": "engine.target",
    "InputError": "errors",
    "Job": "job.jobfile",
    "PlanError": "errors",
    "PreparedJob": "job.prepare",
    "RunConfig": "runconfig",
    "RunPlan": "runner",
    "Settings": "flowservice.settings",
    "Summary": "engine.pool",
    "Target": "job.targets",
    "TargetError": "errors",
    "execute": "runner",
    "load_job": "job.jobfile",
    "plan": "planner",
    "prepare": "job.prepare",
    "read_log": "records.resultlog",
}

__all__ = [
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


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'bulkflow' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"bulkflow.{home}"), name)
    globals()[name] = value
    return value
