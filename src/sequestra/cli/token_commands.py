"""`sequestra api-token create|list|revoke`: bearer tokens of the HTTP API, kept hashed."""

from __future__ import annotations

from datetime import UTC, datetime

import typer
from rich.table import Table

from sequestra.cli.common import JSON_OPTION, console, fail, handled, print_json
from sequestra.cli.tables import print_table
from sequestra.cli.writes import ledger_engine
from sequestra.errors import exit_code
from sequestra.service.access.roles import API_ROLES
from sequestra.service.access.tokens import TokenError, create_token, list_tokens, revoke_token

token_app = typer.Typer(
    help="Bearer tokens of the HTTP API; each maps to one role.", no_args_is_help=True
)


@token_app.command("create")
def create(
    context: typer.Context,
    role: str = typer.Option(..., "--role", help=f"One of {', '.join(API_ROLES)}."),
    label: str = typer.Option(..., "--label", help="Who or what holds the token."),
    json_output: bool = JSON_OPTION,
) -> None:
    """Create a token and print it once; only its SHA-256 is stored."""
    engine = ledger_engine(context)
    with handled():
        try:
            token, record = create_token(engine, role, label, datetime.now(UTC))
        except TokenError as error:
            fail(str(error), exit_code(error))
    if json_output:
        print_json({"token": token, **record.to_json()})
        return
    console.print(f"token (shown once): {token}", highlight=False)
    console.print(f"hash {record.token_hash}  role {record.role}  label {record.label}")


@token_app.command("list")
def list_command(context: typer.Context, json_output: bool = JSON_OPTION) -> None:
    """List tokens by their hash, role and label, oldest first."""
    engine = ledger_engine(context)
    with handled():
        records = list_tokens(engine)
    if json_output:
        print_json([record.to_json() for record in records])
        return
    table = Table("hash", "role", "label", "created", "revoked")
    for record in records:
        table.add_row(
            record.token_hash[:16],
            record.role,
            record.label,
            record.created_at,
            record.revoked_at or "-",
        )
    print_table(table)


@token_app.command("revoke")
def revoke(
    context: typer.Context,
    token_hash: str = typer.Argument(..., help="The token's hash, or its first 8+ hex digits."),
    json_output: bool = JSON_OPTION,
) -> None:
    """Revoke a token: requests presenting it are then refused (401)."""
    engine = ledger_engine(context)
    with handled():
        try:
            record = revoke_token(engine, token_hash, datetime.now(UTC))
        except TokenError as error:
            fail(str(error), exit_code(error))
    if json_output:
        print_json(record.to_json())
        return
    console.print(f"revoked {record.token_hash}  ({record.role}, {record.label})")
