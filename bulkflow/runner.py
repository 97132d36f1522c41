"""Wiring for one run: settings, the simulator (``--sim``), session, token, client, log, engine."""

from __future__ import annotations

import contextlib
import ipaddress
import secrets
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import aiohttp
import structlog
from pydantic import SecretStr

from bulkflow import __version__
from bulkflow.attempt import EngineOptions, count_retry
from bulkflow.auth import ImsTokens, StaticToken, TokenSource
from bulkflow.changes import kind_of, spec_of
from bulkflow.client import FlowClient
from bulkflow.config import Settings
from bulkflow.engine import Engine, Observer, Summary
from bulkflow.errors import InputError
from bulkflow.pacing import Pacer
from bulkflow.prefetch import BATCH_SIZE
from bulkflow.prepare import PreparedJob
from bulkflow.query import Selected, run_query
from bulkflow.resultlog import LogScan, ResultLog, utc_now
from bulkflow.retry import RetryPolicy
from bulkflow.savedplan import PlanRecorder
from bulkflow.secrets import REGISTRY
from bulkflow.targets import Target

if TYPE_CHECKING:
    from bulkflow.sim import Simulator

DONE = frozenset({"updated", "unchanged"})
log = structlog.get_logger("bulkflow.runner")


@dataclass(frozen=True)
class RunPlan:
    """Everything a run needs besides the job."""

    options: EngineOptions
    log_path: Path
    resume: bool = False
    sim: bool = False
    timeout_s: float = 30.0
    max_retries: int = 6
    max_retry_after_s: float = 120.0
    rate_per_s: float | None = None
    only: frozenset[str] | None = None
    force: bool = False
    source_plan: Path | None = None


class RunControl:
    """A running job's handles for the outside: pacing figures and a graceful stop.

    The first :meth:`request_stop` lets in-flight targets finish; a second stops at once.
    """

    def __init__(
        self,
        pacer: Pacer,
        recorder: PlanRecorder | None = None,
        planned: dict[str, dict[str, Any]] | None = None,
    ) -> None:
        self.pacer = pacer
        self.recorder = recorder
        self.planned = planned
        self.engine: Engine | None = None
        self.stop_requests = 0

    def request_stop(self) -> None:
        """Stop starting targets (first call) or stop now (second call)."""
        self.stop_requests += 1
        if self.engine is not None:
            self.engine.request_stop(now=self.stop_requests > 1)


def check_transport(settings: Settings) -> None:
    """Refuse plain ``http://`` except to a loopback host: tokens would travel in clear."""
    for name, url in (("AEP_BASE_URL", settings.base_url), ("AEP_IMS_URL", settings.ims_url)):
        parts = urlsplit(url)
        if parts.scheme == "https":
            continue
        if parts.scheme != "http":
            raise InputError(f"{name} must be an https:// URL, not {url!r}")
        if not _is_loopback(parts.hostname or ""):
            raise InputError(
                f"{name} is plain http:// to {parts.hostname}: credentials and tokens would travel "
                "unencrypted; use https:// (http is allowed only for loopback hosts)"
            )


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def latest_statuses(log_path: Path, digest: str | None, force: bool = False) -> LogState:
    """Each target's latest status in an earlier log; refuses another job's log unless ``force``."""
    state = LogState()
    scan = LogScan(log_path)
    for record in scan:
        if record.get("type") == "run":
            state.header = state.header or record
            if digest is not None and record.get("digest") != digest and not force:
                raise InputError(
                    f"{log_path} was written for a different version of the job (digest "
                    f"{record.get('digest')}, now {digest}); use the job that wrote it, or --force"
                )
        elif record.get("type") == "result":
            state.latest[str(record["id"])] = str(record["status"])
    state.torn_lines = scan.torn_lines
    return state


@dataclass
class LogState:
    """What an earlier log says: its first header, each target's latest status, torn lines."""

    header: dict[str, Any] | None = None
    latest: dict[str, str] = field(default_factory=dict)
    torn_lines: int = 0

    def done(self) -> set[str]:
        """Targets whose latest record is ``updated`` or ``unchanged``."""
        return {target for target, status in self.latest.items() if status in DONE}

    def failed(self) -> set[str]:
        """Targets whose latest record is ``failed``."""
        return {target for target, status in self.latest.items() if status == "failed"}


def _pending(job: PreparedJob, skip: set[str], only: frozenset[str] | None) -> Iterator[Target]:
    return (t for t in job.targets() if t.id not in skip and (only is None or t.id in only))


def _shape(job: PreparedJob) -> str:
    """Which kind of generated flow the job's changes expect, for ``--sim``."""
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


