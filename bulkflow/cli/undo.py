"""``bulkflow undo LOG``: take back what a run changed, and only that."""

from __future__ import annotations

import argparse
from pathlib import Path

import structlog

from bulkflow import diagnostics
from bulkflow.cli.exits import EXIT_OK
from bulkflow.cli.options import config_for, run_flags
from bulkflow.cli.session import run_and_report
from bulkflow.errors import InputError
from bulkflow.job.jobfile import load_job
from bulkflow.job.prepare import PreparedJob
from bulkflow.records.resultlog import (
    check_apart,
    check_writable,
    default_log_path,
    header_flag,
    read_log_state,
)
from bulkflow.runconfig import recorded
from bulkflow.runner import RunPlan
from bulkflow.secrets import REGISTRY
from bulkflow.undo.history import UndoSource, read_source, undo_chain
from bulkflow.undo.job import undo_job

log = structlog.get_logger("bulkflow.undo")


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``undo``."""
    undo = commands.add_parser(
        "undo", help="take back what a run changed: every target its log records as updated"
    )
    undo.add_argument("undone_log", type=Path, metavar="LOG", help="the result log of the run")
    run_flags(undo)
    undo.add_argument(
        "--dry-run",
        action="store_true",
        default=None,
        help="plan the undo and show it; send nothing",
    )
    undo.add_argument(
        "--resume", action="store_true", help="continue the undo whose log --log names"
    )
    undo.add_argument("--out", type=Path, help="save the undo as a plan for `bulkflow apply`")
    undo.set_defaults(handler=undo_command, detailed_exitcode=False)


def undo_command(args: argparse.Namespace) -> int:
    """Plan, against each target as it is now, the inverse of what LOG says the run changed,
    and send it (or show it, with ``--dry-run``)."""
    diagnostics.configure(args.log_level, args.log_format)
    source = read_source(args.undone_log)
    mask_job_secrets(source)
    job = undo_job(source)
    if args.resume and args.log is None:
        raise InputError("--resume needs --log PATH: the log of the undo to resume")
    for path, what in ((args.log, "undo's log"), (args.out, "plan")):
        if path is not None:
            check_writable(path, what)
            check_apart(path, what, args.undone_log)
    if args.out is not None:
        check_apart(args.out, "plan", args.log)
        args.dry_run = True  # a saved plan is reviewed first, then applied
    if job.target_count == 0:
        print(f"{args.undone_log}: the log records no changes to undo")
        return EXIT_OK
    earlier = read_log_state(args.log) if args.log is not None else None
    header = earlier.last_header if args.resume and earlier else None
    config = config_for(args, job, recorded(header))
    # An undo goes where the run went.
    sim = args.sim or header_flag(source.header, "sim", source.path)
    log_path = args.log or default_log_path(job.job.name)
    plan = RunPlan(config, log_path, args.resume, sim, None, args.force, earlier, undo=source)
    return run_and_report(args, job, plan)


def undo_subject(
    undone: str, digest: object, force: bool, where: Path
) -> tuple[PreparedJob, UndoSource]:
    """The undo a log header or plan file names (``undo_of``), checked against ``digest``:
    the undone log's changes must be the ones the undo was made for."""
    source = read_source(Path(undone))
    mask_job_secrets(source)
    if source.digest != digest and not force:
        raise InputError(
            f"{undone} records other changes than when this undo was made; use --force to go on",
            where,
        )
    return undo_job(source), source


def mask_job_secrets(source: UndoSource) -> None:
    """Register the secrets of the job whose run is undone, so no output shows them.

    The run wrote them into the documents (a name, a description) that the undo reads now.
    The job is found through the log's header (through each ``undo_of`` for an undo's log);
    a secret that cannot be read any more is said once, not guessed.
    """
    job_file = undo_chain(source)[0].header.get("job_file_abs")
    if not isinstance(job_file, str) or not Path(job_file).is_file():
        return
    try:
        loaded = load_job(Path(job_file))
    except InputError:
        return
    for name, secret in loaded.job.secrets.items():
        try:
            REGISTRY.add(secret.read(loaded.base_dir).get_secret_value())
        except ValueError:
            log.warning("undo.secret_unreadable", secret=name, job_file=job_file)
