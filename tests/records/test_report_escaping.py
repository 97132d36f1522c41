"""Reports stay text whatever the data says: rendered by a real CommonMark renderer (and an
HTML parser), data makes no element, no link, no extra table row and no early fence close."""

from __future__ import annotations

import importlib.util
import re
from collections import Counter
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from markdown_it import MarkdownIt
from markdown_it.common.utils import mdTrim

from bulkflow.records import report
from bulkflow.records.resultlog import STATUSES

# GFM's extended autolinks (www., http://, user@host) come from linkify-it-py, which the dev
# dependencies do not pull in; without it the token check in assert_no_links stands in.
LINKIFY = importlib.util.find_spec("linkify_it") is not None
MD_ELEMENTS = {"h1", "h2", "h3", "ul", "li", "strong", "table", "thead", "tbody", "tr", "th", "td",
               "p", "pre", "code", "em"}  # fmt: skip
HTML_ELEMENTS = {"html", "head", "meta", "title", "style", "body", "h1", "h2", "h3", "table", "tr",
                 "th", "td", "div", "span", "svg", "text", "rect", "line", "section", "code",
                 "small", "pre", "p", "details", "summary"}  # fmt: skip
LINE_BREAKS = "\r\n\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"
# What linkify-it needs to see inside one text token to make a link: a scheme's "//", a "www.",
# an e-mail's "@" or a dotted host name.
LINK_BAIT = re.compile(r"//|www\.|@|\.[^\W\d_]{2}|mailto:", re.IGNORECASE)
HOSTILE = [
    "<script>alert(1)</script>",
    "<img src=x onerror=alert(1)>",
    "[x](javascript:alert(1))",
    "![pic](http://evil.example/p.png)",
    "<http://evil.example>",
    "www.evil.example",
    "see https://evil.example/p?q=1 now",
    "mail me@evil.example",
    "&lt;script&gt; &#60;b&#62; &amp;",
    "`code` ``two``",
    "*em* _em_ **strong** ~~gone~~",
    "# not a heading",
    "a | b || c \\| d \\",
    "[ref] [ref]: http://evil.example",
    "<!-- comment --> <?php ?> <![CDATA[x]]>",
    "line\rbreak\nand\r\nmore\u2028and\u2029more\x0bvt\x0cff\x85nel",
    "```",
    "~~~ tildes",
    "    indented like code",
    "1. not a list",
    "- not a list",
    "> not a quote",
    "--- not a rule",
]


class Page(HTMLParser):
    """An HTML page as a test reads it: elements, attributes, text, tables, headings, blocks."""

    CAPTURED = ("td", "th", "h1", "h3", "pre")

    def __init__(self, page: str) -> None:
        super().__init__(convert_charrefs=True)
        self.elements: Counter[str] = Counter()
        self.attributes: set[str] = set()
        self.text = ""
        self.tables: list[list[list[str]]] = []
        self.captured: dict[str, list[str]] = {tag: [] for tag in self.CAPTURED}
        self._open: list[tuple[str, list[str]]] = []
        self.feed(page)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.elements[tag] += 1
        self.attributes |= {name for name, _ in attrs}
        if tag == "table":
            self.tables.append([])
        elif tag == "tr":
            self.tables[-1].append([])
        if tag in self.CAPTURED:
            self._open.append((tag, []))

    def handle_endtag(self, tag: str) -> None:
        if self._open and self._open[-1][0] == tag:
            text = "".join(self._open.pop()[1])
            self.captured[tag].append(text)
            if tag in ("td", "th"):
                self.tables[-1][-1].append(text)

    def handle_data(self, data: str) -> None:
        self.text += data
        for _, parts in self._open:
            parts.append(data)

    def table(self, first_header: str) -> list[list[str]]:
        """The rows of the table whose first header cell reads ``first_header``."""
        return next(t for t in self.tables if t and t[0] and t[0][0] == first_header)


def render(markdown: str) -> str:
    """Markdown as GitHub would render it: CommonMark with raw HTML, tables, autolinks."""
    md = MarkdownIt("gfm-like") if LINKIFY else MarkdownIt("commonmark").enable("table")
    return md.render(markdown)


