"""Secret values: where they come from, how they are held, and how they are kept out of output."""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Iterable, Mapping
from itertools import product
from pathlib import Path
from typing import Any
from urllib.parse import quote, quote_plus

import orjson
from pydantic import BaseModel, ConfigDict, SecretStr, model_validator

MASK = "***"
#: Keys whose values are secret whatever they hold, by ending, ignoring case, ``-`` and ``_``:
#: ``Authorization``, ``Proxy-Authorization``, ``clientSecret``, ``refresh_token``, ``db_password``.
SENSITIVE_KEYS = ("authorization", "password", "passwd", "secret", "token")
SENSITIVE_PATHS = ("/auth/params",)
#: Shorter secrets are masked only as whole values: a one-letter token must not mask every letter.
SHORT_SECRET_CHARS = 8
#: Characters some encoders write as ``\uXXXX`` though JSON does not require it: Go's
#: ``json.Marshal`` (``<>&`` and the JavaScript line separators), Jinja's ``tojson`` (``<>&'``).
_EXTRA_JSON_ESCAPES = ("", "<>&\u2028\u2029", "<>&'")
_JSON_SHORT = {
    '"': '\\"',
    "\\": "\\\\",
    "\b": "\\b",
    "\f": "\\f",
    "\n": "\\n",
    "\r": "\\r",
    "\t": "\\t",
}
_PERCENT_ESCAPE = re.compile("%[0-9A-F]{2}")
_ALNUM_RUN = re.compile("[0-9A-Za-z]+")


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
            if not _encodes(value):  # bytes that are not UTF-8 reach Python as surrogates
                raise ValueError(f"environment variable {self.env} is not UTF-8 text")
        else:
            assert self.file is not None
            value = _read_secret_file(
                self.file if self.file.is_absolute() else base_dir / self.file
            )
        if not value:
            raise ValueError(f"{self.describe()} is empty")
        return SecretStr(value)


MAX_SECRET_BYTES = 64 * 1024


def _encodes(value: str) -> bool:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _read_secret_file(path: Path) -> str:
    """A secret file's text; a pipe or a device (which may never end) is refused unread."""
    try:
        if not stat.S_ISREG(path.stat().st_mode):
            raise ValueError(f"cannot read {path}: not a regular file")
        with path.open("rb") as handle:
            data = handle.read(MAX_SECRET_BYTES + 1)
    except OSError as exc:
        raise ValueError(f"cannot read {path}: {exc.strerror}") from None
    if len(data) > MAX_SECRET_BYTES:
        raise ValueError(f"{path} is larger than {MAX_SECRET_BYTES // 1024} KiB: not a secret")
    try:
        return data.decode("utf-8").rstrip("\r\n")
    except UnicodeDecodeError:
        raise ValueError(f"{path} is not UTF-8 text") from None


def is_sensitive_path(path: str) -> bool:
    """Whether an op at ``path`` touches credentials: at or below a sensitive path, or above
    one (a ``replace /auth`` carries the params, and the value it replaces holds them too)."""
    return any(
        path.startswith(sensitive) or sensitive.startswith(path + "/") or not path
        for sensitive in SENSITIVE_PATHS
    )


def is_sensitive_change(path: str, *values: Any) -> bool:
    """Whether a change shows credentials: at a sensitive path, at a key that names a secret
    (``/params/password``), or with a value holding such a key."""
    if is_sensitive_path(path) or any(is_sensitive_key(part) for part in path.split("/")):
        return True
    return any(holds_sensitive_key(value) for value in values)


def holds_sensitive_key(value: Any) -> bool:
    """Whether JSON-like ``value`` has, at any depth, a key that names a secret."""
    if isinstance(value, Mapping):
        return any(is_sensitive_key(str(k)) or holds_sensitive_key(v) for k, v in value.items())
    if isinstance(value, list):
        return any(holds_sensitive_key(v) for v in value)
    return False


_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def printable(text: str) -> str:
    """``text`` with control characters (an escape sequence a server put in a name) shown
    as ``\\x1b``, so a terminal or a report never acts on them."""
    return _CONTROL.sub(lambda match: f"\\x{ord(match[0]):02x}", text)


def is_sensitive_key(key: str) -> bool:
    """Whether ``key`` names a secret (``x-api-key`` does not: it carries the client id)."""
    return key.lower().replace("-", "").replace("_", "").endswith(SENSITIVE_KEYS)


def secret_reference(name: str) -> str:
    """How a secret stands in a plan file: the job file's own template syntax."""
    return "{{ secrets." + name + " }}"


