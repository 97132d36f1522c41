"""``bulkflow sim``: serve the local Flow Service simulator."""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bulkflow.sim import Faults


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``sim`` and its flags."""
    p = commands.add_parser("sim", help="serve the local Flow Service simulator on 127.0.0.1")
    p.add_argument("--port", type=int, default=8080, help="port (0 picks a free one)")
    p.add_argument("--flows", type=int, default=0, help="generated flows besides the fixtures")
    p.add_argument("--connections", type=int, default=0, help="generated connections")
    p.add_argument("--target-connections", type=int, default=0, help="generated target connections")
    p.add_argument("--source-connections", type=int, default=0, help="generated source connections")
    p.add_argument("--seed", type=int, default=0, help="seed for documents and faults")
    p.add_argument("--sandbox", default="prod", help="sandbox the documents live in")
    p.add_argument("--load", type=Path, action="append", default=[], help="extra documents (JSON)")
    p.add_argument("--token", help="accept this fixed bearer token (no IMS call needed)")
    p.add_argument("--client-id", help="IMS accepts only this client id")
    p.add_argument("--client-secret", help="IMS accepts only this client secret")
    p.add_argument("--token-ttl", type=float, default=86399, help="token lifetime, seconds")
    p.add_argument("--patch-status", type=int, choices=(200, 202), default=200)
    p.add_argument(
        "--operation-s", type=float, default=0.0, help="lastOperation stays inProgress this long"
    )
    p.add_argument("--strict-etag", action="store_true", help="If-Match must match byte for byte")
    p.add_argument("--no-journal", action="store_true", help="do not keep a request journal")
    p.add_argument(
        "--on-demand", action="store_true", help="generate unknown ids when read (benchmarks)"
    )
    p.add_argument(
        "--run-interval",
        type=float,
        metavar="S",
        help="enabled flows run every S seconds (GET /runs)",
    )
    _add_fault_flags(p.add_argument_group("faults"))
    p.set_defaults(handler=run_sim)


def _add_fault_flags(faults: argparse._ArgumentGroup) -> None:
    """The fault switches; each maps to a :class:`Faults` field."""
    for name, help_text in (
        ("latency-ms", "fixed latency per request"),
        ("jitter-ms", "uniform extra latency, 0..N"),
        ("throttle-rate", "share of requests answered 429"),
        ("throttle-rps", "token bucket: requests per second before 429"),
        ("retry-after", "Retry-After seconds on a 429"),
        ("retry-after-missing-rate", "share of 429s without Retry-After"),
        ("error-rate", "share of requests answered 500/503/504"),
        ("drop-rate", "share of requests whose connection is dropped"),
        ("rival-rate", "share of reads followed by another writer's edit"),
        ("ignore-patch-rate", "share of PATCHes accepted but not applied"),
        ("echo-reject-rate", "share of PATCHes refused with a 400 echoing the body"),
        ("redirect-rate", "share of requests redirected to --redirect-to"),
        ("no-etag-rate", "share of documents served without etag and version"),
        ("garbage-rate", "share of requests answered 200 with an HTML body"),
        ("reject-credentials-rate", "share of connections whose test fails (same ones per seed)"),
        ("fail-runs-after-change", "share of runs failing that start after their flow changed"),
    ):
        faults.add_argument(f"--{name}", type=float, help=help_text)
    faults.add_argument(
        "--reject-credentials-matching",
        metavar="VALUE",
        help="GET /connections/{id}/test fails for a connection whose auth params hold VALUE",
    )
    faults.add_argument(
        "--fail-patch-where",
        metavar="PROPERTY-FILTER",
        help="every PATCH to a flow matching the filter gets a 400, e.g. flowSpec.id==ID",
    )
    faults.add_argument("--redirect-to", help="origin redirects point at, e.g. http://127.0.0.1:9")
    faults.add_argument("--redirect-status", type=int, choices=(301, 302, 303, 307, 308))
    faults.add_argument(
        "--redirect-methods",
        type=lambda text: frozenset(m.strip().upper() for m in text.split(",") if m.strip()),
        help="comma list of methods to redirect (default GET,PATCH)",
    )


def faults_from_args(args: argparse.Namespace) -> Faults:
    """The :class:`Faults` the flags name; unset flags keep their defaults."""
    from pydantic import ValidationError

    from bulkflow.errors import InputError
    from bulkflow.sim import Faults

    names = {
        "latency_ms": "latency_ms",
        "jitter_ms": "jitter_ms",
        "throttle_rate": "throttle_rate",
        "throttle_rps": "throttle_rps",
        "retry_after": "retry_after_s",
        "retry_after_missing_rate": "retry_after_missing_rate",
        "error_rate": "error_rate",
        "drop_rate": "drop_rate",
        "rival_rate": "rival_rate",
        "ignore_patch_rate": "ignore_patch_rate",
        "echo_reject_rate": "echo_reject_rate",
        "redirect_rate": "redirect_rate",
        "redirect_to": "redirect_to",
        "redirect_status": "redirect_status",
        "redirect_methods": "redirect_methods",
        "no_etag_rate": "no_etag_rate",
        "garbage_rate": "garbage_rate",
        "reject_credentials_rate": "reject_credentials_rate",
        "reject_credentials_matching": "reject_credentials_matching",
        "fail_patch_where": "fail_patch_where",
        "fail_runs_after_change": "fail_runs_after_change",
    }
    given = {field: getattr(args, arg) for arg, field in names.items()}
    try:
        return Faults(**{k: v for k, v in given.items() if v is not None})
    except ValidationError as exc:
        problem = exc.errors()[0]
        where = ".".join(str(part) for part in problem["loc"])
        prefix = f"{where}: " if where else ""
        raise InputError(f"invalid fault flags: {prefix}{problem['msg']}") from None


def run_sim(args: argparse.Namespace) -> int:
    """Serve until interrupted."""
    from bulkflow.sim import SimConfig, serve  # the server side, only for this command

    config = SimConfig(
        port=args.port,
        flows=args.flows,
        connections=args.connections,
        target_connections=args.target_connections,
        source_connections=args.source_connections,
        seed=args.seed,
        sandbox=args.sandbox,
        load=tuple(args.load),
        faults=faults_from_args(args),
        patch_status=args.patch_status,
        strict_etag=args.strict_etag,
        operation_s=args.operation_s,
        token_ttl_s=args.token_ttl,
        client_id=args.client_id,
        client_secret=args.client_secret,
        fixed_token=args.token,
        journal=not args.no_journal,
        on_demand=args.on_demand,
        run_interval_s=args.run_interval,
    )
    asyncio.run(serve(config))
    return 0
