"""Reports from result logs: Markdown and one self-contained HTML file with inline SVG."""

from __future__ import annotations

import re
from pathlib import Path

import orjson
import pytest

from bulkflow.records import report
from bulkflow.records.resultlog import STATUSES
from bulkflow.sim import Simulator
from tests.cli.test_cli import bulkflow
from tests.conftest import DEST_FLOW, SOURCE_FLOW, job_body
from tests.engine_helpers import run_job
from tests.records.test_report_escaping import (
    HTML_ELEMENTS,
    MD_ELEMENTS,
    Page,
    hostile_log,
    render,
    result,
    write_log,
)

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


def _odd(**fields: object) -> dict[str, object]:
    """A failed result record with ``fields`` changed (a ``None`` value drops the field)."""
    record = result("t2", "odd", "failed") | fields
    return {k: v for k, v in record.items() if v is not None}


ODD_RECORDS = {
    "unknown status": (_odd(status="exploded"), "status"),
    "no status": (_odd(status=None), "status"),
    "status not a string": (_odd(status=5), "status"),
    "no id": (_odd(id=None), "id"),
    "id not a string": (_odd(id=7), "id"),
    "duration not a number": (_odd(duration_ms="slow"), "duration_ms"),
    "negative duration": (_odd(duration_ms=-1), "duration_ms"),
    "conflicts not a count": (_odd(conflicts="many"), "conflicts"),
    "retries a boolean": (_odd(retries=True), "retries"),
    "changes not a list": (_odd(changes="+ audience x"), "changes"),
    "change line not a string": (_odd(changes=[1]), "changes"),
    "error not an object": (_odd(error="boom"), "error"),
}


@pytest.mark.parametrize("fmt", ["md", "html"])
@pytest.mark.parametrize(("record", "field"), ODD_RECORDS.values(), ids=ODD_RECORDS.keys())
async def test_odd_result_record_exits_2_naming_line_and_field(
    tmp_path: Path, record: dict[str, object], field: str, fmt: str
) -> None:
    """A result record the report cannot read: exit 2, ``log:line: field ...``, no traceback."""
    log = write_log(tmp_path / "r.jsonl", [result("t1", "fine", "updated"), record])
    status, out, err = await bulkflow("report", str(log), "--format", fmt)
    assert (status, out) == (2, ""), err
    assert err.startswith(f"error: {log}:3: {field}")
    assert "Traceback" not in err


async def test_torn_lines_do_not_shift_the_line_named(tmp_path: Path) -> None:
    """The line number in the message counts torn lines too."""
    log = write_log(tmp_path / "r.jsonl", [])
    with log.open("ab") as handle:
        handle.write(b"not json\n" + orjson.dumps(_odd(status="x")) + b"\n")
    status, _, err = await bulkflow("report", str(log))
    assert status == 2
    assert f"{log}:3: status" in err


async def test_non_string_name_and_message_render(tmp_path: Path) -> None:
    """A name or error message that is not a string (the service's data) is shown, not refused."""
    odd = _odd(name={"x": "<b>"}, error={"kind": 3, "message": ["<i>"]})
    log = write_log(tmp_path / "r.jsonl", [odd])
    status, out, err = await bulkflow("report", str(log), "--format", "md")
    assert status == 0, err
    assert Page(render(out)).table("id")[1][1:] == ["{'x': '<b>'}", "failed", "3", "['<i>']"]


async def test_cli_markdown_of_hostile_log_makes_no_element_of_its_own(tmp_path: Path) -> None:
    """``bulkflow report LOG --format md`` on hostile data renders only the template's elements."""
    status, out, err = await bulkflow("report", str(hostile_log(tmp_path / "r.jsonl")))
    assert status == 0, err
    assert set(Page(render(out)).elements) <= MD_ELEMENTS


async def test_cli_html_of_hostile_log_makes_no_element_of_its_own(tmp_path: Path) -> None:
    """``bulkflow report LOG --format html`` on hostile data renders only the template's elements."""
    log = hostile_log(tmp_path / "r.jsonl")
    status, out, err = await bulkflow("report", str(log), "--format", "html")
    assert status == 0, err
    assert set(Page(out).elements) <= HTML_ELEMENTS


def test_report_accepts_exactly_the_log_statuses() -> None:
    """The statuses a report accepts are exactly the result log's, as their strings."""
    accepted = {
        s for s in STATUSES if report._Result.model_validate({"id": "x", "status": s.value})
    }
    assert accepted == set(STATUSES)
