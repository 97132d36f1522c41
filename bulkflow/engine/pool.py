"""The worker pool: targets in, one record per target out.

``concurrency`` workers pull targets from one shared feed, so memory does not grow with the
number of targets and at most ``concurrency`` requests are in flight. Layers per target:
:meth:`Engine.run_target` (record; no exception escapes) → a :class:`TargetStrategy`
(:class:`~bulkflow.engine.target.TargetPath`, the visible 412 re-plan loop, or a saved plan's
:class:`~bulkflow.engine.saved.SavedPlanApply`) → :class:`~bulkflow.flowservice.client.FlowClient`
(transport retries, one exchange).
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

import anyio
import structlog

from bulkflow.diagnostics import debug_enabled
from bulkflow.engine.feed import BatchFeed, DirectFeed, Prefetched
from bulkflow.engine.target import Outcome, TargetPath, current
from bulkflow.errors import TargetError, UnreachableError
from bulkflow.flowservice.client import FlowClient
from bulkflow.job.prepare import PreparedJob
from bulkflow.job.targets import Target
from bulkflow.records.resultlog import (
    STATUSES,
    ErrorInfo,
    ResultRecord,
    ResultSink,
    Status,
    utc_now,
)
from bulkflow.runconfig import RunConfig

log = structlog.get_logger("bulkflow.engine.pool")
PROBLEMS = frozenset({Status.FAILED, Status.STALE})
KEPT_FAILURES = 1000  # for the summary; the result log has every one
# Targets in a row that could not connect at all before the run stops: one could be a blip,
# three mean every target after them would fail the same way.
UNREACHABLE_STREAK = 3


class TargetStrategy(Protocol):
    """How one target is worked on, from its first request to its status."""

    #: Whether documents listed ahead of the workers (batch fetch) are of use.
    wants_documents: bool

    async def attempts(
        self, target: Target, outcome: Outcome, prefetched: Prefetched | None
    ) -> Status:
        """The target's final status; raises :class:`TargetError` when it fails."""


class Observer(Protocol):
    """Told about progress (the terminal progress bar implements it)."""

    def target_done(self, record: ResultRecord) -> None:
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
    gateway_rate_per_s: float | None = None  # what the gateway accepted when it last throttled
    interrupted: bool = False
    unreachable: str | None = None
    skipped: int = 0  # done in an earlier run of the log (--resume)

    @property
    def total(self) -> int:
        """Targets finished."""
        return sum(self.counts.values())

    def as_record(self) -> dict[str, Any]:
        """The log's closing ``summary`` line."""
        rate = self.total / self.elapsed_s if self.elapsed_s else 0.0
        return {
            "type": "summary",
            "counts": {s.value: self.counts.get(s, 0) for s in STATUSES},
            "total": self.total,
            "conflicts": self.conflicts,
            "retries": self.retries,
            "throttled": self.throttled,
            "lowest_concurrency": self.lowest_concurrency,
            "gateway_rate_per_s": self.gateway_rate_per_s,
            "interrupted": self.interrupted,
            "unreachable": self.unreachable,
            "skipped": self.skipped,
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
        options: RunConfig,
        observer: Observer | None = None,
        strategy: TargetStrategy | None = None,
    ) -> None:
        self.job = job
        self.strategy = strategy or TargetPath(job, client, options)
        self.client = client
        self.sink = sink
        self.options = options
        self.observer = observer
        self.summary = Summary()
        self.kind = job.job.resource
        self._stopping = False
        self._interrupted = False
        self._unreachable_streak = 0
        self._scope: anyio.CancelScope | None = None

    async def run(self, targets: Iterator[Target] | None = None) -> Summary:
        """Work through every target with at most ``concurrency`` in flight."""
        shared = targets if targets is not None else self.job.targets()
        started = time.perf_counter()
        workers = max(
            1, min(self.options.concurrency, self.job.target_count or self.options.concurrency)
        )
        batched = self.options.batch_fetch and self.strategy.wants_documents
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
            self.summary.interrupted = self._interrupted
        return self.summary

    def request_stop(self, now: bool = False) -> None:
        """Start no new target; in-flight ones get ``grace_s`` to finish (none if ``now``)."""
        self._interrupted = True
        self._stop(now)

    def _stop(self, now: bool) -> None:
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

    def _record(self, record: ResultRecord) -> None:
        self.sink.write(record)
        self.summary.counts[str(record["status"])] += 1
        self.summary.conflicts += record["conflicts"]
        self.summary.retries += record["retries"]
        if record["status"] in PROBLEMS and len(self.summary.failed) < KEPT_FAILURES:
            self.summary.failed.append({"id": record["id"], "error": record["error"]})
        if self.observer is not None:
            self.observer.target_done(record)

    async def run_target(
        self, target: Target, prefetched: Prefetched | None = None
    ) -> ResultRecord:
        """One target from first GET to its record; failures become data, never exceptions."""
        outcome = Outcome()
        current.set(outcome)
        started = time.perf_counter()
        error: ErrorInfo | None = None
        unreachable: UnreachableError | None = None
        try:
            status = await self.strategy.attempts(target, outcome, prefetched)
            error = outcome.note
        except TargetError as exc:
            status = Status.FAILED
            error = {
                "kind": exc.kind,
                "status": exc.status,
                "message": self.job.redactor.text(exc.message),
            }
            unreachable = exc if isinstance(exc, UnreachableError) else None
        except Exception as exc:  # a bug must cost one target, not the run
            status = Status.FAILED
            message = self.job.redactor.text(f"{type(exc).__name__}: {exc}")
            error = {"kind": "internal", "status": None, "message": message}
            log.error("target.internal_error", target=target.id, error=message)
        self._check_reach(unreachable)
        duration_ms = (time.perf_counter() - started) * 1000
        if debug_enabled():
            log.debug("target.finished", target=target.id, status=status)
        return self._result(target, outcome, status, error, duration_ms)

    def _check_reach(self, exc: UnreachableError | None) -> None:
        """Stop the run when targets in a row could not even connect (refused, DNS, TLS);
        any other outcome (``exc`` None) ends the streak."""
        if exc is None:
            self._unreachable_streak = 0
            return
        self._unreachable_streak += 1
        if self._unreachable_streak >= UNREACHABLE_STREAK and self.summary.unreachable is None:
            self.summary.unreachable = self.job.redactor.text(exc.message)
            log.error("run.unreachable", reason=self.summary.unreachable)
            self._stop(now=False)

    def _result(
        self,
        target: Target,
        outcome: Outcome,
        status: Status,
        error: ErrorInfo | None,
        duration_ms: float,
    ) -> ResultRecord:
        # Everything the service served (a name, an etag, an id a query found) is masked too:
        # a hostile or careless server may echo a credential back in any field.
        mask = self.job.redactor.text
        return {
            "type": "result",
            "id": mask(target.id),
            "resource": self.kind,
            "name": _masked(mask, outcome.name),
            "status": status,
            "attempts": outcome.attempts,
            "conflicts": outcome.conflicts,
            "retries": outcome.retries,
            "etag_before": _masked(mask, outcome.etag_before),
            "etag_after": _masked(mask, outcome.etag_after),
            "ops": self.job.redactor.ops(outcome.ops),
            "changes": [mask(line) for line in outcome.changes],
            "error": error,
            "duration_ms": round(duration_ms, 1),
            "at": utc_now(),
        }


def _masked(mask: Callable[[str], str], value: str | None) -> str | None:
    return None if value is None else mask(value)
