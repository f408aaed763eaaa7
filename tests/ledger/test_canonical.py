"""Canonical JSON must equal the RFC 8785 reference encoder byte for byte."""

from __future__ import annotations

import json

import pytest
import rfc8785
from hypothesis import given, settings
from hypothesis import strategies as st

from sequestra.ledger.canonical import canonical_json, is_canonical, parse_json
from sequestra.ledger.errors import CanonicalError

safe_int = st.integers(min_value=-(2**53) + 1, max_value=2**53 - 1)
text = st.text(st.characters(exclude_categories=("Cs",)), max_size=12)
json_values = st.recursive(
    st.none() | st.booleans() | safe_int | text,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(text, children, max_size=4),
    max_leaves=20,
)


@settings(max_examples=400, deadline=None)
@given(json_values)
def test_matches_reference_encoder(value: object) -> None:
    assert canonical_json(value) == rfc8785.dumps(value)


@settings(max_examples=200, deadline=None)
@given(json_values)
def test_is_canonical_round_trip(value: object) -> None:
    data = canonical_json(value)
    assert is_canonical(data) == (True, value)
    if isinstance(value, dict) and value:
        assert not is_canonical(json.dumps(value, indent=1).encode())[0]


def test_keys_sorted_by_utf16_code_units() -> None:
    # U+1F600 (surrogates D83D DE00) sorts before U+FFFD in UTF-16 order, after it by code point.
    value = {"\ufffd": 1, "\U0001f600": 2}
    assert canonical_json(value) == rfc8785.dumps(value)
    assert canonical_json(value).index("\U0001f600".encode()) < canonical_json(value).index(
        "\ufffd".encode()
    )


def test_control_characters_escaped_like_rfc8785() -> None:
    value = {"s": '\x00\x08\t\n\x0c\r\x1f"\\/\x7f\u2028'}
    assert canonical_json(value) == rfc8785.dumps(value)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ({"amount": 1.5}, "floating-point"),
        ({"amount": 2**53}, "exceeds 2\\*\\*53-1"),
        ({1: "x"}, "not a string"),
        ({"x": object()}, "not a JSON value"),
        ({"x": "\ud800"}, "not valid UTF-8"),
    ],
)
def test_refuses_what_jcs_cannot_carry(value: object, message: str) -> None:
    with pytest.raises(CanonicalError, match=message):
        canonical_json(value)


def test_deep_nesting_refused() -> None:
    value: object = "leaf"
    for _ in range(40):
        value = [value]
    with pytest.raises(CanonicalError, match="nesting"):
        canonical_json(value)


@pytest.mark.parametrize(
    "data", [b'{"a":1.0}', b'{"a":1e3}', b'{"a":NaN}', b'{"a":9007199254740993}', b"{", b"\xff"]
)
def test_parse_refuses_floats_big_ints_and_garbage(data: bytes) -> None:
    with pytest.raises(CanonicalError):
        parse_json(data)
