"""The valuation report as a PDF (reportlab): a title, the checkpoint line, a totals table, a
per-asset table and a bar chart of value by asset.

Reproducible: `invariant=1` fixes the creation date and the document id reportlab would
otherwise take from the clock and a random source. Fonts: the standard Type 1 Helvetica and
Helvetica-Bold (PDF readers supply them; nothing is embedded).
"""

from __future__ import annotations

import io
from typing import Any, Final
from xml.sax.saxutils import escape

from reportlab.graphics.charts.barcharts import VerticalBarChart  # type: ignore[import-untyped]
from reportlab.graphics.shapes import Drawing  # type: ignore[import-untyped]
from reportlab.lib import colors  # type: ignore[import-untyped]
from reportlab.lib.pagesizes import A4  # type: ignore[import-untyped]
from reportlab.lib.styles import getSampleStyleSheet  # type: ignore[import-untyped]
from reportlab.lib.units import mm  # type: ignore[import-untyped]
from reportlab.platypus import (  # type: ignore[import-untyped]
    Paragraph,
    SimpleDocTemplate,
    Spacer,
    Table,
    TableStyle,
)

from sequestra.reports.formats import amount, checkpoint_line, price_facts
from sequestra.reports.valuation import ValuationReport

FONT: Final = "Helvetica"
FONT_BOLD: Final = "Helvetica-Bold"
CHART_ASSETS_MAX: Final = 40  # bars beyond this many assets would not be legible
TABLE_STYLE: Final = TableStyle(
    [
        ("FONTNAME", (0, 0), (-1, -1), FONT),
        ("FONTNAME", (0, 0), (-1, 0), FONT_BOLD),
        ("FONTSIZE", (0, 0), (-1, -1), 8),
        ("GRID", (0, 0), (-1, -1), 0.25, colors.grey),
        ("ALIGN", (1, 1), (-1, -1), "RIGHT"),
    ]
)


def _table(rows: list[list[str]]) -> Table:
    table = Table(rows, repeatRows=1)
    table.setStyle(TABLE_STYLE)
    return table


def _totals(report: ValuationReport) -> list[list[str]]:
    rows = [["total", "USD", "KZT"]]
    rows += [[f"case {t.key}", amount(t.value_usd), amount(t.value_kzt)] for t in report.by_case]
    rows.append(["overall", amount(report.total.value_usd), amount(report.total.value_kzt)])
    if report.in_doubt.value_usd:
        rows.append(["in doubt (open critical alert)", amount(report.in_doubt.value_usd),
                     amount(report.in_doubt.value_kzt)])  # fmt: skip
        rows.append(["undisputed", amount(report.undisputed.value_usd),
                     amount(report.undisputed.value_kzt)])  # fmt: skip
    return rows


def _prices(report: ValuationReport) -> list[list[str]]:
    rows = [["asset", "price USD", "level", "basis", "market", "median USD", "deviation"]]
    for price in report.prices:
        level, basis, market, median, deviation, flagged = price_facts(price)
        flag = " (flagged)" if flagged == "yes" else ""
        rows.append([price.asset_id, amount(price.price_usd), level, basis, market, median,
                     deviation + flag])  # fmt: skip
    return rows


def _assets(report: ValuationReport) -> list[list[str]]:
    changes = {c.asset_id: c for c in report.changes}
    rows = [["asset", "price USD", "value USD", "value KZT", "price change", "value change"]]
    for total in report.by_asset:
        price = next(line.price_usd for line in report.holdings if line.asset_id == total.key)
        change = changes.get(total.key)
        rows.append(
            [
                total.key,
                amount(price),
                amount(total.value_usd),
                amount(total.value_kzt),
                "-" if change is None else amount(change.price_change_usd),
                "-" if change is None else amount(change.value_change_usd),
            ]
        )
    return rows


def _chart(report: ValuationReport) -> Drawing:
    totals = report.by_asset[:CHART_ASSETS_MAX]
    drawing = Drawing(170 * mm, 70 * mm)
    chart = VerticalBarChart()
    chart.x, chart.y = 15 * mm, 10 * mm
    chart.width, chart.height = 150 * mm, 55 * mm
    chart.data = [[float(t.value_usd) for t in totals]]
    chart.categoryAxis.categoryNames = [t.key for t in totals]
    chart.categoryAxis.labels.fontName = FONT
    chart.categoryAxis.labels.fontSize = 6
    chart.valueAxis.labels.fontName = FONT
    chart.valueAxis.labels.fontSize = 6
    chart.valueAxis.valueMin = 0
    chart.bars[0].fillColor = colors.steelblue
    drawing.add(chart)
    return drawing


def pdf_bytes(report: ValuationReport) -> bytes:
    out = io.BytesIO()
    document = SimpleDocTemplate(
        out,
        pagesize=A4,
        invariant=1,
        title="Valuation report",
        author="sequestra",
        creator="sequestra",
        subject=f"valuation seq {report.seq}, cutoff {report.cutoff}",
    )
    styles = getSampleStyleSheet()
    text: Any = styles["BodyText"]
    text.fontName = FONT
    story = [
        Paragraph(escape(f"Valuation report, cutoff {report.cutoff}"), styles["Title"]),
        Paragraph(escape(checkpoint_line(report)), text),
        Paragraph(escape(f"Figures: {report.moment}."), text),
        Paragraph(
            escape(
                f"valuation seq {report.seq}, method {report.method}, price {report.price_type};"
                f" USD/KZT {amount(report.fx_rate)} on {report.fx_on} ({report.fx_source})"
            ),
            text,
        ),
        Spacer(1, 4 * mm),
        _table(_totals(report)),
        Spacer(1, 4 * mm),
        _table(_assets(report)),
        Spacer(1, 4 * mm),
        Paragraph("Fair value of each asset (docs/valuation-method.md)", text),
        _table(_prices(report)),
        Spacer(1, 4 * mm),
        Paragraph("Value by asset, USD", text),
        _chart(report),
    ]
    document.build(story)
    return out.getvalue()
