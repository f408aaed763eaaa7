"""Hourly and daily candles cut from a scenario's price path: pure, exact, deterministic.

An hourly candle covers [start, start + 1 h) in UTC; the one holding the scenario's now is
still forming and ends at now. Its open is the pair's price just before its start, its
close the price at its last millisecond (or at now): so each close is the next hour's
open. Its high and low bracket every price the path takes inside the hour (a pair's price
changes only at UTC midnight and at `PricePoint`s) plus a seeded wick of up to
HOUR_WICK_MAX, highs rounded up and lows down to the tick.

A day's full volume is the venue's 24-hour volume times a seeded factor in [0.5, 1.5); it
is spread over the day's hours by seeded weights (accruing evenly within an hour): an
hour's volume is the difference of the day's cumulative volume, floored to the amount
step, at its end (or now) and at its start.

A daily candle is made of its hours H0..Hn (n = 23, or the forming hour today), so that
exactly: day.open = H0.open, day.close = Hn.close, day.high = max(H.high), day.low =
min(H.low) and day.volume = sum(H.volume) (= the cumulative volume at the day's end or at
now). A closed candle depends only on the price path up to its end and on seeded draws:
it does not change when the clock moves on.
"""

from __future__ import annotations

import functools
import itertools
from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal, localcontext
from typing import Final

from sequestra_sandbox.venues.listings import Listing
from sequestra_sandbox.venues.prices import (
    DECIMAL_CONTEXT,
    pair_price,
    price_change_times,
    venue_volume_24h,
)
from sequestra_sandbox.venues.scenario import (
    DAY_MS,
    HISTORY_DAYS_MAX,
    HOUR_MS,
    HOURS_PER_DAY,
    UNIT_DRAW_SCALE,
    Scenario,
    ScenarioError,
    day_of,
    draw_stream,
    hour_of,
    unit_draw,
)

HOUR_WICK_MAX: Final = Decimal("0.005")  # highs and lows reach up to 0.5 % past the path
WIDTHS_MS: Final = (HOUR_MS, DAY_MS)  # the candle widths served
DRAWS_PER_HOUR: Final = 3  # high, low and volume weight
DAYS_CACHED_MAX: Final = 32_768  # daily candles kept cut (a few hundred bytes each)
HOUR_DAYS_CACHED_MAX: Final = 2_048  # days of hourly candles kept cut (about 20 kB each)


@dataclass(frozen=True, slots=True)
class Candle:
    """A candle: its start (UTC, ms), open, high, low, close and base volume."""

    open_ms: int
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: Decimal


@dataclass(frozen=True, slots=True)
class _HourPath:
    """The prices an hour's path takes: before its start, at its close, highest, lowest."""

    open: Decimal
    close: Decimal
    top: Decimal
    bottom: Decimal


@dataclass(frozen=True, slots=True)
class _Day:
    """What a day's hours are cut from.

    `path` is (time, price) just before the start (the open), at the start and at every
    later time up to `close_at_ms` where the price changes, in order; `weight_sums[k]` is
    the sum of the first k hourly volume weights (k = 0..24).
    """

    start_ms: int
    close_at_ms: int
    path: tuple[tuple[int, Decimal], ...]
    highs: tuple[int, ...]
    lows: tuple[int, ...]
    weights: tuple[int, ...]
    weight_sums: tuple[int, ...]
    volume_full: Decimal


def first_candle_day(scenario: Scenario) -> int:
    """Return the UTC day of the oldest candle served (HISTORY_DAYS_MAX days up to today)."""
    return day_of(scenario.now_ms) - HISTORY_DAYS_MAX + 1


def served_indexes(scenario: Scenario, width_ms: int) -> tuple[int, int]:
    """Return the indexes (start // width) of the oldest and of the forming candle served.

    Raises:
        ScenarioError: the width is not one of WIDTHS_MS.
    """
    _check_width(width_ms)
    first_ms = first_candle_day(scenario) * DAY_MS
    return first_ms // width_ms, scenario.now_ms // width_ms


def candles(
    scenario: Scenario,
    venue: str,
    listing: Listing,
    width_ms: int,
    first_index: int,
    last_index: int,
) -> tuple[Candle, ...]:
    """Return the candles of `width_ms` with indexes first..last, clipped to those served.

    Raises:
        ScenarioError: the width is not one of WIDTHS_MS, or as `pair_price`.
    """
    if width_ms == DAY_MS:
        return daily_candles(scenario, venue, listing, first_index, last_index)
    _check_width(width_ms)
    return hourly_candles(scenario, venue, listing, first_index, last_index)


