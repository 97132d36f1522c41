"""The JSON Lines result log (contract §4): one line per finished target, written as it ends.

Each line goes to the file in one unbuffered ``write`` on a descriptor opened with
``O_APPEND``, so a record the engine has written survives a crash or SIGKILL of bulkflow.
The file is created with mode 0600: it names the resources a run touched.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any, BinaryIO, Protocol

import orjson

STATUSES = ("updated", "unchanged", "planned", "stale", "failed")


def utc_now() -> str:
    """Now as ISO 8601 UTC with milliseconds, e.g. ``2026-11-22T16:00:00.123Z``."""
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def default_log_path(job_name: str, root: Path | None = None) -> Path:
    """``runs/<job name>-<UTC timestamp>.jsonl``."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    return (root or Path("runs")) / f"{job_name}-{stamp}.jsonl"


def write_private(path: Path, data: bytes) -> None:
    """Write a whole file readable only by its owner (0600): plans and reports name resources."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)


class ResultSink(Protocol):
    """Where finished targets go."""

    def write(self, record: dict[str, Any]) -> None:
        """Persist one record now."""


class ResultLog:
    """An append-only JSONL file, each record on disk as soon as :meth:`write` returns."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o600)
        self._file: BinaryIO = os.fdopen(fd, "ab", buffering=0)
        self.written = 0
        self.torn_closed = self._close_torn_line(fd)

    def _close_torn_line(self, fd: int) -> bool:
        """End a last line a crash left unfinished, so the next record starts on its own line."""
        size = os.fstat(fd).st_size
        if size == 0 or os.pread(fd, 1, size - 1) == b"\n":
            return False
        self._file.write(b"\n")
        return True

    def write(self, record: dict[str, Any]) -> None:
        """Append one record as one line."""
        self._file.write(orjson.dumps(record) + b"\n")
        self.written += 1

    def close(self) -> None:
        """Close the file."""
        self._file.close()

    def __enter__(self) -> ResultLog:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class MemorySink:
    """Keeps records in a list (tests and library use)."""

    def __init__(self) -> None:
        self.records: list[dict[str, Any]] = []

    def write(self, record: dict[str, Any]) -> None:
        """Keep one record."""
        self.records.append(record)


class LogScan:
    """Iterate a log's complete records, counting lines that are torn or not JSON."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.torn_lines = 0

    def __iter__(self) -> Iterator[dict[str, Any]]:
        with self.path.open("rb") as handle:
            for line in handle:
                record = _parse(line)
                if record is None:
                    self.torn_lines += 1
                else:
                    yield record


def _parse(line: bytes) -> dict[str, Any] | None:
    if not line.endswith(b"\n"):
        return None
    try:
        record = orjson.loads(line)
    except orjson.JSONDecodeError:
        return None
    return record if isinstance(record, dict) else None


def read_log(path: Path) -> Iterator[dict[str, Any]]:
    """Every complete record in a log; a torn line (a crash mid-write) is skipped."""
    return iter(LogScan(path))
