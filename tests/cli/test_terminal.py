"""What a person sees: a progress bar on a terminal only, and the end-of-run summary."""

from __future__ import annotations

import io

from rich.console import Console

from bulkflow.cli.console import ProgressBar, RunFacts, Step, print_summary
from bulkflow.engine.pool import Summary
from bulkflow.flowservice.pacing import AdaptiveConcurrency


def record(status: str) -> dict[str, object]:
    return {"status": status, "id": "x"}


def test_progress_bar_on_a_terminal_shows_counts_failures_and_concurrency() -> None:
    """On a TTY: done/total, failures, effective concurrency and ETA are drawn."""
    out = io.StringIO()
    console = Console(file=out, force_terminal=True, width=160)
    adaptive = AdaptiveConcurrency(8)
    with ProgressBar(3, console, "updating flows", adaptive) as bar:
        bar.target_done(record("updated"))
        bar.target_done(record("failed"))
        bar._progress.refresh()
    text = out.getvalue()
    assert "updating flows" in text
    assert "2/3" in text
    assert "1 failed" in text
    assert "concurrency 8" in text
    assert "ETA" in text


def test_no_progress_off_a_terminal() -> None:
    """Off a TTY the bar draws nothing at all."""
    out = io.StringIO()
    console = Console(file=out, force_terminal=False)
    with ProgressBar(3, console, "updating flows") as bar:
        bar.target_done(record("updated"))
    assert out.getvalue() == ""


def test_summary_lists_failures_and_the_retry_command() -> None:
    """The summary table has counts, the failed ids with reasons, and how to retry them."""
    summary = Summary(elapsed_s=2.0)
    summary.counts.update({"updated": 3, "failed": 1})
    summary.failed.append({"id": "f-1", "error": {"kind": "not_found", "message": "GET 404: gone"}})
    out = io.StringIO()
    facts = RunFacts(steps=[Step("retry", ["bulkflow", "retry", "run.jsonl"])])
    print_summary(summary, Console(file=out, width=160), facts)
    text = out.getvalue()
    assert "updated" in text
    assert "f-1" in text
    assert "not_found" in text
    assert "bulkflow retry run.jsonl" in text
    assert "4 targets in 2.00s" in text
