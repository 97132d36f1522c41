"""``bulkflow run``, ``plan`` and ``validate``: flags, wiring and exit codes."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from rich.console import Console

from bulkflow import diagnostics
from bulkflow.config import Settings
from bulkflow.engine import EngineOptions, Summary
from bulkflow.errors import InputError
from bulkflow.jobfile import PreparedJob, load_job, prepare
from bulkflow.plantext import describe
from bulkflow.resultlog import default_log_path
from bulkflow.runner import RunPlan, execute, simulator_for
from bulkflow.terminal import ProgressBar, print_summary

EXIT_OK, EXIT_FAILED, EXIT_INPUT, EXIT_INTERRUPTED = 0, 1, 2, 130


def add_parsers(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``run``, ``plan`` and ``validate``."""
    run = commands.add_parser("run", help="run a job: fetch, plan and PATCH every target")
    _job_flags(run)
    run.add_argument("--dry-run", action="store_true", help="fetch and plan, send no PATCH")
    run.set_defaults(handler=run_command, dry_run_forced=False)
    plan = commands.add_parser("plan", help="show what a job would change (a dry run)")
    _job_flags(plan)
    plan.set_defaults(handler=run_command, dry_run=True, dry_run_forced=True)
    validate = commands.add_parser(
        "validate", help="check a job file and its secrets; send nothing"
    )
    validate.add_argument("job", type=Path)
    validate.set_defaults(handler=validate_command)


def _job_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("job", type=Path, help="the job file (YAML or JSON)")
    p.add_argument("--log", type=Path, help="result log path (default runs/<job>-<UTC time>.jsonl)")
    p.add_argument("--concurrency", type=int, help="requests in flight at most")
    p.add_argument("--max-conflict-retries", type=int, help="re-plans after 412 before failing")
    p.add_argument("--timeout", type=float, help="seconds per request")
    p.add_argument("--resume", action="store_true", help="skip targets the log shows done")
    p.add_argument("--sim", action="store_true", help="run against a local simulator")
    p.add_argument("--log-level", default="warning", choices=("debug", "info", "warning", "error"))
    p.add_argument("--log-format", default="auto", choices=("auto", "console", "json"))


def validate_command(args: argparse.Namespace) -> int:
    """Check the job file, targets, templates and secrets."""
    prepared = prepare(load_job(args.job))
    changes = len(prepared.job.changes)
    print(
        f"{args.job}: valid: {prepared.target_count} targets, {changes} changes ({prepared.job.resource})"
    )
    return EXIT_OK


def run_command(args: argparse.Namespace) -> int:
    """Run (or plan) a job and print its summary; the exit status says how it went."""
    diagnostics.configure(args.log_level, args.log_format)
    prepared = prepare(load_job(args.job))
    plan = _run_plan(args, prepared)
    # Off a terminal, wide lines: a log or CI page should not fold ids and messages.
    out = Console(highlight=False, width=None if sys.stdout.isatty() else 200)
    err = Console(stderr=True)
    summary = asyncio.run(_go(prepared, plan, out, err, show_plan=args.dry_run_forced))
    retry = None
    if summary.failed:
        retry = ["bulkflow", "run", str(args.job), "--log", str(plan.log_path), "--resume"]
        retry += ["--sim"] if args.sim else []
    print_summary(summary, out, plan.log_path, retry)
    return EXIT_FAILED if summary.counts.get("failed") else EXIT_OK


def _run_plan(args: argparse.Namespace, prepared: PreparedJob) -> RunPlan:
    job_options = prepared.job.options
    options = EngineOptions(
        concurrency=args.concurrency or job_options.concurrency,
        max_conflict_retries=_first(args.max_conflict_retries, job_options.max_conflict_retries),
        dry_run=bool(args.dry_run),
    )
    if not 1 <= options.concurrency <= 512:
        raise InputError(f"--concurrency must be between 1 and 512, not {options.concurrency}")
    if args.resume and args.log is None:
        raise InputError("--resume needs --log PATH: the log of the run to resume")
    return RunPlan(
        options=options,
        log_path=args.log or default_log_path(prepared.job.name),
        resume=args.resume,
        sim=args.sim,
        timeout_s=args.timeout or job_options.timeout_s,
        max_retries=job_options.max_retries,
        max_retry_after_s=job_options.max_retry_after_s,
    )


def _first(value: Any, default: Any) -> Any:
    return default if value is None else value


async def _go(
    prepared: PreparedJob, plan: RunPlan, out: Console, err: Console, show_plan: bool
) -> Summary:
    label = "planning" if plan.options.dry_run else "updating"
    with ProgressBar(prepared.target_count, err, f"{label} {prepared.job.resource}") as bar:
        observer = _PlanPrinter(bar, out) if show_plan else bar
        if plan.sim:
            async with simulator_for(prepared) as (_, settings):
                return await execute(prepared, settings, plan, observer)
        return await execute(prepared, _settings(prepared), plan, observer)


def _settings(prepared: PreparedJob) -> Settings:
    try:
        settings = Settings()
    except ValidationError as exc:
        raise InputError(f"invalid environment: {exc.errors()[0]['msg']}") from None
    if prepared.job.sandbox:
        settings = settings.model_copy(update={"sandbox": prepared.job.sandbox})
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
        for op in record["ops"]:
            self.console.print("  " + describe(op), markup=False, soft_wrap=True)
