"""OKX spot public market data (`/api/v5`), in OKX's format.

Routes: `public/time`, `public/instruments` (`instType=SPOT`; other types list nothing),
`market/tickers` (`instType=SPOT`: every spot pair), `market/ticker`, `market/books`
(`sz` 1..400, default 1) and `market/books-full` (`sz` 1..5000), `market/candles` and
`market/history-candles`.

Candles: `bar` `1H` or `1Dutc` (OKX's other bars, its default `1m` and `1D`, Hong Kong
days, included, answer the sandbox's 501; an unknown bar is 51000); `limit` 1..300
(default 100; else 51000); `after` keeps bars opening strictly before it, `before` those
opening strictly after it; the newest `limit` of what is left, newest first (so `before`
alone gives the latest bars, as OKX documents). `market/candles` holds the newest 1,440
bars, `market/history-candles` the whole history (three years); both include the forming
bar, with `confirm` "0" (closed bars "1"). ccxt picks history-candles by the machine's
clock, not the venue's, so both must answer alike.

Every answer is `{"code": "0", "msg": "", "data": [...]}`; numbers are strings.
"""

from __future__ import annotations

from typing import Any, Final

from sequestra_sandbox.venues.answers import (
    Answer,
    Dialect,
    Refusal,
    VenueRequest,
    integer_parameter,
    json_answer,
    plain,
    retry_after,
    unserved,
)
from sequestra_sandbox.venues.candles import Candle, candles, served_indexes
from sequestra_sandbox.venues.listings import Listing, listing_by_id, venue_listings
from sequestra_sandbox.venues.prices import Quote, book, quote
from sequestra_sandbox.venues.scenario import DAY_MS, HOUR_MS, Scenario

VENUE: Final = "okx"
PREFIX: Final = "/api/v5"
BOOKS_SIZE_DEFAULT: Final = 1
BOOKS_SIZE_MAX: Final = 400
BOOKS_FULL_SIZE_MAX: Final = 5_000
CANDLES_LIMIT_DEFAULT: Final = 100
CANDLES_LIMIT_MAX: Final = 300
RECENT_CANDLES_MAX: Final = 1_440  # market/candles serves only the newest 1,440 bars
BAR_DEFAULT: Final = "1m"
BAR_WIDTHS_MS: Final = {"1H": HOUR_MS, "1Dutc": DAY_MS}  # the bars the sandbox serves
BARS: Final = frozenset(
    {"1s", "1m", "3m", "5m", "15m", "30m", "1H", "2H", "4H", "6H", "12H"}
    | {"1D", "2D", "3D", "1W", "1M", "3M"}
    | {"6Hutc", "12Hutc", "1Dutc", "2Dutc", "3Dutc", "1Wutc", "1Mutc", "3Mutc"}
)  # every bar OKX knows
ENDPOINTS: Final = {
    "markets": f"{PREFIX}/public/instruments",
    "tickers": f"{PREFIX}/market/tickers",
    "order_book": f"{PREFIX}/market/books",
    "ohlcv": f"{PREFIX}/market/candles",
}


def _error(code: str, message: str, status: int = 200) -> Refusal:
    """Return OKX's error envelope as a refusal."""
    return Refusal(json_answer({"code": code, "msg": message, "data": []}, status))


def _bad_parameter(name: str) -> Refusal:
    """Refuse a malformed parameter (51000)."""
    return _error("51000", f"Parameter {name} error", 400)


def _ok(data: list[Any]) -> Answer:
    """Wrap data in OKX's envelope."""
    return json_answer({"code": "0", "msg": "", "data": data})


def _listing(request: VenueRequest, scenario: Scenario) -> Listing:
    """Find the listing named by `instId`, or refuse (50014 missing, 51001 unknown)."""
    inst_id = request.query.get("instId")
    if not inst_id:
        raise _error("50014", "Parameter instId can not be empty.", 400)
    listing = listing_by_id(scenario, VENUE, inst_id)
    if listing is None:
        raise _error("51001", "Instrument ID or Spread ID doesn't exist.")
    return listing


def answer(request: VenueRequest, scenario: Scenario) -> Answer:
    """Answer one GET request.

    Raises:
        Refusal: OKX's error envelope (unknown instrument, bad parameter, unknown route).
    """
    route = request.path.removeprefix(PREFIX)
    if route == "/public/time":
        return _ok([{"ts": str(scenario.now_ms)}])
    if route == "/public/instruments":
        return _ok(_instruments(request, scenario))
    if route == "/market/tickers":
        if _inst_type(request) != "SPOT":
            return _ok([])
        return _ok(
            [
                _ticker(item, quote(scenario, VENUE, item))
                for item in venue_listings(scenario, VENUE)
            ]
        )
    if route == "/market/ticker":
        listing = _listing(request, scenario)
        return _ok([_ticker(listing, quote(scenario, VENUE, listing))])
    if route in ("/market/books", "/market/books-full"):
        size_max = BOOKS_SIZE_MAX if route == "/market/books" else BOOKS_FULL_SIZE_MAX
        return _ok([_books(request, scenario, size_max)])
    if route in ("/market/candles", "/market/history-candles"):
        return _ok(_candles(request, scenario, recent_only=route == "/market/candles"))
    raise _error("404", "Not Found", 404)


def unavailable() -> Answer:
    """OKX's 503: 50001, service temporarily unavailable."""
    message = "Service temporarily unavailable. Please try again later"
    return json_answer({"code": "50001", "msg": message, "data": []}, 503)


def rate_limited(retry_after_s: int) -> Answer:
    """OKX's 429: 50011, too many requests, with Retry-After."""
    payload = {"code": "50011", "msg": "Too Many Requests", "data": []}
    return json_answer(payload, 429, retry_after(retry_after_s))


