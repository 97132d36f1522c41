"""Reports for a change ticket from a result log: Markdown, or one self-contained HTML file.

A log may hold several runs (a run, then ``--resume`` or ``retry``); each target counts with
its latest record. Records are already masked, and nothing else is read, so a report can hold
no secret the log does not.

Everything in a log is data (names and messages come from the service, ids from the job, and a
log can be edited), so each value is escaped for where it lands: Markdown text renders as
exactly its characters, never as markup or a link; HTML goes through :func:`html.escape`. A
result record the report cannot read is refused as invalid input, naming its line.
"""

from __future__ import annotations

import html
import math
import re
import string
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, StrictStr, ValidationError

from bulkflow.errors import InputError
from bulkflow.records.resultlog import STATUSES, LogScan, Status

PERCENTILES = (50, 90, 99)
COLOURS = {
    "updated": "#2e7d32",
    "unchanged": "#78909c",
    "planned": "#1565c0",
    "stale": "#ef6c00",
    "failed": "#c62828",
}
# CommonMark lets a backslash escape any ASCII punctuation, which then reads as itself. Escaping
# it leaves data no way to start markup, a link, an entity, a table cell, or an autolink (GFM's
# www. and scheme:// need an unescaped "." or ":", e-mail an "@", linkify's //host a "/").
# The few kept are markup nowhere but at the start of a line, where data never is; so is "_"
# between letters or digits (CommonMark: it can neither open nor close emphasis), as in not_found.
_MD_ESCAPES = {ord(c): "\\" + c for c in string.punctuation if c not in "-,;?%'\"_"}
_LOOSE_UNDERSCORE = re.compile(r"(?<![^\W_])_|_(?![^\W_])")
# Line ends for CommonMark, and what other viewers and editors take for one.
_LINE_BREAKS = {ord(c): " " for c in "\r\n\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"}
_MD_TEXT = _LINE_BREAKS | _MD_ESCAPES
_BACKTICKS = re.compile("`+")


class _Result(BaseModel):
    """The fields of a ``result`` record that a report counts on (``name`` and ``error`` are shown
    as text, whatever they hold)."""

    model_config = ConfigDict(strict=True, frozen=True)

    id: StrictStr
    status: Status = Field(strict=False)  # the log's string, as the enum
    duration_ms: float | None = Field(default=None, ge=0, allow_inf_nan=False)
    conflicts: int | None = Field(default=None, ge=0)
    retries: int | None = Field(default=None, ge=0)
    changes: list[StrictStr] = []
    error: dict[str, Any] | None = None


@dataclass
class ReportData:
    """What a report shows, computed once from a log."""

    path: Path
    runs: list[dict[str, Any]] = field(default_factory=list)
    summaries: list[dict[str, Any]] = field(default_factory=list)
    latest: dict[str, dict[str, Any]] = field(default_factory=dict)
    durations_ms: list[float] = field(default_factory=list)
    conflicts: int = 0
    retries: int = 0
    torn_lines: int = 0

    @property
    def counts(self) -> Counter[str]:
        """Targets per status (latest record of each)."""
        return Counter(str(r["status"]) for r in self.latest.values())

    def problems(self) -> list[dict[str, Any]]:
        """Failed and stale targets, by id."""
        return sorted(
            (r for r in self.latest.values() if r["status"] in (Status.FAILED, Status.STALE)),
            key=lambda r: r["id"],
        )

    def changed(self) -> list[dict[str, Any]]:
        """Targets with changes (updated or planned), by id."""
        return sorted((r for r in self.latest.values() if r.get("changes")), key=lambda r: r["id"])

    def percentiles(self) -> dict[str, float]:
        """Latency percentiles (nearest rank) and the maximum, in milliseconds."""
        values = sorted(self.durations_ms)
        if not values:
            return {}
        out = {f"p{p}": values[max(0, math.ceil(p / 100 * len(values)) - 1)] for p in PERCENTILES}
        return out | {"max": values[-1]}


