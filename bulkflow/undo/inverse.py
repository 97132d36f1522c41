"""Plan the inverse of recorded changes against a document as it is now (pure, no I/O).

Each recorded op is reverted only where the document still shows what the run left:

- an element the run inserted into an array (an audience, a profile attribute) is removed by
  its identity, wherever it is now; already gone is fine;
- an element the run removed goes back beside the neighbours it had (else at its recorded
  index, at the end if the array is shorter now), unless it is present again;
- a value the run set or removed is put back only if the document still holds what the run
  left there; holding the old value already is fine; anything else is *drift*: someone
  changed the same thing since, and the whole target is left alone;
- credentials, and ops whose before-image the log lacks, are *irreversible*: the rest of the
  target is still reverted.

Records are taken newest first and, within one, their ops last first, each inverse applied
to a working copy, so the next one is planned against the document the previous leaves.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import jsonpatch
import jsonpointer

from bulkflow.planner import Doc, Op, Pointer, writable_copy
from bulkflow.plantext import short
from bulkflow.secrets import holds_sensitive_key, is_sensitive_path
from bulkflow.undo.images import Image, find, identity

ABSENT = object()
_CONTAINER = object()  # the array or object a change was made in
_EDITED = object()  # an element the run added, changed by someone since
#: What a log may hold in place of a value it must not show: such a value is never put back.
MASKED = "***"
UNUSABLE = "the log's record of it cannot be used (edited, or from another version)"


@dataclass(frozen=True)
class Applied:
    """One recorded change to one target: its ops with their before-images, and any state
    action (``enable``/``disable``) with the state before it."""

    ops: list[Op]
    images: list[Image] | None
    action: str | None = None
    state_before: str | None = None


@dataclass
class Inverse:
    """What to send to take the recorded changes back, and what cannot be taken back."""

    ops: list[Op] = field(default_factory=list)
    action: str | None = None
    drifts: list[str] = field(default_factory=list)
    irreversible: list[str] = field(default_factory=list)


class _Drift(Exception):
    def __init__(self, path: str, wrote: Any, now: Any) -> None:
        super().__init__(path)
        if wrote is _CONTAINER:
            self.line = f"{path}: the run left it in place, now it is {_shown(now)}"
        elif wrote is _EDITED:
            self.line = f"{path}: what the run added was edited since, now {_shown(now)}"
        else:
            self.line = f"{path}: the run left {_shown(wrote)}, now {_shown(now)}"


def invert(doc: Doc, history: Sequence[Applied]) -> Inverse:
    """The inverse of ``history`` (newest first) against ``doc``; with any drift, no ops."""
    result = Inverse()
    working = doc
    for applied in history:
        images: Sequence[Image | None] = applied.images or [None] * len(applied.ops)
        for op, image in reversed(list(zip(applied.ops, images, strict=False))):
            try:
                steps = _invert_op(working, op, image)
            except _Drift as drift:
                result.drifts.append(drift.line)
                continue
            except (ValueError, TypeError, jsonpointer.JsonPointerException, RecursionError):
                steps = UNUSABLE  # a hand-edited image: nothing is guessed
            if not isinstance(steps, str) and steps and not _fits(working, steps):
                steps = UNUSABLE
            if isinstance(steps, str):
                result.irreversible.append(f"{op['path']}: {steps}")
                continue
            if steps:
                working = _applied(working, steps)
                result.ops += steps
    result.action = _state_action(doc.get("state"), history, result)
    if result.drifts:
        result.ops, result.action = [], None
    return result


def _invert_op(doc: Doc, op: Op, image: Image | None) -> list[Op] | str:
    """The ops that revert ``op``, or why it cannot be; raises :class:`_Drift`.

    Credentials are never put back, whatever a log says was there: a forged log must not make
    an undo write them (nor a value the log could only hold masked).
    """
    if is_sensitive_path(op["path"]) or _holds_secret(op.get("value"), image):
        return "credentials are never recorded"
    if op["op"] == "test":
        return []
    if op["op"] not in ("add", "remove", "replace"):
        return f"a {op['op']} op is not undone"
    if image is None or image.get("path") != op["path"]:
        return "the log holds no before-value for it"
    for reason in ("withheld", "irreversible"):
        if reason in image:
            return str(image[reason])
    if image.get("inserted"):
        return _remove_inserted(doc, op)
    if image.get("array"):
        return _put_back_element(doc, op, image)
    if image.get("absent"):
        return _revert_value(doc, op["path"], op.get("value"), ABSENT)
    wrote = ABSENT if op["op"] == "remove" else op.get("value")
    return _revert_value(doc, op["path"], wrote, image.get("was"))


def _remove_inserted(doc: Doc, op: Op) -> list[Op]:
    array_path, _ = _split(op["path"])
    items = _at(doc, array_path)
    if not isinstance(items, list):
        return []
    index = find(items, identity(op.get("value")))
    if index is None:
        return []
    if items[index] != op.get("value"):
        raise _Drift(f"{array_path}/{index}", _EDITED, items[index])
    # The value a remove carries is only read by people (and the plan's lines): the element.
    return [{"op": "remove", "path": f"{array_path}/{index}", "value": items[index]}]


def _put_back_element(doc: Doc, op: Op, image: Image) -> list[Op]:
    array_path, key = _split(op["path"])
    items = _at(doc, array_path)
    element = image.get("was")
    if not isinstance(items, list):
        raise _Drift(array_path, _CONTAINER, items)
    if find(items, identity(element)) is not None:
        return []
    index = _place(items, image, int(key))
    place = "-" if index >= len(items) else str(index)
    return [{"op": "add", "path": f"{array_path}/{place}", "value": element}]


def _place(items: list[Any], image: Image, recorded: int) -> int:
    """Where a removed element goes back: after the element it followed, else before the one
    it preceded, else at its recorded index."""
    prev = None if image.get("prev") is None else find(items, image["prev"])
    if prev is not None:
        return prev + 1
    following = None if image.get("next") is None else find(items, image["next"])
    if following is not None:
        return following
    return 0 if image.get("prev") is None and "prev" in image else recorded


def _revert_value(doc: Doc, path: str, wrote: Any, was: Any) -> list[Op]:
    now = _at(doc, path)
    if _same(now, was):
        return []
    if not _same(now, wrote):
        raise _Drift(path, wrote, now)
    if was is ABSENT:
        return [{"op": "remove", "path": path}]
    if now is ABSENT:
        parent, _ = _split(path)
        if _at(doc, parent) is ABSENT:
            raise _Drift(parent, _CONTAINER, ABSENT)
        return [{"op": "add", "path": path, "value": was}]
    return [{"op": "replace", "path": path, "value": was}]


def _state_action(state: Any, history: Sequence[Applied], result: Inverse) -> str | None:
    """``enable``/``disable`` to take the recorded state changes back, if the state allows."""
    target = state
    for applied in history:
        if applied.action is None:
            continue
        left = "enabled" if applied.action == "enable" else "disabled"
        if target == left and applied.state_before in ("enabled", "disabled"):
            target = applied.state_before
        elif target != applied.state_before:
            result.drifts.append(f"state: the run left {_shown(left)}, now {_shown(target)}")
            return None
    if target == state:
        return None
    return "enable" if target == "enabled" else "disable"


def _holds_secret(value: Any, image: Image | None) -> bool:
    """Whether a value the undo would compare or write holds credentials or a mask."""
    was = image.get("was") if isinstance(image, dict) else None
    return any(holds_sensitive_key(v) or _holds_mask(v) for v in (value, was))


def _holds_mask(value: Any) -> bool:
    """Whether a string in ``value`` holds the mask a log writes in place of a secret."""
    if isinstance(value, str):
        return MASKED in value
    if isinstance(value, dict):
        return any(_holds_mask(v) for v in value.values())
    if isinstance(value, list):
        return any(_holds_mask(v) for v in value)
    return False


def _fits(doc: Doc, ops: list[Op]) -> bool:
    """Whether ``ops`` apply to ``doc`` (an edited image may point nowhere)."""
    try:
        _applied(doc, ops)
    except (jsonpatch.JsonPatchException, jsonpointer.JsonPointerException, TypeError):
        return False
    return True


def _split(path: str) -> tuple[str, str]:
    parts = Pointer(path).parts
    parent = "".join("/" + jsonpointer.escape(p) for p in parts[:-1])
    return parent, parts[-1] if parts else ""


def _at(doc: Any, path: str) -> Any:
    try:
        return Pointer(path).resolve(doc)
    except jsonpointer.JsonPointerException:
        return ABSENT


def _same(a: Any, b: Any) -> bool:
    if a is ABSENT or b is ABSENT:
        return a is b
    return bool(a == b) and type(a) is type(b)


def _applied(doc: Doc, ops: list[Op]) -> Doc:
    working = writable_copy(doc, [op["path"] for op in ops])
    jsonpatch.apply_patch(working, ops, in_place=True, pointer_cls=Pointer)
    return working


def _shown(value: Any) -> str:
    return "gone (absent)" if value is ABSENT else short(value)
