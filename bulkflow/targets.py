"""Targets: the resources a job changes, read from a CSV or text file as a stream.

Files are read line by line, never held whole, so a job over 100,000 ids costs no more
memory than one over ten.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bulkflow.errors import InputError

TARGET_ID = r"^[A-Za-z0-9][A-Za-z0-9._:-]*$"
_TARGET_ID = re.compile(TARGET_ID)
Scalar = str | int | float | bool


@dataclass(frozen=True)
class Target:
    """One resource to change, with where it was listed (for messages)."""

    id: str
    vars: Mapping[str, Scalar] = field(default_factory=dict)
    source: str = ""
    line: int | None = None


def read_targets_file(path: Path, job_path: Path, job_line: int | None) -> Iterator[Target]:
    """Yield targets from CSV (an ``id`` column; other columns become vars) or one id per line."""
    try:
        handle = path.open(newline="", encoding="utf-8")
    except OSError as exc:
        raise InputError(
            f"cannot read targets file {path}: {exc.strerror}", job_path, job_line
        ) from None
    with handle:
        if path.suffix.lower() == ".csv":
            yield from _csv_targets(handle, path)
        else:
            yield from _text_targets(handle, path)


def _csv_targets(handle: Any, path: Path) -> Iterator[Target]:
    reader = csv.DictReader(handle)
    if not reader.fieldnames or "id" not in reader.fieldnames:
        raise InputError("a targets CSV needs an 'id' column in its header", path, 1)
    for row in reader:
        target_id = (row.pop("id") or "").strip()
        check_id(target_id, path, reader.line_num)
        extra = {k: v for k, v in row.items() if k is not None and v is not None}
        yield Target(target_id, extra, str(path), reader.line_num)


def _text_targets(handle: Any, path: Path) -> Iterator[Target]:
    for number, raw in enumerate(handle, start=1):
        target_id = raw.split("#", 1)[0].strip()
        if target_id:
            check_id(target_id, path, number)
            yield Target(target_id, {}, str(path), number)


def check_id(target_id: str, path: Path | str, line: int | None) -> None:
    """Refuse an id that is not a plain resource id (it goes into a URL path)."""
    if not _TARGET_ID.match(target_id):
        message = f"{target_id!r} is not a valid resource id (letters, digits, '.', '_', ':', '-')"
        raise InputError(message, path, line)
