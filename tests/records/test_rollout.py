"""Reading a staged rollout back from its log: finished waves, change times, counts per wave."""

from __future__ import annotations

from pathlib import Path

import orjson

from bulkflow.records.rollout import change_ms, read_rollout, wave_counts


def _log(path: Path, *records: dict[str, object]) -> Path:
    path.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in records))
    return path


def test_finished_waves_reach_as_far_as_the_furthest_passed_gate(tmp_path: Path) -> None:
    """Only passed gates with a whole-number ``upto`` count; the furthest one wins."""
    log = _log(
        tmp_path / "r.jsonl",
        {"type": "gate", "wave": 1, "upto": 10, "passed": True},
        {"type": "gate", "wave": 2, "upto": 100, "passed": False},
        {"type": "gate", "wave": 2, "upto": True, "passed": True},
        {"type": "gate", "wave": 2, "upto": "50", "passed": True},
        {"type": "gate", "wave": 2, "upto": 40, "passed": "yes"},
    )
    assert read_rollout(log, with_changes=False).finished_upto == 10
    assert read_rollout(tmp_path / "none.jsonl", with_changes=True).finished_upto == 0


def test_change_times_come_from_updated_records_only(tmp_path: Path) -> None:
    """An updated record's change time is its ``at`` less its duration; others have none."""
    log = _log(
        tmp_path / "r.jsonl",
        {"type": "result", "id": "a", "status": "updated", "at": "1970-01-01T00:00:10.000Z",
         "duration_ms": 250},
        {"type": "result", "id": "b", "status": "failed", "at": "1970-01-01T00:00:10.000Z"},
        {"type": "result", "id": "c", "status": "updated", "at": "yesterday"},
        {"type": "result", "id": "d", "status": "updated", "at": "1970-01-01T00:00:01Z",
         "duration_ms": -5},
    )  # fmt: skip
    assert read_rollout(log, with_changes=True).changed_ms == {"a": 9_750, "d": 1_000}
    assert read_rollout(log, with_changes=False).changed_ms == {}
    assert change_ms({"status": "updated", "at": 5}) is None


def test_wave_counts_take_whole_numbered_waves() -> None:
    """Targets per status in each wave; a record without a whole-number wave is not counted."""
    records = [
        {"wave": 2, "status": "failed"},
        {"wave": 1, "status": "updated"},
        {"wave": 1, "status": "updated"},
        {"wave": True, "status": "updated"},
        {"status": "updated"},
    ]
    assert [(w, dict(c)) for w, c in wave_counts(records)] == [
        (1, {"updated": 2}),
        (2, {"failed": 1}),
    ]
