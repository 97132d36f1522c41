"""The facts at the top of a report: what ran, where, by whom, when, and how it went.

All of it comes from the log's run headers and summaries (the run's identity is recorded in
each header), so a report says where a run went even when it is read on another machine. A log
written before a field existed shows "not recorded" for it, never a guess.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bulkflow.records.report import ReportData

NOT_RECORDED = "not recorded"


def facts(data: ReportData) -> list[tuple[str, str]]:
    """``(label, value)`` pairs: the run's identity, then its outcome in numbers."""
    first, last = data.runs[0], data.runs[-1]
    return [
        ("Job", f"{first.get('job')} ({first.get('resource')})"),
        ("Environment", environment(last)),
        ("Sandbox", _text(last.get("sandbox"))),
        ("Org id", _text(last.get("org_id"))),
        ("Run by", _text(last.get("operator"))),
        ("bulkflow", _text(last.get("bulkflow"))),
        ("Job file", str(first.get("job_file"))),
        ("Job digest", str(first.get("digest"))),
        *_saved_plan(first),
        ("Started", _text(first.get("started_at"))),
        ("Finished", _finished(data)),
        ("Result log", str(data.path)),
        ("Runs in this log", str(len(data.runs))),
        ("Targets", f"{len(data.latest):,}"),
        *_unfinished(data),
        ("Conflicts re-planned", f"{data.conflicts:,}"),
        ("Requests retried", f"{data.retries:,}"),
        ("Throttled (429)", _throttled(data)),
    ]


def environment(header: dict[str, Any]) -> str:
    """Where a run went: the simulator, or the Flow Service root it was sent to."""
    if header.get("sim") is True:
        return "the embedded simulator (--sim): nothing was sent to Adobe"
    return _text(header.get("base_url"))


def _text(value: object) -> str:
    return NOT_RECORDED if value is None or value == "" else str(value)


def _saved_plan(first: dict[str, Any]) -> list[tuple[str, str]]:
    """The reviewed plan an apply sent, with its digest."""
    plan_file = first.get("apply")
    if not plan_file:
        return []
    config = first.get("config")
    digest = config.get("plan_digest") if isinstance(config, dict) else None
    return [("Saved plan", str(plan_file)), ("Plan digest", _text(digest))]


def _finished(data: ReportData) -> str:
    if not data.summaries or len(data.summaries) < len(data.runs):
        return "not finished (no summary at the end of the log)"
    return _text(data.summaries[-1].get("finished_at"))


def _throttled(data: ReportData) -> str:
    counts = [s.get("throttled") for s in data.summaries]
    total = sum(n for n in counts if isinstance(n, int) and not isinstance(n, bool))
    return f"{total:,} times"


def _unfinished(data: ReportData) -> list[tuple[str, str]]:
    """What the log says was left undone: targets never attempted, and why the run stopped."""
    found: list[tuple[str, str]] = []
    listed = data.runs[0].get("targets")
    if data.runs[0].get("apply"):
        listed = None  # an apply works on the plan's targets, not on every target of the job
    if isinstance(listed, int) and not isinstance(listed, bool) and listed > len(data.latest):
        found.append(("Not attempted", f"{listed - len(data.latest):,} of {listed:,} targets"))
    last = data.summaries[-1] if data.summaries else None
    if last is None or len(data.summaries) < len(data.runs):
        found.append(("Stopped", "the last run ended without a summary (killed or crashed)"))
    elif last.get("unreachable"):
        found.append(("Stopped", f"the service could not be reached: {last['unreachable']}"))
    elif last.get("interrupted"):
        found.append(("Stopped", "interrupted (Ctrl-C or SIGTERM)"))
    elif isinstance(last.get("stopped"), dict):
        found.append(("Stopped", f"{last['stopped'].get('by')}: {last['stopped'].get('reason')}"))
    return found
