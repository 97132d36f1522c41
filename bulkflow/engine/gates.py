"""The gate between two waves: what a wave must show before the next one starts.

Checks, in order (a failed check skips the ones after it, so a broken wave costs no soak):

- ``failure_rate``: at most ``max_failure_rate`` of the wave's targets failed;
- ``verify`` (with ``--verify``): none of them failed its read-back (kind ``verify``);
- ``soak`` (with ``--soak S``): after S seconds, none of the wave's changed flows has a run
  that started after its change and failed (:mod:`bulkflow.flowservice.runs`).

The outcome is the log's ``gate`` record (:mod:`bulkflow.records.rollout`).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import anyio

from bulkflow.engine.breaker import Failures, failure_label, percent
from bulkflow.engine.pool import Observer
from bulkflow.errors import TargetError
from bulkflow.flowservice.client import FlowClient
from bulkflow.flowservice.runs import RunCheck, runs_after_change
from bulkflow.records.resultlog import ResultRecord, utc_now
from bulkflow.records.rollout import change_ms
from bulkflow.runconfig import RunConfig
from bulkflow.secrets import REGISTRY

SHOWN_RUNS = 5  # failed runs a gate record names; the count has them all
POLL_S = 0.1  # how often a soak looks whether the run is being stopped


@dataclass
class WaveTally:
    """What one wave's targets came to. ``size`` counts the whole wave: a target done in an
    earlier run of the log counts as succeeded."""

    number: int
    size: int
    upto: int
    counts: Counter[str] = field(default_factory=Counter)  # targets per status
    failures: Failures = field(default_factory=Failures)
    verify_failed: int = 0
    changed_ms: dict[str, int] = field(default_factory=dict)

    def add(self, record: ResultRecord) -> None:
        """Count one finished target."""
        self.counts[str(record["status"])] += 1
        label = failure_label(record)
        if label is not None:
            self.failures.add(label, record)
            error = record["error"]
            self.verify_failed += error is not None and error["kind"] == "verify"
        changed = change_ms(dict(record))
        if changed is not None:
            self.changed_ms[record["id"]] = changed

    @property
    def failed(self) -> int:
        """Targets of the wave that failed in this run."""
        return sum(self.failures.kinds.values())


class Watch:
    """An engine observer that tallies the current wave, then tells the observer it wraps."""

    def __init__(self, inner: Observer | None) -> None:
        self.inner = inner
        self.tally: WaveTally | None = None

    def target_done(self, record: ResultRecord) -> None:
        """Count the record in the current wave; pass it on."""
        if self.tally is not None:
            self.tally.add(record)
        if self.inner is not None:
            self.inner.target_done(record)


@dataclass(frozen=True)
class Check:
    """One check of a gate, with the figures it was decided on."""

    name: str
    passed: bool
    figures: dict[str, Any]
    reason: str | None = None

    def as_record(self) -> dict[str, Any]:
        """The check as the gate record lists it."""
        return {"name": self.name, "passed": self.passed, **self.figures, "reason": self.reason}


@dataclass(frozen=True)
class GateResult:
    """A gate's checks and its verdict."""

    tally: WaveTally
    waves: int
    checks: list[Check]

    @property
    def passed(self) -> bool:
        """Whether every check passed."""
        return all(check.passed for check in self.checks)

    @property
    def reason(self) -> str | None:
        """The first failed check's reason."""
        return next((c.reason for c in self.checks if not c.passed), None)

    def as_record(self) -> dict[str, Any]:
        """The log's ``gate`` line."""
        return {
            "type": "gate",
            "wave": self.tally.number,
            "waves": self.waves,
            "upto": self.tally.upto,
            "passed": self.passed,
            "checks": [check.as_record() for check in self.checks],
            "reason": self.reason,
            "at": utc_now(),
        }


class Gate:
    """Decides whether the rollout goes on after a wave."""

    def __init__(
        self, config: RunConfig, client: FlowClient, resource: str, stopping: Callable[[], bool]
    ) -> None:
        self.config = config
        self.client = client
        self.resource = resource
        self.stopping = stopping

    async def judge(self, tally: WaveTally, waves: int) -> GateResult | None:
        """The gate's result; None when the run is stopped during the soak (no verdict)."""
        checks = [self.failure_rate(tally)]
        if self.config.verify:
            checks.append(self.verify(tally))
        if self.config.soak_s and all(check.passed for check in checks):
            soak = await self.soak(tally)
            if soak is None:
                return None
            checks.append(soak)
        return GateResult(tally, waves, checks)

    def failure_rate(self, tally: WaveTally) -> Check:
        """At most ``max_failure_rate`` of the wave failed."""
        limit = self.config.max_failure_rate
        rate = tally.failed / tally.size if tally.size else 0.0
        figures = {"failed": tally.failed, "targets": tally.size, "rate": round(rate, 4)}
        if rate <= limit:
            return Check("failure_rate", True, figures | {"max": limit})
        reason = (
            f"{tally.failed} of {tally.size} targets failed ({percent(rate)}, more than "
            f"{percent(limit)}), {tally.failures.describe()}"
        )
        return Check("failure_rate", False, figures | {"max": limit}, reason)

    def verify(self, tally: WaveTally) -> Check:
        """No target of the wave failed its read-back."""
        figures = {"failed_verify": tally.verify_failed, "targets": tally.size}
        if not tally.verify_failed:
            return Check("verify", True, figures)
        sample = tally.failures.samples.get("verify")
        reason = f"{tally.verify_failed} targets did not read back as intended: {sample}"
        return Check("verify", False, figures, reason)

    async def soak(self, tally: WaveTally) -> Check | None:
        """Wait ``soak_s``, then read the runs of the wave's changed flows."""
        if not await self._wait(self.config.soak_s):
            return None
        figures: dict[str, Any] = {"soak_s": self.config.soak_s}
        if self.resource != "flows":
            return Check("soak", True, figures | {"skipped": f"{self.resource} have no runs"})
        try:
            found = await runs_after_change(self.client, tally.changed_ms)
        except TargetError as exc:
            reason = f"the runs of the wave's flows could not be read: {exc.message}"
            return Check("soak", False, figures, REGISTRY.text(reason))
        except Exception as exc:  # a bug must fail the gate (safe: the rollout stops), not the run
            reason = f"reading the runs failed: {type(exc).__name__}: {exc}"
            return Check("soak", False, figures, REGISTRY.text(reason)[:500])
        return _soak_check(found, figures)

    async def _wait(self, seconds: float) -> bool:
        """Sleep ``seconds``; False if the run was asked to stop meanwhile."""
        deadline = anyio.current_time() + seconds
        while not self.stopping():
            left = deadline - anyio.current_time()
            if left <= 0:
                return True
            await anyio.sleep(min(POLL_S, left))
        return False


def _soak_check(found: RunCheck, figures: dict[str, Any]) -> Check:
    figures |= {
        "flows": found.flows,
        "runs_after_change": found.runs_after,
        "failed_runs": found.failed_count,
        "failed": [
            {
                "flow": run.flow_id,
                "run": run.run_id,
                "started_ms": run.started_ms,
                "message": run.message,
            }
            for run in found.failed[:SHOWN_RUNS]
        ],
    }
    if not found.failed_count:
        return Check("soak", True, figures)
    first = found.failed[0]
    reason = (
        f"{found.failed_count} runs of the wave's {found.flows} changed flows failed after the "
        f"change, e.g. flow {first.flow_id}: {first.message}"
    )
    return Check("soak", False, figures, reason)
