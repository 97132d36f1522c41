"""The JSON Lines result log (contract §4): one line per finished target, written as it ends.

Each line goes to the file in one unbuffered ``write`` on a descriptor opened with
``O_APPEND``, so a record the engine has written survives a crash or SIGKILL of bulkflow.
The file is created with mode 0600: it names the resources a run touched. A run holds an
advisory lock (``flock``) on its log, so two live processes never interleave one log.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from types import TracebackType
from typing import Any, BinaryIO, Literal, NotRequired, Protocol, TypedDict

import orjson

from bulkflow.errors import InputError
from bulkflow.job.targets import Key, record_key


class Status(StrEnum):
    """A target's outcome, as the result log's ``status`` says it."""

    UPDATED = "updated"
    UNCHANGED = "unchanged"
    PLANNED = "planned"  # a dry run found changes to make
    STALE = "stale"  # apply: changed since the plan was reviewed, left alone
    FAILED = "failed"


STATUSES: tuple[Status, ...] = tuple(Status)


class ErrorInfo(TypedDict):
    """Why a target failed (or was left stale): the log's ``error`` field."""

    kind: str
    status: int | None
    message: str


class ResultRecord(TypedDict):
    """One finished target, as the result log holds it (contract §4)."""

    type: Literal["result"]
    id: str
    resource: str
    name: str | None
    status: Status
    attempts: int
    conflicts: int
    retries: int
    etag_before: str | None
    etag_after: str | None
    sandbox: str | None
    ops: list[dict[str, Any]]
    before: list[dict[str, Any]] | None  # per op, what it replaced (for undo)
    action: str | None  # a flow state change made after the ops: enable or disable
    state_before: str | None
    changes: list[str]
    warnings: list[str]  # Adobe guardrails the plan goes past (bulkflow.guardrails)
    error: ErrorInfo | None
    duration_ms: float
    at: str
    wave: NotRequired[int]  # a staged rollout's wave, from 1 (bulkflow.records.rollout)


def utc_now() -> str:
    """Now as ISO 8601 UTC with milliseconds, e.g. ``2026-11-22T16:00:00.123Z``."""
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def default_log_path(job_name: str, root: Path | None = None) -> Path:
    """A new ``runs/<job name>-<UTC timestamp>.jsonl`` (``-2``, ``-3``… within one second).

    The file is created here, exclusively, so two runs started at once never share a log.
    """
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    folder = root or Path("runs")
    check_writable(folder / "x", "result log")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(
            f"cannot make the folder for result logs: {exc.strerror}", folder
        ) from None
    for number in range(1, 10_000):
        suffix = "" if number == 1 else f"-{number}"
        path = folder / f"{job_name}-{stamp}{suffix}.jsonl"
        try:
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        except FileExistsError:
            continue
        except OSError as exc:
            raise InputError(f"cannot write the result log: {exc.strerror}", path) from None
        return path
    raise InputError(f"no free log name for {job_name} in {folder}", folder)


def discard_if_empty(path: Path) -> None:
    """Remove an empty log (a fresh one a run was refused before writing): it carries nothing."""
    with contextlib.suppress(OSError):
        if path.is_file() and path.stat().st_size == 0:
            path.unlink()


def check_apart(path: Path, what: str, *others: Path | None) -> None:
    """Refuse an output path that is one of the run's own files (the job file, the log)."""
    for other in others:
        if other is not None and _same_file(path, other):
            raise InputError(f"the {what} would overwrite {other}; give it a path of its own", path)


def _same_file(path: Path, other: Path) -> bool:
    """The same path, or two names of one file (a hard link)."""
    if path.resolve() == other.resolve():
        return True
    try:
        return path.exists() and other.exists() and os.path.samefile(path, other)
    except OSError:
        return False


def check_writable(path: Path, what: str) -> None:
    """Refuse, as input, a path a file cannot be written at (a folder, under a file, a device),
    or should not be (a symbolic link: writing through it would change the file it points at)."""
    if path.is_symlink():
        raise InputError(f"cannot write the {what}: {path} is a symbolic link", path)
    if path.is_dir():
        raise InputError(f"cannot write the {what}: {path} is a folder", path)
    if path.exists() and not path.is_file():
        raise InputError(f"cannot write the {what}: {path} is not a regular file", path)
    if path.exists() and not os.access(path, os.W_OK):
        raise InputError(f"cannot write the {what}: no permission to write {path}", path)
    _check_folders(path, what)


def _check_folders(path: Path, what: str) -> None:
    """The folders on the way: none a broken link, the nearest existing one a writable folder."""
    for parent in path.parents:
        if parent.is_symlink() and not parent.exists():
            raise InputError(f"cannot write the {what}: {parent} is a broken symbolic link", path)
    for parent in path.parents:
        if parent.exists():
            if not parent.is_dir():
                raise InputError(f"cannot write the {what}: {parent} is not a folder", path)
            if not os.access(parent, os.W_OK | os.X_OK) and parent == path.parent:
                raise InputError(f"cannot write the {what}: no permission in {parent}", path)
            return


