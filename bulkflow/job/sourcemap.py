"""Reading a YAML (or JSON) document safely, with a line number for every path in it.

:func:`parse` composes the document once; the line map and the data are both built from those
nodes. Composing is bounded, so a hostile file is refused before anything recursive walks it:

* nesting deeper than :data:`MAX_DEPTH` levels (100,000 ``[`` would exhaust Python's stack,
  and libyaml's own composer crashes the interpreter on them, so only its parser is used);
* aliases that stand for more than :data:`MAX_ALIAS_NODES` nodes in all: nine levels of nine
  aliases (the "billion laughs") stand for 387 million, while the data itself shares them;
* an alias inside its own anchor (a list that contains itself).

The line map walks each node once: what an alias stands for is mapped where its anchor is.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import yaml
from yaml.composer import Composer
from yaml.constructor import ConstructorError, SafeConstructor
from yaml.parser import Parser
from yaml.reader import Reader, ReaderError
from yaml.resolver import Resolver
from yaml.scanner import Scanner

Path_ = tuple[str | int, ...]

MAX_DEPTH = 100
MAX_ALIAS_NODES = 100_000


class DocumentError(ValueError):
    """The document is refused; ``line`` (from 1) says where."""

    def __init__(self, message: str, line: int | None) -> None:
        super().__init__(message)
        self.line = line


class DuplicateKeyError(DocumentError):
    """A mapping names the same key twice (YAML would silently keep the last)."""

    def __init__(self, key: str, line: int) -> None:
        super().__init__(f"duplicate key {key!r}", line)


class _PythonEvents(Reader, Scanner, Parser):
    """PyYAML's own scanner and parser, where it was built without libyaml (6x slower)."""

    def __init__(self, text: str) -> None:
        Reader.__init__(self, text)
        Scanner.__init__(self)
        Parser.__init__(self)


def _event_source() -> Any:
    try:
        from yaml._yaml import CParser
    except ImportError:  # pragma: no cover - a PyYAML built without libyaml
        return _PythonEvents
    return CParser


_EVENTS = _event_source()
_EVENTS_IN_C = _EVENTS is not _PythonEvents


class _BoundedLoader(Composer, SafeConstructor, Resolver):
    """PyYAML's safe loader, composing in Python (so it can count) from a parser's events."""

    def __init__(self, text: str) -> None:
        self._events = _EVENTS(text)
        Composer.__init__(self)
        SafeConstructor.__init__(self)
        Resolver.__init__(self)
        self._depth = 0
        self._open_anchors: set[str] = set()
        self._sizes: dict[int, int] = {}
        self._alias_nodes = 0

    def check_event(self, *choices: Any) -> bool:
        """The parser's: whether the next event is one of ``choices``."""
        return bool(self._events.check_event(*choices))

    def peek_event(self) -> Any:
        """The parser's: the next event, left in place."""
        return self._events.peek_event()

    def get_event(self) -> Any:
        """The parser's: the next event."""
        return self._events.get_event()

    def dispose(self) -> None:
        """Drop the parser's state."""
        self._events.dispose()

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node | None:
        """Compose one node, refusing what is too deep or an alias bomb (see the module)."""
        event = self.peek_event()
        line = event.start_mark.line + 1
        if isinstance(event, yaml.AliasEvent):
            return self._alias(parent, index, str(event.anchor), line)
        if self._depth >= MAX_DEPTH:
            raise DocumentError(f"nested deeper than {MAX_DEPTH} levels", line)
        anchor = event.anchor
        if anchor is not None:
            self._open_anchors.add(anchor)
        self._depth += 1
        try:
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1
            self._open_anchors.discard(anchor)

    def _alias(self, parent: yaml.Node | None, index: Any, anchor: str, line: int) -> yaml.Node:
        if anchor in self._open_anchors:
            raise DocumentError(f"recursive alias *{anchor}: it is inside its own anchor", line)
        node = super().compose_node(parent, index)
        assert node is not None
        self._alias_nodes += _size(node, self._sizes)
        if self._alias_nodes > MAX_ALIAS_NODES:
            raise DocumentError(
                f"aliases stand for more than {MAX_ALIAS_NODES:,} nodes (an alias bomb?)", line
            )
        return node

    def construct_object(self, node: yaml.Node, deep: bool = False) -> Any:
        """Construct one value; a scalar Python refuses (``2026-02-30``, 5,000 digits) is an error here."""
        try:
            return super().construct_object(node, deep)
        except (ValueError, OverflowError) as exc:
            raise ConstructorError(
                None, None, f"cannot read this value: {exc}", node.start_mark
            ) from None


