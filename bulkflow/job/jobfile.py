"""The job file (contract §2): YAML or JSON into frozen models, with line numbers.

Loading checks the shape; :mod:`bulkflow.job.prepare` then reads the secrets and checks every
target before the first request.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    ValidationError,
)

from bulkflow.errors import InputError
from bulkflow.job.changes import Change, Resource
from bulkflow.job.sourcemap import DocumentError, SourceMap, parse, syntax_problem
from bulkflow.job.targets import (
    ID_RULE,
    SANDBOX,
    TARGET_ID,
    Scalar,
    Target,
    not_regular_file,
    read_targets_file,
    short,
)
from bulkflow.runconfig import (
    BreakerWindow,
    Concurrency,
    ConflictRetries,
    FailureRate,
    Retries,
    RetryAfterS,
    SoakS,
    TimeoutS,
    Waves,
)
from bulkflow.secrets import SecretSource

#: Beyond this, reading would take seconds; 100,000 inline ids take 4 MiB.
MAX_JOB_FILE_BYTES = 16 * 2**20


_FILTER = re.compile(r"^[A-Za-z_][\w.\[\]]*\s*(==|!=|>=|<=|>|<|~)\s*\S.*$")


def check_filter(text: str) -> str:
    """Accept ``path OP value`` (the service checks the field names)."""
    if not _FILTER.match(text):
        raise ValueError(
            f"{text!r} is not a property filter: write <path><operator><value>, e.g. "
            "'inheritedAttributes.properties.isDestinationFlow==true'"
        )
    return text


class Options(BaseModel):
    """Run options; command-line flags override them, and unset ones take
    :class:`~bulkflow.runconfig.RunConfig`'s defaults.

    Example::

        Options(concurrency=32, max_conflict_retries=5, timeout_s=30, waves=[10, "10%", "100%"])
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    concurrency: Concurrency | None = None
    max_conflict_retries: ConflictRetries | None = None
    max_retries: Retries | None = None
    timeout_s: TimeoutS | None = None
    max_retry_after_s: RetryAfterS | None = None
    waves: Waves | None = None
    max_failure_rate: FailureRate | None = None
    breaker_window: BreakerWindow | None = None
    soak_s: SoakS | None = None
    pause: bool | None = None
    undo_on_stop: bool | None = None


class TargetSpec(BaseModel):
    """One inline target with its own template variables."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str = Field(pattern=TARGET_ID)
    vars: dict[str, Scalar] = {}


class TargetsFile(BaseModel):
    """``targets: {file: …}``: CSV with an ``id`` column, or one id per line."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    file: Path


class QuerySpec(BaseModel):
    """``query: {property: [...], limit: N}``: the list endpoint's filters, ANDed."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    property: list[Annotated[str, AfterValidator(check_filter)]] = Field(min_length=1)
    limit: int | None = Field(None, ge=1)


class TargetsQuery(BaseModel):
    """``targets: {query: …}``: resolved through the list endpoint when the run starts."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    query: QuerySpec


TargetId = Annotated[str, Field(pattern=TARGET_ID)]


def _target_form(value: Any) -> str:
    if isinstance(value, TargetsQuery) or (isinstance(value, dict) and "query" in value):
        return "query"
    return "file" if isinstance(value, dict | TargetsFile) else "inline"


def _inline_form(value: Any) -> str:
    return "id" if isinstance(value, str) else "spec"


InlineTarget = Annotated[
    Annotated[TargetId, Tag("id")] | Annotated[TargetSpec, Tag("spec")], Discriminator(_inline_form)
]
Targets = Annotated[
    Annotated[list[InlineTarget], Tag("inline")]
    | Annotated[TargetsFile, Tag("file")]
    | Annotated[TargetsQuery, Tag("query")],
    Discriminator(_target_form),
]


SandboxName = Annotated[str, Field(pattern=f"^{SANDBOX.pattern}$", max_length=256)]
#: A job's name (it names its logs): the same rule wherever one is read back.
JOB_NAME = re.compile(r"[A-Za-z0-9._-]{1,120}")


