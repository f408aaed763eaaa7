"""`sequestra report valuation|exposure|sales|audit`: a report in JSON, CSV, XLSX or PDF, the
same bytes for the same ledger prefix (`--size`)."""

from __future__ import annotations

from pathlib import Path

import typer

from sequestra.cli.common import console, fail_usage, handled, print_json, state
from sequestra.cli.writes import ledger_engine
from sequestra.reports.catalog import REPORT_FORMATS

report_app = typer.Typer(
    help="Reports from the ledger, reproducible byte for byte; each names its checkpoint.",
    no_args_is_help=True,
)
FORMAT_HELP = f"One of {', '.join(REPORT_FORMATS)}."
SIZE_HELP = "Report from the ledger's first N entries (default all)."


def write_report_file(
    context: typer.Context,
    kind: str,
    format_name: str,
    out: Path,
    size: int | None,
    json_output: bool,
    policy_file: Path | None = None,
) -> None:
    if format_name not in REPORT_FORMATS:
        fail_usage(f"--format: expected one of {', '.join(REPORT_FORMATS)}, got {format_name}")
    engine = ledger_engine(context)
    with handled():
        from sequestra.service.trust import load_policy

        settings = state(context).settings()
        policy = load_policy(settings, policy_file)
        skew = settings.ledger.clock_skew_s_max
        reports = state(context).application().reports.judged_by(policy, skew)
        report = reports.render(engine, kind, format_name, size)
        out.write_bytes(report.data)
    if json_output:
        print_json(
            {
                "report": kind,
                "format": format_name,
                "file": str(out),
                "bytes": len(report.data),
                "tree_size": report.tree_size,
                "root_sha256": report.root_sha256,
                "summary": report.summary,
            }
        )
        return
    console.print(
        f"wrote {out} ({format_name}, {len(report.data)} bytes): {report.summary};"
        f" checkpoint tree size {report.tree_size}, root {report.root_sha256}",
        highlight=False,
    )


def _command(kind: str, doc: str) -> None:
    def command(
        context: typer.Context,
        format_name: str = typer.Option(..., "--format", help=FORMAT_HELP),
        out: Path = typer.Option(..., "--out", help="The file to write.", dir_okay=False),
        size: int | None = typer.Option(None, "--size", min=1, help=SIZE_HELP),
        json_output: bool = typer.Option(False, "--json", help="Print what was written as JSON."),
        policy_file: Path | None = typer.Option(
            None,
            "--policy",
            help="Trust policy judging the checkpoints' cosignatures"
            " (default: [trust] policy_file).",
            exists=True,
            dir_okay=False,
        ),
    ) -> None:
        write_report_file(context, kind, format_name, out, size, json_output, policy_file)

    command.__doc__ = doc
    report_app.command(kind)(command)


_command("valuation", "The latest valuation among the first N entries: holdings, prices, totals.")
_command(
    "exposure", "The State Fund's exposure, concentration, stress and risk at the latest valuation."
)
_command("sales", "Every State Fund sale among the first N entries: approvals, fills, result.")
_command("audit", "Verification of the first N entries, checkpoints, cosignatures, kinds, keys.")
