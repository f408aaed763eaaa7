"""`sequestra report valuation`: the valuation report in JSON, CSV, XLSX or PDF, the same
bytes for the same ledger prefix (`--size`)."""

from __future__ import annotations

from pathlib import Path

import typer

from sequestra.cli.common import console, fail_usage, handled
from sequestra.cli.writes import ledger_engine
from sequestra.reports.formats import FORMATS, write_report
from sequestra.reports.valuation import ReportError, valuation_report

report_app = typer.Typer(
    help="Reports from the ledger, reproducible byte for byte.", no_args_is_help=True
)


@report_app.command("valuation")
def valuation(
    context: typer.Context,
    format_name: str = typer.Option(..., "--format", help=f"One of {', '.join(FORMATS)}."),
    out: Path = typer.Option(..., "--out", help="The file to write.", dir_okay=False),
    size: int | None = typer.Option(
        None, "--size", min=1, help="Report from the ledger's first N entries (default all)."
    ),
) -> None:
    """Write the report of the latest valuation among the ledger's first N entries."""
    if format_name not in FORMATS:
        fail_usage(f"--format: expected one of {', '.join(FORMATS)}, got {format_name}")
    engine = ledger_engine(context)
    with handled():
        try:
            report = valuation_report(engine, size)
        except ReportError as error:
            fail_usage(str(error))
        data = write_report(report, format_name)
        out.write_bytes(data)
    console.print(
        f"wrote {out} ({format_name}, {len(data)} bytes): valuation seq {report.seq}, cutoff"
        f" {report.cutoff}; checkpoint tree size {report.tree_size}, root {report.root_sha256}",
        highlight=False,
    )
