"""What a staged rollout adds to the summary: each wave, its gate, why the run stopped, the undo."""

from __future__ import annotations

from collections import Counter

from rich.console import Console

from bulkflow.engine.pool import Summary
from bulkflow.records.resultlog import STATUSES


def print_rollout(summary: Summary, console: Console) -> None:
    """Waves with their counts and gates, then a stop, a pause or an undo, if any."""
    gates = {gate.get("wave"): gate for gate in summary.gates}
    for number, counts in sorted(summary.waves.items()):
        line = f"Wave {number} of {summary.wave_count}: {_counts(counts)}"
        gate = gates.get(number)
        if gate is not None:
            line += "; gate passed" if gate.get("passed") else "; gate failed"
        console.print(line, markup=False, highlight=False)
    stopped = summary.stopped
    if stopped is not None:
        where = (
            "by the failure breaker"
            if stopped.by == "breaker"
            else f"at the gate after wave {stopped.wave} of {summary.wave_count}"
        )
        console.print(
            f"Stopped {where}: {stopped.reason.rstrip('.')}. No new target was started; targets not "
            "attempted are not in the log.",
            style="bold red",
            markup=False,
        )
    if summary.paused_after is not None:
        console.print(
            f"Paused after wave {summary.paused_after} of {summary.wave_count}: its gate passed. "
            f"Look at what changed, then start wave {summary.paused_after + 1} with the command "
            "below.",
            markup=False,
        )
    _print_undo(summary, console)


def _counts(counts: Counter[str]) -> str:
    return ", ".join(f"{counts[s]} {s}" for s in STATUSES if counts.get(s)) or "nothing to do"


def _print_undo(summary: Summary, console: Console) -> None:
    undo = summary.undo
    if undo is None:
        return
    if undo["log"] is None:
        console.print("Undo on stop: the log records no change to take back.")
        return
    console.print(
        f"Undo on stop: {undo['reverted']} of {undo['targets']} changed targets reverted, "
        f"{undo['failed']} failed; the undo's log: {undo['log']}",
        style="bold",
        markup=False,
    )
