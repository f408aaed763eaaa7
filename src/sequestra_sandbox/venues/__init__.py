"""Local stand-ins for exchanges' public market data, in each venue's own format.

Binance (`/api/v3`), Kraken (`/0/public`) and OKX (`/api/v5`) answer markets, tickers,
order books, hourly and daily OHLCV (and Kraken its recent trades) from a seeded,
clock-injected `Scenario`, so ccxt's real exchange classes parse them. Each venue module
lists its routes, parameters and limits; `candles` states how hourly candles add up to
daily ones, `trades` how Kraken's latest trade dates its ticker. `running_venues(scenario)`
runs one server per venue and yields `VenueServers` (URLs, request counts,
`set_scenario`); `sandbox_exchange(venue, url)` builds the ccxt instance pointed at one;
`python -m sequestra_sandbox.venues --port N` runs them as a process.
"""

from sequestra_sandbox.venues.candles import Candle, daily_candles, hourly_candles
from sequestra_sandbox.venues.client import sandbox_exchange
from sequestra_sandbox.venues.listings import Listing, find_listing, venue_listings
from sequestra_sandbox.venues.prices import (
    Book,
    BookLevel,
    Quote,
    book,
    fair_quote,
    pair_price,
    quote,
    usd_price,
)
from sequestra_sandbox.venues.scenario import (
    DAY_MS,
    HISTORY_DAYS_MAX,
    HOUR_MS,
    VENUE_IDS,
    AssetPath,
    Outage,
    PairSettings,
    PricePoint,
    QuoteFault,
    Scenario,
    ScenarioError,
    VenueFault,
    VenueSettings,
    synthetic_assets,
)
from sequestra_sandbox.venues.server import (
    DIALECTS,
    RequestCounter,
    VenueServers,
    running_venues,
    start_venues,
)
from sequestra_sandbox.venues.trades import Trade, trades

__all__ = [
    "DAY_MS",
    "DIALECTS",
    "HISTORY_DAYS_MAX",
    "HOUR_MS",
    "VENUE_IDS",
    "AssetPath",
    "Book",
    "BookLevel",
    "Candle",
    "Listing",
    "Outage",
    "PairSettings",
    "PricePoint",
    "Quote",
    "QuoteFault",
    "RequestCounter",
    "Scenario",
    "ScenarioError",
    "Trade",
    "VenueFault",
    "VenueServers",
    "VenueSettings",
    "book",
    "daily_candles",
    "fair_quote",
    "find_listing",
    "hourly_candles",
    "pair_price",
    "quote",
    "running_venues",
    "sandbox_exchange",
    "start_venues",
    "synthetic_assets",
    "trades",
    "usd_price",
    "venue_listings",
]
