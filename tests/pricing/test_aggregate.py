"""Price aggregation against hand-computed cases: staleness, volume, outliers, stablecoins."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from sequestra.pricing.aggregate import AggregationRules, Quote, price_assets, screen

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


STABLE = [q("kraken", "USDT/USD", "1.0001"), q("okx", "USDC/USD", "0.9999")]


def test_median_of_usd_and_converted_stablecoin_quotes() -> None:
    quotes = [
        *STABLE,
        q("binance", "BTC/USDT", "95000"),
        q("kraken", "BTC/USD", "95020"),
        q("okx", "BTC/USDC", "95010"),
    ]
    prices, rates = price_assets(["BTC"], quotes, RULES, CUTOFF)
    btc = prices["BTC"]
    # 95000 x 1.0001 = 95009.5; 95010 x 0.9999 = 94999.499; 95020: median 95009.5
    assert btc.price_usd == Decimal("95009.5000") and btc.confidence == "high"
    assert rates["USDT"].price_usd == Decimal("1.0001")


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


def test_an_outlier_is_rejected_by_its_distance_in_mads() -> None:
    quotes = [
        q("a", "ETH/USD", "3300"),
        q("b", "ETH/USD", "3301"),
        q("c", "ETH/USD", "3299"),
        q("d", "ETH/USD", "3302"),
        q("e", "ETH/USD", "3600"),
    ]
    prices, _ = price_assets(["ETH"], quotes, RULES, CUTOFF)
    eth = prices["ETH"]
    assert eth.price_usd == Decimal("3300.5")  # median of the four kept
    (outlier,) = [s for s in eth.sources if s.dropped]
    assert outlier.quote.venue == "e" and "outlier" in str(outlier.dropped)


def test_a_depegged_stablecoin_is_priced_and_converts_at_its_own_price() -> None:
    quotes = [
        q("kraken", "USDT/USD", "0.90"),
        q("binance", "BTC/USDT", "100000"),
        q("kraken", "BTC/USD", "90000"),
    ]
    prices, _ = price_assets(["BTC", "USDT"], quotes, RULES, CUTOFF)
    assert prices["USDT"].price_usd == Decimal("0.90")
    assert prices["BTC"].price_usd == Decimal("90000")
    assert prices["BTC"].confidence == "low"


def test_no_usd_market_for_a_stablecoin_drops_its_quotes_unless_a_peg_is_stated() -> None:
    quotes = [q("binance", "BTC/USDT", "95000"), q("okx", "BTC/USDT", "95100")]
    prices, rates = price_assets(["BTC"], quotes, RULES, CUTOFF)
    assert prices["BTC"].price_usd is None
    assert {s.dropped for s in prices["BTC"].sources} == {"no USD price for USDT"}
    pegged = AggregationRules(pegs={"USDT": Decimal(1)})
    prices, rates = price_assets(["BTC"], quotes, pegged, CUTOFF)
    assert prices["BTC"].price_usd == Decimal("95050") and rates["USDT"].confidence == "stated peg"


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