@contextlib.asynccontextmanager
async def simulator_for(job: PreparedJob) -> AsyncIterator[tuple[Simulator, Settings]]:
    """A simulator in this process, seeded so that every target of the job exists."""
    from bulkflow.sim import SimConfig, Simulator  # the server side, only for --sim

    sandbox = job.job.sandbox or "prod"
    # A query job names no ids: give the query a few hundred generated resources to select from.
    generated = 300 if job.query is not None else 0
    config = SimConfig(sandbox=sandbox, flows=generated, connections=generated // 10)
    async with Simulator(config) as sim:
        shape = _shape(job)
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


def header(job: PreparedJob, plan: RunPlan) -> dict[str, Any]:
    """The log's first line."""
    return {
        "type": "run",
        "run_id": uuid.uuid4().hex,
        "job": job.job.name,
        "job_file": str(job.loaded.path),
        "job_file_abs": str(job.loaded.path.resolve()),
        "digest": job.loaded.digest,
        "resource": job.job.resource,
        "dry_run": plan.options.dry_run,
        "resume": plan.resume,
        "sim": plan.sim,
        "apply": str(plan.source_plan) if plan.source_plan else None,
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
    """Run ``job`` against ``settings``' Flow Service, writing ``plan.log_path``."""
    _guard(settings)
    earlier = _earlier_log(job, plan)
    skip = earlier.done() if earlier is not None else set()
    control = control or RunControl(Pacer(plan.options.concurrency, plan.rate_per_s))
    limit = plan.options.concurrency
    connector = aiohttp.TCPConnector(limit=limit, limit_per_host=limit)
    async with aiohttp.ClientSession(connector=connector) as session:
        policy = RetryPolicy(
            max_attempts=plan.max_retries + 1, max_retry_after_s=plan.max_retry_after_s
        )
        client = await _client(session, settings, job, plan.timeout_s, policy, control.pacer)
        resolved = await resolve_query(job, client, plan, earlier)
        with ResultLog(plan.log_path) as sink:
            started = header(job, plan) | {
                "skipped": len(skip),
                "torn_lines_closed": sink.torn_closed,
            }
            if resolved is not None:
                started["resolved_targets"] = resolved
            sink.write(started)
            shown = {k: v for k, v in started.items() if k not in ("type", "resolved_targets")}
            log.info("run.started", **shown)
            engine = control.engine = Engine(
                job, client, sink, plan.options, observer, control.recorder, control.planned
            )
            if control.stop_requests:
                engine.request_stop()
            try:
                return await engine.run(_pending(job, skip, plan.only))
            finally:
                _finish(engine, control, sink, len(skip))


def _guard(settings: Settings) -> None:
    """Refuse unsafe transport, and register the credentials so that no output shows them."""
    check_transport(settings)
    for secret in (settings.client_secret, settings.access_token):
        if secret is not None:
            REGISTRY.add(secret.get_secret_value())


async def _client(
    session: aiohttp.ClientSession,
    settings: Settings,
    job: PreparedJob,
    timeout_s: float,
    policy: RetryPolicy | None = None,
    pacer: Pacer | None = None,
) -> FlowClient:
    """A client with a token already in hand: bad credentials fail here, before any target."""
    tokens = _tokens(session, settings, timeout_s)
    await tokens.token()
    sandbox = job.job.sandbox or settings.sandbox
    return FlowClient(session, settings, tokens, sandbox, policy, timeout_s, count_retry, pacer)


def _finish(engine: Engine, control: RunControl, sink: ResultLog, skipped: int) -> None:
    """Write the closing summary line, also when the run was interrupted."""
    engine.summary.throttled = control.pacer.adaptive.throttled
    engine.summary.lowest_concurrency = control.pacer.adaptive.lowest
    final = engine.summary.as_record() | {"skipped": skipped}
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
        ids = sorted(plan.only)
    elif isinstance(recorded, list):
        ids = [str(target_id) for target_id in recorded]
    else:
        selected = await run_query(client, job.job.resource, query.property, query.limit)
        ids = [item.id for item in selected]
    from_log = plan.only is None and isinstance(recorded, list)
    log.info("run.targets_resolved", targets=len(ids), from_log=from_log)
    job.use_targets([Target(target_id, {}, "query", None) for target_id in ids])
    return ids


def _earlier_log(job: PreparedJob, plan: RunPlan) -> LogState | None:
    """The log a ``--resume`` continues, read once: done targets and the first run's header."""
    if not (plan.resume and plan.log_path.exists()):
        return None
    state = latest_statuses(plan.log_path, job.loaded.digest, plan.force)
    if state.torn_lines:
        log.warning("log.torn_lines", path=str(plan.log_path), lines=state.torn_lines)
    return state


def _tokens(session: aiohttp.ClientSession, settings: Settings, timeout_s: float) -> TokenSource:
    if settings.access_token is not None:
        return StaticToken(settings.access_token)
    if not settings.client_id or not settings.org_id:
        raise InputError(
            "AEP_CLIENT_ID and AEP_ORG_ID must be set (or use --sim to try a job locally)"
        )
    return ImsTokens(session, settings, timeout_s=timeout_s)


async def select_targets(
    job: PreparedJob, settings: Settings, timeout_s: float = 30.0
) -> list[Selected]:
    """What a job would work on, with names and states, without changing anything."""
    _guard(settings)
    async with aiohttp.ClientSession() as session:
        client = await _client(session, settings, job, timeout_s)
        kind = job.job.resource
        if job.query is not None:
            return await run_query(client, kind, job.query.property, job.query.limit)
        selected: list[Selected] = []
        targets = job.targets()
        while chunk := [t.id for t in islice(targets, BATCH_SIZE)]:
            found = await client.get_many(kind, chunk)
            for target_id in chunk:
                doc = found.get(target_id, ({}, ""))[0]
                selected.append(Selected(target_id, doc.get("name"), doc.get("state", "not found")))
        return selected
