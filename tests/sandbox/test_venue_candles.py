"""Hourly and daily candles through ccxt's real Binance, Kraken and OKX classes.

Expected values come from the scenario (`pair_price`, `hourly_candles`, `quote`) as
Decimal; ccxt's floats are compared as `Decimal(str(x))`, as the pricing code reads them.
No test reads the machine's clock or depends on its speed. ccxt's OKX class picks
`history-candles` or `candles` by the machine's clock (not the venue's), so the tests ask
only for bars both endpoints hold, or name the endpoint with `params={"type": ...}`.
"""

from __future__ import annotations

import itertools
import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, NamedTuple

import ccxt  # type: ignore[import-untyped]
import pytest

from sequestra_sandbox.venues import (
    DAY_MS,
    HOUR_MS,
    VENUE_IDS,
    Candle,
    Listing,
    Scenario,
    VenueServers,
    find_listing,
    hourly_candles,
    pair_price,
    quote,
    running_venues,
    sandbox_exchange,
    usd_price,
)

NOW_MS = int(datetime(2025, 6, 15, 12, 34, 56, tzinfo=UTC).timestamp()) * 1000 + 789
TODAY_MS = NOW_MS - NOW_MS % DAY_MS
YESTERDAY_MS = TODAY_MS - DAY_MS
FORMING_MS = NOW_MS - NOW_MS % HOUR_MS  # the hour holding now: 12:00
MINUTE_MS = 60_000
SEED = 23
TIMEOUT_MS = 5_000
RATE_LIMIT_MS = 1  # the sandbox is local: no pause between requests
SYMBOL = "BTC/USDT"  # listed on all three venues
HOUR_WICK_MAX = Decimal("0.005")
SCENARIO = Scenario.starting(NOW_MS, seed=SEED)


class Row(NamedTuple):
    """One candle as ccxt returns it, numbers as the pricing code reads them."""

    open_ms: int
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: Decimal


def dec(value: Any) -> Decimal:
    """Convert a ccxt number the way the pricing code does."""
    return Decimal(str(value))


def parsed(rows: list[list[Any]]) -> list[Row]:
    """Read ccxt's OHLCV rows."""
    return [Row(row[0], *(dec(value) for value in row[1:6])) for row in rows]


def served(candles: tuple[Candle, ...]) -> list[Row]:
    """Write the scenario's candles as rows."""
    return [Row(c.open_ms, c.open, c.high, c.low, c.close, c.volume) for c in candles]


def listing(venue: str, symbol: str = SYMBOL, scenario: Scenario = SCENARIO) -> Listing:
    return find_listing(scenario, venue, symbol)


def expected_hours(venue: str, first_ms: int, count: int, scenario: Scenario = SCENARIO) -> Any:
    first = first_ms // HOUR_MS
    return served(
        hourly_candles(scenario, venue, listing(venue, scenario=scenario), first, first + count - 1)
    )


@pytest.fixture(scope="module")
def module_servers() -> Iterator[VenueServers]:
    with running_venues(SCENARIO) as servers:
        yield servers


@pytest.fixture
def servers(module_servers: VenueServers) -> Iterator[VenueServers]:
    """The running venues, back on the base scenario with fresh counts for each test."""
    module_servers.set_scenario(SCENARIO)
    module_servers.reset_counts()
    yield module_servers
    module_servers.set_scenario(SCENARIO)


@pytest.fixture(scope="module")
def loaded(module_servers: VenueServers) -> dict[str, Any]:
    """One ccxt instance per venue with markets loaded."""
    exchanges = {}
    for venue in VENUE_IDS:
        exchange = sandbox_exchange(
            venue, module_servers.url(venue), timeout_ms=TIMEOUT_MS, rate_limit_ms=RATE_LIMIT_MS
        )
        exchange.load_markets()
        exchanges[venue] = exchange
    return exchanges


def get(url: str) -> tuple[int, Any]:
    """GET a raw answer: status and parsed JSON (or text)."""
    try:
        with urllib.request.urlopen(url, timeout=TIMEOUT_MS / 1000) as response:
            status, body = response.status, response.read()
    except urllib.error.HTTPError as error:
        status, body = error.code, error.read()
    try:
        return status, json.loads(body)
    except ValueError:
        return status, body.decode()


# --- hourly candles and the price path --------------------------------------------------------


