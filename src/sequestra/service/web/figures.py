"""How the pages write figures: money from `Decimal` with thousands separators, prices and
quantities exactly as recorded, never through a float."""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation
from typing import Final

CENT: Final = Decimal("0.01")


def as_decimal(value: Decimal | str | int) -> Decimal:
    """The value as a Decimal; raises ValueError naming the text when it is not a number."""
    if isinstance(value, Decimal):
        return value
    try:
        return Decimal(value)
    except InvalidOperation:
        raise ValueError(f"figure: expected a decimal number, got {value!r:.40}") from None


def money(value: Decimal | str | int | None) -> str:
    """A fiat amount to the cent, half-even, with thousands separators ("1,234.50")."""
    if value is None:
        return "-"
    return format(as_decimal(value).quantize(CENT, ROUND_HALF_EVEN), ",.2f")


def exact(value: Decimal | str | int | None) -> str:
    """A price, rate or quantity with every recorded digit and thousands separators."""
    if value is None:
        return "-"
    number = as_decimal(value)
    if number == number.to_integral_value():
        return format(number.quantize(Decimal(1)), ",f")
    return format(number.normalize(), ",f")


def percent(fraction: float | None, places: int = 2) -> str:
    """A weight (a float by design: the exposure module computes weights as floats)."""
    if fraction is None:
        return "-"
    return f"{fraction * 100:.{places}f}%"
