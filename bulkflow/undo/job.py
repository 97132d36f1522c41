"""An undo as the engine runs it: a job whose targets are the ones a log says were changed."""

from __future__ import annotations

from typing import Any, cast, get_args

from bulkflow.errors import InputError
from bulkflow.job.jobfile import Job, LoadedJob, Options
from bulkflow.job.prepare import PreparedJob
from bulkflow.job.sourcemap import SourceMap
from bulkflow.job.targets import Target
from bulkflow.undo.history import UndoSource


def undo_job(source: UndoSource) -> PreparedJob:
    """A prepared job for undoing ``source``: no changes of its own (the inverse of each
    target's history is planned per target), its targets the log's changed ones."""
    sandbox = source.header.get("sandbox")
    if source.resource not in get_args(Job.model_fields["resource"].annotation):
        raise InputError(
            f"the log's run changed {source.resource!r}: not a resource bulkflow knows", source.path
        )
    job = Job.model_construct(
        version=1,
        name=source.job_name,
        resource=cast(Any, source.resource),
        sandbox=sandbox if isinstance(sandbox, str) and sandbox else None,
        vars={},
        secrets={},
        targets=[],
        changes=[],
        options=Options(),
    )
    loaded = LoadedJob(job, source.path, {"changes": []}, SourceMap(None), source.digest)
    prepared = PreparedJob(loaded, {}, 0)
    prepared.undo_of = source.path
    where = str(source.path)
    prepared.use_targets(
        [Target(i, {}, where, None, sandbox) for sandbox, i in source.target_keys()]
    )
    return prepared
