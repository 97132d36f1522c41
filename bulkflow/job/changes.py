"""The change kinds a job file may list (contract §2), as frozen pydantic models.

In the job file each change is a one-key mapping, ``{add_segment: {id: …}}``; the key picks the
model. :mod:`bulkflow.planner` turns them into JSON Patch against a fetched document.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, get_args

import jsonpointer
from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    field_validator,
    model_validator,
)

Scalar = str | int | float | bool


def check_pointer(path: str) -> str:
    """Accept an RFC 6901 JSON pointer (or a template that will render to one)."""
    if "{{" in path or "{%" in path:
        return path
    if path == "" or path == "/":
        raise ValueError("the whole document cannot be changed; give a path below the root")
    try:
        jsonpointer.JsonPointer(path)
    except jsonpointer.JsonPointerException as exc:
        raise ValueError(f"{path!r} is not a JSON pointer: {exc}") from exc
    return path


class _Spec(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class SetSpec(_Spec):
    """``set: {path, value}``: replace or add so that ``path`` holds ``value``."""

    path: str
    value: Any

    _check = field_validator("path")(check_pointer)


class RemoveSpec(_Spec):
    """``remove: {path}``: remove ``path`` when present."""

    path: str

    _check = field_validator("path")(check_pointer)


class AddSegmentSpec(BaseModel):
    """``add_segment``: export one more audience; extra fields go into the selector value."""

    model_config = ConfigDict(frozen=True, extra="allow")

    id: str = Field(min_length=1)
    name: str | None = None
    exportMode: str | None = None
    schedule: dict[str, Any] | None = None
    filenameTemplate: str | None = None


class RemoveSegmentSpec(_Spec):
    """``remove_segment: {id}``: stop exporting an audience."""

    id: str = Field(min_length=1)


class AddProfileAttributeSpec(_Spec):
    """``add_profile_attribute: {path, identity_namespace?}``."""

    path: str = Field(min_length=1)
    identity_namespace: str | None = None


class RemoveProfileAttributeSpec(_Spec):
    """``remove_profile_attribute: {path}``."""

    path: str = Field(min_length=1)


class SetMappingSpec(_Spec):
    """``set_mapping: {mappingId, mappingVersion}`` on the transformation named Mapping."""

    mappingId: str = Field(min_length=1)
    mappingVersion: str | int


class RotateCredentialsSpec(_Spec):
    """``rotate_credentials: {params}``: replace ``/auth/params`` (connections only)."""

    params: dict[str, Any] = Field(min_length=1)


class PatchOp(_Spec):
    """One raw operation of a ``patch`` change.

    ``add`` and ``replace`` need a ``value`` key: ``value: null`` is sent as null, but a missing
    one is refused, since nobody meant to send it. ``remove`` ignores a value (a plan shows the
    value it removes, and a reviewer may paste those ops into a job).
    """

    op: str
    path: str
    value: Any = None

    _check = field_validator("path")(check_pointer)

    @model_validator(mode="after")
    def _value_given(self) -> PatchOp:
        if self.op != "remove" and "value" not in self.model_fields_set:
            raise ValueError(f"op {self.op!r} needs a 'value' (value: null sends null)")
        return self

    @field_validator("op")
    @classmethod
    def _supported(cls, op: str) -> str:
        if op.lower() not in ("add", "replace", "remove"):
            raise ValueError(f"op {op!r} is not accepted by Flow Service (add, replace, remove)")
        return op.lower()


class SetChange(_Spec):
    """Wrapper for the one-key form."""

    set: SetSpec


class RemoveChange(_Spec):
    """Wrapper for the one-key form."""

    remove: RemoveSpec


class AddSegmentChange(_Spec):
    """Wrapper for the one-key form."""

    add_segment: AddSegmentSpec


class RemoveSegmentChange(_Spec):
    """Wrapper for the one-key form."""

    remove_segment: RemoveSegmentSpec


class AddProfileAttributeChange(_Spec):
    """Wrapper for the one-key form."""

    add_profile_attribute: AddProfileAttributeSpec


class RemoveProfileAttributeChange(_Spec):
    """Wrapper for the one-key form."""

    remove_profile_attribute: RemoveProfileAttributeSpec


class SetMappingChange(_Spec):
    """Wrapper for the one-key form."""

    set_mapping: SetMappingSpec


class RotateCredentialsChange(_Spec):
    """Wrapper for the one-key form."""

    rotate_credentials: RotateCredentialsSpec


def check_state(state: str) -> str:
    """``enabled`` or ``disabled`` (or a template that will render to one, per target)."""
    if state in ("enabled", "disabled") or "{{" in state or "{%" in state:
        return state
    raise ValueError(f"Input should be 'enabled' or 'disabled', not {state!r}")


class SetStateChange(_Spec):
    """``set_state: enabled|disabled``: the flow action endpoint, only when the state differs.

    A template (``"{{ state }}"``) takes the state from each target's variables.
    """

    set_state: str

    _check = field_validator("set_state")(check_state)


class PatchChange(_Spec):
    """Wrapper for the one-key form."""

    patch: list[PatchOp] = Field(min_length=1)


ChangeKind = Literal[
    "set",
    "remove",
    "add_segment",
    "remove_segment",
    "add_profile_attribute",
    "remove_profile_attribute",
    "set_mapping",
    "rotate_credentials",
    "patch",
    "set_state",
]
CHANGE_KINDS: tuple[str, ...] = get_args(ChangeKind)
FLOW_ONLY = frozenset(
    {
        "add_segment",
        "remove_segment",
        "add_profile_attribute",
        "remove_profile_attribute",
        "set_mapping",
        "set_state",
    }
)
CONNECTION_ONLY = frozenset({"rotate_credentials"})
ALWAYS_SENT = frozenset({"rotate_credentials", "patch"})

#: What a job's ``resource`` may be: the Flow Service collections bulkflow changes.
Resource = Literal["flows", "connections", "targetConnections", "sourceConnections"]
RESOURCES: tuple[str, ...] = get_args(Resource)
#: The change kinds each resource takes: target and source connections hold plain settings
#: (export format, paths), so only the generic changes fit them.
KINDS_FOR: dict[str, frozenset[str]] = {
    "flows": frozenset(CHANGE_KINDS) - CONNECTION_ONLY,
    "connections": frozenset(CHANGE_KINDS) - FLOW_ONLY,
    "targetConnections": frozenset({"set", "remove", "patch"}),
    "sourceConnections": frozenset({"set", "remove", "patch"}),
}


def _kind_of(value: Any) -> str | None:
    if isinstance(value, BaseModel):
        return kind_of(value)
    if isinstance(value, dict) and len(value) == 1:
        return str(next(iter(value)))
    return None


Change = Annotated[
    Annotated[SetChange, Tag("set")]
    | Annotated[RemoveChange, Tag("remove")]
    | Annotated[AddSegmentChange, Tag("add_segment")]
    | Annotated[RemoveSegmentChange, Tag("remove_segment")]
    | Annotated[AddProfileAttributeChange, Tag("add_profile_attribute")]
    | Annotated[RemoveProfileAttributeChange, Tag("remove_profile_attribute")]
    | Annotated[SetMappingChange, Tag("set_mapping")]
    | Annotated[RotateCredentialsChange, Tag("rotate_credentials")]
    | Annotated[PatchChange, Tag("patch")]
    | Annotated[SetStateChange, Tag("set_state")],
    Discriminator(
        _kind_of,
        custom_error_type="unknown_change",
        custom_error_message=f"each change is one of: {', '.join(CHANGE_KINDS)}",
    ),
]


def kind_of(change: BaseModel) -> str:
    """The change's kind: the name of its single field."""
    return next(iter(type(change).model_fields))


def spec_of(change: BaseModel) -> Any:
    """The change's body (its single field's value)."""
    return getattr(change, kind_of(change))