def _inst_type(request: VenueRequest) -> str:
    """Return the required `instType` parameter."""
    inst_type = request.query.get("instType")
    if not inst_type:
        raise _error("50014", "Parameter instType can not be empty.", 400)
    return inst_type


# --- instruments and tickers -------------------------------------------------------------------


def _instruments(request: VenueRequest, scenario: Scenario) -> list[dict[str, Any]]:
    """List spot instruments (derivatives are not served: an empty list)."""
    if _inst_type(request) != "SPOT":
        return []
    if request.query.get("instId"):
        return [_instrument(_listing(request, scenario))]
    return [_instrument(listing) for listing in venue_listings(scenario, VENUE)]


def _instrument(listing: Listing) -> dict[str, Any]:
    """Describe one spot instrument."""
    return {
        "alias": "",
        "auctionEndTime": "",
        "baseCcy": listing.base_id,
        "category": "1",
        "ctMult": "",
        "ctType": "",
        "ctVal": "",
        "ctValCcy": "",
        "expTime": "",
        "instFamily": "",
        "instId": listing.market_id,
        "instType": "SPOT",
        "lever": "",
        "listTime": "1548133413000",
        "lotSz": plain(listing.amount_step),
        "maxIcebergSz": "9999999999.0000000000000000",
        "maxLmtAmt": "1000000",
        "maxLmtSz": "9999999999",
        "maxMktAmt": "1000000",
        "maxMktSz": "1000000",
        "maxStopSz": "1000000",
        "maxTriggerSz": "9999999999.0000000000000000",
        "maxTwapSz": "9999999999.0000000000000000",
        "minSz": plain(listing.amount_min),
        "optType": "",
        "quoteCcy": listing.quote_id,
        "settleCcy": "",
        "state": "live",
        "ruleType": "normal",
        "stk": "",
        "tickSz": plain(listing.price_tick),
        "uly": "",
    }


def _ticker(listing: Listing, current: Quote) -> dict[str, Any]:
    """Write one spot ticker (vol24h in base units, volCcy24h in quote units)."""
    return {
        "instType": "SPOT",
        "instId": listing.market_id,
        "last": plain(current.last),
        "lastSz": plain(listing.amount_min),
        "askPx": plain(current.ask),
        "askSz": plain(current.ask_size),
        "bidPx": plain(current.bid),
        "bidSz": plain(current.bid_size),
        "open24h": plain(current.open_24h),
        "high24h": plain(current.high_24h),
        "low24h": plain(current.low_24h),
        "volCcy24h": plain(current.quote_volume_24h),
        "vol24h": plain(current.volume_24h),
        "ts": str(current.timestamp_ms),
        "sodUtc0": plain(current.open_24h),
        "sodUtc8": plain(current.open_24h),
    }


# --- books and candles -------------------------------------------------------------------------


def _books(request: VenueRequest, scenario: Scenario, size_max: int) -> dict[str, Any]:
    """Answer books: `sz` levels a side, each [price, size, "0", order count]."""
    listing = _listing(request, scenario)
    size = integer_parameter(request, "sz", _bad_parameter) or BOOKS_SIZE_DEFAULT
    if not 1 <= size <= size_max:
        raise _bad_parameter("sz")
    levels = book(scenario, VENUE, listing, size)
    return {
        "asks": [[plain(level.price), plain(level.amount), "0", "1"] for level in levels.asks],
        "bids": [[plain(level.price), plain(level.amount), "0", "1"] for level in levels.bids],
        "ts": str(levels.timestamp_ms),
    }


def _candles(request: VenueRequest, scenario: Scenario, recent_only: bool) -> list[list[str]]:
    """Answer candles: bars newer than `before` and older than `after`, newest first."""
    listing = _listing(request, scenario)
    width_ms = _bar_width(request.query.get("bar") or BAR_DEFAULT)
    limit = integer_parameter(request, "limit", _bad_parameter)
    limit = CANDLES_LIMIT_DEFAULT if limit is None else limit
    if not 1 <= limit <= CANDLES_LIMIT_MAX:
        raise _bad_parameter("limit")
    after_ms = integer_parameter(request, "after", _bad_parameter)
    before_ms = integer_parameter(request, "before", _bad_parameter)
    oldest, forming = served_indexes(scenario, width_ms)
    first = forming - RECENT_CANDLES_MAX + 1 if recent_only else oldest
    if before_ms is not None:
        first = max(first, before_ms // width_ms + 1)  # opening strictly after `before`
    last = forming if after_ms is None else min(forming, (after_ms - 1) // width_ms)
    rows = candles(scenario, VENUE, listing, width_ms, max(first, last - limit + 1), last)
    return [_row(candle, candle.open_ms // width_ms == forming) for candle in reversed(rows)]


def _bar_width(bar: str) -> int:
    """Return the width of a served bar; refuse the others as OKX or the sandbox would."""
    if bar not in BARS:
        raise _bad_parameter("bar")
    width_ms = BAR_WIDTHS_MS.get(bar)
    if width_ms is None:
        raise unserved(f"candles bar {bar} (only {', '.join(BAR_WIDTHS_MS)})")
    return width_ms


def _row(candle: Candle, forming: bool) -> list[str]:
    """Write one bar: ts, o, h, l, c, vol (base), volCcy and volCcyQuote (quote), confirm."""
    quote_volume = plain(candle.volume * candle.close)
    return [
        str(candle.open_ms),
        plain(candle.open),
        plain(candle.high),
        plain(candle.low),
        plain(candle.close),
        plain(candle.volume),
        quote_volume,
        quote_volume,
        "0" if forming else "1",
    ]


DIALECT: Final = Dialect(VENUE, answer, unavailable, rate_limited, ENDPOINTS)