def load(path: Path) -> ReportData:
    """Read a result log into :class:`ReportData`."""
    if not path.is_file():
        raise InputError(f"no result log at {path}")
    data = ReportData(path)
    scan = LogScan(path)
    for count, record in enumerate(scan):
        if record.get("type") == "run":
            data.runs.append(record)
        elif record.get("type") == "summary":
            data.summaries.append(record)
        elif record.get("type") == "result":
            # LogScan counts a torn line before it yields the record after it.
            _add_result(data, record, line=count + scan.torn_lines + 1)
    data.torn_lines = scan.torn_lines
    if not data.runs:
        raise InputError(f"{path} has no run header: is it a bulkflow result log?")
    return data


def _add_result(data: ReportData, record: dict[str, Any], line: int) -> None:
    try:
        result = _Result.model_validate(record)
    except ValidationError as exc:
        problems = [
            (line, ".".join(map(str, err["loc"])) + ": " + err["msg"])
            for err in exc.errors(include_url=False, include_input=False)
        ]
        raise InputError(problems[0][1], data.path, problems=problems) from None
    data.latest[result.id] = record
    data.durations_ms.append(result.duration_ms or 0.0)
    data.conflicts += result.conflicts or 0
    data.retries += result.retries or 0


def _title(data: ReportData) -> str:
    first = data.runs[0]
    kind = "dry run" if first.get("dry_run") else "apply" if first.get("apply") else "run"
    return f"bulkflow {kind} report: {first.get('job')}"


def _facts(data: ReportData) -> list[tuple[str, str]]:
    first, last = data.runs[0], data.runs[-1]
    return [
        ("Job", f"{first.get('job')} ({first.get('resource')})"),
        ("Job file", str(first.get("job_file"))),
        ("Job digest", str(first.get("digest"))),
        ("Result log", str(data.path)),
        (
            "Runs in this log",
            f"{len(data.runs)} (first started {first.get('started_at')}, last {last.get('started_at')})",
        ),
        ("Targets", str(len(data.latest))),
        *_unfinished(data),
        ("Conflicts re-planned", str(data.conflicts)),
        ("Requests retried", str(data.retries)),
    ]


def _unfinished(data: ReportData) -> list[tuple[str, str]]:
    """What the log says was left undone: targets never attempted, and why the run stopped."""
    facts: list[tuple[str, str]] = []
    listed = data.runs[0].get("targets")
    if data.runs[0].get("apply"):
        listed = None  # an apply works on the plan's targets, not on every target of the job
    if isinstance(listed, int) and not isinstance(listed, bool) and listed > len(data.latest):
        facts.append(("Not attempted", f"{listed - len(data.latest)} of {listed} targets"))
    last = data.summaries[-1] if data.summaries else None
    if last is None or len(data.summaries) < len(data.runs):
        facts.append(("Stopped", "the last run ended without a summary (killed or crashed)"))
    elif last.get("unreachable"):
        facts.append(("Stopped", f"the service could not be reached: {last['unreachable']}"))
    elif last.get("interrupted"):
        facts.append(("Stopped", "interrupted (Ctrl-C or SIGTERM)"))
    return facts


def markdown(data: ReportData) -> str:
    """The report as Markdown; every value from the log reads as text (see :func:`_md`)."""
    lines = [f"# {_md(_title(data))}", ""]
    lines += [f"- **{k}**: {_md(v)}" for k, v in _facts(data)]
    lines += ["", "## Status", "", "| status | targets |", "| --- | ---: |"]
    lines += [f"| {s} | {data.counts.get(s, 0)} |" for s in STATUSES if data.counts.get(s)]
    lines += ["", "## Failed and stale targets", "", *_problem_table(data)]
    lines += ["", "## Latency (per target, milliseconds)", ""]
    pct = data.percentiles()
    if pct:
        lines += [
            "| " + " | ".join(pct) + " |",
            "|" + " ---: |" * len(pct),
            "| " + " | ".join(f"{v:.1f}" for v in pct.values()) + " |",
        ]
    lines += ["", "## Changes per target", ""]
    for r in data.changed():
        lines.append(f"### {_md(r['id'])} {_md(repr_name(r))} ({_md(r['status'])})")
        lines += ["", *_code_block("diff", r["changes"]), ""]
    return "\n".join(lines).rstrip() + "\n"


