"""The State Fund's exposure, risk, stress and liquidity from the ledger and market data.

The moment: the current valuation is read, then the ledger's size, once; everything else
is taken at the end of that prefix (`holdings_tree_size` entries): positions are the Fund's
holdings (`fund/<wallet>` accounts) summed per asset after those entries, valued at that
valuation's prices and USD/KZT rate (fair value, price x quantity); the licensed venues are
those of the Fund policy in force among them. `moment` says so in one sentence.

Market data (`sequestra fund marketdata`) is cut at that valuation's cutoff: only the daily
closes and volumes of UTC days that had ended at or before it count (the cutoff's own day is
still forming; `pricing.marketdata.last_closed_day`). Closes are the median over every
venue; volumes count only the licensed venues of the Fund policy, the ones the Fund may sell
on (`volume_licensed` True). Without a Fund policy no licensed venue is known: volumes then
count every venue with market data, and the figures say so (`volume_licensed` False and a
`volume_note`), since they may overstate what the Fund can sell into. An asset without a
price is left out and named; an asset without enough history is valued but left out of the
statistics, and named.

Liquidity costs (`sequestra.fund.costs`): the square-root impact of selling the whole
holding at once, plus half the bid-ask spread and the taker fee on its value; each row
names that model in `impact_model` and where its spread and fee came from.
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

from sequestra.chains.watch.queries import Doubt, positions_in_doubt
from sequestra.config import FundSettings
from sequestra.custody.amounts import format_quantity
from sequestra.custody.assets import AssetRegistry
from sequestra.custody.queries import asset_registry, holdings_before
from sequestra.errors import Conflict
from sequestra.fund.bounds import multiply_exact, to_cents
from sequestra.fund.costs import (
    TradingCosts,
    highest_taker_fee,
    trading_costs,
    widest_half_spread,
)
from sequestra.fund.exposure import Exposure, Position, exposure
from sequestra.fund.liquidity import (
    IMPACT_CONSTANT_DEFAULT,
    average_daily_volume,
    days_to_exit,
    impact_cost_usd,
)
from sequestra.fund.queries import PolicyRecord, current_policy
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
from sequestra.ledger import queries as ledger_queries
from sequestra.pricing.marketdata import last_closed_day, read_usd_closes, stored_venues
from sequestra.pricing.projection import QuoteRow
from sequestra.pricing.queries import ValuationView, current_valuation, quotes_of
from sequestra.pricing.venues import CcxtVenue

HISTORY_DAYS_MIN: Final = 100  # a 99% historical VaR needs a tail of at least one day
PARTICIPATION: Final = Decimal("0.10")  # of average daily volume, for days to exit
ADV_WINDOW_DAYS: Final = 30
IMPACT_WINDOW: Final = "30d"  # the volatility the square-root impact uses
NO_POLICY_NOTE: Final = (
    "no Fund policy recorded: no licensed venue is known, so volume counts every venue with"
    " market data ({venues}) and may overstate what the Fund can sell into (days to exit and"
    " impact understated); record a policy with `sequestra fund policy set`"
)
IMPACT_MODEL: Final = (
    f"square-root impact, Y={IMPACT_CONSTANT_DEFAULT:g}, sigma_daily of the last 30 daily"
    " returns, Q/ADV with ADV on the licensed venues; plus half-spread and taker fee"
)


def moment_statement(holdings_tree_size: int, valuation_seq: int, cutoff: str) -> str:
    """The sentence naming the moment a Fund figure describes: the holdings after the first
    `holdings_tree_size` entries, at a valuation's prices."""
    return (
        f"Fund holdings as of ledger entry {holdings_tree_size - 1} (tree size"
        f" {holdings_tree_size}), prices of valuation seq {valuation_seq} (cutoff {cutoff})"
    )


@dataclass(frozen=True)
class VolumeVenues:
    """The venues whose volume counts: the licensed venues of the policy in force, or, with
    no policy, every venue with market data, flagged (`licensed` False, `note` says why)."""

    venues: tuple[str, ...]
    policy_seq: int | None
    licensed: bool
    note: str | None

    def to_json(self) -> dict[str, Any]:
        return {
            "volume_venues": list(self.venues),
            "volume_policy_seq": self.policy_seq,
            "volume_licensed": self.licensed,
            "volume_note": self.note,
        }


