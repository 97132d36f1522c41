"""Retry-After parsing and the retry loop's attempts and waits."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

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
