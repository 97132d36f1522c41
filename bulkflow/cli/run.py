"""``bulkflow run``, ``plan``, ``retry`` and ``validate``: flags, wiring and exit codes."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from rich.console import Console

from bulkflow import diagnostics
from bulkflow.cli.console import OutputConsole, ProgressBar, print_summary
from bulkflow.engine.pool import Summary
from bulkflow.errors import InputError
from bulkflow.flowservice.pacing import Pacer
from bulkflow.flowservice.settings import Settings
from bulkflow.job.jobfile import load_job
from bulkflow.job.prepare import PreparedJob, prepare
from bulkflow.records.resultlog import check_owner, check_writable, default_log_path, read_log_state
from bulkflow.records.savedplan import PlanRecorder, write_plan
from bulkflow.runconfig import RunConfig, recorded
from bulkflow.runner import RunControl, RunPlan, execute, simulator_for

EXIT_OK, EXIT_FAILED, EXIT_INPUT, EXIT_CHANGES, EXIT_INTERRUPTED = 0, 1, 2, 3, 130


def add_parsers(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``run``, ``plan``, ``retry`` and ``validate``."""
    run = commands.add_parser("run", help="run a job: fetch, plan and PATCH every target")
    run.add_argument("job", type=Path, help="the job file (YAML or JSON)")
    run_flags(run)
    run.add_argument(
        "--dry-run", action="store_true", default=None, help="fetch and plan, send no PATCH"
    )
    run.add_argument(
        "--resume",
        action="store_true",
        help="skip targets the --log shows done; the run continues with the log's settings",
    )
    run.set_defaults(handler=run_command, show_plan=False, out=None, detailed_exitcode=False)
    plan = commands.add_parser("plan", help="show what a job would change (a dry run)")
    plan.add_argument("job", type=Path, help="the job file (YAML or JSON)")
    run_flags(plan)
    plan.add_argument("--out", type=Path, help="save the plan for review and `bulkflow apply`")
    plan.add_argument(
        "--detailed-exitcode",
        action="store_true",
        help="exit 0 no changes, 3 changes pending, 1 failed targets, 2 invalid input",
    )
    plan.set_defaults(handler=run_command, dry_run=True, show_plan=True, resume=False)
    retry = commands.add_parser("retry", help="run again only the targets a log shows failed")
    retry.add_argument("failed_log", type=Path, metavar="LOG", help="the result log of a run")
    run_flags(retry)
    retry.add_argument(
        "--dry-run",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="as the log's run did (a dry run's log is only ever retried as a dry run)",
    )
    retry.set_defaults(
        handler=retry_command,
        show_plan=False,
        resume=False,
        out=None,
        detailed_exitcode=False,
    )
    validate = commands.add_parser(
        "validate", help="check a job file and its secrets; send nothing"
    )
    validate.add_argument("job", type=Path)
    validate.set_defaults(handler=validate_command)


def run_flags(p: argparse.ArgumentParser) -> None:
    """The flags shared by every command that sends requests."""
    p.add_argument("--log", type=Path, help="result log path (default runs/<job>-<UTC time>.jsonl)")
    p.add_argument("--concurrency", type=int, help="requests in flight at most")
    p.add_argument("--rate", type=float, help="requests per second at most, across all workers")
    p.add_argument("--max-conflict-retries", type=int, help="re-plans after 412 before failing")
    p.add_argument("--timeout", type=float, help="seconds per request")
    p.add_argument("--grace", type=float, help="seconds in-flight targets get on Ctrl-C (30)")
    p.add_argument("--force", action="store_true", help="use a log written for another job digest")
    p.add_argument("--sim", action="store_true", help="run against a local simulator")
    p.add_argument(
        "--verify",
        action="store_true",
        default=None,
        help="read each updated target back: its last operation must finish and the change show",
    )
    p.add_argument(
        "--no-batch-fetch",
        dest="batch_fetch",
        action="store_false",
        default=None,
        help="GET each target alone instead of 100 at a time through the list endpoint",
    )
    p.add_argument("--log-level", default="warning", choices=diagnostics.LEVELS)
    p.add_argument("--log-format", default="auto", choices=("auto", "console", "json"))


def validate_command(args: argparse.Namespace) -> int:
    """Check the job file, targets, templates and secrets."""
    job = prepare(load_job(args.job))
    targets = (
        f"{job.target_count} targets"
        if job.query is None
        else "targets chosen by a query at run time"
    )
    print(f"{args.job}: valid: {targets}, {len(job.job.changes)} changes ({job.job.resource})")
    return EXIT_OK


def run_command(args: argparse.Namespace) -> int:
    """Run (or plan) a job and print its summary; the exit status says how it went."""
    diagnostics.configure(args.log_level, args.log_format)
    job = prepare(load_job(args.job))
    if args.resume and args.log is None:
        raise InputError("--resume needs --log PATH: the log of the run to resume")
    if args.out is not None:
        check_writable(args.out, "plan")
    log_path = args.log or default_log_path(job.job.name)
    earlier = read_log_state(log_path)
    inherited = recorded(earlier.last_header) if args.resume and earlier else None
    config = RunConfig.build(job_options(job), inherited, flags(args))
    plan = RunPlan(config, log_path, args.resume, args.sim, None, args.force, earlier)
    return run_and_report(args, job, plan)


