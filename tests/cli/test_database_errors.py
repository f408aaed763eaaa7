"""What the database refuses reaches the user as one line and the exit code of its kind,
never a traceback or the statement's contents: the real `sequestra` command (its process
edge included) against a read-only database, on SQLite and PostgreSQL."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import psycopg
from sqlalchemy import func, select
from sqlalchemy.exc import DataError, InternalError, OperationalError

from sequestra.cli.database_errors import MESSAGE_CHARS_MAX, database_failure
from sequestra.errors import EXIT_CONFLICT, EXIT_INPUT, EXIT_UNAVAILABLE
from sequestra.ledger.tables import ENTRY_TABLE
from tests.conftest import LedgerWorld

SECRET = "contents-that-must-not-be-printed"
COMMAND_TIMEOUT_S = 600  # a bound on a hung command, not a speed requirement


def _read_only_url(world: LedgerWorld) -> str:
    """The world's database, opened read-only (SQLite) or with every transaction read-only
    (PostgreSQL's default_transaction_read_only, through the connection's options)."""
    if world.url.startswith("sqlite"):
        path = world.url.split("///", 1)[1]
        return f"sqlite:///file:{path}?mode=ro&uri=true"
    assert "options=-csearch_path" in world.url
    return world.url.replace(
        "options=-csearch_path", "options=-cdefault_transaction_read_only%3Don%20-csearch_path"
    )


def _sequestra(*args: str) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if k != "SEQUESTRA_DEBUG"}
    environment.pop("SEQUESTRA_CONFIG", None)
    return subprocess.run(
        [sys.executable, "-m", "sequestra.cli", *args],
        capture_output=True,
        text=True,
        env=environment,
        timeout=COMMAND_TIMEOUT_S,
        check=False,
    )


def _size(world: LedgerWorld) -> int:
    with world.engine.connect() as connection:
        return int(connection.execute(select(func.count()).select_from(ENTRY_TABLE)).scalar_one())


def test_a_read_only_database_is_unavailable_in_one_line(
    world: LedgerWorld, tmp_path: Path
) -> None:
    path = tmp_path / "note.jsonl"
    path.write_bytes(world.note(SECRET).to_bytes() + b"\n")
    size = _size(world)
    done = _sequestra("--database-url", _read_only_url(world), "append", str(path))
    assert done.returncode == EXIT_UNAVAILABLE, (done.stdout, done.stderr)
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: the database is read-only"), lines
    assert "Traceback" not in done.stderr and SECRET not in done.stderr + done.stdout
    assert _size(world) == size
    # reading still works against the same read-only database
    assert _sequestra("--database-url", _read_only_url(world), "log").returncode == 0


class _Original(Exception):
    def __init__(self, text: str, sqlstate: str | None = None) -> None:
        super().__init__(text)
        self.sqlstate = sqlstate


def test_database_errors_map_to_one_line_and_a_kind() -> None:
    sql, parameters = "INSERT INTO entries VALUES (?)", (SECRET,)
    read_only = InternalError(
        sql,
        parameters,
        _Original("cannot execute INSERT in a read-only transaction", "25006"),
    )
    message, code = database_failure(read_only)
    assert code == EXIT_UNAVAILABLE and message.startswith("the database is read-only")
    sqlite_error = sqlite3.OperationalError("attempt to write a readonly database")
    message, code = database_failure(OperationalError(sql, parameters, sqlite_error))
    assert code == EXIT_UNAVAILABLE and "read-only" in message
    nul = psycopg.DataError("PostgreSQL text fields cannot contain NUL (0x00) bytes")
    message, code = database_failure(DataError(sql, parameters, nul))
    assert code == EXIT_INPUT and "NUL" in message
    missing = OperationalError(sql, parameters, sqlite3.OperationalError("no such table: x"))
    assert database_failure(missing)[1] == EXIT_CONFLICT
    long_detail = _Original("refused " + "x" * 1000 + "\nDETAIL: Failing row contains " + SECRET)
    message, code = database_failure(OperationalError(sql, parameters, long_detail))
    assert code == EXIT_UNAVAILABLE and SECRET not in message and sql not in message
    assert len(message) < MESSAGE_CHARS_MAX + 40
