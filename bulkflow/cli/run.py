"""``bulkflow run``, ``plan``, ``retry`` and ``validate``: the commands that take a job."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from bulkflow import diagnostics
from bulkflow.cli.console import plural
from bulkflow.cli.exits import EXIT_OK
from bulkflow.cli.options import config_for, log_path_for, plan_format_flag, run_flags
from bulkflow.cli.session import run_and_report
from bulkflow.cli.undo import undo_subject
from bulkflow.engine.waves import check_waves
from bulkflow.errors import InputError
from bulkflow.job.jobfile import load_job
from bulkflow.job.prepare import PreparedJob, prepare
from bulkflow.records.resultlog import (
    check_apart,
    check_owner,
    check_writable,
    header_flag,
    read_log_state,
)
from bulkflow.runconfig import RunConfig, recorded
from bulkflow.runner import RunPlan


def add_parsers(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``run``, ``plan``, ``retry`` and ``validate``."""
    _add_run(commands)
    _add_plan(commands)
    _add_retry(commands)
    validate = commands.add_parser(
        "validate", help="check a job file and its secrets; send nothing"
    )
    validate.add_argument("job", type=Path, help="the job file (YAML or JSON)")
    validate.set_defaults(handler=validate_command)


def _add_run(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
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
    run.set_defaults(handler=run_command, out=None, detailed_exitcode=False)


def _add_plan(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    plan = commands.add_parser("plan", help="show what a job would change (a dry run)")
    plan.add_argument("job", type=Path, help="the job file (YAML or JSON)")
    run_flags(plan)
    plan.add_argument("--out", type=Path, help="save the plan for review and `bulkflow apply`")
    plan.add_argument(
        "--detailed-exitcode",
        action="store_true",
        help="exit 0 no changes, 3 changes pending, 1 failed targets, 2 invalid input",
    )
    plan_format_flag(plan)
    plan.set_defaults(handler=run_command, dry_run=True, resume=False, scratch_log=True)


def _add_retry(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    retry = commands.add_parser("retry", help="run again only the targets a log shows failed")
    retry.add_argument("failed_log", type=Path, metavar="LOG", help="the result log of a run")
    run_flags(retry)
    retry.add_argument(
        "--dry-run",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="as the log's run did (a dry run's log is only ever retried as a dry run)",
    )
    retry.set_defaults(handler=retry_command, resume=False, out=None, detailed_exitcode=False)


def validate_command(args: argparse.Namespace) -> int:
    """Check the job file, targets, templates, secrets and wave sizes."""
    job = prepare(load_job(args.job))
    check_waves(job, RunConfig.build(job.job.options.model_dump(exclude_none=True)))
    targets = (
        plural(job.target_count, "target")
        if job.query is None
        else "targets chosen by a query at run time"
    )
    changes = plural(len(job.job.changes), "change")
    print(f"{args.job}: valid: {targets}, {changes} ({job.job.resource})")
    return EXIT_OK


def run_command(args: argparse.Namespace) -> int:
    """Run (or plan) a job and print its summary; the exit status says how it went."""
    diagnostics.configure(args.log_level, args.log_format)
    job = prepare(load_job(args.job))
    if args.resume and args.log is None:
        raise InputError("--resume needs --log PATH: the log of the run to resume")
    if args.out is not None:
        check_writable(args.out, "plan")
        check_apart(args.out, "plan", args.job, args.log)
    earlier = read_log_state(args.log) if args.log is not None else None
    header = earlier.last_header if args.resume and earlier else None
    config = config_for(args, job, recorded(header))
    # A resumed run stays where it was.
    sim = args.sim or (header is not None and header_flag(header, "sim", args.log))
    log_path = log_path_for(args, job)
    plan = RunPlan(config, log_path, args.resume, sim, None, args.force, earlier)
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
    header = state.last_header
    undo = None
    if header.get("undo_of"):  # an undo's log: the failed targets' inverse, planned again
        job, undo = undo_subject(
            str(header["undo_of"]), header.get("digest"), args.force, state.path
        )
    else:
        job = _retried_job(header, args.failed_log, args.force)
    config = config_for(args, job, recorded(header))
    log_path = args.log or args.failed_log
    earlier = state if log_path == args.failed_log else read_log_state(log_path)
    # A retry goes where the run went.
    sim = args.sim or header_flag(header, "sim", args.failed_log)
    # The retried log's kind counts too (the one written to is checked when the run starts).
    check_owner(state, job.job.name, job.loaded.digest, config.dry_run, args.force, sim)
    failed = state.failed()
    if not failed:
        print(f"{args.failed_log}: no failed targets to retry")
        return EXIT_OK
    only = frozenset(failed)
    plan = RunPlan(config, log_path, False, sim, only, args.force, earlier, undo=undo)
    return run_and_report(args, job, plan)


def _retried_job(header: dict[str, Any], log: Path, force: bool) -> PreparedJob:
    """The job that wrote a log, unchanged since (or ``force``)."""
    job_file = _job_file(header, log)
    if not job_file.is_file():
        raise InputError(f"the job file {job_file} that wrote {log} no longer exists")
    job = prepare(load_job(job_file))
    if job.loaded.digest != header.get("digest") and not force:
        raise InputError(f"{job_file} changed since {log} was written; use --force to retry anyway")
    return job


def _job_file(header: dict[str, Any], log: Path) -> Path:
    """The job file a log's run header names (an edited header is input, not a crash)."""
    for key in ("job_file_abs", "job_file"):
        value = header.get(key)
        if isinstance(value, str) and value:
            return Path(value)
    raise InputError("the run header names no job_file: is it a bulkflow result log?", log)
