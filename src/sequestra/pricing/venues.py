"""Venues through ccxt: public market data only, options passed explicitly.

A `CcxtVenue` loads its markets once and then answers each valuation with ONE
`fetch_tickers` call for every pair it lists (or, for a past cutoff, one daily OHLCV candle
per pair). ccxt returns floats; they are turned into Decimal through their shortest text
(`Decimal(str(x))`) here, at the edge, and nowhere else. Every ccxt failure becomes a
`VenueError` naming the venue: the valuation goes on with the other venues and records the
missing one.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any, Final
from urllib.parse import urlsplit

from sequestra.errors import DependencyUnavailable
from sequestra.pricing.aggregate import Quote

TIMEOUT_MS_DEFAULT: Final = 10_000
DAY_MS: Final = 86_400_000
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
        """Tickers of every listed pair, in one request."""
        wanted = self.listed(pairs)
        if not wanted:
            return []
        tickers = self._call("fetch_tickers", wanted)
        received = datetime.now(UTC)
        if not isinstance(tickers, dict):
            raise VenueError(self.venue, "fetch_tickers: expected a mapping of tickers")
        return [self._quote(pair, tickers[pair], received) for pair in wanted if pair in tickers]

    def fetch_closes(self, pairs: Sequence[str], day: date) -> list[Quote]:
        """The daily candle of `day` (UTC) of every listed pair: its close as `last`."""
        since_ms = int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp() * 1000)
        quotes = []
        for pair in self.listed(pairs):
            candles = self._call("fetch_ohlcv", pair, "1d", since_ms, 1)
            match = [c for c in candles or [] if isinstance(c, list) and c and c[0] == since_ms]
            if not match:
                continue
            _, _, _, _, close, volume = (match[0] + [None] * 6)[:6]
            base, quote = pair.split("/")
            closed_at = _time(since_ms + DAY_MS - 1)
            quotes.append(
                Quote(
                    self.venue,
                    pair,
                    base,
                    quote,
                    _decimal(close),
                    None,
                    None,
                    _decimal(volume),
                    closed_at,
                )
            )
        return quotes

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

    def _quote(self, pair: str, ticker: Any, received: datetime) -> Quote:
        if not isinstance(ticker, dict):
            raise VenueError(self.venue, f"ticker of {pair}: expected an object")
        base, quote = pair.split("/")
        return Quote(
            self.venue,
            pair,
            base,
            quote,
            _decimal(ticker.get("last")),
            _decimal(ticker.get("bid")),
            _decimal(ticker.get("ask")),
            _decimal(ticker.get("baseVolume")),
            # A venue that does not time its tickers (Kraken) is timed at receipt.
            _time(ticker.get("timestamp")) or received,
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


def day_of(cutoff: datetime) -> date:
    """The UTC calendar day a cutoff falls in (daily candles are UTC days)."""
    return cutoff.astimezone(UTC).date()
