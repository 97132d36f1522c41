"""Diagnostic logs on stderr via structlog: console on a TTY, JSON lines otherwise."""

from __future__ import annotations

import logging
import sys
from typing import Any, Literal

import structlog

LEVELS = ("debug", "info", "warning", "error")


def configure(level: str = "warning", fmt: Literal["auto", "console", "json"] = "auto") -> None:
    """Route structlog events at ``level`` and above to stderr."""
    use_json = fmt == "json" or (fmt == "auto" and not sys.stderr.isatty())
    renderer: Any = (
        structlog.processors.JSONRenderer() if use_json else structlog.dev.ConsoleRenderer()
    )
    structlog.configure(
        processors=[
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(getattr(logging, level.upper())),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=False,
    )
