"""Binance spot public market data (`/api/v3`), in Binance's format.

Routes: `ping`, `time`, `exchangeInfo`, `ticker/24hr` (one `symbol`, a JSON list of
`symbols`, or every pair), `depth` (`limit` 1..5000, default 100) and `klines`.

`klines`: `interval` `1h` or `1d` (Binance's other intervals answer the sandbox's 501, an
unknown one -1120 Invalid interval), `limit` default 500 and at most 1000 (more is served
as 1000), `startTime` and `endTime` in ms (startTime > endTime is -1023). With `startTime`,
the klines opening at or after it, oldest first; without, the newest opening at or before
`endTime` (default now). The forming kline (the one holding now) is included, its close
the current price and its close time in the future. History reaches three years back.

Numbers are strings with 8 decimals; errors are `{"code": -1121, "msg": ...}` with HTTP
400; 429 carries code -1003 and Retry-After; 503 is a plain-text body.
"""

from __future__ import annotations

import json
from typing import Any, Final

from sequestra_sandbox.venues.answers import (
    Answer,
    Dialect,
    Refusal,
    VenueRequest,
    fixed,
    integer_parameter,
    json_answer,
    retry_after,
    text_answer,
    unserved,
)
from sequestra_sandbox.venues.candles import Candle, candles, served_indexes
from sequestra_sandbox.venues.listings import Listing, listing_by_id, venue_listings
from sequestra_sandbox.venues.prices import Quote, book, quote
from sequestra_sandbox.venues.scenario import DAY_MS, HOUR_MS, Scenario

VENUE: Final = "binance"
PREFIX: Final = "/api/v3"
DEPTH_LIMIT_DEFAULT: Final = 100
DEPTH_LIMIT_MAX: Final = 5_000
KLINES_LIMIT_DEFAULT: Final = 500
KLINES_LIMIT_MAX: Final = 1_000
KLINE_WIDTHS_MS: Final = {"1h": HOUR_MS, "1d": DAY_MS}
KLINE_INTERVALS: Final = frozenset(
    {"1s", "1m", "3m", "5m", "15m", "30m", "1h", "2h", "4h", "6h", "8h", "12h"}
    | {"1d", "3d", "1w", "1M"}
)  # every interval Binance spot knows
KLINE_TRADES: Final = 1_000  # the trade count a kline reports (0 when it has no volume)
PLACES: Final = 8
ENDPOINTS: Final = {
    "markets": f"{PREFIX}/exchangeInfo",
    "tickers": f"{PREFIX}/ticker/24hr",
    "order_book": f"{PREFIX}/depth",
    "ohlcv": f"{PREFIX}/klines",
}


def _error(code: int, message: str, status: int = 400) -> Refusal:
    """Return Binance's error answer as a refusal."""
    return Refusal(json_answer({"code": code, "msg": message}, status))


def _bad_parameter(name: str) -> Refusal:
    """Refuse a malformed parameter (-1100)."""
    return _error(
        -1100, f"Illegal characters found in parameter '{name}'; legal range is '^[0-9]{{1,20}}$'."
    )


def _listing(scenario: Scenario, market_id: str | None) -> Listing:
    """Find a listing by Binance symbol, or refuse with -1121 Invalid symbol."""
    if market_id is None:
        raise _error(
            -1102, "Mandatory parameter 'symbol' was not sent, was empty/null, or malformed."
        )
    listing = listing_by_id(scenario, VENUE, market_id)
    if listing is None:
        raise _error(-1121, "Invalid symbol.")
    return listing


def answer(request: VenueRequest, scenario: Scenario) -> Answer:
    """Answer one GET request.

    Raises:
        Refusal: Binance's error answer (bad symbol, bad parameter, unknown route).
    """
    route = request.path.removeprefix(PREFIX)
    if route == "/ping":
        return json_answer({})
    if route == "/time":
        return json_answer({"serverTime": scenario.now_ms})
    if route == "/exchangeInfo":
        return json_answer(_exchange_info(scenario))
    if route == "/ticker/24hr":
        return json_answer(_tickers(request, scenario))
    if route == "/depth":
        return json_answer(_depth(request, scenario))
    if route == "/klines":
        return json_answer(_klines(request, scenario))
    raise Refusal(text_answer("Not Found", 404))


def unavailable() -> Answer:
    """Binance's 503: a plain-text body from its edge."""
    return text_answer("Service Unavailable.", 503)


def rate_limited(retry_after_s: int) -> Answer:
    """Binance's 429: code -1003 and Retry-After."""
    message = (
        "Too many requests; current limit of IP is 6000 requests per minute. "
        "Please use the websocket for live updates to avoid polling the API."
    )
    return json_answer({"code": -1003, "msg": message}, 429, retry_after(retry_after_s))


