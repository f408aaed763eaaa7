"""Amounts as people type them (a decimal comma) and read them (one quantity format)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from sequestra.custody.amounts import (
    AmountError,
    decimal_comma_to_point,
    format_base_units,
    format_quantity,
    to_base_units,
)


@pytest.mark.parametrize(
    ("text", "base"),
    [("1,5", 150_000_000), ("0,01", 1_000_000), ("0,001", 100_000), ("12,25", 1_225_000_000)],
)
def test_a_decimal_comma_is_the_decimal_point(text: str, base: int) -> None:
    assert to_base_units(text, 8) == base


@pytest.mark.parametrize("text", ["1,500", "12,345", "999,000"])
def test_a_comma_that_may_separate_thousands_is_refused_saying_how(text: str) -> None:
    with pytest.raises(AmountError) as raised:
        to_base_units(text, 8)
    integer, fraction = text.split(",")
    message = str(raised.value)
    assert message.startswith("amount: expected an unambiguous amount")
    assert f"{integer}.{fraction}" in message
    assert f"{integer}{fraction}" in message


@pytest.mark.parametrize("text", ["1,000.5", "1,2,3", ",5", "5,", "1,5e3", "-1,5"])
def test_other_commas_stay_refused(text: str) -> None:
    with pytest.raises(AmountError):
        to_base_units(text, 8)
    assert decimal_comma_to_point(text) == text or text == "1,000.5"


def test_the_decimal_comma_keeps_the_decimals_rule() -> None:
    with pytest.raises(AmountError, match="at most 8 decimals"):
        to_base_units("0,000000001", 8)


@pytest.mark.parametrize(
    ("quantity", "shown"),
    [
        (Decimal("7.9E-7"), "0.00000079"),
        (Decimal(79).scaleb(-8), "0.00000079"),
        (Decimal(50_000_000).scaleb(-8), "0.5"),
        (Decimal("1E+3"), "1000"),
        (Decimal("10.00"), "10"),
        (Decimal("0E-8"), "0"),
        (Decimal("-0.50"), "-0.5"),
    ],
)
def test_a_quantity_is_fixed_notation_without_trailing_zeros(quantity: Decimal, shown: str) -> None:
    assert format_quantity(quantity) == shown


def test_a_quantity_reads_as_its_base_units_do() -> None:
    for base in (1, 79, 50_000_000, 100_000_000, 123_456_789_012):
        assert format_quantity(Decimal(base).scaleb(-8)) == format_base_units(base, 8)


@pytest.mark.parametrize("quantity", [Decimal("NaN"), Decimal("Infinity")])
def test_a_quantity_that_is_not_a_number_is_refused(quantity: Decimal) -> None:
    with pytest.raises(AmountError, match="quantity"):
        format_quantity(quantity)
