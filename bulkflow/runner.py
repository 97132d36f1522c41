"""Wiring for one run: settings, the simulator (``--sim``), session, token, client, log, engine."""

from __future__ import annotations

import contextlib
import ipaddress
import secrets
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiohttp
from pydantic import SecretStr

from bulkflow import __version__
from bulkflow.auth import ImsTokens, StaticToken, TokenSource
from bulkflow.changes import kind_of, spec_of
from bulkflow.client import FlowClient
from bulkflow.config import Settings
from bulkflow.engine import Engine, EngineOptions, Observer, Summary, count_retry
from bulkflow.errors import InputError
from bulkflow.jobfile import PreparedJob, Target
from bulkflow.resultlog import ResultLog, read_log, utc_now
from bulkflow.retry import RetryPolicy
from bulkflow.secrets import REGISTRY
from bulkflow.sim import SimConfig, Simulator

DONE = frozenset({"updated", "unchanged"})


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


def done_ids(log_path: Path, digest: str) -> set[str]:
    """Targets whose latest record in an earlier log is ``updated`` or ``unchanged``."""
    latest: dict[str, str] = {}
    for record in read_log(log_path):
        if record.get("type") == "run" and record.get("digest") != digest:
            raise InputError(
                f"{log_path} was written by a different job (digest {record.get('digest')}); "
                "resume with the job that wrote it"
            )
        if record.get("type") == "result":
            latest[str(record["id"])] = str(record["status"])
    return {target for target, status in latest.items() if status in DONE}


def _pending(job: PreparedJob, skip: set[str]) -> Iterator[Target]:
    return (t for t in job.targets() if t.id not in skip)


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
    sandbox = job.job.sandbox or "prod"
    async with Simulator(SimConfig(sandbox=sandbox)) as sim:
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
        "digest": job.loaded.digest,
        "resource": job.job.resource,
        "dry_run": plan.options.dry_run,
        "resume": plan.resume,
        "sim": plan.sim,
        "targets": job.target_count,
        "started_at": utc_now(),
        "bulkflow": __version__,
    }


async def execute(
    job: PreparedJob, settings: Settings, plan: RunPlan, observer: Observer | None = None
) -> Summary:
    """Run ``job`` against ``settings``' Flow Service, writing ``plan.log_path``."""
    check_transport(settings)
    for secret in (settings.client_secret, settings.access_token):
        if secret is not None:
            REGISTRY.add(secret.get_secret_value())
    skip = (
        done_ids(plan.log_path, job.loaded.digest)
        if plan.resume and plan.log_path.exists()
        else set()
    )
    limit = plan.options.concurrency
    connector = aiohttp.TCPConnector(limit=limit, limit_per_host=limit)
    async with aiohttp.ClientSession(connector=connector) as session:
        tokens = _tokens(session, settings, plan.timeout_s)
        await tokens.token()
        policy = RetryPolicy(
            max_attempts=plan.max_retries + 1, max_retry_after_s=plan.max_retry_after_s
        )
        sandbox = job.job.sandbox or settings.sandbox
        client = FlowClient(session, settings, tokens, sandbox, policy, plan.timeout_s, count_retry)
        with ResultLog(plan.log_path) as sink:
            sink.write(header(job, plan))
            engine = Engine(job, client, sink, plan.options, observer)
            try:
                summary = await engine.run(_pending(job, skip))
            finally:
                sink.write(engine.summary.as_record() | {"skipped": len(skip)})
    return summary


def _tokens(session: aiohttp.ClientSession, settings: Settings, timeout_s: float) -> TokenSource:
    if settings.access_token is not None:
        return StaticToken(settings.access_token)
    if not settings.client_id or not settings.org_id:
        raise InputError(
            "AEP_CLIENT_ID and AEP_ORG_ID must be set (or use --sim to try a job locally)"
        )
    return ImsTokens(session, settings, timeout_s=timeout_s)
