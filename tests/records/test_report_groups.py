"""Reports for thousands of targets: the run's identity first, changes grouped, failures apart."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from bulkflow.records import report
from tests.records.test_report_escaping import (
    HOSTILE,
    HTML_ELEMENTS,
    MD_ELEMENTS,
    Page,
    render,
    result,
    write_log,
)

ROLLOUT = ['+ audience 2d79 "Winter"', '- audience 9f7d "Mountain Biking"']
IDENTITY = {
    "sim": False,
    "base_url": "https://platform.adobe.io/data/foundation/flowservice",
    "sandbox": "dev-2",
    "org_id": "ACME@AdobeOrg",
    "operator": "alice@build-7",
    "bulkflow": "9.9.9",
}
SUMMARY = {"type": "summary", "throttled": 7, "finished_at": "2026-11-22T16:05:00.000Z"}


def rollout_log(tmp_path: Path, count: int, **run: Any) -> Path:
    """``count`` planned flows with the same two changes, one of its own, two failures."""
    results = [
        result(f"flow-{n:05d}", f"Flow {n}", "planned", changes=ROLLOUT) for n in range(count)
    ]
    results.append(result("odd-one", "Odd", "planned", changes=['~ /name: "a" → "b"']))
    results.append(result("gone-1", "Gone", "failed", changes=ROLLOUT))
    results.append(result("gone-2", None, "failed"))
    path = write_log(tmp_path / "r.jsonl", results, dry_run=True, **(IDENTITY | run))
    with path.open("a") as handle:
        handle.write(
            f'{{"type": "summary", "throttled": 7, "finished_at": "{SUMMARY["finished_at"]}"}}\n'
        )
    return path


def test_markdown_shows_a_shared_change_set_once_with_its_count(tmp_path: Path) -> None:
    """30 flows with the same changes: one heading with the count, one block, 20 ids listed."""
    text = report.markdown(report.load(rollout_log(tmp_path, 30)))
    page = Page(render(text))
    assert "30 flows with the same changes" in page.captured["h3"]
    assert page.captured["pre"].count("\n".join(ROLLOUT) + "\n") == 1
    assert "flow-00019" in text
    assert "flow-00020" not in text
    assert "and 10 more (each is in the result log)" in page.text


def test_html_lists_every_id_of_a_group_folded(tmp_path: Path) -> None:
    """In HTML a group's ids are all there, inside a closed <details>."""
    page_text = report.html_report(report.load(rollout_log(tmp_path, 30)))
    folded = re.search(r"<details><summary>30 ids</summary><p class=\"ids\">([^<]*)</p>", page_text)
    assert folded, page_text
    assert folded[1].split() == [f"flow-{n:05d}" for n in range(30)]


@pytest.mark.parametrize("fmt", ["md", "html"])
def test_targets_that_differ_come_after_the_groups(tmp_path: Path, fmt: str) -> None:
    """The target with changes of its own follows the shared change set."""
    data = report.load(rollout_log(tmp_path, 3))
    text = report.markdown(data) if fmt == "md" else report.html_report(data)
    assert text.index("3 flows") < text.index("Targets whose changes are their own")
    assert text.index("Targets whose changes are their own") < text.index("odd-one")


@pytest.mark.parametrize("fmt", ["md", "html"])
def test_failed_targets_show_no_change_block(tmp_path: Path, fmt: str) -> None:
    """A failed target is in the failures table, with no change block (even with lines)."""
    data = report.load(rollout_log(tmp_path, 3))
    page = Page(render(report.markdown(data)) if fmt == "md" else report.html_report(data))
    assert [h for h in page.captured["h3"] if "gone-1" in h] == []
    assert "gone-1" in [row[0] for row in page.table("id")]


@pytest.mark.parametrize(
    ("label", "value"),
    [
        ("Environment", IDENTITY["base_url"]),
        ("Sandbox", "dev-2"),
        ("Org id", "ACME@AdobeOrg"),
        ("Run by", "alice@build-7"),
        ("bulkflow", "9.9.9"),
        ("Job digest", "sha256:0"),
        ("Started", "2026-11-22T16:00:00.000Z"),
        ("Finished", "2026-11-22T16:05:00.000Z"),
        ("Throttled (429)", "7 times"),
    ],
)
def test_html_facts_say_where_who_and_when(tmp_path: Path, label: str, value: str) -> None:
    """The facts table names environment, sandbox, org, operator, version, times, throttling."""
    page = Page(report.html_report(report.load(rollout_log(tmp_path, 3))))
    cells = [cell for row in page.tables[0] for cell in row]
    assert cells[cells.index(label) + 1] == value


