"""A run's summary: counts per status (and per sandbox), timing, what went wrong."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from bulkflow.engine.breaker import Stop
from bulkflow.records.resultlog import STATUSES, utc_now

KEPT_FAILURES = 1000  # for the summary; the result log has every one


@dataclass
class Summary:
    """Counts per status and timing of a run."""

    counts: Counter[str] = field(default_factory=Counter)
    failed: list[dict[str, Any]] = field(default_factory=list)
    warned: list[dict[str, Any]] = field(default_factory=list)  # guardrail warnings, by target
    warned_count: int = 0
    elapsed_s: float = 0.0
    conflicts: int = 0
    retries: int = 0
    throttled: int = 0
    lowest_concurrency: int | None = None
    gateway_rate_per_s: float | None = None  # what the gateway accepted when it last throttled
    interrupted: bool = False
    unreachable: str | None = None
    skipped: int = 0  # done in an earlier run of the log (--resume)
    started: int = 0  # targets taken up; those not finished were in flight when it stopped
    # A staged rollout (engine/waves.py) and the failure breaker (engine/breaker.py).
    stopped: Stop | None = None  # the breaker tripped, or a wave's gate failed
    wave_count: int = 0
    waves: dict[int, Counter[str]] = field(default_factory=dict)  # targets per status, by wave
    gates: list[dict[str, Any]] = field(default_factory=list)  # the log's gate records
    paused_after: int | None = None  # --pause: the wave whose gate passed last
    undo: dict[str, Any] | None = None  # --undo-on-stop: what the undo did, and its log
    per_sandbox: dict[str, Counter[str]] = field(default_factory=dict)
    halted_sandboxes: list[str] = field(default_factory=list)  # not started: one failed before

    @property
    def total(self) -> int:
        """Targets finished."""
        return sum(self.counts.values())

    def note_warnings(self, target_id: str, warnings: list[str]) -> None:
        """Count a target whose plan goes past a guardrail (the first ones kept to show)."""
        if warnings:
            self.warned_count += 1
            if len(self.warned) < KEPT_FAILURES:
                self.warned.append({"id": target_id, "warnings": warnings})

    def add(self, part: Summary, sandbox: str | None = None) -> None:
        """Fold one sandbox's part of a run into the run's summary."""
        self.counts.update(part.counts)
        self.started += part.started
        self.failed += part.failed[: max(0, KEPT_FAILURES - len(self.failed))]
        self.warned += part.warned[: max(0, KEPT_FAILURES - len(self.warned))]
        self.warned_count += part.warned_count
        self.elapsed_s += part.elapsed_s
        self.conflicts += part.conflicts
        self.retries += part.retries
        self.interrupted |= part.interrupted
        self.unreachable = self.unreachable or part.unreachable
        self.stopped = self.stopped or part.stopped
        self.wave_count = max(self.wave_count, part.wave_count)
        for wave, counts in part.waves.items():
            self.waves.setdefault(wave, Counter()).update(counts)
        self.gates += part.gates
        self.paused_after = (
            part.paused_after if part.paused_after is not None else self.paused_after
        )
        if sandbox is not None:
            self.per_sandbox[sandbox] = Counter(part.counts)

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
            "warned": self.warned_count,
            "sandboxes": {name: dict(counts) for name, counts in self.per_sandbox.items()},
            "halted_sandboxes": self.halted_sandboxes,
            "elapsed_s": round(self.elapsed_s, 3),
            "rate_per_s": round(rate, 1),
            "finished_at": utc_now(),
        } | self._staged()

    def _staged(self) -> dict[str, Any]:
        """The summary fields of waves and of a stop, only when there were any."""
        fields: dict[str, Any] = {}
        if self.wave_count:
            fields["waves"] = [
                {"wave": n, "counts": dict(counts)} for n, counts in sorted(self.waves.items())
            ]
            fields["paused_after_wave"] = self.paused_after
        if self.stopped is not None:
            fields["stopped"] = self.stopped.as_record()
        return fields
