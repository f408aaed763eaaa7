"""Venues through ccxt: public market data only, options passed explicitly.

A `CcxtVenue` loads its markets once and then answers each valuation with ONE
`fetch_tickers` call for every pair it lists; a venue whose tickers carry no time (Kraken)
is asked for each pair's latest trade, which dates the ticker (never its arrival). For a
past cutoff it reads, per pair, the hourly candles of the day before the cutoff: the close
of the last candle that ENDED at or before the cutoff is the price, dated at that candle's
end, and the 24 hourly volumes before it are the volume; a venue that serves no hourly
candle that far back is read from the daily candle that ended at or before the cutoff (the
day before the cutoff's day), dated at its end. Nothing after the cutoff is ever used.
ccxt returns floats; they are turned into Decimal through their shortest text
(`Decimal(str(x))`) here, at the edge, and nowhere else. Every ccxt failure becomes a
`VenueError` naming the venue: the valuation goes on with the other venues and records the
missing one.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any, Final
from urllib.parse import urlsplit

from sequestra.errors import DependencyUnavailable
from sequestra.fairvalue import Quote

TIMEOUT_MS_DEFAULT: Final = 10_000
DAY_MS: Final = 86_400_000
HOUR_MS: Final = 3_600_000
HOURS_OF_VOLUME: Final = 24  # a past cutoff's volume: the 24 hourly candles before it
URL_TABLE_DEPTH_MAX: Final = 4


class VenueError(DependencyUnavailable):
    """A venue could not answer (down, rate limited, slow, garbage)."""

    def __init__(self, venue: str, reason: str) -> None:
        super().__init__(f"{venue}: {reason}")
        self.venue = venue
        self.reason = reason


def _decimal(value: Any) -> Decimal | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        return None
    return number if number.is_finite() else None


def _time(milliseconds: Any) -> datetime | None:
    if not isinstance(milliseconds, int | float) or isinstance(milliseconds, bool):
        return None
    return datetime.fromtimestamp(milliseconds / 1000, UTC)


class CcxtVenue:
    """One venue's public market data through its ccxt class."""

    def __init__(
        self,
        venue: str,
        timeout_ms: int = TIMEOUT_MS_DEFAULT,
        api_urls: Mapping[str, Any] | None = None,
        options: Mapping[str, Any] | None = None,
        api_base_url: str | None = None,
        rate_limit_ms: int | None = None,
    ) -> None:
        import ccxt  # type: ignore[import-untyped]  # 0.4 s to import: only when a venue is used

        self._errors = ccxt.BaseError
        exchange_class = getattr(ccxt, venue, None)
        if exchange_class is None or not isinstance(exchange_class, type):
            raise ValueError(f"venue: expected a ccxt exchange id, got {venue!r}")
        self.venue = venue
        config: dict[str, Any] = {
            "enableRateLimit": True,
            "timeout": timeout_ms,
            "options": dict(options or {}),
        }
        if rate_limit_ms is not None:
            config["rateLimit"] = rate_limit_ms
        self.exchange = exchange_class(config)
        if api_urls:
            self.exchange.urls["api"] = dict(api_urls)
        if api_base_url:
            self.exchange.urls["api"] = rebase_urls(self.exchange.urls["api"], api_base_url)
        self.calls = 0
        self._markets_loaded = False

    def _call(self, method: str, *args: Any) -> Any:
        self.calls += 1
        try:
            return getattr(self.exchange, method)(*args)
        except self._errors as error:
            raise VenueError(self.venue, f"{type(error).__name__}: {str(error)[:300]}") from None

    def listed(self, pairs: Sequence[str]) -> list[str]:
        """The pairs this venue lists (markets are loaded on first use, then cached)."""
        if not self._markets_loaded:
            self._call("load_markets")
            self._markets_loaded = True
        markets = self.exchange.markets or {}
        return [pair for pair in pairs if pair in markets]

    def fetch_quotes(self, pairs: Sequence[str]) -> list[Quote]:
        """Tickers of every listed pair, in one request; a ticker without a time is dated
        by the pair's latest trade (one more request per such pair), else left undated."""
        wanted = self.listed(pairs)
        if not wanted:
            return []
        tickers = self._call("fetch_tickers", wanted)
        if not isinstance(tickers, dict):
            raise VenueError(self.venue, "fetch_tickers: expected a mapping of tickers")
        return [self._quote(pair, tickers[pair]) for pair in wanted if pair in tickers]

    def fetch_closes(self, pairs: Sequence[str], cutoff: datetime) -> list[Quote]:
        """Every listed pair's price at a past `cutoff` from candles that ended at or before
        it (see the module): the close as `last`, the candle's end as the time."""
        cutoff_ms = int(cutoff.timestamp() * 1000)
        quotes = []
        for pair in self.listed(pairs):
            found = self._hourly(pair, cutoff_ms) or self._daily(pair, cutoff_ms)
            if found is None:
                continue
            close, volume, ended_ms = found
            base, quote = pair.split("/")
            quotes.append(
                Quote(self.venue, pair, base, quote, close, None, None, volume, _time(ended_ms))
            )
        return quotes

    def _hourly(self, pair: str, cutoff_ms: int) -> tuple[Decimal | None, Decimal, int] | None:
        first_ms = (cutoff_ms // HOUR_MS - HOURS_OF_VOLUME) * HOUR_MS
        candles = self._call("fetch_ohlcv", pair, "1h", first_ms, HOURS_OF_VOLUME + 1)
        ended = _ended(candles, HOUR_MS, first_ms, cutoff_ms)[-HOURS_OF_VOLUME:]
        if not ended:
            return None
        volume = sum((_decimal(c[5]) or Decimal(0) for c in ended), Decimal(0))
        return _decimal(ended[-1][4]), volume, ended[-1][0] + HOUR_MS - 1

    def _daily(self, pair: str, cutoff_ms: int) -> tuple[Decimal | None, Decimal, int] | None:
        first_ms = (cutoff_ms // DAY_MS - 1) * DAY_MS
        candles = self._call("fetch_ohlcv", pair, "1d", first_ms, 2)
        ended = _ended(candles, DAY_MS, first_ms, cutoff_ms)
        if not ended:
            return None
        last = ended[-1]
        return _decimal(last[4]), _decimal(last[5]) or Decimal(0), last[0] + DAY_MS - 1

    def fetch_bids(self, pair: str, limit: int) -> list[tuple[Decimal, Decimal]]:
        """The order book's bids of a listed pair, best first: (price, amount) as Decimal."""
        book = self._call("fetch_order_book", pair, limit)
        bids = book.get("bids") if isinstance(book, dict) else None
        if not isinstance(bids, list):
            raise VenueError(self.venue, f"order book of {pair}: expected bids")
        found = []
        for level in bids[:limit]:
            if isinstance(level, list) and len(level) >= 2:
                price, amount = _decimal(level[0]), _decimal(level[1])
                if price is not None and amount is not None and price > 0 and amount > 0:
                    found.append((price, amount))
        return found

    def fetch_daily_candles(self, pair: str, since_ms: int, limit: int) -> list[Any]:
        """Daily candles `[ms, open, high, low, close, volume]` of a pair from `since_ms`."""
        candles = self._call("fetch_ohlcv", pair, "1d", since_ms, limit)
        return candles if isinstance(candles, list) else []

    def _quote(self, pair: str, ticker: Any) -> Quote:
        if not isinstance(ticker, dict):
            raise VenueError(self.venue, f"ticker of {pair}: expected an object")
        base, quote = pair.split("/")
        stamp = _time(ticker.get("timestamp"))
        if stamp is None:  # Kraken sends none: the latest trade dates it, never its arrival
            stamp = self._latest_trade_time(pair)
        return Quote(
            self.venue,
            pair,
            base,
            quote,
            _decimal(ticker.get("last")),
            _decimal(ticker.get("bid")),
            _decimal(ticker.get("ask")),
            _decimal(ticker.get("baseVolume")),
            stamp,
        )

    def _latest_trade_time(self, pair: str) -> datetime | None:
        if not self.exchange.has.get("fetchTrades"):
            return None
        try:
            trades = self._call("fetch_trades", pair, None, 1)
        except VenueError:
            return None  # undated: the quote is dropped as such, the venue's others stand
        times = [t.get("timestamp") for t in trades or [] if isinstance(t, dict)]
        stamps = [t for t in times if isinstance(t, int | float) and not isinstance(t, bool)]
        return _time(max(stamps)) if stamps else None


def _ended(candles: Any, width_ms: int, first_ms: int, cutoff_ms: int) -> list[list[Any]]:
    """The well-formed candles from `first_ms` that ended at or before `cutoff_ms`, in order."""
    rows = [
        c
        for c in (candles if isinstance(candles, list) else [])
        if isinstance(c, list)
        and len(c) >= 6
        and isinstance(c[0], int)
        and not isinstance(c[0], bool)
    ]
    return sorted(
        (c for c in rows if first_ms <= c[0] and c[0] + width_ms <= cutoff_ms),
        key=lambda c: c[0],
    )


def rebase_urls(urls: Any, base_url: str, depth: int = 0) -> Any:
    """ccxt's `urls["api"]` with every URL moved onto `base_url`, paths kept (a mirror or a
    proxy of the venue's API). Tables nest at most URL_TABLE_DEPTH_MAX deep."""
    if depth > URL_TABLE_DEPTH_MAX:
        raise ValueError(f"api urls: expected tables at most {URL_TABLE_DEPTH_MAX} deep")
    if isinstance(urls, dict):
        return {key: rebase_urls(value, base_url, depth + 1) for key, value in urls.items()}
    if isinstance(urls, str):
        return base_url.rstrip("/") + urlsplit(urls).path.rstrip("/")
    return urls
