"""Daily close series: alignment, log returns, realised volatility and correlations.

Closes are money and come in as `Decimal`; the statistics computed from them (returns,
volatilities, correlations) are float64 arrays, one column per asset, one row per day.

Missing days are handled explicitly: the series are aligned on the dates that every series
has (their intersection), and a date any series lacks is dropped for all of them and
counted in `AlignedCloses.dates_dropped`. No close is carried forward or interpolated: a
filled close invents a zero return and understates volatility. A return is taken between
consecutive common dates; where those are more than one calendar day apart the return spans
the gap. A gap longer than `gap_days_max` (default `GAP_DAYS_MAX`) is refused, since a
return over that many days is no longer a daily return.

Realised volatility over a window of w days is the sample standard deviation (ddof=1) of
the last w daily log returns, annualised by sqrt(365): crypto trades every day of the year.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Final

import numpy as np
import numpy.typing as npt

from sequestra.fund.bounds import (
    ASSETS_MAX,
    DAYS_MAX,
    FundInputError,
    check_asset_id,
    check_count,
    check_size,
    check_unique,
    describe,
)

FloatVector = npt.NDArray[np.float64]
FloatMatrix = npt.NDArray[np.float64]

DAYS_PER_YEAR: Final = 365  # crypto trades every calendar day
VOLATILITY_WINDOWS_DAYS: Final = (30, 90)
GAP_DAYS_MAX: Final = 5  # calendar days between consecutive common dates
CLOSE_USD_MAX: Final = Decimal("1e12")
VARIATION_MIN: Final = 1e-12  # root of summed squared deviations below which returns are flat


@dataclass(frozen=True, slots=True)
class CloseSeries:
    """One asset's daily closes in USD, `dates` strictly increasing, one close per date."""

    asset_id: str
    dates: tuple[date, ...]
    closes_usd: tuple[Decimal, ...]


@dataclass(frozen=True, eq=False)
class AlignedCloses:
    """Closes of several assets on their common dates: `closes_usd[day, asset]`."""

    asset_ids: tuple[str, ...]
    dates: tuple[date, ...]
    closes_usd: FloatMatrix
    dates_dropped: int


def check_series(series: CloseSeries, argument: str) -> FloatVector:
    """Return the closes of a well-formed series as float64.

    Raises:
        FundInputError: a bad asset id; dates and closes of different lengths; fewer than
            2 or more than `DAYS_MAX` days; dates not strictly increasing; a close that is
            not a positive Decimal up to `CLOSE_USD_MAX`.
    """
    if not isinstance(series, CloseSeries):
        raise FundInputError(argument, "a CloseSeries", describe(series))
    check_asset_id(f"{argument}.asset_id", series.asset_id)
    days = len(series.dates)
    check_size(f"{argument}.dates", days, minimum=2, maximum=DAYS_MAX, unit="days")
    if len(series.closes_usd) != days:
        expected = f"one close per date ({days})"
        raise FundInputError(f"{argument}.closes_usd", expected, str(len(series.closes_usd)))
    for index in range(1, days):
        if not series.dates[index - 1] < series.dates[index]:
            got = f"{series.dates[index]} after {series.dates[index - 1]}"
            raise FundInputError(f"{argument}.dates", "strictly increasing dates", got)
    if any(type(close) is not Decimal for close in series.closes_usd):
        raise FundInputError(f"{argument}.closes_usd", "Decimal closes", "another type")
    closes = np.array([float(close) for close in series.closes_usd], dtype=np.float64)
    bad = ~(np.isfinite(closes) & (closes > 0) & (closes <= float(CLOSE_USD_MAX)))
    if bad.any():
        index = int(np.argmax(bad))
        expected = f"closes above 0 and at most {CLOSE_USD_MAX} USD"
        got = f"{describe(series.closes_usd[index])} on {series.dates[index]}"
        raise FundInputError(f"{argument}.closes_usd", expected, got)
    return closes


def align_closes(
    series: Sequence[CloseSeries], *, gap_days_max: int = GAP_DAYS_MAX
) -> AlignedCloses:
    """Align the series on the dates they all have (see the module docstring).

    Raises:
        FundInputError: see `check_series`; no series or more than `ASSETS_MAX`; an asset
            twice; fewer than 2 common dates; a gap between common dates longer than
            `gap_days_max`.
    """
    if isinstance(series, str) or not isinstance(series, Sequence):
        raise FundInputError("series", "a sequence of CloseSeries", describe(series))
    check_size("series", len(series), minimum=1, maximum=ASSETS_MAX, unit="series")
    gap_days_max = check_count("gap_days_max", gap_days_max, minimum=1, maximum=DAYS_MAX)
    columns = [check_series(item, f"series[{index}]") for index, item in enumerate(series)]
    asset_ids = tuple(item.asset_id for item in series)
    check_unique("series", asset_ids)
    all_dates = set().union(*(item.dates for item in series))
    common = set(series[0].dates).intersection(*(item.dates for item in series[1:]))
    dates = tuple(sorted(common))
    if len(dates) < 2:
        raise FundInputError("series", "at least 2 dates common to every series", str(len(dates)))
    _check_gaps(dates, gap_days_max)
    closes = np.empty((len(dates), len(series)), dtype=np.float64)
    for index, (item, column) in enumerate(zip(series, columns, strict=True)):
        if item.dates == dates:
            closes[:, index] = column
        else:
            position = {day: row for row, day in enumerate(item.dates)}
            closes[:, index] = column[[position[day] for day in dates]]
    return AlignedCloses(asset_ids, dates, closes, len(all_dates) - len(dates))


