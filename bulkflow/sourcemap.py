"""Line numbers for YAML (and JSON) documents, so every input error can say where it is."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import yaml

Path_ = tuple[str | int, ...]


class DuplicateKeyError(ValueError):
    """A mapping names the same key twice (YAML would silently keep the last)."""

    def __init__(self, key: str, line: int) -> None:
        super().__init__(f"duplicate key {key!r}")
        self.line = line


class SourceMap:
    """Maps a path into the parsed document (``("changes", 0, "add_segment", "id")``) to a line."""

    def __init__(self, text: str) -> None:
        self._lines: dict[Path_, int] = {}
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        if node is not None:
            self._walk(node, ())

    def _walk(self, node: yaml.Node, path: Path_) -> None:
        self._lines.setdefault(path, node.start_mark.line + 1)
        if isinstance(node, yaml.MappingNode):
            seen: set[str] = set()
            for key_node, value_node in node.value:
                key = str(key_node.value)
                if key in seen:
                    raise DuplicateKeyError(key, key_node.start_mark.line + 1)
                seen.add(key)
                self._lines[(*path, key)] = key_node.start_mark.line + 1
                self._walk(value_node, (*path, key))
        elif isinstance(node, yaml.SequenceNode):
            for index, item in enumerate(node.value):
                self._walk(item, (*path, index))

    def line(self, path: Iterable[Any]) -> int | None:
        """The line of ``path``, or of its nearest ancestor the document has."""
        parts = tuple(path)
        while parts:
            if parts in self._lines:
                return self._lines[parts]
            parts = parts[:-1]
        return self._lines.get(())