@pytest.mark.parametrize("venue", VENUE_IDS)
def test_hourly_candles_follow_the_pair_price(
    servers: VenueServers, loaded: dict[str, Any], venue: str
) -> None:
    rows = parsed(loaded[venue].fetch_ohlcv(SYMBOL, "1h", YESTERDAY_MS, 24))
    assert [row.open_ms for row in rows] == [YESTERDAY_MS + h * HOUR_MS for h in range(24)]
    assert rows == expected_hours(venue, YESTERDAY_MS, 24)
    pair = listing(venue)
    for row in rows:
        assert row.open == pair_price(SCENARIO, venue, pair, row.open_ms - 1)
        assert row.close == pair_price(SCENARIO, venue, pair, row.open_ms + HOUR_MS - 1)
        assert row.low <= min(row.open, row.close) <= max(row.open, row.close) <= row.high
        assert row.high <= max(row.open, row.close) * (1 + HOUR_WICK_MAX) + pair.price_tick
        assert row.low >= min(row.open, row.close) * (1 - HOUR_WICK_MAX) - pair.price_tick
        assert row.volume > 0
    assert all(earlier.close == later.open for earlier, later in itertools.pairwise(rows))


@pytest.mark.parametrize("day_ms", [YESTERDAY_MS, TODAY_MS], ids=["closed-day", "forming-day"])
@pytest.mark.parametrize("venue", VENUE_IDS)
def test_hours_add_up_to_their_day(
    servers: VenueServers, loaded: dict[str, Any], venue: str, day_ms: int
) -> None:
    (day,) = parsed(loaded[venue].fetch_ohlcv(SYMBOL, "1d", day_ms, 1))
    hours = parsed(loaded[venue].fetch_ohlcv(SYMBOL, "1h", day_ms, 24))
    assert day.open_ms == day_ms
    assert len(hours) == (24 if day_ms == YESTERDAY_MS else 13)  # today: 00:00..12:00
    assert hours[0].open == day.open
    assert hours[-1].close == day.close
    assert max(hour.high for hour in hours) == day.high
    assert min(hour.low for hour in hours) == day.low
    assert sum(hour.volume for hour in hours) == day.volume  # exactly, in Decimal


def test_venues_agree_hour_by_hour(servers: VenueServers, loaded: dict[str, Any]) -> None:
    since_ms = YESTERDAY_MS - DAY_MS
    closes = {
        venue: [row.close for row in parsed(loaded[venue].fetch_ohlcv(SYMBOL, "1h", since_ms, 48))]
        for venue in VENUE_IDS
    }
    assert all(len(values) == 48 for values in closes.values())
    assert closes["kraken"] == closes["okx"]  # both quote BTC/USDT to 0.1
    for hour, okx_close in enumerate(closes["okx"]):
        end_ms = since_ms + (hour + 1) * HOUR_MS - 1
        exact = usd_price(SCENARIO, "BTC", end_ms) / usd_price(SCENARIO, "USDT", end_ms)
        assert abs(closes["binance"][hour] - exact) <= Decimal("0.005")  # a 0.01 tick
        assert abs(okx_close - exact) <= Decimal("0.05")  # a 0.1 tick


# --- a price that moves mid-day ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("venue", "symbol"),
    [("binance", "BTC/USDT"), ("kraken", "BTC/USD"), ("kraken", "BTC/USDT"), ("okx", "BTC/USDT")],
)
def test_a_price_point_mid_day_shows_in_its_hour(
    servers: VenueServers, loaded: dict[str, Any], venue: str, symbol: str
) -> None:
    at_ms = YESTERDAY_MS + 14 * HOUR_MS + 30 * MINUTE_MS  # 14:30 yesterday
    scenario = SCENARIO.with_usd_price("BTC", Decimal(66_000), at_ms)
    servers.set_scenario(scenario)
    pair = listing(venue, symbol, scenario)
    before = pair_price(scenario, venue, pair, at_ms - 1)
    after = pair_price(scenario, venue, pair, at_ms)
    assert before != after
    hours = parsed(loaded[venue].fetch_ohlcv(symbol, "1h", YESTERDAY_MS, 24))
    assert (hours[13].close, hours[14].open, hours[14].close) == (before, before, after)
    assert hours[14].low <= min(before, after) and hours[14].high >= max(before, after)
    assert all(hour.open == hour.close == after for hour in hours[15:])
    first_hour = YESTERDAY_MS // HOUR_MS
    unchanged = served(hourly_candles(SCENARIO, venue, pair, first_hour, first_hour + 13))
    assert hours[:14] == unchanged  # nothing before the point moves
    (day,) = parsed(loaded[venue].fetch_ohlcv(symbol, "1d", YESTERDAY_MS, 1))
    assert (day.close, day.high) == (after, max(hour.high for hour in hours))
    if symbol == "BTC/USD":
        assert after == Decimal(66_000)


