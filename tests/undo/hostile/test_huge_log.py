"""a log with a huge line (a sparse file) is read whole: MemoryError, exit 70."""

from __future__ import annotations

import resource
import subprocess
import sys
from pathlib import Path

from tests.cli.test_cli import ROOT


def test_a_sparse_log_is_an_input_error(tmp_path: Path) -> None:
    """A sparse log is an input error."""
    log = tmp_path / "huge.jsonl"
    with log.open("wb") as handle:
        handle.truncate(3 * 2**30)

    def cap() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (1536 * 2**20, 1536 * 2**20))

    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "bulkflow",
            "undo",
            str(log),
            "--dry-run",
            "--sim",
            "--log",
            str(tmp_path / "u.jsonl"),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        preexec_fn=cap,
        timeout=120,
    )
    assert done.returncode == 2, done.stderr
