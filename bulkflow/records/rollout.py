"""What a staged rollout leaves in its log: ``wave`` on each result, a ``gate`` line per gate.

A ``gate`` record is written when the checks between two waves have run::

    {"type": "gate", "wave": 1, "waves": 3, "upto": 10, "passed": false,
     "checks": [{"name": "failure_rate", "passed": false, "failed": 3, "targets": 10, …}],
     "reason": "3 of 10 targets failed (30%, more than 5%), most with http 400: …", "at": …}

``upto`` is how many targets, in the job's order, the waves up to this one cover. A resumed
run skips the targets below the highest ``upto`` of a passed gate (:func:`read_rollout`): a
finished wave is never repeated.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from bulkflow.records.resultlog import STATUSES, LogScan, Status


@dataclass
class RolloutLog:
    """What an earlier log says of a rollout: how far its passed gates reach, and when each
    target it updated was changed (epoch ms, for the soak check of a resumed wave)."""

    finished_upto: int = 0
    changed_ms: dict[str, int] = field(default_factory=dict)
    recorded: set[str] = field(default_factory=set)  # targets with a result in the log


def read_rollout(path: Path, with_changes: bool) -> RolloutLog:
    """Read ``path`` (a log or none) for :class:`RolloutLog`; change times only if asked."""
    found = RolloutLog()
    if not path.is_file():
        return found
    for record in LogScan(path):
        kind = record.get("type")
        if kind == "gate" and record.get("passed") is True:
            upto = record.get("upto")
            if isinstance(upto, int) and not isinstance(upto, bool):
                found.finished_upto = max(found.finished_upto, upto)
        elif kind == "result" and isinstance(record.get("id"), str):
            found.recorded.add(record["id"])
        if kind == "result" and with_changes and isinstance(record.get("id"), str):
            changed = change_ms(record)
            if changed is not None:
                found.changed_ms[record["id"]] = changed
    return found


def change_ms(record: dict[str, Any]) -> int | None:
    """When an ``updated`` record's change was made, epoch ms; None for any other record.

    Counted from when bulkflow started on the target (``at`` less ``duration_ms``), so a run
    that started while the change was being sent counts as after it.
    """
    if record.get("status") != Status.UPDATED or not isinstance(record.get("at"), str):
        return None
    try:
        at = datetime.fromisoformat(record["at"].replace("Z", "+00:00"))
    except ValueError:
        return None
    duration = record.get("duration_ms")
    duration = duration if isinstance(duration, int | float) and duration >= 0 else 0
    return int(at.timestamp() * 1000 - duration)


def wave_counts(records: Iterable[dict[str, Any]]) -> list[tuple[int, Counter[str]]]:
    """Targets per status in each wave, from the records that carry a ``wave``."""
    waves: dict[int, Counter[str]] = {}
    for record in records:
        wave = record.get("wave")
        if isinstance(wave, int) and not isinstance(wave, bool):
            waves.setdefault(wave, Counter())[str(record.get("status"))] += 1
    return sorted(waves.items())


def wave_rows(
    records: Iterable[dict[str, Any]], gates: Iterable[dict[str, Any]]
) -> list[dict[str, Any]]:
    """A report's table of waves: each wave's targets per status and its latest gate."""
    latest_gate = {gate.get("wave"): gate for gate in gates}
    rows = []
    for wave, counts in wave_counts(records):
        shown = ", ".join(f"{counts[s]} {s}" for s in STATUSES if counts.get(s))
        rows.append({"wave": wave, "counts": shown, "gate": _gate_text(latest_gate.get(wave))})
    return rows


def _gate_text(gate: dict[str, Any] | None) -> str:
    if gate is None:
        return ""
    return "passed" if gate.get("passed") is True else f"failed: {gate.get('reason')}"