def assert_no_links(markdown: str) -> None:
    """No link from any renderer: none rendered, and no text token linkify could turn into one."""
    page = Page(render(markdown))
    assert not page.elements.keys() & {"a", "img"}
    assert not page.attributes & {"href", "src"}
    md = MarkdownIt("commonmark").enable("table").disable("text_join")
    for block in md.parse(markdown):
        for token in block.children or []:
            assert not (token.type == "text" and LINK_BAIT.search(token.content)), token.content


def one_line(text: str) -> str:
    """What a report shows for ``text`` where it starts or ends a heading or cell: line breaks
    read as spaces, NUL as U+FFFD and the ends trimmed of whitespace (CommonMark)."""
    return mdTrim(text.translate({ord(c): " " for c in LINE_BREAKS} | {0: "\ufffd"}))


def result(target_id: str, name: Any, status: str = "failed", **fields: Any) -> dict[str, Any]:
    """A result record as the engine writes it."""
    record = {"type": "result", "id": target_id, "name": name, "status": status,
              "conflicts": 0, "retries": 0, "changes": [], "duration_ms": 12.5,
              "error": {"kind": "not_found", "message": "gone"} if status == "failed" else None}  # fmt: skip
    return record | fields


def write_log(path: Path, results: list[dict[str, Any]], **run: Any) -> Path:
    """A result log: one run header, then ``results``."""
    header = {"type": "run", "job": "rollout", "resource": "flows", "job_file": "job.yaml",
              "digest": "sha256:0", "started_at": "2026-11-22T16:00:00.000Z"} | run  # fmt: skip
    path.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in [header, *results]))
    return path


def hostile_log(path: Path) -> Path:
    """One failed and one planned target per hostile string, in every field data fills."""
    results = []
    for i, text in enumerate(HOSTILE):
        error = {"kind": text, "message": text}
        results.append(result(f"f{i:02d} {text}", text, "failed", error=error))
        results.append(result(f"p{i:02d} {text}", text, "planned", changes=[f"+ audience {text}"]))
    return write_log(path, results, job=HOSTILE[0], job_file=HOSTILE[2], digest=HOSTILE[5])


def test_markdown_makes_only_the_templates_elements(tmp_path: Path) -> None:
    """Hostile names, messages, ids, kinds and run fields make no HTML element of their own."""
    page = Page(render(report.markdown(report.load(hostile_log(tmp_path / "r.jsonl")))))
    assert set(page.elements) <= MD_ELEMENTS, set(page.elements) - MD_ELEMENTS


def test_markdown_makes_no_link(tmp_path: Path) -> None:
    """No link, image or autolink (angle, www., http://, e-mail) comes from data."""
    assert_no_links(report.markdown(report.load(hostile_log(tmp_path / "r.jsonl"))))


def test_markdown_entities_in_data_stay_text(tmp_path: Path) -> None:
    """``&lt;`` and ``&#60;`` in a name read as those characters, not decoded into ``<``."""
    page = Page(render(report.markdown(report.load(hostile_log(tmp_path / "r.jsonl")))))
    assert '"&lt;script&gt; &#60;b&#62; &amp;"' in page.text


def test_markdown_one_table_row_per_problem_target(tmp_path: Path) -> None:
    """Pipes and line breaks in data split no table row and add no cell."""
    page = Page(render(report.markdown(report.load(hostile_log(tmp_path / "r.jsonl")))))
    rows = page.table("id")
    assert len(rows) == 1 + len(HOSTILE)
    assert all(len(row) == 5 for row in rows)
    assert [row[1] for row in rows[1:]] == [one_line(t) for t in HOSTILE]


def test_markdown_one_heading_per_changed_target(tmp_path: Path) -> None:
    """Each changed target has one heading that reads exactly its id, quoted name and status."""
    page = Page(render(report.markdown(report.load(hostile_log(tmp_path / "r.jsonl")))))
    expected = [one_line(f'p{i:02d} {t} "{t}" (planned)') for i, t in enumerate(HOSTILE)]
    assert page.captured["h3"] == expected


def test_markdown_change_lines_cannot_close_their_fence(tmp_path: Path) -> None:
    """Change lines holding backtick fences stay inside their one code block, verbatim."""
    lines = ["```", "<script>alert(1)</script>", "`````` x", '~ /a: "```" → "`"']
    log = write_log(tmp_path / "r.jsonl", [result("t1", "n", "planned", changes=lines)])
    page = Page(render(report.markdown(report.load(log))))
    assert page.captured["pre"] == ["\n".join(lines) + "\n"]


