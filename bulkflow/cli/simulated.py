"""``--sim``: a simulator in this process, seeded so that every target of the job exists.

The simulator imports nothing from the rest of bulkflow; what it should hold for a job (which
shape of flow the job's changes expect) is decided here.
"""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import SecretStr

from bulkflow.errors import InputError
from bulkflow.flowservice.settings import Settings
from bulkflow.job.changes import kind_of, spec_of
from bulkflow.job.prepare import PreparedJob
from bulkflow.undo.history import UndoSource, read_source
from bulkflow.undo.inverse import Applied

MAX_UNDO_CHAIN = 10  # an undo of an undo of ... of a run
RUN_INTERVAL_S = 1.0  # flows run this often, so that --soak has runs to read
# The generated shapes a replayed run may have found, tried in turn until its changes apply.
REPLAY_SHAPES = {
    "flows": ("destination", "source"),
    "targetConnections": ("s3", "sftp", "s3-dataset"),
}

if TYPE_CHECKING:
    from bulkflow.sim import Simulator


def _shape(job: PreparedJob) -> str:
    """Which kind of generated document the job's changes expect, for ``--sim``."""
    if job.job.resource == "targetConnections":
        return _export_shape(job)
    kinds = {kind_of(c) for c in job.job.changes}
    if kinds & {
        "add_segment",
        "remove_segment",
        "add_profile_attribute",
        "remove_profile_attribute",
    }:
        return "destination"
    paths = [getattr(spec_of(c), "path", "") for c in job.job.changes]
    if "set_mapping" in kinds or any(str(p).startswith("/scheduleParams") for p in paths):
        return "source"
    return "destination"


def _export_shape(job: PreparedJob) -> str:
    """An SFTP or dataset export when the changes name their fields, else an S3 CSV export."""
    text = " ".join(str(spec_of(c)) for c in job.job.changes)
    if "remotePath" in text:
        return "sftp"
    return "s3-dataset" if "datasetFileType" in text else "s3"


@contextlib.asynccontextmanager
async def simulator_for(
    job: PreparedJob, undo: UndoSource | None = None
) -> AsyncIterator[tuple[Simulator, Settings]]:
    """A simulator in this process, seeded so that every target of the job exists.

    For an undo of a ``--sim`` run (whose simulator ended with it), the targets are first
    brought to where that run left them: generated as it found them (the same seed gives the
    same documents), then the log's changes replayed.
    """
    from bulkflow.sim import SimConfig, Simulator  # the server side, only for --sim

    sandbox = job.job.sandbox or "prod"
    # A query job names no ids: give the query a few hundred generated resources to select from.
    generated = 300 if job.query is not None else 0
    config = SimConfig(
        sandbox=sandbox,
        flows=generated,
        connections=generated // 10,
        target_connections=generated,
        source_connections=generated // 3,
        run_interval_s=RUN_INTERVAL_S,
    )
    async with Simulator(config) as sim:
        shape = _shape(job)
        for target in job.targets():
            sim.store.ensure(job.job.resource, target.id, shape)
            if undo is not None:
                _replay(sim, undo, job.job.resource, target.id)
        settings = Settings(
            base_url=sim.base_url,
            ims_url=sim.ims_url,
            client_id="bulkflow-sim",
            client_secret=SecretStr(secrets.token_urlsafe(16)),
            org_id="SIMULATOR@AdobeOrg",
            sandbox=sandbox,
            access_token=None,
        )
        yield sim, settings


def _replay(sim: Simulator, undo: UndoSource, kind: str, target_id: str) -> None:
    """Make the run's recorded changes to one generated target, oldest first."""
    from bulkflow.sim.store import PatchRejected

    sandbox = sim.config.sandbox
    for shape in REPLAY_SHAPES.get(kind, ("default",)):
        sim.store.docs(sandbox, kind)[target_id] = sim.store.build(kind, target_id, shape)
        try:
            for applied in _history(undo, target_id):
                if applied.ops:
                    sim.store.patch(sandbox, kind, target_id, applied.ops, "bulkflow")
                if applied.action is not None and kind == "flows":
                    state = "enabled" if applied.action == "enable" else "disabled"
                    sim.store.set_state(sandbox, target_id, state, "bulkflow")
        except PatchRejected:
            continue  # the run's changes fit another shape of document
        return


def _history(undo: UndoSource, target_id: str, depth: int = 0) -> list[Applied]:
    """Everything the logs say happened to a target, oldest first: an undo's log is replayed
    after the log it undid (and so on, a few levels up)."""
    earlier: list[Applied] = []
    undone = undo.header.get("undo_of")
    if isinstance(undone, str) and depth < MAX_UNDO_CHAIN:
        with contextlib.suppress(InputError):
            earlier = _history(read_source(Path(undone)), target_id, depth + 1)
    return earlier + list(reversed(undo.history(target_id)))
