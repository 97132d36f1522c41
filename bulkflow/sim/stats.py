"""What the simulator saw: request counts, concurrency, and a journal for timing checks."""

from __future__ import annotations

import time
from collections import Counter, deque
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class JournalEntry:
    """One answered request. ``at_s`` is monotonic seconds when the request arrived."""

    at_s: float
    method: str
    path: str  # with the query string
    status: int
    retry_after_s: float | None = None


@dataclass
class Stats:
    """Counters a test or benchmark reads to check how a client behaved."""

    counts: Counter[tuple[str, int]] = field(default_factory=Counter)
    in_flight: int = 0
    max_in_flight: int = 0
    journal: deque[JournalEntry] = field(default_factory=lambda: deque(maxlen=500_000))
    keep_journal: bool = True

    def started(self) -> float:
        """Mark a request in flight; returns its arrival time."""
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        return time.monotonic()

    def finished(
        self, arrived_s: float, method: str, path: str, status: int, retry_after_s: float | None
    ) -> None:
        """Count an answered (or dropped, status 0) request; journal it when keeping one."""
        self.in_flight -= 1
        self.counts[(method, status)] += 1
        if self.keep_journal:
            self.journal.append(JournalEntry(arrived_s, method, path, status, retry_after_s))

    def count(self, method: str | None = None, status: int | None = None) -> int:
        """Requests seen, optionally of one method and/or one status."""
        return sum(
            n
            for (m, s), n in self.counts.items()
            if (method is None or m == method) and (status is None or s == status)
        )

    def reset(self) -> None:
        """Forget everything counted so far."""
        self.counts.clear()
        self.journal.clear()
        self.max_in_flight = self.in_flight

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready view for ``GET /_sim/stats``."""
        return {
            "requests": self.count(),
            "by_method_status": {f"{m} {s}": n for (m, s), n in sorted(self.counts.items())},
            "in_flight": self.in_flight,
            "max_in_flight": self.max_in_flight,
        }
