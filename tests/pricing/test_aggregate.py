"""Fair value against hand-computed cases: staleness, volume, outliers, the principal market,
levels, the median check, stablecoins from every pair that quotes them, pegs, accessibility,
and every combination of venues down."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from sequestra.fairvalue import (
    MOST_ADVANTAGEOUS,
    PRINCIPAL,
    STATED_PEG,
    AggregationRules,
    Quote,
    price_assets,
    screen,
)

CUTOFF = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
RULES = AggregationRules()


def q(
    venue: str,
    pair: str,
    last: str,
    volume: str = "10",
    age_s: int = 30,
    bid: str | None = None,
    ask: str | None = None,
) -> Quote:
    base, quote = pair.split("/")
    return Quote(
        venue,
        pair,
        base,
        quote,
        Decimal(last),
        Decimal(bid) if bid else None,
        Decimal(ask) if ask else None,
        Decimal(volume),
        CUTOFF - timedelta(seconds=age_s),
    )


STABLE = [
    q("kraken", "USDT/USD", "1.0001", "5000000"),
    q("okx", "USDC/USD", "0.9999", "3000000"),
    q("binance", "USDT/USD", "1.0001", "1000000"),
    q("coinbase", "USDC/USD", "0.9999", "1000000"),
]


def test_the_principal_market_is_the_accessible_one_of_greatest_volume() -> None:
    quotes = [
        *STABLE,
        q("binance", "BTC/USDT", "95000", volume="900"),  # the greatest volume
        q("kraken", "BTC/USD", "95020", volume="300"),
        q("okx", "BTC/USDC", "95010", volume="200"),
    ]
    prices, rates = price_assets(["BTC"], quotes, RULES, CUTOFF)
    btc = prices["BTC"]
    # binance's BTC/USDT at USDT 1.0001: 95000 x 1.0001 = 95009.5, converted: level 2
    assert btc.price_usd == Decimal("95009.5000") and btc.basis == PRINCIPAL
    assert btc.market is not None and (btc.market.quote.venue, btc.market.via) == (
        "binance",
        "USDT",
    )
    assert btc.level == 2 and btc.confidence == "high" and not btc.flagged
    # the median of 95009.5, 95020 and 94999.499 is the check
    assert btc.median_usd == Decimal("95009.5000") and btc.deviation == 0
    assert rates["USDT"].price_usd == Decimal("1.0001") and rates["USDT"].level == 1
    usd_only = AggregationRules(accessible=frozenset({"kraken", "okx"}))
    btc = price_assets(["BTC"], quotes, usd_only, CUTOFF)[0]["BTC"]
    assert btc.price_usd == Decimal("95020") and btc.level == 1  # kraken BTC/USD, quoted in USD


def test_a_tie_for_the_greatest_volume_takes_the_most_advantageous_price() -> None:
    quotes = [
        q("a", "ETH/USD", "3300", "50"),
        q("b", "ETH/USD", "3302", "50"),
        q("c", "ETH/USD", "3301", "10"),
    ]
    eth = price_assets(["ETH"], quotes, RULES, CUTOFF)[0]["ETH"]
    assert eth.price_usd == Decimal("3302") and eth.basis == MOST_ADVANTAGEOUS


def test_a_principal_price_far_from_the_median_is_flagged() -> None:
    quotes = [
        q("a", "ETH/USD", "3250", "10"),
        q("b", "ETH/USD", "3300", "10"),
        q("c", "ETH/USD", "3350", "10"),
        q("d", "ETH/USD", "3400", "99"),  # the principal market, 2.26% above the median
    ]
    eth = price_assets(["ETH"], quotes, RULES, CUTOFF)[0]["ETH"]
    assert eth.price_usd == Decimal("3400") and eth.median_usd == Decimal("3325")
    assert eth.deviation == Decimal(75) / Decimal(3325)
    assert eth.flagged and eth.confidence == "low"  # beyond the default 2%
    loose = AggregationRules(deviation_max=Decimal("0.05"))
    eth = price_assets(["ETH"], quotes, loose, CUTOFF)[0]["ETH"]
    assert not eth.flagged and eth.confidence == "high"


def test_stale_zero_volume_and_absurd_quotes_never_reach_the_price() -> None:
    quotes = [
        *STABLE,
        q("binance", "BTC/USDT", "95000", age_s=3600),
        q("kraken", "BTC/USD", "95020", volume="0"),
        q("okx", "BTC/USDC", "-1"),
        q("bybit", "BTC/USDT", "1e13"),
    ]
    prices, _ = price_assets(["BTC"], quotes, RULES, CUTOFF)
    btc = prices["BTC"]
    assert btc.price_usd is None and btc.confidence == "none"
    reasons = sorted(str(s.dropped).split(":")[0].split(" ")[0] for s in btc.sources)
    assert reasons == ["no", "price", "price", "stale"]


def test_nothing_after_a_past_cutoff_is_used() -> None:
    rules = AggregationRules(future_s_max=0, age_s_max=3600)
    after = q("a", "BTC/USD", "1", age_s=-1)
    assert screen(after, rules, CUTOFF).dropped == "timestamped 1 s after the cutoff"
    assert screen(q("a", "BTC/USD", "1", age_s=0), rules, CUTOFF).dropped is None


def test_an_outlier_is_rejected_by_its_distance_in_mads() -> None:
    quotes = [
        q("a", "ETH/USD", "3300"),
        q("b", "ETH/USD", "3301"),
        q("c", "ETH/USD", "3299"),
        q("d", "ETH/USD", "3302"),
        q("e", "ETH/USD", "3600", volume="1000"),  # the biggest market, but an outlier
    ]
    prices, _ = price_assets(["ETH"], quotes, RULES, CUTOFF)
    eth = prices["ETH"]
    assert eth.median_usd == Decimal("3300.5")  # median of the four kept
    assert eth.price_usd == Decimal("3302")  # a four-way volume tie: the most advantageous
    (outlier,) = [s for s in eth.sources if s.dropped]
    assert outlier.quote.venue == "e" and "outlier" in str(outlier.dropped)


def test_a_depegged_stablecoin_is_priced_and_converts_at_its_own_price() -> None:
    quotes = [
        q("kraken", "USDT/USD", "0.90"),
        q("bitstamp", "USDT/USD", "0.90"),
        q("binance", "BTC/USDT", "100000", volume="50"),
        q("kraken", "BTC/USD", "90000"),
    ]
    prices, _ = price_assets(["BTC", "USDT"], quotes, RULES, CUTOFF)
    assert prices["USDT"].price_usd == Decimal("0.90")
    assert prices["BTC"].price_usd == Decimal("90000.00")  # 100000 x 0.90 at binance
    assert prices["BTC"].confidence == "low"  # two venues


def test_stablecoins_are_priced_from_every_pair_that_quotes_them() -> None:
    """One venue has USD markets; three have USDC/USDT: both coins reach two venues and
    more, by the documented minimum of two, with no special case."""
    quotes = [
        q("kraken", "USDT/USD", "1.0002", "100"),
        q("kraken", "USDC/USD", "0.9998", "100"),
        q("binance", "USDC/USDT", "0.9996", "900"),
        q("okx", "USDC/USDT", "0.9997", "800"),
        q("kraken", "USDC/USDT", "0.9996", "50"),
    ]
    prices, _ = price_assets(["USDT", "USDC"], quotes, RULES, CUTOFF)
    usdc, usdt = prices["USDC"], prices["USDT"]
    # USDC: principal binance USDC/USDT 0.9996 x USDT's direct 1.0002 (level 2)
    assert usdc.price_usd == Decimal("0.9996") * Decimal("1.0002") and usdc.level == 2
    assert usdc.confidence == "high" and usdc.market is not None
    # USDT: principal binance USDC/USDT, USDC's direct 0.9998 / 0.9996
    assert usdt.price_usd == Decimal("0.9998") / Decimal("0.9996")
    assert {s.quote.venue for s in usdt.used} == {"binance", "okx", "kraken"}


def test_no_usd_market_for_a_stablecoin_drops_its_quotes_unless_a_peg_is_stated() -> None:
    quotes = [q("binance", "BTC/USDT", "95000"), q("okx", "BTC/USDT", "95100")]
    prices, _ = price_assets(["BTC", "USDT"], quotes, RULES, CUTOFF)
    assert prices["BTC"].price_usd is None and prices["USDT"].price_usd is None
    assert {s.dropped for s in prices["BTC"].sources} == {"no USD price for USDT"}
    pegged = AggregationRules(pegs={"USDT": Decimal(1)})
    prices, _ = price_assets(["BTC", "USDT"], quotes, pegged, CUTOFF)
    assert prices["BTC"].price_usd == Decimal("95100") and prices["BTC"].level == 2
    peg = prices["USDT"]
    assert (peg.price_usd, peg.confidence, peg.basis, peg.level) == (
        Decimal(1),
        STATED_PEG,
        STATED_PEG,
        2,
    )
    assert peg.market is None


def test_no_accessible_venue_leaves_the_asset_unpriced_saying_so() -> None:
    quotes = [q("a", "ETH/USD", "3300"), q("b", "ETH/USD", "3301")]
    eth = price_assets(["ETH"], quotes, AggregationRules(accessible=frozenset({"c"})), CUTOFF)[0]
    assert eth["ETH"].price_usd is None and "no accessible venue (c)" in str(eth["ETH"].reason)


VENUES = ("binance", "kraken", "okx")


def _demo_quotes(down: frozenset[str]) -> list[Quote]:
    """The sandbox's listings: USD markets only on kraken; USDT and USDC pairs elsewhere."""
    every = [
        q("kraken", "USDT/USD", "1.0001", "900"),
        q("kraken", "USDC/USD", "0.9999", "900"),
        q("kraken", "BTC/USD", "95020", "40"),
        q("kraken", "BTC/USDT", "95010", "10"),
        q("kraken", "USDC/USDT", "0.9998", "100"),
        q("binance", "BTC/USDT", "95000", "90"),
        q("binance", "BTC/USDC", "95015", "30"),
        q("binance", "USDC/USDT", "0.9998", "800"),
        q("okx", "BTC/USDT", "95005", "60"),
        q("okx", "USDC/USDT", "0.9997", "700"),
    ]
    return [quote for quote in every if quote.venue not in down]


