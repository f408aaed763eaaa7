"""ccxt's real Binance, Kraken and OKX classes against the sandbox venues.

Every expected value comes from the scenario (`quote`, `book`, `daily_candles`,
`pair_price`), as Decimal. ccxt returns floats; the tests compare `Decimal(str(x))` with
the scenario's Decimal, which is exactly how Sequestra's pricing code converts ccxt's
numbers at the edge. Hourly candles are tested in `test_venue_candles`.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import ccxt  # type: ignore[import-untyped]
import pytest

from sequestra_sandbox.venues import (
    DAY_MS,
    HISTORY_DAYS_MAX,
    VENUE_IDS,
    Outage,
    QuoteFault,
    Scenario,
    ScenarioError,
    VenueFault,
    VenueServers,
    book,
    daily_candles,
    find_listing,
    pair_price,
    quote,
    running_venues,
    sandbox_exchange,
    usd_price,
)

NOW_MS = int(datetime(2025, 6, 15, 12, 0, tzinfo=UTC).timestamp() * 1000)
TODAY_MS = NOW_MS - NOW_MS % DAY_MS
SEED = 11
# Generous: the venues are local, but a loaded machine may answer 200 synthetic tickers
# slowly; only the slow-venue test wants a timeout, and its venue waits far longer than it.
TIMEOUT_MS = 60_000
SLOW_TIMEOUT_MS = 500
SLOW_DELAY_S = 5.0
RATE_LIMIT_MS = 1  # the sandbox is local: no pause between requests
SYMBOLS = {
    "binance": ("BTC/USDT", "ETH/USDT", "BTC/USDC", "USDC/USDT"),
    "kraken": ("BTC/USD", "ETH/USD", "USDT/USD", "USDC/USD", "BTC/USDT", "USDC/USDT"),
    "okx": ("BTC/USDT", "ETH/USDT", "ETH/USDC", "USDC/USDT"),
}
MARKET_IDS = {
    "binance": {"BTC/USDT": "BTCUSDT", "USDC/USDT": "USDCUSDT"},
    "kraken": {"BTC/USD": "XXBTZUSD", "USDT/USD": "USDTZUSD", "BTC/USDT": "XBTUSDT"},
    "okx": {"BTC/USDT": "BTC-USDT", "ETH/USDC": "ETH-USDC"},
}
BASE_SCENARIO = Scenario.starting(NOW_MS, seed=SEED, extra_asset_count=3)


def dec(value: Any) -> Decimal:
    """Convert a ccxt number the way the pricing code does."""
    return Decimal(str(value))


@pytest.fixture(scope="module")
def module_servers() -> Iterator[VenueServers]:
    with running_venues(BASE_SCENARIO) as servers:
        yield servers


@pytest.fixture
def servers(module_servers: VenueServers) -> Iterator[VenueServers]:
    """The running venues, back on the base scenario with fresh counts for each test."""
    module_servers.set_scenario(BASE_SCENARIO)
    module_servers.reset_counts()
    yield module_servers
    module_servers.set_scenario(BASE_SCENARIO)


@pytest.fixture(scope="module")
def loaded(module_servers: VenueServers) -> dict[str, Any]:
    """One ccxt instance per venue with markets loaded."""
    exchanges = {}
    for venue in VENUE_IDS:
        exchange = _exchange(module_servers, venue)
        exchange.load_markets()
        exchanges[venue] = exchange
    return exchanges


def _exchange(servers: VenueServers, venue: str, timeout_ms: int = TIMEOUT_MS) -> Any:
    return sandbox_exchange(
        venue, servers.url(venue), timeout_ms=timeout_ms, rate_limit_ms=RATE_LIMIT_MS
    )


# --- markets, tickers, books, candles ----------------------------------------------------------


@pytest.mark.parametrize("venue", VENUE_IDS)
def test_load_markets_lists_the_venue_pairs_from_public_endpoints_only(
    servers: VenueServers, venue: str
) -> None:
    exchange = _exchange(servers, venue)
    markets = exchange.load_markets()
    assert set(SYMBOLS[venue]) <= set(markets)
    assert {"TKN001/USDT", "TKN003/USDT"} <= set(markets)
    for symbol, market_id in MARKET_IDS[venue].items():
        assert markets[symbol]["id"] == market_id
        assert markets[symbol]["spot"] and markets[symbol]["active"]
    listing = find_listing(BASE_SCENARIO, venue, SYMBOLS[venue][0])
    assert dec(markets[listing.symbol]["precision"]["price"]) == listing.price_tick
    expected = {"markets"} | ({"currencies"} if venue == "kraken" else set())
    assert servers.count(venue) == len(expected)
    assert all(servers.count(venue, name) == 1 for name in expected)


def test_venues_list_realistic_quotes() -> None:
    by_venue = {venue: {item.symbol for item in _listings(venue)} for venue in VENUE_IDS}
    assert not any(symbol.endswith("/USD") for symbol in by_venue["binance"] | by_venue["okx"])
    assert {"BTC/USD", "ETH/USD", "USDT/USD", "USDC/USD"} <= by_venue["kraken"]
    assert {"BTC/USDC", "ETH/USDC"} <= by_venue["okx"]


def _listings(venue: str) -> Any:
    from sequestra_sandbox.venues import venue_listings

    return venue_listings(BASE_SCENARIO, venue)


@pytest.mark.parametrize("venue", VENUE_IDS)
def test_fetch_tickers_is_one_request_and_matches_the_scenario(
    servers: VenueServers, loaded: dict[str, Any], venue: str
) -> None:
    symbols = [*SYMBOLS[venue], "TKN002/USDT"]
    tickers = loaded[venue].fetch_tickers(symbols)
    assert servers.count(venue, "tickers") == 1
    assert servers.count(venue) == 1
    assert set(tickers) == set(symbols)
    for symbol in symbols:
        expected = quote(BASE_SCENARIO, venue, find_listing(BASE_SCENARIO, venue, symbol))
        ticker = tickers[symbol]
        assert dec(ticker["last"]) == expected.last
        assert dec(ticker["bid"]) == expected.bid
        assert dec(ticker["ask"]) == expected.ask
        assert dec(ticker["baseVolume"]) == expected.volume_24h
        assert dec(ticker["open"]) == expected.open_24h
        assert ticker["timestamp"] == (None if venue == "kraken" else NOW_MS)  # Kraken sends none
    assert dec(tickers[SYMBOLS[venue][0]]["last"]) == Decimal(60_000)  # BTC on the anchor day


@pytest.mark.parametrize("venue", VENUE_IDS)
def test_order_book_levels_match_the_scenario(
    servers: VenueServers, loaded: dict[str, Any], venue: str
) -> None:
    symbol = SYMBOLS[venue][1]
    listing = find_listing(BASE_SCENARIO, venue, symbol)
    result = loaded[venue].fetch_order_book(symbol, 20)
    expected = book(BASE_SCENARIO, venue, listing, 20)
    assert servers.count(venue, "order_book") == 1
    assert len(result["bids"]) == len(result["asks"]) == 20
    for side, levels in (("bids", expected.bids), ("asks", expected.asks)):
        parsed = [(dec(level[0]), dec(level[1])) for level in result[side]]
        assert parsed == [(level.price, level.amount) for level in levels]
    ticker = quote(BASE_SCENARIO, venue, listing)
    assert (dec(result["bids"][0][0]), dec(result["asks"][0][0])) == (ticker.bid, ticker.ask)


@pytest.mark.parametrize("venue", VENUE_IDS)
def test_ohlcv_honours_since_and_limit(
    servers: VenueServers, loaded: dict[str, Any], venue: str
) -> None:
    symbol = SYMBOLS[venue][0]
    listing = find_listing(BASE_SCENARIO, venue, symbol)
    since_ms = TODAY_MS - 30 * DAY_MS
    candles = loaded[venue].fetch_ohlcv(symbol, "1d", since_ms, 10)
    first_day = since_ms // DAY_MS
    expected = daily_candles(BASE_SCENARIO, venue, listing, first_day, first_day + 9)
    assert [row[0] for row in candles] == [since_ms + day * DAY_MS for day in range(10)]
    assert [[dec(value) for value in row[1:]] for row in candles] == [
        [item.open, item.high, item.low, item.close, item.volume] for item in expected
    ]
    latest = loaded[venue].fetch_ohlcv(symbol, "1d", None, 3)
    assert [row[0] for row in latest] == [TODAY_MS - 2 * DAY_MS, TODAY_MS - DAY_MS, TODAY_MS]
    assert dec(latest[-1][4]) == quote(BASE_SCENARIO, venue, listing).last  # today's open candle
    assert servers.count(venue, "ohlcv") == 2


@pytest.mark.parametrize("venue", ["binance", "okx"])
def test_ohlcv_reaches_three_years_back(
    servers: VenueServers, loaded: dict[str, Any], venue: str
) -> None:
    oldest_ms = TODAY_MS - (HISTORY_DAYS_MAX - 1) * DAY_MS
    candles = loaded[venue].fetch_ohlcv(SYMBOLS[venue][0], "1d", oldest_ms - 5 * DAY_MS, 20)
    assert candles[0][0] == oldest_ms  # nothing older exists
    assert len(candles) == 15


def test_kraken_ohlcv_serves_only_the_newest_720_candles(loaded: dict[str, Any]) -> None:
    candles = loaded["kraken"].fetch_ohlcv("BTC/USD", "1d", TODAY_MS - 1000 * DAY_MS)
    assert len(candles) == 720
    assert candles[-1][0] == TODAY_MS


def test_two_hundred_synthetic_assets_in_one_request_per_venue(servers: VenueServers) -> None:
    scenario = Scenario.starting(NOW_MS, seed=SEED, extra_asset_count=200)
    servers.set_scenario(scenario)
    for venue in VENUE_IDS:
        exchange = _exchange(servers, venue)
        exchange.load_markets()
        symbols = [symbol for symbol in exchange.symbols if symbol.startswith("TKN")]
        tickers = exchange.fetch_tickers(symbols)
        assert len(tickers) == len(symbols) == 200
        assert servers.count(venue, "tickers") == 1
        listing = find_listing(scenario, venue, "TKN200/USDT")
        assert dec(tickers["TKN200/USDT"]["last"]) == quote(scenario, venue, listing).last


# --- venue faults ------------------------------------------------------------------------------


@pytest.mark.parametrize("venue", VENUE_IDS)
def test_refused_connections_raise_network_error_and_recover(
    servers: VenueServers, loaded: dict[str, Any], venue: str
) -> None:
    servers.set_scenario(BASE_SCENARIO.with_venue_fault(VenueFault(venue, Outage.REFUSED)))
    with pytest.raises(ccxt.NetworkError) as raised:
        loaded[venue].fetch_tickers(list(SYMBOLS[venue]))
    assert not isinstance(raised.value, ccxt.ExchangeNotAvailable | ccxt.RequestTimeout)
    assert servers.count(venue) == 0  # nothing reached the venue
    others = [other for other in VENUE_IDS if other != venue]
    assert loaded[others[0]].fetch_tickers(list(SYMBOLS[others[0]]))  # the others still answer
    servers.set_scenario(BASE_SCENARIO)
    assert loaded[venue].fetch_tickers(list(SYMBOLS[venue]))  # same port, listening again


@pytest.mark.parametrize("venue", VENUE_IDS)
def test_unavailable_venue_raises_exchange_not_available(
    servers: VenueServers, loaded: dict[str, Any], venue: str
) -> None:
    servers.set_scenario(BASE_SCENARIO.with_venue_fault(VenueFault(venue, Outage.UNAVAILABLE)))
    with pytest.raises(ccxt.ExchangeNotAvailable):
        loaded[venue].fetch_tickers(list(SYMBOLS[venue]))
    assert servers.count(venue, "tickers") == 1


@pytest.mark.parametrize(
    ("venue", "error"),
    [
        ("binance", ccxt.DDoSProtection),  # ccxt maps Binance's 429 itself
        ("kraken", ccxt.DDoSProtection),  # EGeneral:Too many requests
        ("okx", ccxt.RateLimitExceeded),  # code 50011
    ],
)
def test_rate_limited_venue_raises_its_ccxt_error_with_retry_after(
    servers: VenueServers, loaded: dict[str, Any], venue: str, error: type[Exception]
) -> None:
    fault = VenueFault(venue, rate_limited=True, retry_after_s=7)
    servers.set_scenario(BASE_SCENARIO.with_venue_fault(fault))
    with pytest.raises(error):
        loaded[venue].fetch_tickers(list(SYMBOLS[venue]))
    assert loaded[venue].last_response_headers["Retry-After"] == "7"
    assert issubclass(error, ccxt.NetworkError)  # both are network errors; neither is the other
    assert servers.count(venue, "tickers") == 1


@pytest.mark.parametrize("venue", VENUE_IDS)
def test_slow_venue_raises_request_timeout(servers: VenueServers, venue: str) -> None:
    exchange = _exchange(servers, venue)
    exchange.load_markets()  # under the generous timeout: only the slow answer should time out
    exchange.timeout = SLOW_TIMEOUT_MS
    servers.set_scenario(BASE_SCENARIO.with_venue_fault(VenueFault(venue, delay_s=SLOW_DELAY_S)))
    with pytest.raises(ccxt.RequestTimeout):
        exchange.fetch_tickers(list(SYMBOLS[venue]))


# --- quote faults ------------------------------------------------------------------------------


@pytest.mark.parametrize("venue", ["binance", "okx"])
def test_stale_quote_carries_the_old_timestamp(
    servers: VenueServers, loaded: dict[str, Any], venue: str
) -> None:
    symbol = SYMBOLS[venue][0]
    servers.set_scenario(BASE_SCENARIO.with_quote_fault(QuoteFault(venue, symbol, age_s=3_600)))
    tickers = loaded[venue].fetch_tickers(list(SYMBOLS[venue]))
    assert tickers[symbol]["timestamp"] == NOW_MS - 3_600_000
    assert tickers[SYMBOLS[venue][1]]["timestamp"] == NOW_MS


@pytest.mark.parametrize("venue", VENUE_IDS)
def test_zero_volume_and_outlier_on_one_venue(
    servers: VenueServers, loaded: dict[str, Any], venue: str
) -> None:
    btc, eth = SYMBOLS[venue][0], SYMBOLS[venue][1]
    scenario = BASE_SCENARIO.with_quote_fault(
        QuoteFault(venue, btc, price_factor=Decimal("1.5"))
    ).with_quote_fault(QuoteFault(venue, eth, volume_24h=Decimal(0)))
    servers.set_scenario(scenario)
    tickers = loaded[venue].fetch_tickers([btc, eth])
    assert dec(tickers[btc]["last"]) == Decimal(90_000)
    assert dec(tickers[eth]["baseVolume"]) == 0
    other = next(item for item in VENUE_IDS if item != venue)
    assert (
        dec(loaded[other].fetch_tickers([SYMBOLS[other][0]])[SYMBOLS[other][0]]["last"]) == 60_000
    )


@pytest.mark.parametrize("venue", VENUE_IDS)
@pytest.mark.parametrize(
    ("price", "parsed"),
    [
        (Decimal(0), None),  # ccxt drops a zero price to None
        (Decimal(-5), Decimal(-5)),
        (Decimal("1000000000000"), Decimal("1000000000000")),
    ],
)
def test_nonsense_prices_reach_ccxt(
    servers: VenueServers,
    loaded: dict[str, Any],
    venue: str,
    price: Decimal,
    parsed: Decimal | None,
) -> None:
    symbol = SYMBOLS[venue][0]
    servers.set_scenario(BASE_SCENARIO.with_quote_fault(QuoteFault(venue, symbol, price=price)))
    ticker = loaded[venue].fetch_tickers([symbol])[symbol]
    assert (None if ticker["last"] is None else dec(ticker["last"])) == parsed


def test_usdt_depeg_moves_every_usdt_pair(servers: VenueServers, loaded: dict[str, Any]) -> None:
    scenario = BASE_SCENARIO.with_usd_price("USDT", Decimal("0.90"))
    servers.set_scenario(scenario)
    kraken = loaded["kraken"].fetch_tickers(["USDT/USD", "BTC/USD", "BTC/USDT"])
    assert dec(kraken["USDT/USD"]["last"]) == Decimal("0.9")
    assert dec(kraken["BTC/USD"]["last"]) == Decimal(60_000)
    assert dec(kraken["BTC/USDT"]["last"]) == Decimal("66666.7")  # 60,000 / 0.90, 0.1 tick
    binance = loaded["binance"].fetch_tickers(["BTC/USDT", "USDC/USDT"])
    assert dec(binance["BTC/USDT"]["last"]) == Decimal("66666.67")
    assert dec(binance["USDC/USDT"]["last"]) == Decimal("1.1111")
    yesterday_ms = NOW_MS - DAY_MS
    assert usd_price(scenario, "USDT", yesterday_ms) == usd_price(
        BASE_SCENARIO, "USDT", yesterday_ms
    )


# --- Kraken's trades date its tickers ----------------------------------------------------------

ODD_NOW_MS = NOW_MS + 754_321  # 12:12:34.321: a time no minute or second boundary rounds to


@pytest.mark.parametrize("age_s", [0, 5_400], ids=["live", "stale"])
def test_kraken_s_latest_trade_is_at_the_ticker_s_time_and_price(
    servers: VenueServers, loaded: dict[str, Any], age_s: int
) -> None:
    scenario = BASE_SCENARIO.at(ODD_NOW_MS).with_quote_fault(
        QuoteFault("kraken", "BTC/USD", age_s=age_s)
    )
    servers.set_scenario(scenario)
    kraken = loaded["kraken"]
    tickers = kraken.fetch_tickers(["BTC/USD", "ETH/USD"])
    for symbol, stamp_ms in (("BTC/USD", ODD_NOW_MS - 1000 * age_s), ("ETH/USD", ODD_NOW_MS)):
        (trade,) = kraken.fetch_trades(symbol, None, 1)
        expected = quote(scenario, "kraken", find_listing(scenario, "kraken", symbol))
        assert tickers[symbol]["timestamp"] is None  # Kraken's ticker: no time of its own
        assert trade["timestamp"] == expected.timestamp_ms == stamp_ms
        assert dec(trade["price"]) == dec(tickers[symbol]["last"]) == expected.last
        assert dec(trade["amount"]) == find_listing(scenario, "kraken", symbol).amount_min
    assert servers.count("kraken", "trades") == 2


def test_kraken_s_latest_trade_carries_an_outlier_ticker_s_price(
    servers: VenueServers, loaded: dict[str, Any]
) -> None:
    fault = QuoteFault("kraken", "BTC/USD", price_factor=Decimal("1.5"), age_s=60)
    servers.set_scenario(BASE_SCENARIO.with_quote_fault(fault))
    (trade,) = loaded["kraken"].fetch_trades("BTC/USD", None, 1)
    assert dec(trade["price"]) == Decimal(90_000)
    assert trade["timestamp"] == NOW_MS - 60_000


def test_kraken_trades_run_a_minute_apart_up_to_the_latest(
    servers: VenueServers, loaded: dict[str, Any]
) -> None:
    scenario = BASE_SCENARIO.at(ODD_NOW_MS)
    servers.set_scenario(scenario)
    listing = find_listing(scenario, "kraken", "ETH/USD")
    newest = loaded["kraken"].fetch_trades("ETH/USD")  # Kraken's default count: 1000
    times = [trade["timestamp"] for trade in newest]
    minute_ms = 60_000
    last_minute_ms = ODD_NOW_MS - ODD_NOW_MS % minute_ms
    assert len(newest) == 1_000
    assert times == [last_minute_ms - m * minute_ms for m in range(998, -1, -1)] + [ODD_NOW_MS]
    assert all(
        dec(trade["price"]) == pair_price(scenario, "kraken", listing, trade["timestamp"])
        for trade in newest
    )
    ids = [int(trade["id"]) for trade in newest]
    assert ids == sorted(set(ids))
    since_ms = ODD_NOW_MS - 5 * minute_ms  # ccxt sends whole seconds: 12:07:34
    after = loaded["kraken"].fetch_trades("ETH/USD", since_ms)
    expected = [last_minute_ms - m * minute_ms for m in range(4, -1, -1)] + [ODD_NOW_MS]
    assert [trade["timestamp"] for trade in after] == expected


def test_kraken_trades_page_by_the_last_cursor(servers: VenueServers) -> None:
    base = servers.url("kraken") + "/0/public/Trades?pair=XETHZUSD"
    status, body = _get(base + "&count=3")
    assert (status, body["error"]) == (200, [])
    entries = body["result"]["XETHZUSD"]
    assert len(entries) == 3 and body["result"]["last"] == str(NOW_MS * 1_000_000)
    price, volume, time_s, side, kind, misc, trade_id = entries[-1]
    assert (Decimal(price), time_s, misc) == (Decimal(3_000), NOW_MS / 1000, "")
    assert side in ("b", "s") and kind in ("m", "l") and isinstance(trade_id, int)
    assert Decimal(volume) > 0
    _, body = _get(f"{base}&since={body['result']['last']}")
    assert body["result"]["XETHZUSD"] == []  # nothing after the latest trade
    since_ns = (NOW_MS - 150_000) * 1_000_000  # a cursor 2.5 minutes back
    _, body = _get(f"{base}&since={since_ns}&count=2")
    assert [entry[2] for entry in body["result"]["XETHZUSD"]] == [
        (NOW_MS - 120_000) / 1000,
        (NOW_MS - 60_000) / 1000,
    ]


@pytest.mark.parametrize(
    ("query", "error"),
    [
        ("pair=XETHZUSD&count=0", "EGeneral:Invalid arguments"),
        ("pair=XETHZUSD&count=1001", "EGeneral:Invalid arguments"),
        ("pair=XETHZUSD&since=yesterday", "EGeneral:Invalid arguments"),
        ("", "EGeneral:Invalid arguments"),
        ("pair=NOPEUSD", "EQuery:Unknown asset pair"),
    ],
)
def test_kraken_refuses_bad_trades_arguments(servers: VenueServers, query: str, error: str) -> None:
    status, body = _get(servers.url("kraken") + "/0/public/Trades?" + query)
    assert (status, body["error"]) == (200, [error])


def test_ccxt_raises_bad_request_for_more_than_1000_kraken_trades(loaded: dict[str, Any]) -> None:
    with pytest.raises(ccxt.BadRequest):
        loaded["kraken"].fetch_trades("BTC/USD", None, 1_001)


# --- clock and determinism ---------------------------------------------------------------------


def test_the_clock_is_the_scenario_s(servers: VenueServers, loaded: dict[str, Any]) -> None:
    later = BASE_SCENARIO.at(NOW_MS + DAY_MS)
    servers.set_scenario(later)
    ticker = loaded["okx"].fetch_tickers(["BTC/USDT"])["BTC/USDT"]
    assert ticker["timestamp"] == NOW_MS + DAY_MS
    listing = find_listing(later, "okx", "BTC/USDT")
    assert dec(ticker["last"]) == quote(later, "okx", listing).last
    latest = loaded["okx"].fetch_ohlcv("BTC/USDT", "1d", None, 2)
    assert latest[-1][0] == TODAY_MS + DAY_MS


def test_paths_are_seeded_and_reproducible() -> None:
    listing = find_listing(BASE_SCENARIO, "binance", "BTC/USDT")
    same = Scenario.starting(NOW_MS, seed=SEED, extra_asset_count=3)
    other = Scenario.starting(NOW_MS, seed=SEED + 1, extra_asset_count=3)
    days = (TODAY_MS // DAY_MS - 100, TODAY_MS // DAY_MS)
    first = daily_candles(BASE_SCENARIO, "binance", listing, *days)
    assert daily_candles(same, "binance", listing, *days) == first
    assert daily_candles(other, "binance", listing, *days) != first
    assert len(first) == 101


def test_scenario_refuses_out_of_range_settings() -> None:
    with pytest.raises(ScenarioError, match="delay"):
        VenueFault("binance", delay_s=1_000.0)
    with pytest.raises(ScenarioError, match="after the anchor"):
        BASE_SCENARIO.at(NOW_MS - 2 * DAY_MS)
    with pytest.raises(ScenarioError, match="asset"):
        usd_price(BASE_SCENARIO, "NOPE", NOW_MS)


# --- raw answers -------------------------------------------------------------------------------


def _get(url: str) -> tuple[int, Any]:
    try:
        with urllib.request.urlopen(url, timeout=TIMEOUT_MS / 1000) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_unknown_symbols_get_each_venue_s_error(servers: VenueServers) -> None:
    status, body = _get(servers.url("binance") + "/api/v3/depth?symbol=NOPEUSDT")
    assert (status, body["code"]) == (400, -1121)
    status, body = _get(servers.url("kraken") + "/0/public/Ticker?pair=NOPEUSD")
    assert (status, body["error"]) == (200, ["EQuery:Unknown asset pair"])
    status, body = _get(servers.url("okx") + "/api/v5/market/books?instId=NOPE-USDT")
    assert (status, body["code"]) == (200, "51001")
    assert servers.counts() == {
        "binance": {"/api/v3/depth": 1},
        "kraken": {"/0/public/Ticker": 1},
        "okx": {"/api/v5/market/books": 1},
    }


def test_command_line_serves_until_terminated(tmp_path: Any) -> None:
    command = [sys.executable, "-m", "sequestra_sandbox.venues", "--port", "0", "--seed", "3"]
    command += ["--now", str(NOW_MS), "--venues", "okx"]
    environment = {**os.environ, "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=environment
    )
    try:
        assert process.stdout is not None
        venue, url = process.stdout.readline().split()
        status, body = _get(url + "/api/v5/public/time")
        assert (venue, status, body["data"][0]["ts"]) == ("okx", 200, str(NOW_MS))
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
