"""The valuation report as an XLSX workbook (openpyxl in write-only mode, through lxml);
`formats.fixed_zip` makes it reproducible. Amounts are text cells, so that no figure is
rounded to a float."""

from __future__ import annotations

import io
from datetime import datetime
from typing import Final

from openpyxl import Workbook  # type: ignore[import-untyped]

from sequestra.reports.cells import safe_row
from sequestra.reports.formats import (
    CSV_COLUMNS,
    amount,
    checkpoint_line,
    csv_rows,
    price_facts,
)
from sequestra.reports.valuation import ValuationReport

PRICE_COLUMNS: Final = (
    "asset",
    "price_usd",
    "confidence",
    "venues",
    "market_volume",
    "price_at",
    "level",
    "basis",
    "market",
    "median_usd",
    "deviation",
    "flagged",
)


def workbook_bytes(report: ValuationReport, cutoff: datetime) -> bytes:
    workbook = Workbook(write_only=True)  # streamed: rows are written as they come
    summary = workbook.create_sheet("Report")
    for row in (
        ("title", f"Valuation report, cutoff {report.cutoff}"),
        ("moment", report.moment),
        ("checkpoint", checkpoint_line(report)),
        ("tree_size", str(report.tree_size)),
        ("root_sha256", report.root_sha256),
        ("valuation_seq", str(report.seq)),
        ("method", report.method),
        ("price_type", report.price_type),
        ("fx_rate_kzt", amount(report.fx_rate)),
        ("fx_on", report.fx_on),
        ("fx_source", report.fx_source),
        ("total_usd", amount(report.total.value_usd)),
        ("total_kzt", amount(report.total.value_kzt)),
        ("undisputed_total_usd", amount(report.undisputed.value_usd)),
        ("in_doubt_total_usd", amount(report.in_doubt.value_usd)),
        ("previous_seq", "" if report.previous_seq is None else str(report.previous_seq)),
    ):
        summary.append(safe_row(row))
    lines = workbook.create_sheet("Lines")
    lines.append(safe_row(CSV_COLUMNS))
    for csv_row in csv_rows(report):
        lines.append(safe_row(csv_row))
    prices = workbook.create_sheet("Prices")
    prices.append(safe_row(PRICE_COLUMNS))
    for price in report.prices:
        facts = price_facts(price)
        prices.append(
            safe_row(
                (
                    price.asset_id,
                    amount(price.price_usd),
                    price.confidence,
                    " ".join(price.venues),
                    "" if price.market_volume is None else amount(price.market_volume),
                    price.price_at or "",
                    *facts,
                )
            )
        )
    changes = workbook.create_sheet("Changes")
    changes.append(
        safe_row(("asset", "price_usd", "price_usd_previous", "value_usd", "value_usd_previous"))
    )
    for change in report.changes:
        changes.append(
            safe_row(
                (
                    change.asset_id,
                    amount(change.price_usd),
                    amount(change.price_usd_previous),
                    amount(change.value_usd),
                    amount(change.value_usd_previous),
                )
            )
        )
    workbook.properties.creator = "sequestra"
    workbook.properties.lastModifiedBy = "sequestra"
    workbook.properties.title = "Valuation report"
    workbook.properties.created = cutoff
    workbook.properties.modified = cutoff
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()
