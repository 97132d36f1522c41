"""What a person sees: a live progress bar on a TTY, and the end-of-run summary."""

from __future__ import annotations

import contextlib
import os
import shlex
import sys
from pathlib import Path
from types import TracebackType

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
        self, total: int, console: Console, label: str, adaptive: AdaptiveConcurrency | None = None
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
        self._total = total
        self._label = label

    def __enter__(self) -> ProgressBar:
        if self.enabled:
            self._progress.start()
            self._task = self._progress.add_task(
                self._label,
                total=self._total,
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
            failures=self.failures,
            rate=rate,
            concurrency=self._concurrency(),
        )

    def _concurrency(self) -> str:
        return str(self._adaptive.current) if self._adaptive is not None else "-"


def print_summary(
    summary: Summary,
    console: Console,
    log_path: Path | None,
    steps: list[list[str]] | None = None,
    dry_run: bool = False,
) -> None:
    """Counts per status, elapsed time and rate, the failed targets, and what to run next."""
    console.print("[bold]Summary[/bold]")
    console.print(_counts_table(summary, dry_run))
    rate = summary.total / summary.elapsed_s if summary.elapsed_s else 0.0
    console.print(
        f"{summary.total} targets in {summary.elapsed_s:.2f}s ({rate:.1f}/s); "
        f"{summary.conflicts} conflicts re-planned, {summary.retries} requests retried."
    )
    console.print(summary_line(dict(summary.counts), dry_run), style="bold")
    _print_how_it_went(summary, console)
    print_rollout(summary, console)
    if log_path is not None:
        console.print(f"Result log: {log_path}")
    if summary.failed:
        _print_failures(summary, console)
    if summary.warned:
        _print_warnings(summary, console)
    for step in steps or ():
        console.print(STEP_LABELS.get(step[1], "Next:"))
        console.print("  " + shlex.join(step), markup=False, highlight=False)


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


def _print_how_it_went(summary: Summary, console: Console) -> None:
    """Throttling, a resume's skipped targets, and why a run stopped early."""
    if summary.throttled:
        console.print(
            f"Throttled {summary.throttled} times (429); concurrency went down to "
            f"{summary.lowest_concurrency} and recovered as requests succeeded."
        )
    if summary.skipped:
        console.print(f"Skipped {summary.skipped} targets the log shows done (--resume).")
    if summary.interrupted:
        console.print("Interrupted: targets not started are not in the log.")
    if summary.unreachable is not None:
        console.print(
            f"Stopped: the service cannot be reached: {summary.unreachable}. "
            "Targets not attempted are not in the log.",
            style="bold red",
            markup=False,
        )


STEP_LABELS = {
    "run": "Resume (targets not done yet, failed ones included) with:",
    "retry": "Retry the failed targets with:",
    "plan": "Targets changed since the review: make and review a new plan with:",
}


def _print_failures(summary: Summary, console: Console) -> None:
    total = summary.counts.get(Status.FAILED, 0) + summary.counts.get(Status.STALE, 0)
    console.print(f"[bold red]Failed or stale targets ({total})[/bold red]")
    failures = Table(show_edge=False)
    failures.add_column("id")
    failures.add_column("kind")
    failures.add_column("reason", overflow="fold")
    for item in summary.failed[:SHOWN_FAILURES]:
        error = item["error"] or {}
        # Text, not markup: a server's message may hold "[/oops]" or "[link=…]".
        failures.add_row(
            Text(item["id"]), Text(str(error.get("kind"))), Text(str(error.get("message")))
        )
    console.print(failures)
    if total > SHOWN_FAILURES:
        console.print(f"... and {total - SHOWN_FAILURES} more in the result log.")


def _print_warnings(summary: Summary, console: Console) -> None:
    """Targets whose plan goes past an Adobe guardrail (``--strict`` would fail them)."""
    count = summary.warned_count
    console.print(
        f"[bold yellow]Guardrail warnings on {count} target{'s' * (count != 1)}[/bold yellow]"
    )
    for item in summary.warned[:SHOWN_FAILURES]:
        for warning in item["warnings"]:
            console.print(f"  {item['id']}: {warning}", markup=False, soft_wrap=True)
    if count > SHOWN_FAILURES:
        console.print(f"... and {count - SHOWN_FAILURES} more in the result log.")


class PlanPrinter:
    """Prints each target that would change, as it is planned (an engine observer)."""

    def __init__(self, bar: ProgressBar, console: Console) -> None:
        self.bar = bar
        self.console = console

    def target_done(self, record: ResultRecord) -> None:
        """Advance the bar; print the target's planned changes, if any."""
        self.bar.target_done(record)
        if record["status"] != Status.PLANNED:
            return
        title = f"{record['resource']} {record['id']}"
        title += f' "{record["name"]}"' if record.get("name") else ""
        self.console.print(title, markup=False, soft_wrap=True)
        for line in record["changes"]:
            self.console.print("  " + line, markup=False, soft_wrap=True)
        for warning in record["warnings"]:
            self.console.print("  ! " + warning, markup=False, soft_wrap=True)


def summary_line(counts: dict[str, int], dry_run: bool) -> str:
    """``Plan: 118 to change, 30 unchanged, 2 failed.`` (or the run's equivalent)."""
    if dry_run:
        return (
            f"Plan: {counts.get('planned', 0)} to change, {counts.get('unchanged', 0)} unchanged, "
            f"{counts.get('failed', 0)} failed."
        )
    parts = [
        f"{counts.get(s, 0)} {s}"
        for s in (Status.UPDATED, Status.UNCHANGED, Status.STALE, Status.FAILED)
        if counts.get(s)
    ]
    return "Run: " + (", ".join(parts) or "nothing to do") + "."
