"""The `sequestra` command."""

from __future__ import annotations

import os
import sys
from importlib.metadata import version as package_version
from pathlib import Path

import typer
from rich.markup import escape
from rich.text import Text
from sqlalchemy.exc import DBAPIError

import sequestra.chains.watch
import sequestra.fund.sales
import sequestra.pricing  # noqa: F401  (and the valuations')
from sequestra.cli import (
    anchor_commands,
    custody_commands,
    fund_commands,
    fund_report_commands,
    ledger_commands,
    pricing_commands,
    proof_commands,
    scheduler_commands,
    serve_commands,
    watch_commands,
)
from sequestra.cli.alarm_commands import fork_alarms_app
from sequestra.cli.common import error_console, state
from sequestra.cli.database_errors import database_failure
from sequestra.cli.import_commands import import_app
from sequestra.cli.report_commands import report_app
from sequestra.cli.token_commands import token_app
from sequestra.cli.witness_commands import witness_app
from sequestra.errors import EXIT_INTERNAL, SequestraError, exit_code

app = typer.Typer(
    name="sequestra",
    help="Custody and valuation ledger for digital assets seized by the state.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"sequestra {package_version('sequestra')}")
        raise typer.Exit(0)


@app.callback()
def main(
    context: typer.Context,
    config: Path | None = typer.Option(
        None, "--config", envvar="SEQUESTRA_CONFIG", help="TOML configuration file."
    ),
    database_url: str | None = typer.Option(
        None,
        "--database-url",
        help="Overrides the configured database (sqlite:///... or postgresql+psycopg://...).",
    ),
    _version: bool = typer.Option(
        False,
        "--version",
        callback=_print_version,
        is_eager=True,
        help="Print the installed version and exit.",
    ),
) -> None:
    """Custody and valuation ledger for digital assets seized by the state."""
    app_state = state(context)
    app_state.config_path = config
    app_state.database_url = database_url
    if config is not None and context.invoked_subcommand is not None:
        # A named configuration is checked before any command reads, signs or writes.
        app_state.settings()


app.add_typer(ledger_commands.db_app, name="db")
app.add_typer(ledger_commands.keys_app, name="keys")
app.add_typer(witness_app, name="witness")
app.add_typer(fork_alarms_app, name="fork-alarms")
app.command()(ledger_commands.init)
app.command()(ledger_commands.sign)
app.command()(ledger_commands.append)
app.command()(ledger_commands.verify)
app.command()(ledger_commands.log)
app.command()(proof_commands.checkpoint)
app.command()(proof_commands.prove)
app.command()(proof_commands.consistency)
app.command()(proof_commands.export)
app.command()(anchor_commands.anchor)
app.command()(anchor_commands.anchors)
# Custody, for treasury staff.
app.add_typer(custody_commands.case_app, name="case")
app.add_typer(custody_commands.wallet_app, name="wallet")
app.add_typer(custody_commands.asset_app, name="asset")
app.command()(custody_commands.seize)
app.command()(custody_commands.transfer)
app.command()(custody_commands.forfeit)
app.command()(custody_commands.release)
app.command()(custody_commands.correct)
app.command()(custody_commands.holdings)
app.command()(custody_commands.history)
app.command()(custody_commands.rebuild)
app.add_typer(import_app, name="import")
# On-chain watching.
app.command()(watch_commands.watch)
app.command()(watch_commands.reconcile)
app.add_typer(watch_commands.alerts_app, name="alerts")
# Prices and valuations.
app.command()(pricing_commands.prices)
app.command()(pricing_commands.revalue)
app.command()(pricing_commands.valuations)
app.command()(scheduler_commands.scheduler)
app.command()(serve_commands.serve)
# The State Fund.
fund_report_commands.fund_app.add_typer(fund_commands.fund_policy_app, name="policy")
app.add_typer(fund_report_commands.fund_app, name="fund")
fund_commands.sale_app.command("plan")(fund_report_commands.sale_plan)
app.add_typer(fund_commands.sale_app, name="sale")
# Reports.
app.add_typer(report_app, name="report")
app.add_typer(token_app, name="api-token")


def run() -> None:
    """The `sequestra` command: any error that no command handled is mapped here once, an
    error of the hierarchy to its branch's exit code, anything else (a defect) to 70 with
    its type only (its message may hold a statement's contents); SEQUESTRA_DEBUG=1 shows
    the traceback instead."""
    try:
        app()
    except SequestraError as error:
        error_console.print(
            f"[bold red]error:[/] {escape(str(error))}", highlight=False, soft_wrap=True
        )
        sys.exit(exit_code(error))
    except DBAPIError as error:  # outside `handled()`: the same one line, never the SQL
        if os.environ.get("SEQUESTRA_DEBUG"):
            raise
        message, code = database_failure(error)
        error_console.print(Text.assemble(("error:", "bold red"), " ", message), highlight=False)
        sys.exit(code)
    except Exception as error:
        if os.environ.get("SEQUESTRA_DEBUG"):
            raise
        error_console.print(
            f"[bold red]internal error[/] ({type(error).__name__}): a defect, not your input;"
            " run again with SEQUESTRA_DEBUG=1 to see the traceback",
            highlight=False,
        )
        sys.exit(EXIT_INTERNAL)