class Redactor:
    """Replaces registered secret values with ``***`` in strings and JSON-like data.

    A secret of :data:`SHORT_SECRET_CHARS` characters or more is masked wherever it occurs; a
    shorter one only where it stands as a whole value (see :func:`_whole_value_pattern`), so
    that ``AEP_ACCESS_TOKEN=t`` does not mask every ``t``. Each secret is also looked for as
    JSON, Python and URL encoding write it, since error bodies echo requests in those forms
    (see :func:`_forms`). Occurrences are found first and masked together, so overlapping
    secrets leave nothing.

    Every record is masked, so the forms are worked out once per secret and grouped by a run of
    ASCII letters and digits that each form in the group holds: one ``in`` test skips a group.
    """

    def __init__(self, values: Iterable[str] = (), mask: str = MASK) -> None:
        self._mask = mask
        self._secrets: dict[str, None] = {}  # in order of registration, for :meth:`also`
        self._long: dict[str, list[str]] = {}  # forms of long secrets, by what they all hold
        self._short: list[str] = []
        self._whole: re.Pattern[str] | None = None
        self._needles: dict[str, set[str]] = {}  # every form as a JSON string holds it
        for value in values:
            self.add(value)

    def add(self, value: str) -> None:
        """Register one more value to hide."""
        if not value or value in self._secrets:
            return
        self._secrets[value] = None
        groups = _forms(value)
        for anchor, forms in groups.items():
            self._needles.setdefault(anchor, set()).update(_json_escaped(f) for f in forms)
        if len(value) >= SHORT_SECRET_CHARS:
            for anchor, forms in groups.items():
                group = self._long.setdefault(anchor, [])
                group += [form for form in forms if form not in group]
            return
        forms = [form for group in groups.values() for form in group]
        self._short += [form for form in dict.fromkeys(forms) if form not in self._short]
        self._whole = _whole_value_pattern(self._short)

    def also(self, *values: str) -> Redactor:
        """A copy that hides ``values`` too; this redactor is unchanged."""
        return Redactor([*self._secrets, *values], self._mask)

    def text(self, text: str) -> str:
        """``text`` with every secret value masked."""
        spans = self._spans(text)
        return self._masked(text, spans) if spans else text

    def cut(self, text: str, limit: int) -> str:
        """``text`` masked, then cut to ``limit`` characters (never the other way round)."""
        cut = self.text(text)[:limit]
        return self._mask if self._is_whole(cut) else cut

    def _is_whole(self, text: str) -> bool:
        stripped = text.strip()
        return bool(stripped) and any(stripped == form.strip() for form in self._short)

    def _spans(self, text: str) -> list[tuple[int, int]]:
        """Where secrets occur in ``text``, overlapping occurrences included."""
        spans = []
        for anchor, forms in self._long.items():
            if anchor not in text:
                continue
            for form in forms:
                start = text.find(form)
                while start >= 0:
                    spans.append((start, start + len(form)))
                    start = text.find(form, start + 1)
        if self._whole is not None:
            if self._is_whole(text):
                return [(0, len(text))]
            for match in self._whole.finditer(text):
                group = match.lastgroup or ""
                spans.append(match.span(group))
        return spans

    def _masked(self, text: str, spans: list[tuple[int, int]]) -> str:
        """``text`` with each union of overlapping spans replaced by one mask."""
        pieces: list[str] = []
        done = 0
        for start, stop in sorted(spans):
            if start > done or not pieces:
                pieces += [text[done:start], self._mask]
            done = max(done, stop)
        return "".join(pieces) + text[done:]

    def data(self, value: Any) -> Any:
        """A copy of JSON-like ``value`` with every secret value masked (keys too)."""
        if not self._secrets or not self._appears_in(value):
            return value
        return self._walk(value)

    def _walk(self, value: Any) -> Any:
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, Mapping):
            return {self._walk(k): self._walk(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self._walk(v) for v in value]
        return value

    def _appears_in(self, value: Any) -> bool:
        """Whether any secret may occur in ``value`` (one serialisation beats walking it).

        A string holding a form holds its JSON escape in the serialisation, short ones included.
        """
        try:
            text = orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()
        except TypeError:
            return True
        return any(
            anchor in text and any(needle in text for needle in needles)
            for anchor, needles in self._needles.items()
        )

    def ops(self, ops: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Operations as they may be written anywhere: secret values and auth params masked."""
        return [self._op(op) for op in ops]

    def _op(self, op: dict[str, Any]) -> dict[str, Any]:
        if "value" in op and is_sensitive_path(op["path"]):
            return {**op, "value": mask_leaves(op["value"])}
        masked: dict[str, Any] = self.data(op)
        return masked


def _forms(value: str) -> dict[str, list[str]]:
    """``value`` as services and template filters write it: raw, in a JSON or Python string,
    URL- or form-encoded; a long one also lower- and upper-cased (as a redirect's host is).

    The forms are grouped by the longest run of ASCII letters and digits in the value, as it
    stands in each: no encoding changes such a run, a case change only changes its case.
    """
    bases = {value: [value, repr(value)[1:-1], *_json_forms(value), *_url_forms(value)]}
    if len(value) >= SHORT_SECRET_CHARS:
        for case in (value.lower(), value.upper()):
            forms = [case, _json_escaped(case), _json_escaped(case, ascii_only=True)]
            bases.setdefault(case, []).extend(forms)
    groups: dict[str, list[str]] = {}
    # A dozen characters pick out a secret well enough, and CPython finds short needles faster.
    anchor = max(_ALNUM_RUN.findall(value), key=len, default="")[:12]
    for base, forms in bases.items():
        held = next(run for run in (anchor, anchor.lower(), anchor.upper(), "") if run in base)
        for form in dict.fromkeys(form for form in forms if form):
            group = groups.setdefault(held if held in form else "", [])
            group += [] if form in group else [form]
    return groups


def _json_forms(value: str) -> list[str]:
    """``value`` in a JSON string as orjson, Python, Go, Jinja, PHP and .NET write it, and
    twice escaped: a JSON body quoted in a JSON error message, as services echo a request."""
    forms = []
    for extra, ascii_only, upper in product(_EXTRA_JSON_ESCAPES, (False, True), (False, True)):
        form = _json_escaped(value, extra, ascii_only, upper)
        forms += [form, form.replace("/", "\\/")]  # PHP writes ``/`` as ``\/``
    for inner, outer in product((False, True), (False, True)):
        forms.append(_json_escaped(_json_escaped(value, ascii_only=inner), ascii_only=outer))
    return forms


def _url_forms(value: str) -> list[str]:
    """``value`` percent-encoded with ``/`` encoded or kept (Jinja's ``urlencode``), spaces as
    ``%20`` or ``+``, hex digits in either case."""
    forms = []
    for safe in ("", "/"):
        for encode in (quote, quote_plus):
            form = encode(value, safe=safe, errors="surrogatepass")
            forms += [form, _PERCENT_ESCAPE.sub(lambda match: match[0].lower(), form)]
    return forms


def _json_escaped(
    value: str, extra: str = "", ascii_only: bool = False, upper: bool = False
) -> str:
    """``value`` inside a JSON string as orjson writes it; with ``extra`` characters, and
    with every non-ASCII one if ``ascii_only``, as ``\\uXXXX`` (hex digits ``upper``)."""
    table = {
        ord(char): _JSON_SHORT.get(char) or _unicode_escape(char, upper)
        for char in set(value)
        if char in _JSON_SHORT or char < " " or char in extra or (ascii_only and char > "\x7f")
    }
    return value.translate(table) if table else value


def _unicode_escape(char: str, upper: bool) -> str:
    """``char`` as ``\\uXXXX``, or as two of them (a UTF-16 surrogate pair) beyond U+FFFF."""
    units = char.encode("utf-16-be", "surrogatepass")
    digits = "{:04X}" if upper else "{:04x}"
    return "".join(
        "\\u" + digits.format(int.from_bytes(units[i : i + 2])) for i in range(0, len(units), 2)
    )


def _whole_value_pattern(forms: list[str]) -> re.Pattern[str]:
    """Where a short secret stands as a whole value, so that it is masked there and only there.

    Quoted (a JSON or Python string), after ``=`` (a form field), ``Bearer `` or ``:`` (a
    header), or alone on a line. The pattern only looks ahead, so overlapping ones are all found.
    """
    alt = "|".join(re.escape(form) for form in sorted(forms, key=len, reverse=True))
    end = r"(?=[\s&,;\"'\\)\]}]|$)"
    return re.compile(
        "(?=(?:"
        rf"(?<=[\"'])(?P<quoted>{alt})(?=\\?[\"'])"
        rf"|(?:(?<==)|(?<=[Bb][Ee][Aa][Rr][Ee][Rr] )|:[ \t]*)(?P<after>{alt}){end}"
        rf"|^[ \t]*(?P<line>{alt})[ \t]*$"
        "))",
        re.MULTILINE,
    )


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


def resolve_references(value: Any, secrets: dict[str, SecretStr]) -> Any:
    """``value`` with every ``{{ secrets.NAME }}`` replaced by the secret (in memory only)."""
    if isinstance(value, str):
        for name, secret in secrets.items():
            reference = secret_reference(name)
            if reference in value:
                value = value.replace(reference, secret.get_secret_value())
        return value
    if isinstance(value, dict):
        return {k: resolve_references(v, secrets) for k, v in value.items()}
    if isinstance(value, list):
        return [resolve_references(v, secrets) for v in value]
    return value
