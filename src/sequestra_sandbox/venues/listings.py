"""Which pairs each sandbox venue lists, under the venue's own ids, ticks and lot sizes.

Listed as the venues list them: Binance quotes USDT and USDC (no USD); Kraken quotes USD
and USDT with its legacy asset ids (XXBT, XETH, ZUSD) and pair ids (XXBTZUSD, XBTUSDT);
OKX quotes USDT and USDC with dashed ids (BTC-USDT). Synthetic assets (TKN001...) are
listed against USDT on the scenario's `extra_venues`.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from types import MappingProxyType
from typing import Final

from sequestra_sandbox.venues.scenario import Scenario, ScenarioError

LISTINGS_CACHE_MAX: Final = 64


@dataclass(frozen=True, slots=True)
class Listing:
    """One pair on one venue: unified symbol, the venue's ids, price tick and lot rules."""

    symbol: str
    market_id: str
    base_id: str
    quote_id: str
    price_tick: Decimal
    amount_step: Decimal
    amount_min: Decimal
    altname: str = ""  # Kraken only: the pair's short name (XBTUSD)
    wsname: str = ""  # Kraken only: the pair's websocket name (XBT/USD)

    @property
    def base(self) -> str:
        """Return the unified base asset (BTC)."""
        return self.symbol.split("/", 1)[0]

    @property
    def quote(self) -> str:
        """Return the unified quote asset (USDT)."""
        return self.symbol.split("/", 1)[1]


def _plain(symbol: str, separator: str, tick: str, step: str, minimum: str) -> Listing:
    """List a pair whose ids are the unified asset codes (Binance, OKX)."""
    base, quote = symbol.split("/")
    return Listing(
        symbol=symbol,
        market_id=f"{base}{separator}{quote}",
        base_id=base,
        quote_id=quote,
        price_tick=Decimal(tick),
        amount_step=Decimal(step),
        amount_min=Decimal(minimum),
    )


def _kraken(symbol: str, ids: tuple[str, str, str, str], tick: str, minimum: str) -> Listing:
    """List a Kraken pair: (pair id, altname, base asset id, quote asset id)."""
    market_id, altname, base_id, quote_id = ids
    base, quote = symbol.split("/")
    wsbase = "XBT" if base == "BTC" else base
    return Listing(
        symbol=symbol,
        market_id=market_id,
        base_id=base_id,
        quote_id=quote_id,
        price_tick=Decimal(tick),
        amount_step=Decimal("0.00000001"),
        amount_min=Decimal(minimum),
        altname=altname,
        wsname=f"{wsbase}/{quote}",
    )


BINANCE_LISTINGS: Final = (
    _plain("BTC/USDT", "", "0.01", "0.00001", "0.00001"),
    _plain("ETH/USDT", "", "0.01", "0.0001", "0.0001"),
    _plain("BTC/USDC", "", "0.01", "0.00001", "0.00001"),
    _plain("ETH/USDC", "", "0.01", "0.0001", "0.0001"),
    _plain("USDC/USDT", "", "0.0001", "1", "1"),
)
KRAKEN_LISTINGS: Final = (
    _kraken("BTC/USD", ("XXBTZUSD", "XBTUSD", "XXBT", "ZUSD"), "0.1", "0.00005"),
    _kraken("ETH/USD", ("XETHZUSD", "ETHUSD", "XETH", "ZUSD"), "0.01", "0.002"),
    _kraken("USDT/USD", ("USDTZUSD", "USDTUSD", "USDT", "ZUSD"), "0.0001", "5"),
    _kraken("USDC/USD", ("USDCUSD", "USDCUSD", "USDC", "ZUSD"), "0.0001", "5"),
    _kraken("BTC/USDT", ("XBTUSDT", "XBTUSDT", "XXBT", "USDT"), "0.1", "0.00005"),
    _kraken("ETH/USDT", ("ETHUSDT", "ETHUSDT", "XETH", "USDT"), "0.01", "0.002"),
    _kraken("USDC/USDT", ("USDCUSDT", "USDCUSDT", "USDC", "USDT"), "0.0001", "5"),
)
OKX_LISTINGS: Final = (
    _plain("BTC/USDT", "-", "0.1", "0.00000001", "0.00001"),
    _plain("ETH/USDT", "-", "0.01", "0.000001", "0.0001"),
    _plain("BTC/USDC", "-", "0.1", "0.00000001", "0.00001"),
    _plain("ETH/USDC", "-", "0.01", "0.000001", "0.0001"),
    _plain("USDC/USDT", "-", "0.0001", "0.000001", "1"),
)
_BASE_LISTINGS: Final = {
    "binance": BINANCE_LISTINGS,
    "kraken": KRAKEN_LISTINGS,
    "okx": OKX_LISTINGS,
}

# Kraken's asset ids for the assets it lists under legacy names: id -> (altname, decimals).
KRAKEN_ASSETS: Final = {
    "XXBT": ("XBT", 10),
    "XETH": ("ETH", 10),
    "ZUSD": ("USD", 4),
    "USDT": ("USDT", 8),
    "USDC": ("USDC", 8),
}


def _extra_listing(venue: str, asset: str) -> Listing:
    """List a synthetic asset against USDT the way `venue` names pairs."""
    symbol = f"{asset}/USDT"
    if venue == "kraken":
        ids = (f"{asset}USDT", f"{asset}USDT", asset, "USDT")
        return _kraken(symbol, ids, "0.0001", "1")
    separator = "-" if venue == "okx" else ""
    return _plain(symbol, separator, "0.0001", "0.1", "0.1")


@functools.lru_cache(maxsize=LISTINGS_CACHE_MAX)
def _listings(venue: str, extra_assets: tuple[str, ...]) -> tuple[Listing, ...]:
    """Build a venue's listings (cached: the scenario changes, the listings rarely do)."""
    base = _BASE_LISTINGS.get(venue)
    if base is None:
        raise ScenarioError(f"expected a venue in {sorted(_BASE_LISTINGS)}, got {venue!r}")
    return base + tuple(_extra_listing(venue, asset) for asset in extra_assets)


def venue_listings(scenario: Scenario, venue: str) -> tuple[Listing, ...]:
    """Return every pair `venue` lists under `scenario`.

    Raises:
        ScenarioError: the venue is not one the sandbox serves.
    """
    extras = scenario.extra_assets if venue in scenario.extra_venues else ()
    return _listings(venue, extras)


def find_listing(scenario: Scenario, venue: str, symbol: str) -> Listing:
    """Return `venue`'s listing of a unified symbol.

    Raises:
        ScenarioError: the venue does not list the symbol.
    """
    for listing in venue_listings(scenario, venue):
        if listing.symbol == symbol:
            return listing
    raise ScenarioError(f"expected a pair {venue} lists, got {symbol!r}")


def listing_by_id(scenario: Scenario, venue: str, market_id: str) -> Listing | None:
    """Return `venue`'s listing with the venue's own id, or None."""
    return _ids(venue, scenario.extra_assets if venue in scenario.extra_venues else ()).get(
        market_id
    )


@functools.lru_cache(maxsize=LISTINGS_CACHE_MAX)
def _ids(venue: str, extra_assets: tuple[str, ...]) -> Mapping[str, Listing]:
    """Index a venue's listings by the venue's ids (cached, so read-only)."""
    return MappingProxyType({item.market_id: item for item in _listings(venue, extra_assets)})
