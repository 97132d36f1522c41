"""Secret values: where they come from, how they are held, and how they are kept out of output."""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import orjson
from pydantic import BaseModel, ConfigDict, SecretStr, model_validator

MASK = "***"
SENSITIVE_KEYS = frozenset(
    {
        "authorization",
        "access_token",
        "client_secret",
        "password",
        "securitytoken",
        "token",
        "secret",
    }
)
SENSITIVE_PATHS = ("/auth/params",)


class SecretSource(BaseModel):
    """``{env: NAME}`` or ``{file: path}`` (relative to the job file); exactly one."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    env: str | None = None
    file: Path | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> SecretSource:
        if (self.env is None) == (self.file is None):
            raise ValueError("a secret needs exactly one source: env or file")
        return self

    def describe(self) -> str:
        """Where the secret comes from, for messages (never its value)."""
        return f"environment variable {self.env}" if self.env else f"file {self.file}"

    def read(self, base_dir: Path) -> SecretStr:
        """The secret's value; raises ValueError (naming the source, not the value) if unusable."""
        if self.env is not None:
            value = os.environ.get(self.env)
            if value is None:
                raise ValueError(f"environment variable {self.env} is not set")
        else:
            assert self.file is not None
            path = self.file if self.file.is_absolute() else base_dir / self.file
            try:
                value = path.read_text().rstrip("\r\n")
            except OSError as exc:
                raise ValueError(f"cannot read {path}: {exc.strerror}") from None
        if not value:
            raise ValueError(f"{self.describe()} is empty")
        return SecretStr(value)


def secret_reference(name: str) -> str:
    """How a secret stands in a plan file: the job file's own template syntax."""
    return "{{ secrets." + name + " }}"


class Redactor:
    """Replaces every registered secret value with ``***`` in strings and JSON-like data."""

    def __init__(self, values: Iterable[str] = ()) -> None:
        self._values: list[str] = []
        for value in values:
            self.add(value)

    def add(self, value: str) -> None:
        """Register one more value to hide (longest first, so overlaps mask fully)."""
        if value and value not in self._values:
            self._values.append(value)
            self._values.sort(key=len, reverse=True)

    def text(self, text: str) -> str:
        """``text`` with every secret value masked."""
        for value in self._values:
            if value in text:
                text = text.replace(value, MASK)
        return text

    def data(self, value: Any) -> Any:
        """A copy of JSON-like ``value`` with every secret value masked."""
        if not self._values or not self._appears_in(value):
            return value
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, Mapping):
            return {k: self.data(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self.data(v) for v in value]
        return value

    def _appears_in(self, value: Any) -> bool:
        """Whether any secret occurs in ``value`` (one serialisation beats walking it)."""
        try:
            text = orjson.dumps(value).decode()
        except TypeError:
            return True
        return any(secret in text for secret in self._values)

    def ops(self, ops: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Operations as they may be written anywhere: secret values and auth params masked."""
        return [self._op(op) for op in ops]

    def _op(self, op: dict[str, Any]) -> dict[str, Any]:
        if "value" in op and op["path"].startswith(SENSITIVE_PATHS):
            return {**op, "value": mask_leaves(op["value"])}
        masked: dict[str, Any] = self.data(op)
        return masked


def mask_leaves(value: Any) -> Any:
    """``value`` with every leaf replaced by ``***`` (keys stay, so a reviewer sees the shape)."""
    if isinstance(value, Mapping):
        return {k: mask_leaves(v) for k, v in value.items()}
    if isinstance(value, list):
        return [mask_leaves(v) for v in value]
    return MASK


#: Every secret value this process has seen: job secrets, the client secret, bearer tokens.
#: Diagnostics, result records and error messages are all masked against it.
REGISTRY = Redactor()