def _size(node: yaml.Node, sizes: dict[int, int]) -> int:
    """How many nodes ``node`` stands for with every alias in it expanded (memoized)."""
    known = sizes.get(id(node))
    if known is not None:
        return known
    total = 1
    if isinstance(node, yaml.MappingNode):
        total += sum(_size(k, sizes) + _size(v, sizes) for k, v in node.value)
    elif isinstance(node, yaml.SequenceNode):
        total += sum(_size(item, sizes) for item in node.value)
    sizes[id(node)] = total
    return total


def parse(text: str) -> tuple[Any, SourceMap]:
    """The document's data and its line map; raises :class:`DocumentError` or ``yaml.YAMLError``."""
    try:
        loader = _BoundedLoader(text)  # PyYAML's own reader checks every character here
        try:
            node = loader.get_single_node()
            lines = SourceMap(node)
            data = loader.construct_document(node) if node is not None else None
        finally:
            loader.dispose()
    except ReaderError as exc:
        problem = str(exc).split("\n", 1)[0]  # the rest names "<unicode string>"
        line = _reader_line(text, exc.position)
        raise DocumentError(f"not valid YAML or JSON: {problem}", line) from None
    return data, lines


#: Where a scanner's context is one of these, the problem is that it was never closed: the
#: line it starts on is the one to fix (the problem mark is where the file ran out).
_UNCLOSED = {
    "quoted scalar": "a quoted string",
    "flow mapping": "a {...} mapping",
    "flow sequence": "a [...] list",
}


def syntax_problem(exc: yaml.YAMLError) -> tuple[int | None, str]:
    """The line to fix and the message for a YAML syntax error, with the column in it."""
    problem = getattr(exc, "problem", None) or str(exc).split("\n", 1)[0]
    mark = getattr(exc, "problem_mark", None)
    if mark is None:
        return None, f"not valid YAML or JSON: {problem}"
    context = str(getattr(exc, "context", None) or "")
    start = getattr(exc, "context_mark", None)
    opened = next((what for key, what in _UNCLOSED.items() if key in context), None)
    if opened is not None and start is not None and start.line < mark.line:
        return start.line + 1, (
            f"column {start.column + 1}: not valid YAML or JSON: {opened} starts here and is "
            f"not closed (line {mark.line + 1}, column {mark.column + 1}: {problem})"
        )
    return mark.line + 1, f"column {mark.column + 1}: not valid YAML or JSON: {problem}"


def _reader_line(text: str, position: int) -> int:
    """The line of a reader error's position: a UTF-8 byte offset from libyaml, else characters."""
    if _EVENTS_IN_C:
        return text.encode("utf-8", "surrogatepass").count(b"\n", 0, position) + 1
    return text.count("\n", 0, position) + 1


class SourceMap:
    """Maps a path into the parsed document (``("changes", 0, "add_segment", "id")``) to a line."""

    def __init__(self, node: yaml.Node | None) -> None:
        self._lines: dict[Path_, int] = {}
        if node is not None:
            self._walk(node, (), set())

    def _walk(self, node: yaml.Node, path: Path_, walked: set[int]) -> None:
        if id(node) in walked:
            return  # an alias: mapped once, where its anchor is
        walked.add(id(node))
        self._lines.setdefault(path, node.start_mark.line + 1)
        if isinstance(node, yaml.MappingNode):
            seen: set[str] = set()
            for key_node, value_node in node.value:
                if not isinstance(key_node, yaml.ScalarNode):
                    continue  # not hashable: the constructor refuses it, with its line
                key = str(key_node.value)
                if key in seen:
                    raise DuplicateKeyError(key, key_node.start_mark.line + 1)
                seen.add(key)
                self._lines[(*path, key)] = key_node.start_mark.line + 1
                self._walk(value_node, (*path, key), walked)
        elif isinstance(node, yaml.SequenceNode):
            for index, item in enumerate(node.value):
                self._walk(item, (*path, index), walked)

    def line(self, path: Iterable[Any]) -> int | None:
        """The line of ``path``, or of its nearest ancestor the document has."""
        parts = tuple(path)
        while parts:
            if parts in self._lines:
                return self._lines[parts]
            parts = parts[:-1]
        return self._lines.get(())
