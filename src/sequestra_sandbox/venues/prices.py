"""The prices, tickers and order books a sandbox venue quotes: pure, exact, deterministic.

Prices are Decimal end to end and quantised to the venue's tick where they are produced
(ROUND_HALF_EVEN). The venue formatters write these values into each venue's JSON; the
tests compare what ccxt parses with the same values. Candles are cut from these prices in
`candles`, trades in `trades`.

A pair's price at a time is `usd(base) / usd(quote)` scaled by the venue's basis. An
asset's USD price is constant within a UTC day (the walk is daily) unless an explicit
`PricePoint` starts mid-day: a pair's price changes only at UTC midnight and at its two
assets' points (`price_change_times`).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from decimal import ROUND_FLOOR, ROUND_HALF_EVEN, Context, Decimal, localcontext
from typing import Final

from sequestra_sandbox.venues.listings import Listing
from sequestra_sandbox.venues.scenario import (
    DAY_MS,
    FORWARD_DAYS_MAX,
    HISTORY_DAYS_MAX,
    UNIT_DRAW_SCALE,
    AssetPath,
    QuoteFault,
    Scenario,
    ScenarioError,
    day_of,
    draw_stream,
    unit_draw,
)

USD_QUANTUM: Final = Decimal("1e-10")
WALK_BACK_DAYS: Final = HISTORY_DAYS_MAX + 1  # one more: the first candle's open
WALK_CACHE_MAX: Final = 4_096
BOOK_STEP_BPS: Final = Decimal(2)  # distance between order book levels
BOOK_LEVEL_SHARE: Final = Decimal("0.0002")  # a level holds about this share of 24h volume
BASIS_POINTS: Final = Decimal(10_000)
DECIMAL_CONTEXT: Final = Context(prec=34, rounding=ROUND_HALF_EVEN)


@dataclass(frozen=True, slots=True)
class Quote:
    """A venue's 24-hour ticker for one pair, as it serves it (faults applied)."""

    symbol: str
    last: Decimal
    bid: Decimal
    ask: Decimal
    bid_size: Decimal
    ask_size: Decimal
    open_24h: Decimal
    high_24h: Decimal
    low_24h: Decimal
    volume_24h: Decimal  # base units
    timestamp_ms: int

    @property
    def quote_volume_24h(self) -> Decimal:
        """Return the 24-hour volume in quote units (volume times last)."""
        with localcontext(DECIMAL_CONTEXT):
            return self.volume_24h * self.last


@dataclass(frozen=True, slots=True)
class BookLevel:
    """One order book level: price and base amount."""

    price: Decimal
    amount: Decimal


@dataclass(frozen=True, slots=True)
class Book:
    """An order book: bids best first (descending), asks best first (ascending)."""

    bids: tuple[BookLevel, ...]
    asks: tuple[BookLevel, ...]
    timestamp_ms: int


# --- asset prices ------------------------------------------------------------------------------


@functools.lru_cache(maxsize=WALK_CACHE_MAX)
def _walk(asset: str, usd_price: Decimal, volatility: Decimal, seed: int) -> tuple[Decimal, ...]:
    """Daily USD prices from WALK_BACK_DAYS before the anchor day to FORWARD_DAYS_MAX after.

    Index WALK_BACK_DAYS is the anchor day, at `usd_price`.
    """
    back = draw_stream(seed, WALK_BACK_DAYS, "walk-back", asset)
    forward = draw_stream(seed, FORWARD_DAYS_MAX, "walk-forward", asset)
    with localcontext(DECIMAL_CONTEXT):
        earlier = [usd_price]
        for draw in back:
            step = 1 + volatility * (2 * draw - UNIT_DRAW_SCALE) / UNIT_DRAW_SCALE
            earlier.append(max((earlier[-1] / step).quantize(USD_QUANTUM), USD_QUANTUM))
        later = [usd_price]
        for draw in forward[1:]:
            step = 1 + volatility * (2 * draw - UNIT_DRAW_SCALE) / UNIT_DRAW_SCALE
            later.append(max((later[-1] * step).quantize(USD_QUANTUM), USD_QUANTUM))
    return (*reversed(earlier[1:]), *later)