@pytest.mark.parametrize("venue", VENUE_IDS)
def test_a_spike_inside_one_hour_reaches_its_high_and_the_day_s(
    servers: VenueServers, loaded: dict[str, Any], venue: str
) -> None:
    usual = usd_price(SCENARIO, "BTC", YESTERDAY_MS)
    spike_ms = YESTERDAY_MS + 15 * HOUR_MS + 10 * MINUTE_MS
    scenario = SCENARIO.with_usd_price("BTC", Decimal(90_000), spike_ms).with_usd_price(
        "BTC", usual, spike_ms + 30 * MINUTE_MS
    )
    servers.set_scenario(scenario)
    spike = pair_price(scenario, venue, listing(venue, scenario=scenario), spike_ms)
    hours = parsed(loaded[venue].fetch_ohlcv(SYMBOL, "1h", YESTERDAY_MS, 24))
    assert hours[15].open == hours[15].close < spike <= hours[15].high
    assert all(hour.high < spike for index, hour in enumerate(hours) if index != 15)
    (day,) = parsed(loaded[venue].fetch_ohlcv(SYMBOL, "1d", YESTERDAY_MS, 1))
    assert day.high == hours[15].high


# --- the forming hour --------------------------------------------------------------------------


@pytest.mark.parametrize("venue", VENUE_IDS)
def test_the_forming_hour_closes_at_now_and_closed_hours_never_change(
    servers: VenueServers, loaded: dict[str, Any], venue: str
) -> None:
    rows = parsed(loaded[venue].fetch_ohlcv(SYMBOL, "1h", FORMING_MS - HOUR_MS, 2))
    assert [row.open_ms for row in rows] == [FORMING_MS - HOUR_MS, FORMING_MS]
    assert rows[-1].close == quote(SCENARIO, venue, listing(venue)).last
    assert rows == expected_hours(venue, FORMING_MS - HOUR_MS, 2)
    last_ms = FORMING_MS + HOUR_MS - 1  # the forming hour's last millisecond
    servers.set_scenario(SCENARIO.at(last_ms))
    at_end = parsed(loaded[venue].fetch_ohlcv(SYMBOL, "1h", FORMING_MS - HOUR_MS, 2))
    assert at_end[0] == rows[0]  # a closed hour stays as it was
    assert at_end[1].volume > rows[1].volume  # the forming hour kept trading
    servers.set_scenario(SCENARIO.at(FORMING_MS + 5 * HOUR_MS))
    later = parsed(loaded[venue].fetch_ohlcv(SYMBOL, "1h", FORMING_MS - HOUR_MS, 2))
    assert later == at_end


def test_binance_serves_the_forming_kline_with_its_future_close_time(
    servers: VenueServers,
) -> None:
    url = servers.url("binance") + "/api/v3/klines?symbol=BTCUSDT&interval=1h&limit=2"
    status, body = get(url)
    assert status == 200
    assert [row[0] for row in body] == [FORMING_MS - HOUR_MS, FORMING_MS]
    assert body[-1][6] == FORMING_MS + HOUR_MS - 1 > NOW_MS


