"""Retry-After parsing and the retry loop's attempts and waits."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from bulkflow.errors import ApiError, RetryableError
from bulkflow.flowservice.retry import RetryPolicy, parse_retry_after, with_retries


def test_retry_after_seconds_and_http_date() -> None:
    """Delta-seconds and an HTTP date both give seconds to wait; junk gives None."""
    now = datetime(2026, 11, 22, 16, 0, 0, tzinfo=UTC)
    assert parse_retry_after("3") == 3.0
    assert parse_retry_after("0.25") == 0.25
    later = (now + timedelta(seconds=7)).strftime("%a, %d %b %Y %H:%M:%S GMT")
    assert parse_retry_after(later, now) == pytest.approx(7.0)
    assert parse_retry_after("soon") is None
    assert parse_retry_after(None) is None


async def test_retries_until_success_then_stops() -> None:
    """Two retryable failures, then success: three calls, two retry callbacks."""
    calls: list[int] = []
    seen: list[float] = []

    async def flaky() -> str:
        calls.append(1)
        if len(calls) < 3:
            raise RetryableError("busy", 503, "http", retry_after_s=0.01)
        return "ok"

    policy = RetryPolicy(max_attempts=5, retry_after_margin_s=0.001)
    assert await with_retries(flaky, policy, lambda exc, wait: seen.append(wait)) == "ok"
    assert len(calls) == 3
    assert len(seen) == 2
    assert all(wait >= 0.01 for wait in seen)


async def test_gives_up_after_max_attempts() -> None:
    """Attempts are bounded; the last error is raised."""
    calls: list[int] = []

    async def down() -> None:
        calls.append(1)
        raise RetryableError("down", 500, "http", retry_after_s=0.0)

    with pytest.raises(RetryableError):
        await with_retries(down, RetryPolicy(max_attempts=3, retry_after_margin_s=0.0))
    assert len(calls) == 3


async def test_other_errors_are_not_retried() -> None:
    """A 4xx (not 429) is raised at once."""
    calls: list[int] = []

    async def bad() -> None:
        calls.append(1)
        raise ApiError("nope", 400)

    with pytest.raises(ApiError):
        await with_retries(bad, RetryPolicy(max_attempts=5))
    assert calls == [1]


class Quiet:
    """A run's progress as the retry loop sees it: seconds since anything was accepted."""

    def __init__(self, seconds: float = 0.0) -> None:
        self.seconds = seconds

    def quiet_s(self) -> float:
        return self.seconds


def throttled_then_ok(refusals: int, retry_after_s: float | None = 0.0) -> tuple[list[int], Any]:
    """A call refused with 429 ``refusals`` times, then answering "ok"."""
    calls: list[int] = []

    async def call() -> str:
        calls.append(1)
        if len(calls) <= refusals:
            raise RetryableError("429", 429, "http", retry_after_s=retry_after_s)
        return "ok"

    return calls, call


async def test_throttling_is_retried_beyond_max_attempts_while_the_run_progresses() -> None:
    """Ten 429s in a row with max_attempts 3: retried, because other requests are accepted."""
    calls, call = throttled_then_ok(10)
    policy = RetryPolicy(max_attempts=3, retry_after_margin_s=0.0)
    assert await with_retries(call, policy, progress=Quiet(0.0)) == "ok"
    assert len(calls) == 11


async def test_throttling_gives_up_when_the_run_has_stalled() -> None:
    """A 429 after the service accepted nothing for throttle_patience_s fails the request."""
    calls, call = throttled_then_ok(10)
    policy = RetryPolicy(retry_after_margin_s=0.0, throttle_patience_s=60)
    with pytest.raises(RetryableError):
        await with_retries(call, policy, progress=Quiet(61.0))
    assert len(calls) == 1


async def test_server_errors_stay_bounded_by_max_attempts_among_429s() -> None:
    """429s do not use up the attempts, and do not extend them for 5xx either."""
    calls: list[int] = []

    async def call() -> None:
        calls.append(1)
        status = 429 if len(calls) % 2 else 503
        raise RetryableError(str(status), status, "http", retry_after_s=0.0)

    policy = RetryPolicy(max_attempts=3, retry_after_margin_s=0.0)
    with pytest.raises(RetryableError) as caught:
        await with_retries(call, policy, progress=Quiet(0.0))
    assert caught.value.status == 503
    assert calls.count(1) == 6  # 429, 503, 429, 503, 429, 503: the third 503 ends it


async def test_without_progress_a_request_keeps_its_own_time_budget() -> None:
    """No run to ask (a bare client): 429s are retried for throttle_patience_s of its own."""
    calls, call = throttled_then_ok(5)
    policy = RetryPolicy(max_attempts=2, retry_after_margin_s=0.0, throttle_patience_s=60)
    assert await with_retries(call, policy) == "ok"
    assert len(calls) == 6


async def test_a_429_without_retry_after_backs_off_within_the_throttle_cap() -> None:
    """No Retry-After: jittered exponential waits, none longer than throttle_cap_s."""
    _, call = throttled_then_ok(12, retry_after_s=None)
    waits: list[float] = []
    policy = RetryPolicy(base_s=0.001, throttle_cap_s=0.004)
    await with_retries(call, policy, lambda exc, wait: waits.append(wait), progress=Quiet())
    assert len(waits) == 12
    assert max(waits) <= 0.004
