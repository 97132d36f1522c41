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
from bulkflow.job.jobfile import JOB_NAME
from bulkflow.job.targets import SANDBOX, Key, check_id, record_key
from bulkflow.planner import Pointer
from bulkflow.undo.inverse import Applied

UNDO_SUFFIX = "-undo"
MAX_UNDO_CHAIN = 10  # an undo of an undo of ... of a run
OPS = frozenset({"add", "remove", "replace", "move", "copy", "test"})
MAX_RECORD_BYTES = 16 * 2**20  # a record holds one document's worth of values at most
MAX_DEPTH = 100  # deeper than any Flow Service document: written back, it could not be


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
        if source is None or record.get("type") not in ("intent", "result"):
            continue
        target = _checked_key(record, source, path)
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


def undo_chain(source: UndoSource) -> list[UndoSource]:
    """``source`` and the logs it undoes, oldest first: an undo's log after the log it undid
    (and so on, up to :data:`MAX_UNDO_CHAIN` logs; the chain ends at one that cannot be read)."""
    chain = [source]
    while len(chain) < MAX_UNDO_CHAIN:
        undone = chain[0].header.get("undo_of")
        if not isinstance(undone, str):
            break
        try:
            chain.insert(0, read_source(Path(undone)))
        except InputError:
            break
    return chain


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
    for field_name, pattern in (("job", JOB_NAME), ("sandbox", SANDBOX)):
        value = record.get(field_name)
        if value is not None and not (isinstance(value, str) and pattern.fullmatch(value)):
            raise InputError(f"the run header's {field_name} is not a {field_name} name", path)
    sandboxes = record.get("sandboxes")
    if sandboxes is not None and not (
        isinstance(sandboxes, list)
        and all(isinstance(s, str) and SANDBOX.fullmatch(s) for s in sandboxes)
    ):
        raise InputError("the run header's sandboxes are not sandbox names", path)
    return UndoSource(path, record)


def _checked_key(record: dict[str, Any], source: UndoSource, path: Path) -> Key:
    """A record's target key; an id or sandbox no run could have written is an edited log."""
    target_id = record.get("id")
    if not isinstance(target_id, str):
        raise InputError("a record's id is not a string: an edited log", path)
    check_id(target_id, path, None)
    key = record_key(record, source.header)
    if source.header.get("sandboxes") and not (key[0] and SANDBOX.fullmatch(key[0])):
        raise InputError(f"the record of {target_id} names no sandbox the run went to", path)
    return key


def _changed(record: dict[str, Any]) -> bool:
    status = record.get("status")
    error = record.get("error")
    error = error if isinstance(error, dict) else {}
    reverted_some = status == "failed" and error.get("kind") == "irreversible"
    made = status == "updated" or (reverted_some and record.get("etag_after") is not None)
    return made and bool(record.get("ops") or record.get("action"))


def _depth(value: Any, limit: int = MAX_DEPTH + 1) -> int:
    """How deeply ``value`` nests, counted no further than ``limit``."""
    if limit <= 0 or not isinstance(value, dict | list):
        return 0
    children = value.values() if isinstance(value, dict) else value
    return 1 + max((_depth(child, limit - 1) for child in children), default=0)


def _records(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """Each complete record with its byte offset (a torn or foreign line is skipped)."""
    try:
        with path.open("rb") as handle:
            offset = 0
            while line := handle.readline(MAX_RECORD_BYTES + 1):
                if len(line) > MAX_RECORD_BYTES:
                    raise InputError("a line longer than 16 MiB: not a bulkflow result log", path)
                start, offset = offset, offset + len(line)
                if not line.endswith(b"\n"):
                    continue
                try:
                    record = orjson.loads(line)
                except orjson.JSONDecodeError:
                    continue
                if isinstance(record, dict):
                    if _depth(record) > MAX_DEPTH:
                        raise InputError(
                            f"a record nests deeper than {MAX_DEPTH} levels: an edited log", path
                        )
                    yield start, record
    except OSError as exc:
        raise InputError(
            f"cannot read the result log: {os.strerror(exc.errno or 0)}", path
        ) from None