def test_markdown_change_line_breaks_read_as_spaces(tmp_path: Path) -> None:
    """A line break inside one change line cannot forge another diff line."""
    lines = ['+ audience 1 "a\r- audience 2\u2028"']
    log = write_log(tmp_path / "r.jsonl", [result("t1", "n", "planned", changes=lines)])
    page = Page(render(report.markdown(report.load(log))))
    assert page.captured["pre"] == [one_line(lines[0]) + "\n"]


def test_html_report_makes_only_the_templates_elements(tmp_path: Path) -> None:
    """In the HTML report hostile data opens no element and no attribute of its own."""
    page = Page(report.html_report(report.load(hostile_log(tmp_path / "r.jsonl"))))
    assert set(page.elements) <= HTML_ELEMENTS, set(page.elements) - HTML_ELEMENTS
    assert page.attributes <= {"lang", "charset", "class", "style", "role", "aria-label", "width",
                               "height", "xmlns", "x", "y", "x1", "x2", "y1", "y2", "fill",
                               "font-size", "stroke", "text-anchor", "colspan"}  # fmt: skip


def test_html_report_shows_hostile_text_verbatim(tmp_path: Path) -> None:
    """Every hostile name reads as itself in the HTML report's problems table."""
    page = Page(report.html_report(report.load(hostile_log(tmp_path / "r.jsonl"))))
    names = [row[1] for row in page.table("id")[1:]]
    assert names == HOSTILE


# Any character but a surrogate (JSON cannot carry one alone), often the pieces of markup and
# links; ids unique, as the log keys on them.
BAIT = ["<", ">", "[", "](", ")", "!", "*", "_", "`", "```", "\\", "#", "&", "&lt;", "&#60;", "~~",
        "|", ":", "/", ".", "@", "www.", "http://", "//localhost", "javascript:", "<b>", " ",
        *LINE_BREAKS]  # fmt: skip
PIECE = st.one_of(st.characters(exclude_categories=["Cs"]), st.sampled_from(BAIT))
TEXT = st.lists(PIECE, max_size=20).map("".join)
TARGETS = st.lists(
    st.tuples(st.lists(PIECE, min_size=1, max_size=10).map("".join), TEXT,
              st.sampled_from(STATUSES), TEXT),
    min_size=1, max_size=6, unique_by=lambda t: t[0],
)  # fmt: skip


def random_log(path: Path, targets: list[tuple[str, str, str, str]]) -> Path:
    """A log with one record per target; every target has a change line of its own and an
    error."""
    records = [
        result(i, name, status, changes=[f"+ audience {i} {text}"],
               error={"kind": text, "message": text})
        for i, name, status, text in targets
    ]  # fmt: skip
    return write_log(path, records, job=targets[0][3])


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(targets=TARGETS)
def test_any_names_one_row_per_target_no_elements_no_links(
    tmp_path_factory: pytest.TempPathFactory, targets: list[tuple[str, str, str, str]]
) -> None:
    """Whatever the characters: one row per problem target, the template's elements, no link."""
    log = random_log(tmp_path_factory.mktemp("log") / "r.jsonl", targets)
    markdown = report.markdown(report.load(log))
    page = Page(render(markdown))
    assert set(page.elements) <= MD_ELEMENTS
    assert_no_links(markdown)
    problems = sorted(t for t in targets if t[2] in ("failed", "stale"))
    rows = page.table("id")[1:] if problems else []
    assert all(len(row) == 5 for row in rows)
    assert [row[0] for row in rows] == [one_line(t[0]) for t in problems]
    assert [row[1] for row in rows] == [one_line(t[1]) for t in problems]


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(targets=TARGETS)
def test_any_names_round_trip_in_headings(
    tmp_path_factory: pytest.TempPathFactory, targets: list[tuple[str, str, str, str]]
) -> None:
    """Whatever the characters, each changed target's heading reads its id and name exactly
    (updated and planned targets show changes; each change line here is its target's own)."""
    log = random_log(tmp_path_factory.mktemp("log") / "r.jsonl", targets)
    page = Page(render(report.markdown(report.load(log))))
    changed = [t for t in sorted(targets) if t[2] in ("updated", "planned")]
    quoted = [(i, f'"{n}"' if n else "", s) for i, n, s, _ in changed]
    assert page.captured["h3"] == [one_line(f"{i} {n} ({s})") for i, n, s in quoted]