def test_kraken_always_serves_the_forming_candle_and_dates_the_last_closed_one(
    servers: VenueServers,
) -> None:
    base = servers.url("kraken") + "/0/public/OHLC?pair=XBTUSDT&interval=60"
    for since_s in (FORMING_MS // 1000, NOW_MS // 1000):  # at and after the forming start
        status, body = get(f"{base}&since={since_s}")
        assert (status, body["error"]) == (200, [])
        assert [row[0] for row in body["result"]["XBTUSDT"]] == [FORMING_MS // 1000]
        assert body["result"]["last"] == (FORMING_MS - HOUR_MS) // 1000
    _, body = get(f"{base}&since={(FORMING_MS - 3 * HOUR_MS) // 1000}")  # exclusive
    opens_s = [row[0] for row in body["result"]["XBTUSDT"]]
    assert opens_s == [(FORMING_MS - hours * HOUR_MS) // 1000 for hours in (2, 1, 0)]


@pytest.mark.parametrize("route", ["candles", "history-candles"])
def test_okx_marks_the_forming_bar_unconfirmed(servers: VenueServers, route: str) -> None:
    url = f"{servers.url('okx')}/api/v5/market/{route}?instId=BTC-USDT&bar=1H&limit=3"
    status, body = get(url)
    assert (status, body["code"]) == (200, "0")
    rows = body["data"]
    assert [int(row[0]) for row in rows] == [FORMING_MS - h * HOUR_MS for h in (0, 1, 2)]
    assert [row[8] for row in rows] == ["0", "1", "1"]  # newest first


# --- paging and limits -------------------------------------------------------------------------


def test_binance_klines_page_by_start_time_at_most_1000_at_a_time(
    servers: VenueServers, loaded: dict[str, Any]
) -> None:
    since_ms = FORMING_MS - 1_500 * HOUR_MS
    first = loaded["binance"].fetch_ohlcv(SYMBOL, "1h", since_ms, 2_000)  # ccxt asks 1000
    second = loaded["binance"].fetch_ohlcv(SYMBOL, "1h", first[-1][0] + HOUR_MS, 1_000)
    opens = [row[0] for row in first + second]
    assert (len(first), len(second)) == (1_000, 501)
    assert opens == [since_ms + hour * HOUR_MS for hour in range(1_501)]  # ends with now's
    assert parsed(second[-3:]) == expected_hours("binance", FORMING_MS - 2 * HOUR_MS, 3)
    base = servers.url("binance") + "/api/v3/klines?symbol=BTCUSDT&interval=1h"
    _, body = get(base + "&limit=5000")
    assert len(body) == 1_000 and body[-1][0] == FORMING_MS  # served as 1000
    _, body = get(base)
    assert len(body) == 500 and body[-1][0] == FORMING_MS  # the default: the newest 500
    _, body = get(f"{base}&endTime={YESTERDAY_MS + 5 * HOUR_MS + 1}&limit=3")
    assert [row[0] for row in body] == [YESTERDAY_MS + h * HOUR_MS for h in (3, 4, 5)]
    window = f"&startTime={YESTERDAY_MS + HOUR_MS // 2}&endTime={YESTERDAY_MS + 3 * HOUR_MS}"
    _, body = get(base + window)
    assert [row[0] for row in body] == [YESTERDAY_MS + h * HOUR_MS for h in (1, 2, 3)]


def test_kraken_serves_only_the_newest_720_hours(
    servers: VenueServers, loaded: dict[str, Any]
) -> None:
    rows = loaded["kraken"].fetch_ohlcv(SYMBOL, "1h", FORMING_MS - 1_000 * HOUR_MS)
    assert len(rows) == 720
    assert [row[0] for row in rows] == [FORMING_MS - h * HOUR_MS for h in range(719, -1, -1)]
    assert parsed(rows[:2]) == expected_hours("kraken", FORMING_MS - 719 * HOUR_MS, 2)


def test_okx_candles_hold_1440_bars_and_history_candles_the_rest(
    servers: VenueServers, loaded: dict[str, Any]
) -> None:
    okx = loaded["okx"]
    recent_ms = FORMING_MS - 1_000 * HOUR_MS
    recent = okx.fetch_ohlcv(SYMBOL, "1h", recent_ms, 500, {"type": "Candles"})  # ccxt: 300
    history = okx.fetch_ohlcv(SYMBOL, "1h", recent_ms, 300, {"type": "HistoryCandles"})
    assert recent == history
    assert [row[0] for row in recent] == [recent_ms + h * HOUR_MS for h in range(300)]
    assert parsed(recent[:2]) == expected_hours("okx", recent_ms, 2)
    old_ms = FORMING_MS - 2_000 * HOUR_MS
    assert okx.fetch_ohlcv(SYMBOL, "1h", old_ms, 10, {"type": "Candles"}) == []
    old = okx.fetch_ohlcv(SYMBOL, "1h", old_ms, 10, {"type": "HistoryCandles"})
    assert [row[0] for row in old] == [old_ms + h * HOUR_MS for h in range(10)]
    assert servers.count("okx", "/api/v5/market/candles") == 2
    assert servers.count("okx", "/api/v5/market/history-candles") == 2


def test_okx_after_and_before_are_exclusive_and_before_alone_gives_the_newest(
    servers: VenueServers,
) -> None:
    base = servers.url("okx") + "/api/v5/market/history-candles?instId=BTC-USDT&bar=1H"

    def opens(query: str) -> list[int]:
        status, body = get(base + query)
        assert (status, body["code"]) == (200, "0")
        return [int(row[0]) for row in body["data"]]

    y = YESTERDAY_MS
    assert opens(f"&after={y + 3 * HOUR_MS}&limit=2") == [y + 2 * HOUR_MS, y + HOUR_MS]
    assert opens(f"&before={y}&after={y + 3 * HOUR_MS}") == [y + 2 * HOUR_MS, y + HOUR_MS]
    assert opens(f"&before={y}&limit=2") == [FORMING_MS, FORMING_MS - HOUR_MS]
    assert len(opens("")) == 100  # the default limit


# --- refusals ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("venue", "query", "status", "code"),
    [
        ("binance", "klines?symbol=BTCUSDT&interval=7m", 400, -1120),
        ("binance", "klines?symbol=BTCUSDT", 400, -1102),
        ("binance", f"klines?symbol=BTCUSDT&interval=1h&startTime={NOW_MS}&endTime=1", 400, -1023),
        ("binance", "klines?symbol=BTCUSDT&interval=1h&limit=x", 400, -1100),
        ("kraken", "OHLC?pair=XBTUSDT&interval=7", 200, "EGeneral:Invalid arguments"),
        ("kraken", "OHLC?pair=XBTUSDT&interval=60&since=x", 200, "EGeneral:Invalid arguments"),
        ("okx", "market/candles?instId=BTC-USDT&bar=7m", 400, "51000"),
        ("okx", "market/candles?instId=BTC-USDT&bar=1H&limit=301", 400, "51000"),
        ("okx", "market/history-candles?instId=BTC-USDT&bar=1H&limit=0", 400, "51000"),
    ],
)
def test_bad_candle_parameters_get_the_venue_s_own_refusal(
    servers: VenueServers, venue: str, query: str, status: int, code: Any
) -> None:
    prefix = {"binance": "/api/v3/", "kraken": "/0/public/", "okx": "/api/v5/"}[venue]
    answered, body = get(servers.url(venue) + prefix + query)
    assert answered == status
    assert {"binance": body.get("code"), "kraken": body.get("error"), "okx": body.get("code")}[
        venue
    ] == ([code] if venue == "kraken" else code)


@pytest.mark.parametrize(
    ("venue", "timeframe", "error"),
    [
        ("binance", "7m", ccxt.BadRequest),  # -1120 Invalid interval
        ("kraken", "2h", ccxt.BadRequest),  # ccxt sends interval=2h: EGeneral:Invalid arguments
        ("okx", "7m", ccxt.BadRequest),  # 51000
    ],
)
def test_ccxt_raises_bad_request_for_an_interval_the_venue_does_not_know(
    servers: VenueServers, loaded: dict[str, Any], venue: str, timeframe: str, error: type
) -> None:
    with pytest.raises(error):
        loaded[venue].fetch_ohlcv(SYMBOL, timeframe, None, 5)


def test_binance_refuses_a_start_after_the_end_through_ccxt(loaded: dict[str, Any]) -> None:
    # ccxt maps -1023 to BadRequest only for futures URLs: on /api/v3 it is an ExchangeError
    with pytest.raises(ccxt.ExchangeError, match="-1023"):
        loaded["binance"].fetch_ohlcv(SYMBOL, "1h", NOW_MS, 5, {"until": YESTERDAY_MS})


@pytest.mark.parametrize(
    ("venue", "query"),
    [
        ("binance", "/api/v3/klines?symbol=BTCUSDT&interval=4h"),
        ("kraken", "/0/public/OHLC?pair=XBTUSDT&interval=240"),
        ("kraken", "/0/public/OHLC?pair=XBTUSDT"),  # Kraken's default, one minute
        ("okx", "/api/v5/market/candles?instId=BTC-USDT&bar=1D"),  # Hong Kong days
        ("okx", "/api/v5/market/candles?instId=BTC-USDT"),  # OKX's default, one minute
    ],
)
def test_a_real_interval_the_sandbox_does_not_serve_is_a_loud_sandbox_501(
    servers: VenueServers, loaded: dict[str, Any], venue: str, query: str
) -> None:
    status, body = get(servers.url(venue) + query)
    assert status == 501 and body.startswith("sandbox:")
    with pytest.raises(ccxt.ExchangeNotAvailable, match="sandbox"):
        loaded[venue].fetch_ohlcv(SYMBOL, "4h", None, 5)
