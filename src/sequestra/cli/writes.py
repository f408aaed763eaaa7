"""Writing signed statements from the CLI: one path for every command that records.

A command builds its (kind, body) pairs from what was typed, then `write_statements` loads
the signer's key, signs locally and appends them all or none. Input the builders, the
statement schemas or the ledger's rules refuse exits with code 2 naming the field; nothing
is recorded then.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

import typer
from sqlalchemy import Engine

from sequestra.cli.common import fail, handled, load_key, state
from sequestra.custody import service
from sequestra.errors import exit_code
from sequestra.ledger.errors import AppendRefused, StatementError
from sequestra.schema import require_schema

NOTHING_RECORDED: Final = "; nothing was recorded"
Statements = list[tuple[str, dict[str, Any]]]
Build = Callable[[Engine, datetime], Statements]


def ledger_engine(context: typer.Context) -> Engine:
    """The ledger's engine, once its database holds the newest schema (exits 4 otherwise,
    naming the command that fixes it)."""
    engine = state(context).engine()
    with handled():
        require_schema(engine)
    return engine


@contextmanager
def refused(suffix: str = "") -> Iterator[None]:
    """Turn input the service or the statement schema refuses into an exit with code 2."""
    try:
        yield
    except (service.InputError, StatementError) as error:
        fail(f"{error}{suffix}", exit_code(error))


def write_statements(
    context: typer.Context, key_path: Path, passphrase_file: Path | None, build: Build
) -> list[tuple[int, dict[str, Any]]]:
    """Build statements, sign them with the key and append them, all or none.

    Returns (seq, body) of each statement recorded. Exits 2 naming the field when the input
    or the ledger's rules refuse them; nothing is recorded then.
    """
    app_state = state(context)
    engine = ledger_engine(context)
    now_utc = datetime.now(UTC)
    with handled(), refused(NOTHING_RECORDED):
        statements = build(engine, now_utc)
        if not statements:
            return []
        key = load_key(key_path, passphrase_file)
        try:
            receipts = service.record(
                engine, app_state.rule_set(), key, statements, now_utc, app_state.rules()
            )
        except AppendRefused as error:
            where = ""
            if error.index is not None and len(statements) > 1:
                where = f"statement {error.index + 1} of {len(statements)}: "
            fail(f"{where}{error.reason}{NOTHING_RECORDED}", exit_code(error))
    return [(receipt.seq, body) for receipt, (_, body) in zip(receipts, statements, strict=True)]


def write_one(
    context: typer.Context, key_path: Path, passphrase_file: Path | None, build: Build
) -> tuple[int, dict[str, Any]]:
    (written,) = write_statements(context, key_path, passphrase_file, build)
    return written
