"""A job ready to run: secrets read, every target checked, changes rendered per target.

:func:`prepare` reads the secrets and walks every target once, rendering its changes, so
duplicate ids, undefined names and missing secrets are all reported with file and line before
the first request.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from pydantic import SecretStr, TypeAdapter, ValidationError

from bulkflow.errors import InputError, Problem
from bulkflow.job.changes import CHANGE_KINDS, KINDS_FOR, Change, kind_of, spec_of
from bulkflow.job.jobfile import (
    LoadedJob,
    QuerySpec,
    TargetsQuery,
    by_line,
    iter_targets,
    problems_of,
)
from bulkflow.job.targets import Key, Target
from bulkflow.job.templates import Renderer, TemplateError, has_template
from bulkflow.secrets import REGISTRY, Redactor, secret_reference

_CHANGES = TypeAdapter(list[Change])


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
        self._resolved: list[Target] | None = None
        #: The sandboxes a job over several runs in, in order (None: one sandbox).
        self.sandbox_order: list[str] | None = loaded.job.sandboxes
        #: For an undo: the log whose changes it takes back (its path is ``loaded.path``).
        self.undo_of: Path | None = None

    @property
    def query(self) -> QuerySpec | None:
        """The query that picks the targets, when the job has one."""
        targets = self.job.targets
        return targets.query if isinstance(targets, TargetsQuery) else None

    def use_targets(self, targets: list[Target]) -> None:
        """The targets a query resolved to (or that a log recorded for it)."""
        self._resolved = list(targets)
        self.target_count = len(self._resolved)
        named = [t.sandbox for t in self._resolved if t.sandbox is not None]
        if named and not self.job.sandboxes:  # a query's sandboxes stay, found empty or not
            self.sandbox_order = list(dict.fromkeys(named))

    def targets(self) -> Iterator[Target]:
        """Stream the targets in file order (the file is read again, not kept in memory)."""
        if self._resolved is not None:
            return iter(self._resolved)
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
    problems += _check_resource(loaded) + _check_contradictions(loaded) + _check_sandboxes(loaded)
    if problems:
        raise InputError("invalid job", loaded.path, problems=by_line(problems))
    prepared = PreparedJob(loaded, secrets, 0)
    if prepared.query is not None:
        # The targets are known only once the query runs; check the templates without them.
        found = _render_problems(prepared, Target("query-target", {}, "query", None))
        if found:
            problems = [(line, f"target query-target: {text}") for line, text in found]
            raise InputError("invalid job", loaded.path, problems=problems)
        return prepared
    prepared.target_count = _check_targets(prepared)
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
    fitting = KINDS_FOR[resource]
    for index, change in enumerate(loaded.job.changes):
        kind = kind_of(change)
        if kind not in fitting:
            listed = ", ".join(k for k in CHANGE_KINDS if k in fitting)
            message = f"changes.{index}: {kind} does not apply to resource {resource!r} (its changes: {listed})"
            problems.append((loaded.lines.line(("changes", index)), message))
    return problems


def _check_sandboxes(loaded: LoadedJob) -> list[tuple[int | None, str]]:
    """``sandboxes`` goes with query targets only (ids differ per sandbox), once each."""
    job = loaded.job
    if job.sandboxes is None:
        return []
    line = loaded.lines.line(("sandboxes",))
    problems: list[tuple[int | None, str]] = []
    if job.sandbox is not None:
        problems.append((line, "give either sandbox or sandboxes, not both"))
    twice = sorted({s for s in job.sandboxes if job.sandboxes.count(s) > 1})
    if twice:
        problems.append((line, f"sandboxes names {', '.join(twice)} more than once"))
    if not isinstance(job.targets, TargetsQuery):
        problems.append(
            (
                line,
                "sandboxes needs query targets: ids differ per sandbox (to list ids, give a "
                "targets CSV a sandbox column)",
            )
        )
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
    """Walk every target once: duplicates and template problems; returns how many there are.

    Only the ids are kept (as a set), so a 100,000-line targets file costs a few MB; where a
    duplicate was first listed is found by a second pass, only when there is one.
    """
    # The same problem for many targets (a variable no CSV row defines) is reported once.
    same: dict[tuple[int | None, str], list[str]] = {}
    seen: set[Key] = set()
    sandboxes: dict[str, None] = {}
    duplicates: list[Target] = []
    count = 0
    for target in prepared.targets():
        count += 1
        if target.key in seen:
            duplicates.append(target)
        seen.add(target.key)
        for found in _render_problems(prepared, target) + _sandbox_problems(prepared, target):
            same.setdefault(found, []).append(target.id)
        if target.sandbox is not None:
            sandboxes[target.sandbox] = None
        if len(same) + len(duplicates) >= 20:
            break
    problems: list[Problem] = [
        (line, f"{_named(ids)}: {text}") for (line, text), ids in same.items()
    ]
    problems += _duplicate_problems(prepared, duplicates)
    if problems:
        raise InputError("invalid targets", prepared.loaded.path, problems=problems)
    if count == 0:
        where = prepared.loaded.lines.line(("targets",))
        raise InputError("the job lists no targets", prepared.loaded.path, where)
    prepared.sandbox_order = list(sandboxes) or None
    return count


def _sandbox_problems(prepared: PreparedJob, target: Target) -> list[tuple[int | None, str]]:
    """A job that names its one sandbox cannot also take sandboxes from its targets CSV."""
    if target.sandbox is not None and prepared.job.sandbox is not None:
        line = prepared.loaded.lines.line(("sandbox",))
        return [(line, "the targets CSV names each target's sandbox: drop the job's sandbox key")]
    return []


def _duplicate_problems(prepared: PreparedJob, duplicates: list[Target]) -> list[Problem]:
    if not duplicates:
        return []
    first: dict[Key, Target] = {}
    for target in prepared.targets():
        first.setdefault(target.key, target)
    return [
        (
            target.line,
            f"duplicate target id {target.id!r} (first at {first[target.key].source}:{first[target.key].line})",
            target.source,
        )
        for target in duplicates
    ]


def _named(ids: list[str]) -> str:
    """``target a``, ``targets a and b``, ``targets a, b and 3 more``."""
    if len(ids) == 1:
        return f"target {ids[0]}"
    if len(ids) == 2:
        return f"targets {ids[0]} and {ids[1]}"
    return f"targets {ids[0]}, {ids[1]} and {len(ids) - 2} more"


def _render_problems(prepared: PreparedJob, target: Target) -> list[tuple[int | None, str]]:
    """What rendering ``target``'s changes finds wrong, without the target's id."""
    try:
        prepared.changes_for(target)
    except TemplateError as exc:
        line = prepared.loaded.lines.line(("changes", *exc.path))
        return [(line, str(exc))]
    except ValidationError as exc:
        found = problems_of(exc, prepared.loaded.lines, ("changes",))
        return [(ln, f"after rendering, {msg}") for ln, msg in found]
    return []
