"""``bulkflow apply`` (a reviewed plan, exactly) and ``bulkflow report`` (for the ticket)."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

from rich.console import Console
from rich.table import Table

from bulkflow import diagnostics
from bulkflow.cli.run import EXIT_OK, flags, job_options, run_and_report, run_flags, settings_for
from bulkflow.errors import InputError
from bulkflow.flowservice.pacing import Pacer
from bulkflow.flowservice.query import Selected
from bulkflow.job.jobfile import load_job
from bulkflow.job.prepare import PreparedJob, prepare
from bulkflow.records import report
from bulkflow.records.resultlog import (
    check_writable,
    default_log_path,
    read_log_state,
    write_private,
)
from bulkflow.records.savedplan import read_plan
from bulkflow.runconfig import RunConfig
from bulkflow.runner import RunControl, RunPlan, select_targets, simulator_for


def add_parsers(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``apply`` and ``report``."""
    apply = commands.add_parser("apply", help="send exactly the operations of a saved plan")
    apply.add_argument("plan", type=Path, help="a plan written by `bulkflow plan JOB --out PLAN`")
    stale = apply.add_mutually_exclusive_group()
    stale.add_argument(
        "--replan", action="store_true", default=None, help="re-plan targets changed since the plan"
    )
    stale.add_argument(
        "--skip-stale",
        action="store_true",
        default=None,
        help="apply the unchanged targets; record the changed ones stale (default: refuse the plan)",
    )
    run_flags(apply)
    apply.set_defaults(
        handler=apply_command, show_plan=False, out=None, detailed_exitcode=False, resume=False
    )
    targets = commands.add_parser("targets", help="list what a job would work on; change nothing")
    targets.add_argument("job", type=Path)
    targets.add_argument("--ids-only", action="store_true", help="print only the ids, one per line")
    targets.add_argument("--sim", action="store_true", help="ask a local simulator")
    targets.add_argument("--log-level", default="warning", choices=diagnostics.LEVELS)
    targets.set_defaults(handler=targets_command)
    rep = commands.add_parser("report", help="turn a result log into a report for a change ticket")
    rep.add_argument("log", type=Path, help="a result log (run, dry run or apply)")
    rep.add_argument("--format", choices=("md", "html"), default="md")
    rep.add_argument("-o", "--output", type=Path, help="write to this file (default: stdout)")
    rep.set_defaults(handler=report_command)


def apply_command(args: argparse.Namespace) -> int:
    """Apply a saved plan: its ops, with If-Match set to the etag each target was planned at."""
    diagnostics.configure(args.log_level, args.log_format)
    saved = read_plan(args.plan)
    job_file = Path(saved["job_file"])
    if not job_file.is_file():
        raise InputError(
            f"the job file {job_file} this plan was made from is gone; it names the secret "
            "sources the plan refers to, so the plan cannot be applied",
            args.plan,
        )
    job = prepare(load_job(job_file))
    if job.loaded.digest != saved["job_digest"] and not args.force:
        raise InputError(
            f"{job_file} changed since the plan was made; make and review a new plan (or --force)",
            args.plan,
        )
    entries = {str(entry["id"]): entry for entry in saved["targets"]}
    if not entries:
        print(f"{args.plan}: the plan has no changes; nothing to apply")
        return EXIT_OK
    source = {"plan_file": str(args.plan), "plan_digest": saved["digest"]}
    config = RunConfig.build(job_options(job), flags(args), source)
    log_path = args.log or default_log_path(job.job.name)
    earlier = read_log_state(log_path)
    plan = RunPlan(config, log_path, False, args.sim, frozenset(entries), args.force, earlier)
    control = RunControl(Pacer(config.concurrency, config.rate_per_s), planned=entries)
    return run_and_report(args, job, plan, control)


def report_command(args: argparse.Namespace) -> int:
    """Write a Markdown or HTML report of a result log."""
    data = report.load(args.log)
    text = report.markdown(data) if args.format == "md" else report.html_report(data)
    if args.output is None:
        print(text, end="")
        return EXIT_OK
    check_writable(args.output, "report")
    write_private(args.output, text.encode())
    print(f"Report written to {args.output}")
    return EXIT_OK


def targets_command(args: argparse.Namespace) -> int:
    """Print the targets a job selects (a query's, or its listed ids) with name and state."""
    diagnostics.configure(args.log_level, "auto")
    job = prepare(load_job(args.job))
    selected = asyncio.run(_select(job, args.sim))
    if args.ids_only:
        print("".join(f"{item.id}\n" for item in selected), end="")
        return EXIT_OK
    table = Table(show_edge=False)
    for column in ("id", "name", "state"):
        table.add_column(column)
    for item in selected:
        table.add_row(item.id, item.name or "", item.state or "")
    console = Console(highlight=False, width=None if sys.stdout.isatty() else 200)
    console.print(table)
    where = "selected by the query" if job.query is not None else "listed"
    console.print(f"{len(selected)} {job.job.resource} {where}.")
    return EXIT_OK


async def _select(job: PreparedJob, sim: bool) -> list[Selected]:
    if sim:
        async with simulator_for(job) as (_, settings):
            return await select_targets(job, settings)
    return await select_targets(job, settings_for(job))
