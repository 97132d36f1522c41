"""One run, wired: job → client → result log → engine (:func:`execute`).

Before any request the transport is checked, the secrets registered for masking, and the log
claimed (this job's, the same kind of run, not held by another process); then the token is
fetched, a query resolved, a saved plan's etags checked, and the engine started.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import structlog

from bulkflow._version import __version__
from bulkflow.engine.journal import Journal
from bulkflow.engine.pool import Engine, Observer, Summary, TargetStrategy
from bulkflow.engine.saved import SavedPlanApply
from bulkflow.engine.target import TargetPath, count_retry
from bulkflow.engine.undo import UndoPath
from bulkflow.engine.waves import Rollout, check_waves, waves_for
from bulkflow.errors import InputError
from bulkflow.flowservice.auth import token_source
from bulkflow.flowservice.client import FlowClient
from bulkflow.flowservice.pacing import Pacer
from bulkflow.flowservice.query import run_query
from bulkflow.flowservice.retry import RetryPolicy
from bulkflow.flowservice.settings import Settings, check_transport
from bulkflow.job.prepare import PreparedJob
from bulkflow.job.targets import SANDBOX, Key, Target, check_id
from bulkflow.records.identity import identity
from bulkflow.records.resultlog import (
    LogState,
    ResultLog,
    Status,
    check_owner,
    discard_if_empty,
    read_log_state,
    utc_now,
)
from bulkflow.records.rollout import RolloutLog, read_rollout
from bulkflow.records.savedplan import PlanRecorder, check_plan_etags
from bulkflow.runconfig import RunConfig
from bulkflow.secrets import REGISTRY
from bulkflow.undo.history import UNDO_SUFFIX, UndoSource, read_source
from bulkflow.undo.job import undo_job

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
    only: frozenset[Key] | None = None
    force: bool = False
    earlier: LogState | None = None
    saved: dict[Key, dict[str, Any]] | None = None  # a reviewed plan's targets (apply)
    undo: UndoSource | None = None  # the log whose changes this run takes back (undo)


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


def _pending(
    job: PreparedJob, skip: set[Key], only: frozenset[Key] | None, sandbox: str | None
) -> Iterator[Target]:
    """The targets of one sandbox (None: all) not done yet and, for a retry, chosen."""
    return filter(_keep(skip, only, sandbox), job.targets())


def _keep(
    skip: set[Key], only: frozenset[Key] | None, sandbox: str | None = None
) -> Callable[[Target], bool]:
    return lambda t: (
        (sandbox is None or t.sandbox == sandbox)
        and t.key not in skip
        and (only is None or t.key in only)
    )


def header(job: PreparedJob, plan: RunPlan, settings: Settings) -> dict[str, Any]:
    """The log's first line for this run, with the run's whole configuration."""
    config = plan.config
    undo = {} if plan.undo is None else {"undo_of": str(plan.undo.path.resolve())}
    return undo | {
        "type": "run",
        "run_id": uuid.uuid4().hex,
        "job": job.job.name,
        "job_file": str(job.loaded.path),
        "job_file_abs": str(job.loaded.path.resolve()),
        "digest": job.loaded.digest,
        "resource": job.job.resource,
        "sandboxes": job.sandbox_order,
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
        check_waves(job, config)
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
            summary = await _run(job, settings, plan, _Context(earlier, sink, control, observer))
        finally:
            sink.discard_if_unused()
    # An undo is never undone in turn: that would send the run's changes again.
    undo = config.undo_on_stop and plan.undo is None and not config.dry_run
    if summary.stopped is not None and undo:
        summary.undo = await undo_stopped(settings, plan, control)
    return summary


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
        resolved = await resolve_query(job, _legs(job, client), plan, ctx.earlier)
        legs = _legs(job, client)
        bounds = waves_for(job, config)  # a query job's waves fit its targets once it has them
        if bounds is not None and len(legs) > 1:
            raise InputError(
                "waves over several sandboxes are not supported: give each sandbox its own job "
                "(or run the sandboxes without waves)"
            )
        if plan.saved is not None:  # with --replan, the changed targets are planned afresh
            await _check_saved(job, legs, plan)
        skip = ctx.earlier.done() if plan.resume and ctx.earlier is not None else set()
        started = header(job, plan, settings) | {
            "skipped": len(skip),
            "torn_lines_closed": ctx.sink.close_torn_line(),
        }
        started |= identity(settings, job)
        if resolved is not None:
            started["resolved_targets"] = _recorded(resolved)
        ctx.sink.write(started)
        shown = {k: v for k, v in started.items() if k not in ("type", "resolved_targets")}
        log.info("run.started", **shown)
        summary = Summary()
        try:
            await _run_legs(job, plan, ctx, legs, (skip, bounds), summary)
        finally:
            _finish(summary, ctx.control, ctx.sink, len(skip))
        return summary


def _legs(job: PreparedJob, client: FlowClient) -> list[tuple[str | None, FlowClient]]:
    """One client per sandbox a job runs in, in order (sandbox None: the job's only one)."""
    if job.sandbox_order is None:
        return [(None, client)]
    return [(sandbox, client.in_sandbox(sandbox)) for sandbox in job.sandbox_order]


async def _run_legs(
    job: PreparedJob,
    plan: RunPlan,
    ctx: _Context,
    legs: list[tuple[str | None, FlowClient]],
    todo: tuple[set[Key], list[int] | None],
    summary: Summary,
) -> None:
    """Each sandbox in turn; one where a target failed stops the ones after it (unless
    ``continue_on_failure``), as does a stop request or an unreachable service."""
    control = ctx.control
    skip, bounds = todo
    for number, (sandbox, client) in enumerate(legs):
        strategy = _strategy(job, client, plan, control, ctx.sink)
        engine = Engine(job, client, ctx.sink, plan.config, ctx.observer, strategy)
        control.engine = engine
        if control.stop_requests:
            engine.request_stop()
        try:
            if bounds is None:
                await engine.run(_pending(job, skip, plan.only, sandbox))
            else:
                rollout = Rollout(engine, bounds, _rollout_log(plan))
                await rollout.run(job.targets(), _keep(skip, plan.only))
        finally:
            # A retry's sandboxes without a chosen target have nothing to say.
            shown = engine.summary.total or plan.only is None
            summary.add(engine.summary, sandbox if shown else None)
        part = engine.summary
        if part.interrupted or part.unreachable is not None or part.stopped or part.paused_after:
            return
        rest = [name for name, _ in legs[number + 1 :] if name is not None]
        if (
            rest
            and engine.summary.counts.get(Status.FAILED)
            and not plan.config.continue_on_failure
        ):
            summary.halted_sandboxes = rest
            log.info("run.sandboxes_halted", failed_in=sandbox, halted=rest)
            return


async def _check_saved(
    job: PreparedJob, legs: list[tuple[str | None, FlowClient]], plan: RunPlan
) -> None:
    """Compare a saved plan's etags with the service's, sandbox by sandbox, before any PATCH."""
    assert plan.saved is not None
    config = plan.config
    tolerate = config.skip_stale or config.replan
    for sandbox, client in legs:
        planned = {i: entry for (s, i), entry in plan.saved.items() if s == sandbox}
        await check_plan_etags(client, job, planned, tolerate, config.plan_file)
        for target_id, entry in planned.items():
            plan.saved[(sandbox, target_id)] = entry


def _strategy(
    job: PreparedJob, client: FlowClient, plan: RunPlan, control: RunControl, sink: ResultLog
) -> TargetStrategy:
    """How each target is worked on: fetched and planned (the job's changes, or an undo's
    inverse), or sent as a reviewed plan says."""
    on_planned = control.recorder.add if control.recorder is not None else None
    journal = Journal(sink, job.redactor, job.job.resource)
    path = (
        TargetPath(job, client, plan.config, on_planned, journal)
        if plan.undo is None
        else UndoPath(job, client, plan.config, plan.undo, on_planned, journal)
    )
    return path if plan.saved is None else SavedPlanApply(plan.saved, path)


def _rollout_log(plan: RunPlan) -> RolloutLog:
    """What the log already holds of a staged rollout: a resume skips its finished waves; a
    resume or retry takes the change times of targets done earlier (for ``--soak``)."""
    if not (plan.resume or plan.only is not None):
        return RolloutLog()
    earlier = read_rollout(plan.log_path, with_changes=plan.config.soak_s > 0)
    if not plan.resume:
        earlier.finished_upto = 0  # a retry goes back into finished waves for their failures
    return earlier


async def undo_stopped(settings: Settings, plan: RunPlan, control: RunControl) -> dict[str, Any]:
    """``--undo-on-stop``: take back what the stopped run's log records as changed (the whole
    rollout, earlier waves of a paused one included), with a log of its own beside it."""
    source = read_source(plan.log_path)
    job = undo_job(source)
    if job.target_count == 0:
        return {"log": None, "targets": 0, "reverted": 0, "failed": 0}
    log_path = _beside(plan.log_path, UNDO_SUFFIX)
    quiet = {"waves": None, "pause": False, "undo_on_stop": False, "soak_s": 0.0}
    quiet |= {"plan_file": None, "plan_digest": None, "replan": False, "skip_stale": False}
    undo = RunPlan(plan.config.model_copy(update=quiet), log_path, sim=plan.sim, undo=source)
    log.info("run.undo_on_stop", targets=job.target_count, log=str(log_path))
    summary = await execute(job, settings, undo, None, control)
    counts = summary.counts
    return {
        "log": str(log_path),
        "targets": job.target_count,
        "reverted": counts.get(Status.UPDATED, 0),
        "failed": counts.get(Status.FAILED, 0),
    }


def _beside(path: Path, suffix: str) -> Path:
    """``runs/x.jsonl`` → ``runs/x-undo.jsonl`` (``-undo-2``… if taken)."""
    for number in range(1, 1000):
        name = f"{path.stem}{suffix}{'' if number == 1 else f'-{number}'}{path.suffix}"
        if not path.with_name(name).exists():
            return path.with_name(name)
    raise InputError(f"no free name for the undo's log beside {path}", path)


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


def _finish(summary: Summary, control: RunControl, sink: ResultLog, skipped: int) -> None:
    """Write the closing summary line, also when the run was interrupted."""
    summary.throttled = control.pacer.throttled
    summary.lowest_concurrency = control.pacer.adaptive.lowest
    summary.gateway_rate_per_s = control.pacer.gateway_rate_per_s()
    summary.skipped = skipped
    final = summary.as_record()
    sink.write(final)
    log.info("run.summary", **{k: v for k, v in final.items() if k != "type"})


async def resolve_query(
    job: PreparedJob,
    legs: list[tuple[str | None, FlowClient]],
    plan: RunPlan,
    earlier: LogState | None = None,
) -> list[Key] | None:
    """For a query job, the targets to work on: asked of the service (in each sandbox), or
    taken from the log.

    A resume (or retry, or apply) keeps to the set the first run resolved, even if the query
    would now answer differently.
    """
    query = job.query
    if query is None:
        return None
    recorded = _recorded_keys(earlier.header if earlier is not None else None)
    if plan.only is not None:
        # A retry keeps to what the query selected then, whatever else the log names.
        keys = sorted(plan.only & set(recorded) if recorded is not None else plan.only)
    elif plan.resume and recorded is not None:
        keys = recorded
    else:
        keys = []
        for sandbox, client in legs:
            selected = await run_query(client, job.job.resource, query.property, query.limit)
            for item in selected:  # an id goes into URLs and logs: the service's are checked too
                check_id(item.id, "the service's answer to the query", None)
            keys += [(sandbox, item.id) for item in selected]
    from_log = plan.only is None and plan.resume and recorded is not None
    log.info("run.targets_resolved", targets=len(keys), from_log=from_log)
    job.use_targets([Target(i, {}, "query", None, sandbox) for sandbox, i in keys])
    return keys


def _recorded(keys: list[Key]) -> list[Any]:
    """Resolved targets as the header holds them: ids, or [sandbox, id] over several."""
    return [
        REGISTRY.text(i) if sandbox is None else [sandbox, REGISTRY.text(i)] for sandbox, i in keys
    ]


def _recorded_keys(header: dict[str, Any] | None) -> list[Key] | None:
    recorded = header.get("resolved_targets") if header is not None else None
    if not isinstance(recorded, list):
        return None
    keys: list[Key] = []
    for item in recorded:
        sandbox, target_id = (
            (item[0], item[1]) if isinstance(item, list) and len(item) == 2 else (None, item)
        )
        # An edited header must not put a header or a path into a request.
        if sandbox is not None and not (isinstance(sandbox, str) and SANDBOX.fullmatch(sandbox)):
            raise InputError("the run header's resolved_targets name a sandbox that is not one")
        if not isinstance(target_id, str):
            raise InputError("the run header's resolved_targets hold an id that is not a string")
        check_id(target_id, "the run header's resolved_targets", None)
        keys.append((sandbox, target_id))
    return keys