@pytest.mark.parametrize(
    "down",
    [frozenset(c) for n in range(len(VENUES) + 1) for c in itertools.combinations(VENUES, n)],
    ids=lambda down: "+".join(sorted(down)) or "none",
)
def test_every_combination_of_venues_down(down: frozenset[str]) -> None:
    """What is priced is exactly what the rules allow from the venues still up: never a
    price from fewer than two venues, never from a venue that is down, and one venue down
    never stops what the others can do."""
    pegged = AggregationRules(pegs={"USDT": Decimal(1), "USDC": Decimal(1)})
    for rules in (RULES, pegged):
        prices, _ = price_assets(["BTC", "USDT", "USDC"], _demo_quotes(down), rules, CUTOFF)
        up = set(VENUES) - down
        for symbol, price in prices.items():
            venues = {s.quote.venue for s in price.used}
            assert venues <= up, (symbol, venues)
            if price.basis == STATED_PEG:
                assert rules.pegs and price.price_usd == 1
            elif price.price_usd is not None:
                assert len(venues) >= 2 and price.market is not None
                assert price.market.quote.venue in up
        if "kraken" not in down and len(up) >= 2:  # the only USD markets, and a second venue
            assert all(p.price_usd is not None for p in prices.values()), prices
        elif len(up) >= 2 and rules.pegs:  # no USD market: stated pegs carry BTC
            assert prices["BTC"].price_usd is not None and prices["BTC"].level == 2
        else:
            assert prices["BTC"].price_usd is None


def test_mid_and_bid_price_types() -> None:
    quote = q("kraken", "BTC/USD", "95000", bid="94990", ask="95010")
    assert screen(quote, AggregationRules(price_type="mid"), CUTOFF).price == Decimal("95000")
    assert screen(quote, AggregationRules(price_type="bid"), CUTOFF).price == Decimal("94990")
    crossed = q("kraken", "BTC/USD", "95000", bid="95020", ask="95010")
    assert screen(crossed, AggregationRules(price_type="mid"), CUTOFF).dropped == "no mid price"


def test_configured_pairs_replace_the_default_ones() -> None:
    from sequestra.pricing.run import pairs_for

    default = pairs_for(["BTC"])
    assert {"BTC/USD", "BTC/USDT", "BTC/USDC", "USDT/USD", "USDC/USD"} <= set(default)
    configured = pairs_for(["BTC", "ETH"], {"BTC": ["BTC/USD"]})
    assert "BTC/USDT" not in configured and "BTC/USD" in configured and "ETH/USDT" in configured