def _problem_table(data: ReportData) -> list[str]:
    problems = data.problems()
    if not problems:
        return ["None."]
    lines = ["| id | name | status | kind | reason |", "| --- | --- | --- | --- | --- |"]
    for r in problems:
        error = r.get("error") or {}
        cells = (r["id"], r.get("name") or "", r["status"], error.get("kind"), error.get("message"))
        lines.append("| " + " | ".join(_md(c) for c in cells) + " |")
    return lines


def repr_name(record: dict[str, Any]) -> str:
    """A target's name in quotes, or nothing."""
    return f'"{record["name"]}"' if record.get("name") else ""


def _md(value: object) -> str:
    """``value`` as Markdown text that renders as exactly its characters, on one line."""
    return _LOOSE_UNDERSCORE.sub(r"\\_", str(value).translate(_MD_TEXT))


def _code_block(info: str, lines: list[str]) -> list[str]:
    """A fenced block no line can close: its fence is longer than any backtick run inside."""
    lines = [line.translate(_LINE_BREAKS) for line in lines]
    longest = max((len(run) for line in lines for run in _BACKTICKS.findall(line)), default=0)
    fence = "`" * max(3, longest + 1)
    return [fence + info, *lines, fence]


def html_report(data: ReportData) -> str:
    """The report as one self-contained HTML page with inline SVG charts."""
    e = html.escape
    facts = "".join(f"<tr><th>{e(k)}</th><td>{e(v)}</td></tr>" for k, v in _facts(data))
    statuses = "".join(
        f"<tr><td><span class='dot' style='background:{COLOURS[s]}'></span>{s}</td><td class='num'>{data.counts.get(s, 0)}</td></tr>"
        for s in STATUSES if data.counts.get(s)
    )  # fmt: skip
    problems = "".join(
        f"<tr><td><code>{e(r['id'])}</code></td><td>{e(r.get('name') or '')}</td><td>{e(r['status'])}</td>"
        f"<td>{e(str((r.get('error') or {}).get('kind')))}</td><td>{e(str((r.get('error') or {}).get('message')))}</td></tr>"
        for r in data.problems()
    )
    pct = data.percentiles()
    latency = (
        "".join(f"<th>{k}</th>" for k in pct)
        + "</tr><tr>"
        + "".join(f"<td class='num'>{v:.1f}</td>" for v in pct.values())
    )
    changes = "".join(
        f"<section class='target'><h3><code>{e(r['id'])}</code> {e(repr_name(r))} <small>{e(r['status'])}</small></h3>"
        f"<pre>{e(chr(10).join(r['changes']))}</pre></section>"
        for r in data.changed()
    )
    return _PAGE.format(
        title=e(_title(data)),
        facts=facts,
        statuses=statuses,
        status_chart=status_chart(data.counts),
        latency_chart=latency_histogram(data.durations_ms),
        problems=problems or "<tr><td colspan='5'>None.</td></tr>",
        latency=latency,
        changes=changes or "<p>No changes.</p>",
    )


