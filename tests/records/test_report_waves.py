"""Reports of a staged rollout: a table of waves with their gates, and why the rollout stopped."""

from __future__ import annotations

from pathlib import Path

import orjson

from bulkflow.records import report
from tests.cli.test_waves import REJECT_S3, ROLLOUT, seed
from tests.conftest import SimFactory, job_body
from tests.engine_helpers import run_job
from tests.records.test_report_escaping import Page, assert_no_links, render, result, write_log


async def test_a_stopped_rollouts_report_shows_its_waves_and_why(
    make_sim: SimFactory, tmp_path: Path
) -> None:
    """Counts per wave, the gate's verdict with its reason, and the stop among the facts."""
    sim = await make_sim(faults=REJECT_S3)
    ids = seed(sim, 40)
    _, results = await run_job(sim, tmp_path, job_body(ids, ROLLOUT), waves=(10, 20))
    failed = sum(r["status"] == "failed" for r in results)
    page = Page(render(report.markdown(report.load(tmp_path / "run.jsonl"))))
    [(wave, counts, gate)] = page.table("wave")[1:]
    assert (wave, counts) == ("1", f"{10 - failed} updated, {failed} failed")
    assert gate.startswith(f"failed: {failed} of 10 targets failed")
    assert "http 400" in gate
    assert f"Stopped: gate: {failed} of 10 targets failed" in page.text
    html = Page(report.html_report(report.load(tmp_path / "run.jsonl")))
    assert html.table("wave")[1][:2] == ["1", f"{10 - failed} updated, {failed} failed"]


async def test_a_run_without_waves_has_no_waves_section(
    make_sim: SimFactory, tmp_path: Path
) -> None:
    """Without waves the report is as before."""
    sim = await make_sim()
    await run_job(sim, tmp_path, job_body(seed(sim, 3), ROLLOUT))
    assert "Waves" not in report.markdown(report.load(tmp_path / "run.jsonl"))


def test_a_gate_reason_is_text_in_both_reports(tmp_path: Path) -> None:
    """A gate's reason from an edited log reads as its characters: no markup, link or HTML."""
    hostile = "[click](javascript:alert(1)) <script>x</script> | cell"
    results = [result("a", "a", "updated", wave=1), result("b", "b", "updated", wave=2)]
    log = write_log(tmp_path / "run.jsonl", results)
    with log.open("ab") as handle:
        handle.write(orjson.dumps({"type": "gate", "wave": 1, "passed": False, "reason": hostile}))
        handle.write(b"\n")
    markdown = report.markdown(report.load(log))
    assert_no_links(markdown)
    rows = Page(render(markdown)).table("wave")
    assert rows[1:] == [["1", "1 updated", f"failed: {hostile}"], ["2", "1 updated", ""]]
    html = Page(report.html_report(report.load(log)))
    assert "script" not in html.elements
    assert html.table("wave")[1] == ["1", "1 updated", f"failed: {hostile}"]
