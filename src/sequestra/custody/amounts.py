"""Exact conversion between display amounts ("0.12345678" BTC) and integer base units.

Crypto amounts are integers in base units (sats, wei, token units) everywhere inside
Sequestra; people type and read decimal display units. The conversions here are exact: no
float and no `Decimal` context takes part, and anything that cannot be represented exactly
is refused rather than rounded.

Three textual forms:
- display text, typed by people (`to_base_units`): plain decimal notation, `"1"`, `"0.5"`,
  `"1.00000000"`. A decimal comma is read as the decimal point where it cannot be a
  thousands separator (`decimal_comma_to_point`): `"1,5"` and `"0,001"` are 1.5 and 0.001,
  while `"1,500"` is refused as ambiguous. No sign (custody amounts are never negative), no
  exponent, no spaces, no thousands separators, no leading zeros (`"0.5"`, not `"00.5"` nor
  `".5"`), no trailing `"."`, at most as many fractional digits as the asset has decimals
  (`"1.000000000"` is refused for BTC even though its ninth digit is zero: the rule is about
  what was typed).
- canonical display text (`format_base_units`): the shortest exact form, trailing
  fractional zeros and a bare `"."` dropped (`"1"`, `"0.5"`, `"0.00000001"`), or every
  decimal written out with `all_decimals=True` (`"1.00000000"`). Both parse back to the
  same integer: `to_base_units(format_base_units(n, d), d) == n`.
- base-unit text in statement bodies (`parse_base_units`, `base_units_to_text`): JCS writes
  numbers as IEEE doubles, so base-unit integers travel as decimal strings of ASCII digits,
  without leading zeros (`"0"` alone excepted), at most 2**256 - 1 (an ERC-20 balance is a
  uint256).

Zero is refused unless the caller passes `zero_allowed=True`: an amount to seize or move is
never zero, while a fee or a balance may be.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Final

from sequestra.errors import InputRefused

DECIMALS_MAX: Final = 36  # no asset we hold has more; ERC-20 allows up to 255
AMOUNT_BASE_MAX: Final = 2**256 - 1  # an ERC-20 balance is a uint256
AMOUNT_BASE_DIGITS_MAX: Final = len(str(AMOUNT_BASE_MAX))  # 78
# A valid display amount has at most 78 significant digits and a '.', so 80 characters
# bounds the work spent on hostile input while refusing nothing that could be valid.
DISPLAY_TEXT_LENGTH_MAX: Final = AMOUNT_BASE_DIGITS_MAX + 2
DESCRIBE_LENGTH_MAX: Final = 40  # characters of a bad value echoed back in a message

_DIGITS: Final = frozenset("0123456789")
_DECIMAL_POINT: Final = "."
# 10**d for every allowed d, as ints (int ** int is typed Any: a negative power is a float).
_SCALES: Final[tuple[int, ...]] = tuple(10**decimals for decimals in range(DECIMALS_MAX + 1))

# Base units written as text: the 78 digits of a uint256, a sign, and room.
AMOUNT_TEXT_LENGTH: Final = 80


class AmountError(InputRefused):
    """An amount (or the decimals it is read with) is not acceptable.

    `field` names the offending input (`amount`, `fee`, `decimals`, `amount_base`, ...);
    `expected` and `got` are the two halves of the message.
    """

    def __init__(self, field: str, expected: str, got: str) -> None:
        super().__init__(field, expected, got)
        self.field = field
        self.expected = expected
        self.got = got

    def __str__(self) -> str:
        return f"{self.field}: expected {self.expected}, got {self.got}"


def describe_value(value: object) -> str:
    """Return a short, printable description of a bad input for an error message."""
    if isinstance(value, bool) or not isinstance(value, str | int):
        return "None" if value is None else f"a value of type {type(value).__name__}"
    if isinstance(value, int):
        if abs(value) >= 10**DESCRIBE_LENGTH_MAX:
            return f"a {value.bit_length()}-bit integer"
        return str(value)
    if len(value) > DESCRIBE_LENGTH_MAX:
        return f"{value[:DESCRIBE_LENGTH_MAX]!r}... ({len(value)} characters)"
    return repr(value)


def check_decimals(decimals: object, *, field: str = "decimals") -> int:
    """Check that `decimals` is an int from 0 to `DECIMALS_MAX` and return it.

    Raises:
        AmountError: `decimals` is not an int (a bool is not one) or is out of range.
    """
    if isinstance(decimals, bool) or not isinstance(decimals, int):
        raise AmountError(field, f"an integer from 0 to {DECIMALS_MAX}", describe_value(decimals))
    if not 0 <= decimals <= DECIMALS_MAX:
        raise AmountError(field, f"an integer from 0 to {DECIMALS_MAX}", str(decimals))
    return decimals


def check_amount_base(
    amount_base: object, *, field: str = "amount_base", zero_allowed: bool = False
) -> int:
    """Check that `amount_base` is a base-unit int in range and return it.

    The range is 1 to `AMOUNT_BASE_MAX`, or 0 to `AMOUNT_BASE_MAX` with `zero_allowed`.

    Raises:
        AmountError: `amount_base` is not an int (a bool is not one), is negative, is zero
            without `zero_allowed`, or exceeds `AMOUNT_BASE_MAX`.
    """
    lowest = 0 if zero_allowed else 1
    expected = f"an integer from {lowest} to 2**256 - 1 (base units)"
    if isinstance(amount_base, bool) or not isinstance(amount_base, int):
        raise AmountError(field, expected, describe_value(amount_base))
    if not lowest <= amount_base <= AMOUNT_BASE_MAX:
        raise AmountError(field, expected, describe_value(amount_base))
    return amount_base


def decimal_comma_to_point(text: str, field: str = "amount") -> str:
    """Read a decimal comma as the decimal point where it cannot be a thousands separator.

    People in Kazakhstan write one and a half as `1,5`. A text with exactly one ',', no
    '.', and ASCII digits on both sides is a decimal unless exactly three digits follow the
    comma after a non-zero integer part (`1,500` may be 1.5 or 1500: refused, saying how to
    write either); `0,001` and `12,5` are decimals. Any other text is returned unchanged,
    for `to_base_units` to judge.

    Raises:
        AmountError: the comma is ambiguous.
    """
    if not isinstance(text, str) or text.count(",") != 1 or _DECIMAL_POINT in text:
        return text
    integer_part, _, fraction = text.partition(",")
    if not (integer_part and fraction and set(integer_part + fraction) <= _DIGITS):
        return text
    if len(fraction) == 3 and integer_part.strip("0"):
        raise AmountError(
            field,
            f"an unambiguous amount: write {integer_part}.{fraction} (a decimal comma) or"
            f" {integer_part}{fraction} (a thousands separator)",
            f"{describe_value(text)}, which could be either",
        )
    return f"{integer_part}{_DECIMAL_POINT}{fraction}"


def _display_character_rule(character: str) -> str:
    """Say which display rule a character that is neither a digit nor '.' breaks."""
    if character in "+-\u2212":
        return "no sign (custody amounts are never negative and carry no '+')"
    if character in ",_'\u00a0\u202f\u2009":
        return (
            "no thousands separators (write 1000.5, not 1,000.5) and one decimal separator"
            " ('.' or a single ',': 1.5 or 1,5)"
        )
    if character in "eE":
        return "no exponent (write the digits out)"
    if character.isspace():
        return "no whitespace (no spaces, tabs or line breaks, even at the ends)"
    return "plain decimal notation: ASCII digits 0-9 and at most one '.'"


def _check_display_characters(text: str, field: str) -> None:
    """Refuse any character that is not an ASCII digit or '.', and more than one '.'."""
    for position, character in enumerate(text, start=1):
        if character not in _DIGITS and character != _DECIMAL_POINT:
            raise AmountError(
                field,
                _display_character_rule(character),
                f"{character!r} at character {position} of {describe_value(text)}",
            )
    if text.count(_DECIMAL_POINT) > 1:
        raise AmountError(
            field, "at most one decimal point '.'", f"{text.count('.')} in {describe_value(text)}"
        )


def _check_display_shape(
    integer_part: str, has_point: bool, fraction: str, text: str, field: str
) -> None:
    """Refuse '.5', '1.', and leading zeros in the integer part."""
    if not integer_part:
        raise AmountError(
            field, "a digit before the decimal point (0.5, not .5)", describe_value(text)
        )
    if has_point and not fraction:
        raise AmountError(
            field, "a digit after the decimal point (1 or 1.0, not 1.)", describe_value(text)
        )
    if len(integer_part) > 1 and integer_part[0] == "0":
        raise AmountError(
            field, "no leading zeros (0.5 or 7, not 00.5 or 07)", describe_value(text)
        )


def to_base_units(
    text: str,
    decimals: int,
    *,
    field: str = "amount",
    symbol: str | None = None,
    zero_allowed: bool = False,
) -> int:
    """Convert a display amount to integer base units, exactly.

    `decimals` is the asset's number of decimals (BTC 8, ETH 18, USDT 6); `symbol`, when
    given, names the asset in the too-many-decimals message. See the module docstring for
    the accepted notation.

    Raises:
        AmountError: `decimals` is out of range; `text` is not a string, is empty, longer
            than `DISPLAY_TEXT_LENGTH_MAX`, not plain decimal notation (sign, exponent,
            whitespace, separator, an ambiguous comma such as '1,500', NaN, Infinity, '.5',
            '1.', leading zeros), has more fractional digits than `decimals`, is zero
            without `zero_allowed`, or is more than `AMOUNT_BASE_MAX` base units.
    """
    check_decimals(decimals)
    if not isinstance(text, str):
        raise AmountError(field, "a decimal string such as '0.5'", describe_value(text))
    if not text:
        raise AmountError(field, "a decimal string such as '0.5'", "an empty string")
    if len(text) > DISPLAY_TEXT_LENGTH_MAX:
        raise AmountError(
            field, f"at most {DISPLAY_TEXT_LENGTH_MAX} characters", describe_value(text)
        )
    text = decimal_comma_to_point(text, field)
    _check_display_characters(text, field)
    integer_part, point, fraction = text.partition(_DECIMAL_POINT)
    _check_display_shape(integer_part, bool(point), fraction, text, field)
    if len(fraction) > decimals:
        asset = f"{symbol} has {decimals}" if symbol else f"the asset has {decimals}"
        raise AmountError(
            field,
            f"at most {decimals} decimals ({asset})",
            f"too many decimals: {len(fraction)} in {describe_value(text)}",
        )
    amount_base = int(integer_part) * _SCALES[decimals] + int(fraction.ljust(decimals, "0") or "0")
    if amount_base == 0 and not zero_allowed:
        raise AmountError(field, "an amount greater than zero", describe_value(text))
    if amount_base > AMOUNT_BASE_MAX:
        raise AmountError(
            field, "at most 2**256 - 1 base units (the uint256 range)", describe_value(text)
        )
    return amount_base


def format_base_units(amount_base: int, decimals: int, *, all_decimals: bool = False) -> str:
    """Write base units as canonical display text.

    By default the shortest exact form: trailing fractional zeros are dropped and so is a
    bare '.' ("1", "0.5", "0.00000001"). With `all_decimals`, every decimal is written
    ("1.00000000"). Either form converts back to `amount_base` with `to_base_units`.

    Raises:
        AmountError: `decimals` is out of range, or `amount_base` is not an int from 0 to
            `AMOUNT_BASE_MAX`.
    """
    check_decimals(decimals)
    check_amount_base(amount_base, zero_allowed=True)
    if decimals == 0:
        return str(amount_base)
    integer_part, fraction_base = divmod(amount_base, _SCALES[decimals])
    fraction = str(fraction_base).rjust(decimals, "0")
    if not all_decimals:
        fraction = fraction.rstrip("0")
    return f"{integer_part}.{fraction}" if fraction else str(integer_part)


def format_quantity(quantity: Decimal) -> str:
    """Write a quantity in whole units (a Decimal) as display text people read.

    Plain decimal notation, never an exponent (`Decimal("7.9E-7")` is "0.00000079"), trailing
    fractional zeros and a bare '.' dropped ("0.50000000" is "0.5"): the same form as
    `format_base_units`, for quantities already in whole units. Every quantity the CLI, the
    pages and the reports show goes through one of the two.

    Raises:
        AmountError: `quantity` is not a finite Decimal.
    """
    if not isinstance(quantity, Decimal) or not quantity.is_finite():
        raise AmountError("quantity", "a finite Decimal", describe_value(str(quantity)))
    text = format(quantity, "f")
    if "." in text:
        text = text.rstrip("0").removesuffix(".")
    return "0" if text in ("", "-0") else text


def parse_base_units(text: str, *, field: str = "amount_base", zero_allowed: bool = False) -> int:
    """Read the decimal-string form of base units used in statement bodies.

    ASCII digits only, no leading zeros ("0" alone excepted), at most
    `AMOUNT_BASE_DIGITS_MAX` digits and at most `AMOUNT_BASE_MAX`.

    Raises:
        AmountError: `text` is not a string, is empty, too long, has anything but ASCII
            digits (sign, '.', whitespace, exponent), has a leading zero, is zero without
            `zero_allowed`, or exceeds `AMOUNT_BASE_MAX`.
    """
    expected = "a string of ASCII digits 0-9 (base units, for example '100000000')"
    if not isinstance(text, str):
        raise AmountError(field, expected, describe_value(text))
    if not text:
        raise AmountError(field, expected, "an empty string")
    if len(text) > AMOUNT_BASE_DIGITS_MAX:
        raise AmountError(
            field, f"at most {AMOUNT_BASE_DIGITS_MAX} digits (uint256)", describe_value(text)
        )
    for position, character in enumerate(text, start=1):
        if character not in _DIGITS:
            raise AmountError(
                field, expected, f"{character!r} at character {position} of {describe_value(text)}"
            )
    if len(text) > 1 and text[0] == "0":
        raise AmountError(field, "no leading zeros ('0' alone is zero)", describe_value(text))
    amount_base = int(text)
    return check_amount_base(amount_base, field=field, zero_allowed=zero_allowed)


def base_units_to_text(
    amount_base: int, *, field: str = "amount_base", zero_allowed: bool = False
) -> str:
    """Write base units as the decimal string statement bodies carry; inverse of parsing.

    Raises:
        AmountError: `amount_base` is not an int in range (see `check_amount_base`).
    """
    return str(check_amount_base(amount_base, field=field, zero_allowed=zero_allowed))
