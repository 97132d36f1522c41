"""``bulkflow targets``: what a job would work on (a query's choice, or its listed ids); changes nothing."""

from __future__ import annotations

import argparse
import asyncio
import sys
from itertools import islice
from pathlib import Path

import aiohttp
from rich.console import Console
from rich.table import Table
from rich.text import Text

from bulkflow import diagnostics
from bulkflow.cli.exits import EXIT_OK
from bulkflow.cli.options import log_flags
from bulkflow.cli.simulated import simulator_for
from bulkflow.engine.feed import BATCH_SIZE
from bulkflow.flowservice.query import Selected, run_query
from bulkflow.flowservice.settings import Settings, settings_from_env
from bulkflow.job.jobfile import load_job
from bulkflow.job.prepare import PreparedJob, prepare
from bulkflow.runconfig import DEFAULT_TIMEOUT_S, RunConfig
from bulkflow.runner import guard, open_client
from bulkflow.secrets import REGISTRY, printable


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``targets``."""
    targets = commands.add_parser("targets", help="list what a job would work on; change nothing")
    targets.add_argument("job", type=Path, help="the job file (YAML or JSON)")
    targets.add_argument("--ids-only", action="store_true", help="print only the ids, one per line")
    targets.add_argument("--sim", action="store_true", help="ask a local simulator")
    log_flags(targets, formats=False)
    targets.set_defaults(handler=targets_command)


def targets_command(args: argparse.Namespace) -> int:
    """Print the targets a job selects (a query's, or its listed ids) with name and state."""
    diagnostics.configure(args.log_level, "auto")
    job = prepare(load_job(args.job))
    selected = asyncio.run(_select(job, args.sim))
    if args.ids_only:
        print("".join(f"{printable(REGISTRY.text(item.id))}\n" for item in selected), end="")
        return EXIT_OK
    table = Table(show_edge=False)
    for column in ("id", "name", "state"):
        table.add_column(column)
    for item in selected:
        # Text, not markup, and masked: names and states are the service's words.
        cells = (item.id, item.name or "", item.state or "")
        table.add_row(*(Text(printable(REGISTRY.text(cell))) for cell in cells))
    console = Console(highlight=False, width=None if sys.stdout.isatty() else 200)
    console.print(table)
    where = "selected by the query" if job.query is not None else "listed"
    console.print(f"{len(selected)} {job.job.resource} {where}.")
    return EXIT_OK


async def _select(job: PreparedJob, sim: bool) -> list[Selected]:
    if sim:
        async with simulator_for(job) as (_, settings):
            return await select_targets(job, settings)
    return await select_targets(job, settings_from_env(job.job.sandbox))


async def select_targets(
    job: PreparedJob, settings: Settings, timeout_s: float = DEFAULT_TIMEOUT_S
) -> list[Selected]:
    """What a job would work on, with names and states, without changing anything."""
    guard(settings)
    async with aiohttp.ClientSession() as session:
        client = await open_client(session, settings, job, RunConfig(timeout_s=timeout_s))
        kind = job.job.resource
        if job.query is not None:
            return await run_query(client, kind, job.query.property, job.query.limit)
        selected: list[Selected] = []
        targets = job.targets()
        while chunk := [t.id for t in islice(targets, BATCH_SIZE)]:
            found = await client.get_many(kind, chunk)
            for target_id in chunk:
                doc = found.get(target_id, ({}, ""))[0]
                selected.append(Selected(target_id, doc.get("name"), doc.get("state", "not found")))
        return selected
