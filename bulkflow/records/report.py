"""Reports for a change ticket from a result log: Markdown, or one self-contained HTML file.

A log may hold several runs (a run, then ``--resume`` or ``retry``); each target counts with
its latest record. Records are already masked, and nothing else is read, so a report can hold
no secret the log does not.

Everything in a log is data (names and messages come from the service, ids from the job, and a
log can be edited), so each value is escaped for where it lands. Both documents are Jinja2
templates (``templates/``), and their environments escape every ``{{ }}`` value: in Markdown by
:func:`_md` (text renders as exactly its characters, never as markup or a link), in HTML by
autoescaping. A result record the report cannot read is refused as invalid input, naming its
line. Jinja2 is imported when a report is rendered, not when the CLI starts.
"""

from __future__ import annotations

import functools
import math
import re
import string
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field, StrictStr, ValidationError

from bulkflow.errors import InputError
from bulkflow.records.charts import COLOURS, latency_histogram, status_chart
from bulkflow.records.facts import facts
from bulkflow.records.groups import Group, grouped
from bulkflow.records.resultlog import STATUSES, LogScan, Status
from bulkflow.records.rollout import wave_rows

if TYPE_CHECKING:
    import jinja2

PERCENTILES = (50, 90, 99)
# What a page shows before the rest is counted (and folded away in HTML): a 5,000-target report
# stays a few pages long; every target is in the log.
SHOWN_SINGLE = 50
SHOWN_PROBLEMS = 50
SHOWN_IDS = 20  # ids a Markdown group lists (HTML lists all, folded)
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
    gates: list[dict[str, Any]] = field(default_factory=list)  # a staged rollout's gate records

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
        elif record.get("type") == "gate":
            data.gates.append(record)
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


class _MarkdownText(str):
    """Text already written as Markdown (a fenced block): the Markdown template prints it as is."""

    __slots__ = ()


def _md_finalize(value: object) -> object:
    """Every ``{{ }}`` value of a Markdown template: escaped, unless it cannot be markup."""
    # A number prints as digits, "-", "." and "e" only: no markup anywhere in a line.
    if isinstance(value, _MarkdownText | int | float):
        return value
    return _md(value)


def _fenced(lines: list[str], info: str) -> _MarkdownText:
    """The ``code_block`` filter: lines as one fenced block (see :func:`_code_block`)."""
    return _MarkdownText("\n".join(_code_block(info, lines)))


@functools.cache
def markdown_environment() -> jinja2.Environment:
    """Jinja2 for the Markdown report: no autoescape; every value goes through :func:`_md`."""
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.PackageLoader("bulkflow.records", "templates"),
        autoescape=False,
        finalize=_md_finalize,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["code_block"] = _fenced
    return env


@functools.cache
def html_environment() -> jinja2.Environment:
    """Jinja2 for the HTML report: every value autoescaped, a missing name an error."""
    import jinja2

    return jinja2.Environment(
        loader=jinja2.PackageLoader("bulkflow.records", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


def _view(data: ReportData) -> dict[str, Any]:
    """What both templates show, as values from the log; each template escapes them its way.

    Targets with the same changes are one group with its count and ids; then the targets whose
    changes are their own, then failures (which show no changes). Long lists are cut to what a
    page can hold: the rest is counted (and, in HTML, folded away), every target is in the log.
    """
    counts = data.counts
    groups = grouped(data.latest.values())
    single = [_own(data.latest[g.ids[0]], g) for g in groups.single()]
    problems = [_problem(r) for r in data.problems()]
    resource = str(data.runs[0].get("resource") or "targets")
    return {
        "title": _title(data),
        "facts": facts(data),
        "statuses": [(s, counts[s]) for s in STATUSES if counts.get(s)],
        "groups": [_group(g, resource) for g in groups.shared()],
        "single": single[:SHOWN_SINGLE],
        "more_single": single[SHOWN_SINGLE:],
        "ungrouped": groups.ungrouped,
        "problems": problems[:SHOWN_PROBLEMS],
        "more_problems": problems[SHOWN_PROBLEMS:],
        "problem_kinds": Counter(str(p["kind"]) for p in problems).most_common(),
        "latency": data.percentiles(),
        "shown_ids": SHOWN_IDS,
        "waves": wave_rows(data.latest.values(), data.gates),
    }


def _group(group: Group, resource: str) -> dict[str, Any]:
    """A change set shared by several targets: how many, the lines, the ids."""
    noun = resource if group.count != 1 else resource.removesuffix("s")
    return {
        "title": f"{group.count:,} {noun}",
        "changes": list(group.changes),
        "ids": sorted(group.ids),
    }


def _own(record: dict[str, Any], group: Group) -> dict[str, Any]:
    """A target whose changes no other target shares."""
    return {
        "id": record["id"],
        "quoted_name": repr_name(record),
        "status": record["status"],
        "changes": list(group.changes),
    }


def _problem(record: dict[str, Any]) -> dict[str, Any]:
    """A row of the failed and stale table: whatever the record holds, shown as text."""
    error = record.get("error") or {}
    return {
        "id": record["id"],
        "name": record.get("name") or "",
        "status": record["status"],
        "kind": error.get("kind"),
        "message": error.get("message"),
    }


def markdown(data: ReportData) -> str:
    """The report as Markdown; every value from the log reads as text (see :func:`_md`)."""
    page = markdown_environment().get_template("report.md.j2").render(_view(data))
    return page.rstrip() + "\n"


def html_report(data: ReportData) -> str:
    """The report as one self-contained HTML page with inline SVG charts."""
    from markupsafe import Markup

    # The charts are drawn from counts, timings and Status names only: nothing to escape.
    charts = {
        "status_chart": Markup(status_chart(data.counts)),
        "latency_chart": Markup(latency_histogram(data.durations_ms)),
    }
    template = html_environment().get_template("report.html.j2")
    return template.render(_view(data), colours=COLOURS, **charts)
