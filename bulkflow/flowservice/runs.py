"""What a flow's runs say after a change (``--soak``): ``GET /runs``, 100 flows a request.

Flow Service lists a flow's runs at ``/runs?property=flowId==a,b,…`` (paged like every list):
each run has ``metrics.durationSummary.startedAtUTC`` (epoch ms) and
``metrics.statusSummary.status``: ``success``/``failed`` in the sources spec, ``Success``/
``Failed``/``Processing`` in the destinations spec's enum, so it is compared without case. A
flow's own ``lastRunDetails`` (``state``, ``startedAtUTC``) names its latest run: it is read too
(the flows list, 100 ids a request), in case the runs listing leaves a run out. A run counts
against the change when it started after that flow's change and failed. Everything a run says
is served data: masked before it is kept, and any field of an odd type is read as absent.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, TypeGuard

from bulkflow.flowservice.client import MAX_PAGE, FlowClient
from bulkflow.secrets import REGISTRY, printable

FAILED = frozenset({"failed", "partial_failure", "partialsuccess", "partial_success"})
KEPT = 20  # failed runs kept to show; the count has them all


MAX_RUN_ID_CHARS = 256


@dataclass(frozen=True)
class FailedRun:
    """A run that started after its flow was changed, and failed."""

    flow_id: str
    run_id: str | None
    started_ms: int
    message: str


@dataclass
class RunCheck:
    """What the runs of the changed flows showed: how many were read, which failed."""

    flows: int = 0
    runs_after: int = 0  # runs that started after their flow's change
    failed: list[FailedRun] = field(default_factory=list)
    failed_count: int = 0

    def add_failure(self, failure: FailedRun) -> None:
        """Count one failed run (the first :data:`KEPT` are kept)."""
        self.failed_count += 1
        if len(self.failed) < KEPT:
            self.failed.append(failure)


async def runs_after_change(client: FlowClient, changed_ms: dict[str, int]) -> RunCheck:
    """Read the runs of the flows in ``changed_ms`` (flow id → when it was changed, epoch ms)
    that started after the change, and which of them failed."""
    check = RunCheck(flows=len(changed_ms))
    seen: set[str] = set()
    for chunk in _chunks(sorted(changed_ms)):
        since = min(changed_ms[flow_id] for flow_id in chunk)
        params = [
            ("property", "flowId==" + ",".join(chunk)),
            ("property", f"metrics.durationSummary.startedAtUTC>{since}"),
            ("limit", str(MAX_PAGE)),
        ]
        async with contextlib.aclosing(client.list_all("runs", params)) as runs:
            async for run in runs:
                _take(check, seen, _from_run(run), changed_ms)
        for flow_id, (doc, _) in (await client.get_many("flows", chunk)).items():
            _take(check, seen, _from_flow(flow_id, doc), changed_ms)
    return check


def _take(check: RunCheck, seen: set[str], run: _Run | None, changed_ms: dict[str, int]) -> None:
    """Count a run once (by id) if it started after its flow's change."""
    if run is None or run.flow_id not in changed_ms or run.started_ms <= changed_ms[run.flow_id]:
        return
    key = run.run_id or f"{run.flow_id}@{run.started_ms}"
    if key in seen:
        return
    seen.add(key)
    check.runs_after += 1
    if run.status in FAILED:
        message = REGISTRY.cut(run.message, 300)
        check.add_failure(FailedRun(run.flow_id, run.run_id, run.started_ms, message))


@dataclass(frozen=True)
class _Run:
    flow_id: str
    run_id: str | None
    started_ms: int
    status: str
    message: str


def _served_id(value: Any) -> str | None:
    """A run's id as a record may hold it: masked, shown, and no longer than an id is."""
    if not isinstance(value, str):
        return None
    return printable(REGISTRY.text(value))[:MAX_RUN_ID_CHARS]


def _from_run(run: dict[str, Any]) -> _Run | None:
    """A run of ``GET /runs``, or None when it lacks what the check needs."""
    metrics = _object(run.get("metrics"))
    started = _object(metrics.get("durationSummary")).get("startedAtUTC")
    summary = _object(metrics.get("statusSummary"))
    flow_id, status = run.get("flowId"), summary.get("status")
    if not isinstance(flow_id, str) or not _epoch(started) or not isinstance(status, str):
        return None
    run_id = _served_id(run.get("id"))
    return _Run(flow_id, run_id, started, status.lower(), _message(summary, status))


def _from_flow(flow_id: str, doc: dict[str, Any]) -> _Run | None:
    """A flow's ``lastRunDetails`` as a run, or None."""
    details = _object(doc.get("lastRunDetails"))
    started, state = details.get("startedAtUTC"), details.get("state")
    if not _epoch(started) or not isinstance(state, str):
        return None
    run_id = _served_id(details.get("id"))
    return _Run(flow_id, run_id, started, state.lower(), f"the flow's last run: {state}")


def _message(summary: dict[str, Any], status: str) -> str:
    """The run's first error message, or its status."""
    errors = summary.get("errors")
    first = _object(errors[0]) if isinstance(errors, list) and errors else {}
    parts = [first.get("code"), first.get("message")]
    text = ": ".join(str(p) for p in parts if isinstance(p, str) and p)
    return text or f"the run ended {status}"


def _object(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _epoch(value: Any) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def _chunks(ids: list[str]) -> Iterator[list[str]]:
    for start in range(0, len(ids), MAX_PAGE):
        yield ids[start : start + MAX_PAGE]
