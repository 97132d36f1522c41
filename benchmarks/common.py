"""Helpers shared by the benchmarks: a simulator in its own process, machine facts, results."""

from __future__ import annotations

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
