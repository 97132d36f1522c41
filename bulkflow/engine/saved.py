"""Applying a reviewed plan (``bulkflow apply``): a strategy given to the engine.

Each target's planned operations are sent exactly as reviewed, with ``If-Match`` set to the etag
the plan was made against. A 412 means the target changed since the review: it ends ``stale``,
untouched, unless re-planning was asked for (``--replan``), when the ordinary path fetches and
plans it again. Targets found changed before anything was sent (``--skip-stale``) end ``stale``
without a request.
"""

from __future__ import annotations

from typing import Any

import structlog

from bulkflow.engine.feed import Prefetched
from bulkflow.engine.target import Outcome, TargetPath
from bulkflow.errors import ConflictError
from bulkflow.guardrails import enforce
from bulkflow.job.targets import Key, Target
from bulkflow.records.resultlog import Status
from bulkflow.secrets import resolve_references

log = structlog.get_logger("bulkflow.engine.saved")


class SavedPlanApply:
    """Sends each target's reviewed operations; ``path`` re-plans when that is allowed."""

    wants_documents = False  # the plan holds what to send; a listed document would go unused

    def __init__(self, entries: dict[Key, dict[str, Any]], path: TargetPath) -> None:
        self.entries = entries
        self.path = path
        self.options = path.options

    async def attempts(
        self, target: Target, outcome: Outcome, prefetched: Prefetched | None
    ) -> Status:
        """The target's final status; raises :class:`TargetError` when it fails."""
        entry = self.entries.get(target.key)
        if entry is None:  # not in the plan: nothing was reviewed, so plan it as usual
            return await self.path.attempts(target, outcome, prefetched)
        outcome.name, outcome.etag_before = entry.get("name"), entry["etag"]
        outcome.changes = list(entry.get("changes", []))
        if "stale" in entry:  # found changed before anything was sent
            if self.options.replan:
                return await self.path.attempts(target, outcome, None)
            return _stale(target, outcome, f"{entry['stale']}; not applied", None)
        outcome.warnings = list(entry.get("warnings", []))
        enforce(outcome.warnings, self.options.strict)  # --strict: a guardrail fails it, unsent
        outcome.attempts += 1
        outcome.ops = resolve_references(entry["ops"], self.path.job.secrets)
        outcome.images = entry.get("before")
        outcome.action = entry.get("action")
        outcome.state_before = entry.get("state_before")
        outcome.note = entry.get("note")
        try:
            await self.path.send(target, entry["etag"], outcome)
        except ConflictError:
            if not self.options.replan:
                return _stale(target, outcome, "changed since the plan was made (412)", 412)
            log.info("target.stale", target=target.id, replan=True)
            return await self.path.attempts(target, outcome, None)
        if self.options.verify:
            await self.path.verify(target, outcome)
        return self.path.sent_status(outcome)


def _stale(target: Target, outcome: Outcome, why: str, status: int | None) -> Status:
    """A reviewed target that changed since the review: recorded, left alone, not re-planned."""
    log.info("target.stale", target=target.id, replan=False)
    message = f"{why}; review a new plan (bulkflow plan JOB --out PLAN), or apply with --replan"
    outcome.note = {"kind": "conflict", "status": status, "message": message}
    return Status.STALE
