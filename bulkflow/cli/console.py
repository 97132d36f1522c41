"""What a person sees: a live progress bar on a TTY, and the end-of-run summary."""

from __future__ import annotations

import contextlib
import os
import shlex
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, NamedTuple

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table
from rich.text import Text

from bulkflow.cli.rollout import print_rollout
from bulkflow.engine.pool import Summary
from bulkflow.flowservice.pacing import AdaptiveConcurrency
from bulkflow.records.resultlog import STATUSES, ResultRecord, Status

SHOWN_FAILURES = 20


class OutputConsole(Console):
    """stdout for results: if the reader goes away (``| head``), stop writing, keep working.

    rich's default raises SystemExit on a broken pipe, which would abandon the run midway;
    the run must still finish and write its log.
    """

    def on_broken_pipe(self) -> None:
        """Silence further output instead of exiting."""
        self.quiet = True
        with contextlib.suppress(OSError):
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())


class ProgressBar:
    """done/total, rate, failures and ETA on stderr, only when stderr is a terminal."""

    def __init__(
        self,
        total: int | Callable[[], int],
        console: Console,
        label: str,
        adaptive: AdaptiveConcurrency | None = None,
    ) -> None:
        self.enabled = console.is_terminal
        self.failures = 0
        self._adaptive = adaptive
        self._progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[rate]:>7} /s"),
            TextColumn("[red]{task.fields[failures]} failed"),
            TextColumn("concurrency {task.fields[concurrency]}"),
            TimeElapsedColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            console=console,
            transient=True,
        )
        self._task: TaskID | None = None
        # A query's targets are known only once it ran: the total is asked again as they finish.
        self._total_of = total if callable(total) else (lambda: total)
        self._label = label

    def __enter__(self) -> ProgressBar:
        if self.enabled:
            self._progress.start()
            self._task = self._progress.add_task(
                self._label,
                total=self._total_of(),
                failures=0,
                rate="-",
                concurrency=self._concurrency(),
            )
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self.enabled:
            self._progress.stop()

    def target_done(self, record: ResultRecord) -> None:
        """Advance by one finished target."""
        if record["status"] == Status.FAILED:
            self.failures += 1
        if self._task is None:
            return
        task = self._progress.tasks[0]
        rate = f"{task.speed:.0f}" if task.speed else "-"
        self._progress.update(
            self._task,
            advance=1,
            total=self._total_of(),
            failures=self.failures,
            rate=rate,
            concurrency=self._concurrency(),
        )

    def _concurrency(self) -> str:
        return str(self._adaptive.current) if self._adaptive is not None else "-"


class Step(NamedTuple):
    """A command the summary suggests: what it is for (a key of :data:`STEP_LABELS`) and its words."""

    kind: str
    words: Sequence[str]


@dataclass(frozen=True)
class RunFacts:
    """What the summary tells besides the counts: where the run went, its log, what to run next.

    ``log_path`` None: no log was kept (``plan`` without ``--log``); ``targets``: how many the
    run had to do, earlier runs of a resumed log included.
    """

    dry_run: bool = False
    log_path: Path | None = None
    steps: Sequence[Step] = ()
    identity: Mapping[str, Any] = field(default_factory=dict)
    targets: int | None = None


def print_summary(summary: Summary, console: Console, facts: RunFacts) -> None:
    """Counts per status, elapsed time and rate, the failed targets, and what to run next."""
    console.print("[bold]Summary[/bold]")
    console.print(_counts_table(summary, facts.dry_run))
    rate = summary.total / summary.elapsed_s if summary.elapsed_s else 0.0
    console.print(
        f"{plural(summary.total, 'target')} in {summary.elapsed_s:.2f}s ({rate:.1f}/s); "
        f"{plural(summary.conflicts, 'conflict')} re-planned, "
        f"{plural(summary.retries, 'request')} retried.",
        highlight=False,
    )
    console.print(summary_line(dict(summary.counts), facts.dry_run), style="bold")
    _print_how_it_went(summary, console, facts.targets)
    print_rollout(summary, console)
    _print_identity(facts.identity, console)
    if facts.log_path is not None:
        console.print(Text(f"Result log: {facts.log_path}"), soft_wrap=True)
    if summary.failed:
        _print_failures(summary, console)
    if summary.warned:
        _print_warnings(summary, console)
    for step in facts.steps:
        console.print(STEP_LABELS.get(step.kind, "Next:"))
        # One line, however narrow the terminal: a wrapped command cannot be pasted.
        console.print(Text("  " + shlex.join(step.words)), soft_wrap=True)


