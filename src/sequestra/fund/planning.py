"""Plan a sale of a Fund asset from the ledger and market data: Almgren-Chriss and a
participation-capped TWAP, side by side.

Everything is taken at the moment of the latest valuation V (cutoff C), among the ledger's
entries as they are now: V's price P; the daily volatility sigma_d of the asset's stored USD
closes over the last 90 returns of UTC days that had ended by C (C's own, forming day and
anything later excluded: `pricing.marketdata.last_closed_day`); its average daily volume over
the last 30 such days, in units, on the licensed venues of the Fund policy in force only
(the venues the Fund may sell on); half the bid-ask spread from V's quotes on those venues
and the highest taker fee ccxt gives for them, or the stated defaults
(`sequestra.fund.costs`), the plan saying which.

The impact model is calibrated by two stated rules of thumb (both overridable): selling one
average day's volume within a day concedes one daily standard deviation of the price
(temporary impact eta = P sigma_d / ADV), and a tenth of that stays in the price (permanent
impact gamma = eta / 10). Almgren-Chriss sigma is in USD per unit per sqrt(day): P sigma_d.
Every unit sold also pays epsilon = P (half-spread + taker fee). `impact_model` names this.

Without a Fund policy no licensed venue is known: the volume then counts every venue with
market data, and the plan says so (`volume_licensed` False, `volume_note`).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any, Final

from sqlalchemy import Engine

from sequestra.custody.amounts import format_quantity
from sequestra.custody.assets import Asset
from sequestra.fund.costs import TradingCosts
from sequestra.fund.liquidity import average_daily_volume
from sequestra.fund.planner import ImpactModel, OptimalSale, SaleSchedule, capped_twap, optimal_sale
from sequestra.fund.report import (
    FundReportError,
    VolumeVenues,
    asset_costs,
    latest_valuation,
    volume_venues,
)
from sequestra.ledger import queries as ledger_queries
from sequestra.pricing.marketdata import read_usd_closes
from sequestra.pricing.queries import ValuationView, quotes_of
from sequestra.pricing.venues import CcxtVenue

RETURNS_WINDOW: Final = 90
ADV_WINDOW: Final = 30
PERMANENT_SHARE: Final = 0.1
IMPACT_MODEL: Final = (
    "Almgren-Chriss linear impact (eta = P sigma_d / ADV, gamma = eta / 10, ADV on the"
    " licensed venues), plus half-spread and taker fee"
)


@dataclass(frozen=True)
class MarketInputs:
    """What a plan rests on, from market data up to the valuation's cutoff."""

    sigma_daily: float
    adv_units: Decimal
    first_day: date  # the days of closes used
    last_day: date


@dataclass(frozen=True)
class SalePlan:
    asset: Asset
    quantity: Decimal
    price_usd: Decimal
    valuation_seq: int
    cutoff: str
    market: MarketInputs
    volume: VolumeVenues
    costs: TradingCosts
    model: ImpactModel
    optimal: OptimalSale
    twap: SaleSchedule
    even: OptimalSale  # the same tranches with lambda 0: equal trades, the alternative

    def to_json(self) -> dict[str, Any]:
        return {
            "asset": self.asset.asset_id,
            "quantity": format_quantity(self.quantity),
            "price_usd": str(self.price_usd),
            "value_usd": str((self.quantity * self.price_usd).quantize(Decimal("0.01"))),
            "valuation_seq": self.valuation_seq,
            "cutoff": self.cutoff,
            "market_first_day": self.market.first_day.isoformat(),
            "market_last_day": self.market.last_day.isoformat(),
            "sigma_daily": round(self.market.sigma_daily, 6),
            "adv_units": format_quantity(self.market.adv_units),
            **self.volume.to_json(),
            "impact_model": IMPACT_MODEL,
            **self.costs.to_json(),
            "model": {
                "sigma": self.model.sigma,
                "eta": self.model.eta,
                "gamma": self.model.gamma,
                "epsilon": self.model.epsilon,
            },
            "almgren_chriss": {
                "tranche_days": self.optimal.schedule.tranche_days,
                "trades": [format_quantity(n) for n in self.optimal.schedule.trades],
                "expected_cost_usd": str(self.optimal.expected_cost_usd),
                "impact_cost_usd": str(self.optimal.impact_cost_usd),
                "spread_and_fee_cost_usd": str(self.optimal.spread_and_fee_cost_usd),
                "cost_std_usd": str(self.optimal.cost_std_usd),
                **self.urgency_json(),
            },
            "even": {
                "tranche_days": self.even.schedule.tranche_days,
                "trades": [format_quantity(n) for n in self.even.schedule.trades],
                "expected_cost_usd": str(self.even.expected_cost_usd),
                "cost_std_usd": str(self.even.cost_std_usd),
            },
            "twap": {
                "tranche_days": self.twap.tranche_days,
                "trades": [format_quantity(n) for n in self.twap.trades],
            },
        }

    def urgency_json(self) -> dict[str, Any]:
        """Why the schedule has its shape: kappa T, the first tranche's share, in words."""
        schedule = self.optimal.schedule
        horizon_days = schedule.tranche_days * len(schedule.trades)
        kappa_horizon = self.optimal.kappa_per_day * horizon_days
        first_share = float(schedule.trades[0] / self.quantity) if schedule.trades else 0.0
        return {
            "kappa_per_day": round(self.optimal.kappa_per_day, 6),
            "kappa_horizon": round(kappa_horizon, 4),
            "first_tranche_share": round(first_share, 4),
            "rationale": rationale(kappa_horizon, first_share, len(schedule.trades)),
        }


