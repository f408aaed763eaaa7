"""Exposure: values in USD and KZT to the cent, weights, concentration, refusals."""

from __future__ import annotations

from decimal import Decimal

import pytest

from sequestra.fund.bounds import ASSETS_MAX, FundInputError
from sequestra.fund.exposure import Position, effective_assets, exposure, herfindahl_index


def test_values_weights_and_totals_by_hand() -> None:
    positions = [
        Position("bitcoin:BTC", Decimal("2"), Decimal("60000")),
        Position("ethereum:ETH", Decimal("10"), Decimal("3000")),
        Position("ethereum:USDT", Decimal("30000"), Decimal("1")),
    ]
    result = exposure(positions, usd_kzt=Decimal("500"))
    assert [line.value_usd for line in result.assets] == [
        Decimal("120000.00"),
        Decimal("30000.00"),
        Decimal("30000.00"),
    ]
    assert result.total_usd == Decimal("180000.00")
    assert result.total_kzt == Decimal("90000000.00")
    assert [line.weight for line in result.assets] == pytest.approx([2 / 3, 1 / 6, 1 / 6])
    assert result.herfindahl_index == pytest.approx(4 / 9 + 1 / 36 + 1 / 36)
    assert result.effective_assets == pytest.approx(2.0)


def test_values_round_half_even_to_the_cent_and_totals_add_the_lines() -> None:
    positions = [
        Position("a", Decimal("1"), Decimal("0.125")),  # 0.125 -> 0.12
        Position("b", Decimal("1"), Decimal("0.135")),  # 0.135 -> 0.14
        Position("c", Decimal("0.00000001"), Decimal("123456.789")),  # 0.00123... -> 0.00
    ]
    result = exposure(positions)
    assert [line.value_usd for line in result.assets] == [
        Decimal("0.12"),
        Decimal("0.14"),
        Decimal("0.00"),
    ]
    assert result.total_usd == Decimal("0.26")
    assert result.total_kzt is None and result.assets[0].value_kzt is None


def test_kzt_value_is_taken_from_the_exact_usd_value() -> None:
    # 0.005 USD exact x 501 = 2.505 KZT -> 2.50 (half even); from the rounded 0.00 USD it
    # would be 0.00.
    positions = [
        Position("a", Decimal("1"), Decimal("0.005")),
        Position("b", Decimal("1"), Decimal("1")),
    ]
    result = exposure(positions, usd_kzt=Decimal("501"))
    assert [line.value_usd for line in result.assets] == [Decimal("0.00"), Decimal("1.00")]
    assert [line.value_kzt for line in result.assets] == [Decimal("2.50"), Decimal("501.00")]
    assert result.total_kzt == Decimal("503.50")


@pytest.mark.parametrize("count", [1, 2, 5, 40])
def test_equal_weights_hhi_is_one_over_n_and_effective_number_is_n(count: int) -> None:
    positions = [Position(f"asset-{i}", Decimal(3), Decimal(7)) for i in range(count)]
    result = exposure(positions)
    assert result.herfindahl_index == pytest.approx(1 / count)
    assert result.effective_assets == pytest.approx(count)
    weights = [1 / count] * count
    assert herfindahl_index(weights) == pytest.approx(1 / count)
    assert effective_assets(weights) == pytest.approx(count)


@pytest.mark.parametrize(
    ("positions", "argument"),
    [
        ([Position("a", Decimal("-1"), Decimal(1))], "positions[0].quantity"),
        ([Position("a", Decimal(1), Decimal("-0.01"))], "positions[0].price_usd"),
        ([Position("a", 1.5, Decimal(1))], "positions[0].quantity"),  # type: ignore[arg-type]
        ([Position("a", Decimal("NaN"), Decimal(1))], "positions[0].quantity"),
        ([Position("", Decimal(1), Decimal(1))], "positions[0].asset_id"),
        ([Position("a", Decimal(1), Decimal(1))] * 2, "positions"),
        ([], "positions"),
        ([Position("a", Decimal(0), Decimal(1))], "positions"),
        (["BTC"], "positions[0]"),
    ],
)
def test_refuses_bad_positions_naming_the_argument(
    positions: list[Position], argument: str
) -> None:
    with pytest.raises(FundInputError) as raised:
        exposure(positions)
    assert raised.value.argument == argument
    assert str(raised.value).startswith(f"{argument}: expected ")


def test_refuses_too_many_assets() -> None:
    positions = [Position(f"a{i}", Decimal(1), Decimal(1)) for i in range(ASSETS_MAX + 1)]
    with pytest.raises(FundInputError, match=r"^positions: expected from 1 to 1000 positions"):
        exposure(positions)


def test_refuses_a_bad_rate() -> None:
    with pytest.raises(FundInputError, match=r"^usd_kzt: expected a Decimal"):
        exposure([Position("a", Decimal(1), Decimal(1))], usd_kzt=Decimal(0))


def test_refuses_weights_that_do_not_sum_to_one() -> None:
    with pytest.raises(FundInputError, match=r"^weights: expected weights summing to 1"):
        herfindahl_index([0.5, 0.4])
    with pytest.raises(FundInputError, match=r"^weights: expected non-negative"):
        herfindahl_index([1.5, -0.5])
