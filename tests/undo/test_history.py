"""Reading a log for undo: which records count as changes made, newest first per target."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

from bulkflow.errors import InputError
from bulkflow.undo.history import read_source

OP = {"op": "replace", "path": "/name", "value": "new"}
IMAGE = {"path": "/name", "was": "old"}


def header(**extra: Any) -> dict[str, Any]:
    return {"type": "run", "job": "j", "resource": "flows", "dry_run": False} | extra


def record(kind: str, target: str, status: str | None = None, **extra: Any) -> dict[str, Any]:
    body = {"type": kind, "id": target, "ops": [OP], "before": [IMAGE]} | extra
    return body | ({"status": status} if status else {})


def write(tmp_path: Path, *lines: dict[str, Any]) -> Path:
    path = tmp_path / "run.jsonl"
    path.write_bytes(b"".join(orjson.dumps(line) + b"\n" for line in lines))
    return path


def test_an_intent_followed_by_its_result_counts_once(tmp_path: Path) -> None:
    """A target's intent then its ``updated`` result: one change, the result's."""
    source = read_source(
        write(tmp_path, header(), record("intent", "a"), record("result", "a", "updated"))
    )
    assert source.target_keys() == [(None, "a")]
    assert len(source.history((None, "a"))) == 1


def test_an_intent_without_a_result_in_its_run_counts(tmp_path: Path) -> None:
    """Killed with a PATCH in flight: the intent counts, also when a resumed run follows."""
    log = write(
        tmp_path,
        header(),
        record("intent", "a"),
        header(resume=True),
        record("result", "a", "unchanged", ops=[]),
    )
    assert read_source(log).target_keys() == [(None, "a")]


def test_failed_and_unchanged_targets_are_not_undone(tmp_path: Path) -> None:
    """A failed PATCH changed nothing; neither did an unchanged target."""
    log = write(
        tmp_path,
        header(),
        record("intent", "a"),
        record("result", "a", "failed"),
        record("result", "b", "unchanged", ops=[]),
    )
    assert read_source(log).target_keys() == []


def test_an_undos_irreversible_record_that_reverted_the_rest_counts(tmp_path: Path) -> None:
    """An undo's ``irreversible`` target that still sent its other ops is redone by an undo."""
    error = {"kind": "irreversible", "status": None, "message": "m"}
    log = write(tmp_path, header(), record("result", "a", "failed", error=error, etag_after='"e"'))
    assert read_source(log).target_keys() == [(None, "a")]


def test_history_is_newest_first(tmp_path: Path) -> None:
    """Two runs changed one target: its history starts with the later one."""
    later = {"op": "replace", "path": "/name", "value": "newer"}
    log = write(
        tmp_path,
        header(),
        record("result", "a", "updated"),
        header(),
        record("result", "a", "updated", ops=[later]),
    )
    assert [h.ops[0]["value"] for h in read_source(log).history((None, "a"))] == ["newer", "new"]


def test_a_dry_runs_log_is_refused(tmp_path: Path) -> None:
    """A dry run changed nothing: input error."""
    with pytest.raises(InputError, match="nothing to undo"):
        read_source(write(tmp_path, header(dry_run=True), record("result", "a", "planned")))


def test_a_file_without_a_run_header_is_refused(tmp_path: Path) -> None:
    """Results with no header, torn lines, JSON that is not an object: not a log."""
    path = tmp_path / "x.jsonl"
    path.write_bytes(b'[1]\n{"type": "result", "id": "a"}\n{"torn')
    with pytest.raises(InputError, match="no run header"):
        read_source(path)