# kappa T below this sells in near-equal tranches; above URGENT it sells most at once.
KAPPA_HORIZON_EVEN_MAX: Final = 0.5
KAPPA_HORIZON_URGENT_MIN: Final = 3.0


def rationale(kappa_horizon: float, first_share: float, tranches: int) -> str:
    """Say in words why an Almgren-Chriss schedule is as even or front-loaded as it is.

    kappa T is the urgency: kappa^2 is about lambda sigma^2 / eta, the risk aversion times
    the price variance against the temporary impact; holdings fall as sinh(kappa (T - t)).
    """
    share = f"the first of {tranches} tranches sells {first_share:.0%} of the quantity"
    if kappa_horizon <= KAPPA_HORIZON_EVEN_MAX:
        return (
            f"kappa T = {kappa_horizon:.2f} is small: the risk of holding (lambda sigma^2) is"
            f" low against the impact (eta), so tranches are near-equal; {share}"
        )
    pace = "sells most at once" if kappa_horizon >= KAPPA_HORIZON_URGENT_MIN else "front-loads"
    return (
        f"kappa T = {kappa_horizon:.2f}: risk aversion (lambda) times the price variance"
        f" (sigma^2) is large against the impact (eta), so the schedule {pace} to cut the"
        f" risk of holding; {share}; a smaller --risk-aversion spreads it (0: equal tranches)"
    )


def market_inputs(
    engine: Engine, asset: Asset, price: Decimal, valuation: ValuationView, volume: VolumeVenues
) -> MarketInputs:
    """sigma_d and ADV (in units, on the licensed venues) from the closes of the days ended by
    the valuation's cutoff.

    Raises FundReportError with fewer than 3 such days, or no volume on the licensed venues.
    """
    closes, volumes_usd = read_usd_closes(
        engine, asset.symbol, cutoff_utc=valuation.cutoff_at, volume_venues=volume.venues
    )
    days = sorted(closes)[-(RETURNS_WINDOW + 1) :]
    if len(days) < 3:
        raise FundReportError(
            f"{asset.symbol}: expected stored daily closes of days ended by the cutoff"
            f" {valuation.cutoff} (sequestra fund marketdata), got {len(days)} day(s)"
        )
    returns = [math.log(closes[b] / closes[a]) for a, b in itertools.pairwise(days)]
    mean = sum(returns) / len(returns)
    sigma = math.sqrt(sum((r - mean) ** 2 for r in returns) / (len(returns) - 1))
    recent = [volumes_usd[day] for day in sorted(volumes_usd)[-ADV_WINDOW:]]
    adv_usd = average_daily_volume(recent, unit="usd", window_days=len(recent))
    adv_units = (adv_usd / price).quantize(Decimal(10) ** -asset.decimals)
    if adv_units <= 0:
        raise FundReportError(
            f"{asset.symbol}: expected a trading volume on the venues counted"
            f" ({', '.join(volume.venues)}) in the last {ADV_WINDOW} days ended by the cutoff"
            f" {valuation.cutoff}, got none"
        )
    return MarketInputs(sigma, adv_units, days[0], days[-1])


def plan_sale(
    engine: Engine,
    asset: Asset,
    quantity: Decimal,
    tranches: int,
    tranche_days: float,
    risk_aversion: float,
    participation: Decimal,
    *,
    venues: Sequence[CcxtVenue] = (),
) -> SalePlan:
    """Almgren-Chriss and capped-TWAP schedules for selling `quantity` of `asset`.

    `venues` give the taker fees (ccxt markets) of the licensed ones; without them the
    stated default fee is used, and the plan says so.

    Raises FundReportError without a valuation price, market data or volume; FundInputError
    (from the planner) for parameters out of range.
    """
    valuation = latest_valuation(engine)
    size = ledger_queries.head(engine).size  # read after: the valuation is among its entries
    price = valuation.price_of(asset.asset_id)
    if price is None:
        raise FundReportError(f"{asset.asset_id}: expected a price in the latest valuation")
    volume = volume_venues(engine, size)
    market = market_inputs(engine, asset, price, valuation, volume)
    quotes = quotes_of(engine, valuation.quotes_sha256)
    costs = asset_costs(quotes, valuation.seq, asset.symbol, volume, venues)
    p, sigma_d = float(price), market.sigma_daily
    eta = p * sigma_d / float(market.adv_units)
    model = ImpactModel(p * sigma_d, eta, eta * PERMANENT_SHARE, p * float(costs.rate))
    step = Decimal(10) ** -min(asset.decimals, 8)
    optimal = optimal_sale(
        quantity, tranches, tranche_days, model, risk_aversion, quantity_step=step
    )
    even = optimal_sale(quantity, tranches, tranche_days, model, 0.0, quantity_step=step)
    twap = capped_twap(quantity, market.adv_units, participation=participation, quantity_step=step)
    return SalePlan(
        asset,
        quantity,
        price,
        valuation.seq,
        valuation.cutoff,
        market,
        volume,
        costs,
        model,
        optimal,
        twap,
        even,
    )
