"""The State Fund's exposure, risk, stress and liquidity from the ledger and market data.

Positions are the Fund's holdings (`fund/<wallet>` accounts) summed per asset; prices and
the USD/KZT rate are those of the latest recorded valuation (fair value, price x quantity);
daily closes and volumes are the stored market data (`sequestra fund marketdata`). An asset
without a price is left out and named; an asset without enough history is valued but left
out of the statistics, and named.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any, Final

from sqlalchemy import Engine

from sequestra.config import FundSettings
from sequestra.custody.queries import asset_registry, list_holdings
from sequestra.errors import Conflict
from sequestra.fund.exposure import Exposure, Position, exposure
from sequestra.fund.liquidity import average_daily_volume, days_to_exit, impact_cost_usd
from sequestra.fund.risk import RiskReport, risk_report
from sequestra.fund.series import (
    VOLATILITY_WINDOWS_DAYS,
    CloseSeries,
    align_closes,
    correlation_matrix,
    log_returns,
    realised_volatility,
)
from sequestra.fund.stress import DEFAULT_SCENARIOS, StressResult, StressScenario, stress_all
from sequestra.pricing.marketdata import read_usd_closes
from sequestra.pricing.queries import ValuationView, current_valuation

HISTORY_DAYS_MIN: Final = 100  # a 99% historical VaR needs a tail of at least one day
PARTICIPATION: Final = Decimal("0.10")  # of average daily volume, for days to exit
ADV_WINDOW_DAYS: Final = 30


class FundReportError(Conflict):
    """No report can be made (nothing in the Fund, no valuation); the message says why."""


@dataclass
class FundReport:
    valuation_seq: int
    cutoff: str
    exposure: Exposure
    unpriced: list[str] = field(default_factory=list)
    without_history: list[str] = field(default_factory=list)
    history_days: int = 0
    volatility: dict[str, dict[str, float]] = field(default_factory=dict)
    correlation: dict[str, dict[str, float]] = field(default_factory=dict)
    risk: RiskReport | None = None
    stress: tuple[StressResult, ...] = ()
    liquidity: dict[str, dict[str, str]] = field(default_factory=dict)

    def exposure_json(self) -> dict[str, Any]:
        e = self.exposure
        return {
            "valuation_seq": self.valuation_seq,
            "cutoff": self.cutoff,
            "total_usd": str(e.total_usd),
            "total_kzt": None if e.total_kzt is None else str(e.total_kzt),
            "usd_kzt": None if e.usd_kzt is None else str(e.usd_kzt),
            "herfindahl_index": round(e.herfindahl_index, 6),
            "effective_assets": round(e.effective_assets, 3),
            "assets": [
                {
                    "asset": a.asset_id,
                    "quantity": str(a.quantity),
                    "price_usd": str(a.price_usd),
                    "value_usd": str(a.value_usd),
                    "value_kzt": None if a.value_kzt is None else str(a.value_kzt),
                    "weight": round(a.weight, 6),
                    "volatility": self.volatility.get(a.asset_id),
                }
                for a in e.assets
            ],
            "unpriced": self.unpriced,
            "without_history": self.without_history,
            "history_days": self.history_days,
            "risk": None
            if self.risk is None
            else {
                "primary_method": self.risk.primary_method,
                "observations": self.risk.observations,
                "figures": [
                    {
                        "method": f.method,
                        "level": f.level,
                        "horizon_days": f.horizon_days,
                        "var_usd": str(f.var_usd),
                        "es_usd": str(f.es_usd),
                    }
                    for f in self.risk.figures
                ],
            },
        }

    def stress_json(self) -> list[dict[str, Any]]:
        return [
            {
                "scenario": r.scenario,
                "total_loss_usd": str(r.total_loss_usd),
                "value_after_usd": str(r.value_after_usd),
                "losses": [
                    {"asset": x.asset_id, "change": str(x.change), "loss_usd": str(x.loss_usd)}
                    for x in r.losses
                ],
            }
            for r in self.stress
        ]


def latest_valuation(engine: Engine) -> ValuationView:
    """The current valuation (`pricing.queries.current_valuation`).

    Raises FundReportError when none is recorded yet.
    """
    found = current_valuation(engine)
    if found is None:
        raise FundReportError("no valuation recorded yet: run `sequestra revalue` first")
    return found


def fund_report(
    engine: Engine,
    scenarios: Sequence[StressScenario] = DEFAULT_SCENARIOS,
    participation: Decimal = PARTICIPATION,
) -> FundReport:
    """Exposure, volatility, correlations, VaR/ES, stress and days to exit of the Fund.

    Raises FundReportError when the Fund holds nothing or nothing is valued.
    """
    valuation = latest_valuation(engine)
    seq, cutoff, rate, prices = (
        valuation.seq,
        valuation.cutoff,
        valuation.fx_rate,
        valuation.prices_usd(),
    )
    registry = asset_registry(engine)
    quantities: dict[str, Decimal] = defaultdict(Decimal)
    for holding in list_holdings(engine, fund=True):
        quantities[holding.asset.asset_id] += Decimal(holding.amount_base).scaleb(
            -holding.asset.decimals
        )
    if not quantities:
        raise FundReportError("the State Fund holds nothing (forfeitures move holdings there)")
    unpriced = sorted(a for a in quantities if a not in prices)
    positions = [Position(a, q, prices[a]) for a, q in sorted(quantities.items()) if a in prices]
    if not positions:
        raise FundReportError(f"no Fund asset has a price in valuation {seq}: {unpriced}")
    report = FundReport(seq, cutoff, exposure(positions, usd_kzt=rate), unpriced)
    series, volumes = [], {}
    for position in positions:
        closes, daily_volume = read_usd_closes(engine, registry.get(position.asset_id).symbol)
        if len(closes) < HISTORY_DAYS_MIN:
            report.without_history.append(position.asset_id)
            continue
        days = sorted(closes)
        series.append(CloseSeries(position.asset_id, tuple(days), tuple(closes[d] for d in days)))
        volumes[position.asset_id] = daily_volume
    values = {a.asset_id: a.value_usd for a in report.exposure.assets}
    report.stress = stress_all(scenarios, values)
    if series:
        _statistics(report, series)
    report.liquidity = _liquidity(report, volumes, participation)
    return report


def configured_fund_report(engine: Engine, settings: FundSettings) -> FundReport:
    """`fund_report` with the [fund] settings' scenarios (none: the built-in ones) and
    participation. Raises FundReportError as `fund_report` does."""
    scenarios = tuple(
        StressScenario(s.name, tuple(sorted(s.shocks.items())), s.others, s.description)
        for s in settings.scenarios
    )
    return fund_report(engine, scenarios or DEFAULT_SCENARIOS, settings.participation)


def volatility_by_asset(returns: Any, asset_ids: Sequence[str]) -> dict[str, dict[str, float]]:
    """Annualised realised volatility per asset over each window of VOLATILITY_WINDOWS_DAYS
    that the daily log returns (days x assets, columns in `asset_ids` order) cover."""
    found: dict[str, dict[str, float]] = {}
    for window in VOLATILITY_WINDOWS_DAYS:
        if returns.shape[0] >= window:
            vols = realised_volatility(returns, window)
            for index, asset_id in enumerate(asset_ids):
                found.setdefault(asset_id, {})[f"{window}d"] = round(float(vols[index]), 6)
    return found


def _statistics(report: FundReport, series: list[CloseSeries]) -> None:
    aligned = align_closes(series)
    returns = log_returns(aligned.closes_usd)
    ids = aligned.asset_ids
    report.history_days = len(aligned.dates)
    report.volatility = volatility_by_asset(returns, ids)
    matrix = correlation_matrix(returns)
    report.correlation = {
        a: {b: round(float(matrix[i][j]), 4) for j, b in enumerate(ids)} for i, a in enumerate(ids)
    }
    # Assets without history are named in `without_history` and left out of the figures.
    values = {a.asset_id: a.value_usd for a in report.exposure.assets}
    report.risk = risk_report([values[a] for a in ids], returns)


def _liquidity(
    report: FundReport, volumes: dict[str, dict[date, Decimal]], participation: Decimal
) -> dict[str, dict[str, str]]:
    """ADV in USD, days to exit at `participation`, and the square-root impact cost of
    selling the whole holding at once (a liquidation figure, never part of fair value)."""
    found: dict[str, dict[str, str]] = {}
    for line in report.exposure.assets:
        daily = volumes.get(line.asset_id)
        if not daily:
            continue
        recent = [daily[d] for d in sorted(daily)[-ADV_WINDOW_DAYS:]]
        adv_usd = average_daily_volume(recent, unit="usd", window_days=len(recent))
        if adv_usd <= 0 or line.value_usd <= 0:
            continue
        exit_estimate = days_to_exit(line.value_usd, adv_usd, participation=participation)
        row = {
            "adv_usd": str(adv_usd),
            "days_to_exit": str(exit_estimate.days),
            "participation": str(participation),
        }
        sigma_annual = report.volatility.get(line.asset_id, {}).get("30d")
        if sigma_annual is not None:
            sigma_daily = sigma_annual / math.sqrt(365)
            cost = impact_cost_usd(line.value_usd, sigma_daily, line.value_usd, adv_usd)
            row["impact_cost_usd"] = str(cost)
        found[line.asset_id] = row
    return found