class Job(BaseModel):
    """A whole job file."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    version: Literal[1]
    name: str = Field(pattern=r"^[A-Za-z0-9._-]+$", max_length=120)  # as JOB_NAME
    resource: Resource
    sandbox: SandboxName | None = None
    #: Run the job in each of these sandboxes in turn (query targets: ids differ per sandbox).
    sandboxes: list[SandboxName] | None = Field(None, min_length=1)
    vars: dict[str, Scalar] = {}
    secrets: dict[str, SecretSource] = {}
    targets: Targets
    changes: list[Change] = Field(min_length=1)
    options: Options = Options()


@dataclass(frozen=True)
class LoadedJob:
    """A job file that parsed and fits the model."""

    job: Job
    path: Path
    raw: dict[str, Any]
    lines: SourceMap
    digest: str

    @property
    def base_dir(self) -> Path:
        """The job file's folder: relative paths in it start here."""
        return self.path.parent

    def targets_path(self) -> Path | None:
        """The targets file, resolved against the job file's folder."""
        return _targets_path(self.job, self.base_dir)


def _targets_path(job: Job, base_dir: Path) -> Path | None:
    targets = job.targets
    if not isinstance(targets, TargetsFile):
        return None
    return targets.file if targets.file.is_absolute() else base_dir / targets.file


def load_job(path: Path | str) -> LoadedJob:
    """Parse and check the shape of a job file; raises :class:`InputError` with file and line."""
    path = Path(path)
    data = _read_job_file(path)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        message = f"not UTF-8: byte 0x{data[exc.start]:02x} cannot be decoded"
        raise InputError(message, path, line) from None
    try:
        raw, lines = parse(text)
    except DocumentError as exc:
        raise InputError(str(exc), path, exc.line) from None
    except yaml.YAMLError as exc:
        where, message = syntax_problem(exc)
        raise InputError(message, path, where) from None
    if not isinstance(raw, dict):
        raise InputError(
            "a job file is a mapping (version, name, resource, targets, changes)", path, 1
        )
    unsendable = list(_unsendable(raw, ()))
    if unsendable:
        problems = [(lines.line(where), f"{_dotted(where)}: {why}") for where, why in unsendable]
        raise InputError("invalid job", path, problems=by_line(problems)[:20])
    try:
        job = Job.model_validate(raw)
    except ValidationError as exc:
        raise InputError("invalid job", path, problems=by_line(problems_of(exc, lines))) from None
    return LoadedJob(job, path, raw, lines, _digest(data, _targets_path(job, path.parent)))


INT64 = (-(2**63), 2**64 - 1)  # what a JSON body can carry (orjson's range)


def _unsendable(value: Any, where: tuple[Any, ...]) -> Iterator[tuple[tuple[Any, ...], str]]:
    """Values no JSON body can carry: bytes (``!!binary``), huge integers, NaN and infinities."""
    stack = [(value, where)]
    while stack:  # iterative: nesting is bounded by the loader, but no recursion is needed
        item, at = stack.pop()
        if isinstance(item, dict):
            stack += [(v, (*at, k)) for k, v in item.items()]
        elif isinstance(item, list):
            stack += [(v, (*at, i)) for i, v in enumerate(item)]
        elif isinstance(item, bytes | bytearray):
            yield at, "binary data (!!binary) cannot be sent in a JSON body"
        elif isinstance(item, int) and not isinstance(item, bool):
            if not INT64[0] <= item <= INT64[1]:
                yield at, "integer out of the 64-bit range a JSON body can carry"
        elif isinstance(item, float) and not math.isfinite(item):
            yield at, f"the number {item} cannot be sent in a JSON body"


def _dotted(where: tuple[Any, ...]) -> str:
    return ".".join(str(part) for part in where)


