"""Reports from result logs: Markdown and one self-contained HTML file with inline SVG."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bulkflow import report
from bulkflow.sim import Simulator
from tests.conftest import DEST_FLOW, SOURCE_FLOW, job_body
from tests.engine_helpers import run_job

ROLLOUT = [{"add_segment": {"id": "2d79d0d8-724f-49fc-a09d-d1dec338c93c", "name": "Winter"}}]


@pytest.fixture
async def log(sim: Simulator, tmp_path: Path) -> Path:
    """A log with an updated, a failed (not found) and an invalid-plan target."""
    await run_job(sim, tmp_path, job_body([DEST_FLOW, "no-such-flow", SOURCE_FLOW], ROLLOUT))
    return tmp_path / "run.jsonl"


def test_markdown_has_counts_failures_latency_and_changes(log: Path) -> None:
    """The Markdown report lists counts, failed targets with reasons, percentiles and changes."""
    text = report.markdown(report.load(log))
    assert "| updated | 1 |" in text
    assert "| failed | 2 |" in text
    assert "| no-such-flow |" in text
    assert "not_found" in text
    assert "invalid_plan" in text
    assert "| p50 | p90 | p99 | max |" in text
    assert '+ audience 2d79d0d8-724f-49fc-a09d-d1dec338c93c "Winter"' in text


def test_html_is_self_contained_with_charts(log: Path) -> None:
    """One file: inline CSS and SVG, no external scripts, styles or images."""
    page = report.html_report(report.load(log))
    assert page.startswith("<!doctype html>")
    assert page.count("<svg") == 2
    assert "targets per status" in page
    assert "latency histogram" in page
    assert not re.search(r"""(src|href)=["']?https?:""", page)
    assert "<script" not in page
    assert "@media print" in page


async def test_latest_record_wins_across_runs(sim: Simulator, tmp_path: Path, log: Path) -> None:
    """A resumed log counts each target once, by its latest record."""
    sim.store.ensure("flows", "no-such-flow")
    await run_job(
        sim, tmp_path, job_body([DEST_FLOW, "no-such-flow", SOURCE_FLOW], ROLLOUT), resume=True
    )
    data = report.load(log)
    assert len(data.runs) == 2
    assert data.counts["failed"] == 1
    assert data.counts["updated"] == 2


def test_percentiles_nearest_rank() -> None:
    """p50/p90/p99 by nearest rank, plus the maximum."""
    data = report.ReportData(Path("x"), durations_ms=[float(v) for v in range(1, 101)])
    assert data.percentiles() == {"p50": 50.0, "p90": 90.0, "p99": 99.0, "max": 100.0}


def test_not_a_log_is_an_input_error(tmp_path: Path) -> None:
    """A file without a run header is refused clearly."""
    path = tmp_path / "x.jsonl"
    path.write_text('{"hello": 1}\n')
    from bulkflow.errors import InputError

    with pytest.raises(InputError, match="no run header"):
        report.load(path)