def plural(count: int, noun: str) -> str:
    """``1 target``, ``2,500 targets``."""
    return f"{count:,} {noun}{'' if count == 1 else 's'}"


def _print_identity(identity: Mapping[str, Any], console: Console) -> None:
    """Where the run went and who ran it, in two lines."""
    if not identity:
        return
    if identity.get("sim"):
        where = "the embedded simulator (--sim): nothing was sent to Adobe"
    else:
        sandboxes = identity.get("sandboxes")
        named = f"sandboxes {', '.join(sandboxes)}" if sandboxes else None
        where = f"{identity.get('base_url')}, {named or 'sandbox ' + str(identity.get('sandbox'))}"
        where += f", org {identity.get('org_id')}"
    who = f"By {identity.get('operator')} with bulkflow {identity.get('bulkflow')}"
    who += f"; job {identity.get('job_file')} ({_short_digest(identity.get('digest'))})"
    if identity.get("plan_file"):
        who += f"; plan {identity['plan_file']} ({_short_digest(identity.get('plan_digest'))})"
    console.print(Text(f"Against {where}."), soft_wrap=True)
    console.print(Text(who + "."), soft_wrap=True)


def _short_digest(digest: object) -> str:
    text = str(digest)
    return text[:19] + "…" if len(text) > 20 else text


def _counts_table(summary: Summary, dry_run: bool) -> Table:
    """Targets per status: those that occurred, and always the main outcome and failures."""
    always = (Status.PLANNED if dry_run else Status.UPDATED, Status.FAILED)
    table = Table(show_edge=False)
    table.add_column("status")
    table.add_column("targets", justify="right")
    for status in STATUSES:
        count = summary.counts.get(status, 0)
        if count or status in always:
            style = "red" if status == Status.FAILED and count else None
            table.add_row(status, str(count), style=style)
    table.add_row("total", str(summary.total), style="bold")
    return table


def _print_how_it_went(summary: Summary, console: Console, targets: int | None) -> None:
    """Throttling, a resume's skipped targets, and why (and where) a run stopped early."""
    if summary.throttled:
        pace = summary.gateway_rate_per_s
        about = f" (about {pace:.0f} requests/s)" if pace else ""
        console.print(
            f"Throttled {plural(summary.throttled, 'time')} (429); every worker slowed to the "
            f"gateway's pace{about} and sped up again as it allowed.",
            highlight=False,
        )
    if summary.skipped:
        console.print(
            f"Skipped {plural(summary.skipped, 'target')} the log shows done (--resume).",
            highlight=False,
        )
    if summary.interrupted:
        console.print(f"Interrupted: {_left_undone(summary, targets)}.", highlight=False)
    _print_sandboxes(summary, console)
    if summary.unreachable is not None:
        console.print(
            f"Stopped: the service cannot be reached: {summary.unreachable}. "
            f"{_left_undone(summary, targets).capitalize()}.",
            style="bold red",
            markup=False,
        )


