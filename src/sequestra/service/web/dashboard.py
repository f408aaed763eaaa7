"""The dashboard's figures: value over time (USD, KZT, per asset), the latest valuation's
totals exactly as the valuation report computes them, open alerts, the ledger's size and
its latest checkpoint."""

from __future__ import annotations

import threading
from collections import defaultdict
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Final

from sqlalchemy import Engine

from sequestra.chains.watch.queries import list_alerts, positions_in_doubt
from sequestra.custody.amounts import format_base_units
from sequestra.custody.assets import AssetError
from sequestra.custody.queries import asset_registry, holdings_before
from sequestra.ledger.checkpoints import get_checkpoint
from sequestra.ledger.db import read_transaction
from sequestra.pricing.queries import current_valuation
from sequestra.pricing.run import value_holdings
from sequestra.service.web.charts import Series, line_chart, stacked_bars
from sequestra.service.web.series import ValuationPoint, ledger_head, ledger_size, value_series

ALERTS_COUNTED_MAX: Final = 10_000
ALERTS_SHOWN_MAX: Final = 10
CACHE_ENTRIES_MAX: Final = 8

__all__ = ["dashboard", "latest_totals", "ledger_size"]


@dataclass(frozen=True)
class LatestTotals:
    """The latest valuation's figures: per-holding values rounded to the cent, summed."""

    seq: int
    cutoff: str
    fx_rate: Decimal
    fx_source: str
    holdings: int
    by_asset: tuple[tuple[str, Decimal, Decimal, Decimal], ...]  # asset, price, USD, KZT
    total_usd: Decimal
    total_kzt: Decimal
    in_doubt_usd: Decimal = Decimal(0)  # under an open critical alert: shown apart
    in_doubt_kzt: Decimal = Decimal(0)


_cache: dict[tuple[str, int, bytes], LatestTotals | None] = {}
_cache_lock = threading.Lock()


def latest_totals(engine: Engine) -> LatestTotals | None:
    """The latest valuation's totals by `value_holdings`, or None; cached per database,
    ledger size and head."""
    key = ledger_head(engine)
    with _cache_lock:
        if key in _cache:
            return _cache[key]
    computed = _latest_totals(engine)
    with _cache_lock:
        if len(_cache) >= CACHE_ENTRIES_MAX:
            _cache.pop(next(iter(_cache)))
        _cache[key] = computed
    return computed


def _latest_totals(engine: Engine) -> LatestTotals | None:
    row = current_valuation(engine)
    if row is None:
        return None
    prices = row.prices_usd()
    rate = row.fx_rate
    held = holdings_before(engine, row.seq)
    values = value_holdings(engine, prices, rate, row.seq, held)
    doubts = positions_in_doubt(engine)
    where = {h.holding_id: (h.wallet, h.asset.asset_id) for h in held}
    doubtful = [v for v in values if where.get(v.holding_id) in doubts]
    usd: dict[str, Decimal] = defaultdict(Decimal)
    kzt: dict[str, Decimal] = defaultdict(Decimal)
    for value in values:
        usd[value.asset_id] += value.value_usd
        kzt[value.asset_id] += value.value_kzt
    by_asset = tuple((a, prices[a], usd[a], kzt[a]) for a in sorted(usd))
    return LatestTotals(
        row.seq,
        row.cutoff,
        rate,
        row.fx_source,
        len(values),
        by_asset,
        sum(usd.values(), Decimal(0)),
        sum(kzt.values(), Decimal(0)),
        sum((v.value_usd for v in doubtful), Decimal(0)),
        sum((v.value_kzt for v in doubtful), Decimal(0)),
    )


def chart_labels(cutoffs: list[str]) -> list[str]:
    """The day of each cutoff; its day and minute, or its time to the second, when the
    shorter form would repeat a label."""
    for start, end in ((0, 10), (5, 16), (5, 19)):
        labels = [cutoff[start:end].replace("T", " ") for cutoff in cutoffs]
        if len(set(labels)) == len(labels):
            return labels
    return labels


def _alert_rows(engine: Engine, alerts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The alerts with their amounts in display units of their asset (base units if unknown)."""
    registry = asset_registry(engine)
    rows = []
    for alert in alerts:
        try:
            decimals = registry.get(alert["asset_id"]).decimals
        except AssetError:
            rows.append(
                {
                    **alert,
                    "expected": alert["expected_base"],
                    "observed": alert["observed_base"],
                    "unit": "base units",
                }
            )
            continue
        rows.append(
            {
                **alert,
                "expected": format_base_units(int(alert["expected_base"]), decimals),
                "observed": format_base_units(int(alert["observed_base"]), decimals),
                "unit": registry.get(alert["asset_id"]).symbol,
            }
        )
    return rows


def _charts(points: tuple[ValuationPoint, ...]) -> dict[str, Any]:
    labels = chart_labels([point.cutoff for point in points])
    assets = sorted({asset for point in points for asset, _ in point.value_usd})
    per_asset = [
        Series(asset, tuple(dict(point.value_usd).get(asset, Decimal(0)) for point in points))
        for asset in assets
    ]
    return {
        "chart_usd": line_chart(
            "Total value in USD by valuation",
            "USD",
            labels,
            [Series("Total", tuple(p.total_usd for p in points))],
        ),
        "chart_kzt": line_chart(
            "Total value in KZT by valuation",
            "KZT",
            labels,
            [Series("Total", tuple(p.total_kzt for p in points))],
        ),
        "chart_assets": stacked_bars("Value in USD by asset", "USD", labels, per_asset),
        "chart_assets_legend": [(series.name, index) for index, series in enumerate(per_asset)],
    }


def dashboard(engine: Engine) -> dict[str, Any]:
    """Everything the dashboard template shows."""
    points = value_series(engine)
    alerts = list_alerts(engine, open_only=True, limit=ALERTS_COUNTED_MAX)
    with read_transaction(engine) as connection:
        checkpoint = get_checkpoint(connection)
    context: dict[str, Any] = {
        "points": points,
        "latest": latest_totals(engine),
        "alerts_open": len(alerts),
        "alerts_capped": len(alerts) >= ALERTS_COUNTED_MAX,
        "alerts": _alert_rows(engine, alerts[:ALERTS_SHOWN_MAX]),
        "size": ledger_size(engine),
        "checkpoint": checkpoint,
    }
    if points:
        context.update(_charts(points))
    return context
