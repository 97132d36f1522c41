"""Flags → :class:`~bulkflow.runconfig.RunConfig`, in one place for every command that runs."""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from bulkflow import diagnostics
from bulkflow.job.prepare import PreparedJob
from bulkflow.runconfig import RunConfig


def run_flags(p: argparse.ArgumentParser) -> None:
    """The flags shared by every command that sends requests (None when not given)."""
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
        "--strict",
        action="store_true",
        default=None,
        help="fail a target whose plan goes past an Adobe guardrail (250 audiences, 50 attributes)",
    )
    p.add_argument(
        "--no-batch-fetch",
        dest="batch_fetch",
        action="store_false",
        default=None,
        help="GET each target alone instead of 100 at a time through the list endpoint",
    )
    _rollout_flags(p.add_argument_group("staged rollout"))
    p.add_argument("--log-level", default="warning", choices=diagnostics.LEVELS)
    p.add_argument("--log-format", default="auto", choices=("auto", "console", "json"))


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
