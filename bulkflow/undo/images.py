"""Before-images: for each planned op, what stood at its path before it (for ``bulkflow undo``).

An image is one small dict per op, aligned with the ops:

- ``{"path": P, "was": V}``: ``V`` stood at ``P`` (the op replaced or removed it);
  with ``"array": true`` it was an array element the op removed; ``"prev"`` and ``"next"``
  are the identities of its neighbours then (``None`` at an end), so it can go back beside them;
- ``{"path": P, "absent": true}``: nothing stood at ``P`` (the op added an object member);
- ``{"path": P, "inserted": true}``: the op inserted its value into an array;
- ``{"path": P, "withheld": WHY}``: the value is never written (credentials): not undoable;
- ``{"path": P, "irreversible": WHY}``: an op whose inverse is not planned (``move``, ``copy``);
- ``{"path": P, "unchanged": true}``: an op that changes nothing (``test``).

Images are read from the document as the earlier ops of the same plan leave it.
"""

from __future__ import annotations

from typing import Any

import jsonpatch

from bulkflow.planner import Doc, Op, Pointer, writable_copy
from bulkflow.secrets import Redactor, holds_sensitive_key, is_sensitive_path

Image = dict[str, Any]
WITHHELD_SECRET = "the value holds a secret, never recorded"


def before_images(doc: Doc, ops: list[Op]) -> list[Image]:
    """One image per op of ``ops`` (a plan that applies to ``doc``; ``doc`` is not changed)."""
    images: list[Image] = []
    working = doc
    for op in ops:
        images.append(_image(working, op))
        if op["op"] != "test" and op is not ops[-1]:
            working = writable_copy(working, [op["path"]])
            jsonpatch.apply_patch(working, [op], in_place=True, pointer_cls=Pointer)
    return images


def _image(doc: Doc, op: Op) -> Image:
    path, name = op["path"], op["op"]
    if is_sensitive_path(path) or holds_sensitive_key(op.get("value")):
        return {"path": path, "withheld": "credentials are never recorded"}
    if name == "test":
        return {"path": path, "unchanged": True}
    if name in ("move", "copy"):
        return {"path": path, "irreversible": f"a {name} op is not undone"}
    parent, key = _parent(doc, path)
    if isinstance(parent, list):
        return _array_image(parent, path, key, name)
    if isinstance(parent, dict) and key in parent:
        return _was(path, parent[key])
    return {"path": path, "absent": True}


def _array_image(parent: list[Any], path: str, key: str, name: str) -> Image:
    if name == "add":
        return {"path": path, "inserted": True}
    index = int(key)
    image = _was(path, parent[index])
    if name == "remove" and "withheld" not in image:
        after = identity(parent[index + 1]) if index + 1 < len(parent) else None
        image |= {"array": True, "prev": identity(parent[index - 1]) if index else None}
        image["next"] = after
    return image


def _was(path: str, value: Any) -> Image:
    if holds_sensitive_key(value):
        return {"path": path, "withheld": "the value holds credentials, never recorded"}
    return {"path": path, "was": value}


def _parent(doc: Doc, path: str) -> tuple[Any, str]:
    """The container an op's path points into, and the last part of the path."""
    parts = Pointer(path).parts
    node: Any = doc
    try:
        for part in parts[:-1]:
            node = node[int(part)] if isinstance(node, list) else node[part]
    except (KeyError, IndexError, TypeError, ValueError):
        return None, parts[-1] if parts else ""
    return node, parts[-1] if parts else ""


def identity(element: Any) -> Any:
    """What identifies an array element when it is looked for again: an audience by its id,
    a profile attribute by its path, anything else by its whole value."""
    if isinstance(element, dict) and isinstance(element.get("value"), dict):
        value = element["value"]
        if element.get("type") == "PLATFORM_SEGMENT" and "id" in value:
            return ["audience", value["id"]]
        if element.get("type") == "JSON_PATH" and "path" in value:
            return ["attribute", value["path"]]
    return ["value", element]


def find(items: list[Any], wanted: Any) -> int | None:
    """Index of the element of ``items`` whose :func:`identity` is ``wanted``."""
    for index, item in enumerate(items):
        if identity(item) == wanted:
            return index
    return None


def recorded_images(
    redactor: Redactor, ops: list[dict[str, Any]], images: list[dict[str, Any]] | None
) -> list[dict[str, Any]] | None:
    """Before-images as they may be written: where the op or the value before it holds a
    secret, the image is withheld (a masked value could never be put back truthfully)."""
    if images is None:
        return None
    kept = []
    for op, image in zip(ops, images, strict=False):
        secret = _holds(redactor, op.get("value")) or _holds(redactor, image.get("was"))
        kept.append(
            {"path": redactor.text(image["path"]), "withheld": WITHHELD_SECRET} if secret else image
        )
    return kept


def _holds(redactor: Redactor, value: Any) -> bool:
    return value is not None and redactor.data(value) != value
