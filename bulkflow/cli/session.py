"""One run as the terminal sees it: progress, Ctrl-C, the changes, the summary, what to run next.

The progress bar goes to stderr and only on a terminal; once it is gone the changes (grouped)
and the summary go to stdout. With ``plan --format json`` stdout carries the JSON document
alone, and the changes and summary go to stderr.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import os
import shlex
import shutil
import signal
import sys
from collections.abc import Iterator
from typing import Any

from rich.console import Console
from rich.text import Text

from bulkflow._version import __version__
from bulkflow.cli.changes import ChangeCollector, print_changes
from bulkflow.cli.console import (
    OutputConsole,
    ProgressBar,
    RunFacts,
    Step,
    plural,
    print_summary,
)
from bulkflow.cli.exits import exit_status
from bulkflow.cli.planjson import PlanDocument
from bulkflow.cli.simulated import simulator_for
from bulkflow.engine.pool import Observer, Summary
from bulkflow.flowservice.pacing import Pacer
from bulkflow.flowservice.settings import settings_from_env
from bulkflow.job.prepare import PreparedJob
from bulkflow.records.identity import identity
from bulkflow.records.resultlog import ResultRecord, Status
from bulkflow.records.savedplan import PlanRecorder, write_plan
from bulkflow.runner import RunControl, RunPlan, execute


class _View:
    """What the terminal collects while targets finish: the changes, and the JSON plan."""

    def __init__(self, bar: ProgressBar, show_ids: bool, as_json: bool) -> None:
        self.changes = ChangeCollector(bar, show_ids)
        self.document = PlanDocument() if as_json else None

    def target_done(self, record: ResultRecord) -> None:
        """Tell every collector."""
        self.changes.target_done(record)
        if self.document is not None:
            self.document.target_done(record)


def run_and_report(
    args: argparse.Namespace, job: PreparedJob, plan: RunPlan, control: RunControl | None = None
) -> int:
    """Run ``job`` as ``plan`` says, print the summary, save a plan if asked; the exit status."""
    as_json = getattr(args, "format", "text") == "json"
    # Off a terminal, wide lines: a log or CI page should not fold ids and messages.
    out = OutputConsole(highlight=False, width=None if sys.stdout.isatty() else 200)
    err = Console(stderr=True, highlight=False)
    human = err if as_json else out
    control = control or RunControl(Pacer(plan.config.concurrency, plan.config.rate_per_s))
    if args.out is not None:
        control.recorder = PlanRecorder()
    scratch = scratch_log(args)
    _announce_resume(plan, human)
    total = functools.partial(_target_total, job, plan)
    bar = ProgressBar(total, err, _label(job, plan), control.pacer.adaptive)
    view = _View(bar, getattr(args, "show_ids", False), as_json)
    try:
        summary, where = asyncio.run(_go(job, plan, err, bar, view, control))
    except asyncio.CancelledError:  # stopped before any target started: nothing to record
        raise KeyboardInterrupt from None
    finally:
        if scratch:
            plan.log_path.unlink(missing_ok=True)
    with _summary_in_one_piece():
        _report(args, job, plan, summary, run_identity(job, plan, where), view, human, control)
    return exit_status(summary, args.detailed_exitcode)


def _report(
    args: argparse.Namespace,
    job: PreparedJob,
    plan: RunPlan,
    summary: Summary,
    run: dict[str, Any],
    view: _View,
    human: Console,
    control: RunControl,
) -> None:
    """After the run: the changes, the summary, the saved plan, the JSON document."""
    scratch = scratch_log(args)
    heading = None if plan.config.dry_run else "Changes made:"
    print_changes(
        view.changes.groups, human, job.job.resource, view.changes.show_ids, heading, not scratch
    )
    facts = RunFacts(
        dry_run=plan.config.dry_run,
        log_path=None if scratch else plan.log_path,
        steps=next_steps(summary, job, plan, scratch),
        identity=run,
        targets=_target_total(job, plan),
    )
    print_summary(summary, human, facts)
    whole = not (summary.interrupted or summary.unreachable or summary.stopped)
    if control.recorder is not None and not whole:
        # A plan of the targets it got to is not the plan of the job: nothing to apply.
        human.print(Text(f"No plan saved to {args.out}: the plan did not reach every target."))
    elif control.recorder is not None:
        undo_of = None if plan.undo is None else str(plan.undo.path.resolve())
        write_plan(args.out, job, control.recorder, dict(summary.counts), undo_of)
        saved = plural(len(control.recorder.entries), "target")
        human.print(Text(f"Saved plan: {args.out} ({saved}). Apply it with:"))
        sim = ["--sim"] if plan.sim else []
        human.print(Text("  " + shlex.join([*program(), "apply", str(args.out), *sim])))
    if view.document is not None:
        sys.stdout.buffer.write(view.document.dumps(summary, run))
        sys.stdout.flush()


@contextlib.contextmanager
def _summary_in_one_piece() -> Iterator[None]:
    """A Ctrl-C after the run must not cut the summary and its resume command short."""
    try:
        previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    except ValueError:  # not the main thread (a library caller): nothing to guard
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def scratch_log(args: argparse.Namespace) -> bool:
    """Whether the run's log is a scratch file removed at the end (``plan`` without ``--log``)."""
    return args.log is None and bool(getattr(args, "scratch_log", False))