def _path_usd(path: AssetPath, scenario: Scenario, at_ms: int) -> Decimal:
    """Return an asset's USD price at a time: the latest point at or before it, or the walk."""
    started = [point for point in path.points if point.at_ms <= at_ms]
    if started:
        return max(started, key=lambda point: point.at_ms).usd_price
    walk = _walk(path.asset, path.usd_price, path.volatility_daily, scenario.seed)
    index = day_of(at_ms) - day_of(scenario.anchor_ms) + WALK_BACK_DAYS
    if not 0 <= index < len(walk):
        raise ScenarioError(
            f"{path.asset}: expected a time within the scenario's history, got {at_ms} ms"
        )
    return walk[index]


def usd_price(scenario: Scenario, asset: str, at_ms: int) -> Decimal:
    """Return an asset's USD price at a time (USD itself is 1).

    Raises:
        ScenarioError: the asset is unknown or the time is outside the scenario's history.
    """
    if asset == "USD":
        return Decimal(1)
    return _path_usd(scenario.asset_path(asset), scenario, at_ms)


def price_change_times(
    scenario: Scenario, listing: Listing, after_ms: int, through_ms: int
) -> tuple[int, ...]:
    """Return the times in (after_ms, through_ms] at which the pair's `PricePoint`s start.

    With UTC midnights, these are the only times a pair's price can change.

    Raises:
        ScenarioError: an asset of the pair is unknown.
    """
    times: set[int] = set()
    for asset in (listing.base, listing.quote):
        if asset == "USD":
            continue
        points = scenario.asset_path(asset).points
        times.update(point.at_ms for point in points if after_ms < point.at_ms <= through_ms)
    return tuple(sorted(times))


def pair_price(scenario: Scenario, venue: str, listing: Listing, at_ms: int) -> Decimal:
    """Return a pair's price on a venue at a time, to the venue's tick (at least one tick).

    Raises:
        ScenarioError: as `usd_price`.
    """
    basis = scenario.venue_settings(venue).basis_bps
    with localcontext(DECIMAL_CONTEXT):
        ratio = usd_price(scenario, listing.base, at_ms) / usd_price(scenario, listing.quote, at_ms)
        price = (ratio * (1 + basis / BASIS_POINTS)).quantize(listing.price_tick)
    return max(price, listing.price_tick)


def venue_volume_24h(scenario: Scenario, venue: str, listing: Listing) -> Decimal:
    """Return a pair's 24-hour base volume on a venue, to the venue's amount step."""
    share = scenario.venue_settings(venue).volume_share
    volume = scenario.pair_settings(listing.symbol).volume_24h
    with localcontext(DECIMAL_CONTEXT):
        return (volume * share).quantize(listing.amount_step)


# --- tickers -----------------------------------------------------------------------------------


def fair_quote(scenario: Scenario, venue: str, listing: Listing) -> Quote:
    """Return the venue's ticker for a pair at the scenario's now, without quote faults.

    Raises:
        ScenarioError: as `usd_price`.
    """
    now_ms = scenario.now_ms
    last = pair_price(scenario, venue, listing, now_ms)
    open_24h = pair_price(scenario, venue, listing, now_ms - DAY_MS)
    half_spread = _half_spread(scenario, listing, last)
    top = book(scenario, venue, listing, 1)
    return Quote(
        symbol=listing.symbol,
        last=last,
        bid=max(last - half_spread, listing.price_tick),
        ask=last + half_spread,
        bid_size=top.bids[0].amount if top.bids else Decimal(0),
        ask_size=top.asks[0].amount,
        open_24h=open_24h,
        high_24h=max(open_24h, last),
        low_24h=min(open_24h, last),
        volume_24h=venue_volume_24h(scenario, venue, listing),
        timestamp_ms=now_ms,
    )


