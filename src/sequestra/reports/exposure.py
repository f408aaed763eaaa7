"""The State Fund's exposure and stress at the latest valuation among the ledger's first
`size` entries.

From the ledger: the Fund's holdings (case None) at the end of the prefix, valued at that
valuation's prices and USD/KZT rate (as `sequestra fund exposure` values the holdings at the
end of the ledger as it is now); per asset the quantity, price, value in USD and KZT and
weight; the Herfindahl index and effective number of assets (`sequestra.fund.exposure`); the
default stress scenarios (`sequestra.fund.stress`). The title and the fact `moment` say which
moment that is (`fund.report.moment_statement`): "Fund holdings as of ledger entry N (tree
size N + 1), prices of valuation seq V (cutoff C)". A valuation report of valuation V
describes the holdings just before V's own entry, which may differ.

Not from the ledger: market data (daily closes, table `market_close`) is an input of
analysis kept beside the ledger. Volatility, VaR and expected shortfall are computed as
`sequestra.fund.report` does, from the closes of UTC days that had ended at or before the
valuation's cutoff only (its own, forming day excluded: `market_last_day_max`); each ES
states the losses it rests on, and overlapping ten-day figures above the scaled ones are
flagged (`risk_notes`). The report states the days used and the SHA-256 of the closes used,
so those figures are reproducible given the same market data (and are left out where there
is too little).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, Final

from sqlalchemy import Engine

from sequestra.custody.queries import asset_registry
from sequestra.fund.exposure import Exposure, Position, exposure
from sequestra.fund.report import (
    HISTORY_DAYS_MIN,
    FundHoldings,
    fund_holdings,
    moment_statement,
    volatility_by_asset,
)
from sequestra.fund.risk import RiskReport, risk_report
from sequestra.fund.series import (
    CloseSeries,
    align_closes,
    log_returns,
)
from sequestra.fund.stress import DEFAULT_SCENARIOS, StressResult, stress_all
from sequestra.ledger.db import read_transaction
from sequestra.ledger.rules import RuleSet
from sequestra.pricing import queries as pricing_queries
from sequestra.pricing.marketdata import last_closed_day, read_usd_closes
from sequestra.reports.catalog import RenderedReport
from sequestra.reports.document import Chart, Document, Table, ledger_prefix, money
from sequestra.reports.document_files import write_document
from sequestra.reports.errors import NothingToReport

MARKET_DATA_NOTE: Final = (
    "market data (daily closes) is not in the ledger: volatility, VaR and ES are reproducible"
    " given the same market data (days and SHA-256 of the closes stated)"
)


@dataclass(frozen=True)
class MarketFigures:
    """Statistics from market data of the days ended by the cutoff."""

    last_day_max: str  # the last UTC day ended at the cutoff: no later close is read
    days: int  # aligned days of closes used
    first_day: str
    last_day: str
    closes_sha256: str  # of the closes used, one "asset,day,close\n" line each, sorted
    without_history: tuple[str, ...]
    volatility: dict[str, dict[str, float]]
    risk: RiskReport | None


@dataclass(frozen=True)
class ExposureReport:
    tree_size: int
    root_sha256: str
    valuation_seq: int
    cutoff: str
    fx_rate: Decimal
    exposure: Exposure
    unpriced: tuple[str, ...]
    stress: tuple[StressResult, ...]
    market: MarketFigures
    held: FundHoldings

    @property
    def moment(self) -> str:
        """Which moment the figures describe (`fund.report.moment_statement`)."""
        return moment_statement(self.tree_size, self.valuation_seq, self.cutoff)


def exposure_report(engine: Engine, size: int | None = None) -> tuple[ExposureReport, Any]:
    """The Fund's exposure at the latest valuation among the first `size` entries, and the
    ledger prefix. Raises ReportError for a bad size, no valuation, or an empty Fund."""
    prefix = ledger_prefix(engine, size)
    with read_transaction(engine) as connection:
        valuation = pricing_queries.current_valuation(connection, prefix.size)
        if valuation is None:
            raise NothingToReport(
                f"valuation: expected one among the first {prefix.size} entries, got none;"
                " run `sequestra revalue` first"
            )
        prices = valuation.prices_usd()
    held = fund_holdings(engine, prefix.size)
    quantities = held.quantities
    if not quantities:
        raise NothingToReport(
            f"fund: expected holdings of the State Fund among the first {prefix.size} entries,"
            " got none;"
            " run `sequestra forfeit` to move forfeited holdings into the Fund, then revalue"
        )
    unpriced = tuple(sorted(a for a in quantities if a not in prices))
    positions = [Position(a, q, prices[a]) for a, q in sorted(quantities.items()) if a in prices]
    if not positions:
        raise NothingToReport(f"prices: no Fund asset is priced in valuation {valuation.seq}")
    rate = valuation.fx_rate
    found = exposure(positions, usd_kzt=rate)
    values = {line.asset_id: line.value_usd for line in found.assets}
    report = ExposureReport(
        prefix.size,
        prefix.root_sha256,
        valuation.seq,
        valuation.cutoff,
        rate,
        found,
        unpriced,
        stress_all(DEFAULT_SCENARIOS, values),
        _market(engine, found, valuation.cutoff_at),
        held,
    )
    return report, prefix


def _market(engine: Engine, found: Exposure, cutoff_utc: datetime) -> MarketFigures:
    """Volatility and VaR/ES from the closes of the UTC days ended by `cutoff_utc`."""
    registry = asset_registry(engine)
    last_day_max = last_closed_day(cutoff_utc).isoformat()
    series, without, lines = [], [], []
    read = {}
    for line in found.assets:
        # The report uses no volume: no venue is named for it.
        symbol = registry.get(line.asset_id).symbol
        closes, _ = read_usd_closes(engine, symbol, cutoff_utc=cutoff_utc, volume_venues=())
        read[line.asset_id] = closes
        days = sorted(closes)
        if len(days) < HISTORY_DAYS_MIN:
            without.append(line.asset_id)
            continue
        series.append(CloseSeries(line.asset_id, tuple(days), tuple(closes[d] for d in days)))
    if not series:
        return MarketFigures(last_day_max, 0, "", "", "", tuple(without), {}, None)
    aligned = align_closes(series)
    for asset_id in aligned.asset_ids:
        for day in aligned.dates:  # the closes as read (exact text), on the days used
            lines.append(f"{asset_id},{day.isoformat()},{read[asset_id][day]}\n")
    returns = log_returns(aligned.closes_usd)
    volatility = volatility_by_asset(returns, aligned.asset_ids)
    values = {a.asset_id: a.value_usd for a in found.assets}
    return MarketFigures(
        last_day_max,
        len(aligned.dates),
        aligned.dates[0].isoformat(),
        aligned.dates[-1].isoformat(),
        hashlib.sha256("".join(sorted(lines)).encode()).hexdigest(),
        tuple(without),
        volatility,
        risk_report([values[a] for a in aligned.asset_ids], returns),
    )


def _document(report: ExposureReport, prefix: Any) -> Document:
    e, market = report.exposure, report.market
    risk_notes = () if market.risk is None else market.risk.notes
    doubtful = report.held.doubt_values(e)
    in_doubt_usd = sum(doubtful.values(), Decimal("0.00"))
    facts = (
        ("moment", report.moment),
        ("holdings_tree_size", str(report.tree_size)),
        ("valuation_seq", str(report.valuation_seq)),
        ("cutoff", report.cutoff),
        ("fx_usd_kzt", money(report.fx_rate)),
        ("total_usd", money(e.total_usd)),
        ("total_kzt", money(e.total_kzt)),
        ("undisputed_usd", money(e.total_usd - in_doubt_usd)),
        ("in_doubt_usd", money(in_doubt_usd)),
        ("in_doubt_alerts", " ".join(str(d.alert_seq) for d in report.held.doubts)),
        ("herfindahl_index", f"{e.herfindahl_index:.6f}"),
        ("effective_assets", f"{e.effective_assets:.3f}"),
        ("unpriced", " ".join(report.unpriced)),
        ("market_data", MARKET_DATA_NOTE),
        ("market_last_day_max", market.last_day_max),
        ("market_days", str(market.days)),
        ("market_first_day", market.first_day),
        ("market_last_day", market.last_day),
        ("market_closes_sha256", market.closes_sha256),
        ("without_history", " ".join(market.without_history)),
        ("risk_notes", "; ".join(risk_notes)),
    )
    assets = Table(
        "assets",
        "Fund exposure by asset",
        (
            "asset",
            "quantity",
            "price_usd",
            "value_usd",
            "value_kzt",
            "weight",
            "vol_30d",
            "vol_90d",
            "in_doubt_usd",
        ),
        tuple(
            (
                a.asset_id,
                money(a.quantity.normalize()),  # exact, without trailing zeros
                money(a.price_usd),
                money(a.value_usd),
                money(a.value_kzt),
                f"{a.weight:.6f}",
                _vol(market, a.asset_id, "30d"),
                _vol(market, a.asset_id, "90d"),
                money(doubtful.get(a.asset_id, Decimal("0.00"))),
            )
            for a in e.assets
        ),
    )
    stress = Table(
        "stress",
        "Stress scenarios (loss in USD; a rise shows as a negative loss)",
        ("scenario", "asset", "change", "loss_usd", "value_after_usd"),
        tuple(
            row
            for result in report.stress
            for row in (
                *(
                    (result.scenario, x.asset_id, money(x.change), money(x.loss_usd), "")
                    for x in result.losses
                ),
                (
                    result.scenario,
                    "(total)",
                    "",
                    money(result.total_loss_usd),
                    money(result.value_after_usd),
                ),
            )
        ),
    )
    risk_rows: tuple[tuple[str, ...], ...] = ()
    if market.risk is not None:
        risk_rows = tuple(
            (
                f.method,
                f"{f.level}",
                str(f.horizon_days),
                money(f.var_usd),
                money(f.es_usd),
                str(f.observations),
                "" if f.es_observations is None else str(f.es_observations),
                "" if f.exceeds_scaled is None else str(f.exceeds_scaled).lower(),
            )
            for f in market.risk.figures
        )
    risk = Table(
        "risk",
        "Value at risk and expected shortfall (from market data); es_observations: the losses"
        " each ES is the mean of (none for the normal formula); exceeds_scaled: an overlapping"
        " figure above the sqrt(h)-scaled one, the prudent one to read",
        (
            "method",
            "level",
            "horizon_days",
            "var_usd",
            "es_usd",
            "observations",
            "es_observations",
            "exceeds_scaled",
        ),
        risk_rows,
    )
    charts = (
        Chart(
            "Value by asset, USD",
            "bar",
            tuple(a.asset_id for a in e.assets),
            tuple(a.value_usd for a in e.assets),
        ),
        Chart(
            "Stress loss by scenario, USD",
            "bar",
            tuple(r.scenario for r in report.stress),
            tuple(r.total_loss_usd for r in report.stress),
        ),
    )
    return Document(
        "exposure",
        f"State Fund exposure and stress: {report.moment}",
        report.tree_size,
        report.root_sha256,
        prefix.moment,
        facts,
        (assets, stress, risk),
        charts,
    )


def _vol(market: MarketFigures, asset_id: str, window: str) -> str:
    value = market.volatility.get(asset_id, {}).get(window)
    return "" if value is None else f"{value:.6f}"


def build(engine: Engine, rule_set: RuleSet, size: int | None, format_name: str) -> RenderedReport:
    report, prefix = exposure_report(engine, size)
    return RenderedReport(
        "exposure",
        format_name,
        write_document(_document(report, prefix), format_name),
        report.tree_size,
        report.root_sha256,
        f"Fund exposure: {report.moment}",
    )
