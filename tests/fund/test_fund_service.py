"""The fund service's pure parts: a sale's figures (exact, then 0.01 half-even once) and the
bodies built from typed input, refused with the field named."""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction

import pytest

from sequestra.custody.service import InputError
from sequestra.fund import service
from sequestra.fund.queries import Fill


def _fill(amount_base: int, price: str, fee: str = "0") -> Fill:
    return Fill(1, "binance", amount_base, Decimal(price), Decimal(fee), "", "o", "ab" * 32)


def test_figures_are_exact_then_rounded_half_even_once() -> None:
    # 0.5 BTC at 60,000.005 = 30,000.0025 and 1 BTC at 61,000.0025: 91,000.005 exactly,
    # which rounds half to even, down to 91,000.00.
    figures = service.proceeds(
        [_fill(50_000_000, "60000.005", "0.125"), _fill(100_000_000, "61000.0025", "0.01")], 8
    )
    assert figures.sold_base == 150_000_000
    assert figures.proceeds_usd == Decimal("91000.00")
    assert figures.fees_usd == Decimal("0.14")  # 0.135 -> 0.14 (half to even)
    assert figures.net_proceeds_usd == Decimal("90999.86")
    assert figures.average_price_usd == Decimal("60666.67")  # 60,666.67 (.6666...)
    valued = service.benchmark(figures, 8, 7, "2026-01-01T00:00:00Z", Decimal("59000"))
    assert (valued.value_usd, valued.difference_usd, valued.net_difference_usd) == (
        Decimal("88500.00"),
        Decimal("2500.00"),
        Decimal("2499.86"),
    )


def test_figures_of_large_ether_amounts_stay_exact() -> None:
    """78-digit base units at a 12-decimal price: beyond the default 28 digits of Decimal."""
    amount_base = 10**77 + 123_456_789
    price = "3456.789012345678"
    figures = service.proceeds([_fill(amount_base, price)], 18)
    exact = Fraction(amount_base, 10**18) * Fraction(price)
    cents = round(exact * 100)  # Python rounds half to even
    assert figures.proceeds_usd == Decimal(cents).scaleb(-2)


def test_nothing_sold_has_no_average() -> None:
    figures = service.proceeds([], 8)
    assert (figures.proceeds_usd, figures.average_price_usd) == (Decimal("0.00"), None)


@pytest.mark.parametrize("text", ["-1", "1e3", "60,000", "1.1234567890123", "01", "", " 5"])
def test_money_is_refused_unless_plain_digits(text: str) -> None:
    with pytest.raises(InputError, match=r"^price_usd: expected a decimal figure"):
        service.money(text, "price_usd")


def test_policy_body_from_typed_bands_and_venues() -> None:
    body = service.policy_body(["100000:1", "10000000.50:2"], 3600, ["Binance", "kraken"])
    assert body == {
        "bands": [
            {"up_to_usd": "100000", "approvals_min": 1},
            {"up_to_usd": "10000000.50", "approvals_min": 2},
        ],
        "approval_valid_s": 3600,
        "venues": ["binance", "kraken"],
    }
    with pytest.raises(InputError, match=r"^bands\[1\]: expected UP_TO_USD:APPROVALS"):
        service.policy_body(["100000:1", "200000:17"], 3600, ["binance"])
    with pytest.raises(InputError, match=r"^venues\[0\]: expected a venue id"):
        service.policy_body(["100000:1"], 3600, ["bin ance"])
