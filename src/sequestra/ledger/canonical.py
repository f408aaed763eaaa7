"""RFC 8785 (JCS) canonical JSON for statements and entries.

Statements carry no floats: amounts, prices and base-unit integers travel as decimal strings.
For such values, a JSON encoder with sorted keys, no whitespace and no ASCII escaping writes
exactly the JCS bytes (the same escapes, integers as digits), except that JCS sorts keys by
UTF-16 code units and Python by code points; the two orders differ only for characters above
U+FFFF. Documents holding any such character are written again with keys in UTF-16 order.

orjson is the fast encoder when it can be imported; the standard library's `json` writes the
same bytes otherwise. orjson is imported on first use, not at import, so code that wants the
standard library alone (the offline auditor) runs inside `standard_library_encoder()`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from sequestra.ledger.errors import CanonicalError

# Integers beyond 2**53 - 1 lose precision as IEEE doubles, which is how JCS writes numbers.
INTEGER_MAGNITUDE_MAX = 2**53 - 1
# Bounds the recursion of validation; statements are shallow documents.
DEPTH_MAX = 32
# Bounds the nesting of parsed texts (an entry wraps a statement of DEPTH_MAX levels).
PARSE_DEPTH_MAX = 128
# The lead byte of a 4-byte UTF-8 sequence: a character above U+FFFF.
_FOUR_BYTE_UTF8 = re.compile(rb"[\xf0-\xf4]")
_SEPARATORS = (",", ":")
# A JSON string (skipped) or a bracket: what the nesting check scans.
_STRUCTURE = re.compile(r'"(?:[^"\\]|\\.)*"|[\[\]{}]')

Encoder = Callable[[Any], bytes]


def _encode_standard_library(value: Any) -> bytes:
    """Sorted keys (by code point), no whitespace, UTF-8: JCS below U+10000."""
    try:
        text = json.dumps(value, ensure_ascii=False, sort_keys=True, separators=_SEPARATORS)
        return text.encode("utf-8")
    except UnicodeEncodeError as error:
        raise CanonicalError(
            f"cannot write canonical JSON: str is not valid UTF-8: {error}"
        ) from error
    except (TypeError, ValueError, RecursionError) as error:
        raise CanonicalError(f"cannot write canonical JSON: {error}") from error


def _load_orjson_encoder() -> Encoder | None:
    try:
        import orjson
    except ImportError:
        return None
    options = orjson.OPT_SORT_KEYS | orjson.OPT_STRICT_INTEGER

    def encode(value: Any) -> bytes:
        try:
            return orjson.dumps(value, option=options)
        except orjson.JSONEncodeError as error:
            raise CanonicalError(f"cannot write canonical JSON: {error}") from error

    return encode


# Chosen on first use: orjson when importable, else the standard library.
_encoder: Encoder | None = None


def use_standard_library_encoder() -> None:
    """From now on in this process, write canonical JSON with the standard library alone."""
    global _encoder
    _encoder = _encode_standard_library


def using_standard_library_encoder() -> bool:
    """Whether this process writes canonical JSON with the standard library alone now."""
    return _encoder is _encode_standard_library


@contextmanager
def standard_library_encoder() -> Iterator[None]:
    """Within the block, write canonical JSON with the standard library alone.

    orjson is not imported by encodes inside the block (the offline auditor's rule).
    """
    global _encoder
    previous = _encoder
    _encoder = _encode_standard_library
    try:
        yield
    finally:
        _encoder = previous


def _choose_encoder() -> Encoder:
    global _encoder
    _encoder = _load_orjson_encoder() or _encode_standard_library
    return _encoder


def _in_utf16_order(value: Any) -> Any:
    """Copy `value` with every object's keys inserted in UTF-16 code unit order (JCS 3.2.3)."""
    if isinstance(value, dict):
        keys = sorted(value, key=lambda key: key.encode("utf-16-be", "surrogatepass"))
        return {key: _in_utf16_order(value[key]) for key in keys}
    if isinstance(value, list | tuple):
        return [_in_utf16_order(item) for item in value]
    return value


def _encode_utf16_ordered(value: Any) -> bytes:
    """JCS of a value holding characters above U+FFFF: keys sorted by UTF-16 code units."""
    try:
        ordered = _in_utf16_order(value)
        text = json.dumps(ordered, ensure_ascii=False, sort_keys=False, separators=_SEPARATORS)
        return text.encode("utf-8")
    except UnicodeEncodeError as error:
        raise CanonicalError(
            f"cannot write canonical JSON: str is not valid UTF-8: {error}"
        ) from error
    except (TypeError, ValueError, RecursionError) as error:
        raise CanonicalError(f"cannot write canonical JSON: {error}") from error


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
    data = (_encoder or _choose_encoder())(value)
    # A 4-byte UTF-8 sequence means a character above U+FFFF, possibly in a key, where the
    # UTF-16 order of JCS may differ from Python's: sort the keys again in that order.
    if not data.isascii() and _FOUR_BYTE_UTF8.search(data):
        return _encode_utf16_ordered(value)
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


def _refuse_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """An object's members as a dict; a name given twice is refused (I-JSON, RFC 7493
    section 2.3), never left to the last one winning."""
    value = dict(pairs)
    if len(value) != len(pairs):
        seen: set[str] = set()
        for name, _ in pairs:
            if name in seen:
                raise CanonicalError(
                    f"duplicate object key {name[:64]!r}: expected each name once (I-JSON)"
                )
            seen.add(name)
    return value


_DECODER = json.JSONDecoder(
    parse_float=_reject_float,
    parse_int=_parse_safe_int,
    parse_constant=_reject_constant,
    object_pairs_hook=_refuse_duplicate_keys,
)
# Without the duplicate check, for `is_canonical` alone: a text with a name given twice is
# never its own canonical form (that has each name once), so it is refused there anyway, and
# verifying a large ledger skips a Python call per object.
_DECODER_CANONICAL = json.JSONDecoder(
    parse_float=_reject_float, parse_int=_parse_safe_int, parse_constant=_reject_constant
)


def _check_nesting(text: str) -> None:
    """Refuse nesting deeper than PARSE_DEPTH_MAX before decoding.

    The C decoder recurses once per level, bounded only by the recursion limit, which some
    libraries raise (py_ecc sets 100,000): a 64 KiB text of brackets would then overflow the
    C stack. Texts with few brackets cannot be deep, so most texts cost two counts.
    """
    if text.count("[") + text.count("{") <= PARSE_DEPTH_MAX:
        return
    depth = 0
    for match in _STRUCTURE.finditer(text):
        token = match.group()
        if token in ("[", "{"):
            depth += 1
            if depth > PARSE_DEPTH_MAX:
                raise CanonicalError(f"malformed JSON: nested deeper than {PARSE_DEPTH_MAX}")
        elif token in ("]", "}"):
            depth -= 1


def parse_json(data: bytes | str) -> Any:
    """Parse JSON that may be canonicalised: no floats, no unsafe integers, no NaN, no object
    with a name given twice.

    Raises CanonicalError on malformed JSON, a forbidden number, a duplicate key or nesting
    deeper than PARSE_DEPTH_MAX.
    """
    return _parse(data, _DECODER)


def _parse(data: bytes | str, decoder: json.JSONDecoder) -> Any:
    try:
        text = data.decode("utf-8") if isinstance(data, bytes) else data
        _check_nesting(text)
        return decoder.decode(text)
    except CanonicalError:
        raise
    except (ValueError, UnicodeDecodeError) as error:
        raise CanonicalError(f"malformed JSON: {error}") from error
    except RecursionError as error:
        raise CanonicalError("malformed JSON: nested too deeply") from error


def is_canonical(data: bytes) -> tuple[bool, Any]:
    """Parse `data` and tell whether it is exactly its own canonical form.

    Returns (canonical, parsed value); raises CanonicalError when it is not acceptable JSON.
    A text with a duplicate key parses (the last one wins) but is never canonical.
    """
    value = _parse(data, _DECODER_CANONICAL)
    return _encode(value) == data, value
