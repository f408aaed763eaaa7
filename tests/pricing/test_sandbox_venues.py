"""Valuations through ccxt's real exchange classes against the sandbox venues, on both
databases: one ticker request per venue, a venue down, every venue down, an outlier, a
stablecoin depeg, and a historical cutoff from daily candles."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal

import pytest

from sequestra.ledger.keys import SigningKey
from sequestra.ledger.verify import verify_ledger
from sequestra.pricing.fx import FixedRate
from sequestra.pricing.projection import read_quotes
from sequestra.pricing.run import PricingError, Valuer
from sequestra.pricing.venues import CcxtVenue
from sequestra_sandbox.venues import (
    Outage,
    QuoteFault,
    Scenario,
    VenueFault,
    running_venues,
    usd_price,
)
from sequestra_sandbox.venues.client import VENUE_OPTIONS
from sequestra_sandbox.venues.server import VenueServers
from tests.composed import RULES
from tests.custody.conftest import ETH_1, Custody, custody  # noqa: F401

VENUES = ("binance", "kraken", "okx")


@pytest.fixture
def holdings(custody: Custody) -> SigningKey:  # noqa: F811
    key = SigningKey.generate()
    custody.append(custody.world.enroll(key, ["valuer"], "valuer"))
    custody.append(custody.seize("150000000"))  # 1.5 BTC
    custody.append(custody.seize("2500000000", wallet=ETH_1, asset="ethereum:USDT"))
    return key


@pytest.fixture
def servers(custody: Custody) -> Iterator[VenueServers]:  # noqa: F811
    now_ms = int(custody.world.now.timestamp() * 1000)
    with running_venues(Scenario.starting(now_ms, seed=7), VENUES) as running:
        yield running


def valuer(custody: Custody, key: SigningKey, servers: VenueServers) -> Valuer:  # noqa: F811
    sources = [
        CcxtVenue(v, 2_000, None, VENUE_OPTIONS[v], servers.url(v), rate_limit_ms=0) for v in VENUES
    ]
    return Valuer(custody.world.engine, RULES, sources, FixedRate(Decimal("512.34")), key)


def run(custody: Custody, key: SigningKey, servers: VenueServers, **kw: object):  # type: ignore[no-untyped-def]  # noqa: F811
    return valuer(custody, key, servers).revalue(
        now_utc=custody.world.now + timedelta(seconds=1),
        **kw,  # type: ignore[arg-type]
    )


def test_one_ticker_request_per_venue_and_prices_near_the_market(
    custody: Custody,  # noqa: F811
    holdings: SigningKey,
    servers: VenueServers,
) -> None:
    result = run(custody, holdings, servers)
    assert [servers.count(v, "tickers") for v in VENUES] == [1, 1, 1]
    prices = {p["asset"]: p for p in result.body["prices"]}
    market = usd_price(servers.scenario, "BTC", servers.scenario.now_ms)
    btc = Decimal(prices["bitcoin:BTC"]["price_usd"])
    assert abs(btc - market) / market < Decimal("0.005")
    assert prices["bitcoin:BTC"]["confidence"] == "high"
    assert result.body["venues_missing"] == []
    assert verify_ledger(custody.world.engine, RULES, workers=1).ok


def test_a_venue_down_is_missing_and_an_outlier_is_dropped(
    custody: Custody,  # noqa: F811
    holdings: SigningKey,
    servers: VenueServers,
) -> None:
    scenario = servers.scenario.with_venue_fault(VenueFault("okx", outage=Outage.REFUSED))
    scenario = scenario.with_quote_fault(
        QuoteFault("binance", "BTC/USDT", price_factor=Decimal("1.5"))
    )
    servers.set_scenario(scenario)
    result = run(custody, holdings, servers)
    (missing,) = result.body["venues_missing"]
    assert missing["venue"] == "okx" and "NetworkError" in missing["reason"]
    with custody.world.engine.connect() as connection:
        quotes = read_quotes(connection, result.body["quotes_sha256"])
    (outlier,) = [q for q in quotes if (q.venue, q.pair) == ("binance", "BTC/USDT")]
    assert outlier.dropped.startswith("outlier:")
    assert not [q for q in quotes if q.venue == "okx"]


def test_every_venue_down_writes_nothing(
    custody: Custody,  # noqa: F811
    holdings: SigningKey,
    servers: VenueServers,
) -> None:
    scenario = servers.scenario
    for venue in VENUES:
        scenario = scenario.with_venue_fault(VenueFault(venue, outage=Outage.UNAVAILABLE))
    servers.set_scenario(scenario)
    size = custody.size()
    with pytest.raises(PricingError, match="every venue failed"):
        run(custody, holdings, servers)
    assert custody.size() == size


def test_a_depeg_shows_in_the_value_of_usdt(
    custody: Custody,  # noqa: F811
    holdings: SigningKey,
    servers: VenueServers,
) -> None:
    servers.set_scenario(servers.scenario.with_usd_price("USDT", Decimal("0.90")))
    result = run(custody, holdings, servers)
    usdt = {v.asset_id: v for v in result.values}["ethereum:USDT"]
    assert abs(usdt.price_usd - Decimal("0.90")) < Decimal("0.005")
    assert abs(usdt.value_usd - Decimal(2250)) < Decimal(15)


def test_a_past_cutoff_uses_candles_that_ended_before_it(
    custody: Custody,  # noqa: F811
    holdings: SigningKey,
    servers: VenueServers,
) -> None:
    """Nothing after a past cutoff: the close of the last hourly candle that ended at or
    before it, dated at that candle's end; two cutoffs an hour apart around a price move
    get the prices on either side of it (a daily close would give both the later one)."""
    day = (custody.world.now - timedelta(days=3)).replace(hour=0, minute=0, second=0)
    move = day.replace(hour=18, minute=45)
    move_ms = int(move.timestamp() * 1000)
    before_move = usd_price(servers.scenario, "BTC", move_ms - 1)
    servers.set_scenario(servers.scenario.with_usd_price("BTC", before_move * 2, move_ms))
    early = run(custody, holdings, servers, cutoff=day.replace(hour=18, minute=30))
    late = run(custody, holdings, servers, cutoff=day.replace(hour=19, minute=30))
    assert early.body["method"] == late.body["method"] == "candle-close"
    assert servers.count("binance", "tickers") == 0 and servers.count("binance", "ohlcv") > 0
    prices = []
    for result in (early, late):
        btc = {p["asset"]: p for p in result.body["prices"]}["bitcoin:BTC"]
        assert btc["market"]["at"] <= result.cutoff  # the candle ended at or before it
        prices.append(Decimal(btc["price_usd"]))
        with custody.world.engine.connect() as connection:
            rows = read_quotes(connection, result.body["quotes_sha256"])
        assert rows and all(r.timestamp <= result.cutoff for r in rows if r.timestamp)
    assert abs(prices[0] - before_move) / before_move < Decimal("0.02")
    assert abs(prices[1] - 2 * before_move) / (2 * before_move) < Decimal("0.02")
    assert (
        early.body["fx"]["on"] == late.body["fx"]["on"]
        or early.cutoff[:10] == day.date().isoformat()
    )


def test_a_ticker_without_a_time_is_dated_by_its_latest_trade(
    custody: Custody,  # noqa: F811
    holdings: SigningKey,
    servers: VenueServers,
) -> None:
    """Kraken sends no ticker time: a frozen feed's two-year-old ticker is dropped as stale,
    never timed by its arrival."""
    stale = QuoteFault("kraken", "BTC/USD", age_s=2 * 365 * 86_400)
    servers.set_scenario(servers.scenario.with_quote_fault(stale))
    result = run(custody, holdings, servers)
    with custody.world.engine.connect() as connection:
        rows = read_quotes(connection, result.body["quotes_sha256"])
    (kraken_btc,) = [r for r in rows if (r.venue, r.pair, r.asset) == ("kraken", "BTC/USD", "BTC")]
    assert kraken_btc.dropped.startswith("stale:")
    fresh = [r for r in rows if r.venue == "kraken" and r.pair == "USDT/USD"]
    assert fresh and not fresh[0].dropped  # the others are dated by their own latest trade
