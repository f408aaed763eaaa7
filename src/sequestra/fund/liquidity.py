"""Liquidity of a holding: daily volume, days to exit, market impact, order-book depth.

Quantities and volumes are `Decimal` (units of the asset, or USD for volumes in USD); every
money figure returned is a `Decimal` in USD quantised to 0.01 with ROUND_HALF_EVEN.
Volatility and the impact constant are statistics, in float64.

- Average daily volume (ADV): the mean of the last `window_days` daily volumes, days
  without trading included (they are real illiquidity).
- Days to exit: Q / (participation x ADV) when the fund sells at most `participation` (for
  example 10%) of each day's volume; the whole number of trading days is its ceiling.
- Square-root market impact: cost_usd = sigma_daily x Y x sqrt(Q / ADV) x value_usd, with
  sigma_daily the asset's daily volatility (a fraction), Y the impact constant (about 1),
  Q and ADV in the same unit and value_usd the value sold. sigma_daily x Y x sqrt(Q / ADV)
  is the expected average price concession of the whole sale.
- Order-book depth walk: selling Q now against the bids, best price first, fills each level
  in turn; the average price is proceeds / quantity filled; the shortfall is what the fill
  gives up against a reference price (the best bid unless another is given):
  filled x reference - proceeds. The book is deep enough when it fills all of Q.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_HALF_EVEN, Decimal
from typing import Final, Literal

from sequestra.fund.bounds import (
    BOOK_LEVELS_MAX,
    DAYS_MAX,
    MONEY_MAX,
    QUANTITY_MAX,
    FundInputError,
    check_count,
    check_decimal,
    check_float,
    check_size,
    describe,
    exact_context,
    to_usd_cents,
)

VolumeUnit = Literal["base", "usd"]
ADV_WINDOW_DAYS: Final = 30
PARTICIPATION_DEFAULT: Final = Decimal("0.10")
IMPACT_CONSTANT_DEFAULT: Final = 1.0
IMPACT_CONSTANT_MAX: Final = 10.0
SIGMA_DAILY_MAX: Final = 5.0  # 500% a day: beyond it an input is garbage
PRICE_USD_MAX: Final = Decimal("1e12")
VOLUME_PLACES: Final = Decimal("1e-8")  # ADV in units of the asset
DAYS_PLACES: Final = Decimal("0.01")
PRICE_PLACES: Final = Decimal("1e-12")  # average fill prices keep 12 decimals
_ZERO: Final = Decimal(0)


@dataclass(frozen=True, slots=True)
class ExitEstimate:
    """Days to sell a quantity at a share of the volume: exact to 0.01, and whole days."""

    days: Decimal
    whole_days: int


@dataclass(frozen=True, slots=True)
class BookWalk:
    """Selling `quantity` against the bids now: what fills, at what price, at what cost."""

    quantity: Decimal
    filled: Decimal
    unfilled: Decimal
    proceeds_usd: Decimal
    average_price_usd: Decimal | None  # None when nothing fills
    reference_price_usd: Decimal | None
    shortfall_usd: Decimal
    levels_used: int
    deep_enough: bool


def average_daily_volume(
    volumes: Sequence[Decimal], *, unit: VolumeUnit, window_days: int = ADV_WINDOW_DAYS
) -> Decimal:
    """Return the mean of the last `window_days` daily volumes.

    In USD (`unit="usd"`) the result is money, quantised to cents; in units of the asset
    (`unit="base"`) it is quantised to `VOLUME_PLACES`, both ROUND_HALF_EVEN.

    Raises:
        FundInputError: an unknown unit; a window outside 1 to `DAYS_MAX`; fewer volumes
            than the window; a volume that is not a Decimal in [0, QUANTITY_MAX].
    """
    if unit not in ("base", "usd"):
        raise FundInputError("unit", "'base' or 'usd'", describe(unit))
    window_days = check_count("window_days", window_days, minimum=1, maximum=DAYS_MAX)
    check_size("volumes", len(volumes), minimum=window_days, maximum=DAYS_MAX, unit="days")
    window = volumes[-window_days:]
    for index, volume in enumerate(window):
        check_decimal(
            f"volumes[-{window_days - index}]", volume, minimum=_ZERO, maximum=QUANTITY_MAX
        )
    with exact_context():
        total = sum(window, _ZERO)
    mean = total / window_days
    if unit == "usd":
        return to_usd_cents(mean, argument="average_daily_volume")
    return mean.quantize(VOLUME_PLACES, rounding=ROUND_HALF_EVEN)


def _check_quantity(argument: str, quantity: object) -> Decimal:
    return check_decimal(argument, quantity, minimum=_ZERO, maximum=QUANTITY_MAX, minimum_open=True)


def _check_participation(participation: object) -> Decimal:
    return check_decimal(
        "participation", participation, minimum=_ZERO, maximum=Decimal(1), minimum_open=True
    )


def days_to_exit(
    quantity: Decimal, adv: Decimal, *, participation: Decimal = PARTICIPATION_DEFAULT
) -> ExitEstimate:
    """Return the days needed to sell `quantity` at `participation` of the daily volume.

    Preconditions: `quantity` and `adv` are in the same unit. Days are rounded up.

    Raises:
        FundInputError: a quantity or ADV not above 0, a participation outside (0, 1].
    """
    quantity = _check_quantity("quantity", quantity)
    adv = _check_quantity("adv", adv)
    participation = _check_participation(participation)
    days = quantity / (participation * adv)
    whole_days = int(days.to_integral_value(rounding=ROUND_CEILING))
    return ExitEstimate(days.quantize(DAYS_PLACES, rounding=ROUND_CEILING), whole_days)


def square_root_impact(
    sigma_daily: float,
    quantity: Decimal,
    adv: Decimal,
    *,
    impact_constant: float = IMPACT_CONSTANT_DEFAULT,
) -> float:
    """Return the price concession of selling Q: sigma_daily x Y x sqrt(Q / ADV), a fraction.

    Raises:
        FundInputError: sigma outside [0, SIGMA_DAILY_MAX]; Y outside (0, IMPACT_CONSTANT_MAX];
            a quantity or ADV not above 0.
    """
    sigma_daily = check_float("sigma_daily", sigma_daily, minimum=0.0, maximum=SIGMA_DAILY_MAX)
    impact_constant = check_float(
        "impact_constant",
        impact_constant,
        minimum=0.0,
        maximum=IMPACT_CONSTANT_MAX,
        minimum_open=True,
    )
    quantity = _check_quantity("quantity", quantity)
    adv = _check_quantity("adv", adv)
    return sigma_daily * impact_constant * math.sqrt(float(quantity / adv))


def impact_cost_usd(
    value_usd: Decimal,
    sigma_daily: float,
    quantity: Decimal,
    adv: Decimal,
    *,
    impact_constant: float = IMPACT_CONSTANT_DEFAULT,
) -> Decimal:
    """Return the square-root impact cost of selling Q worth `value_usd`, in USD cents.

    cost_usd = sigma_daily x Y x sqrt(Q / ADV) x value_usd.

    Raises:
        FundInputError: a value outside [0, MONEY_MAX]; see `square_root_impact`.
    """
    value_usd = check_decimal("value_usd", value_usd, minimum=_ZERO, maximum=MONEY_MAX)
    fraction = square_root_impact(sigma_daily, quantity, adv, impact_constant=impact_constant)
    # The concession is a statistical estimate (float); the money stays Decimal.
    with exact_context():
        cost = value_usd * Decimal(repr(fraction))
    return to_usd_cents(cost, argument="impact_cost_usd")


def check_bids(bids: Sequence[tuple[Decimal, Decimal]]) -> None:
    """Refuse a bid side that is not (price, amount) levels, best (highest) price first.

    Raises:
        FundInputError: more than `BOOK_LEVELS_MAX` levels; a level that is not a pair of
            Decimals; a price not above 0; an amount not above 0; prices not strictly
            decreasing.
    """
    check_size("bids", len(bids), minimum=0, maximum=BOOK_LEVELS_MAX, unit="levels")
    previous: Decimal | None = None
    for index, level in enumerate(bids):
        if not isinstance(level, tuple) or len(level) != 2:
            raise FundInputError(f"bids[{index}]", "a (price, amount) pair", describe(level))
        price, amount = level
        check_decimal(
            f"bids[{index}].price", price, minimum=_ZERO, maximum=PRICE_USD_MAX, minimum_open=True
        )
        _check_quantity(f"bids[{index}].amount", amount)
        if previous is not None and price >= previous:
            expected = "prices strictly decreasing (best bid first)"
            raise FundInputError(f"bids[{index}].price", expected, f"{price} after {previous}")
        previous = price


def _fill(
    bids: Sequence[tuple[Decimal, Decimal]], quantity: Decimal
) -> tuple[Decimal, Decimal, int]:
    """Return (filled, exact proceeds, levels used) of selling into the bids, best first.

    Preconditions: checked bids; runs under `exact_context`.
    """
    remaining, proceeds, levels_used = quantity, _ZERO, 0
    for price, amount in bids:
        if remaining == 0:
            break
        take = min(remaining, amount)
        proceeds += take * price
        remaining -= take
        levels_used += 1
    return quantity - remaining, proceeds, levels_used


def walk_bids(
    bids: Sequence[tuple[Decimal, Decimal]],
    quantity: Decimal,
    *,
    reference_price_usd: Decimal | None = None,
) -> BookWalk:
    """Sell `quantity` into the bids now, best price first (see the module docstring).

    Raises:
        FundInputError: see `check_bids`; a quantity not above 0; a bad reference price.
    """
    check_bids(bids)
    quantity = _check_quantity("quantity", quantity)
    if reference_price_usd is not None:
        check_decimal(
            "reference_price_usd",
            reference_price_usd,
            minimum=_ZERO,
            maximum=PRICE_USD_MAX,
            minimum_open=True,
        )
    elif bids:
        reference_price_usd = bids[0][0]
    with exact_context():
        filled, proceeds, levels_used = _fill(bids, quantity)
        remaining = quantity - filled
        shortfall = _ZERO
        if reference_price_usd is not None:
            shortfall = filled * reference_price_usd - proceeds
    average = None if filled == 0 else (proceeds / filled).quantize(PRICE_PLACES, ROUND_HALF_EVEN)
    return BookWalk(
        quantity=quantity,
        filled=filled,
        unfilled=remaining,
        proceeds_usd=to_usd_cents(proceeds, argument="proceeds_usd"),
        average_price_usd=average,
        reference_price_usd=reference_price_usd,
        shortfall_usd=to_usd_cents(shortfall, argument="shortfall_usd"),
        levels_used=levels_used,
        deep_enough=remaining == 0,
    )
