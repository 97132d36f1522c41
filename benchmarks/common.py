"""Helpers shared by the benchmarks: a simulator in its own process, machine facts, results."""

from __future__ import annotations

import json
import os
import platform
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "RESULTS.md"
BULKFLOW = [sys.executable, "-m", "bulkflow"]


@dataclass(frozen=True)
class SimProcess:
    """A simulator running in a child process."""

    root_url: str
    startup_s: float
    pid: int

    @property
    def base_url(self) -> str:
        """The Flow Service root."""
        return self.root_url + "/data/foundation/flowservice"

    @property
    def ims_url(self) -> str:
        """The IMS token endpoint."""
        return self.root_url + "/ims/token/v3"


@contextmanager
def sim_process(*args: str) -> Iterator[SimProcess]:
    """Start ``bulkflow sim --port 0 ARGS`` and yield once it listens; stop it afterwards."""
    started = time.perf_counter()
    proc = subprocess.Popen(
        [*BULKFLOW, "sim", "--port", "0", "--no-journal", *args],
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    match = re.search(r"(http://127\.0\.0\.1:\d+)", line)
    if not match:
        proc.kill()
        raise RuntimeError(f"simulator did not start: {line!r}")
    try:
        yield SimProcess(match[1], time.perf_counter() - started, proc.pid)
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def machine() -> str:
    """One line describing this machine."""
    cpu = platform.processor() or platform.machine()
    return f"{platform.system()} {platform.release()}, {os.cpu_count()} cores ({cpu}), Python {platform.python_version()}"


def write_section(title: str, body: str) -> None:
    """Replace (or append) one ``## title`` section of RESULTS.md."""
    text = RESULTS.read_text() if RESULTS.exists() else "# Benchmark results\n"
    pattern = re.compile(rf"\n## {re.escape(title)}\n.*?(?=\n## |\Z)", re.S)
    section = f"\n## {title}\n\n{body.strip()}\n"
    text = pattern.sub(lambda _: section, text) if pattern.search(text) else text + section
    RESULTS.write_text(text)


async def bench_headers(session: aiohttp.ClientSession, sim: SimProcess) -> dict[str, str]:
    """A token from the simulator's IMS and the headers every Flow Service call needs."""
    form = {
        "grant_type": "client_credentials",
        "client_id": "bench",
        "client_secret": "x",
        "scope": "s",
    }
    async with session.post(sim.ims_url, data=form) as resp:
        token = (await resp.json())["access_token"]
    return {
        "Authorization": f"Bearer {token}",
        "x-api-key": "bench",
        "x-gw-ims-org-id": "BENCH@AdobeOrg",
        "x-sandbox-name": "prod",
    }


ROLLOUT = """version: 1
name: bench-{name}
resource: flows
targets: {{file: targets.txt}}
changes:
  - add_segment: {{id: 2d79d0d8-724f-49fc-a09d-d1dec338c93c, name: Winter campaign}}
  - remove_segment: {{id: 9f7d37fd-7039-4454-94ef-2b0cd6c3206a}}
"""


@dataclass
class Measured:
    """One bulkflow process: wall, CPU and memory, and what its log says."""

    targets: int
    wall_s: float
    cpu_s: float
    maxrss_mb: float
    engine_rate: float
    counts: dict[str, int]
    summary: dict[str, Any]
    log: Path

    @property
    def rate(self) -> float:
        """Targets per second over the process's whole life (start-up included)."""
        return self.targets / self.wall_s


def write_job(folder: Path, name: str, prefix: str, count: int) -> Path:
    """A rollout job over ``count`` on-demand flow ids."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "targets.txt").write_text("".join(f"{prefix}-{n:06d}\n" for n in range(count)))
    job = folder / "job.yaml"
    job.write_text(ROLLOUT.format(name=name))
    return job


def run_bulkflow(
    sim: SimProcess, job: Path, *flags: str, statuses: tuple[int, ...] = (0,)
) -> Measured:
    """``bulkflow run JOB FLAGS`` against ``sim``, measured in a fresh process.

    An exit status outside ``statuses`` stops the benchmark (a failed target is a finding
    only where a scenario counts failures).
    """
    log = job.parent / "run.jsonl"
    env = {
        "AEP_BASE_URL": sim.base_url,
        "AEP_IMS_URL": sim.ims_url,
        "AEP_CLIENT_ID": "bench",
        "AEP_CLIENT_SECRET": "bench-secret",
        "AEP_ORG_ID": "BENCH@AdobeOrg",
        "PATH": "/usr/bin:/bin",
    }
    command = [
        sys.executable,
        "-m",
        "benchmarks.measure",
        "--",
        *BULKFLOW,
        "run",
        str(job),
        "--log",
        str(log),
        *flags,
    ]
    out = subprocess.run(
        command, capture_output=True, text=True, env=env, cwd=ROOT, check=True
    ).stdout
    figures = json.loads(out)
    if figures["status"] not in statuses:
        raise RuntimeError(f"bulkflow exited {figures['status']}: {figures['stderr']}")
    summary = json.loads(log.read_text().splitlines()[-1])
    return Measured(
        targets=sum(summary["counts"].values()),
        wall_s=figures["wall_s"],
        cpu_s=figures["user_s"] + figures["sys_s"],
        maxrss_mb=figures["maxrss_mb"],
        engine_rate=summary["rate_per_s"],
        counts=summary["counts"],
        summary=summary,
        log=log,
    )


def best(runs: list[Measured]) -> Measured:
    """The fastest of repeated runs: noise on a shared machine only ever slows a run down."""
    return max(runs, key=lambda m: m.rate)


def row(label: str, m: Measured, ratio: str, target: str) -> str:
    """One table row for one measured bulkflow process."""
    return f"| {label} | {m.rate:,.0f}/s (engine {m.engine_rate:,.0f}/s) | {m.wall_s:.1f} s | {1e6 * m.cpu_s / m.targets:.0f} µs | {m.maxrss_mb:.0f} MB | {ratio} | {target} |"
