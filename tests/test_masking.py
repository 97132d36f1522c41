"""The Redactor: secrets masked wholly before any cut, short ones only where they are a value."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote_plus

import orjson
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from bulkflow.secrets import MASK, Redactor

HIDDEN = "\x00"  # a mask no generated text contains, so a mask can never pass for a fragment
WINDOW = 8
PRINTABLE = st.characters(exclude_categories=("Cc", "Cs"))
FEW = st.sampled_from("ab\"'=& \\*:")  # a small alphabet, so that overlaps and repeats happen
SECRETS = st.text(st.one_of(FEW, PRINTABLE), min_size=1, max_size=64)
TEXTS = st.text(st.one_of(FEW, PRINTABLE), max_size=40)
# Where a short secret stands as a whole value: a JSON string, a bearer token, a form field.
CONTEXTS = (('"', '"'), ("Bearer ", " "), ("=", "&"), ("x-api-key: ", "\n"))
LONG = "planted-secret-0a1b2c3d4e"


def fragments(secret: str, context: tuple[str, str]) -> list[str]:
    """What must not survive: any 8 characters of a long secret, a short one as a value."""
    if len(secret) >= WINDOW:
        return [secret[i : i + WINDOW] for i in range(len(secret) - WINDOW + 1)]
    return [context[0] + secret + context[1]]


def leaks(text: str, secret: str, context: tuple[str, str] = CONTEXTS[0]) -> bool:
    """Whether ``text`` shows ``secret`` (or a fragment of it) in a way masking must prevent."""
    return text.strip() == secret or any(f in text for f in fragments(secret, context))


def strings_in(value: Any) -> list[str]:
    """Every string of a JSON-like value: keys and leaves."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for k, v in value.items() for s in strings_in(k) + strings_in(v)]
    if isinstance(value, list):
        return [s for item in value for s in strings_in(item)]
    return []


def test_cut_masks_before_cutting() -> None:
    """A secret straddling the cut leaves no fragment: the mask comes first, then the cut."""
    text = "x" * 290 + LONG + " and more"
    cut = Redactor([LONG]).cut(text, 300)
    assert cut == "x" * 290 + MASK + " and mo"


def test_cut_masks_a_short_secret_left_whole_by_the_cut() -> None:
    """A cut that leaves exactly a short secret's value masks it."""
    assert Redactor(["to"]).cut("tomato", 2) == MASK


def test_repeated_secret_inside_a_longer_run_is_masked_whole() -> None:
    """``aaaaaaaa`` in ``aaaaaaaaa``: overlapping occurrences are merged, nothing is left."""
    assert Redactor(["aaaaaaaa"]).text("<aaaaaaaaa>") == f"<{MASK}>"


def test_partly_overlapping_secrets_are_masked_together() -> None:
    """Two secrets sharing a middle: masking one does not leave eight characters of the other."""
    first, second = "abcdefghijklmnop", "ijklmnopqrstuvwx"
    masked = Redactor([first, second]).text("<abcdefghijklmnopqrstuvwx>")
    assert masked == f"<{MASK}>"


def test_short_secret_is_not_masked_inside_words() -> None:
    """A one-letter token leaves every other ``t`` alone."""
    text = "3 targets updated in 0.2s; http.request to /flows"
    assert Redactor(["t"]).text(text) == text


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ("t", MASK),
        ('{"token": "t", "text": "tt"}', '{"token": "***", "text": "tt"}'),
        ("{'Authorization': 'Bearer t'}", f"{{'Authorization': 'Bearer {MASK}'}}"),
        ("Authorization: Bearer t", f"Authorization: Bearer {MASK}"),
        ("x-api-key: t\nAccept: json", f"x-api-key: {MASK}\nAccept: json"),
        ("client_secret=t&scope=openid", f"client_secret={MASK}&scope=openid"),
    ],
)
def test_short_secret_is_masked_where_it_is_a_whole_value(text: str, masked: str) -> None:
    """A short secret as the whole text, a JSON string, a bearer token, a header or form value."""
    assert Redactor(["t"]).text(text) == masked


def test_data_masks_a_short_secret_only_as_a_whole_leaf() -> None:
    """``data`` masks a leaf equal to a short secret and leaves words containing it."""
    value = {"token": "t", "name": "tomato", "list": ["t", "at"], "n": 1}
    assert Redactor(["t"]).data(value) == {
        "token": MASK,
        "name": "tomato",
        "list": [MASK, "at"],
        "n": 1,
    }


def test_secret_with_quotes_is_masked_inside_json() -> None:
    """A password with a quote and a backslash, echoed inside a JSON body, is masked."""
    secret = 'pa"ss\\word-1234'
    body = orjson.dumps({"detail": f"bad value {secret}"}).decode()
    assert Redactor([secret]).text(body) == f'{{"detail":"bad value {MASK}"}}'


def test_data_masks_a_secret_with_quotes() -> None:
    """``data`` finds a secret whose JSON form is escaped (the quick check must not miss it)."""
    secret = 'pa"ss\\word-1234'
    assert Redactor([secret]).data({"v": [f"x {secret}"]}) == {"v": [f"x {MASK}"]}


