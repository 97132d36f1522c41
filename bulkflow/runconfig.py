"""One run's configuration: every setting in one frozen model, with its default in one place.

A run's configuration is the job's ``options`` overlaid by what an earlier log recorded (for
``retry`` and ``--resume``) and then by the flags given on the command line. It is checked once,
here, and written whole to the run header, so a later ``retry`` or ``--resume`` rebuilds the same
run (a dry run stays a dry run, ``--verify`` keeps verifying).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from bulkflow.errors import InputError

#: Flag names for messages, by field.
FLAGS = {
    "dry_run": "--dry-run",
    "verify": "--verify",
    "concurrency": "--concurrency",
    "rate_per_s": "--rate",
    "timeout_s": "--timeout",
    "batch_fetch": "--no-batch-fetch",
    "max_conflict_retries": "--max-conflict-retries",
    "max_retries": "options.max_retries",
    "max_retry_after_s": "options.max_retry_after_s",
    "grace_s": "--grace",
    "replan": "--replan",
    "skip_stale": "--skip-stale",
    "strict": "--strict",
    "continue_on_failure": "--continue-on-failure",
}
#: What an earlier run's header may hand on to a retry or resume (not where a plan file was).
INHERITED = frozenset(FLAGS) - {"replan", "skip_stale", "continue_on_failure"}


#: Seconds per request, unless a job or a flag says otherwise (the one place this default lives).
DEFAULT_TIMEOUT_S = 30.0

# The ranges a setting may take, shared with the job file's ``options``.
Concurrency = Annotated[int, Field(ge=1, le=512)]
ConflictRetries = Annotated[int, Field(ge=0, le=100)]
Retries = Annotated[int, Field(ge=0, le=50)]
TimeoutS = Annotated[float, Field(gt=0, le=600, allow_inf_nan=False)]
RetryAfterS = Annotated[float, Field(gt=0, allow_inf_nan=False)]


class RunConfig(BaseModel):
    """How a run behaves.

    Example::

        RunConfig(concurrency=32, max_conflict_retries=5, dry_run=False, verify=True, strict=True)
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    dry_run: bool = False
    verify: bool = False
    strict: bool = False  # a plan past an Adobe guardrail fails its target (kind guardrail)
    continue_on_failure: bool = False  # sandboxes after one where a target failed still run
    concurrency: Concurrency = 16
    rate_per_s: float | None = Field(None, ge=0.01, allow_inf_nan=False)  # slower seems hung
    timeout_s: TimeoutS = DEFAULT_TIMEOUT_S
    batch_fetch: bool = True
    max_conflict_retries: ConflictRetries = 5
    max_retries: Retries = 6
    max_retry_after_s: RetryAfterS = 120.0
    grace_s: float = Field(30.0, ge=0, le=3600, allow_inf_nan=False)
    conflict_backoff_s: float = Field(0.1, ge=0)
    verify_timeout_s: float = Field(60.0, gt=0)
    replan: bool = False
    skip_stale: bool = False
    plan_file: str | None = None
    plan_digest: str | None = None

    @classmethod
    def build(cls, *layers: Mapping[str, Any] | None) -> RunConfig:
        """Defaults overlaid by each layer in turn (a ``None`` value leaves a setting as it was).

        Raises :class:`InputError` naming the flag when a value is out of range.
        """
        values: dict[str, Any] = {}
        for layer in layers:
            values |= {k: v for k, v in (layer or {}).items() if v is not None}
        try:
            return cls.model_validate(values)
        except ValidationError as exc:
            raise InputError("; ".join(_flag_problem(e) for e in exc.errors())) from None

    def header(self) -> dict[str, Any]:
        """The configuration as the run header records it."""
        return self.model_dump(mode="json")


def recorded(header: Mapping[str, Any] | None) -> dict[str, Any]:
    """The settings an earlier run header hands on (a header before this field: its dry-run flag)."""
    if header is None:
        return {}
    config = header.get("config")
    if isinstance(config, Mapping):
        return {k: v for k, v in config.items() if k in INHERITED}
    return {"dry_run": bool(header.get("dry_run"))}


def _flag_problem(error: Any) -> str:
    field = str(error["loc"][0]) if error["loc"] else ""
    flag = FLAGS.get(field, field)
    return f"{flag}: {error['msg'].lower()} (not {error['input']!r})"
