"""A report document's bytes in each format: JSON, CSV and XLSX
(`sequestra.reports.document`), PDF (`sequestra.reports.document_pdf`)."""

from __future__ import annotations

from sequestra.reports.document import (
    Document,
    check_document,
    write_csv,
    write_json,
    write_xlsx,
)
from sequestra.reports.errors import ReportRequestError


def write_document(document: Document, format_name: str) -> bytes:
    """The document's bytes in `format_name`; raises ReportError for another format."""
    check_document(document)
    if format_name == "json":
        return write_json(document)
    if format_name == "csv":
        return write_csv(document)
    if format_name == "xlsx":
        return write_xlsx(document)
    if format_name == "pdf":
        from sequestra.reports.document_pdf import write_pdf  # reportlab: only for a PDF

        return write_pdf(document)
    raise ReportRequestError(
        f"format: expected one of json, csv, xlsx, pdf, got {format_name!r:.40}"
    )
