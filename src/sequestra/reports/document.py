"""A report as plain data (title, checkpoint, facts, tables, charts), written once to each of
JSON, CSV, XLSX and PDF, the same bytes for the same document.

- JSON: `{"report", "title", "checkpoint", "facts", "tables"}`; facts map label to text,
  each table is a list of objects keyed by its columns; every value is a string (amounts
  exact); sorted keys, two-space indent, UTF-8, one final newline.
- CSV: one header for the whole report: `table`, then every column of every table in the
  order they first appear, then `tree_size` and `root_sha256`; a fact is a row of table
  `fact` (columns `label`, `value`); `\\n` line endings, UTF-8.
- XLSX: a sheet `Report` with the title, checkpoint and facts, then a sheet per table; text
  cells; `formats.fixed_zip` dates every entry at the document's moment.
- CSV and XLSX cells go through `cells.safe_cell`: no cell starts a formula.
- PDF: reportlab `invariant=1`, standard Helvetica fonts, landscape A4; tables of more than
  `PDF_COLUMNS_MAX` columns are printed one block per row; charts are bar or line charts.

The moment of a document is a time taken from the ledger (the prefix's last entry's
recorded_at), never from the clock.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, Final

from sqlalchemy import Engine

from sequestra.ledger import queries as ledger_queries
from sequestra.ledger.db import read_transaction
from sequestra.ledger.timefmt import parse_timestamp
from sequestra.reports.cells import csv_text, safe_row
from sequestra.reports.errors import ReportError, ReportRequestError
from sequestra.reports.zipped import fixed_zip

CHART_KINDS: Final = ("bar", "line")
CHART_POINTS_MAX: Final = 40  # points beyond this many would not be legible
PDF_COLUMNS_MAX: Final = 8
PDF_ROWS_MAX: Final = 500  # rows printed per table; the other formats carry them all
SHEET_NAME_MAX: Final = 31  # Excel's limit
CSV_RESERVED: Final = ("table", "tree_size", "root_sha256")


@dataclass(frozen=True)
class Table:
    name: str  # a short id: JSON key, CSV `table` value, sheet name
    title: str
    columns: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]


@dataclass(frozen=True)
class Chart:
    title: str
    kind: str  # one of CHART_KINDS
    labels: tuple[str, ...]
    values: tuple[Decimal, ...]


@dataclass(frozen=True)
class Document:
    kind: str
    title: str
    tree_size: int
    root_sha256: str
    moment: datetime  # from the ledger; dates the XLSX entries
    facts: tuple[tuple[str, str], ...]
    tables: tuple[Table, ...]
    charts: tuple[Chart, ...] = ()

    @property
    def checkpoint_line(self) -> str:
        return f"checkpoint: tree size {self.tree_size}, root {self.root_sha256}"


@dataclass(frozen=True)
class Prefix:
    """The ledger prefix a report is made from: its size, Merkle root and last entry's time."""

    size: int
    root_sha256: str
    moment: datetime


def ledger_prefix(engine: Engine, size: int | None) -> Prefix:
    """The prefix of `size` entries (default all); raises ReportError outside 1..ledger size."""
    size_ledger = ledger_queries.head(engine).size
    chosen = size_ledger if size is None else size
    if not 1 <= chosen <= size_ledger:
        raise ReportRequestError(
            f"size: expected 1..{size_ledger} (the ledger's size), got {chosen}"
        )
    with read_transaction(engine) as connection:
        root = ledger_queries.root_at(connection, chosen)
        recorded_at = ledger_queries.recorded_at_of(connection, [chosen - 1])[chosen - 1]
    return Prefix(chosen, root.hex(), parse_timestamp(recorded_at).replace(tzinfo=None))


def check_document(document: Document) -> None:
    """Refuse a document whose rows do not match their columns or whose charts are bad."""
    for table in document.tables:
        if set(table.columns) & set(CSV_RESERVED):
            raise ReportError(f"table {table.name}: columns {CSV_RESERVED} are the CSV's own")
        for row in table.rows:
            if len(row) != len(table.columns):
                raise ReportError(
                    f"table {table.name}: expected {len(table.columns)} cells, got {len(row)}"
                )
    for chart in document.charts:
        if chart.kind not in CHART_KINDS or len(chart.labels) != len(chart.values):
            raise ReportError(f"chart {chart.title!r}: expected matching labels and values")


# --- JSON and CSV ----------------------------------------------------------------------------


def document_json(document: Document) -> dict[str, Any]:
    return {
        "report": document.kind,
        "title": document.title,
        "checkpoint": {"tree_size": document.tree_size, "root_sha256": document.root_sha256},
        "facts": dict(document.facts),
        "tables": {
            table.name: [dict(zip(table.columns, row, strict=True)) for row in table.rows]
            for table in document.tables
        },
    }


def write_json(document: Document) -> bytes:
    text = json.dumps(document_json(document), sort_keys=True, ensure_ascii=False, indent=2)
    return (text + "\n").encode("utf-8")


def csv_columns(document: Document) -> tuple[str, ...]:
    columns: list[str] = ["table", "label", "value"]
    for table in document.tables:
        columns += [c for c in table.columns if c not in columns]
    return (*columns, "tree_size", "root_sha256")


def write_csv(document: Document) -> bytes:
    columns = csv_columns(document)
    index = {name: position for position, name in enumerate(columns)}
    tail = [str(document.tree_size), document.root_sha256]
    width = len(columns) - len(tail)
    rows: list[list[str]] = [list(columns)]
    for label, value in document.facts:
        rows.append(["fact", label, value, *([""] * (width - 3)), *tail])
    for table in document.tables:
        if set(table.columns) & set(CSV_RESERVED):
            raise ReportError(f"table {table.name}: columns {CSV_RESERVED} are the CSV's own")
        for row in table.rows:
            line = [""] * width
            line[0] = table.name
            for column, cell in zip(table.columns, row, strict=True):
                line[index[column]] = cell
            rows.append(line + tail)
    return csv_text(rows).encode("utf-8")


# --- XLSX ------------------------------------------------------------------------------------


def write_xlsx(document: Document) -> bytes:
    from openpyxl import Workbook  # type: ignore[import-untyped]

    workbook = Workbook(write_only=True)  # streamed: rows are written as they come
    summary = workbook.create_sheet("Report")
    summary.append(safe_row(("title", document.title)))
    summary.append(safe_row(("checkpoint", document.checkpoint_line)))
    summary.append(safe_row(("tree_size", str(document.tree_size))))
    summary.append(safe_row(("root_sha256", document.root_sha256)))
    for fact in document.facts:
        summary.append(safe_row(fact))
    for table in document.tables:
        sheet = workbook.create_sheet(table.name[:SHEET_NAME_MAX])
        sheet.append(safe_row(table.columns))
        for row in table.rows:
            sheet.append(safe_row(row))
    workbook.properties.creator = "sequestra"
    workbook.properties.lastModifiedBy = "sequestra"
    workbook.properties.title = document.title
    workbook.properties.created = document.moment
    workbook.properties.modified = document.moment
    out = io.BytesIO()
    workbook.save(out)
    return fixed_zip(out.getvalue(), document.moment)


def money(value: Decimal | None, missing: str = "") -> str:
    """Exact decimal text (never exponent form), or `missing` for None."""
    return missing if value is None else format(value, "f")
