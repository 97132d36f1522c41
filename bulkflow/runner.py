"""One run, wired: job → client → result log → engine (:func:`execute`).

Before any request the transport is checked, the secrets registered for masking, and the log
claimed (this job's, the same kind of run, not held by another process); then the token is
fetched, a query resolved, a saved plan's etags checked, and the engine started.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import aiohttp
import structlog

from bulkflow._version import __version__
from bulkflow.engine.pool import Engine, Observer, Summary, TargetStrategy
from bulkflow.engine.saved import SavedPlanApply
from bulkflow.engine.target import TargetPath, count_retry
from bulkflow.flowservice.auth import token_source
from bulkflow.flowservice.client import FlowClient
from bulkflow.flowservice.pacing import Pacer
from bulkflow.flowservice.query import run_query
from bulkflow.flowservice.retry import RetryPolicy
from bulkflow.flowservice.settings import Settings, check_transport
from bulkflow.job.prepare import PreparedJob
from bulkflow.job.targets import Target
from bulkflow.records.resultlog import (
    LogState,
    ResultLog,
    check_owner,
    discard_if_empty,
    read_log_state,
    utc_now,
)
from bulkflow.records.savedplan import PlanRecorder, check_plan_etags
from bulkflow.runconfig import RunConfig
from bulkflow.secrets import REGISTRY

if TYPE_CHECKING:
    pass

log = structlog.get_logger("bulkflow.runner")


@dataclass(frozen=True)
class RunPlan:
    """Everything a run needs besides the job: its configuration and where it writes.

    ``earlier`` is the log at ``log_path`` as read before the run (``retry`` and ``--resume``
    read it to rebuild the configuration); when None, :func:`execute` reads it itself.
    """

    config: RunConfig
    log_path: Path
    resume: bool = False
    sim: bool = False
    only: frozenset[str] | None = None
    force: bool = False
    earlier: LogState | None = None
    saved: dict[str, dict[str, Any]] | None = None  # a reviewed plan's targets, by id (apply)


class RunControl:
    """A running job's handles for the outside: pacing figures, a graceful stop, and (for
    ``plan --out``) the recorder the planned targets go to.

    The first :meth:`request_stop` lets in-flight targets finish; a second stops at once.
    """

    def __init__(self, pacer: Pacer, recorder: PlanRecorder | None = None) -> None:
        self.pacer = pacer
        self.recorder = recorder
        self.engine: Engine | None = None
        self.stop_requests = 0

    def request_stop(self) -> None:
        """Stop starting targets (first call) or stop now (second call)."""
        self.stop_requests += 1
        if self.engine is not None:
            self.engine.request_stop(now=self.stop_requests > 1)


def _pending(job: PreparedJob, skip: set[str], only: frozenset[str] | None) -> Iterator[Target]:
    return (t for t in job.targets() if t.id not in skip and (only is None or t.id in only))


def header(job: PreparedJob, plan: RunPlan) -> dict[str, Any]:
    """The log's first line for this run, with the run's whole configuration."""
    config = plan.config
    return {
        "type": "run",
        "run_id": uuid.uuid4().hex,
        "job": job.job.name,
        "job_file": str(job.loaded.path),
        "job_file_abs": str(job.loaded.path.resolve()),
        "digest": job.loaded.digest,
        "resource": job.job.resource,
        "dry_run": config.dry_run,
        "resume": plan.resume,
        "sim": plan.sim,
        "apply": config.plan_file,
        "config": config.header(),
        "targets": job.target_count,
        "started_at": utc_now(),
        "bulkflow": __version__,
    }


async def execute(
    job: PreparedJob,
    settings: Settings,
    plan: RunPlan,
    observer: Observer | None = None,
    control: RunControl | None = None,
) -> Summary:
    """Run ``job`` against ``settings``' Flow Service, writing ``plan.log_path``.

    Before any request: the transport is checked, and the log must be this job's (or new),
    of the same kind of run, and not held by another process.
    """
    config = plan.config
    try:
        guard(settings)
        earlier = plan.earlier if plan.earlier is not None else read_log_state(plan.log_path)
        check_owner(earlier, job.job.name, job.loaded.digest, config.dry_run, plan.force, plan.sim)
    except BaseException:
        discard_if_empty(plan.log_path)
        raise
    if plan.resume and earlier is not None and earlier.torn_lines:
        log.warning("log.torn_lines", path=str(plan.log_path), lines=earlier.torn_lines)
    control = control or RunControl(Pacer(config.concurrency, config.rate_per_s))
    with ResultLog(plan.log_path) as sink:
        try:
            return await _run(job, settings, plan, _Context(earlier, sink, control, observer))
        finally:
            sink.discard_if_unused()


@dataclass(frozen=True)
class _Context:
    """What one run holds besides the job and its plan."""

    earlier: LogState | None
    sink: ResultLog
    control: RunControl
    observer: Observer | None


async def _run(job: PreparedJob, settings: Settings, plan: RunPlan, ctx: _Context) -> Summary:
    config = plan.config
    # aiohttp's total timeout also counts waiting for a pooled connection: a pool as large as
    # the worker count keeps that wait at zero.
    connector = aiohttp.TCPConnector(limit=config.concurrency, limit_per_host=config.concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:
        client = await open_client(session, settings, job, config, ctx.control.pacer)
        resolved = await resolve_query(job, client, plan, ctx.earlier)
        if plan.saved is not None:  # with --replan, the changed targets are planned afresh
            tolerate = config.skip_stale or config.replan
            await check_plan_etags(client, job, plan.saved, tolerate, config.plan_file)
        skip = ctx.earlier.done() if plan.resume and ctx.earlier is not None else set()
        started = header(job, plan) | {
            "skipped": len(skip),
            "torn_lines_closed": ctx.sink.close_torn_line(),
        }
        if resolved is not None:
            started["resolved_targets"] = [REGISTRY.text(target_id) for target_id in resolved]
        ctx.sink.write(started)
        shown = {k: v for k, v in started.items() if k not in ("type", "resolved_targets")}
        log.info("run.started", **shown)
        control = ctx.control
        strategy = _strategy(job, client, plan, control)
        engine = control.engine = Engine(job, client, ctx.sink, config, ctx.observer, strategy)
        if control.stop_requests:
            engine.request_stop()
        try:
            return await engine.run(_pending(job, skip, plan.only))
        finally:
            _finish(engine, control, ctx.sink, len(skip))


def _strategy(
    job: PreparedJob, client: FlowClient, plan: RunPlan, control: RunControl
) -> TargetStrategy:
    """How each target is worked on: fetched and planned, or sent as a reviewed plan says."""
    on_planned = control.recorder.add if control.recorder is not None else None
    path = TargetPath(job, client, plan.config, on_planned)
    return path if plan.saved is None else SavedPlanApply(plan.saved, path)


def guard(settings: Settings) -> None:
    """Refuse unsafe transport, and register the credentials so that no output shows them."""
    check_transport(settings)
    for secret in (settings.client_secret, settings.access_token):
        if secret is not None:
            REGISTRY.add(secret.get_secret_value())


async def open_client(
    session: aiohttp.ClientSession,
    settings: Settings,
    job: PreparedJob,
    config: RunConfig,
    pacer: Pacer | None = None,
) -> FlowClient:
    """A client with a token already in hand: bad credentials fail here, before any target."""
    tokens = token_source(session, settings, config.timeout_s)
    await tokens.token()
    sandbox = job.job.sandbox or settings.sandbox
    policy = RetryPolicy(
        max_attempts=config.max_retries + 1, max_retry_after_s=config.max_retry_after_s
    )
    return FlowClient(
        session, settings, tokens, sandbox, policy, config.timeout_s, count_retry, pacer
    )


def _finish(engine: Engine, control: RunControl, sink: ResultLog, skipped: int) -> None:
    """Write the closing summary line, also when the run was interrupted."""
    engine.summary.throttled = control.pacer.throttled
    engine.summary.lowest_concurrency = control.pacer.adaptive.lowest
    engine.summary.gateway_rate_per_s = control.pacer.gateway_rate_per_s()
    engine.summary.skipped = skipped
    final = engine.summary.as_record()
    sink.write(final)
    log.info("run.summary", **{k: v for k, v in final.items() if k != "type"})


async def resolve_query(
    job: PreparedJob, client: FlowClient, plan: RunPlan, earlier: LogState | None = None
) -> list[str] | None:
    """For a query job, the ids to work on: asked of the service, or taken from the log.

    A resume (or retry, or apply) keeps to the set the first run resolved, even if the query
    would now answer differently.
    """
    query = job.query
    if query is None:
        return None
    header = earlier.header if earlier is not None else None
    recorded = header.get("resolved_targets") if header is not None else None
    if plan.only is not None:
        # A retry keeps to what the query selected then, whatever else the log names.
        chosen = plan.only & set(map(str, recorded)) if isinstance(recorded, list) else plan.only
        ids = sorted(chosen)
    elif plan.resume and isinstance(recorded, list):
        ids = [str(target_id) for target_id in recorded]
    else:
        selected = await run_query(client, job.job.resource, query.property, query.limit)
        ids = [item.id for item in selected]
    from_log = plan.only is None and plan.resume and isinstance(recorded, list)
    log.info("run.targets_resolved", targets=len(ids), from_log=from_log)
    job.use_targets([Target(target_id, {}, "query", None) for target_id in ids])
    return ids
