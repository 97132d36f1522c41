"""``{{ var }}`` templates in changes, rendered in Jinja2's sandbox with strict undefined names.

Jinja2 is imported when the first template is rendered: most jobs have none, and every
command's start-up would otherwise pay for it.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import jinja2
    from jinja2.sandbox import SandboxedEnvironment


@functools.cache
def _environment() -> SandboxedEnvironment:
    import jinja2
    from jinja2.sandbox import SandboxedEnvironment

    return SandboxedEnvironment(
        undefined=jinja2.StrictUndefined, autoescape=False, keep_trailing_newline=True
    )


class TemplateError(ValueError):
    """A template that does not render: an undefined name or a syntax error."""


def has_template(value: Any) -> bool:
    """True when any string inside ``value`` holds template syntax."""
    if isinstance(value, str):
        return "{{" in value or "{%" in value
    if isinstance(value, Mapping):
        return any(has_template(v) for v in value.values())
    if isinstance(value, list):
        return any(has_template(v) for v in value)
    return False


class Renderer:
    """Renders change bodies; compiled templates are cached, since every target reuses them."""

    def __init__(self) -> None:
        self._compiled: dict[str, jinja2.Template] = {}

    def render(self, value: Any, context: Mapping[str, Any]) -> Any:
        """``value`` with every templated string rendered against ``context``."""
        if isinstance(value, str):
            return self._render_str(value, context) if has_template(value) else value
        if isinstance(value, Mapping):
            return {k: self.render(v, context) for k, v in value.items()}
        if isinstance(value, list):
            return [self.render(v, context) for v in value]
        return value

    def _render_str(self, text: str, context: Mapping[str, Any]) -> str:
        env = _environment()
        import jinja2

        try:
            template = self._compiled.get(text)
            if template is None:
                template = self._compiled[text] = env.from_string(text)
            return template.render(context)
        except jinja2.UndefinedError as exc:
            raise TemplateError(f"in {text!r}: {exc.message}") from None
        except jinja2.TemplateSyntaxError as exc:
            raise TemplateError(f"in {text!r}: template syntax error: {exc.message}") from None
        except jinja2.exceptions.SecurityError as exc:
            raise TemplateError(f"in {text!r}: not allowed in the sandbox: {exc}") from None
