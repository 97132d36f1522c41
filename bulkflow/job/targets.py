"""Targets: the resources a job changes, read from a CSV or text file as a stream.

Files are read line by line, never held whole, so a job over 100,000 ids costs no more
memory than one over ten; a line over :data:`MAX_LINE_BYTES` is refused, as is a file that is
not a regular one (a pipe or ``/dev/zero`` never ends). A CSV may start with a BOM (spreadsheets
write one) and may not name a column twice (``DictReader`` would keep the last one silently).
"""

from __future__ import annotations

import csv
import re
import stat
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from bulkflow.errors import InputError

TARGET_ID = r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,255}$"  # it goes into a URL path
ID_RULE = "letters, digits, '.', '_', ':', '-'; at most 256"
_TARGET_ID = re.compile(TARGET_ID)
Scalar = str | int | float | bool
#: A sandbox name, wherever one is read: a job file, a targets CSV, a log.
SANDBOX = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,255}")
#: A line longer than this is refused before it is decoded: an id is under 100 characters.
MAX_LINE_BYTES = 2**20


@dataclass(frozen=True)
class Target:
    """One resource to change, with where it was listed (for messages)."""

    id: str
    vars: Mapping[str, Scalar] = field(default_factory=dict)
    source: str = ""
    line: int | None = None
    sandbox: str | None = None  # from a targets CSV's ``sandbox`` column, or a query's sandbox

    @property
    def key(self) -> Key:
        """How a log and a plan tell targets apart: the same id may exist in two sandboxes."""
        return (self.sandbox, self.id)


#: ``(sandbox, id)``; the sandbox is None where a job runs in one sandbox only.
Key = tuple[str | None, str]


def record_key(record: Mapping[str, Any], header: Mapping[str, Any] | None) -> Key:
    """A result's target key: with its sandbox when the run went to several sandboxes."""
    several = header is not None and bool(header.get("sandboxes"))
    sandbox = record.get("sandbox") if several else None
    return (sandbox if isinstance(sandbox, str) else None, str(record["id"]))


def read_targets_file(path: Path, job_path: Path, job_line: int | None) -> Iterator[Target]:
    """Yield targets from CSV (an ``id`` column; other columns become vars) or one id per line."""
    handle: BinaryIO | None = None
    try:
        unusable = not_regular_file(path)
        if unusable is None:
            handle = path.open("rb")
    except OSError as exc:
        unusable = exc.strerror
    if handle is None:
        raise InputError(f"cannot read targets file {path}: {unusable}", job_path, job_line)
    with handle:
        lines = _lines(handle, path)
        if path.suffix.lower() == ".csv":
            yield from _csv_targets(lines, path)
        else:
            yield from _text_targets(lines, path)


def not_regular_file(path: Path) -> str | None:
    """Why ``path`` cannot be read as a file (a pipe or a device may never end), or None."""
    mode = path.stat().st_mode
    if stat.S_ISREG(mode):
        return None
    return "it is a directory" if stat.S_ISDIR(mode) else "not a regular file"


def _lines(handle: BinaryIO, path: Path) -> Iterator[str]:
    """The file's lines, decoded one at a time so an error names its own line; BOM dropped."""
    number = 0
    while raw := handle.readline(MAX_LINE_BYTES + 1):
        number += 1
        if len(raw) > MAX_LINE_BYTES:
            raise InputError(f"line longer than {MAX_LINE_BYTES // 2**20} MiB", path, number)
        try:
            yield raw.decode("utf-8-sig" if number == 1 else "utf-8")
        except UnicodeDecodeError as exc:
            message = f"not UTF-8: byte 0x{raw[exc.start]:02x} cannot be decoded"
            raise InputError(message, path, number) from None


def _csv_targets(lines: Iterator[str], path: Path) -> Iterator[Target]:
    reader = csv.DictReader(lines)
    try:
        names = reader.fieldnames
        _check_header(names, path)
        for row in reader:
            target_id = (row.pop("id") or "").strip()
            check_id(target_id, path, reader.line_num)
            sandbox = _sandbox(row, path, reader.line_num)
            extra = {k: v for k, v in row.items() if k is not None and v is not None}
            yield Target(target_id, extra, str(path), reader.line_num, sandbox)
    except csv.Error as exc:
        raise InputError(f"not valid CSV: {exc}", path, reader.reader.line_num) from None


def _sandbox(row: dict[str | Any, Any], path: Path, line: int) -> str | None:
    """A row's ``sandbox`` column (taken out of its vars), checked as a sandbox name."""
    if "sandbox" not in row:
        return None
    sandbox = (row.pop("sandbox") or "").strip()
    if not SANDBOX.fullmatch(sandbox):
        message = f"sandbox {short(sandbox)} is not a sandbox name (letters, digits, . _ -)"
        raise InputError(message, path, line)
    return sandbox


def _check_header(names: Sequence[str] | None, path: Path) -> None:
    if not names or "id" not in names:
        raise InputError("a targets CSV needs an 'id' column in its header", path, 1)
    twice = [short(name) for name, count in Counter(names).items() if count > 1]
    if twice:
        raise InputError(f"the header names a column more than once: {', '.join(twice)}", path, 1)


def _text_targets(lines: Iterator[str], path: Path) -> Iterator[Target]:
    for number, raw in enumerate(lines, start=1):
        target_id = raw.split("#", 1)[0].strip()
        if target_id:
            check_id(target_id, path, number)
            yield Target(target_id, {}, str(path), number)


def short(value: Any, limit: int = 60) -> str:
    """``repr(value)``, cut to about ``limit`` characters (a message must not quote a megabyte)."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 5] + "…" + text[-4:]


def check_id(target_id: str, path: Path | str, line: int | None) -> None:
    """Refuse an id that is not a plain resource id (it goes into a URL path)."""
    if not _TARGET_ID.match(target_id):
        message = f"{short(target_id)} is not a valid resource id ({ID_RULE})"
        raise InputError(message, path, line)