def test_secret_echoed_form_encoded_is_masked() -> None:
    """A secret echoed from a form body (URL-encoded) is masked."""
    secret = "s3cret+with/slash&amp"
    text = f"grant_type=client_credentials&client_secret={quote_plus(secret)}"
    assert Redactor([secret]).text(text) == f"grant_type=client_credentials&client_secret={MASK}"


def test_also_adds_values_without_changing_the_original() -> None:
    """``also`` is a copy that hides more; the original redactor is unchanged."""
    base = Redactor([LONG])
    wider = base.also("another-secret-value")
    assert wider.text("another-secret-value") == MASK
    assert base.text("another-secret-value") == "another-secret-value"


@settings(max_examples=150, deadline=None)
@given(
    secret=SECRETS,
    pieces=st.lists(TEXTS, min_size=2, max_size=4),
    limit=st.integers(0, 300),
    context=st.sampled_from(CONTEXTS),
)
def test_no_fragment_survives_mask_then_cut(
    secret: str, pieces: list[str], limit: int, context: tuple[str, str]
) -> None:
    """Random secrets in random text, cut anywhere in it: no 8 characters, nor a short value, survive."""
    for piece in pieces:
        assume(not leaks(piece, secret, context))
    inserted = secret if len(secret) >= WINDOW else context[0] + secret + context[1]
    text = inserted.join(pieces)
    out = Redactor([secret], mask=HIDDEN).cut(text, limit % (len(text) + 1))
    assert not leaks(out, secret, context)


@settings(max_examples=150, deadline=None)
@given(
    base=st.text(st.one_of(FEW, PRINTABLE), min_size=WINDOW, max_size=64),
    bounds=st.tuples(st.integers(0, 64), st.integers(0, 64), st.integers(1, 63)),
    tail=st.text(st.one_of(FEW, PRINTABLE), min_size=1, max_size=16),
    pieces=st.lists(TEXTS, min_size=4, max_size=4),
    limit=st.integers(0, 300),
)
def test_overlapping_secrets_leave_no_fragment(
    base: str,
    bounds: tuple[int, int, int],
    tail: str,
    pieces: list[str],
    limit: int,
) -> None:
    """Secrets that contain or overlap each other: no 8 characters of any of them survive."""
    start, stop, split = bounds
    inner = base[min(start, stop) : max(start, stop)] or base[:1]
    overlapping = base[split % len(base) :] + tail
    secrets = [base, inner, overlapping]
    # ``inner`` stands quoted, as a value, so that a short one is masked too (quotes stay).
    around = [pieces[0], pieces[1] + '"', '"' + pieces[2], pieces[3]]
    for piece in around:
        assume(not any(leaks(piece, s) for s in secrets if len(s) >= WINDOW))
    text = around[0] + base + tail + around[1] + inner + around[2] + overlapping + around[3]
    out = Redactor(secrets, mask=HIDDEN).cut(text, limit % (len(text) + 1))
    assert not any(leaks(out, s) for s in secrets if len(s) >= WINDOW)


@settings(max_examples=100, deadline=None)
@given(data=st.data(), secret=SECRETS)
def test_data_leaves_no_fragment_in_json_like_values(data: st.DataObject, secret: str) -> None:
    """Secrets in keys and leaves of nested dicts and lists: none survives ``data``."""
    clean = TEXTS.filter(lambda text: not leaks(text, secret))
    leaves = st.one_of(
        st.none(),
        st.integers(),
        clean,
        st.just(secret),
        st.builds(lambda a, b: a + secret + b, clean, clean)
        if len(secret) >= WINDOW
        else st.just(secret),
    )
    keys = st.one_of(clean, st.just(secret))
    value = data.draw(
        st.recursive(
            leaves,
            lambda inner: st.lists(inner, max_size=3) | st.dictionaries(keys, inner, max_size=3),
            max_leaves=12,
        )
    )
    masked = Redactor([secret], mask=HIDDEN).data(value)
    assert not any(leaks(text, secret) for text in strings_in(masked))


@settings(max_examples=100, deadline=None)
@given(secret=SECRETS, before=TEXTS, after=TEXTS, limit=st.integers(0, 300))
def test_secret_escaped_in_json_leaves_no_fragment(
    secret: str, before: str, after: str, limit: int
) -> None:
    """A secret inside a JSON body (escaped as JSON writes it), cut anywhere: nothing survives."""
    escaped = orjson.dumps(secret).decode()[1:-1]
    quoted = ('"', '"')
    for piece in (before, after):
        assume(not leaks(orjson.dumps(piece).decode(), escaped, quoted))
    body = orjson.dumps({"detail": before + secret + after, "value": secret}).decode()
    out = Redactor([secret], mask=HIDDEN).cut(body, limit % (len(body) + 1))
    pieces = fragments(escaped, quoted) if len(secret) >= WINDOW else [f'"{escaped}"']
    assert not any(piece in out for piece in pieces)