def test_simulator_runs_say_so(tmp_path: Path) -> None:
    """A ``--sim`` run's report says nothing was sent to Adobe."""
    text = Page(render(report.markdown(report.load(rollout_log(tmp_path, 2, sim=True))))).text
    assert "the embedded simulator (--sim): nothing was sent to Adobe" in text


def test_apply_report_names_the_saved_plan_and_its_digest(tmp_path: Path) -> None:
    """An apply's report names the plan file it sent and that plan's digest."""
    config = {"plan_file": "q4.plan.json", "plan_digest": "sha256:abc"}
    log = rollout_log(tmp_path, 2, apply="q4.plan.json", config=config)
    page = Page(report.html_report(report.load(log)))
    cells = [cell for row in page.tables[0] for cell in row]
    assert cells[cells.index("Saved plan") + 1] == "q4.plan.json"
    assert cells[cells.index("Plan digest") + 1] == "sha256:abc"


def test_an_older_log_reads_not_recorded(tmp_path: Path) -> None:
    """A header without the identity fields: "not recorded", not a guess or a crash."""
    log = write_log(tmp_path / "r.jsonl", [result("t1", "n", "updated", changes=ROLLOUT)])
    text = Page(render(report.markdown(report.load(log)))).text
    assert "Org id: not recorded" in text


def test_hostile_ids_in_a_group_make_no_element(tmp_path: Path) -> None:
    """Ids listed in a group (HTML <details>, Markdown list) stay text whatever they hold."""
    results = [
        result(f"{n} {text}", text, "planned", changes=ROLLOUT) for n, text in enumerate(HOSTILE)
    ]
    log = write_log(tmp_path / "r.jsonl", results)
    html = Page(report.html_report(report.load(log)))
    assert set(html.elements) <= HTML_ELEMENTS
    assert f"0 {HOSTILE[0]}" in html.text
    markdown = Page(render(report.markdown(report.load(log))))
    assert set(markdown.elements) <= MD_ELEMENTS


def test_five_thousand_targets_make_a_short_report(tmp_path: Path) -> None:
    """5,000 flows with one change set: one change block, and a Markdown report of a screenful."""
    data = report.load(rollout_log(tmp_path, 5000))
    html = report.html_report(data)
    assert html.count("<pre>") == 2  # the group's block and the odd one's
    assert len(report.markdown(data).splitlines()) < 120


@pytest.mark.skipif(
    shutil.which("chromium") is None, reason="needs chromium (apt install chromium)"
)
def test_five_thousand_target_report_prints_on_few_pages(tmp_path: Path) -> None:
    """Printed by headless Chromium, the 5,000-target HTML report takes under 10 pages."""
    page = tmp_path / "report.html"
    page.write_text(report.html_report(report.load(rollout_log(tmp_path, 5000))))
    pdf = tmp_path / "report.pdf"
    subprocess.run(
        ["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--no-pdf-header-footer",
         f"--print-to-pdf={pdf}", page.as_uri()],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    pages = len(re.findall(rb"/Type\s*/Page\b", pdf.read_bytes()))
    assert 1 <= pages < 10


def test_targets_with_the_same_new_value_from_different_old_ones_are_one_group() -> None:
    """``~ /m: "1" → "c"`` and ``~ /m: "2" → "c"`` are one change: one group, old value ``…``."""
    from bulkflow.records.groups import ChangeGroups

    groups = ChangeGroups()
    groups.add("a", None, ['~ /m: "1" → "c"', "+ audience x"])
    groups.add("b", None, ['~ /m: "2" → "c"', "+ audience x"])
    groups.add("c", None, ['~ /m: "1" → "d"'])
    assert [(g.count, g.changes) for g in groups.shared()] == [
        (2, ('~ /m: … → "c"', "+ audience x"))
    ]
    assert [g.changes for g in groups.single()] == [('~ /m: "1" → "d"',)]
