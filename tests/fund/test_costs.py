"""A sale's cost beyond impact: the widest half-spread of the licensed venues' quotes, the
highest taker fee ccxt gives for them, and stated defaults where neither is known."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from sequestra.fund.costs import (
    HALF_SPREAD_DEFAULT,
    TAKER_FEE_RATE_DEFAULT,
    TradingCosts,
    highest_taker_fee,
    trading_costs,
    widest_half_spread,
)
from sequestra.pricing.venues import VenueError


@dataclass
class Quoted:
    """The fields of a recorded quote the costs read (`pricing.projection.QuoteRow`)."""

    venue: str
    pair: str
    bid: str
    ask: str
    dropped: str = ""


def test_the_widest_half_spread_of_the_licensed_venues() -> None:
    quotes = [
        Quoted("kraken", "BTC/USD", "99990", "100010"),  # 20 over 200000: 0.0001
        Quoted("binance", "BTC/USDT", "99950", "100050"),  # 0.0005
        Quoted("okx", "BTC/USDT", "99000", "101000"),  # wider, but okx is not licensed
        Quoted("binance", "BTC/USDC", "90000", "110000", dropped="outlier"),
        Quoted("kraken", "ETH/USD", "1000", "1100"),  # another asset
        Quoted("kraken", "BTC/EUR", "1", "2"),  # not a USD pair
        Quoted("binance", "BTC/USD", "", ""),  # a past close: no bid or ask
    ]
    found = widest_half_spread(quotes, "BTC", ("binance", "kraken"))  # type: ignore[arg-type]
    assert found == (Decimal("0.0005"), "binance:BTC/USDT")
    assert widest_half_spread(quotes, "BTC", ()) is None  # type: ignore[arg-type]


@dataclass
class Exchange:
    markets: dict[str, Any] = field(default_factory=dict)


@dataclass
class Venue:
    venue: str
    markets: dict[str, Any]
    down: bool = False
    exchange: Exchange = field(default_factory=Exchange)

    def listed(self, pairs: list[str]) -> list[str]:
        if self.down:
            raise VenueError(self.venue, "RequestTimeout")
        self.exchange.markets = self.markets
        return [pair for pair in pairs if pair in self.markets]


def test_the_highest_taker_fee_of_the_licensed_venues_from_ccxt_markets() -> None:
    venues = [
        Venue("binance", {"BTC/USDT": {"taker": 0.001}}),
        Venue("kraken", {"BTC/USD": {"taker": 0.0026}, "BTC/USDT": {"taker": None}}),
        Venue("okx", {"BTC/USDT": {"taker": 0.0015}}),  # not licensed
        Venue("bitstamp", {}, down=True),
    ]
    licensed = ("binance", "kraken", "bitstamp")
    found = highest_taker_fee(venues, "BTC", licensed)  # type: ignore[arg-type]
    assert found == (Decimal("0.0026"), "kraken:BTC/USD")
    assert highest_taker_fee(venues, "BTC", ("okx",)) == (  # type: ignore[arg-type]
        Decimal("0.0015"),
        "okx:BTC/USDT",
    )
    assert highest_taker_fee([], "BTC", licensed) is None


def test_defaults_are_stated_as_defaults() -> None:
    costs = trading_costs(None, None, valuation_seq=7)
    assert (costs.half_spread, costs.taker_fee_rate) == (
        HALF_SPREAD_DEFAULT,
        TAKER_FEE_RATE_DEFAULT,
    )
    assert costs.half_spread_source.startswith("default")
    assert costs.taker_fee_source.startswith("default")
    found = trading_costs(
        (Decimal("0.0005"), "binance:BTC/USDT"),
        (Decimal("0.001"), "binance:BTC/USDT"),
        valuation_seq=7,
    )
    assert found.half_spread_source == "binance:BTC/USDT, valuation seq 7"
    assert found.to_json() == {
        "half_spread": "0.0005",
        "half_spread_source": "binance:BTC/USDT, valuation seq 7",
        "taker_fee_rate": "0.001",
        "taker_fee_source": "binance:BTC/USDT",
    }


def test_the_cost_is_the_value_times_half_spread_plus_fee_in_cents() -> None:
    """The reviewed sale: 2.08 BTC worth USD 124,800 paid USD 124.89 in fees; half a 10 bp
    spread and a 10 bp fee cost USD 187.20, not USD 0.52."""
    costs = TradingCosts(Decimal("0.0005"), "x", Decimal("0.001"), "y")
    assert costs.rate == Decimal("0.0015")
    assert costs.cost_usd(Decimal("124800.00")) == Decimal("187.20")
    assert costs.cost_usd(Decimal("0.01")) == Decimal("0.00")  # 0.000015: half-even to 0