def quote(scenario: Scenario, venue: str, listing: Listing) -> Quote:
    """Return the venue's ticker for a pair at the scenario's now, quote faults applied.

    Raises:
        ScenarioError: as `usd_price`.
    """
    fair = fair_quote(scenario, venue, listing)
    fault = scenario.quote_fault(venue, listing.symbol)
    return fair if fault is None else _faulty(fair, fault, listing)


def _faulty(fair: Quote, fault: QuoteFault, listing: Listing) -> Quote:
    """Apply a quote fault to a sound quote."""
    last, bid, ask = fair.last, fair.bid, fair.ask
    if fault.price is not None:
        last = bid = ask = fault.price
    elif fault.price_factor is not None:
        with localcontext(DECIMAL_CONTEXT):
            last, bid, ask = (
                (value * fault.price_factor).quantize(listing.price_tick)
                for value in (last, bid, ask)
            )
    return Quote(
        symbol=fair.symbol,
        last=last,
        bid=bid,
        ask=ask,
        bid_size=fair.bid_size,
        ask_size=fair.ask_size,
        open_24h=fair.open_24h,
        high_24h=max(fair.high_24h, last),
        low_24h=min(fair.low_24h, last),
        volume_24h=fair.volume_24h if fault.volume_24h is None else fault.volume_24h,
        timestamp_ms=fair.timestamp_ms - 1000 * fault.age_s,
    )


def _half_spread(scenario: Scenario, listing: Listing, price: Decimal) -> Decimal:
    """Return half the pair's spread at a price, to the tick (at least one tick)."""
    spread_bps = scenario.pair_settings(listing.symbol).spread_bps
    with localcontext(DECIMAL_CONTEXT):
        half = (price * spread_bps / BASIS_POINTS / 2).quantize(listing.price_tick)
    return max(half, listing.price_tick)


# --- order books -------------------------------------------------------------------------------


def book(scenario: Scenario, venue: str, listing: Listing, levels_max: int) -> Book:
    """Return up to `levels_max` levels a side around the fair quote (quote faults ignored).

    The best bid and ask are the fair quote's; levels are BOOK_STEP_BPS apart (at least a
    tick); bids stop before reaching zero.

    Raises:
        ScenarioError: levels_max is not positive, or as `usd_price`.
    """
    if levels_max < 1:
        raise ScenarioError(f"expected a positive number of levels, got {levels_max}")
    levels = min(levels_max, scenario.book_levels)
    last = pair_price(scenario, venue, listing, scenario.now_ms)
    half_spread = _half_spread(scenario, listing, last)
    with localcontext(DECIMAL_CONTEXT):
        step = max(
            (last * BOOK_STEP_BPS / BASIS_POINTS).quantize(listing.price_tick), listing.price_tick
        )
    best_bid = max(last - half_spread, listing.price_tick)
    best_ask = last + half_spread
    bids = tuple(
        BookLevel(best_bid - step * index, _level_amount(scenario, venue, listing, "bid", index))
        for index in range(levels)
        if best_bid - step * index > 0
    )
    asks = tuple(
        BookLevel(best_ask + step * index, _level_amount(scenario, venue, listing, "ask", index))
        for index in range(levels)
    )
    return Book(bids, asks, scenario.now_ms)


def _level_amount(
    scenario: Scenario, venue: str, listing: Listing, side: str, index: int
) -> Decimal:
    """Return a level's amount: a seeded share of 24h volume, growing away from the top."""
    draw = unit_draw(scenario.seed, "book", venue, listing.symbol, side, index)
    volume = venue_volume_24h(scenario, venue, listing)
    with localcontext(DECIMAL_CONTEXT):
        amount = (
            volume
            * BOOK_LEVEL_SHARE
            * (1 + Decimal(index) / 4)
            * (Decimal(1) / 2 + Decimal(draw) / UNIT_DRAW_SCALE)
        )
        return max(amount.quantize(listing.amount_step, rounding=ROUND_FLOOR), listing.amount_min)