def status_chart(counts: Counter[str], width: int = 420) -> str:
    """Horizontal bars, one per status, as inline SVG."""
    rows = [(s, counts.get(s, 0)) for s in STATUSES if counts.get(s)]
    top = max((n for _, n in rows), default=1)
    bar_h, label_w = 24, 90
    parts = [
        f"<svg role='img' aria-label='targets per status' width='{width}' height='{len(rows) * (bar_h + 8) + 8}' xmlns='http://www.w3.org/2000/svg'>"
    ]
    for i, (status, n) in enumerate(rows):
        y = 8 + i * (bar_h + 8)
        w = max(2, (width - label_w - 60) * n / top)
        parts.append(f"<text x='0' y='{y + 17}' font-size='13'>{status}</text>")
        parts.append(
            f"<rect x='{label_w}' y='{y}' width='{w:.1f}' height='{bar_h}' fill='{COLOURS[status]}'/>"
        )
        parts.append(f"<text x='{label_w + w + 6:.1f}' y='{y + 17}' font-size='13'>{n}</text>")
    return "".join(parts) + "</svg>"


def latency_histogram(
    durations_ms: list[float], bins: int = 20, width: int = 420, height: int = 160
) -> str:
    """A histogram of per-target durations as inline SVG."""
    if not durations_ms:
        return "<p>No timings.</p>"
    low, high = min(durations_ms), max(durations_ms)
    span = (high - low) or 1.0
    counts = [0] * bins
    for value in durations_ms:
        counts[min(bins - 1, int((value - low) / span * bins))] += 1
    top = max(counts)
    bar_w = (width - 40) / bins
    parts = [
        f"<svg role='img' aria-label='latency histogram' width='{width}' height='{height + 30}' xmlns='http://www.w3.org/2000/svg'>"
    ]
    for i, n in enumerate(counts):
        h = (height - 10) * n / top
        parts.append(
            f"<rect x='{30 + i * bar_w:.1f}' y='{height - h:.1f}' width='{bar_w - 2:.1f}' height='{h:.1f}' fill='#1565c0'><title>{n}</title></rect>"
        )
    parts.append(f"<line x1='30' y1='{height}' x2='{width - 10}' y2='{height}' stroke='#333'/>")
    parts.append(f"<text x='30' y='{height + 18}' font-size='12'>{low:.0f} ms</text>")
    parts.append(
        f"<text x='{width - 10}' y='{height + 18}' font-size='12' text-anchor='end'>{high:.0f} ms</text>"
    )
    parts.append(f"<text x='0' y='14' font-size='12'>{top}</text>")
    return "".join(parts) + "</svg>"


_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<style>
body{{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;color:#1b1b1b;max-width:1000px;margin:24px auto;padding:0 16px}}
h1{{font-size:22px}} h2{{font-size:17px;border-bottom:1px solid #ddd;padding-bottom:4px;margin-top:28px}}
table{{border-collapse:collapse;margin:8px 0}} th,td{{text-align:left;padding:4px 10px;border-bottom:1px solid #eee;vertical-align:top}}
td.num{{text-align:right;font-variant-numeric:tabular-nums}} .dot{{display:inline-block;width:10px;height:10px;border-radius:2px;margin-right:6px}}
.charts{{display:flex;gap:32px;flex-wrap:wrap}} pre{{background:#f6f8fa;padding:8px 10px;border-radius:4px;white-space:pre-wrap;margin:4px 0 12px}}
h3{{font-size:14px;margin:14px 0 2px}} small{{color:#666;font-weight:normal}} code{{font-size:12.5px}}
@media print{{body{{margin:0;max-width:none}} .target{{break-inside:avoid}} a{{color:inherit}}}}
</style></head><body>
<h1>{title}</h1>
<table>{facts}</table>
<h2>Status</h2>
<div class="charts"><div><table>{statuses}</table></div><div>{status_chart}</div></div>
<h2>Latency per target</h2>
<div class="charts"><div><table><tr>{latency}</tr></table></div><div>{latency_chart}</div></div>
<h2>Failed and stale targets</h2>
<table><tr><th>id</th><th>name</th><th>status</th><th>kind</th><th>reason</th></tr>{problems}</table>
<h2>Changes per target</h2>
{changes}
</body></html>
"""
