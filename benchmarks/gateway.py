"""The gateway's cap: bulkflow against a simulator that accepts a fixed number of requests/s.

Adobe's ceiling is the gateway's rate limit, not latency. The simulator here is a token bucket
(``bulkflow sim --throttle-rps 200``: 200 requests/s, bursts of one second's worth) that answers
429 with ``Retry-After: 1`` beyond it. A run is good when its flows/s come close to what the cap
allows (200 / accepted requests per flow), few of its requests are refused, and no target fails.

Run alone: ``.venv/bin/python -m benchmarks.gateway`` (``make bench`` runs it too).
"""

from __future__ import annotations

import json
import sys
import tempfile
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from benchmarks.common import Measured, SimProcess, run_bulkflow, sim_process, write_job

CAP_RPS = 200
LATENCY_MS = 20
FLOWS = 3000
CONCURRENCIES = (16, 64)


@dataclass(frozen=True)
class CapRun:
    """One bulkflow run against the capped simulator, and what the simulator counted."""

    concurrency: int
    measured: Measured
    requests: int  # Flow Service requests the simulator answered
    refused: int  # of which 429

    @property
    def allowed_rate(self) -> float:
        """Flows/s of a perfect client: the requests this run needed, the first second's worth
        at once (the gateway's bucket starts full), the rest at exactly the cap."""
        accepted = self.requests - self.refused
        return self.measured.targets / (max(accepted - CAP_RPS, 1) / CAP_RPS)

    @property
    def refused_share(self) -> float:
        """Share of requests answered 429."""
        return self.refused / self.requests if self.requests else 0.0

    @property
    def failed(self) -> int:
        """Targets that ended failed."""
        return int(self.measured.counts.get("failed", 0))


def flow_service_counts(sim: SimProcess) -> tuple[int, int]:
    """(Flow Service requests, of which 429) the simulator has answered so far."""
    with urllib.request.urlopen(sim.root_url + "/_sim/stats", timeout=10) as response:
        by_status: dict[str, int] = json.loads(response.read())["by_method_status"]
    flow_service = {k: n for k, n in by_status.items() if not k.startswith("POST ")}
    refused = sum(n for k, n in flow_service.items() if k.endswith(" 429"))
    return sum(flow_service.values()), refused


def run_capped(work: Path, concurrency: int, rep: int = 0, latency_ms: int = LATENCY_MS) -> CapRun:
    """One run of ``FLOWS`` flows at ``concurrency`` against a fresh capped simulator."""
    args = ("--on-demand", "--latency-ms", str(latency_ms), "--throttle-rps", str(CAP_RPS))
    with sim_process(*args) as sim:
        job = write_job(work / f"cap{concurrency}-{rep}", "cap", f"cap{concurrency}r{rep}", FLOWS)
        measured = run_bulkflow(sim, job, "--concurrency", str(concurrency), statuses=(0, 1))
        requests, refused = flow_service_counts(sim)
    return CapRun(concurrency, measured, requests, refused)


def cap_row(run: CapRun) -> str:
    """One RESULTS.md row."""
    m = run.measured
    allowed = run.allowed_rate
    return (
        f"| 6. gateway cap ({CAP_RPS} requests/s, 429 + Retry-After: 1 beyond; {FLOWS:,} flows, "
        f"{LATENCY_MS} ms, concurrency {run.concurrency}) | {m.rate:,.0f}/s (engine "
        f"{m.engine_rate:,.0f}/s) | {m.wall_s:.1f} s | {1e6 * m.cpu_s / m.targets:.0f} µs | "
        f"{m.maxrss_mb:.0f} MB | {m.rate / allowed:.2f} of the {allowed:.0f}/s the cap allows "
        f"(engine {m.engine_rate / allowed:.2f}); {100 * run.refused_share:.1f}% of "
        f"{run.requests:,} requests refused; {run.failed} failed | ≥ 0.90; ≤ 5%; 0 |"
    )


def scenario_gateway(work: Path, reps: int = 1) -> list[str]:
    """6: the capped simulator at each concurrency; the best of ``reps`` runs each."""
    rows = []
    for concurrency in CONCURRENCIES:
        runs = [run_capped(work, concurrency, rep) for rep in range(reps)]
        rows.append(cap_row(max(runs, key=lambda r: r.measured.rate)))
    return rows


def main() -> None:
    """Print the rows (RESULTS.md is written by ``benchmarks.run``); ``CONCURRENCY LATENCY_MS``
    as arguments run that one case instead."""
    with tempfile.TemporaryDirectory() as folder:
        if len(sys.argv) == 3:
            print(cap_row(run_capped(Path(folder), int(sys.argv[1]), 0, int(sys.argv[2]))))
            return
        for line in scenario_gateway(Path(folder)):
            print(line)


if __name__ == "__main__":
    main()
