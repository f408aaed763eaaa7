"""The State Fund's exposure: value per asset in USD and KZT, weights and concentration.

Money is `Decimal`: an asset's value is quantity x price computed exactly, then quantised
to 0.01 (ROUND_HALF_EVEN) once; its KZT value is the exact USD value x the official
USD/KZT rate, quantised the same way. Totals are sums of the quantised lines, so the
columns of a report add up to its total.

Weights and concentration are statistics, in float64: weight = value / total (from the
quantised figures); the Herfindahl-Hirschman index HHI = sum of squared weights (1/n for
n equal holdings, 1 for a single one); the effective number of assets is 1 / HHI.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Final

from sequestra.fund.bounds import (
    ASSETS_MAX,
    MONEY_MAX,
    QUANTITY_MAX,
    FundInputError,
    check_asset_id,
    check_decimal,
    check_size,
    check_unique,
    describe,
    multiply_exact,
    to_cents,
)

USD_KZT_MIN: Final = Decimal(1)  # KZT per USD; outside these a rate is garbage
USD_KZT_MAX: Final = Decimal(100_000)
PRICE_USD_MAX: Final = Decimal("1e12")
WEIGHTS_SUM_TOLERANCE: Final = 1e-9


@dataclass(frozen=True, slots=True)
class Position:
    """A holding of the fund: `quantity` in whole units of the asset, at `price_usd` each."""

    asset_id: str
    quantity: Decimal
    price_usd: Decimal


@dataclass(frozen=True, slots=True)
class AssetExposure:
    """One asset's line: value in USD (and KZT when a rate is given) and its weight."""

    asset_id: str
    quantity: Decimal
    price_usd: Decimal
    value_usd: Decimal
    value_kzt: Decimal | None
    weight: float


@dataclass(frozen=True, slots=True)
class Exposure:
    """The fund's exposure: lines in the order given, totals and concentration."""

    assets: tuple[AssetExposure, ...]
    total_usd: Decimal
    total_kzt: Decimal | None
    usd_kzt: Decimal | None
    herfindahl_index: float
    effective_assets: float


def check_positions(positions: Sequence[Position]) -> tuple[Position, ...]:
    """Return the positions as a tuple once each is well formed and no asset repeats.

    Raises:
        FundInputError: no positions or more than `ASSETS_MAX`, an item that is not a
            `Position`, a bad asset id, a negative or oversized quantity or price, or an
            asset named twice.
    """
    if isinstance(positions, str) or not isinstance(positions, Sequence):
        raise FundInputError("positions", "a sequence of Position", describe(positions))
    check_size("positions", len(positions), minimum=1, maximum=ASSETS_MAX, unit="positions")
    for index, position in enumerate(positions):
        name = f"positions[{index}]"
        if not isinstance(position, Position):
            raise FundInputError(name, "a Position", describe(position))
        check_asset_id(f"{name}.asset_id", position.asset_id)
        check_decimal(
            f"{name}.quantity", position.quantity, minimum=Decimal(0), maximum=QUANTITY_MAX
        )
        check_decimal(
            f"{name}.price_usd", position.price_usd, minimum=Decimal(0), maximum=PRICE_USD_MAX
        )
    check_unique("positions", tuple(position.asset_id for position in positions))
    return tuple(positions)


def exposure(positions: Sequence[Position], *, usd_kzt: Decimal | None = None) -> Exposure:
    """Value the positions, weigh them and measure their concentration.

    `usd_kzt` is the official rate (KZT per USD) for the valuation date; without it the
    KZT figures are None.

    Raises:
        FundInputError: see `check_positions`; a rate outside [USD_KZT_MIN, USD_KZT_MAX];
            a value beyond `MONEY_MAX`; a total of zero (weights are then undefined).
    """
    checked = check_positions(positions)
    if usd_kzt is not None:
        check_decimal("usd_kzt", usd_kzt, minimum=USD_KZT_MIN, maximum=USD_KZT_MAX)
    values = [_value(index, position, usd_kzt) for index, position in enumerate(checked)]
    total_usd = sum((usd for usd, _ in values), Decimal(0))
    if total_usd == 0:
        raise FundInputError("positions", "a positive total value", "0.00 USD")
    if total_usd > MONEY_MAX:
        raise FundInputError("positions", f"a total value within {MONEY_MAX} USD", str(total_usd))
    weights = [float(usd) / float(total_usd) for usd, _ in values]
    herfindahl = herfindahl_index(weights)
    lines = tuple(
        AssetExposure(position.asset_id, position.quantity, position.price_usd, usd, kzt, weight)
        for position, (usd, kzt), weight in zip(checked, values, weights, strict=True)
    )
    total_kzt = None
    if usd_kzt is not None:
        total_kzt = sum((kzt for _, kzt in values if kzt is not None), Decimal(0))
    return Exposure(lines, total_usd, total_kzt, usd_kzt, herfindahl, 1.0 / herfindahl)


def _value(
    index: int, position: Position, usd_kzt: Decimal | None
) -> tuple[Decimal, Decimal | None]:
    """Return the position's value in USD and KZT cents, both from the exact USD product."""
    exact_usd = multiply_exact(position.quantity, position.price_usd)
    value_usd = to_cents(exact_usd, argument=f"positions[{index}].value_usd")
    if usd_kzt is None:
        return value_usd, None
    exact_kzt = multiply_exact(exact_usd, usd_kzt)
    return value_usd, to_cents(exact_kzt, argument=f"positions[{index}].value_kzt")


def herfindahl_index(weights: Sequence[float]) -> float:
    """Return the Herfindahl-Hirschman index: the sum of squared weights.

    Preconditions: weights are non-negative and sum to 1 (within float rounding).

    Raises:
        FundInputError: no weights, a negative weight, or weights not summing to 1.
    """
    check_size("weights", len(weights), minimum=1, maximum=ASSETS_MAX, unit="weights")
    if any(weight < 0 for weight in weights):
        raise FundInputError("weights", "non-negative weights", describe(min(weights)))
    total = sum(weights)
    if abs(total - 1.0) > WEIGHTS_SUM_TOLERANCE:
        raise FundInputError("weights", "weights summing to 1", describe(total))
    return sum(weight * weight for weight in weights)


def effective_assets(weights: Sequence[float]) -> float:
    """Return the effective number of assets, 1 / HHI (n for n equal weights).

    Raises:
        FundInputError: as `herfindahl_index`.
    """
    return 1.0 / herfindahl_index(weights)
