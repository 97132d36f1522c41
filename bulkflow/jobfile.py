"""The job file (contract §2): YAML or JSON into frozen models, targets, templates, secrets.

Loading checks the shape; :func:`prepare` then reads the secrets and walks every target once,
rendering its changes, so duplicate ids, undefined names and missing secrets are all reported
with file and line before the first request.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    SecretStr,
    Tag,
    TypeAdapter,
    ValidationError,
)

from bulkflow.changes import CONNECTION_ONLY, FLOW_ONLY, Change, kind_of, spec_of
from bulkflow.errors import InputError
from bulkflow.secrets import REGISTRY, Redactor, SecretSource, secret_reference
from bulkflow.sourcemap import DuplicateKeyError, SourceMap
from bulkflow.targets import TARGET_ID, Scalar, Target, read_targets_file
from bulkflow.templates import Renderer, TemplateError, has_template

_CHANGES = TypeAdapter(list[Change])


class Options(BaseModel):
    """Run options; command-line flags override them.

    Example::

        Options(concurrency=32, max_conflict_retries=5, timeout_s=30)
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    concurrency: int = Field(16, ge=1, le=512)
    max_conflict_retries: int = Field(5, ge=0, le=100)
    max_retries: int = Field(6, ge=0, le=50)
    timeout_s: float = Field(30.0, gt=0, le=600)
    max_retry_after_s: float = Field(120.0, gt=0)


class TargetSpec(BaseModel):
    """One inline target with its own template variables."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str = Field(pattern=TARGET_ID)
    vars: dict[str, Scalar] = {}


class TargetsFile(BaseModel):
    """``targets: {file: …}``: CSV with an ``id`` column, or one id per line."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    file: Path


TargetId = Annotated[str, Field(pattern=TARGET_ID)]


def _target_form(value: Any) -> str:
    return "file" if isinstance(value, dict | TargetsFile) else "inline"


def _inline_form(value: Any) -> str:
    return "id" if isinstance(value, str) else "spec"


InlineTarget = Annotated[
    Annotated[TargetId, Tag("id")] | Annotated[TargetSpec, Tag("spec")], Discriminator(_inline_form)
]
Targets = Annotated[
    Annotated[list[InlineTarget], Tag("inline")] | Annotated[TargetsFile, Tag("file")],
    Discriminator(_target_form),
]


class Job(BaseModel):
    """A whole job file."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    version: Literal[1]
    name: str = Field(pattern=r"^[A-Za-z0-9._-]+$", max_length=120)
    resource: Literal["flows", "connections"]
    sandbox: str | None = None
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
        targets = self.job.targets
        if not isinstance(targets, TargetsFile):
            return None
        return targets.file if targets.file.is_absolute() else self.base_dir / targets.file


def load_job(path: Path | str) -> LoadedJob:
    """Parse and check the shape of a job file; raises :class:`InputError` with file and line."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InputError(f"cannot read the job file: {exc.strerror}", path) from None
    text = data.decode("utf-8", errors="replace")
    try:
        lines = SourceMap(text)
        raw = yaml.safe_load(text)
    except DuplicateKeyError as exc:
        raise InputError(str(exc), path, exc.line) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        problem = getattr(exc, "problem", None) or str(exc)
        raise InputError(f"not valid YAML or JSON: {problem}", path, line) from None
    if not isinstance(raw, dict):
        raise InputError(
            "a job file is a mapping (version, name, resource, targets, changes)", path, 1
        )
    try:
        job = Job.model_validate(raw)
    except ValidationError as exc:
        raise InputError("invalid job", path, problems=_problems(exc, lines)) from None
    loaded = LoadedJob(job, path, raw, lines, "")
    return LoadedJob(job, path, raw, lines, _digest(data, loaded.targets_path()))


def _digest(job_bytes: bytes, targets: Path | None) -> str:
    digest = hashlib.sha256(job_bytes)
    if targets is not None and targets.is_file():
        digest.update(targets.read_bytes())
    return "sha256:" + digest.hexdigest()


def _problems(
    exc: ValidationError, lines: SourceMap, prefix: tuple[Any, ...] = ()
) -> list[tuple[int | None, str]]:
    problems: list[tuple[int | None, str]] = []
    for error in exc.errors(include_url=False):
        loc = _data_path(prefix + tuple(error["loc"]))
        message = error["msg"]
        if error["type"] == "string_pattern_mismatch" and loc[:1] == ("targets",):
            message = f"{error['input']!r} is not a valid resource id (letters, digits, '.', '_', ':', '-')"
        if error["type"] == "unknown_change":
            given = (
                next(iter(error["input"]), "?")
                if isinstance(error["input"], dict)
                else error["input"]
            )
            message = f"unknown change kind {given!r}; {message}"
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
        if previous == "targets" and part in ("inline", "file"):
            continue
        if isinstance(previous, int) and out[-2:-1] == ["targets"] and part in ("id", "spec"):
            continue
        out.append(part)
    return tuple(out)


