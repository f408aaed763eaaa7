"""The money boundary and the input checks shared by the fund's maths."""

from __future__ import annotations

import math
from decimal import Decimal

import pytest

from sequestra.fund.bounds import (
    FundInputError,
    check_count,
    check_decimal,
    check_float,
    to_cents,
    to_usd_cents,
)


def test_money_leaves_as_cents_rounded_half_even() -> None:
    assert to_usd_cents(Decimal("0.125")) == Decimal("0.12")
    assert to_usd_cents(Decimal("0.135")) == Decimal("0.14")
    assert to_usd_cents(Decimal("-0.125")) == Decimal("-0.12")
    assert to_usd_cents(2.5) == Decimal("2.50")
    # A float is taken at its exact binary value: 0.125 is exact, 1.005 is 1.00499999...
    assert to_cents(0.125) == Decimal("0.12")
    assert to_cents(1.005) == Decimal("1.00")


@pytest.mark.parametrize("bad", [math.nan, math.inf, Decimal("NaN"), Decimal("1e16")])
def test_money_that_is_not_finite_or_too_large_is_refused(bad: float | Decimal) -> None:
    with pytest.raises(FundInputError, match=r"^var_usd: expected a finite amount"):
        to_usd_cents(bad, argument="var_usd")


def test_checks_name_the_argument_and_what_was_expected() -> None:
    with pytest.raises(FundInputError) as raised:
        check_decimal("quantity", Decimal("-1"), minimum=Decimal(0), maximum=Decimal(10))
    assert str(raised.value) == "quantity: expected a Decimal at least 0 and at most 10, got -1"
    with pytest.raises(FundInputError, match=r"^price: expected a Decimal above 0 and at most 5"):
        check_decimal(
            "price", Decimal(0), minimum=Decimal(0), maximum=Decimal(5), minimum_open=True
        )
    with pytest.raises(FundInputError, match=r"got the float 1.0$"):
        check_decimal("price", 1.0, minimum=Decimal(0), maximum=Decimal(5))
    with pytest.raises(FundInputError, match=r"^sigma: expected a number at least 0 and at most 1"):
        check_float("sigma", True, minimum=0.0, maximum=1.0)
    with pytest.raises(FundInputError, match=r"^tranches: expected an integer from 1 to 3, got 4"):
        check_count("tranches", 4, minimum=1, maximum=3)
