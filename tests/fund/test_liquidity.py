"""Liquidity: average volume, days to exit, square-root impact and the book walk by hand."""

from __future__ import annotations

from decimal import Decimal

import pytest

from sequestra.fund.bounds import FundInputError
from sequestra.fund.liquidity import (
    average_daily_volume,
    days_to_exit,
    impact_cost_usd,
    square_root_impact,
    walk_bids,
)

BIDS = [
    (Decimal("100"), Decimal("1")),
    (Decimal("99"), Decimal("2")),
    (Decimal("97"), Decimal("3")),
]


def test_average_daily_volume_over_the_last_days() -> None:
    volumes = [Decimal(v) for v in ("1000", "10", "20", "0")]
    assert average_daily_volume(volumes, unit="base", window_days=3) == Decimal("10.00000000")
    assert average_daily_volume(volumes, unit="base", window_days=4) == Decimal("257.5")
    usd = [Decimal("1.00"), Decimal("1.01")]  # mean 1.005 -> 1.00 (half even)
    assert average_daily_volume(usd, unit="usd", window_days=2) == Decimal("1.00")


def test_days_to_exit_at_ten_percent_of_volume() -> None:
    # 1,000 units at 10% of 3,000 a day: 300 a day, 3.33... days, 4 whole days.
    estimate = days_to_exit(Decimal(1000), Decimal(3000), participation=Decimal("0.10"))
    assert estimate.days == Decimal("3.34")
    assert estimate.whole_days == 4
    exact = days_to_exit(Decimal(600), Decimal(3000), participation=Decimal("0.10"))
    assert (exact.days, exact.whole_days) == (Decimal("2.00"), 2)


def test_square_root_impact_by_hand() -> None:
    # sigma 4% a day, Y = 1, a quarter of a day's volume: 0.04 x 1 x sqrt(0.25) = 2%.
    assert square_root_impact(0.04, Decimal(250), Decimal(1000)) == pytest.approx(0.02)
    cost = impact_cost_usd(Decimal("1000000.00"), 0.04, Decimal(250), Decimal(1000))
    assert cost == Decimal("20000.00")
    # Y = 0.7, four days' volume: 0.03 x 0.7 x 2 = 4.2% of 123,456.78 = 5,185.18476 -> 5,185.18.
    cost = impact_cost_usd(
        Decimal("123456.78"), 0.03, Decimal(4000), Decimal(1000), impact_constant=0.7
    )
    assert cost == Decimal("5185.18")


def test_book_walk_over_three_levels_by_hand() -> None:
    walk = walk_bids(BIDS, Decimal(4))
    # 1 at 100 + 2 at 99 + 1 at 97 = 395; average 98.75; against the best bid 400 - 395 = 5.
    assert walk.proceeds_usd == Decimal("395.00")
    assert walk.average_price_usd == Decimal("98.75")
    assert walk.shortfall_usd == Decimal("5.00")
    assert (walk.filled, walk.unfilled, walk.levels_used) == (Decimal(4), Decimal(0), 3)
    assert walk.deep_enough
    against_mid = walk_bids(BIDS, Decimal(4), reference_price_usd=Decimal("100.5"))
    assert against_mid.shortfall_usd == Decimal("7.00")


def test_book_too_thin() -> None:
    walk = walk_bids(BIDS, Decimal(10))
    # Everything fills: 100 + 198 + 291 = 589 for 6; 4 are left unsold.
    assert not walk.deep_enough
    assert (walk.filled, walk.unfilled) == (Decimal(6), Decimal(4))
    assert walk.proceeds_usd == Decimal("589.00")
    assert walk.average_price_usd == Decimal("98.166666666667")
    assert walk.shortfall_usd == Decimal("11.00")
    empty = walk_bids([], Decimal(1))
    assert not empty.deep_enough and empty.average_price_usd is None
    assert empty.proceeds_usd == Decimal("0.00")


@pytest.mark.parametrize(
    ("call", "argument"),
    [
        (lambda: walk_bids(BIDS, Decimal("-1")), "quantity"),
        (lambda: walk_bids(BIDS, Decimal(0)), "quantity"),
        (lambda: walk_bids(list(reversed(BIDS)), Decimal(1)), "bids[1].price"),
        (lambda: walk_bids([(Decimal(1), Decimal(0))], Decimal(1)), "bids[0].amount"),
        (lambda: walk_bids([(Decimal(0), Decimal(1))], Decimal(1)), "bids[0].price"),
        (lambda: walk_bids([(Decimal(1),)], Decimal(1)), "bids[0]"),  # type: ignore[list-item]
        (
            lambda: walk_bids(BIDS, Decimal(1), reference_price_usd=Decimal(0)),
            "reference_price_usd",
        ),
        (lambda: days_to_exit(Decimal(-5), Decimal(1)), "quantity"),
        (lambda: days_to_exit(Decimal(5), Decimal(0)), "adv"),
        (lambda: days_to_exit(Decimal(5), Decimal(1), participation=Decimal(0)), "participation"),
        (lambda: days_to_exit(Decimal(5), Decimal(1), participation=Decimal(2)), "participation"),
        (lambda: square_root_impact(-0.1, Decimal(1), Decimal(1)), "sigma_daily"),
        (
            lambda: square_root_impact(0.1, Decimal(1), Decimal(1), impact_constant=0),
            "impact_constant",
        ),
        (lambda: impact_cost_usd(Decimal("-1"), 0.1, Decimal(1), Decimal(1)), "value_usd"),
        (lambda: average_daily_volume([], unit="base"), "volumes"),
        (lambda: average_daily_volume([Decimal(1)] * 30, unit="eur"), "unit"),  # type: ignore[arg-type]
        (lambda: average_daily_volume([Decimal(-1)] * 30, unit="base"), "volumes[-30]"),
        (lambda: average_daily_volume([Decimal(1)], unit="base", window_days=0), "window_days"),
    ],
)
def test_refuses_bad_input_naming_the_argument(call: object, argument: str) -> None:
    assert callable(call)
    with pytest.raises(FundInputError) as raised:
        call()
    assert raised.value.argument == argument
    assert str(raised.value).startswith(f"{argument}: expected ")
