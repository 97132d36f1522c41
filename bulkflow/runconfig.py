"""One run's configuration: every setting in one frozen model, with its default in one place.

A run's configuration is the job's ``options`` overlaid by what an earlier log recorded (for
``retry`` and ``--resume``) and then by the flags given on the command line. It is checked once,
here, and written whole to the run header, so a later ``retry`` or ``--resume`` rebuilds the same
run (a dry run stays a dry run, ``--verify`` keeps verifying).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, ValidationError

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
    "waves": "--waves",
    "max_failure_rate": "--max-failure-rate",
    "breaker_window": "--breaker-window",
    "soak_s": "--soak",
    "pause": "--pause",
    "undo_on_stop": "--undo-on-stop",
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
MAX_WAVES = 100
_PERCENT = re.compile(r"^(\d+(\.\d+)?)%$")


MAX_WAVE_SIZE = 10**9  # more targets than any job holds; a log writes it as a 64-bit number


def _wave_size(value: Any) -> int | str:
    """A wave's cumulative size: a count of targets (``10``), or a share of them (``"10%"``)."""
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value)
    if isinstance(value, int) and not isinstance(value, bool):
        if value < 1:
            raise ValueError(f"a wave of {value} targets: a count is at least 1")
        if value > MAX_WAVE_SIZE:
            raise ValueError(f"a wave of {value} targets: at most {MAX_WAVE_SIZE:,}")
        return value
    match = _PERCENT.match(value.strip()) if isinstance(value, str) else None
    if match is None:
        raise ValueError(f"{value!r} is not a wave size: a count (10) or a percentage ('10%')")
    if not 0 < float(match[1]) <= 100:
        raise ValueError(f"a wave of {value}: a percentage is above 0% and at most 100%")
    return f"{match[1]}%"


def _some_waves(sizes: tuple[int | str, ...]) -> tuple[int | str, ...]:
    if not 1 <= len(sizes) <= MAX_WAVES:
        raise ValueError(f"give 1 to {MAX_WAVES} wave sizes, not {len(sizes)}")
    return sizes


#: One wave's cumulative size, and a rollout's waves.
WaveSize = Annotated[int | str, BeforeValidator(_wave_size)]
Waves = Annotated[tuple[WaveSize, ...], AfterValidator(_some_waves)]
FailureRate = Annotated[float, Field(ge=0, le=1, allow_inf_nan=False)]
BreakerWindow = Annotated[int, Field(ge=1, le=100_000)]
SoakS = Annotated[float, Field(ge=0, le=86_400, allow_inf_nan=False)]


class RunConfig(BaseModel):
    """How a run behaves.

    Example::

        RunConfig(concurrency=32, max_conflict_retries=5, dry_run=False, verify=True, strict=True,
                  waves=(10, "10%", "100%"), soak_s=600, undo_on_stop=True)
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
    # A staged rollout (engine/waves.py, engine/breaker.py): cumulative wave sizes, the gates
    # between waves, the failure breaker, and what to do when either stops the run.
    waves: Waves | None = None
    max_failure_rate: FailureRate = 0.05
    breaker_window: BreakerWindow = 50
    soak_s: SoakS = 0.0
    pause: bool = False
    undo_on_stop: bool = False

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
    # pydantic puts "Value error, " before a validator's own words: they are said alone.
    message = str(error["msg"]).removeprefix("Value error, ").removeprefix("Assertion failed, ")
    return f"{flag}: {message[:1].lower() + message[1:]} (not {error['input']!r})"
