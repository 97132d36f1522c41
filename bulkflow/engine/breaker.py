"""The failure breaker: stop starting targets when failures say the change itself is wrong.

Fed every finished target (:meth:`~bulkflow.engine.pool.Engine._record`), waves or not. It trips
when, once ``window`` targets have finished, more than ``max_rate`` of the last ``window``
failed, or at any time when :data:`STREAK` targets in a row failed with the same error kind
(kind and HTTP status: ``http 400``). A systematic error (a destination kind that rejects the
change, an expired credential) then costs a window's worth of targets, not all of them. The
trip names the kind most of those failures share and one of their messages (records are masked
already).
"""

from __future__ import annotations

from collections import Counter, deque
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

#: Failures in a row with one error kind that trip the breaker whatever the window says.
STREAK = 10
#: An undo's targets that others changed since, left alone one by one on purpose: not a sign
#: that the change is wrong, and an undo stopped halfway would leave the estate half reverted.
LEFT_ALONE = frozenset({"drifted", "irreversible"})


@dataclass(frozen=True)
class Stop:
    """Why a run stopped starting targets: the breaker, or a wave's gate that failed."""

    by: str  # "breaker" or "gate"
    reason: str  # one line for a person, naming the error kind and a sample message
    kind: str | None = None  # the dominant error kind, e.g. "http 400"
    sample: str | None = None  # one message of that kind
    wave: int | None = None  # the wave whose gate failed

    def as_record(self) -> dict[str, Any]:
        """The summary line's ``stopped`` field."""
        return {
            "by": self.by,
            "reason": self.reason,
            "kind": self.kind,
            "sample": self.sample,
            "wave": self.wave,
        }


def failure_label(record: Mapping[str, Any]) -> str | None:
    """A failed record's error kind with its HTTP status (``http 400``); None if it did not fail."""
    if record.get("status") != "failed":
        return None
    error = record.get("error") or {}
    kind = str(error.get("kind") or "unknown")
    status = error.get("status")
    return f"{kind} {status}" if status is not None else kind


def percent(rate: float) -> str:
    """``0.05`` as ``5%``, ``0.125`` as ``12.5%``."""
    return f"{rate * 100:.3g}%"


class Failures:
    """Failed targets by error kind, each kind with its latest message."""

    def __init__(self) -> None:
        self.kinds: Counter[str] = Counter()
        self.samples: dict[str, str] = {}

    def add(self, label: str, record: Mapping[str, Any]) -> None:
        """Count one failed record."""
        self.kinds[label] += 1
        self.samples[label] = str((record.get("error") or {}).get("message") or "")

    def dominant(self) -> tuple[str | None, str | None]:
        """The kind most failures share and a message of it."""
        counted = +self.kinds  # kinds that have left a window count zero
        if not counted:
            return None, None
        kind = counted.most_common(1)[0][0]
        return kind, self.samples.get(kind)

    def describe(self) -> str:
        """``most with http 400: <message>``."""
        kind, sample = self.dominant()
        return f"most with {kind}: {sample}" if kind is not None else ""


class Breaker:
    """Watches finished targets; :meth:`observe` answers a :class:`Stop` once, when it trips."""

    def __init__(self, window: int, max_rate: float) -> None:
        self.window = window
        self.max_rate = max_rate
        self._last: deque[str | None] = deque(maxlen=window)
        self._in_window = Failures()
        self._streak: tuple[str | None, int] = (None, 0)
        self._tripped = False

    def observe(self, record: Mapping[str, Any]) -> Stop | None:
        """Take one finished target into account; the stop, the first time the breaker trips."""
        label = failure_label(record)
        if (record.get("error") or {}).get("kind") in LEFT_ALONE:
            label = None
        if len(self._last) == self.window:
            leaving = self._last[0]
            if leaving is not None:
                self._in_window.kinds[leaving] -= 1
        self._last.append(label)
        if label is not None:
            self._in_window.add(label, record)
        kind, count = self._streak
        self._streak = (label, count + 1 if label is not None and label == kind else 1)
        if self._tripped:
            return None
        stop = self._check()
        self._tripped = stop is not None
        return stop

    def _check(self) -> Stop | None:
        label, count = self._streak
        if label is not None and count >= STREAK:
            sample = self._in_window.samples.get(label)
            reason = f"{count} targets in a row failed with {label}: {sample}"
            return Stop("breaker", reason, label, sample)
        failed = sum(self._in_window.kinds.values())
        if len(self._last) < self.window or failed <= self.max_rate * self.window:
            return None
        kind, sample = self._in_window.dominant()
        reason = (
            f"{failed} of the last {self.window} targets failed (more than "
            f"{percent(self.max_rate)}), {self._in_window.describe()}"
        )
        return Stop("breaker", reason, kind, sample)
