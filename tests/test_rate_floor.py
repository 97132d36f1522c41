"""``--rate``: a rate so low that the second request would wait for years is refused."""

from __future__ import annotations

import pytest

from bulkflow.errors import InputError
from bulkflow.runconfig import RunConfig


@pytest.mark.parametrize("rate", [1e-9, 0.009])
def test_rate_below_one_request_per_100_seconds_is_an_input_error(rate: float) -> None:
    """``--rate`` under 0.01 requests/s is refused up front, naming the flag."""
    with pytest.raises(InputError) as caught:
        RunConfig.build({"rate_per_s": rate})
    assert str(caught.value).startswith("--rate: ")


def test_rate_of_one_request_per_100_seconds_is_accepted() -> None:
    """The floor itself, 0.01 requests/s, is a valid rate."""
    assert RunConfig.build({"rate_per_s": 0.01}).rate_per_s == 0.01
