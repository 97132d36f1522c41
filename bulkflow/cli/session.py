"""One run as the terminal sees it: progress, Ctrl-C, the summary, what to run next."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys
from collections.abc import Iterator

from rich.console import Console

from bulkflow.cli.console import OutputConsole, PlanPrinter, ProgressBar, print_summary
from bulkflow.cli.exits import exit_status
from bulkflow.cli.simulated import simulator_for
from bulkflow.engine.pool import Summary
from bulkflow.flowservice.pacing import Pacer
from bulkflow.flowservice.settings import settings_from_env
from bulkflow.job.prepare import PreparedJob
from bulkflow.records.resultlog import Status
from bulkflow.records.savedplan import PlanRecorder, write_plan
from bulkflow.runner import RunControl, RunPlan, execute


def run_and_report(
    args: argparse.Namespace, job: PreparedJob, plan: RunPlan, control: RunControl | None = None
) -> int:
    """Run ``job`` as ``plan`` says, print the summary, save a plan if asked; the exit status."""
    # Off a terminal, wide lines: a log or CI page should not fold ids and messages.
    out = OutputConsole(highlight=False, width=None if sys.stdout.isatty() else 200)
    err = Console(stderr=True)
    control = control or RunControl(Pacer(plan.config.concurrency, plan.config.rate_per_s))
    if args.out is not None:
        control.recorder = PlanRecorder()
    try:
        summary = asyncio.run(_go(job, plan, out, err, args.show_plan, control))
    except asyncio.CancelledError:  # stopped before any target started: nothing to record
        raise KeyboardInterrupt from None
    print_summary(summary, out, plan.log_path, next_steps(summary, job, plan), plan.config.dry_run)
    if plan.sim:
        out.print("This ran against the embedded simulator (--sim): nothing was sent to Adobe.")
    if control.recorder is not None:
        undo_of = None if plan.undo is None else str(plan.undo.path.resolve())
        write_plan(args.out, job, control.recorder, dict(summary.counts), undo_of)
        out.print(
            f"Saved plan: {args.out} ({len(control.recorder.entries)} targets). Apply it with:"
        )
        out.print(f"  bulkflow apply {args.out}", markup=False, highlight=False)
    return exit_status(summary, args.detailed_exitcode)


def next_steps(summary: Summary, job: PreparedJob, plan: RunPlan) -> list[list[str]]:
    """Commands that would do what is left: resume, retry failures, re-plan stale targets."""
    sim = ["--sim"] if plan.sim else []
    steps: list[list[str]] = []
    command = ["bulkflow", "run"] if plan.undo is None else ["bulkflow", "undo"]
    if summary.paused_after is not None or (summary.stopped and summary.undo is None):
        # The next wave (or, once the cause is fixed, the stopped one) continues from the log.
        return [[*command, str(job.loaded.path), "--resume", "--log", str(plan.log_path), *sim]]
    if summary.undo is not None:
        failed = summary.undo["failed"]
        return [["bulkflow", "retry", summary.undo["log"], *sim]] if failed else []
    if summary.unreachable is not None or summary.interrupted:  # a resume also redoes failures
        log = ["--log", str(plan.log_path), "--resume"]
        return [[*command, str(job.loaded.path), *log, *sim]]
    if summary.counts.get(Status.FAILED):
        steps.append(["bulkflow", "retry", str(plan.log_path), *sim])
    if summary.counts.get(Status.STALE):
        again = ["plan"] if plan.undo is None else ["undo"]
        steps.append(["bulkflow", *again, str(job.loaded.path), "--out", "PLAN", *sim])
    return steps


async def _go(
    job: PreparedJob,
    plan: RunPlan,
    out: Console,
    err: Console,
    show_plan: bool,
    control: RunControl,
) -> Summary:
    label = "planning" if plan.config.dry_run else "updating"
    total = len(plan.only) if plan.only is not None else job.target_count
    with ProgressBar(total, err, f"{label} {job.job.resource}", control.pacer.adaptive) as bar:
        observer = PlanPrinter(bar, out) if show_plan else bar
        with _stop_on_signals(control, err):
            if plan.sim:
                async with simulator_for(job, plan.undo) as (_, settings):
                    return await execute(job, settings, plan, observer, control)
            return await execute(job, settings_from_env(job.job.sandbox), plan, observer, control)


@contextlib.contextmanager
def _stop_on_signals(control: RunControl, err: Console) -> Iterator[None]:
    """First SIGINT/SIGTERM: finish in-flight targets and stop; a second SIGINT: stop now."""
    loop = asyncio.get_running_loop()
    task = asyncio.current_task()

    def on_signal() -> None:
        control.request_stop()
        if control.engine is None and task is not None:
            # Still resolving a query or checking a plan: no target has started, stop now.
            task.cancel()
            return
        if control.stop_requests == 1:
            err.print(
                "Stopping: no new targets; in-flight ones finish and are recorded (Ctrl-C again to stop now)."
            )

    installed = []
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, on_signal)
            installed.append(sig)
    try:
        yield
    finally:
        for sig in installed:
            loop.remove_signal_handler(sig)
