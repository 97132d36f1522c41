"""``--sim``: a simulator in this process, seeded so that every target of the job exists.

The simulator imports nothing from the rest of bulkflow; what it should hold for a job (which
shape of flow the job's changes expect) is decided here.
"""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

from pydantic import SecretStr

from bulkflow.flowservice.settings import Settings
from bulkflow.job.changes import kind_of, spec_of
from bulkflow.job.jobfile import Job
from bulkflow.job.prepare import PreparedJob

if TYPE_CHECKING:
    from bulkflow.sim import Simulator


def shape_for(job: Job) -> str:
    """Which kind of generated flow a job's changes expect (``--sim``, ``bulkflow sim``)."""
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


@contextlib.asynccontextmanager
async def simulator_for(job: PreparedJob) -> AsyncIterator[tuple[Simulator, Settings]]:
    """A simulator in this process, seeded so that every target of the job exists."""
    from bulkflow.sim import SimConfig, Simulator  # the server side, only for --sim

    sandbox = job.job.sandbox or "prod"
    # A query job names no ids: give the query a few hundred generated resources to select from.
    generated = 300 if job.query is not None else 0
    config = SimConfig(sandbox=sandbox, flows=generated, connections=generated // 10)
    async with Simulator(config) as sim:
        shape = shape_for(job.job)
        for target in job.targets():
            sim.store.ensure(job.job.resource, target.id, shape)
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