def _print_sandboxes(summary: Summary, console: Console) -> None:
    """Over several sandboxes: the counts of each, and the ones a failure kept from starting."""
    for name, counts in summary.per_sandbox.items():
        shown = ", ".join(f"{n} {status}" for status, n in counts.items() if n) or "no targets"
        console.print(f"Sandbox {name}: {shown}.", markup=False)
    if summary.halted_sandboxes:
        console.print(
            f"Not started: {', '.join(summary.halted_sandboxes)} (a target failed in the sandbox "
            "before; fix it and retry, or go on anyway with --continue-on-failure).",
            style="bold red",
            markup=False,
        )


def _left_undone(summary: Summary, targets: int | None) -> str:
    """``700 of 2,500 targets done, 1,798 not started, 2 in flight stopped (not recorded)``."""
    cut = max(0, summary.started - summary.total)
    done = summary.total + summary.skipped
    parts = [f"{done:,} of {plural(targets, 'target')} done" if targets else f"{done:,} done"]
    if summary.skipped:
        parts[0] += f" ({summary.skipped:,} in earlier runs)"
    if targets is not None:
        parts.append(f"{max(0, targets - done - cut):,} not started")
    if cut:
        parts.append(f"{cut:,} stopped in flight (not recorded; a resume reads them again)")
    return ", ".join(parts)


STEP_LABELS = {
    "resume": "Resume (targets not done yet, failed ones included) with:",
    "retry": "Retry the failed targets with:",
    "replan": "Targets changed since the review: make and review a new plan with:",
    "plan": "No result log was kept (add --log PATH to keep one); plan again with:",
}


def _print_failures(summary: Summary, console: Console) -> None:
    """Failed and stale targets, those with the same reason in one row (5,000 targets failing
    alike read as one line, not a page of them)."""
    total = summary.counts.get(Status.FAILED, 0) + summary.counts.get(Status.STALE, 0)
    console.print(f"[bold red]Failed or stale targets ({total:,})[/bold red]")
    alike: dict[tuple[str, str], list[str]] = {}
    for item in summary.failed:
        error = item["error"] or {}
        alike.setdefault((str(error.get("kind")), str(error.get("message"))), []).append(item["id"])
    failures = Table(show_edge=False)
    failures.add_column("id")
    failures.add_column("kind")
    failures.add_column("reason", overflow="fold")
    rows = sorted(alike.items(), key=lambda row: -len(row[1]))
    for (kind, message), ids in rows[:SHOWN_FAILURES]:
        # Text, not markup: a server's message may hold "[/oops]" or "[link=…]".
        shown = ids[0] if len(ids) == 1 else f"{ids[0]} and {len(ids) - 1:,} more"
        failures.add_row(Text(shown), Text(kind), Text(message))
    console.print(failures)
    listed = sum(len(ids) for _, ids in rows[:SHOWN_FAILURES])
    if total > listed:
        console.print(f"... and {total - listed:,} more in the result log.")


def _print_warnings(summary: Summary, console: Console) -> None:
    """Targets whose plan goes past an Adobe guardrail (``--strict`` would fail them)."""
    count = summary.warned_count
    console.print(f"[bold yellow]Guardrail warnings on {plural(count, 'target')}[/bold yellow]")
    for item in summary.warned[:SHOWN_FAILURES]:
        for warning in item["warnings"]:
            console.print(Text(f"  {item['id']}: {warning}"), soft_wrap=True)
    if count > SHOWN_FAILURES:
        console.print(f"... and {count - SHOWN_FAILURES:,} more in the result log.")


def summary_line(counts: dict[str, int], dry_run: bool) -> str:
    """``Plan: 118 to change, 30 unchanged, 2 failed.`` (or the run's equivalent)."""
    if dry_run:
        return (
            f"Plan: {counts.get('planned', 0):,} to change, "
            f"{counts.get('unchanged', 0):,} unchanged, {counts.get('failed', 0):,} failed."
        )
    parts = [
        f"{counts.get(s, 0):,} {s}"
        for s in (Status.UPDATED, Status.UNCHANGED, Status.STALE, Status.FAILED)
        if counts.get(s)
    ]
    return "Run: " + (", ".join(parts) or "nothing to do") + "."
