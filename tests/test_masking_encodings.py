"""Secrets echoed escaped: HTML-safe and PHP JSON, URL encodings and changed case are masked."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from functools import partial
from urllib.parse import quote, quote_plus

import orjson
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from jinja2.filters import do_urlencode
from jinja2.utils import htmlsafe_json_dumps

from bulkflow.secrets import Redactor
from tests.test_masking import FEW, HIDDEN, PRINTABLE, TEXTS, WINDOW

Encoder = Callable[[str], str]
# Characters that the encoders escape, so that the escaped forms differ from the raw one.
SPECIAL = st.sampled_from("<>&'/ é€😀%+ \"\\")
SPECIAL_SECRETS = st.text(st.one_of(SPECIAL, FEW, PRINTABLE), min_size=1, max_size=40)
LONG_SECRETS = st.text(st.one_of(SPECIAL, FEW, PRINTABLE), min_size=WINDOW, max_size=40)


def upper_hex(escaped: str) -> str:
    """JSON text with the hex digits of every ``\\uXXXX`` in upper case (as .NET writes it)."""
    # Every backslash in JSON text starts an escape, so escapes are read left to right.
    return re.sub(
        r"\\(u[0-9a-f]{4}|.)",
        lambda m: "\\" + ("u" + m[1][1:].upper() if m[1][0] == "u" else m[1]),
        escaped,
    )


def lower_hex(encoded: str) -> str:
    """URL-encoded text with lower-case hex digits (``%2f``); every ``%`` starts an escape."""
    return re.sub(r"%[0-9A-F]{2}", lambda m: m[0].lower(), encoded)


def jinja_tojson(secret: str) -> str:
    """Jinja's ``tojson``: non-ASCII and ``<>&'`` as ``\\uXXXX``."""
    return str(htmlsafe_json_dumps(secret))[1:-1]


def go_json(secret: str) -> str:
    """Go's ``json.Marshal``: UTF-8 kept, ``<>&`` and the line separators as ``\\uXXXX``."""
    escaped = orjson.dumps(secret).decode()[1:-1]
    for char, code in (
        ("<", "003c"),
        (">", "003e"),
        ("&", "0026"),
        ("\u2028", "2028"),
        ("\u2029", "2029"),
    ):
        escaped = escaped.replace(char, "\\u" + code)
    return escaped


def php_json(secret: str) -> str:
    """PHP's ``json_encode``: non-ASCII as ``\\uXXXX`` and ``/`` as ``\\/``."""
    return json.dumps(secret)[1:-1].replace("/", "\\/")


def php_json_unicode(secret: str) -> str:
    """PHP's ``json_encode`` with ``JSON_UNESCAPED_UNICODE``: only ``/`` is escaped more."""
    return orjson.dumps(secret).decode()[1:-1].replace("/", "\\/")


def json_in_json(secret: str) -> str:
    """A JSON body quoted in another JSON string, as an error envelope echoes a request."""
    return orjson.dumps(json.dumps(secret)[1:-1]).decode()[1:-1]


def then(encoder: Encoder, after: Encoder) -> Encoder:
    """``encoder`` followed by ``after``."""
    return lambda secret: after(encoder(secret))


JSON_ENCODERS: list[Encoder] = [jinja_tojson, go_json, php_json, php_json_unicode, json_in_json]
JSON_ENCODERS += [then(encoder, upper_hex) for encoder in JSON_ENCODERS]
URL_ENCODERS: list[Encoder] = [
    partial(quote, safe=""),
    partial(quote, safe="/"),
    quote_plus,
    lambda secret: str(do_urlencode(secret)),  # Jinja's ``urlencode`` leaves ``/``
]
URL_ENCODERS += [then(encoder, lower_hex) for encoder in URL_ENCODERS]


def window_leaks(text: str, form: str) -> bool:
    """Whether ``text`` holds 8 consecutive characters of ``form``."""
    return any(form[i : i + WINDOW] in text for i in range(len(form) - WINDOW + 1))


def masks_in_text(
    secret: str, form: str, before: str, after: str, context: tuple[str, str]
) -> bool:
    """Whether ``form`` of ``secret``, placed in random text, is masked (a short one as a value)."""
    if len(secret) >= WINDOW:
        assume(not window_leaks(before, form) and not window_leaks(after, form))
        out = Redactor([secret], mask=HIDDEN).text(before + form + after)
        return not window_leaks(out, form)
    value = context[0] + form + context[1]
    assume(value not in before and value not in after)
    out = Redactor([secret], mask=HIDDEN).text(before + value + after)
    return value not in out


@settings(max_examples=300, deadline=None)
@given(secret=SPECIAL_SECRETS, encoder=st.sampled_from(JSON_ENCODERS), before=TEXTS, after=TEXTS)
def test_secret_in_html_safe_or_php_json_is_masked(
    secret: str, encoder: Encoder, before: str, after: str
) -> None:
    """Jinja's and Go's ``\\u003c`` forms, PHP's ``\\/``, either hex case, JSON in JSON: masked."""
    assert masks_in_text(secret, encoder(secret), before, after, ('"', '"'))


@settings(max_examples=300, deadline=None)
@given(secret=SPECIAL_SECRETS, encoder=st.sampled_from(URL_ENCODERS), before=TEXTS, after=TEXTS)
def test_secret_url_encoded_any_way_is_masked(
    secret: str, encoder: Encoder, before: str, after: str
) -> None:
    """``quote`` with ``safe=''`` or ``'/'``, ``quote_plus``, Jinja's ``urlencode``, ``%2f``: masked."""
    assert masks_in_text(secret, encoder(secret), before, after, ("=", "&"))


@settings(max_examples=200, deadline=None)
@given(secret=LONG_SECRETS, upper=st.booleans(), before=TEXTS, after=TEXTS)
def test_long_secret_in_lower_or_upper_case_is_masked(
    secret: str, upper: bool, before: str, after: str
) -> None:
    """A long secret lower-cased (a redirect's host) or upper-cased is masked."""
    form = secret.upper() if upper else secret.lower()
    assert masks_in_text(secret, form, before, after, ('"', '"'))


def test_short_secret_in_another_case_is_not_masked() -> None:
    """A one-letter token ``t`` leaves ``T`` alone, even as a whole value."""
    assert Redactor(["t"]).text('{"a": "T"}') == '{"a": "T"}'


def test_data_finds_an_escaped_secret() -> None:
    """``data``'s quick check does not skip a value holding only an escaped form."""
    secret = "Pw<Secret>&Rot/ated'42"
    value = {"report": {"detail": f"got {jinja_tojson(secret)} and {quote(secret, safe='/')}"}}
    assert Redactor([secret]).data(value) == {"report": {"detail": "got *** and ***"}}
