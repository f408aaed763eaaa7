"""A report document as a PDF (reportlab), landscape A4: title, checkpoint line, facts,
tables and charts.

Reproducible: `invariant=1` fixes the creation date and document id reportlab would otherwise
take from the clock and a random source. Fonts: the standard Type 1 Helvetica and
Helvetica-Bold (PDF readers supply them; nothing is embedded).
"""

from __future__ import annotations

import io
from typing import Any, Final
from xml.sax.saxutils import escape

from reportlab.graphics.charts.barcharts import VerticalBarChart  # type: ignore[import-untyped]
from reportlab.graphics.charts.linecharts import (  # type: ignore[import-untyped]
    HorizontalLineChart,
)
from reportlab.graphics.shapes import Drawing  # type: ignore[import-untyped]
from reportlab.lib import colors  # type: ignore[import-untyped]
from reportlab.lib.pagesizes import A4, landscape  # type: ignore[import-untyped]
from reportlab.lib.styles import getSampleStyleSheet  # type: ignore[import-untyped]
from reportlab.lib.units import mm  # type: ignore[import-untyped]
from reportlab.platypus import (  # type: ignore[import-untyped]
    Paragraph,
    SimpleDocTemplate,
    Spacer,
    Table,
    TableStyle,
)

from sequestra.reports.document import (
    CHART_POINTS_MAX,
    PDF_COLUMNS_MAX,
    PDF_ROWS_MAX,
    Chart,
    Document,
)
from sequestra.reports.document import Table as DocumentTable

FONT: Final = "Helvetica"
FONT_BOLD: Final = "Helvetica-Bold"
TABLE_STYLE: Final = TableStyle(
    [
        ("FONTNAME", (0, 0), (-1, -1), FONT),
        ("FONTNAME", (0, 0), (-1, 0), FONT_BOLD),
        ("FONTSIZE", (0, 0), (-1, -1), 7),
        ("GRID", (0, 0), (-1, -1), 0.25, colors.grey),
        ("VALIGN", (0, 0), (-1, -1), "TOP"),
    ]
)
CELL_CHARACTERS_MAX: Final = 90  # longer cells are cut in the PDF (the other formats keep all)


def _cell(text: str) -> str:
    return text if len(text) <= CELL_CHARACTERS_MAX else text[: CELL_CHARACTERS_MAX - 3] + "..."


def _grid(rows: list[list[str]]) -> Table:
    table = Table([[_cell(c) for c in row] for row in rows], repeatRows=1)
    table.setStyle(TABLE_STYLE)
    return table


def _table(table: DocumentTable, text: Any) -> list[Any]:
    flowables: list[Any] = [Paragraph(escape(table.title), text)]
    rows = table.rows[:PDF_ROWS_MAX]
    if not rows:
        flowables.append(Paragraph("(none)", text))
    elif len(table.columns) <= PDF_COLUMNS_MAX:
        flowables.append(_grid([list(table.columns), *[list(row) for row in rows]]))
    else:  # too wide for the page: one two-column block per row
        for row in rows:
            pairs = [[c, v] for c, v in zip(table.columns, row, strict=True)]
            flowables += [_grid([["field", "value"], *pairs]), Spacer(1, 2 * mm)]
    if len(table.rows) > PDF_ROWS_MAX:
        flowables.append(
            Paragraph(
                escape(f"first {PDF_ROWS_MAX} of {len(table.rows)} rows; JSON, CSV, XLSX hold all"),
                text,
            )
        )
    flowables.append(Spacer(1, 4 * mm))
    return flowables


def _chart(chart: Chart) -> Drawing:
    labels = chart.labels[:CHART_POINTS_MAX]
    values = [float(v) for v in chart.values[:CHART_POINTS_MAX]]
    drawing = Drawing(240 * mm, 70 * mm)
    plot = VerticalBarChart() if chart.kind == "bar" else HorizontalLineChart()
    plot.x, plot.y = 20 * mm, 12 * mm
    plot.width, plot.height = 210 * mm, 52 * mm
    plot.data = [values or [0.0]]
    plot.categoryAxis.categoryNames = list(labels) or [""]
    plot.categoryAxis.labels.fontName = FONT
    plot.categoryAxis.labels.fontSize = 6
    plot.valueAxis.labels.fontName = FONT
    plot.valueAxis.labels.fontSize = 6
    plot.valueAxis.valueMin = min([0.0, *values])
    if chart.kind == "bar":
        plot.bars[0].fillColor = colors.steelblue
    else:
        plot.lines[0].strokeColor = colors.steelblue
    drawing.add(plot)
    return drawing


def write_pdf(document: Document) -> bytes:
    out = io.BytesIO()
    template = SimpleDocTemplate(
        out,
        pagesize=landscape(A4),
        invariant=1,
        title=document.title,
        author="sequestra",
        creator="sequestra",
        subject=document.checkpoint_line,
        leftMargin=12 * mm,
        rightMargin=12 * mm,
        topMargin=12 * mm,
        bottomMargin=12 * mm,
    )
    styles = getSampleStyleSheet()
    text: Any = styles["BodyText"]
    text.fontName = FONT
    story: list[Any] = [
        Paragraph(escape(document.title), styles["Title"]),
        Paragraph(escape(document.checkpoint_line), text),
        Spacer(1, 3 * mm),
    ]
    if document.facts:
        story += [_grid([["fact", "value"], *[list(f) for f in document.facts]])]
        story.append(Spacer(1, 4 * mm))
    for table in document.tables:
        story += _table(table, text)
    for chart in document.charts:
        story += [Paragraph(escape(chart.title), text), _chart(chart), Spacer(1, 3 * mm)]
    template.build(story)
    return out.getvalue()
