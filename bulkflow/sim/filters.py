"""List queries: ``property=`` filters, ``orderby`` and continuation tokens.

Grammar (research notes §3): ``path OP value`` with OP one of ``== != >= <= > <`` (and ``~``,
substring); ``path`` is dotted, ``[]`` after a name walks every element of an array; a comma
list after ``==`` means any of; repeated ``property`` parameters are ANDed.
"""

from __future__ import annotations

import base64
import functools
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import orjson
from multidict import MultiMapping

Doc = dict[str, Any]

_FILTER = re.compile(
    r"^(?P<path>[A-Za-z_][\w.\[\]]*?)\s*(?P<op>==|!=|>=|<=|>|<|~)\s*(?P<value>.*)$"
)


class QueryError(ValueError):
    """A list query the service would reject with 400; ``code`` is the FLOW error code."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class Filter:
    """One ``property=`` condition."""

    path: tuple[str, ...]
    op: str
    values: tuple[str, ...]

    @functools.cached_property
    def _value_set(self) -> frozenset[str]:
        return frozenset(self.values)

    def matches(self, doc: Doc) -> bool:
        """True when any value the path reaches satisfies the condition."""
        found = list(resolve(doc, self.path))
        if self.op == "!=":
            return all(not _equals(v, self.values[0]) for v in found)
        return any(self._test(v) for v in found)

    def _test(self, actual: Any) -> bool:
        if self.op == "==":
            if isinstance(actual, str):  # the common case, and id==a,b,… lists of 100
                return actual in self._value_set
            return any(_equals(actual, value) for value in self.values)
        if self.op == "~":
            return isinstance(actual, str) and self.values[0] in actual
        return _compare(actual, self.values[0], self.op)


def parse_filter(text: str, known_fields: frozenset[str] | None = None) -> Filter:
    """Parse one ``property`` value; unknown operators or fields raise :class:`QueryError`
    (any field is known when ``known_fields`` is None)."""
    match = _FILTER.match(text)
    if not match:
        raise QueryError(1440, f"Invalid filter '{text}': expected <property><operator><value>.")
    path = tuple(match["path"].split("."))
    if known_fields is not None and path[0].removesuffix("[]") not in known_fields:
        raise QueryError(1448, f"Unknown property '{path[0]}' in filter '{text}'.")
    values = tuple(match["value"].split(","))
    if len(values) > 1 and match["op"] != "==":
        raise QueryError(1443, f"Operator '{match['op']}' does not accept multiple values.")
    return Filter(path, match["op"], values)


def resolve(node: Any, path: tuple[str, ...]) -> Iterator[Any]:
    """Yield every value at ``path`` below ``node``, walking arrays marked with ``[]``."""
    if not path:
        yield node
        return
    head, rest = path[0], path[1:]
    name, walk = (head[:-2], True) if head.endswith("[]") else (head, False)
    if not isinstance(node, dict) or name not in node:
        return
    child = node[name]
    if walk:
        for item in child if isinstance(child, list) else ():
            yield from resolve(item, rest)
    else:
        yield from resolve(child, rest)


def _equals(actual: Any, text: str) -> bool:
    if isinstance(actual, bool):
        return text.lower() == str(actual).lower()
    if isinstance(actual, int | float):
        try:
            return float(text) == float(actual)
        except ValueError:
            return False
    return isinstance(actual, str) and actual == text


def _compare(actual: Any, text: str, op: str) -> bool:
    left: Any = actual
    right: Any = text
    if isinstance(actual, int | float) and not isinstance(actual, bool):
        try:
            right = float(text)
        except ValueError:
            return False
    elif not isinstance(actual, str):
        return False
    result: bool = {">": left > right, "<": left < right, ">=": left >= right, "<=": left <= right}[
        op
    ]
    return result


MAX_LIMIT = 100
DEFAULT_ORDER = ("-updatedAt",)


def list_query(params: MultiMapping[str]) -> dict[str, Any]:
    """A list request's query: from its continuation token, or ``property`` (repeatable),
    ``limit`` (1 to 100), ``orderby`` and ``count``; what the service refuses is a 400."""
    if "continuationToken" in params:
        return decode_token(params["continuationToken"])
    if params.get("count", "").lower() == "true" and "limit" in params:
        raise QueryError(1401, "The parameters limit and count cannot be used together.")
    try:
        limit = int(params.get("limit", MAX_LIMIT))
    except ValueError:
        limit = 0
    if not 1 <= limit <= MAX_LIMIT:
        raise QueryError(1440, f"limit must be a positive number of at most {MAX_LIMIT}.")
    orderby = params.get("orderby")
    fields = [f.strip() for f in orderby.split(",")] if orderby else list(DEFAULT_ORDER)
    return {
        "property": params.getall("property", []),
        "limit": limit,
        "orderby": fields,
        "count": params.get("count", "").lower() == "true",
        "offset": 0,
    }


def id_candidates(filters: Iterable[Filter]) -> tuple[str, ...] | None:
    """The ids an ``id==a,b,c`` filter names, so a lookup can replace a scan."""
    for item in filters:
        if item.path == ("id",) and item.op == "==":
            return item.values
    return None


def sort_key(fields: tuple[str, ...]) -> Any:
    """A key for ``sorted`` over ``orderby`` fields; ``-name`` sorts descending."""

    def key(doc: Doc) -> tuple[Any, ...]:
        parts: list[Any] = []
        for field in fields:
            descending = field.startswith("-")
            value = next(resolve(doc, tuple(field.lstrip("+-").split("."))), None)
            parts.append(_Orderable(value, descending))
        parts.append(doc.get("id", ""))
        return tuple(parts)

    return key


class _Orderable:
    """Wraps a value so mixed types and descending fields sort without errors."""

    __slots__ = ("descending", "rank", "value")

    def __init__(self, value: Any, descending: bool) -> None:
        self.descending = descending
        self.rank = 0 if value is None else 1 if isinstance(value, int | float) else 2
        self.value = "" if value is None else value if self.rank == 1 else str(value)

    def __lt__(self, other: _Orderable) -> bool:
        mine, theirs = (self.rank, self.value), (other.rank, other.value)
        return bool(theirs < mine) if self.descending else bool(mine < theirs)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Orderable) and (self.rank, self.value) == (
            other.rank,
            other.value,
        )

    __hash__ = None  # type: ignore[assignment]


def encode_token(state: dict[str, Any]) -> str:
    """An opaque continuation token carrying the whole query and the next offset."""
    return base64.urlsafe_b64encode(orjson.dumps(state)).decode().rstrip("=")


def decode_token(token: str) -> dict[str, Any]:
    """Decode :func:`encode_token`; anything else is a 400."""
    try:
        padded = token + "=" * (-len(token) % 4)
        state = orjson.loads(base64.urlsafe_b64decode(padded))
    except (ValueError, orjson.JSONDecodeError) as exc:
        raise QueryError(1440, "Invalid continuationToken.") from exc
    if not isinstance(state, dict):
        raise QueryError(1440, "Invalid continuationToken.")
    return state
