"""``bulkflow apply`` (a reviewed plan, exactly) and ``bulkflow report`` (for the ticket)."""

from __future__ import annotations

import argparse
import dataclasses
import os
from pathlib import Path

from bulkflow import diagnostics, report
from bulkflow.cli_run import EXIT_OK, _run, _run_plan, run_flags
from bulkflow.errors import InputError
from bulkflow.jobfile import load_job, prepare
from bulkflow.pacing import Pacer
from bulkflow.runner import RunControl
from bulkflow.savedplan import read_plan


def add_parsers(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``apply`` and ``report``."""
    apply = commands.add_parser("apply", help="send exactly the operations of a saved plan")
    apply.add_argument("plan", type=Path, help="a plan written by `bulkflow plan JOB --out PLAN`")
    apply.add_argument(
        "--replan", action="store_true", help="re-plan targets changed since the plan"
    )
    run_flags(apply)
    apply.set_defaults(handler=apply_command)
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
    args.job, args.dry_run, args.resume, args.show_plan = job_file, False, False, False
    args.out, args.detailed_exitcode = None, False
    plan = _run_plan(args, job, only=frozenset(entries))
    plan = dataclasses.replace(
        plan, source_plan=args.plan, options=dataclasses.replace(plan.options, replan=args.replan)
    )
    control = RunControl(Pacer(plan.options.concurrency, plan.rate_per_s), planned=entries)
    return _run(args, job, plan, control)


def report_command(args: argparse.Namespace) -> int:
    """Write a Markdown or HTML report of a result log."""
    data = report.load(args.log)
    text = report.markdown(data) if args.format == "md" else report.html_report(data)
    if args.output is None:
        print(text, end="")
        return EXIT_OK
    args.output.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(args.output, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
    print(f"Report written to {args.output}")
    return EXIT_OK
