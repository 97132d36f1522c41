"""Diagnostic logs on stderr via structlog: console on a TTY, JSON lines otherwise.

Every event passes through :func:`mask_secrets` last before rendering: values under sensitive
keys (``Authorization``, tokens, secrets, passwords) become ``***``, and every value the
process knows to be secret is masked wherever it appears, also inside server messages that echo
a request body.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Mapping, MutableMapping
from typing import Any, Literal

import structlog

from bulkflow.secrets import MASK, REGISTRY, SENSITIVE_KEYS

LEVELS = ("debug", "info", "warning", "error")


def mask_secrets(_: Any, __: str, event: MutableMapping[str, Any]) -> Mapping[str, Any]:
    """structlog processor: mask sensitive keys and every registered secret value."""
    return {key: _mask(key, value) for key, value in event.items()}


def _mask(key: str, value: Any) -> Any:
    if key.lower().replace("-", "_") in SENSITIVE_KEYS or key.lower() in SENSITIVE_KEYS:
        return MASK
    if isinstance(value, str):
        return REGISTRY.text(value)
    if isinstance(value, Mapping):
        return {k: _mask(str(k), v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_mask("", v) for v in value]
    if isinstance(value, BaseException):
        return REGISTRY.text(f"{type(value).__name__}: {value}")
    return value


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
