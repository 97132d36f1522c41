"""``bulkflow apply``: a reviewed plan, sent exactly as planned, or nothing when it is stale."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from bulkflow import diagnostics
from bulkflow.cli.exits import EXIT_OK
from bulkflow.cli.options import config_for, run_flags
from bulkflow.cli.session import run_and_report
from bulkflow.cli.undo import undo_subject
from bulkflow.errors import InputError
from bulkflow.job.jobfile import load_job
from bulkflow.job.prepare import PreparedJob, prepare
from bulkflow.records.resultlog import default_log_path, header_flag, read_log_state
from bulkflow.records.savedplan import read_plan
from bulkflow.runner import RunPlan


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``apply``."""
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
    apply.set_defaults(handler=apply_command, out=None, detailed_exitcode=False, resume=False)


def apply_command(args: argparse.Namespace) -> int:
    """Apply a saved plan: its ops, with If-Match set to the etag each target was planned at."""
    diagnostics.configure(args.log_level, args.log_format)
    saved = read_plan(args.plan)
    undone = None
    if saved.get("undo_of"):
        job, undone = undo_subject(saved["undo_of"], saved["job_digest"], args.force, args.plan)
    else:
        job = _plan_job(saved, args)
    entries = {(entry.get("sandbox"), str(entry["id"])): entry for entry in saved["targets"]}
    if not entries:
        print(f"{args.plan}: the plan has no changes; nothing to apply")
        return EXIT_OK
    config = config_for(args, job, {"plan_file": str(args.plan), "plan_digest": saved["digest"]})
    earlier = read_log_state(args.log) if args.log is not None else None
    log_path = args.log or default_log_path(job.job.name)
    only = frozenset(entries)
    # An undo goes where the run went (a --sim run's undo replays it in a simulator).
    sim = args.sim or (undone is not None and header_flag(undone.header, "sim", undone.path))
    plan = RunPlan(
        config, log_path, False, sim, only, args.force, earlier, saved=entries, undo=undone
    )
    return run_and_report(args, job, plan)


def _plan_job(saved: dict[str, Any], args: argparse.Namespace) -> PreparedJob:
    """The job a plan was made from, unchanged since (or ``--force``)."""
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
    return job
