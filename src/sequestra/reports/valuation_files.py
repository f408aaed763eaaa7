"""The valuation report's files: each format's writer, and the catalog's builder.

JSON and CSV are written by `sequestra.reports.formats`; XLSX (`sequestra.reports.xlsx`) and
PDF (`sequestra.reports.pdf`) load their libraries only when one is made.
"""

from __future__ import annotations

from datetime import datetime
from typing import Final

from sqlalchemy import Engine

from sequestra.ledger.rules import RuleSet
from sequestra.ledger.timefmt import parse_timestamp
from sequestra.reports.catalog import RenderedReport
from sequestra.reports.errors import ReportRequestError
from sequestra.reports.formats import FORMATS, write_csv, write_json
from sequestra.reports.valuation import ValuationReport, valuation_report
from sequestra.reports.zipped import fixed_zip


def _cutoff(report: ValuationReport) -> datetime:
    return parse_timestamp(report.cutoff).replace(tzinfo=None)


def write_xlsx(report: ValuationReport) -> bytes:
    from sequestra.reports.xlsx import workbook_bytes

    return fixed_zip(workbook_bytes(report, _cutoff(report)), _cutoff(report))


def write_pdf(report: ValuationReport) -> bytes:
    from sequestra.reports.pdf import pdf_bytes

    return pdf_bytes(report)


WRITERS: Final = {"json": write_json, "csv": write_csv, "xlsx": write_xlsx, "pdf": write_pdf}


def write_report(report: ValuationReport, format_name: str) -> bytes:
    """The report's bytes in `format_name` (one of FORMATS); raises ReportRequestError
    otherwise."""
    if format_name not in WRITERS:
        raise ReportRequestError(
            f"format: expected one of {', '.join(FORMATS)}, got {format_name!r:.40}"
        )
    return WRITERS[format_name](report)


def build(engine: Engine, rule_set: RuleSet, size: int | None, format_name: str) -> RenderedReport:
    """The valuation report over the first `size` entries in `format_name` (a catalog
    builder); raises ReportError as `valuation_report` does."""
    report = valuation_report(engine, size)
    return RenderedReport(
        "valuation",
        format_name,
        write_report(report, format_name),
        report.tree_size,
        report.root_sha256,
        f"valuation seq {report.seq}, cutoff {report.cutoff}",
    )
