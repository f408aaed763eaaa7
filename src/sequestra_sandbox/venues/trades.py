"""The trades a sandbox venue reports for a pair, ending with its ticker: pure, deterministic.

The sandbox market trades once a minute, on the minute (TRADE_SPACING_MS), at the pair's
price then, for a seeded amount; trades reach back as far as the candles. The latest trade
is the ticker's own: at the ticker's time and at its last price (quote faults included:
a stale ticker, `QuoteFault.age_s`, is a feed frozen that long ago, and a bad price is the
latest trade's price), for the ticker's last lot (the pair's minimum amount). So a venue
whose tickers carry no time (Kraken) dates them by their latest trade, exactly.

Trade ids count the minutes since the epoch; the latest trade's id is one past the minute
before it. Trade amounts are not tied to candle volumes.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_FLOOR, Decimal, localcontext
from typing import Final

from sequestra_sandbox.venues.candles import first_candle_day
from sequestra_sandbox.venues.listings import Listing
from sequestra_sandbox.venues.prices import (
    DECIMAL_CONTEXT,
    pair_price,
    quote,
    venue_volume_24h,
)
from sequestra_sandbox.venues.scenario import (
    DAY_MS,
    UNIT_DRAW_SCALE,
    Scenario,
    ScenarioError,
    unit_draw,
)

TRADE_SPACING_MS: Final = 60_000
TRADES_PER_DAY: Final = DAY_MS // TRADE_SPACING_MS
TRADES_PER_CALL_MAX: Final = 1_000
NS_PER_MS: Final = 1_000_000


@dataclass(frozen=True, slots=True)
class Trade:
    """One trade: its id, time, price, base amount and the taker's side."""

    trade_id: int
    time_ms: int
    price: Decimal
    amount: Decimal
    buyer_is_taker: bool


def trades(
    scenario: Scenario, venue: str, listing: Listing, after_ns: int | None, count: int
) -> tuple[Trade, ...]:
    """Return up to `count` trades, oldest first: the newest ones, or, when `after_ns` is
    given, the first ones strictly after that time (nanoseconds since the epoch).

    Raises:
        ScenarioError: count is outside 1..TRADES_PER_CALL_MAX, after_ns is negative, or as
            `quote`.
    """
    if not 1 <= count <= TRADES_PER_CALL_MAX:
        raise ScenarioError(f"expected 1..{TRADES_PER_CALL_MAX} trades, got {count}")
    if after_ns is not None and after_ns < 0:
        raise ScenarioError(f"expected a time after the epoch, got {after_ns} ns")
    latest = _latest(scenario, venue, listing)
    first_minute = first_candle_day(scenario) * DAY_MS // TRADE_SPACING_MS
    last_minute = (latest.time_ms - 1) // TRADE_SPACING_MS  # the last minute before it
    if after_ns is None:
        first = max(first_minute, last_minute - count + 2)
        minutes = range(first, last_minute + 1)
        found = (*(_minute_trade(scenario, venue, listing, minute) for minute in minutes), latest)
        return found[-count:]
    first = max(first_minute, after_ns // (TRADE_SPACING_MS * NS_PER_MS) + 1)
    minutes = range(first, min(last_minute, first + count - 1) + 1)
    found = tuple(_minute_trade(scenario, venue, listing, minute) for minute in minutes)
    if len(found) < count and latest.time_ms * NS_PER_MS > after_ns:
        found = (*found, latest)
    return found


def _latest(scenario: Scenario, venue: str, listing: Listing) -> Trade:
    """Return the latest trade: the ticker's time, last price and last lot."""
    ticker = quote(scenario, venue, listing)
    draw = unit_draw(scenario.seed, "trade", venue, listing.symbol, ticker.timestamp_ms)
    trade_id = (ticker.timestamp_ms - 1) // TRADE_SPACING_MS + 1
    return Trade(trade_id, ticker.timestamp_ms, ticker.last, listing.amount_min, draw % 2 == 0)


def _minute_trade(scenario: Scenario, venue: str, listing: Listing, minute: int) -> Trade:
    """Return the market's trade on a minute: the pair's price then, a seeded amount."""
    time_ms = minute * TRADE_SPACING_MS
    draw = unit_draw(scenario.seed, "trade", venue, listing.symbol, minute)
    with localcontext(DECIMAL_CONTEXT):
        average = venue_volume_24h(scenario, venue, listing) / TRADES_PER_DAY
        amount = (average * (Decimal(1) / 2 + Decimal(draw) / UNIT_DRAW_SCALE)).quantize(
            listing.amount_step, rounding=ROUND_FLOOR
        )
    price = pair_price(scenario, venue, listing, time_ms)
    return Trade(minute, time_ms, price, max(amount, listing.amount_min), draw % 2 == 0)
