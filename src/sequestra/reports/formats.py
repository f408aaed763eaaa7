"""Writers of the valuation report: JSON, CSV, XLSX and PDF, each the same bytes for the same
report.

- JSON: sorted keys, amounts as strings, UTF-8, two-space indent, one final newline.
- CSV: fixed columns, `\\n` line endings, UTF-8; the checkpoint is on every line.
- XLSX: openpyxl, then the zip is written again with every entry dated at the cutoff and the
  workbook's created and modified properties set to the cutoff (openpyxl stamps the clock).
  Amounts are text cells, exact.
- CSV and XLSX cells go through `cells.safe_cell`: no cell starts a formula.
- PDF: reportlab with `invariant=1` (fixed creation date and document id); fonts are the
  standard Type 1 Helvetica and Helvetica-Bold, which PDF readers supply (none embedded).
"""

from __future__ import annotations

import json
from datetime import datetime
from decimal import Decimal
from typing import Any, Final

from sequestra.ledger.timefmt import parse_timestamp
from sequestra.pricing.queries import PriceView
from sequestra.reports.cells import csv_text
from sequestra.reports.valuation import Total, ValuationReport

FORMATS: Final = ("json", "csv", "xlsx", "pdf")
CSV_COLUMNS: Final = (
    "line",
    "case",
    "asset",
    "wallet",
    "holding",
    "quantity",
    "price_usd",
    "venues",
    "pairs",
    "value_usd",
    "value_kzt",
    "value_usd_previous",
    "value_usd_at_seizure",
    "seizure_date",
    "in_doubt",
    "level",
    "basis",
    "market",
    "median_usd",
    "deviation",
    "flagged",
    "valuation_seq",
    "cutoff",
    "tree_size",
    "root_sha256",
)
NOT_VALUED: Final = "not valued"


def amount(value: Decimal) -> str:
    """Exact decimal text, never in exponent form."""
    return format(value, "f")


def _or_not_valued(value: Decimal | None) -> str:
    return NOT_VALUED if value is None else amount(value)


def checkpoint_line(report: ValuationReport) -> str:
    return f"checkpoint: tree size {report.tree_size}, root {report.root_sha256}"


def _total_json(total: Total) -> dict[str, str]:
    return {"value_usd": amount(total.value_usd), "value_kzt": amount(total.value_kzt)}


def _text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    return amount(value) if isinstance(value, Decimal) else str(value)


def price_facts(price: PriceView | None) -> list[str]:
    """level, basis, market, median, deviation, flagged: as text ("" where not recorded)."""
    if price is None:
        return [""] * 6
    return [
        _text(price.level),
        _text(price.basis),
        _text(price.market),
        _text(price.median_usd),
        _text(price.deviation),
        _text(price.flagged),
    ]


def prices_of(report: ValuationReport) -> dict[str, PriceView]:
    return {price.asset_id: price for price in report.prices}


def report_json(report: ValuationReport) -> dict[str, Any]:
    return {
        "moment": report.moment,
        "checkpoint": {"tree_size": report.tree_size, "root_sha256": report.root_sha256},
        "valuation": {
            "seq": report.seq,
            "cutoff": report.cutoff,
            "method": report.method,
            "price_type": report.price_type,
        },
        "fx": {"rate": amount(report.fx_rate), "on": report.fx_on, "source": report.fx_source},
        "holdings": [
            {
                "holding": line.holding_id,
                "case": line.case_id,
                "asset": line.asset_id,
                "wallet": line.wallet,
                "quantity": line.quantity,
                "price_usd": amount(line.price_usd),
                "venues": list(line.venues),
                "pairs": list(line.pairs),
                "value_usd": amount(line.value_usd),
                "value_kzt": amount(line.value_kzt),
                "value_usd_previous": _or_not_valued(line.value_usd_previous),
                "value_usd_at_seizure": _or_not_valued(line.value_usd_at_seizure),
                "seizure_date": line.seizure_date,
                "in_doubt": line.in_doubt or None,
            }
            for line in report.holdings
        ],
        "prices": [price.to_json() for price in report.prices],
        "totals": {
            "by_case": {t.key: _total_json(t) for t in report.by_case},
            "by_asset": {t.key: _total_json(t) for t in report.by_asset},
            "overall": _total_json(report.total),
            "undisputed": _total_json(report.undisputed),
            "in_doubt": _total_json(report.in_doubt),
        },
        "previous": None
        if report.previous_seq is None
        else {"seq": report.previous_seq, "cutoff": report.previous_cutoff},
        "changes": {
            c.asset_id: {
                "price_usd": amount(c.price_usd),
                "price_usd_previous": amount(c.price_usd_previous),
                "price_change_usd": amount(c.price_change_usd),
                "value_usd": amount(c.value_usd),
                "value_usd_previous": amount(c.value_usd_previous),
                "value_change_usd": amount(c.value_change_usd),
            }
            for c in report.changes
        },
    }


def write_json(report: ValuationReport) -> bytes:
    text = json.dumps(report_json(report), sort_keys=True, ensure_ascii=False, indent=2)
    return (text + "\n").encode("utf-8")


def csv_rows(report: ValuationReport) -> list[list[str]]:
    tail = [str(report.seq), report.cutoff, str(report.tree_size), report.root_sha256]
    prices = prices_of(report)
    rows = [
        [
            "holding",
            line.case_id,
            line.asset_id,
            line.wallet,
            str(line.holding_id),
            line.quantity,
            amount(line.price_usd),
            " ".join(line.venues),
            " ".join(line.pairs),
            amount(line.value_usd),
            amount(line.value_kzt),
            _or_not_valued(line.value_usd_previous),
            _or_not_valued(line.value_usd_at_seizure),
            line.seizure_date or "",
            line.in_doubt,
            *price_facts(prices.get(line.asset_id)),
        ]
        for line in report.holdings
    ]
    totals = [("case_total", t.key, "") for t in report.by_case]
    totals += [("asset_total", "", t.key) for t in report.by_asset]
    totals += [("undisputed_total", "", ""), ("in_doubt_total", "", ""), ("total", "", "")]
    by_key = {("case_total", t.key): t for t in report.by_case}
    by_key |= {("asset_total", t.key): t for t in report.by_asset}
    by_key |= {("undisputed_total", ""): report.undisputed, ("in_doubt_total", ""): report.in_doubt}
    for kind, case, asset in totals:
        total = by_key.get((kind, case or asset), report.total)
        rows.append(
            [
                kind,
                case,
                asset,
                *([""] * 6),
                amount(total.value_usd),
                amount(total.value_kzt),
                *([""] * 10),
            ]
        )
    return [row + tail for row in rows]


def write_csv(report: ValuationReport) -> bytes:
    return csv_text([list(CSV_COLUMNS), *csv_rows(report)]).encode("utf-8")


def _cutoff(report: ValuationReport) -> datetime:
    return parse_timestamp(report.cutoff).replace(tzinfo=None)
