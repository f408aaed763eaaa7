"""Point ccxt's real exchange classes at the sandbox venues.

`sandbox_exchange("binance", servers.url("binance"))` builds `ccxt.binance` with every
entry of its `urls["api"]` moved onto the sandbox's base URL (same paths), and with the
options that keep `load_markets()` on the public spot endpoints the sandbox serves:

- binance: spot markets only (`fetchMarkets.types`), no margin pairs (`fetchMargins`), no
  currencies (`fetchCurrencies`, which would need an API key and `/sapi`);
- kraken: `load_markets()` calls `Assets` and `AssetPairs`, both served;
- okx: spot instruments only (`fetchMarkets.types`); currencies need an API key, so ccxt
  skips them without one.

ccxt returns numbers as floats; Sequestra's pricing code converts them at the edge with
`Decimal(str(x))`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final
from urllib.parse import urlsplit

import ccxt  # type: ignore[import-untyped]

from sequestra_sandbox.venues.scenario import ScenarioError

TIMEOUT_MS_DEFAULT: Final = 10_000
TIMEOUT_MS_MAX: Final = 120_000
NESTING_MAX: Final = 4  # urls["api"] is at most a dict of dicts in ccxt's venues
VENUE_OPTIONS: Final[Mapping[str, Mapping[str, Any]]] = {
    "binance": {
        "defaultType": "spot",
        "fetchMarkets": {"types": ["spot"]},
        "fetchMargins": False,
        "fetchCurrencies": False,
        "adjustForTimeDifference": False,
    },
    "kraken": {"adjustForTimeDifference": False},
    "okx": {
        "defaultType": "spot",
        "fetchMarkets": {"types": ["spot"]},
        "adjustForTimeDifference": False,
    },
}


def rebase_urls(urls: Any, base_url: str, depth: int = 0) -> Any:
    """Return ccxt's `urls["api"]` with every URL's scheme and host replaced by `base_url`.

    Raises:
        ScenarioError: the URL table nests deeper than NESTING_MAX.
    """
    if depth > NESTING_MAX:
        raise ScenarioError(f"expected ccxt URL tables at most {NESTING_MAX} deep")
    if isinstance(urls, dict):
        return {key: rebase_urls(value, base_url, depth + 1) for key, value in urls.items()}
    if isinstance(urls, str):
        return base_url.rstrip("/") + urlsplit(urls).path.rstrip("/")
    return urls


def sandbox_exchange(
    venue_id: str,
    base_url: str,
    *,
    timeout_ms: int = TIMEOUT_MS_DEFAULT,
    enable_rate_limit: bool = True,
    rate_limit_ms: int | None = None,
    **options: Any,
) -> Any:
    """Build ccxt's class for `venue_id` against a sandbox venue at `base_url`.

    `rate_limit_ms` overrides ccxt's pause between requests (None keeps the venue's own:
    Kraken's is a full second); `options` are merged over VENUE_OPTIONS into ccxt's
    `options`.

    Raises:
        ScenarioError: the venue is not served or the timeout is out of range.
    """
    venue_options = VENUE_OPTIONS.get(venue_id)
    if venue_options is None:
        raise ScenarioError(f"expected a venue in {sorted(VENUE_OPTIONS)}, got {venue_id!r}")
    if not 1 <= timeout_ms <= TIMEOUT_MS_MAX:
        raise ScenarioError(f"expected a timeout in 1..{TIMEOUT_MS_MAX} ms, got {timeout_ms}")
    config: dict[str, Any] = {
        "enableRateLimit": enable_rate_limit,
        "timeout": timeout_ms,
        "options": {**venue_options, **options},
    }
    if rate_limit_ms is not None:
        config["rateLimit"] = rate_limit_ms
    exchange = getattr(ccxt, venue_id)(config)
    exchange.urls["api"] = rebase_urls(exchange.urls["api"], base_url)
    return exchange
