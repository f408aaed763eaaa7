"""Named bounds, the input error and the money boundary shared by the State Fund's risk maths.

Statistics (returns, volatilities, correlations, quantiles) are computed in float64; every
money figure the maths returns leaves through `to_usd_cents` (or `to_cents`): a `Decimal`
quantised to 0.01 with ROUND_HALF_EVEN. Money that comes in (prices, values) must be a
`Decimal`; a float is refused, so no binary rounding creeps into an input.
"""

from __future__ import annotations

import math
from contextlib import AbstractContextManager
from decimal import ROUND_HALF_EVEN, Context, Decimal, localcontext
from typing import Final

from sequestra.errors import InputRefused

ASSETS_MAX: Final = 1_000
DAYS_MAX: Final = 4_000  # daily observations per series (about eleven years)
TRANCHES_MAX: Final = 1_000
BOOK_LEVELS_MAX: Final = 10_000
SCENARIOS_MAX: Final = 100
MONEY_MAX: Final = Decimal("1e15")  # USD (or KZT) per figure; above is a broken input
QUANTITY_MAX: Final = Decimal("1e18")  # units of an asset; above is a broken input
CENT: Final = Decimal("0.01")
ASSET_ID_LENGTH_MAX: Final = 64
DESCRIBE_LENGTH_MAX: Final = 40
EXACT_DIGITS: Final = 160  # products of bounded Decimals stay exact at this precision
_EXACT: Final = Context(prec=EXACT_DIGITS, rounding=ROUND_HALF_EVEN)


class FundInputError(InputRefused):
    """An argument to the fund's maths is not acceptable.

    `argument` names the offending input (`positions[2].quantity`, `closes`, ...);
    `expected` and `got` are the two halves of the message.
    """

    def __init__(self, argument: str, expected: str, got: str) -> None:
        super().__init__(argument, expected, got)
        self.argument = argument
        self.expected = expected
        self.got = got

    def __str__(self) -> str:
        return f"{self.argument}: expected {self.expected}, got {self.got}"


def describe(value: object) -> str:
    """Return a short, printable description of a bad input for an error message."""
    if isinstance(value, bool) or not isinstance(value, str | int | float | Decimal):
        return "None" if value is None else f"a value of type {type(value).__name__}"
    text = repr(value) if isinstance(value, str) else str(value)
    if isinstance(value, float):
        text = f"the float {text}"
    if len(text) > DESCRIBE_LENGTH_MAX:
        return f"{text[:DESCRIBE_LENGTH_MAX]}... ({len(text)} characters)"
    return text


def check_decimal(
    argument: str,
    value: object,
    *,
    minimum: Decimal,
    maximum: Decimal,
    minimum_open: bool = False,
) -> Decimal:
    """Return `value` if it is a finite Decimal within [minimum, maximum].

    With `minimum_open` the minimum itself is refused (a positive amount, for instance).

    Raises:
        FundInputError: `value` is not a Decimal, not finite, or out of bounds.
    """
    low = "above" if minimum_open else "at least"
    expected = f"a Decimal {low} {minimum} and at most {maximum}"
    if not isinstance(value, Decimal) or not value.is_finite():
        raise FundInputError(argument, expected, describe(value))
    if value > maximum or value < minimum or (minimum_open and value == minimum):
        raise FundInputError(argument, expected, describe(value))
    return value


def check_float(
    argument: str,
    value: object,
    *,
    minimum: float,
    maximum: float,
    minimum_open: bool = False,
) -> float:
    """Return `value` as a float if it is a finite real number within [minimum, maximum].

    Ints and Decimals are accepted for statistics (volatility, impact constants); bools
    are not. With `minimum_open` the minimum itself is refused.

    Raises:
        FundInputError: `value` is not a number, not finite, or out of bounds.
    """
    low = "above" if minimum_open else "at least"
    expected = f"a number {low} {minimum:g} and at most {maximum:g}"
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
        raise FundInputError(argument, expected, describe(value))
    number = float(value)
    if not math.isfinite(number) or number > maximum or number < minimum:
        raise FundInputError(argument, expected, describe(value))
    if minimum_open and number == minimum:
        raise FundInputError(argument, expected, describe(value))
    return number


def check_count(argument: str, value: object, *, minimum: int, maximum: int) -> int:
    """Return `value` if it is an int within [minimum, maximum] (not a bool).

    Raises:
        FundInputError: `value` is not an int or out of bounds.
    """
    if isinstance(value, bool) or not isinstance(value, int):
        raise FundInputError(argument, f"an integer from {minimum} to {maximum}", describe(value))
    if value < minimum or value > maximum:
        raise FundInputError(argument, f"an integer from {minimum} to {maximum}", describe(value))
    return value


def check_size(argument: str, size: int, *, minimum: int, maximum: int, unit: str) -> None:
    """Refuse a collection of `size` items outside [minimum, maximum].

    Raises:
        FundInputError: naming the bounds and the size that came.
    """
    if size < minimum or size > maximum:
        expected = f"from {minimum} to {maximum} {unit}"
        raise FundInputError(argument, expected, f"{size} {unit}")


def check_asset_id(argument: str, value: object) -> str:
    """Return `value` if it is a non-empty string of at most `ASSET_ID_LENGTH_MAX` characters.

    Raises:
        FundInputError: `value` is not such a string.
    """
    if not isinstance(value, str) or not value or len(value) > ASSET_ID_LENGTH_MAX:
        expected = f"an asset id of 1 to {ASSET_ID_LENGTH_MAX} characters"
        raise FundInputError(argument, expected, describe(value))
    return value


def check_unique(
    argument: str, names: tuple[str, ...], *, expected: str = "each asset once"
) -> None:
    """Refuse a list of asset ids (or other names) that repeats one.

    Raises:
        FundInputError: naming the first repeated name.
    """
    seen: set[str] = set()
    for name in names:
        if name in seen:
            raise FundInputError(argument, expected, f"{name!r} twice")
        seen.add(name)


def multiply_exact(left: Decimal, right: Decimal) -> Decimal:
    """Return left x right without rounding (both bounded, so the product fits EXACT_DIGITS)."""
    return _EXACT.multiply(left, right)


def exact_context() -> AbstractContextManager[Context]:
    """Return a context manager under which sums and products of bounded Decimals are exact."""
    return localcontext(_EXACT)


def to_cents(amount: Decimal | float, *, argument: str = "amount") -> Decimal:
    """Quantise a money figure to 0.01 with ROUND_HALF_EVEN (the one rounding of the maths).

    A float is taken at its exact binary value before rounding, so the result does not
    depend on how the float would be printed.

    Raises:
        FundInputError: `amount` is not finite or beyond `MONEY_MAX` (a computation went wrong).
    """
    exact = amount if isinstance(amount, Decimal) else Decimal(amount)
    if not exact.is_finite() or abs(exact) > MONEY_MAX:
        raise FundInputError(argument, f"a finite amount within {MONEY_MAX}", describe(amount))
    return exact.quantize(CENT, rounding=ROUND_HALF_EVEN)


def to_usd_cents(amount: Decimal | float, *, argument: str = "amount_usd") -> Decimal:
    """Quantise a USD figure to cents; see `to_cents`."""
    return to_cents(amount, argument=argument)
