"""Plan a sale of a Fund asset from the ledger and market data: Almgren-Chriss and a
participation-capped TWAP, side by side.

Inputs: the latest valuation's price P; the daily volatility sigma_d of the asset's stored
USD closes (last 90 returns); its average daily volume (last 30 days, in units). The impact
model is calibrated by two stated rules of thumb (both overridable): selling one average
day's volume within a day concedes one daily standard deviation of the price (temporary
impact eta = P sigma_d / ADV), and a tenth of that stays in the price (permanent impact
gamma = eta / 10). Almgren-Chriss sigma is in USD per unit per sqrt(day): P sigma_d.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Final

from sqlalchemy import Engine

from sequestra.custody.assets import Asset
from sequestra.fund.liquidity import average_daily_volume
from sequestra.fund.planner import ImpactModel, OptimalSale, SaleSchedule, capped_twap, optimal_sale
from sequestra.fund.report import FundReportError, latest_valuation
from sequestra.pricing.marketdata import read_usd_closes

RETURNS_WINDOW: Final = 90
ADV_WINDOW: Final = 30
PERMANENT_SHARE: Final = 0.1


@dataclass(frozen=True)
class SalePlan:
    asset: Asset
    quantity: Decimal
    price_usd: Decimal
    sigma_daily: float
    adv_units: Decimal
    model: ImpactModel
    optimal: OptimalSale
    twap: SaleSchedule

    def to_json(self) -> dict[str, Any]:
        return {
            "asset": self.asset.asset_id,
            "quantity": str(self.quantity),
            "price_usd": str(self.price_usd),
            "value_usd": str((self.quantity * self.price_usd).quantize(Decimal("0.01"))),
            "sigma_daily": round(self.sigma_daily, 6),
            "adv_units": str(self.adv_units),
            "model": {"sigma": self.model.sigma, "eta": self.model.eta, "gamma": self.model.gamma},
            "almgren_chriss": {
                "tranche_days": self.optimal.schedule.tranche_days,
                "trades": [str(n) for n in self.optimal.schedule.trades],
                "expected_cost_usd": str(self.optimal.expected_cost_usd),
                "cost_std_usd": str(self.optimal.cost_std_usd),
            },
            "twap": {
                "tranche_days": self.twap.tranche_days,
                "trades": [str(n) for n in self.twap.trades],
            },
        }


def _sigma_and_adv(engine: Engine, asset: Asset, price: Decimal) -> tuple[float, Decimal]:
    closes, volumes_usd = read_usd_closes(engine, asset.symbol)
    days = sorted(closes)[-(RETURNS_WINDOW + 1) :]
    if len(days) < 3:
        raise FundReportError(
            f"{asset.symbol}: expected stored daily closes (sequestra fund marketdata), got"
            f" {len(days)} day(s)"
        )
    returns = [math.log(closes[b] / closes[a]) for a, b in itertools.pairwise(days)]
    mean = sum(returns) / len(returns)
    sigma = math.sqrt(sum((r - mean) ** 2 for r in returns) / (len(returns) - 1))
    recent = [volumes_usd.get(day, Decimal(0)) for day in sorted(volumes_usd)[-ADV_WINDOW:]]
    adv_usd = average_daily_volume(recent, unit="usd", window_days=len(recent))
    return sigma, (adv_usd / price).quantize(Decimal(10) ** -asset.decimals)


def plan_sale(
    engine: Engine,
    asset: Asset,
    quantity: Decimal,
    tranches: int,
    tranche_days: float,
    risk_aversion: float,
    participation: Decimal,
) -> SalePlan:
    """Almgren-Chriss and capped-TWAP schedules for selling `quantity` of `asset`.

    Raises FundReportError without a valuation price or market data; FundInputError (from
    the planner) for parameters out of range.
    """
    price = latest_valuation(engine).price_of(asset.asset_id)
    if price is None:
        raise FundReportError(f"{asset.asset_id}: expected a price in the latest valuation")
    sigma_daily, adv_units = _sigma_and_adv(engine, asset, price)
    if adv_units <= 0:
        raise FundReportError(f"{asset.symbol}: expected a trading volume, got none")
    eta = float(price) * sigma_daily / float(adv_units)
    model = ImpactModel(float(price) * sigma_daily, eta, eta * PERMANENT_SHARE)
    step = Decimal(10) ** -min(asset.decimals, 8)
    optimal = optimal_sale(
        quantity, tranches, tranche_days, model, risk_aversion, quantity_step=step
    )
    twap = capped_twap(quantity, adv_units, participation=participation, quantity_step=step)
    return SalePlan(asset, quantity, price, sigma_daily, adv_units, model, optimal, twap)
