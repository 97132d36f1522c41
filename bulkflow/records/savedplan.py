"""Saved plans (contract §5): what a reviewer approved, applied exactly or not at all.

``bulkflow plan JOB --out PLAN`` writes, per target that would change, its id and name, the
etag the plan was made against and the operations, with secret values as references
(``{{ secrets.NAME }}``) that ``bulkflow apply`` resolves again from the job's secret sources.
The file carries the job's digest and its own: an edited plan is refused.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Mapping
from itertools import islice
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol

import orjson
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from bulkflow.errors import InputError, StalePlanError
from bulkflow.job.prepare import PreparedJob
from bulkflow.job.targets import Target
from bulkflow.records.resultlog import utc_now, write_private
from bulkflow.secrets import REGISTRY
from bulkflow.undo.images import recorded_images

if TYPE_CHECKING:
    from bulkflow.flowservice.client import FlowClient

PLAN_FORMAT = 1
CHECK_BATCH = 100  # ids per list request (the list endpoint's largest page)
SHOWN_STALE = 20


class Planned(Protocol):
    """A target's plan as the engine hands it over (its ``Outcome``), read only."""

    @property
    def name(self) -> str | None: ...
    @property
    def ops(self) -> list[dict[str, Any]]: ...
    @property
    def images(self) -> list[dict[str, Any]] | None: ...
    @property
    def changes(self) -> list[str]: ...
    @property
    def action(self) -> str | None: ...
    @property
    def state_before(self) -> str | None: ...
    @property
    def note(self) -> Mapping[str, object] | None: ...
    @property
    def warnings(self) -> list[str]: ...


class PlanRecorder:
    """Collects the planned targets of a dry run for the plan file."""

    def __init__(self) -> None:
        self.entries: list[dict[str, Any]] = []

    def add(self, target: Target, planned: Planned, etag: str) -> None:
        """Keep one target's plan: its ops, what they replace, and any state action.

        Secrets stand in the ops as references; anything else that holds a secret value (a name
        or an etag a server echoed one into) is masked, so the plan file holds none.
        """
        mask = REGISTRY.text
        entry = {
            "id": mask(target.id),
            "name": None if planned.name is None else mask(planned.name),
            "etag": mask(etag),
            "ops": REGISTRY.data(planned.ops),
            "before": recorded_images(REGISTRY, planned.ops, planned.images),
            "changes": [mask(line) for line in planned.changes],
        }
        if target.sandbox is not None:
            entry["sandbox"] = target.sandbox
        if planned.action:
            entry |= {"action": planned.action, "state_before": planned.state_before}
        if planned.warnings:  # past a guardrail: ``apply --strict`` refuses it
            entry["warnings"] = [mask(warning) for warning in planned.warnings]
        if planned.note is not None:  # an undo's irreversible part, said again when applied
            entry["note"] = REGISTRY.data(dict(planned.note))
        self.entries.append(entry)


def _digest(body: dict[str, Any]) -> str:
    canonical = orjson.dumps(
        {k: v for k, v in body.items() if k != "digest"}, option=orjson.OPT_SORT_KEYS
    )
    return "sha256:" + hashlib.sha256(canonical).hexdigest()


def write_plan(
    path: Path,
    job: PreparedJob,
    recorder: PlanRecorder,
    counts: dict[str, int],
    undo_of: str | None = None,
) -> None:
    """Write the plan file (mode 0600), targets sorted by id so two plans diff cleanly.

    An undo's plan names the log it undoes (``undo_of``): ``apply`` plans from it, not a job.
    """
    body: dict[str, Any] = {
        "bulkflow_plan": PLAN_FORMAT,
        "job": job.job.name,
        "job_file": str(job.loaded.path.resolve()),
        "job_digest": job.loaded.digest,
        "resource": job.job.resource,
        "sandbox": job.job.sandbox,
        "created_at": utc_now(),
        "counts": counts,
        "targets": sorted(recorder.entries, key=lambda e: (e.get("sandbox") or "", e["id"])),
    }
    if undo_of is not None:
        body["undo_of"] = undo_of
    body["digest"] = _digest(body)
    write_private(path, orjson.dumps(body, option=orjson.OPT_INDENT_2) + b"\n")


