"""Plan a job's changes against one fetched document as RFC 6902 operations (pure, no I/O).

Each change is planned against the document as the earlier changes leave it. Structures are
found by content, never by position: the transformation whose ``params`` holds
``segmentSelectors``, the one named ``Mapping``. Array elements to remove are resolved last and
emitted in descending index order, which is right whether the service applies a PATCH's ops one
after another (RFC 6902) or all against the original (as one tutorial example reads). Every plan
is checked by applying it with ``jsonpatch``, op by op in order, to a copy of the document
before it is returned.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import jsonpatch
import jsonpointer
from pydantic import BaseModel

from bulkflow.errors import PlanError
from bulkflow.job.changes import (
    AddProfileAttributeSpec,
    AddSegmentSpec,
    PatchOp,
    RemoveProfileAttributeSpec,
    RemoveSegmentSpec,
    RemoveSpec,
    RotateCredentialsSpec,
    SetMappingSpec,
    SetSpec,
    kind_of,
    spec_of,
)

Doc = dict[str, Any]
Op = dict[str, Any]
POINTER_CACHE = 4096


@dataclass(frozen=True)
class _Removal:
    """An array element to remove, found again by content once every other change is planned."""

    array: str
    match: Callable[[Any], bool]
    describe: Callable[[Any], Any]


def plan(doc: Doc, changes: Sequence[BaseModel]) -> list[Op]:
    """The operations that bring ``doc`` to the state ``changes`` describe (``doc`` is not changed).

    Raises :class:`PlanError` when the document lacks a structure a change needs.
    """
    working: Doc | None = None
    ops: list[Op] = []
    removals: list[_Removal] = []
    for number, change in enumerate(changes, 1):
        current = doc if working is None else working
        new_ops, new_removals = _plan_change(current, change)
        removals += new_removals
        if new_ops:
            label = f"change {number} ({kind_of(change)})"
            working = _apply(doc if working is None else working, new_ops, label)
            ops += new_ops
    if removals:
        removal_ops = _resolve_removals(doc if working is None else working, removals)
        if removal_ops:
            _apply(doc if working is None else working, removal_ops, "removals")
            ops += removal_ops
    # Every op has been applied in order by jsonpatch to a copy of ``doc``: that is the check
    # that the plan applies, so no second application is needed.
    return ops


def state_action(doc: Doc, changes: Sequence[BaseModel]) -> str | None:
    """``enable`` or ``disable`` when a ``set_state`` change wants another state, else None."""
    wanted = [spec_of(c) for c in changes if kind_of(c) == "set_state"]
    if not wanted or doc.get("state") == wanted[-1]:
        return None
    return "enable" if wanted[-1] == "enabled" else "disable"


def _plan_change(doc: Doc, change: BaseModel) -> tuple[list[Op], list[_Removal]]:
    spec = spec_of(change)
    kind = kind_of(change)
    if kind == "patch":
        return [_raw(op) for op in spec], []
    if kind == "set_state":
        return [], []  # not a JSON Patch: the engine calls the flow action endpoint
    planner = _PLANNERS[type(spec)]
    return planner(doc, spec)


class Pointer(jsonpointer.JsonPointer):
    """A JSON pointer parsed once per distinct path: every target of a job uses the same few.

    Pointers are read, never changed, by jsonpatch, so one instance can serve every target.
    """

    _cache: ClassVar[dict[str, Pointer]] = {}

    def __new__(cls, pointer: str) -> Pointer:
        cached = cls._cache.get(pointer)
        if cached is not None:
            return cached
        instance = super().__new__(cls)
        jsonpointer.JsonPointer.__init__(instance, pointer)
        if len(cls._cache) > POINTER_CACHE:
            cls._cache.clear()
        cls._cache[pointer] = instance
        return instance

    def __init__(self, pointer: str) -> None:
        """Parsed in ``__new__``."""


def _apply(doc: Doc, ops: list[Op], label: str) -> Doc:
    """``doc`` with ``ops`` applied by jsonpatch, in a copy; ``doc`` itself is not changed."""
    working = writable_copy(doc, [op["path"] for op in ops])
    try:
        jsonpatch.apply_patch(working, ops, in_place=True, pointer_cls=Pointer)
    except (jsonpatch.JsonPatchException, jsonpointer.JsonPointerException):
        # jsonpatch's own text quotes the document, credentials and all: say it ourselves.
        raise PlanError(_why_not(doc, ops, label)) from None
    return working


def _why_not(doc: Doc, ops: list[Op], label: str) -> str:
    """Which op of ``ops`` fails on ``doc`` and what it misses, in paths and names, no values."""
    for number, op in enumerate(ops, 1):
        try:
            doc = _apply_one(doc, op)
        except (jsonpatch.JsonPatchException, jsonpointer.JsonPointerException):
            return f"{label}, op {number} ({op['op']} {op['path']}): {_missing(doc, op)}"
    return f"{label}: the operations do not apply to this document"


def _apply_one(doc: Doc, op: Op) -> Doc:
    working = writable_copy(doc, [op["path"]])
    jsonpatch.apply_patch(working, [op], in_place=True, pointer_cls=Pointer)
    return working


def _missing(doc: Doc, op: Op) -> str:
    """What ``doc`` lacks for ``op``: the deepest place its path reaches, and why it stops."""
    parts = Pointer(op["path"]).parts
    node: Any = doc
    at = ""
    for depth, part in enumerate(parts):
        last = depth == len(parts) - 1
        found, child, problem = _step(node, part, last and op["op"] == "add")
        if problem:
            return f"{at or 'the document'} {problem}"
        if not found or last:
            break
        node, at = child, f"{at}/{jsonpointer.escape(part)}"
    return "the operation does not apply here"


def _step(node: Any, part: str, adding: bool) -> tuple[bool, Any, str]:
    """One step down a pointer: (found, child, problem); an add may name a new place."""
    if isinstance(node, dict):
        if part in node:
            return True, node[part], ""
        return False, None, "" if adding else f"has no member {part!r}"
    if isinstance(node, list):
        if part == "-" and adding:
            return False, None, ""
        if not _INDEX.fullmatch(part):
            return False, None, f"is an array, {part!r} is not an index"
        index = int(part)
        if index < len(node):
            return True, node[index], ""
        if adding and index == len(node):
            return False, None, ""
        return False, None, f"has {len(node)} items, no index {index}"
    return False, None, f"is {_TYPE_NAMES.get(type(node), 'null')}, not an object or array"


_INDEX = re.compile(r"0|[1-9][0-9]*")
_TYPE_NAMES = {str: "a string", bool: "a boolean", int: "a number", float: "a number"}


def writable_copy(doc: Doc, paths: list[str]) -> Doc:
    """A copy of ``doc`` in which every container on ``paths`` is new and the rest is shared.

    Applying ops along those paths then changes only the copy. Copying a 10 KB document whole
    for each target cost more than everything else the planner does; this copies a few dicts.
    """
    root: Doc = dict(doc)
    copied = {id(root)}
    for path in paths:
        node: Any = root
        for part in Pointer(path).parts[:-1]:
            key: Any = int(part) if isinstance(node, list) and part.isdigit() else part
            try:
                child = node[key]
            except (KeyError, IndexError, TypeError):
                break
            if isinstance(child, dict | list) and id(child) not in copied:
                child = dict(child) if isinstance(child, dict) else list(child)
                copied.add(id(child))
                node[key] = child
            node = child
    return root


def _raw(op: PatchOp) -> Op:
    out: Op = {"op": op.op, "path": op.path}
    if op.op != "remove":
        out["value"] = op.value
    return out


def _resolve(doc: Any, path: str) -> tuple[bool, Any]:
    try:
        return True, Pointer(path).resolve(doc)
    except jsonpointer.JsonPointerException:
        return False, None


def set_ops(doc: Doc, path: str, value: Any) -> list[Op]:
    """``set`` semantics: nothing if equal, ``replace`` if present, ``add`` if only the parent is."""
    pointer = Pointer(path)
    parent_path = "".join("/" + jsonpointer.escape(p) for p in pointer.parts[:-1])
    found, parent = _resolve(doc, parent_path)
    if not found:
        raise PlanError(f"set {path}: the parent {parent_path or '/'} does not exist")
    key = pointer.parts[-1]
    if isinstance(parent, dict):
        if key not in parent:
            return [{"op": "add", "path": path, "value": value}]
        return [] if parent[key] == value else [{"op": "replace", "path": path, "value": value}]
    if isinstance(parent, list) and (key == "-" or (key.isdigit() and int(key) <= len(parent))):
        if key != "-" and int(key) < len(parent):
            same = parent[int(key)] == value
            return [] if same else [{"op": "replace", "path": path, "value": value}]
        return [{"op": "add", "path": path, "value": value}]
    raise PlanError(f"set {path}: {parent_path or '/'} holds no place named {key!r}")


def _set(doc: Doc, spec: SetSpec) -> tuple[list[Op], list[_Removal]]:
    return set_ops(doc, spec.path, spec.value), []


def _remove(doc: Doc, spec: RemoveSpec) -> tuple[list[Op], list[_Removal]]:
    found, _ = _resolve(doc, spec.path)
    return ([{"op": "remove", "path": spec.path}] if found else []), []


def find_transformation(doc: Doc, test: Callable[[dict[str, Any]], bool]) -> int | None:
    """Index of the first transformation for which ``test`` holds."""
    for index, item in enumerate(doc.get("transformations") or ()):
        if isinstance(item, dict) and test(item):
            return index
    return None


def _selectors(doc: Doc, holder: str, kind: str) -> tuple[str, list[Any] | None]:
    """Pointer to ``…/params/<holder>/selectors`` and the list (None when only the holder exists)."""
    index = find_transformation(
        doc, lambda t: isinstance((t.get("params") or {}).get(holder), dict)
    )
    if index is None:
        names = [t.get("name") for t in doc.get("transformations") or () if isinstance(t, dict)]
        raise PlanError(
            f"{kind}: no transformation holds params.{holder} (transformations: "
            f"{', '.join(map(str, names)) or 'none'}); is this a destination dataflow?"
        )
    base = f"/transformations/{index}/params/{holder}/selectors"
    selectors = doc["transformations"][index]["params"][holder].get("selectors")
    return base, selectors if isinstance(selectors, list) else None


def _value_of(selector: Any) -> dict[str, Any]:
    value = selector.get("value") if isinstance(selector, dict) else None
    return value if isinstance(value, dict) else {}


def _add_selector(base: str, selectors: list[Any] | None, selector: Doc) -> list[Op]:
    if selectors is None:
        return [{"op": "add", "path": base, "value": [selector]}]
    return [{"op": "add", "path": f"{base}/-", "value": selector}]


def _add_segment(doc: Doc, spec: AddSegmentSpec) -> tuple[list[Op], list[_Removal]]:
    base, selectors = _selectors(doc, "segmentSelectors", "add_segment")
    if any(_value_of(s).get("id") == spec.id for s in selectors or ()):
        return [], []
    return _add_selector(base, selectors, {"type": "PLATFORM_SEGMENT", "value": _dumped(spec)}), []


_DUMPED: dict[int, tuple[AddSegmentSpec, dict[str, Any]]] = {}


def _dumped(spec: AddSegmentSpec) -> dict[str, Any]:
    """The selector value for ``spec``, made once per spec rather than once per target.

    Sharing it between targets' plans is safe: ops are only read, and planning copies any
    container on a path it changes.
    """
    hit = _DUMPED.get(id(spec))
    if hit is not None and hit[0] is spec:
        return hit[1]
    if len(_DUMPED) > POINTER_CACHE:
        _DUMPED.clear()
    value = spec.model_dump(exclude_none=True)
    _DUMPED[id(spec)] = (spec, value)
    return value


def _remove_segment(doc: Doc, spec: RemoveSegmentSpec) -> tuple[list[Op], list[_Removal]]:
    base, _ = _selectors(doc, "segmentSelectors", "remove_segment")
    removal = _Removal(base, lambda s: _value_of(s).get("id") == spec.id, _brief("id", "name"))
    return [], [removal]


def _add_profile_attribute(
    doc: Doc, spec: AddProfileAttributeSpec
) -> tuple[list[Op], list[_Removal]]:
    base, selectors = _selectors(doc, "profileSelectors", "add_profile_attribute")
    if any(_value_of(s).get("path") == spec.path for s in selectors or ()):
        return [], []
    value: Doc = {"path": spec.path, "operator": "EXISTS"}
    if spec.identity_namespace:
        value["identity"] = {"namespace": spec.identity_namespace}
    return _add_selector(base, selectors, {"type": "JSON_PATH", "value": value}), []


def _remove_profile_attribute(
    doc: Doc, spec: RemoveProfileAttributeSpec
) -> tuple[list[Op], list[_Removal]]:
    base, _ = _selectors(doc, "profileSelectors", "remove_profile_attribute")
    removal = _Removal(base, lambda s: _value_of(s).get("path") == spec.path, _brief("path"))
    return [], [removal]


def _brief(*fields: str) -> Callable[[Any], Any]:
    """The value sent with a remove (as the tutorials do): the selector's type and identity."""

    def brief(selector: Any) -> Any:
        value = _value_of(selector)
        kept = {f: value[f] for f in fields if f in value}
        return {"type": selector.get("type"), "value": kept} if isinstance(selector, dict) else None

    return brief


