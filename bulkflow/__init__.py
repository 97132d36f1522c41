"""bulkflow: safe, fast bulk updates of Adobe Experience Platform Flow Service resources.

The command line (``bulkflow run|plan|validate|sim``) is the main interface; from Python::

    job = prepare(load_job("jobs/q4-segment-rollout.yaml"))
    summary = await execute(job, Settings(), RunPlan(EngineOptions(), Path("run.jsonl")))
"""

__version__ = "0.1.0"

from bulkflow.attempt import EngineOptions
from bulkflow.config import Settings
from bulkflow.engine import Summary
from bulkflow.errors import (
    ApiError,
    AuthError,
    BulkflowError,
    ConflictError,
    InputError,
    PlanError,
    TargetError,
)
from bulkflow.jobfile import Job, load_job
from bulkflow.planner import plan
from bulkflow.prepare import PreparedJob, prepare
from bulkflow.resultlog import read_log
from bulkflow.runner import RunPlan, execute
from bulkflow.targets import Target

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
