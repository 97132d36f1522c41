"""Operations as a person reads them: ``+ audience 2d79… "Winter campaign"``."""

from __future__ import annotations

import re
from typing import Any

import orjson

_SEGMENTS = re.compile(r"/params/segmentSelectors/selectors(/(\d+|-))?$")
_PROFILE = re.compile(r"/params/profileSelectors/selectors(/(\d+|-))?$")
SENSITIVE_PREFIXES = ("/auth/params",)
MAX_VALUE_CHARS = 80


def describe(op: dict[str, Any]) -> str:
    """One line for one RFC 6902 operation."""
    path, value, name = op["path"], op.get("value"), op["op"]
    sign = {"add": "+", "remove": "-", "replace": "~"}.get(name, "?")
    if path.startswith(SENSITIVE_PREFIXES):
        return f"~ {path} (sensitive)"
    for pattern, noun in ((_SEGMENTS, "audience"), (_PROFILE, "attribute")):
        if pattern.search(path):
            return f"{sign} {noun} " + _selector(value, noun)
    if name == "remove":
        return f"- {path}"
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
    """JSON for ``value``, cut to a readable length."""
    text = orjson.dumps(value).decode()
    return text if len(text) <= MAX_VALUE_CHARS else text[: MAX_VALUE_CHARS - 1] + "…"
