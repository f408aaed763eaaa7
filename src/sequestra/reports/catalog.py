"""Every report by name: `render_report(engine, kind, format, size)` gives its bytes, the file
name to save them under and the checkpoint (tree size and root) they were computed from.

The command line (`sequestra report`), the API's downloads and the web pages all go through
here, so a report downloaded from any of them is the same file.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from sqlalchemy import Engine

from sequestra.reports.valuation import ReportError

REPORT_FORMATS: Final = ("json", "csv", "xlsx", "pdf")
MEDIA_TYPES: Final = {
    "json": "application/json",
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "pdf": "application/pdf",
}


@dataclass(frozen=True)
class RenderedReport:
    kind: str
    format_name: str
    data: bytes
    tree_size: int
    root_sha256: str
    summary: str  # one line for people: what the report covers

    @property
    def filename(self) -> str:
        return f"{self.kind}-{self.tree_size}.{self.format_name}"

    @property
    def media_type(self) -> str:
        return MEDIA_TYPES[self.format_name]


# A builder takes the engine, the prefix size (None: the whole ledger) and a format, and
# returns the rendered report; it raises ReportError when the report cannot be made.
Builder = Callable[[Engine, int | None, str], RenderedReport]


def _valuation(engine: Engine, size: int | None, format_name: str) -> RenderedReport:
    from sequestra.reports.formats import write_report
    from sequestra.reports.valuation import valuation_report

    report = valuation_report(engine, size)
    return RenderedReport(
        "valuation",
        format_name,
        write_report(report, format_name),
        report.tree_size,
        report.root_sha256,
        f"valuation seq {report.seq}, cutoff {report.cutoff}",
    )


_BUILDERS: dict[str, Builder] = {"valuation": _valuation}


def register_report(kind: str, builder: Builder) -> None:
    """Make `kind` available to `render_report` (each report module registers itself)."""
    _BUILDERS[kind] = builder


def report_kinds() -> tuple[str, ...]:
    _load_all()
    return tuple(_BUILDERS)


def _load_all() -> None:
    """Import the report modules that register themselves."""
    import sequestra.reports.audit
    import sequestra.reports.exposure
    import sequestra.reports.sales  # noqa: F401


def render_report(
    engine: Engine, kind: str, format_name: str, size: int | None = None
) -> RenderedReport:
    """The report `kind` over the ledger's first `size` entries (default all) in `format_name`.

    Raises ReportError naming the field for an unknown kind or format, a size outside the
    ledger, or a ledger that does not yet hold what the report needs.
    """
    _load_all()
    if kind not in _BUILDERS:
        raise ReportError(f"report: expected one of {', '.join(_BUILDERS)}, got {kind!r:.40}")
    if format_name not in REPORT_FORMATS:
        raise ReportError(
            f"format: expected one of {', '.join(REPORT_FORMATS)}, got {format_name!r:.40}"
        )
    return _BUILDERS[kind](engine, size, format_name)