def run_identity(job: PreparedJob, plan: RunPlan, where: dict[str, Any]) -> dict[str, Any]:
    """Where the run went, who ran it, with what: as the summary and ``plan --format json`` say."""
    config = plan.config
    return {
        "job": job.job.name,
        "job_file": str(job.loaded.path),
        "digest": job.loaded.digest,
        "resource": job.job.resource,
        "sim": plan.sim,
        **where,
        "bulkflow": __version__,
        "plan_file": config.plan_file,
        "plan_digest": config.plan_digest,
    }


def next_steps(summary: Summary, job: PreparedJob, plan: RunPlan, scratch: bool) -> list[Step]:
    """Commands that would do what is left: resume, retry failures, re-plan stale targets."""
    me, sim, job_file = program(), (["--sim"] if plan.sim else []), str(job.loaded.path)
    log = str(plan.log_path)
    run, again = ("run", "plan") if plan.undo is None else ("undo", "undo")
    resume = Step("resume", [*me, run, job_file, "--log", log, "--resume", *sim])
    if summary.paused_after is not None or (summary.stopped and summary.undo is None):
        # The next wave (or, once the cause is fixed, the stopped one) continues from the log.
        return [resume]
    if summary.undo is not None:
        retry = Step("retry", [*me, "retry", summary.undo["log"], *sim])
        return [retry] if summary.undo["failed"] else []
    if summary.unreachable is not None or summary.interrupted:  # a resume also redoes failures
        if scratch:
            return [Step("plan", [*me, again, job_file, *sim])]
        return [resume]
    steps: list[Step] = []
    if summary.halted_sandboxes and not scratch:  # a resume also starts the halted sandboxes
        steps.append(resume)
    elif summary.counts.get(Status.FAILED) and not scratch and _retry_helps(summary):
        steps.append(Step("retry", [*me, "retry", log, *sim]))
    if summary.counts.get(Status.STALE):
        steps.append(Step("replan", [*me, again, job_file, "--out", "PLAN", *sim]))
    return steps


#: Failures a retry cannot mend as they stand: drift and credentials need a person, a
#: guardrail needs the plan changed (or ``--no-strict``).
FINAL_KINDS = frozenset({"drifted", "irreversible", "guardrail"})


def _retry_helps(summary: Summary) -> bool:
    kinds = {str((item.get("error") or {}).get("kind")) for item in summary.failed}
    return not kinds or not kinds <= FINAL_KINDS


def program() -> list[str]:
    """How this shell calls bulkflow again: ``bulkflow`` when that is this program on PATH,
    else the path it was started by (``.venv/bin/bulkflow``), or ``python -m bulkflow``."""
    started = sys.argv[0] if sys.argv else ""
    if not started or started.endswith("__main__.py"):
        return [sys.executable, "-m", "bulkflow"]
    found = shutil.which("bulkflow")
    with contextlib.suppress(OSError):
        if found is not None and os.path.samefile(found, started):
            return ["bulkflow"]
    return [started]


def _announce_resume(plan: RunPlan, console: Console) -> None:
    """A resumed run says first how much its log shows done already."""
    if not plan.resume or plan.earlier is None:
        return
    done = len(plan.earlier.done())
    verb = "is" if done == 1 else "are"
    console.print(
        Text(f"Resuming {plan.log_path}: {plural(done, 'target')} done there {verb} skipped.")
    )


def _target_total(job: PreparedJob, plan: RunPlan) -> int:
    return len(plan.only) if plan.only is not None else job.target_count


def _label(job: PreparedJob, plan: RunPlan) -> str:
    return f"{'planning' if plan.config.dry_run else 'updating'} {job.job.resource}"


async def _go(
    job: PreparedJob,
    plan: RunPlan,
    err: Console,
    bar: ProgressBar,
    observer: Observer,
    control: RunControl,
) -> tuple[Summary, dict[str, Any]]:
    """The run, with the bar drawn and Ctrl-C handled; its summary and where it went."""
    with bar, _stop_on_signals(control, err, plan.config.grace_s):
        if plan.sim:
            async with simulator_for(job, plan.undo) as (_, settings):
                return await execute(job, settings, plan, observer, control), identity(
                    settings, job
                )
        settings = settings_from_env(job.job.sandbox)
        return await execute(job, settings, plan, observer, control), identity(settings, job)


@contextlib.contextmanager
def _stop_on_signals(control: RunControl, err: Console, grace_s: float) -> Iterator[None]:
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
                Text(
                    "Stopping: no new targets start; those in flight finish and are recorded "
                    f"(up to {grace_s:g}s). Press Ctrl-C again to stop at once."
                )
            )
        elif control.stop_requests == 2:
            err.print(
                Text(
                    "Stopping now: targets still in flight are cancelled and not recorded; "
                    "the summary says how to resume."
                ),
                style="bold",
            )

    installed = []
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, on_signal)
            installed.append(sig)
    try:
        yield
    finally:
        for sig in installed:
            loop.remove_signal_handler(sig)
