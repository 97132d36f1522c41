"""What the log keeps of a plan beyond its ops: before-images and the write-ahead ``intent``.

An ``intent`` record is written just before a target's first request that changes anything,
with the ops and their before-images. If the process dies with that request in flight, the
log still says what may have been applied, and ``bulkflow undo`` can take it back.
"""

from __future__ import annotations

from bulkflow.engine.target import Outcome
from bulkflow.job.targets import Target
from bulkflow.records.resultlog import ResultSink, utc_now
from bulkflow.secrets import Redactor
from bulkflow.undo.images import recorded_images


class Journal:
    """Writes a target's ``intent`` record to the run's log before its changes are sent."""

    def __init__(self, sink: ResultSink, redactor: Redactor, resource: str) -> None:
        self.sink = sink
        self.redactor = redactor
        self.resource = resource

    def __call__(self, target: Target, outcome: Outcome) -> None:
        """Record what is about to be sent to ``target``."""
        mask = self.redactor.text
        self.sink.write(
            {
                "type": "intent",
                "id": mask(target.id),
                "resource": self.resource,
                "sandbox": target.sandbox,
                "etag_before": None if outcome.etag_before is None else mask(outcome.etag_before),
                "ops": self.redactor.ops(outcome.ops),
                "before": recorded_images(self.redactor, outcome.ops, outcome.images),
                "action": outcome.action,
                "state_before": outcome.state_before,
                "at": utc_now(),
            }
        )