def _check_gaps(dates: tuple[date, ...], gap_days_max: int) -> None:
    for index in range(1, len(dates)):
        gap_days = (dates[index] - dates[index - 1]).days
        if gap_days > gap_days_max:
            expected = f"common dates at most {gap_days_max} days apart"
            got = f"{gap_days} days from {dates[index - 1]} to {dates[index]}"
            raise FundInputError("series", expected, got)


def check_matrix(argument: str, matrix: object, *, rows_min: int) -> FloatMatrix:
    """Return `matrix` if it is a finite 2-D float64 array of bounded shape.

    Rows are days (from `rows_min` to `DAYS_MAX`), columns assets (1 to `ASSETS_MAX`).

    Raises:
        FundInputError: not such an array, or a value not finite.
    """
    if not isinstance(matrix, np.ndarray) or matrix.ndim != 2 or matrix.dtype != np.float64:
        raise FundInputError(argument, "a 2-D float64 array (days x assets)", describe(matrix))
    check_size(argument, matrix.shape[0], minimum=rows_min, maximum=DAYS_MAX, unit="days")
    check_size(argument, matrix.shape[1], minimum=1, maximum=ASSETS_MAX, unit="assets")
    if not np.isfinite(matrix).all():
        raise FundInputError(argument, "finite numbers", "NaN or infinity")
    return matrix


def log_returns(closes_usd: FloatMatrix) -> FloatMatrix:
    """Return daily log returns ln(close_t / close_t-1), one row fewer than the closes.

    Raises:
        FundInputError: `closes_usd` is not a 2-D array of at least 2 days of positive closes.
    """
    closes = check_matrix("closes_usd", closes_usd, rows_min=2)
    if not (closes > 0).all():
        raise FundInputError("closes_usd", "positive closes", "a close at or below zero")
    returns: FloatMatrix = np.diff(np.log(closes), axis=0)
    return returns


def realised_volatility(
    returns: FloatMatrix, window_days: int, *, days_per_year: int = DAYS_PER_YEAR
) -> FloatVector:
    """Return each asset's annualised realised volatility over the last `window_days` returns.

    sigma = std(last window_days log returns, ddof=1) x sqrt(days_per_year).

    Raises:
        FundInputError: `window_days` below 2 or above `DAYS_MAX`; fewer returns than
            `window_days`; `days_per_year` outside 1 to 366.
    """
    window_days = check_count("window_days", window_days, minimum=2, maximum=DAYS_MAX)
    days_per_year = check_count("days_per_year", days_per_year, minimum=1, maximum=366)
    checked = check_matrix("returns", returns, rows_min=window_days)
    window = checked[-window_days:]
    volatility: FloatVector = np.std(window, axis=0, ddof=1) * math.sqrt(days_per_year)
    return volatility


def daily_volatility(returns: FloatMatrix, window_days: int) -> FloatVector:
    """Return each asset's daily (not annualised) volatility over the last `window_days`.

    Raises:
        FundInputError: as `realised_volatility`.
    """
    return realised_volatility(returns, window_days, days_per_year=1)


def correlation_matrix(returns: FloatMatrix) -> FloatMatrix:
    """Return the Pearson correlation matrix of the assets' returns (assets x assets).

    An asset whose returns never vary (within `VARIATION_MIN`: a stablecoin that held its
    peg every day) has no defined correlation; it is reported as 0 with every other asset
    and 1 with itself.
    Values are clipped to [-1, 1] against float rounding.

    Raises:
        FundInputError: `returns` is not a 2-D array of at least 2 days.
    """
    checked = check_matrix("returns", returns, rows_min=2)
    centred = checked - checked.mean(axis=0)
    deviation = np.sqrt((centred * centred).sum(axis=0))
    varies = deviation > VARIATION_MIN
    standardised = np.zeros_like(centred)
    standardised[:, varies] = centred[:, varies] / deviation[varies]
    correlation: FloatMatrix = np.clip(standardised.T @ standardised, -1.0, 1.0)
    np.fill_diagonal(correlation, 1.0)
    return correlation


def covariance_matrix(returns: FloatMatrix) -> FloatMatrix:
    """Return the sample covariance matrix (ddof=1) of the assets' returns.

    Raises:
        FundInputError: `returns` is not a 2-D array of at least 2 days.
    """
    checked = check_matrix("returns", returns, rows_min=2)
    centred = checked - checked.mean(axis=0)
    covariance: FloatMatrix = (centred.T @ centred) / (checked.shape[0] - 1)
    return covariance
