"""Diagnostic logs on stderr via structlog: console on a TTY, JSON lines otherwise.

Every event passes through :func:`mask_secrets` last before rendering: values under sensitive
keys (``Authorization``, tokens, secrets, passwords) become ``***``, and every value the
process knows to be secret is masked wherever it appears, also inside server messages that echo
a request body and in tracebacks. Text is masked whole: whoever cuts it, cuts it masked.
"""

from __future__ import annotations

import logging
import sys
import traceback
from collections.abc import Mapping, MutableMapping
from typing import Any, Literal

import structlog

from bulkflow.secrets import MASK, REGISTRY, is_sensitive_key

LEVELS = ("debug", "info", "warning", "error")


def mask_secrets(_: Any, __: str, event: MutableMapping[str, Any]) -> Mapping[str, Any]:
    """structlog processor: mask sensitive keys, every registered secret value, and tracebacks.

    A traceback is formatted here, so that it is masked too: left as ``exc_info``, the renderer
    would format it after every processor (with local variables, on a console).
    """
    exc_info = event.pop("exc_info", None)
    masked = {key: _mask(key, value) for key, value in event.items()}
    if exc_info:
        masked["exception"] = REGISTRY.text(_traceback(exc_info))
    return masked


def _mask(key: str, value: Any) -> Any:
    if is_sensitive_key(key):
        return MASK
    if isinstance(value, Mapping):
        return {REGISTRY.text(str(k)): _mask(str(k), v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_mask("", v) for v in value]
    if value is None or isinstance(value, bool | int | float):
        return value
    return REGISTRY.text(_as_text(value))


def _as_text(value: Any) -> str:
    """How a value reads in an event: bytes decoded, an exception with its type, else ``str``."""
    if isinstance(value, str):
        return value
    if isinstance(value, bytes | bytearray):
        return bytes(value).decode(errors="replace")
    if isinstance(value, BaseException):
        return f"{type(value).__name__}: {value}"
    return str(value)


def _traceback(exc_info: Any) -> str:
    if isinstance(exc_info, BaseException):
        exc_info = (type(exc_info), exc_info, exc_info.__traceback__)
    elif not isinstance(exc_info, tuple):
        exc_info = sys.exc_info()
    return "".join(traceback.format_exception(*exc_info)) if exc_info[0] else ""


def configure(level: str = "warning", fmt: Literal["auto", "console", "json"] = "auto") -> None:
    """Route structlog events at ``level`` and above to stderr, masked."""
    global _debug
    _debug = level == "debug"
    use_json = fmt == "json" or (fmt == "auto" and not sys.stderr.isatty())
    renderer: Any = (
        structlog.processors.JSONRenderer() if use_json else structlog.dev.ConsoleRenderer()
    )
    structlog.configure(
        processors=[
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            mask_secrets,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(getattr(logging, level.upper())),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=True,
    )


def debug_enabled() -> bool:
    """Whether debug events are rendered, so costly debug arguments can be skipped."""
    return _debug


_debug = False