class PreparedJob:
    """A job with its secrets read and every target's changes rendered once (checked)."""

    def __init__(self, loaded: LoadedJob, secrets: dict[str, SecretStr], target_count: int) -> None:
        self.loaded = loaded
        self.job = loaded.job
        self.secrets = secrets
        self.target_count = target_count
        for secret in secrets.values():
            REGISTRY.add(secret.get_secret_value())
        self.redactor: Redactor = REGISTRY
        self._renderer = Renderer()
        self._templated = has_template(loaded.raw["changes"])

    def targets(self) -> Iterator[Target]:
        """Stream the targets in file order (the file is read again, not kept in memory)."""
        return iter_targets(self.loaded)

    def changes_for(self, target: Target, secret_references: bool = False) -> list[Change]:
        """The job's changes with this target's variables and the secrets rendered in.

        With ``secret_references`` a secret renders as ``{{ secrets.NAME }}`` (for plan files).
        """
        if not self._templated:
            return list(self.job.changes)
        secrets = {
            k: (secret_reference(k) if secret_references else v.get_secret_value())
            for k, v in self.secrets.items()
        }
        context = {**self.job.vars, **target.vars, "secrets": secrets}
        rendered = self._renderer.render(self.loaded.raw["changes"], context)
        return _CHANGES.validate_python(rendered)


def prepare(loaded: LoadedJob) -> PreparedJob:
    """Read the secrets and check every target; raise one :class:`InputError` listing problems."""
    problems: list[tuple[int | None, str]] = []
    secrets = _read_secrets(loaded, problems)
    problems += _check_resource(loaded) + _check_contradictions(loaded)
    if problems:
        raise InputError("invalid job", loaded.path, problems=problems)
    prepared = PreparedJob(loaded, secrets, 0)
    count = _check_targets(prepared)
    prepared.target_count = count
    return prepared


def _read_secrets(
    loaded: LoadedJob, problems: list[tuple[int | None, str]]
) -> dict[str, SecretStr]:
    values: dict[str, SecretStr] = {}
    for name, source in loaded.job.secrets.items():
        try:
            values[name] = source.read(loaded.base_dir)
        except ValueError as exc:
            problems.append((loaded.lines.line(("secrets", name)), f"secret {name!r}: {exc}"))
    return values


def _check_resource(loaded: LoadedJob) -> list[tuple[int | None, str]]:
    problems: list[tuple[int | None, str]] = []
    resource = loaded.job.resource
    for index, change in enumerate(loaded.job.changes):
        kind = kind_of(change)
        wrong = (kind in FLOW_ONLY and resource != "flows") or (
            kind in CONNECTION_ONLY and resource != "connections"
        )
        if wrong:
            message = f"changes.{index}: {kind} does not apply to resource {resource!r}"
            problems.append((loaded.lines.line(("changes", index)), message))
    return problems


def _check_contradictions(loaded: LoadedJob) -> list[tuple[int | None, str]]:
    pairs = {"add_segment": "remove_segment", "add_profile_attribute": "remove_profile_attribute"}
    keys = {
        "add_segment": "id",
        "remove_segment": "id",
        "add_profile_attribute": "path",
        "remove_profile_attribute": "path",
    }
    seen: dict[tuple[str, str], int] = {}
    problems: list[tuple[int | None, str]] = []
    for index, change in enumerate(loaded.job.changes):
        kind = kind_of(change)
        if kind not in keys:
            continue
        value = getattr(spec_of(change), keys[kind])
        seen[(kind, value)] = index
        for add, remove in pairs.items():
            other = remove if kind == add else add if kind == remove else None
            if other and (other, value) in seen:
                message = f"changes.{index}: {kind} {value!r} contradicts changes.{seen[(other, value)]} ({other})"
                problems.append((loaded.lines.line(("changes", index)), message))
    return problems


def _check_targets(prepared: PreparedJob) -> int:
    problems: list[tuple[int | None, str]] = []
    seen: dict[str, str] = {}
    count = 0
    for target in prepared.targets():
        count += 1
        where = f"{target.source}:{target.line}"
        if target.id in seen:
            problems.append(
                (target.line, f"duplicate target id {target.id!r} (first at {seen[target.id]})")
            )
        else:
            seen[target.id] = where
        problems += _render_problems(prepared, target)
        if len(problems) >= 20:
            break
    if problems:
        raise InputError("invalid targets", prepared.loaded.path, problems=problems)
    if count == 0:
        raise InputError(
            "the job lists no targets",
            prepared.loaded.path,
            prepared.loaded.lines.line(("targets",)),
        )
    return count


def _render_problems(prepared: PreparedJob, target: Target) -> list[tuple[int | None, str]]:
    line = prepared.loaded.lines.line(("changes",))
    try:
        prepared.changes_for(target)
    except TemplateError as exc:
        return [(line, f"target {target.id}: {exc}")]
    except ValidationError as exc:
        found = _problems(exc, prepared.loaded.lines, ("changes",))
        return [(ln, f"target {target.id}: after rendering, {msg}") for ln, msg in found]
    return []


def iter_targets(loaded: LoadedJob) -> Iterator[Target]:
    """Yield the job's targets: inline, from CSV (an ``id`` column) or from a text file."""
    targets = loaded.job.targets
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
