"""The worker pool and the per-target path: fetch → plan → send → (412: re-plan) → record.

``concurrency`` workers pull targets from one shared iterator, so memory does not grow with the
number of targets and at most ``concurrency`` requests are in flight. Layers per target:
:meth:`Engine.run_target` (record; no exception escapes) → ``_attempts`` (the visible 412
re-plan loop) → :class:`bulkflow.client.FlowClient` (transport retries, one exchange).
"""

from __future__ import annotations

import contextvars
import random
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

import anyio
import jsonpointer
import structlog

from bulkflow.client import FlowClient
from bulkflow.diagnostics import debug_enabled
from bulkflow.errors import ConflictError, RetryableError, TargetError
from bulkflow.jobfile import PreparedJob
from bulkflow.planner import Op, Pointer, plan
from bulkflow.plantext import UNKNOWN, describe
from bulkflow.prefetch import BatchFeed, DirectFeed, Prefetched
from bulkflow.resultlog import STATUSES, ResultSink, utc_now
from bulkflow.savedplan import PlanRecorder, resolve_references
from bulkflow.targets import Target

log = structlog.get_logger("bulkflow.engine")


@dataclass(frozen=True)
class EngineOptions:
    """How a run behaves.

    Example::

        EngineOptions(concurrency=32, max_conflict_retries=5, dry_run=False)
    """

    concurrency: int = 16
    max_conflict_retries: int = 5
    dry_run: bool = False
    conflict_backoff_s: float = 0.1
    grace_s: float = 30.0
    replan: bool = False
    batch_fetch: bool = True


@dataclass
class _Outcome:
    """What one target's attempts have found so far."""

    attempts: int = 0
    conflicts: int = 0
    retries: int = 0
    name: str | None = None
    etag_before: str | None = None
    etag_after: str | None = None
    ops: list[Op] = field(default_factory=list)
    changes: list[str] = field(default_factory=list)
    patch_unconfirmed: bool = False
    note: dict[str, Any] | None = None


_current: contextvars.ContextVar[_Outcome | None] = contextvars.ContextVar("outcome", default=None)


def count_retry(_: RetryableError, __: float) -> None:
    """Client retry hook: attribute a scheduled retry to the target being worked on."""
    outcome = _current.get()
    if outcome is not None:
        outcome.retries += 1


class Observer(Protocol):
    """Told about progress (the terminal progress bar implements it)."""

    def target_done(self, record: dict[str, Any]) -> None:
        """One target finished with ``record``."""


@dataclass
class Summary:
    """Counts per status and timing of a run."""

    counts: Counter[str] = field(default_factory=Counter)
    failed: list[dict[str, Any]] = field(default_factory=list)
    elapsed_s: float = 0.0
    conflicts: int = 0
    retries: int = 0
    throttled: int = 0
    lowest_concurrency: int | None = None
    interrupted: bool = False

    @property
    def total(self) -> int:
        """Targets finished."""
        return sum(self.counts.values())

    def as_record(self) -> dict[str, Any]:
        """The log's closing ``summary`` line."""
        rate = self.total / self.elapsed_s if self.elapsed_s else 0.0
        return {
            "type": "summary",
            "counts": {s: self.counts.get(s, 0) for s in STATUSES},
            "total": self.total,
            "conflicts": self.conflicts,
            "retries": self.retries,
            "throttled": self.throttled,
            "lowest_concurrency": self.lowest_concurrency,
            "interrupted": self.interrupted,
            "elapsed_s": round(self.elapsed_s, 3),
            "rate_per_s": round(rate, 1),
            "finished_at": utc_now(),
        }


