"""``--sim``: a simulator in this process, seeded so that every target of the job exists.

The simulator imports nothing from the rest of bulkflow; what it should hold for a job (which
shape of flow the job's changes expect) is decided here.
"""

from __future__ import annotations

import contextlib
import secrets
import uuid
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

from pydantic import SecretStr

from bulkflow.flowservice.settings import Settings
from bulkflow.job.changes import kind_of, spec_of
from bulkflow.job.jobfile import Job
from bulkflow.job.prepare import PreparedJob
from bulkflow.job.targets import Key
from bulkflow.undo.history import UndoSource, undo_chain
from bulkflow.undo.inverse import Applied

MAX_SEEDED_SANDBOXES = 10
RUN_INTERVAL_S = 1.0  # flows run this often, so that --soak has runs to read
# The generated shapes a replayed run may have found, tried in turn until its changes apply.
REPLAY_SHAPES = {
    "flows": ("destination", "source"),
    "targetConnections": ("s3", "sftp", "s3-dataset"),
}

if TYPE_CHECKING:
    from bulkflow.sim import Simulator


def shape_for(job: Job) -> str:
    """Which kind of generated document a job's changes expect (``--sim``, ``bulkflow sim``)."""
    if job.resource == "targetConnections":
        return _export_shape(job)
    kinds = {kind_of(c) for c in job.changes}
    if kinds & {
        "add_segment",
        "remove_segment",
        "add_profile_attribute",
        "remove_profile_attribute",
    }:
        return "destination"
    paths = [getattr(spec_of(c), "path", "") for c in job.changes]
    if "set_mapping" in kinds or any(str(p).startswith("/scheduleParams") for p in paths):
        return "source"
    return "destination"


def _export_shape(job: Job) -> str:
    """An SFTP or dataset export when the changes name their fields, else an S3 CSV export."""
    text = " ".join(str(spec_of(c)) for c in job.changes)
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
        shape = shape_for(job.job)
        for other in (job.job.sandboxes or [])[:MAX_SEEDED_SANDBOXES]:
            if other != sandbox:  # a query over several sandboxes finds resources in each
                _seed_sandbox(sim, job.job.resource, other, generated, shape)
        chain = undo_chain(undo) if undo is not None else []
        for target in job.targets():
            if target.sandbox is not None:  # a targets CSV's other sandboxes exist there
                docs = sim.store.docs(target.sandbox, job.job.resource)
                docs.setdefault(target.id, sim.store.build(job.job.resource, target.id, shape))
            else:
                sim.store.ensure(job.job.resource, target.id, shape)
            if undo is not None:
                _replay(sim, chain, job.job.resource, target.key)
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


def _seed_sandbox(sim: Simulator, kind: str, sandbox: str, count: int, shape: str) -> None:
    """``count`` generated resources in another sandbox, with ids of their own."""
    for number in range(count):
        doc_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"bulkflow-sim:{sandbox}:{number}"))
        sim.store.put(kind, sim.store.build(kind, doc_id, shape), sandbox=sandbox)


def _replay(sim: Simulator, chain: list[UndoSource], kind: str, key: Key) -> None:
    """Make the run's recorded changes to one generated target, oldest first."""
    from bulkflow.sim.store import PatchRejected

    sandbox, target_id = key[0] or sim.config.sandbox, key[1]
    for shape in REPLAY_SHAPES.get(kind, ("default",)):
        sim.store.docs(sandbox, kind)[target_id] = sim.store.build(kind, target_id, shape)
        try:
            for applied in _history(chain, key):
                if applied.ops:
                    sim.store.patch(sandbox, kind, target_id, applied.ops, "bulkflow")
                if applied.action is not None and kind == "flows":
                    state = "enabled" if applied.action == "enable" else "disabled"
                    sim.store.set_state(sandbox, target_id, state, "bulkflow")
        except PatchRejected:
            continue  # the run's changes fit another shape of document
        return


def _history(chain: list[UndoSource], key: Key) -> list[Applied]:
    """Everything the logs say happened to a target, oldest first."""
    return [applied for source in chain for applied in reversed(source.history(key))]
