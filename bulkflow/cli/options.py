"""Flags → :class:`~bulkflow.runconfig.RunConfig`, in one place for every command that runs.

A flag left out is ``None``, so the job's ``options`` and an earlier log's settings can show
through; its help names the default :class:`RunConfig` falls back to (one place per default).
"""

from __future__ import annotations

import argparse
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from bulkflow import diagnostics
from bulkflow.job.prepare import PreparedJob
from bulkflow.records.resultlog import default_log_path
from bulkflow.runconfig import RunConfig

#: ``--log-level`` when not given: warnings only on a console; with ``--log-format json``
#: (machine readers) the run's start and summary too.
DEFAULT_LOG_LEVEL = "warning"
JSON_LOG_LEVEL = "info"


def _default(name: str) -> Any:
    return RunConfig.model_fields[name].default


def run_flags(p: argparse.ArgumentParser) -> None:
    """The flags shared by every command that sends requests (None when not given)."""
    p.add_argument(
        "--log",
        type=Path,
        help="result log path (default: a new runs/<job>-<UTC time>.jsonl; retry appends to "
        "the LOG it retries; plan keeps no log)",
    )
    p.add_argument(
        "--concurrency",
        type=int,
        help=f"requests in flight at most (default: the job's options, else {_default('concurrency')})",
    )
    p.add_argument(
        "--rate",
        type=float,
        help="requests per second at most, across all workers (default: no cap)",
    )
    p.add_argument(
        "--max-conflict-retries",
        type=int,
        help="re-plans after 412 before the target fails "
        f"(default: the job's options, else {_default('max_conflict_retries')})",
    )
    p.add_argument(
        "--timeout",
        type=float,
        help=f"seconds per request (default: the job's options, else {_default('timeout_s'):g})",
    )
    p.add_argument(
        "--grace",
        type=float,
        help=f"seconds in-flight targets get to finish on Ctrl-C (default: {_default('grace_s'):g})",
    )
    p.add_argument(
        "--force", action="store_true", help="use a log written for another version of the job"
    )
    p.add_argument("--sim", action="store_true", help="run against a simulator started in-process")
    p.add_argument(
        "--verify",
        action="store_true",
        default=None,
        help="read each updated target back: its last operation must finish and the change show",
    )
    p.add_argument(
        "--strict",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="fail a target whose plan goes past an Adobe guardrail (250 audiences, 50 attributes)",
    )
    p.add_argument(
        "--continue-on-failure",
        action="store_true",
        default=None,
        help="over several sandboxes: go on to the next even when a target failed in one",
    )
    p.add_argument(
        "--no-batch-fetch",
        dest="batch_fetch",
        action="store_false",
        default=None,
        help="GET each target alone instead of 100 at a time through the list endpoint",
    )
    p.add_argument(
        "--show-ids",
        action="store_true",
        help="list the ids of each group of targets with the same changes (default: a count)",
    )
    _rollout_flags(p.add_argument_group("staged rollout"))
    log_flags(p)


def plan_format_flag(p: argparse.ArgumentParser) -> None:
    """``plan --format``: the plan for people, or as one JSON document on stdout."""
    p.add_argument(
        "--format",
        choices=("text", "json"),
        default="text",
        help="text, or one JSON document on stdout (docs/plan.schema.json) for CI and other "
        "tools; the summary then goes to stderr",
    )


def log_flags(p: argparse.ArgumentParser, formats: bool = True) -> None:
    """``--log-level`` (and ``--log-format``): the diagnostics on stderr."""
    p.add_argument(
        "--log-level",
        choices=diagnostics.LEVELS,
        help=f"diagnostics at this level and above (default: {DEFAULT_LOG_LEVEL}; "
        f"{JSON_LOG_LEVEL} with --log-format json)",
    )
    if formats:
        p.add_argument(
            "--log-format",
            default="auto",
            choices=("auto", "console", "json"),
            help="diagnostics as text or one JSON object per line "
            "(default: auto, JSON unless stderr is a terminal)",
        )


def resolve_log_level(args: argparse.Namespace) -> None:
    """Fill in ``--log-level`` when it was not given: info for ``--log-format json``."""
    if "log_level" in args and args.log_level is None:
        as_json = getattr(args, "log_format", None) == "json"
        args.log_level = JSON_LOG_LEVEL if as_json else DEFAULT_LOG_LEVEL


def log_path_for(args: argparse.Namespace, job: PreparedJob) -> Path:
    """Where a run writes its result log: ``--log``; for ``plan`` without it a scratch file
    the session removes at the end (a plan writes nothing unasked); else a new file in runs/."""
    if args.log is not None:
        return Path(args.log)
    if getattr(args, "scratch_log", False):
        fd, name = tempfile.mkstemp(prefix=f"bulkflow-{job.job.name}-", suffix=".jsonl")
        os.close(fd)
        return Path(name)
    return default_log_path(job.job.name)


def _rollout_flags(group: argparse._ArgumentGroup) -> None:
    """Waves, the gates between them, the failure breaker, and what a stop does."""
    group.add_argument(
        "--waves",
        type=_sizes,
        metavar="SIZES",
        help="cumulative wave sizes in the targets' order, a count or a share: 10,10%%,100%%",
    )
    group.add_argument(
        "--max-failure-rate",
        type=float,
        metavar="RATE",
        help="share of failed targets a wave's gate and the failure breaker allow (0.05)",
    )
    group.add_argument(
        "--breaker-window",
        type=int,
        metavar="N",
        help="the breaker judges the last N finished targets (50)",
    )
    group.add_argument(
        "--soak",
        type=float,
        metavar="S",
        help="at each gate, wait S seconds, then fail it if a changed flow's later run failed",
    )
    group.add_argument(
        "--pause",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="stop after each passed gate; --resume starts the next wave",
    )
    group.add_argument(
        "--undo-on-stop",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="when a gate fails or the breaker trips, undo what the run changed",
    )


def _sizes(text: str) -> list[str]:
    return [part.strip() for part in text.split(",")]


def config_for(
    args: argparse.Namespace, job: PreparedJob, *between: Mapping[str, Any] | None
) -> RunConfig:
    """The run's configuration: the job's options, then ``between`` (an earlier log's
    settings, a plan file), then the flags given here; checked once."""
    options = job.job.options.model_dump(exclude_none=True)
    return RunConfig.build(options, *between, _flags(args))


def _flags(args: argparse.Namespace) -> dict[str, Any]:
    return {
        "dry_run": getattr(args, "dry_run", None),
        "verify": args.verify,
        "strict": args.strict,
        "continue_on_failure": args.continue_on_failure,
        "concurrency": args.concurrency,
        "rate_per_s": args.rate,
        "timeout_s": args.timeout,
        "batch_fetch": args.batch_fetch,
        "max_conflict_retries": args.max_conflict_retries,
        "grace_s": args.grace,
        "replan": getattr(args, "replan", None),
        "skip_stale": getattr(args, "skip_stale", None),
        "waves": args.waves,
        "max_failure_rate": args.max_failure_rate,
        "breaker_window": args.breaker_window,
        "soak_s": args.soak,
        "pause": args.pause,
        "undo_on_stop": args.undo_on_stop,
    }