def _read_job_file(path: Path) -> bytes:
    """The job file's bytes; a pipe or device (which may never end) is refused unread."""
    try:
        unusable = not_regular_file(path)
        if unusable is None:
            with path.open("rb") as handle:
                data = handle.read(MAX_JOB_FILE_BYTES + 1)
    except OSError as exc:
        raise InputError(f"cannot read the job file: {exc.strerror}", path) from None
    if unusable is not None:
        raise InputError(f"cannot read the job file: {unusable}", path)
    if len(data) > MAX_JOB_FILE_BYTES:
        message = f"the job file is over {MAX_JOB_FILE_BYTES // 2**20} MiB; list many targets in a targets file"
        raise InputError(message, path)
    return data


def _digest(job_bytes: bytes, targets: Path | None) -> str:
    digest = hashlib.sha256(job_bytes)
    if targets is not None and targets.is_file():
        with targets.open("rb") as handle:
            for chunk in iter(lambda: handle.read(2**20), b""):
                digest.update(chunk)
    return "sha256:" + digest.hexdigest()


#: What pydantic writes before a validator's own message: "Value error, 'x' is not ...".
_LIBRARY_PREFIX = re.compile(r"\b(?:Value error|Assertion failed), ")

P = TypeVar("P", bound=tuple[Any, ...])


def plain_message(message: str) -> str:
    """A message without the prefixes pydantic puts before a validator's own words."""
    return _LIBRARY_PREFIX.sub("", message)


def by_line(problems: Iterable[P]) -> list[P]:
    """Problems in the order of their lines in the file (those without a line last)."""
    return sorted(problems, key=lambda p: (p[0] is None, p[0] or 0))


def problems_of(
    exc: ValidationError, lines: SourceMap, prefix: tuple[Any, ...] = ()
) -> list[tuple[int | None, str]]:
    """Each of a validation error's problems as ``(line, "where: what")``."""
    problems: list[tuple[int | None, str]] = []
    for error in exc.errors(include_url=False):
        loc = _data_path(prefix + tuple(error["loc"]))
        message = plain_message(error["msg"])
        if error["type"] == "string_pattern_mismatch" and loc[:1] == ("targets",):
            message = f"{short(error['input'])} is not a valid resource id ({ID_RULE})"
        if error["type"] == "unknown_change":
            given = (
                next(iter(error["input"]), "?")
                if isinstance(error["input"], dict)
                else error["input"]
            )
            message = f"unknown change kind {short(given)}; {message}"
        if error["type"] == "extra_forbidden" and loc[:1] == ("options",) and len(loc) == 2:
            message = f"unknown option; the options are {', '.join(Options.model_fields)}"
        where = ".".join(str(p) for p in loc)
        problems.append((lines.line(loc), f"{where}: {message}" if where else message))
    return problems


def _data_path(loc: tuple[Any, ...]) -> tuple[Any, ...]:
    """Drop what pydantic adds to a location that the document does not have (union tags)."""
    out: list[Any] = []
    for i, part in enumerate(loc):
        previous = loc[i - 1] if i else None
        if isinstance(part, str) and i + 1 < len(loc) and loc[i + 1] == part:
            continue  # a change kind's tag, followed by its field of the same name
        if previous == "targets" and part in ("inline", "file", "query"):
            continue
        if isinstance(previous, int) and out[-2:-1] == ["targets"] and part in ("id", "spec"):
            continue
        out.append(part)
    return tuple(out)


def iter_targets(loaded: LoadedJob) -> Iterator[Target]:
    """Yield the job's targets: inline, from CSV (an ``id`` column) or from a text file."""
    targets = loaded.job.targets
    if isinstance(targets, TargetsQuery):
        return  # resolved when the run starts (PreparedJob.resolve_targets)
    if not isinstance(targets, TargetsFile):
        for index, item in enumerate(targets):
            line = loaded.lines.line(("targets", index))
            spec = TargetSpec(id=item) if isinstance(item, str) else item
            yield Target(spec.id, spec.vars, str(loaded.path), line)
        return
    path = loaded.targets_path()
    assert path is not None
    line = loaded.lines.line(("targets", "file"))
    yield from read_targets_file(path, loaded.path, line)