def daily_candles(
    scenario: Scenario, venue: str, listing: Listing, first_day: int, last_day: int
) -> tuple[Candle, ...]:
    """Return the daily candles of days first_day..last_day, clipped to the served history.

    The last candle is today's, still forming: its close is the current price.

    Raises:
        ScenarioError: as `pair_price`.
    """
    first = max(first_day, first_candle_day(scenario))
    last = min(last_day, day_of(scenario.now_ms))
    return tuple(_daily_cached(scenario, venue, listing, day) for day in range(first, last + 1))


def hourly_candles(
    scenario: Scenario, venue: str, listing: Listing, first_hour: int, last_hour: int
) -> tuple[Candle, ...]:
    """Return the hourly candles of hours first_hour..last_hour (hours since the epoch),
    clipped to the served history; the last is the forming hour's, closing at now.

    Raises:
        ScenarioError: as `pair_price`.
    """
    first = max(first_hour, first_candle_day(scenario) * HOURS_PER_DAY)
    last = min(last_hour, hour_of(scenario.now_ms))
    result: list[Candle] = []
    for day_index in range(first // HOURS_PER_DAY, last // HOURS_PER_DAY + 1):
        for hour, candle in enumerate(_hours_cached(scenario, venue, listing, day_index)):
            if first <= day_index * HOURS_PER_DAY + hour <= last:
                result.append(candle)
    return tuple(result)


# A venue answers the same window again and again (Kraken serves its newest 720 candles to
# every `since` older than them): a day's candles are cut once per scenario, then reused.
@functools.lru_cache(maxsize=HOUR_DAYS_CACHED_MAX)
def _hours_cached(scenario: Scenario, venue: str, listing: Listing, day: int) -> tuple[Candle, ...]:
    cut = _day(scenario, venue, listing, day)
    return tuple(_hour(cut, listing, hour, path) for hour, path in enumerate(_sweep(cut)))


@functools.lru_cache(maxsize=DAYS_CACHED_MAX)
def _daily_cached(scenario: Scenario, venue: str, listing: Listing, day: int) -> Candle:
    return _daily(_day(scenario, venue, listing, day), listing)


def _check_width(width_ms: int) -> None:
    """Refuse a candle width the sandbox does not serve."""
    if width_ms not in WIDTHS_MS:
        raise ScenarioError(f"expected a candle width in {WIDTHS_MS} ms, got {width_ms}")


def _day(scenario: Scenario, venue: str, listing: Listing, day: int) -> _Day:
    """Return the path, seeded draws and full volume a day's hours are cut from."""
    start_ms = day * DAY_MS
    close_at_ms = min(start_ms + DAY_MS - 1, scenario.now_ms)
    times = (start_ms - 1, start_ms, *price_change_times(scenario, listing, start_ms, close_at_ms))
    path = tuple((time_ms, pair_price(scenario, venue, listing, time_ms)) for time_ms in times)
    draws = draw_stream(
        scenario.seed, DRAWS_PER_HOUR * HOURS_PER_DAY, "hours", venue, listing.symbol, day
    )
    highs, lows, spread = (
        draws[index * HOURS_PER_DAY : (index + 1) * HOURS_PER_DAY]
        for index in range(DRAWS_PER_HOUR)
    )
    weights = tuple(UNIT_DRAW_SCALE + draw for draw in spread)  # in [1, 2) x scale: none empty
    share = Decimal(unit_draw(scenario.seed, "candle", venue, listing.symbol, day, "volume"))
    with localcontext(DECIMAL_CONTEXT):
        volume_full = venue_volume_24h(scenario, venue, listing) * (
            Decimal(1) / 2 + share / UNIT_DRAW_SCALE
        )
    return _Day(
        start_ms=start_ms,
        close_at_ms=close_at_ms,
        path=path,
        highs=highs,
        lows=lows,
        weights=weights,
        weight_sums=(0, *itertools.accumulate(weights)),
        volume_full=volume_full,
    )


def _sweep(day: _Day) -> tuple[_HourPath, ...]:
    """Walk the day's path once: each hour's prices, up to the forming hour."""
    hours = []
    price = day.path[0][1]  # just before the day's start
    change = 1  # the next entry of the path to take
    last_hour = (day.close_at_ms - day.start_ms) // HOUR_MS
    for hour in range(last_hour + 1):
        end_ms = day.start_ms + (hour + 1) * HOUR_MS
        opening, top, bottom = price, price, price
        while change < len(day.path) and day.path[change][0] < end_ms:
            price = day.path[change][1]
            top, bottom = max(top, price), min(bottom, price)
            change += 1
        hours.append(_HourPath(opening, price, top, bottom))
    return tuple(hours)


def _high(listing: Listing, top: Decimal, draw: int) -> Decimal:
    """Return a high: the path's top plus a wick of draw / scale x HOUR_WICK_MAX, rounded up."""
    with localcontext(DECIMAL_CONTEXT):
        wick = HOUR_WICK_MAX * draw / UNIT_DRAW_SCALE
        return (top * (1 + wick)).quantize(listing.price_tick, rounding=ROUND_CEILING)


def _low(listing: Listing, bottom: Decimal, draw: int) -> Decimal:
    """Return a low: the path's bottom less a wick, rounded down, at least one tick."""
    with localcontext(DECIMAL_CONTEXT):
        wick = HOUR_WICK_MAX * draw / UNIT_DRAW_SCALE
        low = (bottom * (1 - wick)).quantize(listing.price_tick, rounding=ROUND_FLOOR)
    return max(low, listing.price_tick)


def _volume_through(day: _Day, listing: Listing, offset_ms: int) -> Decimal:
    """Return the day's volume from its start to `offset_ms` into it, floored to the step.

    The weights accrue evenly within each hour; the whole day (offset DAY_MS) is exactly
    the full volume.
    """
    if not 0 <= offset_ms <= DAY_MS:
        raise ScenarioError(f"expected an offset within a day, got {offset_ms} ms")
    hour, within_ms = divmod(offset_ms, HOUR_MS)
    reached = day.weight_sums[hour] * HOUR_MS
    if within_ms:
        reached += day.weights[hour] * within_ms
    with localcontext(DECIMAL_CONTEXT):
        fraction = Decimal(reached) / Decimal(day.weight_sums[-1] * HOUR_MS)
        return (day.volume_full * fraction).quantize(listing.amount_step, rounding=ROUND_FLOOR)


def _hour(day: _Day, listing: Listing, hour: int, path: _HourPath) -> Candle:
    """Return the candle of one hour of a day (0..23) from its path.

    Raises:
        ScenarioError: the candle does not bracket its path (a sandbox bug).
    """
    start_ms = day.start_ms + hour * HOUR_MS
    close_at_ms = min(start_ms + HOUR_MS - 1, day.close_at_ms)
    high = _high(listing, path.top, day.highs[hour])
    low = _low(listing, path.bottom, day.lows[hour])
    volume = _volume_through(day, listing, close_at_ms + 1 - day.start_ms) - (
        _volume_through(day, listing, start_ms - day.start_ms)
    )
    if not low <= path.bottom <= path.top <= high or volume < 0:
        raise ScenarioError(
            f"{listing.symbol} at {start_ms}: expected low <= path <= high and a volume >= 0, "
            f"got {low} <= {path.bottom}..{path.top} <= {high}, {volume}"
        )
    return Candle(start_ms, path.open, high, low, path.close, volume)


def _daily(day: _Day, listing: Listing) -> Candle:
    """Return the daily candle its hours make, without cutting every hour.

    A high grows with the top and with the draw, so the highest hourly high is the high of
    the largest draw among the hours sharing each top (lows likewise); the volumes of the
    hours telescope to the cumulative volume at the day's close.
    """
    hours = _sweep(day)
    tops: dict[Decimal, int] = {}
    bottoms: dict[Decimal, int] = {}
    for hour, path in enumerate(hours):
        tops[path.top] = max(tops.get(path.top, 0), day.highs[hour])
        bottoms[path.bottom] = max(bottoms.get(path.bottom, 0), day.lows[hour])
    return Candle(
        open_ms=day.start_ms,
        open=hours[0].open,
        high=max(_high(listing, top, draw) for top, draw in tops.items()),
        low=min(_low(listing, bottom, draw) for bottom, draw in bottoms.items()),
        close=hours[-1].close,
        volume=_volume_through(day, listing, day.close_at_ms + 1 - day.start_ms),
    )
