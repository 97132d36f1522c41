"""Change templates: what they may use, and the bounds that keep a hostile one from blowing up."""

from __future__ import annotations

from typing import Any

import pytest

from bulkflow.job.templates import MAX_CHARS, Renderer, TemplateError

CONTEXT = {"quarter": "Q4", "region": "emea", "count": 3, "secrets": {"pw": "hunter2"}}


def render(text: Any, **context: Any) -> Any:
    return Renderer().render(text, CONTEXT | context)


def refusal(text: str, **context: Any) -> str:
    with pytest.raises(TemplateError) as info:
        render(text, **context)
    return str(info.value)


@pytest.mark.parametrize(
    ("template", "rendered"),
    [
        ("Winter {{ quarter }}", "Winter Q4"),
        ("{{ region | upper }}-{{ quarter | lower }}", "EMEA-q4"),
        ("{% if region == 'emea' %}eu{% else %}other{% endif %}", "eu"),
        ("{{ 'eu' if region == 'emea' else 'other' }}", "eu"),
        ("{{ '%s-%02d' % (region, count) }}", "emea-03"),
        ("{{ count * 2 + 1 }}", "7"),
        ("{{ region | replace('e', 'E') }}", "EmEa"),
        ("{{ missing | default('none') }}", "none"),
        ("{{ secrets.pw }}", "hunter2"),
        ("{{ 'ab' * 3 }}", "ababab"),
    ],
)
def test_ordinary_templates_still_render(template: str, rendered: str) -> None:
    """Variables, filters, operators, ``%`` formatting and ``{% if %}`` work as before."""
    assert render(template) == rendered


@pytest.mark.parametrize(
    ("template", "words"),
    [
        ("{% for i in range(3) %}{{ i }}{% endfor %}", "{% for %} loops"),
        ("{{ quarter.upper() }}", "function and method calls"),
        ("{{ range(3) | length }}", "function and method calls"),
        ("{% set x = quarter %}{{ x }}", "{% set %}"),
        ("{% macro m() %}x{% endmacro %}", "{% macro %}"),
        ("{{ quarter | center(10) }}", "filter 'center' is not available"),
        ("{{ quarter ~ quarter " + "~ quarter " * 600 + "}}", "over 500 parts"),
    ],
)
def test_constructs_that_repeat_or_call_are_refused(template: str, words: str) -> None:
    """Loops, ``set``, macros, calls, unlisted filters and huge templates: refused by name."""
    assert words in refusal(template)


@pytest.mark.parametrize(
    "template",
    [
        "{{ 'x' * 100001 }}",
        "{{ ['x'] * 100001 }}",
        "{{ 2 ** 100001 }}",
        "{{ 2 ** 70000 * 2 ** 70000 }}",
        "{{ '%200000s' % region }}",
        "{{ '%*s' % (200000, region) }}",
        "{{ big | replace('', 'yyyyyyyyyy') }}",
        "{{ [1, 2] | tojson(indent=10000000) }}",
        "{{ big ~ big }}",
        "{{ big }}{{ big }}",
    ],
)  # just over the bound: were a check to regress, these fail fast (the subprocess tests in
# test_hostile_input.py hold the ones that would hang or take gigabytes)
def test_values_over_the_bound_are_refused_before_they_grow(template: str) -> None:
    """``*``, ``**``, ``%`` widths, filter arguments and output: refused past the character bound."""
    assert "too large" in refusal(template, big="b" * (MAX_CHARS // 2 + 1))


def test_variable_over_the_bound_is_named_not_shown() -> None:
    """A variable (or secret) over the bound is refused by name; its value is not quoted."""
    message = refusal("{{ secrets.pw }}", secrets={"pw": "s" * (MAX_CHARS + 1)})
    assert "secrets.pw is over" in message
    assert "sss" not in message


@pytest.mark.parametrize(
    ("template", "raised"),
    [
        ("{{ 1 / 0 }}", "ZeroDivisionError"),
        ("{{ 10.0 ** 400 }}", "OverflowError"),
        ("{{ 1 is divisibleby 0 }}", "ZeroDivisionError"),
    ],
)
def test_any_exception_while_rendering_is_a_template_error(template: str, raised: str) -> None:
    """Whatever Python raises inside a template comes out as a TemplateError naming it."""
    assert raised in refusal(template)


def test_template_error_says_where_in_the_value() -> None:
    """The error carries the path of the failing string inside the rendered value."""
    with pytest.raises(TemplateError) as info:
        render([{"set": {"path": "/a", "value": "ok"}}, {"set": {"value": ["x", "{{ 1/0 }}"]}}])
    assert info.value.path == (1, "set", "value", 1)