def _set_mapping(doc: Doc, spec: SetMappingSpec) -> tuple[list[Op], list[_Removal]]:
    index = find_transformation(doc, lambda t: t.get("name") == "Mapping")
    if index is None:
        raise PlanError("set_mapping: no transformation named Mapping in this flow")
    params = doc["transformations"][index].get("params")
    base = f"/transformations/{index}/params"
    if not isinstance(params, dict):
        value = {"mappingId": spec.mappingId, "mappingVersion": spec.mappingVersion}
        return [{"op": "add", "path": base, "value": value}], []
    ops = set_ops(doc, f"{base}/mappingId", spec.mappingId)
    # The schema types mappingVersion as a string while the tutorial sends a number: 2 == "2".
    if str(params.get("mappingVersion")) != str(spec.mappingVersion):
        ops += set_ops(doc, f"{base}/mappingVersion", spec.mappingVersion)
    return ops, []


def _rotate_credentials(doc: Doc, spec: RotateCredentialsSpec) -> tuple[list[Op], list[_Removal]]:
    auth = doc.get("auth")
    if not isinstance(auth, dict):
        raise PlanError("rotate_credentials: this resource has no auth object")
    op = "replace" if "params" in auth else "add"
    return [{"op": op, "path": "/auth/params", "value": dict(spec.params)}], []


def _resolve_removals(working: Doc, removals: list[_Removal]) -> list[Op]:
    chosen: dict[tuple[str, int], Any] = {}
    for removal in removals:
        found, items = _resolve(working, removal.array)
        for index, item in enumerate(items if found and isinstance(items, list) else ()):
            if removal.match(item):
                chosen[(removal.array, index)] = removal.describe(item)
    ordered = sorted(chosen, key=lambda key: (key[0], -key[1]))
    return [{"op": "remove", "path": f"{a}/{i}", "value": chosen[(a, i)]} for a, i in ordered]


_PLANNERS: dict[type, Callable[[Doc, Any], tuple[list[Op], list[_Removal]]]] = {
    SetSpec: _set,
    RemoveSpec: _remove,
    AddSegmentSpec: _add_segment,
    RemoveSegmentSpec: _remove_segment,
    AddProfileAttributeSpec: _add_profile_attribute,
    RemoveProfileAttributeSpec: _remove_profile_attribute,
    SetMappingSpec: _set_mapping,
    RotateCredentialsSpec: _rotate_credentials,
}
