"""Adobe's activation guardrails, checked against a plan before anything is sent (pure, no I/O).

Adobe's destinations guardrails page sets, per destination dataflow, at most
:data:`MAX_AUDIENCES` audiences and :data:`MAX_PROFILE_ATTRIBUTES` mapped profile attributes.
Both are soft limits: the service accepts a PATCH beyond them, and the dataflow fails later,
out of sight. So a plan that takes a dataflow past one (more than the limit after the change,
and more than before it) is reported on the plan line, in the record's ``warnings`` and in the
summary; with ``--strict`` (:func:`enforce`) the target fails with kind ``guardrail`` instead,
and nothing is sent for it.

The counts are those of the document as the plan leaves it: an op on one selector counts one
up or down, and any other op under ``/transformations`` is applied to a copy of the parts it
touches, so a raw ``patch`` that replaces a whole selector list is counted as surely as an
``add_segment``.
"""

from __future__ import annotations

import re
from typing import Any

import jsonpatch
import jsonpointer

from bulkflow.errors import TargetError
from bulkflow.planner import Doc, Op, Pointer, writable_copy

MAX_AUDIENCES = 250
MAX_PROFILE_ATTRIBUTES = 50
#: selector holder in a transformation's params → (what it counts, Adobe's limit)
LIMITS = {
    "segmentSelectors": ("audiences", MAX_AUDIENCES),
    "profileSelectors": ("profile attributes", MAX_PROFILE_ATTRIBUTES),
}


_ELEMENT = re.compile(
    r"/transformations/\d+/params/(segmentSelectors|profileSelectors)/selectors/(?:\d+|-)"
)
_DELTA = {"add": 1, "remove": -1, "replace": 0}


class GuardrailError(TargetError):
    """``--strict``: the plan would take a destination dataflow past a guardrail."""

    kind = "guardrail"


def guardrail_warnings(doc: Doc, ops: list[Op]) -> list[str]:
    """One line per guardrail the planned ``ops`` take ``doc`` past (none: an empty list)."""
    touching = [op for op in ops if op["path"].startswith("/transformations")]
    if not touching:
        return []  # audiences and attributes live under /transformations only
    before = {holder: _count(doc, holder) for holder in LIMITS}
    after = _counts_after(doc, touching, before)
    warnings = []
    for holder, (noun, limit) in LIMITS.items():
        count, was = after.get(holder, 0), before[holder]
        if count > limit and count > was:
            warnings.append(
                f"guardrail: {count} {noun} on this destination dataflow after the change "
                f"(was {was}); Adobe's limit is {limit} per dataflow"
            )
    return warnings


def enforce(warnings: list[str], strict: bool) -> None:
    """With ``strict``, a plan past a guardrail fails its target (kind ``guardrail``)."""
    if strict and warnings:
        raise GuardrailError("; ".join(warnings) + " (--strict: nothing was sent for this target)")


def _counts_after(doc: Doc, touching: list[Op], before: dict[str, int]) -> dict[str, int]:
    """The selector counts once ``touching`` is applied.

    An op on one selector adds, removes or replaces one (the planner's own ops are all of that
    kind: counting them took 10 µs a target where applying them took 70); any other op, a raw
    ``patch`` replacing a whole list say, is applied to a copy and the result counted.
    """
    after = dict(before)
    for op in touching:
        element = _ELEMENT.fullmatch(op["path"])
        if element is None:
            return _applied_counts(doc, touching)
        after[element[1]] += _DELTA[op["op"]]
    return after


def _applied_counts(doc: Doc, touching: list[Op]) -> dict[str, int]:
    working = writable_copy(doc, [op["path"] for op in touching])
    try:
        # The planner applied every op in order already; only these can change the counts.
        jsonpatch.apply_patch(working, touching, in_place=True, pointer_cls=Pointer)
    except (jsonpatch.JsonPatchException, jsonpointer.JsonPointerException):
        return {}  # cannot happen for a checked plan; then nothing is counted
    return {holder: _count(working, holder) for holder in LIMITS}


def _count(doc: Doc, holder: str) -> int:
    """Selectors under ``params.<holder>.selectors`` across the document's transformations."""
    total = 0
    transformations = doc.get("transformations")
    for transformation in transformations if isinstance(transformations, list) else ():
        params = transformation.get("params") if isinstance(transformation, dict) else None
        held: Any = params.get(holder) if isinstance(params, dict) else None
        selectors = held.get("selectors") if isinstance(held, dict) else None
        total += len(selectors) if isinstance(selectors, list) else 0
    return total
