"""Operations as a person reads them: ``+ audience 2d79… "Winter campaign"``.

``~ /scheduleParams/frequency: "day" → "week"`` when the value before is known; anything
under ``/auth/params`` (or above it, like ``/auth``) reads ``(sensitive)`` and never shows a
value.
"""

from __future__ import annotations

import re
from typing import Any

import orjson

from bulkflow.secrets import REGISTRY, is_sensitive_change, printable

_SEGMENTS = re.compile(r"/params/segmentSelectors/selectors(/(\d+|-))?$")
_PROFILE = re.compile(r"/params/profileSelectors/selectors(/(\d+|-))?$")
MAX_VALUE_CHARS = 80
UNKNOWN = object()


def describe(op: dict[str, Any], before: Any = UNKNOWN) -> str:
    """One line for one RFC 6902 operation (``before``: the value it replaces, when known)."""
    path, value, name = op["path"], op.get("value"), op["op"]
    sign = {"add": "+", "remove": "-", "replace": "~"}.get(name, "?")
    if is_sensitive_change(path, value, None if before is UNKNOWN else before):
        return f"{sign} {path} (sensitive)"
    for pattern, noun in ((_SEGMENTS, "audience"), (_PROFILE, "attribute")):
        if pattern.search(path):
            return f"{sign} {noun} " + _selector(value, noun)
    if name == "remove":
        return f"- {path}" + ("" if before is UNKNOWN else f" (was {short(before)})")
    if name == "replace" and before is not UNKNOWN:
        return f"~ {path}: {short(before)} → {short(value)}"
    return f"{sign} {path} = {short(value)}"


def _selector(value: Any, noun: str) -> str:
    items = value if isinstance(value, list) else [value]
    parts = []
    for item in items:
        inner = item.get("value", {}) if isinstance(item, dict) else {}
        if noun == "audience":
            label = str(inner.get("id", "?"))
            if inner.get("name"):
                label += f' "{inner["name"]}"'
        else:
            label = str(inner.get("path", "?"))
        parts.append(label)
    return ", ".join(parts)


def short(value: Any) -> str:
    """JSON for ``value``, secrets masked, then cut to a readable length."""
    text = printable(REGISTRY.text(orjson.dumps(value).decode()))
    return text if len(text) <= MAX_VALUE_CHARS else REGISTRY.cut(text, MAX_VALUE_CHARS - 1) + "…"
