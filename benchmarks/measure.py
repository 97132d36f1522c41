"""Run one command and report its wall time, CPU time and peak RSS as JSON.

A fresh process per measurement, so ``RUSAGE_CHILDREN`` describes exactly that command.
Usage: ``python -m benchmarks.measure -- CMD ARGS...``
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import time


def main() -> int:
    """Measure the command after ``--``."""
    argv = sys.argv[sys.argv.index("--") + 1 :]
    started = time.perf_counter()
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - started
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    print(
        json.dumps(
            {
                "status": done.returncode,
                "wall_s": wall,
                "user_s": usage.ru_utime,
                "sys_s": usage.ru_stime,
                "maxrss_mb": usage.ru_maxrss / 1024,
                "stdout": done.stdout[-2000:],
                "stderr": done.stderr[-2000:],
            }
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
