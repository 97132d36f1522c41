"""The reports come from Jinja2 templates shipped in the package, escaped by their environment."""

from __future__ import annotations

import tomllib
from collections import Counter
from fnmatch import fnmatch
from importlib import resources
from pathlib import Path

import jinja2
import pytest

from bulkflow.records import charts, report

ROOT = Path(__file__).resolve().parents[2]
TEMPLATES = ("report.md.j2", "report.html.j2")


@pytest.mark.parametrize("name", TEMPLATES)
def test_templates_are_package_resources(name: str) -> None:
    """Each report template is found through importlib.resources, as an installed package has it."""
    template = resources.files("bulkflow.records").joinpath("templates", name)
    assert template.is_file()
    assert "{{" in template.read_text(encoding="utf-8")


def test_package_data_ships_every_template() -> None:
    """pyproject's package-data globs cover every file in the templates folder (wheels get them)."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    globs = config["tool"]["setuptools"]["package-data"]["bulkflow"]
    folder = ROOT / "bulkflow" / "records" / "templates"
    shipped = [p.relative_to(ROOT / "bulkflow").as_posix() for p in folder.iterdir()]
    assert sorted(shipped) == sorted(f"records/templates/{name}" for name in TEMPLATES)
    assert all(any(fnmatch(path, glob) for glob in globs) for path in shipped)


def test_html_environment_escapes_every_value() -> None:
    """In the HTML environment a value is escaped by autoescaping, and a missing name fails."""
    env = report.html_environment()
    assert env.from_string("<td>{{ v }}</td>").render(v="<b a='1'>&") == (
        "<td>&lt;b a=&#39;1&#39;&gt;&amp;</td>"
    )
    with pytest.raises(jinja2.UndefinedError):
        env.from_string("{{ missing }}").render()


def test_markdown_environment_escapes_every_value() -> None:
    """In the Markdown environment every ``{{ }}`` value goes through the Markdown escaping."""
    env = report.markdown_environment()
    text = "[x](javascript:alert(1)) <b> *em*\nnext"
    assert env.from_string("{{ v }}").render(v=text) == report._md(text)
    with pytest.raises(jinja2.UndefinedError):
        env.from_string("{{ missing }}").render()


def test_markdown_code_block_filter_keeps_lines_verbatim() -> None:
    """The code-block filter prints change lines unescaped, fenced longer than any backtick run."""
    env = report.markdown_environment()
    lines = ["+ a *b* [c](d)", "`````` x"]
    rendered = env.from_string('{{ v|code_block("diff") }}').render(v=lines)
    assert rendered == "\n".join(report._code_block("diff", lines))
    assert rendered.startswith("```````diff\n+ a *b* [c](d)\n")


def test_status_chart_draws_only_the_log_statuses() -> None:
    """A status that is not one of the enum's never reaches the SVG (it is not escaped there)."""
    svg = charts.status_chart(Counter({"<script>x</script>": 3, "failed": 1}))
    assert "script" not in svg
    assert ">failed<" in svg
