"""``{{ var }}`` templates in changes: Jinja2's sandbox, strict undefined names, bounded.

A template fills in a value per target. Jinja2's sandbox keeps a template away from Python's
internals but not from CPU and memory (``{{ 'x' * 10**10 }}``, two nested loops over
``range(100000)``), so templates here are a bounded subset, checked when first compiled:

* ``{{ … }}`` and ``{% if %}``: no loops, ``set``, macros or includes, and no function or method
  calls (filters do that work), so each part of a template runs at most once;
* at most :data:`MAX_NODES` parts, and only the filters in :data:`FILTERS`;
* no value, variable read or rendered text over :data:`MAX_CHARS` characters: ``*``, ``**`` and
  ``replace`` are checked before they compute, ``+``, ``%`` and the other filters after;
* ``secrets`` only as the whole of an output, ``{{ secrets.NAME }}`` (literal text around it is
  fine): a filter, slice, test or comparison would print the secret changed, where masking
  cannot recognise it, and in a saved plan would mangle the ``{{ secrets.NAME }}`` it holds.

Error messages are masked with :data:`~bulkflow.secrets.REGISTRY`, which holds the job's secrets.

Whatever else rendering raises (``1/0``, an overflow) becomes a :class:`TemplateError`.

Jinja2 is imported when the first template is rendered: most jobs have none, and every
command's start-up would otherwise pay for it.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeGuard

from bulkflow.job.targets import short
from bulkflow.secrets import REGISTRY

if TYPE_CHECKING:
    import jinja2
    from jinja2.sandbox import SandboxedEnvironment

MAX_CHARS = 100_000
MAX_INT_BITS = 100_000
MAX_NODES = 500
FILTERS = frozenset(
    {
        "abs", "capitalize", "d", "default", "first", "float", "int", "last", "length",
        "lower", "replace", "round", "string", "title", "tojson", "trim", "truncate", "upper",
        "urlencode", "wordcount",
    }
)  # fmt: skip
_NODES = frozenset(
    {
        "Template", "Output", "TemplateData", "If", "Name", "Const", "Tuple", "List", "Dict",
        "Pair", "Keyword", "CondExpr", "Filter", "Test", "Getitem", "Getattr", "Slice", "Concat",
        "Compare", "Operand", "Add", "Sub", "Mul", "Div", "FloorDiv", "Mod", "Pow", "And", "Or",
        "Not", "Neg", "Pos",
    }
)  # fmt: skip
_REFUSED = {
    "For": "{% for %} loops",
    "Call": "function and method calls (use a filter: {{ name | upper }})",
    "Assign": "{% set %}",
    "AssignBlock": "{% set %}",
    "Macro": "{% macro %}",
    "CallBlock": "{% call %}",
    "FilterBlock": "{% filter %}",
    "With": "{% with %}",
    "Block": "{% block %}",
    "Extends": "{% extends %}",
    "Include": "{% include %}",
    "Import": "{% import %}",
    "FromImport": "{% import %}",
    "Scope": "{% autoescape %}",
    "ScopedEvalContextModifier": "{% autoescape %}",
}
#: The refusal for any other use of ``secrets`` (its text never holds a value).
SECRET_RULE = "a secret can only be inserted as it is: {{ secrets.NAME }}"
_FORMAT_SPEC = re.compile(r"%(?:\([^)]*\))?[-#0 +]*(\*|\d+)?(?:\.(\*|\d+))?")


class TemplateError(ValueError):
    """A template that does not render; ``path`` is where it is inside the rendered value."""

    def __init__(self, message: str, path: tuple[str | int, ...] = ()) -> None:
        super().__init__(REGISTRY.text(message))  # an error may quote a rendered value
        self.path = path


class _TooLarge(Exception):
    """A value over the bounds (caught where a template renders)."""


@functools.cache
def _environment() -> SandboxedEnvironment:
    import jinja2
    from jinja2.sandbox import SandboxedEnvironment

    class Bounded(SandboxedEnvironment):
        intercepted_binops = frozenset({"*", "**", "+", "%"})

        def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
            _check_binop(operator, left, right)
            return _bounded(super().call_binop(context, operator, left, right))

    env = Bounded(undefined=jinja2.StrictUndefined, autoescape=False, keep_trailing_newline=True)
    env.globals.clear()  # range, lipsum, dict…: callables, and calls are not allowed
    env.filters = {name: _bounded_filter(name, env.filters[name]) for name in FILTERS}
    return env


def _bounded(value: Any) -> Any:
    if isinstance(value, str | bytes | list | tuple | dict):
        _chars(len(value))
    elif isinstance(value, int):
        _bits(value.bit_length())
    return value


def _check_binop(operator: str, left: Any, right: Any) -> None:
    """Refuse ``*``, ``**`` and ``%`` whose result would be over the bounds, before computing it."""
    check = _BINOP_CHECKS.get(operator)
    if check is not None:
        check(left, right)


def _check_times(left: Any, right: Any) -> None:
    for items, times in ((left, right), (right, left)):
        if isinstance(items, str | list | tuple) and isinstance(times, int):
            _chars(len(items) * times)
    if isinstance(left, int) and isinstance(right, int):
        _bits(left.bit_length() + right.bit_length())


def _check_power(left: Any, right: Any) -> None:
    if isinstance(left, int) and isinstance(right, int) and abs(left) > 1 and right > 0:
        _bits(left.bit_length() * right)


def _check_format(left: Any, right: Any) -> None:
    if not isinstance(left, str):
        return
    arguments = right if isinstance(right, tuple) else (right,)
    for match in _FORMAT_SPEC.finditer(left):
        for number in match.groups():
            if number == "*":  # the width or precision is the next argument
                _chars(max((abs(a) for a in arguments if isinstance(a, int)), default=0))
            elif number:
                _chars(int(number) if len(number) < 7 else MAX_CHARS + 1)


_BINOP_CHECKS: dict[str, Callable[[Any, Any], None]] = {
    "*": _check_times,
    "**": _check_power,
    "%": _check_format,
}


def _chars(count: int) -> None:
    if count > MAX_CHARS:
        raise _TooLarge(f"a value over {MAX_CHARS:,} characters")


def _bits(count: int) -> None:
    if count > MAX_INT_BITS:
        raise _TooLarge(f"a number over {MAX_INT_BITS:,} bits")


def _bounded_filter(name: str, function: Callable[..., Any]) -> Callable[..., Any]:
    """``function`` with its result bounded (``wraps`` keeps Jinja's pass-context marks)."""

    skip = 2 if hasattr(function, "jinja_pass_arg") else 1  # the context, then the value

    @functools.wraps(function)
    def bounded(*args: Any, **kwargs: Any) -> Any:
        for argument in (*args[skip:], *kwargs.values()):
            if isinstance(argument, int):  # widths, indents, lengths
                _chars(argument)
        if name == "replace":
            _check_replace(*args, **kwargs)
        return _bounded(function(*args, **kwargs))

    return bounded


def _check_replace(
    _eval_ctx: Any, value: Any, old: Any, new: Any, count: int | None = None
) -> None:
    """How long ``replace`` would make the text, worked out before it is made."""
    text, old, new = str(value), str(old), str(new)
    hits = text.count(old) if old else len(text) + 1
    if count is not None:
        hits = min(hits, count)
    _chars(len(text) + hits * (len(new) - len(old)))


def has_template(value: Any) -> bool:
    """True when any string inside ``value`` holds template syntax."""
    if isinstance(value, str):
        return "{{" in value or "{%" in value
    if isinstance(value, Mapping):
        return any(has_template(v) for v in value.values())
    if isinstance(value, list):
        return any(has_template(v) for v in value)
    return False


@dataclass(frozen=True)
class _Compiled:
    template: jinja2.Template
    names: frozenset[str]  # the variables it reads, whose size is checked per target


class Renderer:
    """Renders change bodies; compiled templates are cached, since every target reuses them."""

    def __init__(self) -> None:
        self._compiled: dict[str, _Compiled] = {}

    def render(self, value: Any, context: Mapping[str, Any]) -> Any:
        """``value`` with every templated string rendered against ``context``."""
        if isinstance(value, str):
            return self._render_str(value, context) if has_template(value) else value
        if isinstance(value, Mapping):
            out = {}
            for key, item in value.items():
                out[key] = self._render_at(key, item, context)
            return out
        if isinstance(value, list):
            return [self._render_at(index, item, context) for index, item in enumerate(value)]
        return value

    def _render_at(self, key: str | int, value: Any, context: Mapping[str, Any]) -> Any:
        try:
            return self.render(value, context)
        except TemplateError as exc:
            exc.path = (key, *exc.path)
            raise

    def _render_str(self, text: str, context: Mapping[str, Any]) -> str:
        import jinja2

        where = f"in {short(text, 80)}"
        try:
            compiled = self._compiled.get(text) or self._compile(text)
            _check_inputs(compiled.names, context)
            return "".join(_bounded_output(compiled.template.generate(context)))
        except jinja2.UndefinedError as exc:
            raise TemplateError(f"{where}: {exc.message}") from None
        except jinja2.TemplateSyntaxError as exc:
            raise TemplateError(f"{where}: template syntax error: {exc.message}") from None
        except jinja2.exceptions.SecurityError as exc:
            raise TemplateError(f"{where}: not allowed in the sandbox: {exc}") from None
        except _TooLarge as exc:
            raise TemplateError(f"{where}: too large: {exc}") from None
        except TemplateError as exc:
            raise TemplateError(f"{where}: {exc}") from None
        except Exception as exc:  # a hostile template: 1/0, overflow, memory, recursion
            raise TemplateError(f"{where}: {type(exc).__name__}: {exc}") from None

    def _compile(self, text: str) -> _Compiled:
        from jinja2 import meta

        env = _environment()
        tree = env.parse(text)
        _check_tree(tree)
        compiled = _Compiled(env.from_string(tree), frozenset(meta.find_undeclared_variables(tree)))
        self._compiled[text] = compiled
        return compiled


def _check_tree(tree: jinja2.nodes.Template) -> None:
    """Refuse what a change template may not use (see the module docstring)."""
    from jinja2 import nodes

    stack: list[nodes.Node] = [tree]
    inserted: set[int] = set()  # the ``secrets`` names of ``{{ secrets.NAME }}`` outputs
    count = 0
    while stack:
        node = stack.pop()
        count += 1
        if count > MAX_NODES:
            raise TemplateError(f"over {MAX_NODES} parts; change templates fill in values")
        _check_node(node)
        if isinstance(node, nodes.Output):
            inserted.update(id(part.node) for part in node.nodes if _is_secret_insert(part))
        if isinstance(node, nodes.Name) and node.name == "secrets" and id(node) not in inserted:
            raise TemplateError(SECRET_RULE)
        stack.extend(node.iter_child_nodes())


def _check_node(node: jinja2.nodes.Node) -> None:
    """Refuse a kind of node, or a filter, that change templates do not support."""
    from jinja2 import nodes

    kind = type(node).__name__
    if kind not in _NODES:
        what = _REFUSED.get(kind, f"{kind} nodes")  # a Jinja2 release may add new ones
        raise TemplateError(f"change templates do not support {what}")
    if isinstance(node, nodes.Filter) and node.name not in FILTERS:
        raise TemplateError(
            f"filter {node.name!r} is not available (there are: {', '.join(sorted(FILTERS))})"
        )


def _is_secret_insert(part: jinja2.nodes.Node) -> TypeGuard[jinja2.nodes.Getattr]:
    """Whether ``part`` of an output is ``secrets.NAME`` and nothing more."""
    from jinja2 import nodes

    return (
        isinstance(part, nodes.Getattr)
        and isinstance(part.node, nodes.Name)
        and part.node.name == "secrets"
    )


def _check_inputs(names: frozenset[str], context: Mapping[str, Any]) -> None:
    for name in names:
        value = context.get(name)
        values = value.items() if isinstance(value, Mapping) else [("", value)]
        for key, item in values:
            if isinstance(item, str) and len(item) > MAX_CHARS:
                label = f"{name}.{key}" if key else name
                raise _TooLarge(f"{label} is over {MAX_CHARS:,} characters")


def _bounded_output(parts: Iterator[str]) -> Iterator[str]:
    size = 0
    for part in parts:
        size += len(part)
        if size > MAX_CHARS:
            raise _TooLarge(f"renders to over {MAX_CHARS:,} characters")
        yield part
