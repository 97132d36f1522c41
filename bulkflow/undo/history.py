"""What a result log says a run changed, target by target, for ``bulkflow undo``.

A change counts when its record says it was made: ``updated``, or an undo's ``irreversible``
record that still reverted the rest (it has an ``etag_after``). An ``intent`` (written just
before a PATCH is sent) counts when no result for that target followed in the same run: the
process died with the request in flight, and it may have been applied. Its inverse is planned
like any other: if it never was applied, there is nothing to take back.

Only byte offsets are kept per target; each target's records are read again when it is
worked on, so undoing 100,000 targets does not hold 100,000 documents' worth of ops.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jsonpointer
import orjson

from bulkflow.errors import InputError
from bulkflow.job.targets import Key, record_key
from bulkflow.planner import Pointer
from bulkflow.undo.inverse import Applied

UNDO_SUFFIX = "-undo"
OPS = frozenset({"add", "remove", "replace", "move", "copy", "test"})


@dataclass
class UndoSource:
    """A result log read for undo: its first run header and, per target, where its applied
    changes are in the file (newest last)."""

    path: Path
    header: dict[str, Any]
    offsets: dict[Key, list[int]] = field(default_factory=dict)
    digest: str = ""

    @property
    def resource(self) -> str:
        """The resource kind the run changed."""
        return str(self.header.get("resource") or "flows")

    @property
    def job_name(self) -> str:
        """The name of the undo: the undone job's, with ``-undo``."""
        return f"{self.header.get('job') or 'job'}{UNDO_SUFFIX}"

    def target_keys(self) -> list[Key]:
        """The targets with something to take back, in the order the log first names them."""
        return list(self.offsets)

    def history(self, key: Key) -> list[Applied]:
        """The target's applied changes, newest first, read again from the log."""
        found = []
        with self.path.open("rb") as handle:
            for offset in reversed(self.offsets.get(key, [])):
                handle.seek(offset)
                found.append(_applied(orjson.loads(handle.readline())))
        return found


def _applied(record: dict[str, Any]) -> Applied:
    """A record as the inverse planner takes it; what an edited log garbles is irreversible."""
    ops = record.get("ops")
    ops = ops if isinstance(ops, list) and all(_is_op(op) for op in ops) else []
    images = record.get("before")
    fits = (
        isinstance(images, list)
        and len(images) == len(ops)
        and all(isinstance(i, dict) and isinstance(i.get("path"), str) for i in images)
    )
    action = record.get("action")
    state = record.get("state_before")
    return Applied(
        ops=ops,
        images=images if fits else None,
        action=action if action in ("enable", "disable") else None,
        state_before=state if isinstance(state, str) else None,
    )


def _is_op(op: Any) -> bool:
    if not isinstance(op, dict) or op.get("op") not in OPS or not isinstance(op.get("path"), str):
        return False
    try:
        Pointer(op["path"])
    except jsonpointer.JsonPointerException:
        return False
    return bool(op["path"])


def read_source(path: Path) -> UndoSource:
    """Read a real run's log for undo; a dry run's log, or one of nothing, is an input error."""
    if not path.is_file():
        raise InputError("no result log here", path)
    source: UndoSource | None = None
    digest = hashlib.sha256()
    pending: dict[Key, int] = {}
    for offset, record in _records(path):
        if record.get("type") == "run":
            source = source or _first_header(record, path)
            _keep(source, pending)
            continue
        if source is None or not isinstance(record.get("id"), str):
            continue
        target = record_key(record, source.header)
        if record.get("type") == "intent":
            pending[target] = offset
        elif record.get("type") == "result":
            pending.pop(target, None)
            if _changed(record):
                source.offsets.setdefault(target, []).append(offset)
                digest.update(f"{target[0]}:{target[1]}:{offset};".encode())
    if source is None:
        raise InputError("not a bulkflow result log (it has no run header)", path)
    _keep(source, pending)
    source.digest = "undo:" + digest.hexdigest()[:32]
    return source


def _keep(source: UndoSource | None, pending: dict[Key, int]) -> None:
    """A run ended (a new header, or the file): intents with no result were in flight."""
    if source is not None:
        for target, offset in pending.items():
            source.offsets.setdefault(target, []).append(offset)
    pending.clear()


def _first_header(record: dict[str, Any], path: Path) -> UndoSource:
    if record.get("dry_run") is not False:
        raise InputError(
            "this is a dry run's log: it changed nothing, so there is nothing to undo", path
        )
    return UndoSource(path, record)


def _changed(record: dict[str, Any]) -> bool:
    status = record.get("status")
    error = record.get("error")
    error = error if isinstance(error, dict) else {}
    reverted_some = status == "failed" and error.get("kind") == "irreversible"
    made = status == "updated" or (reverted_some and record.get("etag_after") is not None)
    return made and bool(record.get("ops") or record.get("action"))


def _records(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """Each complete record with its byte offset (a torn or foreign line is skipped)."""
    try:
        with path.open("rb") as handle:
            offset = 0
            for line in handle:
                start, offset = offset, offset + len(line)
                if not line.endswith(b"\n"):
                    continue
                try:
                    record = orjson.loads(line)
                except orjson.JSONDecodeError:
                    continue
                if isinstance(record, dict):
                    yield start, record
    except OSError as exc:
        raise InputError(
            f"cannot read the result log: {os.strerror(exc.errno or 0)}", path
        ) from None
