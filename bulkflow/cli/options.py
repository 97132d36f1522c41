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
    p.add_argument("--log-level", default="warning", choices=diagnostics.LEVELS)
    p.add_argument("--log-format", default="auto", choices=("auto", "console", "json"))


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
    }
