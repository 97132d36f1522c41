"""A long real run: 100,000 targets updated (not a dry run) at zero latency, concurrency 64.

Two questions: does memory stay flat (peak RSS beside a 1,000-target run of the same kind), and
does the run keep its pace (targets per second over the last tenth of the result log against
the first tenth, from the records' ``at`` times)?

Run alone: ``.venv/bin/python -m benchmarks.longrun`` (``make bench`` runs it too).
"""

from __future__ import annotations

import json
import tempfile
from datetime import datetime
from pathlib import Path

from benchmarks.common import Measured, row, run_bulkflow, sim_process, write_job

SMALL, LARGE = 1_000, 100_000
CONCURRENCY = 64


def tenth_rates(log: Path) -> tuple[float, float]:
    """Targets per second over the first and the last tenth of a result log's records."""
    times = []
    with log.open() as lines:
        for line in lines:
            record = json.loads(line)
            if record.get("type") == "result":
                times.append(datetime.fromisoformat(record["at"].replace("Z", "+00:00")))
    tenth = len(times) // 10

    def rate(first: datetime, last: datetime) -> float:
        return tenth / max((last - first).total_seconds(), 1e-3)

    return rate(times[0], times[tenth]), rate(times[-1 - tenth], times[-1])


def scenario_long_run(work: Path) -> list[str]:
    """7: peak RSS of real runs of 1,000 and 100,000 targets; pace over the long one."""
    runs: dict[int, Measured] = {}
    with sim_process("--on-demand") as sim:
        for count in (SMALL, LARGE):
            job = write_job(work / f"long{count}", f"long-{count}", f"long{count}", count)
            runs[count] = run_bulkflow(sim, job, "--concurrency", str(CONCURRENCY))
    small, large = runs[SMALL], runs[LARGE]
    first, last = tenth_rates(large.log)
    growth = large.maxrss_mb - small.maxrss_mb
    return [
        row(
            f"7. real run of {SMALL:,} targets (0 ms, concurrency {CONCURRENCY})",
            small,
            f"peak RSS {small.maxrss_mb:.1f} MB",
            "",
        ),
        row(
            f"7. real run of {LARGE:,} targets (same)",
            large,
            f"peak RSS {large.maxrss_mb:.1f} MB: growth {growth:.1f} MB; last tenth "
            f"{last:,.0f}/s, first {first:,.0f}/s: {last / first:.2f}",
            "< 30 MB; ≥ 0.90",
        ),
    ]


def main() -> None:
    """Print the rows (RESULTS.md is written by ``benchmarks.run``)."""
    with tempfile.TemporaryDirectory() as folder:
        for line in scenario_long_run(Path(folder)):
            print(line)


if __name__ == "__main__":
    main()
