"""What a staged rollout costs: the latency-bound run with and without ``--waves 10,10%,100%``.

Waves without a soak add two gates (the failure-rate check only) and let the worker pool drain
at each wave's end. ``.venv/bin/python -m benchmarks.waves`` (also run by ``make bench``)
writes the "Staged rollout overhead" section of ``benchmarks/RESULTS.md``. The runs alternate,
and each side reports its best of :data:`REPS` (noise on a shared machine only slows a run).
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

from benchmarks.common import machine, sim_process, write_section
from benchmarks.run import Measured, best, run_bulkflow, write_job

REPS = int(os.environ.get("BENCH_REPS", "3"))
FLOWS = 5000
CONCURRENCY = 32
LATENCY_MS = 50
WAVES = "10,10%,100%"


def measure(work: Path) -> tuple[Measured, Measured]:
    """The best plain run and the best run in waves, interleaved against one simulator."""
    plain: list[Measured] = []
    staged: list[Measured] = []
    with sim_process("--on-demand", "--latency-ms", str(LATENCY_MS)) as sim:
        for rep in range(REPS):
            job = write_job(work / f"w-plain-{rep}", "waves-plain", f"wp{rep}", FLOWS)
            plain.append(run_bulkflow(sim, job, "--concurrency", str(CONCURRENCY)))
            job = write_job(work / f"w-staged-{rep}", "waves-staged", f"ws{rep}", FLOWS)
            staged.append(
                run_bulkflow(sim, job, "--concurrency", str(CONCURRENCY), "--waves", WAVES)
            )
    return best(plain), best(staged)


def main() -> None:
    """Measure, print the section and write it to RESULTS.md."""
    with tempfile.TemporaryDirectory() as folder:
        plain, staged = measure(Path(folder))
    overhead = 1 - staged.rate / plain.rate
    engine_overhead = 1 - staged.engine_rate / plain.engine_rate
    body = f"""
Machine: {machine()}. Run on {time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}.
Reproduce: `.venv/bin/python -m benchmarks.waves` (also part of `make bench`). The latency-bound
scenario (1b: {FLOWS:,} flows, {LATENCY_MS} ms, concurrency {CONCURRENCY}, batch fetch), as
`bulkflow run` with and without `--waves {WAVES}` (no soak: the gates check the failure rate),
alternating, {REPS} runs each, best of each. Both sides run against the same simulator on the
same machine, so a busy machine slows both alike: compare them with each other.

| scenario | flows/s (process; engine) | wall | CPU/target | measured | target |
| --- | ---: | ---: | ---: | --- | --- |
| without waves | {plain.rate:,.0f}/s (engine {plain.engine_rate:,.0f}/s) | {plain.wall_s:.1f} s | {1e6 * plain.cpu_s / plain.targets:.0f} µs | reference | |
| `--waves {WAVES}` | {staged.rate:,.0f}/s (engine {staged.engine_rate:,.0f}/s) | {staged.wall_s:.1f} s | {1e6 * staged.cpu_s / staged.targets:.0f} µs | overhead {overhead:.1%} of the process rate (engine {engine_overhead:.1%}) | ≤ 10% |
"""
    print(body)
    write_section("Staged rollout overhead", body)


if __name__ == "__main__":
    main()
