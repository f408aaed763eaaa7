"""Kraken spot public market data (`/0/public`), in Kraken's format.

Routes: `Time`, `SystemStatus`, `Assets`, `AssetPairs`, `Ticker` (`pair` a comma list of
pair ids or altnames, or every pair), `Depth` (`count` 1..500, default 100), `OHLC` and
`Trades`. Tickers carry no timestamp (Kraken sends none): a ticker is dated by the pair's
latest trade, which is at the ticker's time (see `trades`).

`OHLC`: `interval` 60 or 1440 minutes (Kraken's other intervals answer the sandbox's 501;
an unknown one, like a malformed `since`, is EGeneral:Invalid arguments); only the newest
720 candles exist, the last of them the forming one; `since` (seconds) keeps those opening
strictly after it, but the forming candle is always there, as Kraken documents. `last` is
the open time of the newest closed candle.

`Trades`: one `pair`; `count` 1..1000 (default 1000); `since` in seconds or nanoseconds,
exclusive. Without `since`, the newest `count` trades; with it, the first `count` after
it. Entries are [price, volume, time (s, float), "b"/"s", "m"/"l", "", trade_id], oldest
first; `last` is the newest returned trade's time in nanoseconds, as a string.

Every answer is `{"error": [...], "result": {...}}`; results are keyed by Kraken's pair id
(XXBTZUSD).
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from email.utils import format_datetime
from typing import Any, Final

from sequestra_sandbox.venues.answers import (
    Answer,
    Dialect,
    Refusal,
    VenueRequest,
    fixed,
    integer_parameter,
    json_answer,
    plain,
    retry_after,
    unserved,
)
from sequestra_sandbox.venues.candles import Candle, candles, served_indexes
from sequestra_sandbox.venues.listings import KRAKEN_ASSETS, Listing, venue_listings
from sequestra_sandbox.venues.prices import Quote, book, quote
from sequestra_sandbox.venues.scenario import DAY_MS, HOUR_MS, Scenario
from sequestra_sandbox.venues.trades import NS_PER_MS, TRADES_PER_CALL_MAX, Trade, trades

VENUE: Final = "kraken"
PREFIX: Final = "/0/public"
DEPTH_COUNT_DEFAULT: Final = 100
DEPTH_COUNT_MAX: Final = 500
OHLC_INTERVAL_DEFAULT_MIN: Final = 1
OHLC_INTERVALS_MIN: Final = frozenset({1, 5, 15, 30, 60, 240, 1440, 10080, 21600})
OHLC_WIDTHS_MS: Final = {60: HOUR_MS, 1440: DAY_MS}  # the intervals the sandbox serves
OHLC_CANDLES_MAX: Final = 720  # Kraken returns at most the newest 720 candles
OHLC_TRADES: Final = 1_000  # the trade count a candle reports (0 when it has no volume)
TRADES_COUNT_DEFAULT: Final = TRADES_PER_CALL_MAX
SINCE_SECONDS_MAX: Final = 10**12  # a larger `since` is in nanoseconds (a `last` cursor)
NS_PER_S: Final = 1_000_000_000
VOLUME_PLACES: Final = 8
ENDPOINTS: Final = {
    "currencies": f"{PREFIX}/Assets",
    "markets": f"{PREFIX}/AssetPairs",
    "tickers": f"{PREFIX}/Ticker",
    "order_book": f"{PREFIX}/Depth",
    "ohlcv": f"{PREFIX}/OHLC",
    "trades": f"{PREFIX}/Trades",
}


def _error(message: str, status: int = 200) -> Refusal:
    """Return Kraken's error envelope as a refusal (Kraken answers most errors with 200)."""
    return Refusal(json_answer({"error": [message]}, status))


def _bad_argument(name: str) -> Refusal:
    """Refuse a malformed or out-of-range argument (Kraken does not name it)."""
    return _error("EGeneral:Invalid arguments")


def _ok(result: Any) -> Answer:
    """Wrap a result in Kraken's envelope."""
    return json_answer({"error": [], "result": result})


def _price(listing: Listing, value: Any) -> str:
    """Write a price with the pair's decimals (pair_decimals)."""
    return fixed(value, _places(listing))


def _places(listing: Listing) -> int:
    """Return the number of decimals of the pair's tick."""
    exponent = listing.price_tick.normalize().as_tuple().exponent
    return max(0, -exponent) if isinstance(exponent, int) else 0


