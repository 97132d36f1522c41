"""One run's configuration: layers overlaid in order, checked once, recorded and read back."""

from __future__ import annotations

import pytest

from bulkflow.errors import InputError
from bulkflow.runconfig import RunConfig, recorded


def test_later_layers_win_and_none_means_not_given() -> None:
    """Job options, then an earlier log, then flags; a None leaves the setting as it was."""
    config = RunConfig.build(
        {"concurrency": 4, "timeout_s": 10.0},
        {"concurrency": 8, "verify": True},
        {"concurrency": None, "timeout_s": 5.0, "verify": None},
    )
    assert (config.concurrency, config.timeout_s, config.verify) == (8, 5.0, True)


def test_defaults_live_in_one_place() -> None:
    """With no layer at all, every setting has its documented default."""
    config = RunConfig.build()
    assert (config.concurrency, config.timeout_s, config.max_conflict_retries) == (16, 30.0, 5)
    assert not config.dry_run
    assert config.batch_fetch


@pytest.mark.parametrize(
    ("field", "value", "flag"),
    [("concurrency", 0, "--concurrency"), ("rate_per_s", float("inf"), "--rate"),
     ("timeout_s", -1.0, "--timeout"), ("grace_s", float("nan"), "--grace")],
)  # fmt: skip
def test_out_of_range_names_the_flag(field: str, value: float, flag: str) -> None:
    """A value out of range is an input error that names the flag a user would give."""
    with pytest.raises(InputError) as caught:
        RunConfig.build({field: value})
    assert str(caught.value).startswith(f"{flag}: ")


def test_header_round_trips_through_recorded() -> None:
    """What a run header records rebuilds the same run (a plan file's name is not handed on)."""
    config = RunConfig(dry_run=True, verify=True, concurrency=3, plan_file="p.json", replan=True)
    rebuilt = RunConfig.build(recorded({"config": config.header()}))
    assert rebuilt == config.model_copy(update={"plan_file": None, "replan": False})


def test_a_header_from_before_the_config_keeps_its_dry_run() -> None:
    """A log written before headers held ``config`` still says whether it was a dry run."""
    assert recorded({"type": "run", "dry_run": True}) == {"dry_run": True}
    assert recorded(None) == {}