# --- exchangeInfo ------------------------------------------------------------------------------


def _exchange_info(scenario: Scenario) -> dict[str, Any]:
    """Build the exchangeInfo document (spot only)."""
    return {
        "timezone": "UTC",
        "serverTime": scenario.now_ms,
        "rateLimits": [
            {
                "rateLimitType": "REQUEST_WEIGHT",
                "interval": "MINUTE",
                "intervalNum": 1,
                "limit": 6000,
            },
            {"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10, "limit": 100},
            {
                "rateLimitType": "RAW_REQUESTS",
                "interval": "MINUTE",
                "intervalNum": 5,
                "limit": 61000,
            },
        ],
        "exchangeFilters": [],
        "symbols": [_symbol(listing) for listing in venue_listings(scenario, VENUE)],
    }


def _symbol(listing: Listing) -> dict[str, Any]:
    """Describe one spot symbol with its price and lot filters."""
    return {
        "symbol": listing.market_id,
        "status": "TRADING",
        "baseAsset": listing.base_id,
        "baseAssetPrecision": PLACES,
        "quoteAsset": listing.quote_id,
        "quotePrecision": PLACES,
        "quoteAssetPrecision": PLACES,
        "baseCommissionPrecision": PLACES,
        "quoteCommissionPrecision": PLACES,
        "orderTypes": ["LIMIT", "LIMIT_MAKER", "MARKET", "STOP_LOSS_LIMIT", "TAKE_PROFIT_LIMIT"],
        "icebergAllowed": True,
        "ocoAllowed": True,
        "otoAllowed": True,
        "quoteOrderQtyMarketAllowed": True,
        "allowTrailingStop": True,
        "cancelReplaceAllowed": True,
        "isSpotTradingAllowed": True,
        "isMarginTradingAllowed": False,
        "filters": [
            {
                "filterType": "PRICE_FILTER",
                "minPrice": fixed(listing.price_tick, PLACES),
                "maxPrice": "1000000.00000000",
                "tickSize": fixed(listing.price_tick, PLACES),
            },
            {
                "filterType": "LOT_SIZE",
                "minQty": fixed(listing.amount_min, PLACES),
                "maxQty": "9000.00000000",
                "stepSize": fixed(listing.amount_step, PLACES),
            },
            {"filterType": "ICEBERG_PARTS", "limit": 10},
            {"filterType": "MAX_NUM_ORDERS", "maxNumOrders": 200},
            {
                "filterType": "NOTIONAL",
                "minNotional": "5.00000000",
                "applyMinToMarket": True,
                "maxNotional": "9000000.00000000",
                "applyMaxToMarket": False,
                "avgPriceMins": 5,
            },
        ],
        "permissions": [],
        "permissionSets": [["SPOT"]],
        "defaultSelfTradePreventionMode": "EXPIRE_MAKER",
        "allowedSelfTradePreventionModes": ["EXPIRE_TAKER", "EXPIRE_MAKER", "EXPIRE_BOTH"],
    }


# --- tickers -----------------------------------------------------------------------------------


def _tickers(request: VenueRequest, scenario: Scenario) -> Any:
    """Answer ticker/24hr: one object for `symbol`, a list for `symbols` or for every pair."""
    single = request.query.get("symbol")
    if single is not None:
        listing = _listing(scenario, single)
        return _ticker(listing, quote(scenario, VENUE, listing))
    listings = venue_listings(scenario, VENUE)
    requested = request.query.get("symbols")
    if requested is not None:
        listings = tuple(_listing(scenario, market_id) for market_id in _symbol_list(requested))
    return [_ticker(listing, quote(scenario, VENUE, listing)) for listing in listings]


def _symbol_list(text: str) -> list[str]:
    """Parse the `symbols` parameter: a JSON array of Binance symbols."""
    try:
        parsed = json.loads(text)
    except ValueError:
        parsed = None
    if not isinstance(parsed, list) or not all(isinstance(item, str) for item in parsed):
        raise _error(-1100, "Illegal characters found in parameter 'symbols'.")
    return parsed


def _ticker(listing: Listing, current: Quote) -> dict[str, Any]:
    """Write one 24-hour ticker."""
    change = current.last - current.open_24h
    percent = (change * 100 / current.open_24h) if current.open_24h else change
    return {
        "symbol": listing.market_id,
        "priceChange": fixed(change, PLACES),
        "priceChangePercent": fixed(percent, 3),
        "weightedAvgPrice": fixed(current.last, PLACES),
        "prevClosePrice": fixed(current.open_24h, PLACES),
        "lastPrice": fixed(current.last, PLACES),
        "lastQty": fixed(listing.amount_min, PLACES),
        "bidPrice": fixed(current.bid, PLACES),
        "bidQty": fixed(current.bid_size, PLACES),
        "askPrice": fixed(current.ask, PLACES),
        "askQty": fixed(current.ask_size, PLACES),
        "openPrice": fixed(current.open_24h, PLACES),
        "highPrice": fixed(current.high_24h, PLACES),
        "lowPrice": fixed(current.low_24h, PLACES),
        "volume": fixed(current.volume_24h, PLACES),
        "quoteVolume": fixed(current.quote_volume_24h, PLACES),
        "openTime": current.timestamp_ms - DAY_MS,
        "closeTime": current.timestamp_ms,
        "firstId": 1,
        "lastId": 1 if current.volume_24h == 0 else 1000,
        "count": 0 if current.volume_24h == 0 else 1000,
    }


# --- depth and klines --------------------------------------------------------------------------


def _depth(request: VenueRequest, scenario: Scenario) -> dict[str, Any]:
    """Answer depth: `limit` levels a side (at most DEPTH_LIMIT_MAX)."""
    listing = _listing(scenario, request.query.get("symbol"))
    limit = integer_parameter(request, "limit", _bad_parameter) or DEPTH_LIMIT_DEFAULT
    if limit < 1:
        raise _error(-1100, "Illegal characters found in parameter 'limit'.")
    levels = book(scenario, VENUE, listing, min(limit, DEPTH_LIMIT_MAX))
    return {
        "lastUpdateId": scenario.now_ms,
        "bids": [
            [fixed(level.price, PLACES), fixed(level.amount, PLACES)] for level in levels.bids
        ],
        "asks": [
            [fixed(level.price, PLACES), fixed(level.amount, PLACES)] for level in levels.asks
        ],
    }


def _klines(request: VenueRequest, scenario: Scenario) -> list[list[Any]]:
    """Answer klines: from startTime forward, else the newest up to endTime (or now)."""
    listing = _listing(scenario, request.query.get("symbol"))
    width_ms = _kline_width(request.query.get("interval"))
    limit = integer_parameter(request, "limit", _bad_parameter)
    limit = KLINES_LIMIT_DEFAULT if limit is None else max(1, min(limit, KLINES_LIMIT_MAX))
    start_ms = integer_parameter(request, "startTime", _bad_parameter)
    end_ms = integer_parameter(request, "endTime", _bad_parameter)
    if start_ms is not None and end_ms is not None and start_ms > end_ms:
        raise _error(-1023, "Start time is greater than end time.")
    _, forming = served_indexes(scenario, width_ms)
    last = forming if end_ms is None else min(forming, end_ms // width_ms)
    if start_ms is None:
        first = last - limit + 1
    else:
        first = -(-start_ms // width_ms)  # the first kline opening at or after startTime
        last = min(last, first + limit - 1)
    rows = candles(scenario, VENUE, listing, width_ms, first, last)
    return [_kline(candle, width_ms) for candle in rows]


def _kline_width(interval: str | None) -> int:
    """Return the width of a served interval; refuse the others as Binance or the sandbox."""
    if not interval:
        raise _error(
            -1102, "Mandatory parameter 'interval' was not sent, was empty/null, or malformed."
        )
    if interval not in KLINE_INTERVALS:
        raise _error(-1120, "Invalid interval.")
    width_ms = KLINE_WIDTHS_MS.get(interval)
    if width_ms is None:
        raise unserved(f"klines interval {interval} (only {', '.join(KLINE_WIDTHS_MS)})")
    return width_ms


def _kline(candle: Candle, width_ms: int) -> list[Any]:
    """Write one kline: open time, OHLC, volume, close time, quote volume, trades, taker legs."""
    quote_volume = candle.volume * candle.close
    return [
        candle.open_ms,
        fixed(candle.open, PLACES),
        fixed(candle.high, PLACES),
        fixed(candle.low, PLACES),
        fixed(candle.close, PLACES),
        fixed(candle.volume, PLACES),
        candle.open_ms + width_ms - 1,
        fixed(quote_volume, PLACES),
        0 if candle.volume == 0 else KLINE_TRADES,
        fixed(candle.volume / 2, PLACES),
        fixed(quote_volume / 2, PLACES),
        "0",
    ]


DIALECT: Final = Dialect(VENUE, answer, unavailable, rate_limited, ENDPOINTS)
