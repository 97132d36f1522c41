"""Saved plans (contract §5): what a reviewer approved, applied exactly or not at all.

``bulkflow plan JOB --out PLAN`` writes, per target that would change, its id and name, the
etag the plan was made against and the operations, with secret values as references
(``{{ secrets.NAME }}``) that ``bulkflow apply`` resolves again from the job's secret sources.
The file carries the job's digest and its own: an edited plan is refused.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import orjson
from pydantic import SecretStr

from bulkflow.errors import InputError
from bulkflow.prepare import PreparedJob
from bulkflow.resultlog import utc_now, write_private
from bulkflow.secrets import secret_reference

PLAN_FORMAT = 1


class PlanRecorder:
    """Collects the planned targets of a dry run for the plan file."""

    def __init__(self) -> None:
        self.entries: list[dict[str, Any]] = []

    def add(
        self,
        target_id: str,
        name: str | None,
        etag: str,
        ops: list[Any],
        changes: list[str],
        action: str | None = None,
    ) -> None:
        """Keep one target's plan (``action``: a flow state change to make after the ops)."""
        entry = {"id": target_id, "name": name, "etag": etag, "ops": ops, "changes": changes}
        self.entries.append(entry | ({"action": action} if action else {}))


def _digest(body: dict[str, Any]) -> str:
    canonical = orjson.dumps(
        {k: v for k, v in body.items() if k != "digest"}, option=orjson.OPT_SORT_KEYS
    )
    return "sha256:" + hashlib.sha256(canonical).hexdigest()


def write_plan(
    path: Path, job: PreparedJob, recorder: PlanRecorder, counts: dict[str, int]
) -> None:
    """Write the plan file (mode 0600), targets sorted by id so two plans diff cleanly."""
    body: dict[str, Any] = {
        "bulkflow_plan": PLAN_FORMAT,
        "job": job.job.name,
        "job_file": str(job.loaded.path.resolve()),
        "job_digest": job.loaded.digest,
        "resource": job.job.resource,
        "sandbox": job.job.sandbox,
        "created_at": utc_now(),
        "counts": counts,
        "targets": sorted(recorder.entries, key=lambda e: e["id"]),
    }
    body["digest"] = _digest(body)
    write_private(path, orjson.dumps(body, option=orjson.OPT_INDENT_2) + b"\n")


def read_plan(path: Path) -> dict[str, Any]:
    """Read a plan file and check it is as written."""
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
    return body


def resolve_references(value: Any, secrets: dict[str, SecretStr]) -> Any:
    """``value`` with every ``{{ secrets.NAME }}`` replaced by the secret (in memory only)."""
    if isinstance(value, str):
        for name, secret in secrets.items():
            reference = secret_reference(name)
            if reference in value:
                value = value.replace(reference, secret.get_secret_value())
        return value
    if isinstance(value, dict):
        return {k: resolve_references(v, secrets) for k, v in value.items()}
    if isinstance(value, list):
        return [resolve_references(v, secrets) for v in value]
    return value
