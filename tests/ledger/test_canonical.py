"""Canonical JSON must equal the RFC 8785 reference encoder byte for byte."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest
import rfc8785
from hypothesis import given, settings
from hypothesis import strategies as st

from sequestra.ledger import canonical
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


@pytest.fixture
def standard_library_only() -> Iterator[None]:
    """Encode with the standard library, as where orjson is not installed."""
    with canonical.standard_library_encoder():
        yield


@settings(max_examples=400, deadline=None)
@given(json_values)
def test_standard_library_path_matches_reference_encoder(value: Any) -> None:
    with canonical.standard_library_encoder():
        assert canonical_json(value) == rfc8785.dumps(value)
        assert is_canonical(rfc8785.dumps(value)) == (True, value)


@pytest.mark.usefixtures("standard_library_only")
def test_standard_library_path_edge_cases() -> None:
    values: list[Any] = [
        {"\ufffd": 1, "\U0001f600": 2, "a": {"\U00010000": [], "\uffff": None}},
        {"s": '\x00\x08\t\n\x0c\r\x1f"\\/\x7f\u2028'},
        {"n": [-(2**53) + 1, 0, 2**53 - 1, True, False, None]},
    ]
    for value in values:
        assert canonical_json(value) == rfc8785.dumps(value)
    with pytest.raises(CanonicalError, match="not valid UTF-8"):
        canonical_json({"x": "\ud800"})
    with pytest.raises(CanonicalError, match="not valid UTF-8"):
        canonical_json({"\U0001f600": "\ud800"})


def test_without_orjson_installed() -> None:
    """A process where orjson cannot be imported writes the same bytes and never loads it."""
    value: Any = {"\ufffd": 1, "\U0001f600": [2, "caf\u00e9"], "b": {"z": None, "a": True}}
    script = (
        "import sys, json\n"
        "sys.modules['orjson'] = None\n"  # makes `import orjson` raise ImportError
        "from sequestra.ledger.canonical import canonical_json\n"
        f"sys.stdout.buffer.write(canonical_json(json.loads({json.dumps(value)!r})))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, check=True, timeout=60
    )
    assert result.stdout == rfc8785.dumps(value)


def test_standard_library_encoder_block_does_not_import_orjson() -> None:
    script = (
        "import sys\n"
        "from sequestra.ledger import canonical\n"
        "with canonical.standard_library_encoder():\n"
        "    canonical.canonical_json({'a': [1, 'b']})\n"
        "print('orjson' in sys.modules)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, check=True, text=True, timeout=60
    )
    assert result.stdout.strip() == "False"


def test_deep_nesting_in_parsed_text_is_an_error_not_a_crash() -> None:
    """Even with the recursion limit raised (py_ecc sets 100,000), deep text is refused."""
    script = (
        "import sys\n"
        "sys.setrecursionlimit(1_000_000)\n"
        "from sequestra.ledger.canonical import CanonicalError, parse_json\n"
        "for opener, closer in ((b'[', b']'), (b'{\"a\":', b'}')):\n"
        "    try:\n"
        "        parse_json(opener * 65_000 + b'1' + closer * 65_000)\n"
        "    except CanonicalError as error:\n"
        "        print(error)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result
    assert result.stdout.count("nested deeper than 128") == 2


def test_many_brackets_but_shallow_parse() -> None:
    value = {"rows": [[] for _ in range(5000)], "text": "[" * 5000}
    assert parse_json(json.dumps(value)) == value
    deep: Any = "x"
    for _ in range(128):
        deep = [deep]
    assert parse_json(json.dumps(deep)) == deep
    with pytest.raises(CanonicalError, match="nested deeper"):
        parse_json(json.dumps([deep]))
