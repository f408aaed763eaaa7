"""RFC 8785 (JCS) canonical JSON for statements and entries.

Statements carry no floats: amounts, prices and base-unit integers travel as decimal strings.
For such values, orjson with sorted keys writes exactly the JCS bytes (the same escapes, no
whitespace, integers as digits), except that JCS sorts keys by UTF-16 code units and orjson
by code points; the two orders differ only for characters above U+FFFF. Documents holding any such
character go through the `rfc8785` reference encoder instead, so every output is JCS.
"""

from __future__ import annotations

import json
import re
from typing import Any

import orjson
import rfc8785

from sequestra.ledger.errors import CanonicalError

# Integers beyond 2**53 - 1 lose precision as IEEE doubles, which is how JCS writes numbers.
INTEGER_MAGNITUDE_MAX = 2**53 - 1
# Bounds the recursion of validation; statements are shallow documents.
DEPTH_MAX = 32
_ORJSON_OPTIONS = orjson.OPT_SORT_KEYS | orjson.OPT_STRICT_INTEGER
# The lead byte of a 4-byte UTF-8 sequence: a character above U+FFFF.
_FOUR_BYTE_UTF8 = re.compile(rb"[\xf0-\xf4]")


def check_json_value(value: Any, path: str = "$", depth: int = 0) -> None:
    """Check that `value` is a JSON value a statement may hold.

    Raises CanonicalError naming the path of the first offending value.
    """
    if depth > DEPTH_MAX:
        raise CanonicalError(f"{path}: nesting deeper than {DEPTH_MAX} levels")
    if value is None or isinstance(value, bool | str):
        return
    if isinstance(value, int):
        if abs(value) > INTEGER_MAGNITUDE_MAX:
            raise CanonicalError(
                f"{path}: integer {value} exceeds 2**53-1; send large numbers as decimal strings"
            )
        return
    if isinstance(value, float):
        raise CanonicalError(f"{path}: floating-point number {value!r}; use a decimal string")
    if isinstance(value, list | tuple):
        for index, item in enumerate(value):
            check_json_value(item, f"{path}[{index}]", depth + 1)
        return
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise CanonicalError(f"{path}: object key {key!r} is not a string")
            check_json_value(item, f"{path}.{key}", depth + 1)
        return
    raise CanonicalError(f"{path}: {type(value).__name__} is not a JSON value")


def _encode(value: Any) -> bytes:
    """Encode a value already known to hold only strings, safe integers, bools and nulls."""
    try:
        data = orjson.dumps(value, option=_ORJSON_OPTIONS)
    except orjson.JSONEncodeError as error:
        raise CanonicalError(f"cannot write canonical JSON: {error}") from error
    # A 4-byte UTF-8 sequence means a character above U+FFFF, possibly in a key, where the
    # UTF-16 order of JCS may differ from Python's: let the reference encoder decide.
    if not data.isascii() and _FOUR_BYTE_UTF8.search(data):
        try:
            return rfc8785.dumps(value)
        except rfc8785.CanonicalizationError as error:
            raise CanonicalError(str(error)) from error
    return data


def canonical_json(value: Any) -> bytes:
    """Return the RFC 8785 canonical UTF-8 bytes of a statement-shaped JSON value.

    Raises CanonicalError for floats, unsafe integers, non-string keys or invalid Unicode.
    """
    check_json_value(value)
    return _encode(value)


def canonical_json_of_parsed(value: Any) -> bytes:
    """Like canonical_json, for a value that came from `parse_json` (already checked)."""
    return _encode(value)


def _reject_float(text: str) -> Any:
    raise CanonicalError(f"floating-point number {text}; use a decimal string")


def _parse_safe_int(text: str) -> int:
    number = int(text)
    if abs(number) > INTEGER_MAGNITUDE_MAX:
        raise CanonicalError(f"integer {text} exceeds 2**53-1; use a decimal string")
    return number


def _reject_constant(text: str) -> Any:
    raise CanonicalError(f"{text} is not JSON")


_DECODER = json.JSONDecoder(
    parse_float=_reject_float, parse_int=_parse_safe_int, parse_constant=_reject_constant
)


def parse_json(data: bytes | str) -> Any:
    """Parse JSON that may be canonicalised: no floats, no unsafe integers, no NaN.

    Raises CanonicalError on malformed JSON or a forbidden number.
    """
    try:
        text = data.decode("utf-8") if isinstance(data, bytes) else data
        return _DECODER.decode(text)
    except CanonicalError:
        raise
    except (ValueError, UnicodeDecodeError) as error:
        raise CanonicalError(f"malformed JSON: {error}") from error


def is_canonical(data: bytes) -> tuple[bool, Any]:
    """Parse `data` and tell whether it is exactly its own canonical form.

    Returns (canonical, parsed value); raises CanonicalError when it is not acceptable JSON.
    """
    value = parse_json(data)
    return _encode(value) == data, value