def retry_command(args: argparse.Namespace) -> int:
    """Run the job that wrote LOG again, for the targets whose latest record there is failed.

    The run is rebuilt from LOG's header (a dry run stays a dry run, ``--verify`` verifies);
    a flag given here overrides what the header recorded.
    """
    diagnostics.configure(args.log_level, args.log_format)
    state = read_log_state(args.failed_log)
    if state is None or state.last_header is None:
        raise InputError(f"no bulkflow result log (with a run header) at {args.failed_log}")
    job_file = Path(state.last_header.get("job_file_abs") or state.last_header["job_file"])
    if not job_file.is_file():
        raise InputError(f"the job file {job_file} that wrote {args.failed_log} no longer exists")
    job = prepare(load_job(job_file))
    if job.loaded.digest != state.last_header.get("digest") and not args.force:
        raise InputError(
            f"{job_file} changed since {args.failed_log} was written; use --force to retry anyway"
        )
    config = RunConfig.build(job_options(job), recorded(state.last_header), flags(args))
    log_path = args.log or args.failed_log
    earlier = state if log_path == args.failed_log else read_log_state(log_path)
    check_owner(earlier, job.job.name, job.loaded.digest, config.dry_run, args.force)
    failed = state.failed()
    if not failed:
        print(f"{args.failed_log}: no failed targets to retry")
        return EXIT_OK
    plan = RunPlan(config, log_path, False, args.sim, frozenset(failed), args.force, earlier)
    return run_and_report(args, job, plan)


def job_options(job: PreparedJob) -> dict[str, Any]:
    """The job file's ``options`` that it sets."""
    return job.job.options.model_dump(exclude_none=True)


def flags(args: argparse.Namespace) -> dict[str, Any]:
    """The run settings given on the command line (None: not given)."""
    return {
        "dry_run": getattr(args, "dry_run", None),
        "verify": args.verify,
        "concurrency": args.concurrency,
        "rate_per_s": args.rate,
        "timeout_s": args.timeout,
        "batch_fetch": args.batch_fetch,
        "max_conflict_retries": args.max_conflict_retries,
        "grace_s": args.grace,
        "replan": getattr(args, "replan", None),
        "skip_stale": getattr(args, "skip_stale", None),
    }


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
    summary = asyncio.run(_go(job, plan, out, err, args.show_plan, control))
    print_summary(summary, out, plan.log_path, next_steps(summary, job, plan), plan.config.dry_run)
    if control.recorder is not None:
        write_plan(args.out, job, control.recorder, dict(summary.counts))
        out.print(
            f"Saved plan: {args.out} ({len(control.recorder.entries)} targets). Apply it with:"
        )
        out.print(f"  bulkflow apply {args.out}", markup=False, highlight=False)
    return exit_status(summary, args.detailed_exitcode)


def next_steps(summary: Summary, job: PreparedJob, plan: RunPlan) -> list[list[str]]:
    """Commands that would do what is left: resume, retry failures, re-plan stale targets."""
    sim = ["--sim"] if plan.sim else []
    steps: list[list[str]] = []
    if summary.unreachable is not None:  # a resume also redoes the failed targets
        log = ["--log", str(plan.log_path), "--resume"]
        return [["bulkflow", "run", str(job.loaded.path), *log, *sim]]
    if summary.counts.get("failed"):
        steps.append(["bulkflow", "retry", str(plan.log_path), *sim])
    if summary.counts.get("stale"):
        steps.append(["bulkflow", "plan", str(job.loaded.path), "--out", "PLAN", *sim])
    return steps


def exit_status(summary: Summary, detailed: bool = False) -> int:
    """130 interrupted; 1 failed or stale targets or the service unreachable; with ``detailed``,
    3 when changes are pending."""
    if summary.interrupted:
        return EXIT_INTERRUPTED
    if summary.counts.get("failed") or summary.counts.get("stale") or summary.unreachable:
        return EXIT_FAILED
    if detailed and summary.counts.get("planned"):
        return EXIT_CHANGES
    return EXIT_OK


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
        observer = _PlanPrinter(bar, out) if show_plan else bar
        with _stop_on_signals(control, err):
            if plan.sim:
                async with simulator_for(job) as (_, settings):
                    return await execute(job, settings, plan, observer, control)
            return await execute(job, settings_for(job), plan, observer, control)


@contextlib.contextmanager
def _stop_on_signals(control: RunControl, err: Console) -> Any:
    """First SIGINT/SIGTERM: finish in-flight targets and stop; a second SIGINT: stop now."""
    loop = asyncio.get_running_loop()

    def on_signal() -> None:
        control.request_stop()
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


def settings_for(job: PreparedJob) -> Settings:
    """Settings from the environment, with the job's sandbox."""
    try:
        settings = Settings()
    except ValidationError as exc:
        error = exc.errors()[0]  # its message only: the input may be a secret
        name = "AEP_" + str(error["loc"][0]).upper() if error["loc"] else "the environment"
        raise InputError(f"invalid {name}: {error['msg']}") from None
    if job.job.sandbox:
        settings = settings.model_copy(update={"sandbox": job.job.sandbox})
    return settings


class _PlanPrinter:
    """Prints each target that would change, as it is planned."""

    def __init__(self, bar: ProgressBar, console: Console) -> None:
        self.bar = bar
        self.console = console

    def target_done(self, record: dict[str, Any]) -> None:
        self.bar.target_done(record)
        if record["status"] != "planned":
            return
        title = f"{record['resource']} {record['id']}"
        title += f' "{record["name"]}"' if record.get("name") else ""
        self.console.print(title, markup=False, soft_wrap=True)
        for line in record["changes"]:
            self.console.print("  " + line, markup=False, soft_wrap=True)