class _Entry(BaseModel):
    """One planned target, as ``apply`` needs it."""

    model_config = ConfigDict(strict=True)

    id: str = Field(min_length=1)
    name: str | None = None
    etag: str = Field(min_length=1)
    ops: list[dict[str, Any]]
    changes: list[str] = []
    action: Literal["enable", "disable"] | None = None
    before: list[dict[str, Any]] | None = None
    state_before: str | None = None
    note: dict[str, Any] | None = None
    sandbox: str | None = None
    warnings: list[str] = []


class _PlanFile(BaseModel):
    """The fields of a plan file that ``apply`` relies on."""

    model_config = ConfigDict(strict=True)

    job: str
    job_file: str = Field(min_length=1)
    job_digest: str
    resource: str
    targets: list[_Entry]
    undo_of: str | None = None


def read_plan(path: Path) -> dict[str, Any]:
    """Read a plan file and check it is as written, and whole."""
    if path.exists() and not path.is_file():
        raise InputError("not a regular file (a plan is a JSON file)", path)
    try:
        body = orjson.loads(path.read_bytes())
    except OSError as exc:
        raise InputError(f"cannot read the plan: {exc.strerror}", path) from None
    except orjson.JSONDecodeError as exc:
        raise InputError(f"not a plan file (invalid JSON: {exc})", path) from None
    if not isinstance(body, dict) or body.get("bulkflow_plan") != PLAN_FORMAT:
        raise InputError("not a bulkflow plan file", path)
    if body.get("digest") != _digest(body):
        raise InputError(
            "the plan file was changed after it was written (digest mismatch); "
            "make a new plan with `bulkflow plan JOB --out PLAN` and review it again",
            path,
        )
    try:
        _PlanFile.model_validate(body)
    except ValidationError as exc:
        error = exc.errors(include_url=False, include_input=False)[0]
        where = ".".join(str(part) for part in error["loc"])
        raise InputError(f"not a usable plan file: {where}: {error['msg']}", path) from None
    seen = Counter((entry.get("sandbox") or "", entry["id"]) for entry in body["targets"])
    twice = sorted(target_id for (_, target_id), count in seen.items() if count > 1)
    if twice:
        raise InputError(f"the plan names a target twice: {', '.join(twice[:5])}", path)
    return body


async def check_plan_etags(
    client: FlowClient,
    job: PreparedJob,
    planned: dict[str, dict[str, Any]],
    skip_stale: bool,
    plan_file: str | None = None,
) -> dict[str, str]:
    """Compare every planned etag with the service's, 100 targets per list request.

    A plan is applied whole or not at all (as Terraform refuses a stale plan): when any target
    changed since the review, :class:`StalePlanError` says which, and nothing is sent. With
    ``skip_stale`` the changed ones are marked, to be recorded ``stale`` without a request.
    """
    stale: dict[str, str] = {}
    ids = iter(sorted(planned))
    while chunk := list(islice(ids, CHECK_BATCH)):
        found = await client.get_many(job.job.resource, chunk)
        for target_id in chunk:
            current = found.get(target_id)
            if current is None:
                stale[target_id] = "no longer exists"
            elif current[1] != planned[target_id]["etag"]:
                stale[target_id] = "changed since the plan was made"
    if stale and not skip_stale:
        raise StalePlanError(_stale_message(stale, len(planned), job, plan_file), stale)
    for target_id, reason in stale.items():
        planned[target_id] = planned[target_id] | {"stale": reason}
    return stale


def _stale_message(
    stale: dict[str, str], total: int, job: PreparedJob, plan_file: str | None
) -> str:
    lines = [f"{len(stale)} of {total} planned targets changed since the review; nothing was sent:"]
    lines += [f"  {target_id}: {reason}" for target_id, reason in list(stale.items())[:SHOWN_STALE]]
    if len(stale) > SHOWN_STALE:
        lines.append(f"  ... and {len(stale) - SHOWN_STALE} more")
    again = "undo" if job.undo_of is not None else "plan"
    lines.append(f"Make and review a new plan: bulkflow {again} {job.loaded.path} --out PLAN")
    lines.append(
        f"or apply the rest, recording these stale: bulkflow apply {plan_file or 'PLAN'} --skip-stale"
    )
    return "\n".join(lines)