def answer(request: VenueRequest, scenario: Scenario) -> Answer:
    """Answer one GET request.

    Raises:
        Refusal: Kraken's error envelope (unknown pair, bad argument, unknown method).
    """
    method = request.path.removeprefix(PREFIX + "/")
    if method == "Time":
        now = datetime.fromtimestamp(scenario.now_ms / 1000, UTC)
        return _ok({"unixtime": scenario.now_ms // 1000, "rfc1123": format_datetime(now, True)})
    if method == "SystemStatus":
        now = datetime.fromtimestamp(scenario.now_ms // 1000, UTC)
        return _ok({"status": "online", "timestamp": now.strftime("%Y-%m-%dT%H:%M:%SZ")})
    if method == "Assets":
        return _ok(_assets(scenario))
    if method == "AssetPairs":
        return _ok({item.market_id: _pair(item) for item in _requested(request, scenario)})
    if method == "Ticker":
        return _ok(_tickers(request, scenario))
    if method == "Depth":
        return _ok(_depth(request, scenario))
    if method == "OHLC":
        return _ok(_ohlc(request, scenario))
    if method == "Trades":
        return _ok(_trades(request, scenario))
    raise _error("EGeneral:Unknown method", 404)


def unavailable() -> Answer:
    """Kraken's 503: EService:Unavailable in its envelope."""
    return json_answer({"error": ["EService:Unavailable"]}, 503)


def rate_limited(retry_after_s: int) -> Answer:
    """Kraken's 429: EGeneral:Too many requests, with Retry-After."""
    return json_answer({"error": ["EGeneral:Too many requests"]}, 429, retry_after(retry_after_s))


def _requested(request: VenueRequest, scenario: Scenario) -> tuple[Listing, ...]:
    """Resolve the `pair` argument (ids or altnames, comma-separated); none means all."""
    listings = venue_listings(scenario, VENUE)
    text = request.query.get("pair")
    if text is None or text == "":
        return listings
    by_name = {item.market_id: item for item in listings}
    by_name.update((item.altname, item) for item in listings)
    found = []
    for name in text.split(","):
        listing = by_name.get(name)
        if listing is None:
            raise _error("EQuery:Unknown asset pair")
        found.append(listing)
    return tuple(found)


def _single(request: VenueRequest, scenario: Scenario) -> Listing:
    """Resolve a `pair` argument naming exactly one pair."""
    if not request.query.get("pair"):
        raise _error("EGeneral:Invalid arguments")
    listings = _requested(request, scenario)
    if len(listings) != 1:
        raise _error("EGeneral:Invalid arguments")
    return listings[0]


# --- reference data ----------------------------------------------------------------------------


def _assets(scenario: Scenario) -> dict[str, Any]:
    """Describe every asset the listed pairs use, under Kraken's asset ids."""
    ids: dict[str, None] = {}
    for listing in venue_listings(scenario, VENUE):
        ids.update({listing.base_id: None, listing.quote_id: None})
    result = {}
    for asset_id in ids:
        altname, decimals = KRAKEN_ASSETS.get(asset_id, (asset_id, 8))
        result[asset_id] = {
            "aclass": "currency",
            "altname": altname,
            "decimals": decimals,
            "display_decimals": min(decimals, 5),
            "status": "enabled",
        }
    return result


def _pair(listing: Listing) -> dict[str, Any]:
    """Describe one asset pair."""
    return {
        "altname": listing.altname,
        "wsname": listing.wsname,
        "aclass_base": "currency",
        "base": listing.base_id,
        "aclass_quote": "currency",
        "quote": listing.quote_id,
        "lot": "unit",
        "cost_decimals": 5,
        "pair_decimals": _places(listing),
        "lot_decimals": 8,
        "lot_multiplier": 1,
        "leverage_buy": [],
        "leverage_sell": [],
        "fees": [[0, 0.4], [10000, 0.35], [50000, 0.24]],
        "fees_maker": [[0, 0.25], [10000, 0.2], [50000, 0.14]],
        "fee_volume_currency": "ZUSD",
        "margin_call": 80,
        "margin_stop": 40,
        "ordermin": plain(listing.amount_min),
        "costmin": "0.5",
        "tick_size": plain(listing.price_tick),
        "status": "online",
    }


# --- market data -------------------------------------------------------------------------------


def _tickers(request: VenueRequest, scenario: Scenario) -> dict[str, Any]:
    """Answer Ticker for the requested pairs, keyed by pair id."""
    return {
        listing.market_id: _ticker(listing, quote(scenario, VENUE, listing))
        for listing in _requested(request, scenario)
    }


def _ticker(listing: Listing, current: Quote) -> dict[str, Any]:
    """Write one ticker: ask, bid, last, volume, vwap, trades, low, high, open."""
    volume = fixed(current.volume_24h, VOLUME_PLACES)
    trades = 0 if current.volume_24h == 0 else 1000
    return {
        "a": [_price(listing, current.ask), "1", fixed(current.ask_size, VOLUME_PLACES)],
        "b": [_price(listing, current.bid), "1", fixed(current.bid_size, VOLUME_PLACES)],
        "c": [_price(listing, current.last), fixed(listing.amount_min, VOLUME_PLACES)],
        "v": [volume, volume],
        "p": [_price(listing, current.last), _price(listing, current.last)],
        "t": [trades, trades],
        "l": [_price(listing, current.low_24h), _price(listing, current.low_24h)],
        "h": [_price(listing, current.high_24h), _price(listing, current.high_24h)],
        "o": _price(listing, current.open_24h),
    }


def _depth(request: VenueRequest, scenario: Scenario) -> dict[str, Any]:
    """Answer Depth: `count` levels a side, each [price, volume, timestamp in seconds]."""
    listing = _single(request, scenario)
    count = integer_parameter(request, "count", _bad_argument) or DEPTH_COUNT_DEFAULT
    levels = book(scenario, VENUE, listing, max(1, min(count, DEPTH_COUNT_MAX)))
    stamp = levels.timestamp_ms // 1000

    def side(entries: Any) -> list[list[Any]]:
        return [
            [_price(listing, level.price), fixed(level.amount, VOLUME_PLACES), stamp]
            for level in entries
        ]

    return {listing.market_id: {"asks": side(levels.asks), "bids": side(levels.bids)}}


def _ohlc(request: VenueRequest, scenario: Scenario) -> dict[str, Any]:
    """Answer OHLC: the newest 720 candles, those after `since`, and always the forming one."""
    listing = _single(request, scenario)
    interval = integer_parameter(request, "interval", _bad_argument)
    interval = OHLC_INTERVAL_DEFAULT_MIN if interval is None else interval
    if interval not in OHLC_INTERVALS_MIN:
        raise _bad_argument("interval")
    width_ms = OHLC_WIDTHS_MS.get(interval)
    if width_ms is None:
        raise unserved(f"OHLC interval {interval} (only {', '.join(map(str, OHLC_WIDTHS_MS))})")
    since_s = integer_parameter(request, "since", _bad_argument)
    _, forming = served_indexes(scenario, width_ms)
    rows = candles(scenario, VENUE, listing, width_ms, forming - OHLC_CANDLES_MAX + 1, forming)
    if since_s is not None:
        rows = tuple(
            candle
            for candle in rows
            if candle.open_ms // 1000 > since_s or candle.open_ms // width_ms == forming
        )
    last_closed_s = (forming - 1) * width_ms // 1000
    return {listing.market_id: [_row(listing, candle) for candle in rows], "last": last_closed_s}


def _row(listing: Listing, candle: Candle) -> list[Any]:
    """Write one candle: time (s), open, high, low, close, vwap, volume, trade count."""
    vwap = ((candle.high + candle.low + candle.close) / 3).quantize(listing.price_tick)
    return [
        candle.open_ms // 1000,
        _price(listing, candle.open),
        _price(listing, candle.high),
        _price(listing, candle.low),
        _price(listing, candle.close),
        _price(listing, vwap),
        fixed(candle.volume, VOLUME_PLACES),
        0 if candle.volume == 0 else OHLC_TRADES,
    ]


def _trades(request: VenueRequest, scenario: Scenario) -> dict[str, Any]:
    """Answer Trades: the newest `count` trades, or the first `count` after `since`."""
    listing = _single(request, scenario)
    count = integer_parameter(request, "count", _bad_argument)
    count = TRADES_COUNT_DEFAULT if count is None else count
    if not 1 <= count <= TRADES_PER_CALL_MAX:
        raise _bad_argument("count")
    after_ns = _since_ns(request.query.get("since"))
    found = trades(scenario, VENUE, listing, after_ns, count)
    last_ns = found[-1].time_ms * NS_PER_MS if found else (after_ns or 0)
    return {
        listing.market_id: [_trade(listing, trade) for trade in found],
        "last": str(last_ns),
    }


def _since_ns(text: str | None) -> int | None:
    """Read Trades' `since`: seconds (a decimal) or a nanosecond cursor; None when absent."""
    if text is None or text == "":
        return None
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise _bad_argument("since") from None
    if not value.is_finite() or value < 0:
        raise _bad_argument("since")
    if value >= SINCE_SECONDS_MAX:
        return int(value)
    return int(value * NS_PER_S)


def _trade(listing: Listing, trade: Trade) -> list[Any]:
    """Write one trade: price, volume, time (s), side, order type, misc, trade id."""
    return [
        _price(listing, trade.price),
        fixed(trade.amount, VOLUME_PLACES),
        trade.time_ms / 1000,  # a number, as Kraken sends: ccxt's int(t * 1000) is exact
        "b" if trade.buyer_is_taker else "s",
        "m" if trade.trade_id % 3 == 0 else "l",
        "",
        trade.trade_id,
    ]


DIALECT: Final = Dialect(VENUE, answer, unavailable, rate_limited, ENDPOINTS)
