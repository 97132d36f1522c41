"""``bulkflow sim``: serve the local Flow Service simulator.

For a newcomer it is ready to use: it serves every target the example jobs in ``jobs/`` name
(or the jobs ``--jobs`` names), and its banner prints every variable a run needs, ready to
paste. A port in use or a ``--load`` file that cannot be read is an input error, with the reason.
"""

from __future__ import annotations

import argparse
import asyncio
import errno
import json
import os
import shlex
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bulkflow.errors import InputError

if TYPE_CHECKING:
    from bulkflow.sim import Faults, Simulator

#: Where the example jobs are, in a checkout of the repository.
EXAMPLE_JOBS = Path("jobs")
JOB_SUFFIXES = (".yaml", ".yml", ".json")
#: Errors binding the port that are the user's to fix (another process, a privileged port).
BIND_ERRORS = frozenset({errno.EADDRINUSE, errno.EACCES, errno.EADDRNOTAVAIL})


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
    p.add_argument(
        "--load",
        type=Path,
        action="append",
        default=[],
        help='extra documents: a JSON list of flows, or {"flows": [...], "connections": [...]}',
    )
    p.add_argument(
        "--jobs",
        type=Path,
        action="append",
        help="serve every target these job files (or folders of them) name "
        f"(default: the example jobs in {EXAMPLE_JOBS}/, when there is such a folder)",
    )
    p.add_argument("--no-jobs", action="store_true", help="serve no job's targets")
    p.add_argument("--token", help="accept this fixed bearer token (no IMS call needed)")
    p.add_argument("--client-id", help="IMS accepts only this client id")
    p.add_argument("--client-secret", help="IMS accepts only this client secret")
    p.add_argument("--token-ttl", type=float, default=86399, help="token lifetime, seconds")
    p.add_argument(
        "--patch-status",
        type=int,
        choices=(200, 202),
        default=200,
        help="a PATCH answers 200 with {id, etag}, or 202 with no body",
    )
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
        help="GET /connections/{id}/test fails for a connection with an auth param equal to VALUE",
    )
    faults.add_argument(
        "--fail-patch-where",
        metavar="PROPERTY-FILTER",
        help="every PATCH to a flow matching the filter gets a 400, e.g. flowSpec.id==ID",
    )
    faults.add_argument("--redirect-to", help="origin redirects point at, e.g. http://127.0.0.1:9")
    faults.add_argument(
        "--redirect-status",
        type=int,
        choices=(301, 302, 303, 307, 308),
        help="the status of a redirect (default: 307)",
    )
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

    for path in args.load:
        check_load_file(path)
    jobs = [] if args.no_jobs else job_files(args.jobs)
    named = tuple(job_targets(jobs))
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
        ensure=named,
        run_interval_s=args.run_interval,
    )
    try:
        asyncio.run(serve(config, banner=lambda sim: banner(sim, args, jobs, len(named))))
    except OSError as exc:
        if exc.errno not in BIND_ERRORS:
            raise
        reason = os.strerror(exc.errno).lower() if exc.errno else str(exc)
        raise InputError(
            f"cannot listen on 127.0.0.1:{args.port}: {reason}; "
            "give another --port (0 picks a free one)"
        ) from None
    return 0


def check_load_file(path: Path) -> None:
    """Refuse a ``--load`` file that cannot be read or does not hold documents, with the reason."""
    try:
        data = json.loads(path.read_bytes())
    except OSError as exc:
        raise InputError(f"cannot read the --load file: {exc.strerror}", path) from None
    except ValueError as exc:
        raise InputError(f"the --load file is not JSON: {exc}", path) from None
    kinds = {"flows": data} if isinstance(data, list) else data
    if not isinstance(kinds, dict) or not set(kinds) <= {"flows", "connections"}:
        raise InputError(
            'a --load file holds a list of flows or {"flows": [...], "connections": [...]}', path
        )
    for kind, docs in kinds.items():
        if not isinstance(docs, list) or not all(_is_document(doc) for doc in docs):
            raise InputError(f"{kind}: every document is an object with a string id", path)


def _is_document(doc: Any) -> bool:
    return isinstance(doc, dict) and isinstance(doc.get("id"), str) and bool(doc["id"])


def job_files(given: list[Path] | None) -> list[Path]:
    """The job files to serve: those named (a folder stands for its job files), else the
    examples in ``jobs/`` when there is such a folder here."""
    if given is None:
        given = [EXAMPLE_JOBS] if EXAMPLE_JOBS.is_dir() else []
    files: list[Path] = []
    for path in given:
        if path.is_dir():
            files += sorted(p for p in path.iterdir() if p.suffix in JOB_SUFFIXES)
        elif path.is_file():
            files.append(path)
        else:
            raise InputError("no job file or folder here (--jobs)", path)
    return files


def job_targets(files: list[Path]) -> Iterator[tuple[str, str, str]]:
    """``(kind, id, shape)`` for every target the job files name (a query job names none)."""
    from bulkflow.cli.simulated import shape_for
    from bulkflow.job.jobfile import iter_targets, load_job

    for path in files:
        loaded = load_job(path)
        shape = shape_for(loaded.job)
        for target in iter_targets(loaded):
            yield loaded.job.resource, target.id, shape


def banner(sim: Simulator, args: argparse.Namespace, jobs: list[Path], named: int) -> str:
    """What a run against this simulator needs, ready to paste into another shell."""
    env = {
        "AEP_BASE_URL": sim.base_url,
        "AEP_IMS_URL": sim.ims_url,
        "AEP_CLIENT_ID": args.client_id or "sim-client",
        "AEP_CLIENT_SECRET": "any-value",
        "AEP_ORG_ID": sim.config.org_id,
        "AEP_SANDBOX": sim.config.sandbox,
    }
    lines = []
    if jobs:
        where = ", ".join(sorted({f"{p.parent}/" for p in jobs}))
        lines.append(f"Serving the {named} targets of {len(jobs)} job files in {where}.")
    lines.append("Point bulkflow at it (paste into another shell):")
    for name, value in env.items():
        lines.append(f"  export {name}={shlex.quote(value)}")
    if args.client_secret is not None:
        lines.append(
            "  # IMS takes only the secret given to --client-secret: set AEP_CLIENT_SECRET to it"
        )
    example = next((shlex.quote(str(p)) for p in jobs), "JOB")
    lines.append(f"Then try:  bulkflow plan {example}")
    lines.append("Ctrl-C stops the simulator.")
    return "\n".join(lines)
