"""Value at risk and expected shortfall of the State Fund: historical, with a normal cross-check.

Split: returns, covariances and quantiles are float64 statistics; every VaR and ES figure
returned is money, a `Decimal` in USD quantised to 0.01 with ROUND_HALF_EVEN. The current
values that weigh the returns come in as `Decimal` USD.

Historical simulation (the primary method). Day t's profit or loss for today's holdings is
P&L_t = sum_i V_i (exp(r_t,i) - 1), with V_i the current USD value of asset i and r_t,i its
daily log return on day t (full revaluation, not the linear V_i r_t,i). Loss_t = -P&L_t.
VaR_a is the a-quantile of the losses (numpy's `linear` method: interpolation between
order statistics, passed explicitly); ES_a is the mean of the losses at or beyond VaR_a.
Both are losses: positive when the holdings lose. A level needs at least one observation
in its tail, so 99% needs 100 days of returns and 95% needs 20. Every historical figure
states the observations it rests on: `observations` (the sample: daily returns, or h-day
runs) and `es_observations` (the losses at or beyond VaR that ES averages; 200 days give
a 99% ES of two losses). A parametric ES is a formula, not a mean of losses: it states
`es_observations` None.

Ten-day horizon. Primary: the one-day figures scaled by sqrt(10) (square root of time, which
takes the days as independent). Also reported: overlapping ten-day returns (the sum of each
run of ten consecutive daily log returns, one run starting on each day), revalued the same
way. Why scaling is primary: three years of days give about 1,086 overlapping runs but only
about 109 independent ones, so a 99% tail of overlapping runs rests on one or two
independent events, and one crash sits in ten runs at once. The overlapping figure shows
what multi-day runs did; where it exceeds the scaled one the history trended (falls that
unfolded over several days) and the larger figure is the prudent one to read: such an
overlapping figure is flagged (`exceeds_scaled` True, its VaR or ES above the scaled one's)
and carries a `note` saying so, which the report repeats in `notes`.

Parametric cross-check (variance-covariance, normal, zero mean):
sigma_P = sqrt(V' S V) with S the sample covariance (ddof=1) of the daily log returns;
VaR_a = z_a sigma_P sqrt(h) and ES_a = phi(z_a) / (1 - a) sigma_P sqrt(h), where z_a is the
standard normal quantile (z_0.95 = 1.6449, z_0.99 = 2.3263) and phi its density. It is
linear in the returns and thin-tailed: below the historical figure, it flags fat tails.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from decimal import Decimal
from statistics import NormalDist
from typing import Final

import numpy as np

from sequestra.fund.bounds import (
    ASSETS_MAX,
    MONEY_MAX,
    FundInputError,
    check_count,
    check_decimal,
    check_float,
    check_size,
    describe,
    to_usd_cents,
)
from sequestra.fund.exposure import Exposure
from sequestra.fund.series import FloatMatrix, FloatVector, check_matrix, covariance_matrix

LEVELS: Final = (0.95, 0.99)
HORIZONS_DAYS: Final = (1, 10)
LEVEL_MIN: Final = 0.5
LEVEL_MAX: Final = 0.9999
HORIZON_DAYS_MAX: Final = 250
LEVELS_COUNT_MAX: Final = 8
HORIZONS_COUNT_MAX: Final = 8
QUANTILE_METHOD: Final = "linear"
TAIL_EPSILON: Final = 1e-9  # float slack when counting the observations in a tail

HISTORICAL: Final = "historical"  # 1 day as observed; longer horizons by sqrt(h) (primary)
HISTORICAL_OVERLAPPING: Final = "historical-overlapping"  # h-day runs of daily returns
PARAMETRIC: Final = "parametric-normal"
PRIMARY_METHOD: Final = HISTORICAL
_STANDARD_NORMAL: Final = NormalDist()


@dataclass(frozen=True, slots=True)
class RiskFigure:
    """VaR and ES in USD at one confidence level and horizon, by one method.

    `observations` is the sample behind it (daily returns, or h-day runs); `es_observations`
    the losses at or beyond VaR that ES is the mean of (None for the parametric formula).
    `exceeds_scaled` is set on overlapping figures only: True when their VaR or ES is above
    the sqrt(h)-scaled historical one at the same level and horizon (then `note` says so).
    """

    method: str
    level: float
    horizon_days: int
    var_usd: Decimal
    es_usd: Decimal
    observations: int
    es_observations: int | None
    exceeds_scaled: bool | None = None
    note: str | None = None


@dataclass(frozen=True, slots=True)
class RiskReport:
    """Every figure of a risk run, the number of daily returns behind it, the primary method."""

    figures: tuple[RiskFigure, ...]
    observations: int
    primary_method: str = PRIMARY_METHOD
    notes: tuple[str, ...] = ()  # the flagged figures' notes, in the order of the figures

    def figure(self, method: str, level: float, horizon_days: int) -> RiskFigure:
        """Return the figure for (method, level, horizon).

        Raises:
            KeyError: the report has no such figure.
        """
        for figure in self.figures:
            if (figure.method, figure.level, figure.horizon_days) == (method, level, horizon_days):
                return figure
        raise KeyError((method, level, horizon_days))


def values_in_order(exposure: Exposure, asset_ids: Sequence[str]) -> tuple[Decimal, ...]:
    """Return the exposure's USD values in the order of `asset_ids` (the return columns).

    An asset with a series but no position counts at 0.

    Raises:
        FundInputError: a position has no series (its risk would silently be left out).
    """
    order = {asset_id: index for index, asset_id in enumerate(asset_ids)}
    values = [Decimal(0)] * len(asset_ids)
    for line in exposure.assets:
        if line.asset_id not in order:
            raise FundInputError("asset_ids", "a price series for every position", line.asset_id)
        values[order[line.asset_id]] = line.value_usd
    return tuple(values)


def check_values(values_usd: Sequence[Decimal], assets: int) -> FloatVector:
    """Return the USD values as float64 once each is a Decimal in [0, MONEY_MAX].

    Raises:
        FundInputError: a count other than `assets`, or a bad value.
    """
    check_size("values_usd", len(values_usd), minimum=assets, maximum=assets, unit="values")
    for index, value in enumerate(values_usd):
        check_decimal(f"values_usd[{index}]", value, minimum=Decimal(0), maximum=MONEY_MAX)
    return np.array([float(value) for value in values_usd], dtype=np.float64)


def check_level(level: object) -> float:
    """Return a confidence level in [LEVEL_MIN, LEVEL_MAX] as a float.

    Raises:
        FundInputError: a level out of bounds or not a number.
    """
    return check_float("level", level, minimum=LEVEL_MIN, maximum=LEVEL_MAX)


def portfolio_pnl_usd(values_usd: FloatVector, returns: FloatMatrix) -> FloatVector:
    """Return the P&L of the current values under each row of log returns (full revaluation)."""
    pnl: FloatVector = np.expm1(returns) @ values_usd
    return pnl


def overlapping_returns(returns: FloatMatrix, horizon_days: int) -> FloatMatrix:
    """Return the log returns of every run of `horizon_days` consecutive days.

    Raises:
        FundInputError: a horizon below 1 or longer than the returns.
    """
    horizon_days = check_count("horizon_days", horizon_days, minimum=1, maximum=HORIZON_DAYS_MAX)
    checked = check_matrix("returns", returns, rows_min=horizon_days)
    cumulative = np.vstack([np.zeros((1, checked.shape[1])), np.cumsum(checked, axis=0)])
    runs: FloatMatrix = cumulative[horizon_days:] - cumulative[:-horizon_days]
    return runs


def historical_var_es(
    pnl_usd: FloatVector, level: float, *, argument: str = "pnl_usd"
) -> tuple[float, float]:
    """Return (VaR, ES) in USD of a sample of P&L at confidence `level`, unrounded.

    `argument` names the input the sample came from in an error.

    Raises:
        FundInputError: a bad level, or no observation in the tail (too short a sample).
    """
    var, expected_shortfall, _ = historical_tail(pnl_usd, level, argument=argument)
    return var, expected_shortfall


def historical_tail(
    pnl_usd: FloatVector, level: float, *, argument: str = "pnl_usd"
) -> tuple[float, float, int]:
    """Return (VaR, ES, losses in the tail) of a sample of P&L at `level`, unrounded.

    The tail is the losses at or beyond VaR: the ones ES is the mean of.

    Raises:
        FundInputError: as `historical_var_es`.
    """
    level = check_level(level)
    losses = -np.asarray(pnl_usd, dtype=np.float64)
    tail_observations = math.floor(losses.size * (1.0 - level) + TAIL_EPSILON)
    if losses.ndim != 1 or tail_observations < 1 or not np.isfinite(losses).all():
        needed = math.ceil((1.0 - TAIL_EPSILON) / (1.0 - level))
        expected = f"at least {needed} finite observations for a {level:g} level"
        raise FundInputError(argument, expected, f"{losses.size}")
    var = float(np.quantile(losses, level, method=QUANTILE_METHOD))
    tail = losses[losses >= var]
    return var, float(tail.mean()), int(tail.size)


def historical_figures(
    values_usd: FloatVector,
    returns: FloatMatrix,
    levels: Sequence[float],
    horizons_days: Sequence[int],
) -> list[RiskFigure]:
    """Return historical figures: one-day, sqrt(h)-scaled and overlapping h-day runs.

    Each overlapping figure is compared with the scaled one (see `flag_overlapping`).

    Raises:
        FundInputError: see `historical_var_es` and `overlapping_returns`.
    """
    one_day = portfolio_pnl_usd(values_usd, returns)
    days = int(one_day.size)
    figures: list[RiskFigure] = []
    for level in levels:
        var, es, tail = historical_tail(one_day, level, argument="returns")
        for horizon in horizons_days:
            scale = math.sqrt(horizon)
            scaled = _figure(HISTORICAL, level, horizon, var * scale, es * scale, days, tail)
            figures.append(scaled)
            if horizon > 1:
                runs = portfolio_pnl_usd(values_usd, overlapping_returns(returns, horizon))
                run_var, run_es, run_tail = historical_tail(runs, level, argument="returns")
                overlapping = _figure(
                    HISTORICAL_OVERLAPPING, level, horizon, run_var, run_es, runs.size, run_tail
                )
                figures.append(flag_overlapping(overlapping, scaled))
    return figures


def flag_overlapping(overlapping: RiskFigure, scaled: RiskFigure) -> RiskFigure:
    """Return the overlapping figure flagged against the sqrt(h)-scaled one.

    `exceeds_scaled` is True when its VaR or its ES (in cents) is above the scaled figure's;
    then `note` names both and says the larger is the prudent one to read.
    """
    above = overlapping.var_usd > scaled.var_usd or overlapping.es_usd > scaled.es_usd
    if not above:
        return replace(overlapping, exceeds_scaled=False)
    horizon, level = overlapping.horizon_days, f"{overlapping.level:.2%}"
    note = (
        f"overlapping {horizon}-day figures at {level} (VaR USD {overlapping.var_usd}, ES USD"
        f" {overlapping.es_usd}) exceed the sqrt({horizon})-scaled ones (VaR USD"
        f" {scaled.var_usd}, ES USD {scaled.es_usd}): losses unfolded over several days;"
        " the larger, overlapping figures are the prudent ones to read"
    )
    return replace(overlapping, exceeds_scaled=True, note=note)


def portfolio_sigma_usd(values_usd: FloatVector, covariance: FloatMatrix) -> float:
    """Return the portfolio's daily standard deviation in USD: sqrt(V' S V).

    Raises:
        FundInputError: `covariance` is not a square matrix matching the values, or V' S V
            is negative (not a covariance matrix).
    """
    assets = values_usd.shape[0]
    if not isinstance(covariance, np.ndarray) or covariance.shape != (assets, assets):
        expected = f"a {assets} x {assets} covariance matrix"
        raise FundInputError("covariance", expected, describe(getattr(covariance, "shape", None)))
    variance = float(values_usd @ covariance @ values_usd)
    if not math.isfinite(variance) or variance < 0:
        raise FundInputError("covariance", "a positive semi-definite matrix", f"{variance:g}")
    return math.sqrt(variance)


def parametric_var_es(sigma_usd: float, level: float, horizon_days: int) -> tuple[float, float]:
    """Return the normal (VaR, ES) in USD: z sigma sqrt(h) and phi(z) / (1 - a) sigma sqrt(h).

    Raises:
        FundInputError: a negative sigma, a bad level or horizon.
    """
    sigma_usd = check_float("sigma_usd", sigma_usd, minimum=0.0, maximum=float(MONEY_MAX))
    level = check_level(level)
    horizon_days = check_count("horizon_days", horizon_days, minimum=1, maximum=HORIZON_DAYS_MAX)
    z = _STANDARD_NORMAL.inv_cdf(level)
    scaled = sigma_usd * math.sqrt(horizon_days)
    return z * scaled, _STANDARD_NORMAL.pdf(z) / (1.0 - level) * scaled


def risk_report(
    values_usd: Sequence[Decimal],
    returns: FloatMatrix,
    *,
    levels: Sequence[float | Decimal] = LEVELS,
    horizons_days: Sequence[int] = HORIZONS_DAYS,
) -> RiskReport:
    """Compute VaR and ES by every method at every level and horizon.

    `values_usd[i]` is the current value of the asset in column i of `returns` (daily log
    returns, days x assets).

    Raises:
        FundInputError: bad returns, values, levels or horizons; too few days for a level.
    """
    checked = check_matrix("returns", returns, rows_min=2)
    check_size("returns", checked.shape[1], minimum=1, maximum=ASSETS_MAX, unit="assets")
    values = check_values(values_usd, checked.shape[1])
    check_size("levels", len(levels), minimum=1, maximum=LEVELS_COUNT_MAX, unit="levels")
    checked_levels = tuple(check_level(level) for level in levels)
    check_size(
        "horizons_days", len(horizons_days), minimum=1, maximum=HORIZONS_COUNT_MAX, unit="horizons"
    )
    for horizon in horizons_days:
        check_count("horizons_days", horizon, minimum=1, maximum=HORIZON_DAYS_MAX)
    figures = historical_figures(values, checked, checked_levels, horizons_days)
    sigma_usd = portfolio_sigma_usd(values, covariance_matrix(checked))
    for level in checked_levels:
        for horizon in horizons_days:
            var, es = parametric_var_es(sigma_usd, level, horizon)
            days = checked.shape[0]
            figures.append(_figure(PARAMETRIC, level, horizon, var, es, days, None))
    notes = tuple(figure.note for figure in figures if figure.note is not None)
    return RiskReport(tuple(figures), checked.shape[0], notes=notes)


def _figure(
    method: str,
    level: float,
    horizon: int,
    var: float,
    es: float,
    observations: int,
    es_observations: int | None,
) -> RiskFigure:
    return RiskFigure(
        method,
        level,
        horizon,
        to_usd_cents(var, argument="var_usd"),
        to_usd_cents(es, argument="es_usd"),
        observations,
        es_observations,
    )