class Engine:
    """Runs one prepared job against one client, writing a record per target to ``sink``."""

    def __init__(
        self,
        job: PreparedJob,
        client: FlowClient,
        sink: ResultSink,
        options: EngineOptions,
        observer: Observer | None = None,
        recorder: PlanRecorder | None = None,
        planned: dict[str, dict[str, Any]] | None = None,
    ) -> None:
        self.job = job
        self.recorder = recorder
        self.planned = planned
        self.client = client
        self.sink = sink
        self.options = options
        self.observer = observer
        self.summary = Summary()
        self.kind = job.job.resource
        self._stopping = False
        self._scope: anyio.CancelScope | None = None

    async def run(self, targets: Iterator[Target] | None = None) -> Summary:
        """Work through every target with at most ``concurrency`` in flight."""
        shared = targets if targets is not None else self.job.targets()
        started = time.perf_counter()
        workers = max(
            1, min(self.options.concurrency, self.job.target_count or self.options.concurrency)
        )
        batched = self.options.batch_fetch and self.planned is None
        feed = BatchFeed(self.client, self.kind, shared) if batched else DirectFeed(shared)
        try:
            with anyio.CancelScope() as self._scope:
                if self._stopping:
                    self._scope.cancel()
                async with anyio.create_task_group() as group:
                    group.start_soon(feed.run, lambda: self._stopping)
                    try:
                        async with anyio.create_task_group() as pool:
                            for _ in range(workers):
                                pool.start_soon(self._worker, feed)
                    finally:
                        feed.close()
        finally:
            self.summary.elapsed_s = time.perf_counter() - started
            self.summary.interrupted = self._stopping
        return self.summary

    def request_stop(self, now: bool = False) -> None:
        """Start no new target; in-flight ones get ``grace_s`` to finish (none if ``now``)."""
        self._stopping = True
        if self._scope is None:
            return
        if now:
            self._scope.cancel()
        else:
            self._scope.deadline = min(
                self._scope.deadline, anyio.current_time() + self.options.grace_s
            )
        log.warning("run.stopping", now=now, grace_s=0 if now else self.options.grace_s)

    async def _worker(self, feed: DirectFeed | BatchFeed) -> None:
        while not self._stopping:
            item = await feed.next()
            if item is None:
                return
            record = await self.run_target(*item)
            self._record(record)

    def _record(self, record: dict[str, Any]) -> None:
        self.sink.write(record)
        self.summary.counts[record["status"]] += 1
        self.summary.conflicts += record["conflicts"]
        self.summary.retries += record["retries"]
        if record["status"] in ("failed", "stale"):
            self.summary.failed.append({"id": record["id"], "error": record["error"]})
        if self.observer is not None:
            self.observer.target_done(record)

    async def run_target(
        self, target: Target, prefetched: Prefetched | None = None
    ) -> dict[str, Any]:
        """One target from first GET to its record; failures become data, never exceptions."""
        outcome = _Outcome()
        _current.set(outcome)
        started = time.perf_counter()
        error: dict[str, Any] | None = None
        try:
            status = await self._attempts(target, outcome, prefetched)
            error = outcome.note
        except TargetError as exc:
            status = "failed"
            error = {
                "kind": exc.kind,
                "status": exc.status,
                "message": self.job.redactor.text(exc.message),
            }
        except Exception as exc:  # a bug must cost one target, not the run
            status = "failed"
            message = self.job.redactor.text(f"{type(exc).__name__}: {exc}")
            error = {"kind": "internal", "status": None, "message": message}
            log.error("target.internal_error", target=target.id, error=message)
        duration_ms = (time.perf_counter() - started) * 1000
        if debug_enabled():
            log.debug("target.finished", target=target.id, status=status)
        return self._result(target, outcome, status, error, duration_ms)

    async def _attempts(
        self, target: Target, outcome: _Outcome, prefetched: Prefetched | None
    ) -> str:
        entry = self.planned.get(target.id) if self.planned is not None else None
        if entry is not None:
            status = await self._apply_saved(target, entry, outcome)
            if status != "replan":
                return status
        return await self._fetch_plan_send(target, outcome, prefetched)

    async def _apply_saved(self, target: Target, entry: dict[str, Any], outcome: _Outcome) -> str:
        """Send a reviewed plan's operations with the etag it was made against."""
        outcome.attempts += 1
        outcome.name, outcome.etag_before = entry.get("name"), entry["etag"]
        outcome.changes = list(entry.get("changes", []))
        outcome.ops = resolve_references(entry["ops"], self.job.secrets)
        try:
            outcome.etag_after = await self._send(target, outcome.ops, entry["etag"], outcome)
            return "updated"
        except ConflictError:
            outcome.conflicts += 1
            log.info("target.stale", target=target.id, replan=self.options.replan)
            if self.options.replan:
                return "replan"
            message = "changed since the plan was made (412); not applied. Review a new plan, or use --replan"
            outcome.note = {"kind": "conflict", "status": 412, "message": message}
            return "stale"

    async def _fetch_plan_send(
        self, target: Target, outcome: _Outcome, prefetched: Prefetched | None
    ) -> str:
        """GET, plan, PATCH with If-Match; on 412 the visible re-plan loop."""
        limit = self.options.max_conflict_retries
        references = self.recorder is not None
        while True:
            outcome.attempts += 1
            doc, etag = prefetched or await self.client.get(self.kind, target.id)
            prefetched = None  # a re-plan after 412 always reads the document afresh
            outcome.name = doc.get("name") if isinstance(doc.get("name"), str) else None
            outcome.etag_before = etag
            outcome.ops = plan(doc, self.job.changes_for(target, secret_references=references))
            outcome.changes = [describe(op, _before(doc, op)) for op in outcome.ops]
            if not outcome.ops:
                return "updated" if outcome.patch_unconfirmed else "unchanged"
            if self.options.dry_run:
                if self.recorder is not None:
                    self.recorder.add(target.id, outcome.name, etag, outcome.ops, outcome.changes)
                return "planned"
            try:
                outcome.etag_after = await self._send(target, outcome.ops, etag, outcome)
                return "updated"
            except ConflictError:
                outcome.conflicts += 1
                log.info("target.conflict", target=target.id, conflicts=outcome.conflicts)
                if outcome.conflicts > limit:
                    raise ConflictError(
                        f"the resource kept changing: 412 on {outcome.conflicts} attempts "
                        f"(max_conflict_retries={limit})",
                        412,
                    ) from None
                await anyio.sleep(random.uniform(0.5, 1.5) * self.options.conflict_backoff_s)

    async def _send(
        self, target: Target, ops: list[Op], etag: str, outcome: _Outcome
    ) -> str | None:
        retries_before = outcome.retries
        try:
            return await self.client.patch(self.kind, target.id, ops, etag)
        except ConflictError:
            # A 412 after a retried PATCH may mean our own first try was applied; the re-plan
            # then comes out empty, and the target is reported updated, not unchanged.
            if outcome.retries > retries_before:
                outcome.patch_unconfirmed = True
            raise

    def _result(
        self,
        target: Target,
        outcome: _Outcome,
        status: str,
        error: dict[str, Any] | None,
        duration_ms: float,
    ) -> dict[str, Any]:
        return {
            "type": "result",
            "id": target.id,
            "resource": self.kind,
            "name": outcome.name,
            "status": status,
            "attempts": outcome.attempts,
            "conflicts": outcome.conflicts,
            "retries": outcome.retries,
            "etag_before": outcome.etag_before,
            "etag_after": outcome.etag_after,
            "ops": self.job.redactor.ops(outcome.ops),
            "changes": [self.job.redactor.text(line) for line in outcome.changes],
            "error": error,
            "duration_ms": round(duration_ms, 1),
            "at": utc_now(),
        }


def _before(doc: Any, op: Op) -> Any:
    """The value an op replaces or removes, read from the fetched document."""
    if op["op"] not in ("replace", "remove"):
        return UNKNOWN
    try:
        return Pointer(op["path"]).resolve(doc)
    except jsonpointer.JsonPointerException:
        return UNKNOWN
