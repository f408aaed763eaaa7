"""The `sequestra-sandbox` command: the demo, and the local chains in the background.

Kept apart from the `sequestra` command: production code never imports the sandbox.
"""

from __future__ import annotations

from pathlib import Path

import typer

from sequestra.cli.common import state
from sequestra_sandbox import commands
from sequestra_sandbox.demo import command

app = typer.Typer(
    name="sequestra-sandbox",
    help="Try Sequestra locally: the demo, and anvil and the Bitcoin regtest stand-in.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)


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
) -> None:
    """Try Sequestra locally: the demo, and anvil and the Bitcoin regtest stand-in."""
    app_state = state(context)
    app_state.config_path = config
    app_state.database_url = database_url


app.command()(command.demo)
app.command()(commands.up)
app.command()(commands.status)
app.command()(commands.down)