def write_private(path: Path, data: bytes) -> None:
    """Write a whole file readable only by its owner (0600): plans and reports name resources."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
    except OSError as exc:
        raise InputError(f"cannot write the file: {exc.strerror}", path) from None


class ResultSink(Protocol):
    """Where finished targets go."""

    def write(self, record: Mapping[str, Any]) -> None:
        """Persist one record now."""


class ResultLog:
    """An append-only JSONL file, each record on disk as soon as :meth:`write` returns."""

    def __init__(self, path: Path) -> None:
        self.path = path
        check_writable(path, "result log")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o600)
        except OSError as exc:
            raise InputError(f"cannot write the result log: {exc.strerror}", path) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            raise InputError(
                "another bulkflow process is writing this log; let it finish, or give this run "
                "its own --log",
                path,
            ) from None
        self._fd = fd
        self._file: BinaryIO = os.fdopen(fd, "ab", buffering=0)
        self.written = 0
        self.torn_closed = False

    def close_torn_line(self) -> bool:
        """End a last line a crash left unfinished, so the next record starts on its own line."""
        size = os.fstat(self._fd).st_size
        if size == 0 or os.pread(self._fd, 1, size - 1) == b"\n":
            return False
        self._file.write(b"\n")
        self.torn_closed = True
        return True

    def discard_if_unused(self) -> None:
        """Remove the file again if it is empty and this run wrote nothing (refused early)."""
        if self.written == 0:
            discard_if_empty(self.path)

    def write(self, record: Mapping[str, Any]) -> None:
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

    def write(self, record: Mapping[str, Any]) -> None:
        """Keep one record."""
        self.records.append(dict(record))


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


DONE = frozenset({Status.UPDATED, Status.UNCHANGED})


@dataclass
class LogState:
    """What an earlier log says, read once: its run headers, each target's latest status.

    Targets are keyed ``(sandbox, id)`` in a log of a job over several sandboxes (the same id
    may exist in two), ``(None, id)`` otherwise.
    """

    path: Path
    headers: list[dict[str, Any]] = field(default_factory=list)
    latest: dict[Key, str] = field(default_factory=dict)
    torn_lines: int = 0
    orphans: int = 0  # result lines before any run header (an edited or foreign file)

    @property
    def header(self) -> dict[str, Any] | None:
        """The first run's header: whose log this is."""
        return self.headers[0] if self.headers else None

    @property
    def last_header(self) -> dict[str, Any] | None:
        """The latest run's header: the configuration a retry or resume starts from."""
        return self.headers[-1] if self.headers else None

    def done(self) -> set[Key]:
        """Targets whose latest record is ``updated`` or ``unchanged``."""
        return {target for target, status in self.latest.items() if status in DONE}

    def failed(self) -> set[Key]:
        """Targets whose latest record is ``failed``."""
        return {target for target, status in self.latest.items() if status == Status.FAILED}


def read_log_state(path: Path) -> LogState | None:
    """An existing log's state, or None when there is no log (or an empty one) at ``path``."""
    if not path.is_file():
        return None
    state = LogState(path)
    scan = LogScan(path)
    try:
        for record in scan:
            if record.get("type") == "run":
                state.headers.append(record)
            elif record.get("type") in ("result", "intent") and "id" in record:
                if record["type"] == "result":
                    key = record_key(record, state.header)
                    state.latest[key] = str(record.get("status"))
                state.orphans += not state.headers
    except OSError as exc:
        raise InputError(f"cannot read the result log: {exc.strerror}", path) from None
    state.torn_lines = scan.torn_lines
    return state if state.headers or state.latest or state.torn_lines else None


def check_owner(
    state: LogState | None, job: str, digest: str, dry_run: bool, force: bool, sim: bool = False
) -> None:
    """Refuse to add a run to a log of another job, another version of it, or another kind.

    A log belongs to one job (its name); another version of that job (digest) only with
    ``force``; and a log holds runs of one kind, dry or real, against the simulator or not.
    """
    header = state.header if state is not None else None
    if state is None or header is None or state.orphans:
        if state is not None:
            raise InputError(
                "not a bulkflow result log (it does not start with a run header)", state.path
            )
        return
    for earlier in state.headers:
        for key in ("dry_run", "sim"):
            header_flag(earlier, key, state.path)
    if header.get("job") != job:
        raise InputError(
            f"this is the log of job {header.get('job')!r}, not {job!r}; give this run its own "
            "--log (or none: each run gets a new log)",
            state.path,
        )
    if header.get("digest") != digest and not force:
        raise InputError(
            f"written for a different version of the job (digest {header.get('digest')}, now "
            f"{digest}); use the job that wrote it, another --log, or --force",
            state.path,
        )
    if bool(header.get("dry_run")) != dry_run:
        raise InputError(_mode_message(bool(header.get("dry_run")), header), state.path)
    if bool(header.get("sim")) != sim:
        where, other = ("the simulator (--sim)", "the real service")
        if not header.get("sim"):
            where, other = other, where
        raise InputError(
            f"this log holds runs against {where}; a run against {other} needs its own --log",
            state.path,
        )


def _mode_message(log_is_dry: bool, header: dict[str, Any]) -> str:
    job_file = header.get("job_file_abs") or header.get("job_file") or "JOB"
    undone = header.get("undo_of")
    if undone:  # an undo's log: the undo is made again from the log it undoes
        dry = "" if log_is_dry else " --dry-run"
        return f"this log holds one kind of undo; for the other: bulkflow undo {undone}{dry}"
    if log_is_dry:
        return (
            "this is a dry run's log: changes are never made from or into it. To make them, "
            f"run: bulkflow run {job_file} (it writes a new log)"
        )
    return f"this is a real run's log: plan into a log of its own: bulkflow plan {job_file}"


def header_flag(header: dict[str, Any], key: str, path: Path) -> bool:
    """A run header's ``dry_run`` or ``sim``: true or false, absent is false, anything else is
    an edited header (``"false"`` as a string must not read as true)."""
    value = header.get(key, False)
    if not isinstance(value, bool):
        raise InputError(f"the run header's {key} is {value!r}, not true or false", path)
    return value
