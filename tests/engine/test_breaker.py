"""The failure breaker: when failures say the change itself is wrong, stop starting targets."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bulkflow.engine.breaker import STREAK, Breaker, Stop
from tests.conftest import SimFactory, job_body
from tests.engine_helpers import run_job

ROLLOUT = [{"add_segment": {"id": "2d79d0d8-724f-49fc-a09d-d1dec338c93c"}}]


def _record(failed: bool, kind: str = "http", message: str = "PATCH 400: rejected") -> Any:
    error = {"kind": kind, "status": 400, "message": message} if failed else None
    return {"status": "failed" if failed else "updated", "error": error}


def _feed(breaker: Breaker, pattern: str, **failure: Any) -> list[Stop | None]:
    """``x`` a failure, ``.`` a success; what the breaker answered to each."""
    return [breaker.observe(_record(c == "x", **failure)) for c in pattern]


def test_the_rate_counts_only_once_the_window_is_full() -> None:
    """3 failures among the first 5 targets do not trip a window of 10 until it has 10."""
    answers = _feed(Breaker(window=10, max_rate=0.2), "x.x.x....")
    assert answers == [None] * 9


def test_more_than_the_rate_of_the_last_window_trips() -> None:
    """3 of the last 10 failed, more than 20%: the 10th target trips the breaker."""
    answers = _feed(Breaker(window=10, max_rate=0.2), "x.x.x.....")
    assert answers[:9] == [None] * 9
    assert answers[9] is not None
    assert answers[9].by == "breaker"


def test_exactly_the_rate_does_not_trip() -> None:
    """2 of 10 at a maximum of 20% is within the limit."""
    assert _feed(Breaker(window=10, max_rate=0.2), "x.x......." + "." * 20) == [None] * 30


def test_the_window_slides() -> None:
    """Early failures that have left the window no longer count."""
    breaker = Breaker(window=10, max_rate=0.2)
    answers = _feed(breaker, ".........." + "xx" + "." * 9 + "x")
    assert answers == [None] * 22


def test_failures_in_a_row_of_one_kind_trip_at_once() -> None:
    """10 in a row failing the same way trip before the window is full."""
    answers = _feed(Breaker(window=50, max_rate=1.0), "x" * STREAK)
    assert answers[: STREAK - 1] == [None] * (STREAK - 1)
    stop = answers[-1]
    assert stop is not None
    assert f"{STREAK} targets in a row" in stop.reason


def test_a_row_of_mixed_kinds_does_not_trip() -> None:
    """Failures in a row of alternating kinds are not one systematic error."""
    breaker = Breaker(window=50, max_rate=1.0)
    answers = [breaker.observe(_record(True, kind=("http", "transport")[n % 2])) for n in range(30)]
    assert answers == [None] * 30


def test_the_trip_names_the_dominant_kind_and_a_sample_message() -> None:
    """The stop names the error kind most failures share, with one of their messages."""
    breaker = Breaker(window=10, max_rate=0.1)
    breaker.observe(_record(True, kind="transport", message="connection reset"))
    answers = _feed(breaker, "x.x......", message="PATCH 400: the destination rejects this")
    stop = answers[-1]
    assert stop is not None
    assert (stop.kind, stop.sample) == ("http 400", "PATCH 400: the destination rejects this")
    assert "3 of the last 10 targets failed" in stop.reason
    assert "http 400" in stop.reason
    assert "PATCH 400: the destination rejects this" in stop.reason


def test_it_trips_once() -> None:
    """After tripping, the breaker answers None: the run is already stopping."""
    answers = _feed(Breaker(window=50, max_rate=1.0), "x" * (STREAK + 5))
    assert sum(a is not None for a in answers) == 1


def test_stale_targets_are_not_failures() -> None:
    """``stale`` (an apply left a target changed since review alone) does not count."""
    breaker = Breaker(window=10, max_rate=0.0)
    stale = {"status": "stale", "error": {"kind": "stale", "status": None, "message": "m"}}
    assert [breaker.observe(stale) for _ in range(20)] == [None] * 20


def test_an_undos_drifted_targets_are_not_failures() -> None:
    """``drifted`` and ``irreversible`` (an undo leaving others' edits alone) never trip it."""
    breaker = Breaker(window=10, max_rate=0.0)
    answers = _feed(breaker, "x" * 30, kind="drifted") + _feed(
        breaker, "x" * 30, kind="irreversible"
    )
    assert answers == [None] * 60


async def test_the_breaker_stops_a_run_and_in_flight_targets_finish(
    make_sim: SimFactory, tmp_path: Path
) -> None:
    """Every target failing alike: the run stops after the streak plus what was in flight, each
    of those recorded, and the summary says why."""
    sim = await make_sim()
    missing = [f"gone-{n:03d}" for n in range(200)]
    summary, results = await run_job(sim, tmp_path, job_body(missing, ROLLOUT), concurrency=8)
    assert STREAK <= len(results) <= STREAK + 8
    assert summary.stopped is not None
    assert summary.stopped.kind == "not_found 404"
    assert summary.as_record()["stopped"]["by"] == "breaker"


async def test_a_dry_run_has_no_breaker(make_sim: SimFactory, tmp_path: Path) -> None:
    """A plan sends nothing: it shows every failure for review instead of stopping."""
    sim = await make_sim()
    missing = [f"gone-{n:03d}" for n in range(60)]
    summary, results = await run_job(sim, tmp_path, job_body(missing, ROLLOUT), dry_run=True)
    assert len(results) == 60
    assert summary.stopped is None