def volume_venues(engine: Engine, size: int) -> VolumeVenues:
    """The venues whose volume counts at the end of the ledger's first `size` entries."""
    policy: PolicyRecord | None = current_policy(engine, size)
    if policy is not None:
        return VolumeVenues(tuple(sorted(policy.venues)), policy.seq, True, None)
    every = stored_venues(engine)
    return VolumeVenues(every, None, False, NO_POLICY_NOTE.format(venues=", ".join(every)))


class FundReportError(Conflict):
    """No report can be made (nothing in the Fund, no valuation); the message says why."""


def risk_json(risk: RiskReport) -> dict[str, Any]:
    """VaR and ES as `fund exposure --json` and the API give them: each figure with the
    observations it rests on, overlapping figures flagged against the scaled ones."""
    return {
        "primary_method": risk.primary_method,
        "observations": risk.observations,
        "notes": list(risk.notes),
        "figures": [
            {
                "method": f.method,
                "level": f.level,
                "horizon_days": f.horizon_days,
                "var_usd": str(f.var_usd),
                "es_usd": str(f.es_usd),
                "observations": f.observations,
                "es_observations": f.es_observations,
                "exceeds_scaled": f.exceeds_scaled,
                "note": f.note,
            }
            for f in risk.figures
        ],
    }


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
    liquidity: dict[str, dict[str, Any]] = field(default_factory=dict)
    holdings_tree_size: int = 0  # the holdings after the ledger's first this many entries
    market_last_day_max: str = ""  # the last UTC day ended at the cutoff (YYYY-MM-DD)
    market_first_day: str | None = None  # the aligned days the statistics used
    market_last_day: str | None = None
    volume: VolumeVenues = field(default_factory=lambda: VolumeVenues((), None, False, None))
    held: FundHoldings = field(default_factory=lambda: FundHoldings({}, {}, ()))

    @property
    def moment(self) -> str:
        return moment_statement(self.holdings_tree_size, self.valuation_seq, self.cutoff)

    @property
    def in_doubt_by_asset(self) -> dict[str, Decimal]:
        """USD value per asset on positions under an open critical alert."""
        return self.held.doubt_values(self.exposure)

    @property
    def in_doubt_usd(self) -> Decimal:
        return sum(self.in_doubt_by_asset.values(), Decimal("0.00"))

    def exposure_json(self) -> dict[str, Any]:
        e = self.exposure
        doubtful = self.in_doubt_by_asset
        in_doubt_usd = self.in_doubt_usd
        return {
            "valuation_seq": self.valuation_seq,
            "cutoff": self.cutoff,
            "holdings_tree_size": self.holdings_tree_size,
            "moment": self.moment,
            "total_usd": str(e.total_usd),
            "total_kzt": None if e.total_kzt is None else str(e.total_kzt),
            "usd_kzt": None if e.usd_kzt is None else str(e.usd_kzt),
            "undisputed_usd": str(e.total_usd - in_doubt_usd),
            "in_doubt_usd": str(in_doubt_usd),
            "in_doubt": [doubt.to_json() for doubt in self.held.doubts],
            "herfindahl_index": round(e.herfindahl_index, 6),
            "effective_assets": round(e.effective_assets, 3),
            "assets": [
                {
                    "asset": a.asset_id,
                    "quantity": format_quantity(a.quantity),
                    "price_usd": str(a.price_usd),
                    "value_usd": str(a.value_usd),
                    "value_kzt": None if a.value_kzt is None else str(a.value_kzt),
                    "weight": round(a.weight, 6),
                    "in_doubt_quantity": format_quantity(
                        self.held.in_doubt.get(a.asset_id, Decimal(0))
                    ),
                    "in_doubt_usd": str(doubtful.get(a.asset_id, Decimal("0.00"))),
                    "volatility": self.volatility.get(a.asset_id),
                }
                for a in e.assets
            ],
            "unpriced": self.unpriced,
            "without_history": self.without_history,
            "history_days": self.history_days,
            "market_last_day_max": self.market_last_day_max,
            "market_first_day": self.market_first_day,
            "market_last_day": self.market_last_day,
            "risk": None if self.risk is None else risk_json(self.risk),
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


def latest_valuation(engine: Engine, size: int | None = None) -> ValuationView:
    """The current valuation (`pricing.queries.current_valuation`), among the ledger's first
    `size` entries when given.

    Raises FundReportError when none is recorded yet.
    """
    found = current_valuation(engine, size)
    if found is None:
        raise FundReportError("no valuation recorded yet: run `sequestra revalue` first")
    return found


@dataclass(frozen=True)
class FundHoldings:
    """The Fund's quantity of each asset (whole units) after the ledger's first `size`
    entries; of it, what lies on positions under an open critical alert of the chain
    watcher (`in_doubt`: valued, but shown apart from the undisputed total), and those
    alerts."""

    quantities: dict[str, Decimal]
    in_doubt: dict[str, Decimal]
    doubts: tuple[Doubt, ...]

    def doubt_values(self, exposure: Exposure) -> dict[str, Decimal]:
        """The in-doubt value in USD per priced asset: its quantity at the line's price,
        to the cent (half-even), as every line's value."""
        return {
            line.asset_id: to_cents(
                multiply_exact(self.in_doubt[line.asset_id], line.price_usd),
                argument=f"in_doubt.{line.asset_id}",
            )
            for line in exposure.assets
            if line.asset_id in self.in_doubt
        }


def fund_holdings(engine: Engine, size: int, *, now: bool = False) -> FundHoldings:
    """The Fund's holdings after the ledger's first `size` entries (see `FundHoldings`);
    empty when the Fund holds nothing. `now`: the alerts open now, as the pages read them
    (the report of the ledger as it is), rather than those open at the end of the prefix."""
    quantities: dict[str, Decimal] = defaultdict(Decimal)
    in_doubt: dict[str, Decimal] = defaultdict(Decimal)
    doubts = positions_in_doubt(engine, None if now else size)
    named: dict[int, Doubt] = {}
    for holding in holdings_before(engine, size):
        if holding.case_id is not None:  # a holding of the State Fund has no case
            continue
        asset_id = holding.asset.asset_id
        quantity = Decimal(holding.amount_base).scaleb(-holding.asset.decimals)
        quantities[asset_id] += quantity
        doubt = doubts.get((holding.wallet, asset_id))
        if doubt is not None:
            in_doubt[asset_id] += quantity
            named[doubt.alert_seq] = doubt
    return FundHoldings(dict(quantities), dict(in_doubt), tuple(named[s] for s in sorted(named)))


def fund_quantities(engine: Engine, size: int) -> FundHoldings:
    """`fund_holdings` now; raises FundReportError when the Fund holds nothing."""
    found = fund_holdings(engine, size, now=True)
    if not found.quantities:
        raise FundReportError("the State Fund holds nothing (forfeitures move holdings there)")
    return found


def fund_report(
    engine: Engine,
    scenarios: Sequence[StressScenario] = DEFAULT_SCENARIOS,
    participation: Decimal = PARTICIPATION,
    *,
    venues: Sequence[CcxtVenue] = (),
) -> FundReport:
    """Exposure, volatility, correlations, VaR/ES, stress and days to exit of the Fund, at
    the end of the ledger as it is now (see the module docstring for the moment and the cut).

    `venues` give the taker fees (ccxt markets) of the licensed ones; without them the
    stated default fee is used.

    Raises FundReportError when the Fund holds nothing or nothing is valued.
    """
    valuation = latest_valuation(engine)
    size = ledger_queries.head(engine).size  # read after: the valuation is among its entries
    seq, prices = valuation.seq, valuation.prices_usd()
    held = fund_quantities(engine, size)
    quantities = held.quantities
    unpriced = sorted(a for a in quantities if a not in prices)
    positions = [Position(a, q, prices[a]) for a, q in sorted(quantities.items()) if a in prices]
    if not positions:
        raise FundReportError(f"no Fund asset has a price in valuation {seq}: {unpriced}")
    report = FundReport(
        seq,
        valuation.cutoff,
        exposure(positions, usd_kzt=valuation.fx_rate),
        unpriced,
        holdings_tree_size=size,
        market_last_day_max=last_closed_day(valuation.cutoff_at).isoformat(),
        volume=volume_venues(engine, size),
        held=held,
    )
    registry = asset_registry(engine)
    series, volumes = [], {}
    for position in positions:
        symbol = registry.get(position.asset_id).symbol
        closes, volumes[position.asset_id] = read_usd_closes(
            engine, symbol, cutoff_utc=valuation.cutoff_at, volume_venues=report.volume.venues
        )
        if len(closes) < HISTORY_DAYS_MIN:
            report.without_history.append(position.asset_id)
            continue
        days = sorted(closes)
        series.append(CloseSeries(position.asset_id, tuple(days), tuple(closes[d] for d in days)))
    values = {a.asset_id: a.value_usd for a in report.exposure.assets}
    report.stress = stress_all(scenarios, values)
    if series:
        _statistics(report, series)
    costs = _costs(engine, valuation, registry, report.volume, venues)
    report.liquidity = _liquidity(report, volumes, participation, costs)
    return report


def configured_fund_report(
    engine: Engine, settings: FundSettings, *, venues: Sequence[CcxtVenue] = ()
) -> FundReport:
    """`fund_report` with the [fund] settings' scenarios (none: the built-in ones) and
    participation. Raises FundReportError as `fund_report` does."""
    scenarios = tuple(
        StressScenario(s.name, tuple(sorted(s.shocks.items())), s.others, s.description)
        for s in settings.scenarios
    )
    return fund_report(
        engine, scenarios or DEFAULT_SCENARIOS, settings.participation, venues=venues
    )


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
    report.market_first_day = aligned.dates[0].isoformat()
    report.market_last_day = aligned.dates[-1].isoformat()
    report.volatility = volatility_by_asset(returns, ids)
    matrix = correlation_matrix(returns)
    report.correlation = {
        a: {b: round(float(matrix[i][j]), 4) for j, b in enumerate(ids)} for i, a in enumerate(ids)
    }
    # Assets without history are named in `without_history` and left out of the figures.
    values = {a.asset_id: a.value_usd for a in report.exposure.assets}
    report.risk = risk_report([values[a] for a in ids], returns)


def asset_costs(
    quotes: Sequence[QuoteRow],
    valuation_seq: int,
    symbol: str,
    volume: VolumeVenues,
    venues: Sequence[CcxtVenue],
) -> TradingCosts:
    """Half-spread (from a valuation's quotes) and taker fee (from the venues' ccxt markets)
    of selling `symbol` on the licensed venues; the stated defaults where none is known."""
    return trading_costs(
        widest_half_spread(quotes, symbol, volume.venues),
        highest_taker_fee(venues, symbol, volume.venues),
        valuation_seq=valuation_seq,
    )


def _costs(
    engine: Engine,
    valuation: ValuationView,
    registry: AssetRegistry,
    volume: VolumeVenues,
    venues: Sequence[CcxtVenue],
) -> dict[str, TradingCosts]:
    quotes = quotes_of(engine, valuation.quotes_sha256)
    return {
        asset_id: asset_costs(quotes, valuation.seq, registry.get(asset_id).symbol, volume, venues)
        for asset_id in valuation.prices_usd()
    }


def _liquidity(
    report: FundReport,
    volumes: dict[str, dict[date, Decimal]],
    participation: Decimal,
    costs: dict[str, TradingCosts],
) -> dict[str, dict[str, Any]]:
    """Per asset: ADV in USD on the licensed venues, days to exit at `participation`, and the
    cost of selling the whole holding at once: square-root impact plus half-spread and taker
    fee (a liquidation figure, never part of fair value). The volume figures are None, and
    `volume_note` says why, without volume on those venues."""
    found: dict[str, dict[str, Any]] = {}
    for line in report.exposure.assets:
        cost = costs[line.asset_id]
        spread_and_fee = cost.cost_usd(line.value_usd)
        row: dict[str, Any] = {
            "adv_usd": None,
            "days_to_exit": None,
            "participation": str(participation),
            **report.volume.to_json(),
            "impact_model": IMPACT_MODEL,
            "impact_cost_usd": None,
            "spread_and_fee_cost_usd": str(spread_and_fee),
            "expected_cost_usd": None,
            **cost.to_json(),
        }
        found[line.asset_id] = row
        daily = volumes.get(line.asset_id) or {}
        recent = [daily[d] for d in sorted(daily)[-ADV_WINDOW_DAYS:]]
        adv_usd = (
            average_daily_volume(recent, unit="usd", window_days=len(recent))
            if recent
            else Decimal(0)
        )
        if line.value_usd <= 0:
            continue
        if adv_usd <= 0:
            row["volume_note"] = (
                f"no volume on the venues counted ({', '.join(report.volume.venues)}) in the"
                f" last {ADV_WINDOW_DAYS} days ended by the cutoff"
            )
            continue
        row["adv_usd"] = str(adv_usd)
        row["days_to_exit"] = str(
            days_to_exit(line.value_usd, adv_usd, participation=participation).days
        )
        sigma_annual = report.volatility.get(line.asset_id, {}).get(IMPACT_WINDOW)
        if sigma_annual is not None:
            sigma_daily = sigma_annual / math.sqrt(365)
            impact = impact_cost_usd(line.value_usd, sigma_daily, line.value_usd, adv_usd)
            row["impact_cost_usd"] = str(impact)
            row["expected_cost_usd"] = str(impact + spread_and_fee)
    return found
