"""The price of selling the Fund's holding now: a walk down each venue's order book.

For each Fund asset and venue, the bids of the first listed pair among SYM/USD, SYM/USDT and
SYM/USDC (a stablecoin's bids converted at its price in the latest valuation, else at its
USD price aggregated now from the venues' USDT/USD and USDC/USD markets; a stablecoin
priced by neither is skipped, never taken as 1.00) are walked for the whole quantity: what fills,
at what average price, the shortfall against the best bid, and whether the book is deep
enough. Fair value is unchanged by this: it is a separate liquidation figure.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Final

from sqlalchemy import Engine

from sequestra.custody.amounts import format_quantity
from sequestra.custody.queries import list_holdings
from sequestra.fairvalue import AggregationRules, stablecoin_rates
from sequestra.fund.liquidity import walk_bids
from sequestra.fund.report import latest_valuation
from sequestra.pricing.venues import CcxtVenue, VenueError

BOOK_LEVELS_MAX: Final = 500
QUOTES: Final = ("USD", "USDT", "USDC")
STABLECOIN_IDS: Final = {"USDT": "ethereum:USDT", "USDC": "ethereum:USDC"}


def book_walks(engine: Engine, venues: Sequence[CcxtVenue]) -> dict[str, list[dict[str, Any]]]:
    """Per Fund asset, one walk per venue that lists a pair of it (or why not)."""
    prices = latest_valuation(engine).prices_usd()
    for coin, rate in _live_stablecoins(venues).items():
        prices.setdefault(STABLECOIN_IDS[coin], rate)
    quantities: dict[str, tuple[str, Decimal]] = {}
    totals: dict[str, Decimal] = defaultdict(Decimal)
    for holding in list_holdings(engine, fund=True):
        asset_id = holding.asset.asset_id
        totals[asset_id] += Decimal(holding.amount_base).scaleb(-holding.asset.decimals)
        quantities[asset_id] = (holding.asset.symbol, totals[asset_id])
    walks: dict[str, list[dict[str, Any]]] = {}
    for asset_id, (symbol, quantity) in sorted(quantities.items()):
        walks[asset_id] = [_walk(venue, symbol, quantity, prices) for venue in venues]
    return walks


def _live_stablecoins(venues: Sequence[CcxtVenue]) -> dict[str, Decimal]:
    quotes = []
    for venue in venues:
        try:
            quotes += venue.fetch_quotes([f"{coin}/USD" for coin in STABLECOIN_IDS])
        except VenueError:
            continue
    rates = stablecoin_rates(quotes, AggregationRules(sources_min=1), datetime.now(UTC))
    return {coin: p.price_usd for coin, p in rates.items() if p.price_usd is not None}


def _walk(
    venue: CcxtVenue, symbol: str, quantity: Decimal, prices: dict[str, Decimal]
) -> dict[str, Any]:
    try:
        listed = venue.listed([f"{symbol}/{quote}" for quote in QUOTES])
        if not listed:
            return {"venue": venue.venue, "error": f"lists no {symbol} pair against USD"}
        pair = listed[0]
        quote = pair.split("/")[1]
        rate = Decimal(1) if quote == "USD" else prices.get(STABLECOIN_IDS[quote])
        if rate is None:
            return {"venue": venue.venue, "pair": pair, "error": f"no USD price for {quote}"}
        bids = [(price * rate, amount) for price, amount in venue.fetch_bids(pair, BOOK_LEVELS_MAX)]
    except VenueError as error:
        return {"venue": venue.venue, "error": error.reason}
    if not bids:
        return {"venue": venue.venue, "pair": pair, "error": "no bids"}
    walk = walk_bids(bids, quantity)
    return {
        "venue": venue.venue,
        "pair": pair,
        "quantity": format_quantity(walk.quantity),
        "filled": format_quantity(walk.filled),
        "average_price_usd": None
        if walk.average_price_usd is None
        else str(walk.average_price_usd),
        "best_bid_usd": None if walk.reference_price_usd is None else str(walk.reference_price_usd),
        "shortfall_usd": str(walk.shortfall_usd),
        "deep_enough": walk.deep_enough,
        "levels_used": walk.levels_used,
    }
