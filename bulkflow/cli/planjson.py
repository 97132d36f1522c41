"""``plan --format json``: the whole plan as one JSON document, for CI gates and other tools.

Like ``terraform show -json``: per target its id, name, status, the actions it would take, the
operations, and for each operation the value before and after at the path it touches; then the
counts and the format version. ``docs/plan.schema.json`` describes the document and says what
each field means.

Nothing in it holds a secret: operations are the result record's (masked); a value under
``/auth/params`` reads ``"***"`` before and after; every other value is masked for each secret
the process knows, as all output is.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from bulkflow._version import __version__
from bulkflow.engine.pool import Summary
from bulkflow.engine.target import current
from bulkflow.plantext import UNKNOWN
from bulkflow.records.resultlog import ResultRecord, Status
from bulkflow.secrets import MASK, REGISTRY, is_sensitive_change

#: The document's ``format_version``: raised when a field changes meaning or goes away.
FORMAT_VERSION = 1
#: The statuses a dry run ends targets with.
PLAN_STATUSES = (Status.PLANNED, Status.UNCHANGED, Status.FAILED)


class PlanDocument:
    """Collects each planned target (an engine observer) and writes the document at the end."""

    def __init__(self) -> None:
        self.targets: list[dict[str, Any]] = []

    def target_done(self, record: ResultRecord) -> None:
        """Keep one finished target, with the values its operations replace."""
        # The engine tells its observer in the worker that ran the target, where ``current``
        # still holds that target's outcome: what the fetched document held at each path.
        outcome = current.get()
        before = outcome.before if outcome is not None else []
        action = outcome.action if outcome is not None else None
        self.targets.append(_target(record, before, action))

    def document(self, summary: Summary, run: Mapping[str, Any]) -> dict[str, Any]:
        """The plan as one document; ``run`` is the run's identity (job, environment, operator)."""
        counts = {s.value: summary.counts.get(s, 0) for s in PLAN_STATUSES}
        body = {
            "format_version": FORMAT_VERSION,
            "bulkflow": __version__,
            "run": {k: v for k, v in run.items() if k != "bulkflow"},
            "complete": not summary.interrupted and summary.unreachable is None,
            "counts": counts | {"total": summary.total},
            "targets": sorted(self.targets, key=lambda t: t["id"]),
        }
        masked: dict[str, Any] = REGISTRY.data(body)
        return masked

    def dumps(self, summary: Summary, run: Mapping[str, Any]) -> bytes:
        """The document as indented JSON with a final line break."""
        return orjson.dumps(self.document(summary, run), option=orjson.OPT_INDENT_2) + b"\n"


def _target(record: ResultRecord, before: list[Any], action: str | None) -> dict[str, Any]:
    ops = record["ops"]
    planned = record["status"] == Status.PLANNED
    actions = (["patch"] if ops else []) + ([action] if action else [])
    return {
        "id": record["id"],
        "name": record["name"],
        "status": str(record["status"]),
        "actions": actions if planned else [],
        "ops": ops if planned else [],
        "changes": [_change(op, before, i) for i, op in enumerate(ops)] if planned else [],
        "lines": record["changes"] if planned else [],
        "error": record["error"],
    }


def _change(op: Mapping[str, Any], before: list[Any], index: int) -> dict[str, Any]:
    """What one operation does at its path: the value there before, and after (when any)."""
    path = str(op["path"])
    was = before[index] if index < len(before) else UNKNOWN
    sensitive = is_sensitive_change(path, op.get("value"), None if was is UNKNOWN else was)
    change: dict[str, Any] = {"op": op["op"], "path": path, "sensitive": sensitive}
    if was is not UNKNOWN:
        change["before"] = MASK if sensitive else REGISTRY.data(was)
    if op["op"] in ("add", "replace"):
        change["after"] = MASK if sensitive else op.get("value")
    return change
