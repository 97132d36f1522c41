"""Undoing a run (``bulkflow undo LOG``): the ordinary target path with another planner.

Each target is fetched as it is now and the inverse of what the log says the run changed is
planned against it (:func:`bulkflow.undo.inverse.invert`), then sent like any plan: PATCH with
``If-Match``, then the state action; a 412 fetches and plans the inverse again.
"""

from __future__ import annotations

from typing import Any

from bulkflow.engine.target import Journal, OnPlanned, Outcome, TargetPath, before, seen
from bulkflow.errors import DriftedError, IrreversibleError
from bulkflow.flowservice.client import FlowClient
from bulkflow.job.prepare import PreparedJob
from bulkflow.job.targets import Target
from bulkflow.plantext import describe
from bulkflow.runconfig import RunConfig
from bulkflow.undo.history import UndoSource
from bulkflow.undo.inverse import Inverse, invert


class UndoPath(TargetPath):
    """Plans each target's inverse from its recorded history instead of the job's changes."""

    def __init__(
        self,
        job: PreparedJob,
        client: FlowClient,
        options: RunConfig,
        source: UndoSource,
        on_planned: OnPlanned | None = None,
        journal: Journal | None = None,
    ) -> None:
        super().__init__(job, client, options, on_planned, journal)
        self.source = source

    def _plan(self, target: Target, doc: dict[str, Any], etag: str, outcome: Outcome) -> bool:
        seen(doc, etag, outcome)
        inverse = invert(doc, self.source.history(target.key))
        outcome.note = None
        if inverse.drifts:
            raise DriftedError(_drifted(inverse))
        left = self.planned(doc, etag, outcome, inverse.ops, inverse.action)
        if inverse.irreversible and not left:
            raise IrreversibleError("not undoable: " + "; ".join(inverse.irreversible))
        if inverse.irreversible:
            why = "; ".join(inverse.irreversible)
            tense = "would be" if self.options.dry_run else "are"
            outcome.note = {
                "kind": "irreversible",
                "status": None,
                "message": f"the target's other changes {tense} reverted; not undoable: {why}",
            }
        return left

    async def check_credentials(self, target: Target) -> None:
        """Nothing to test: an undo never changes credentials."""

    def left_to_do(self, target: Target, doc: dict[str, Any]) -> list[str]:
        """What the read-back still holds of the run's changes (and where it drifted)."""
        inverse = invert(doc, self.source.history(target.key))
        state = [f"state still {doc.get('state')}"] if inverse.action else []
        return [describe(op, before(doc, op)) for op in inverse.ops] + state + inverse.drifts


def _drifted(inverse: Inverse) -> str:
    message = "changed since the run, left alone: " + "; ".join(inverse.drifts)
    if inverse.irreversible:
        message += "; not undoable either: " + "; ".join(inverse.irreversible)
    return message
