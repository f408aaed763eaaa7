"""Database engines and transactions for SQLite and PostgreSQL.

Appends are serialised: SQLite takes its write lock at `BEGIN IMMEDIATE`; PostgreSQL takes
a transaction-scoped advisory lock. Readers never wait for writers (SQLite runs in WAL mode).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.engine import make_url

from sequestra.errors import ConfigurationError, Conflict

SQLITE_BUSY_TIMEOUT_MS = 60_000
POSTGRES_CONNECT_TIMEOUT_S = 10
POOL_RECYCLE_S = 1800
# Arbitrary constant naming the ledger's append lock among PostgreSQL advisory locks; the
# second key is the schema's hash, so ledgers in different schemas do not share a lock.
APPEND_LOCK_KEY = 0x5E05E57A
APPEND_LOCK_SQL = "SELECT pg_advisory_xact_lock(:key, hashtext(current_schema()))"


def _prepare_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # we issue BEGIN ourselves, below
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA synchronous = FULL")
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Connection) -> None:
        immediate = connection.get_execution_options().get("sequestra_write", False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


class NoLedgerFile(Conflict):
    """A SQLite ledger file named to be opened does not exist (only `init` creates one)."""


def create_ledger_engine(url: str, *, must_exist: bool = False) -> Engine:
    """Create an engine for a SQLite or PostgreSQL URL with the ledger's settings.

    With `must_exist` a SQLite file that is not there is an error and nothing is created
    (neither the file nor its folder); without it the folder is made and SQLite creates the
    file on first connection (`sequestra init`, tests).

    Raises ConfigurationError for another database kind, NoLedgerFile for a missing file.
    """
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        database = parsed.database
        timeout_s = SQLITE_BUSY_TIMEOUT_MS / 1000
        options: dict[str, Any] = {"connect_args": {"timeout": timeout_s}}
        if database and database != ":memory:" and not database.startswith("file:"):
            if must_exist:
                options = {"creator": _existing_sqlite(Path(database), timeout_s)}
            else:
                Path(database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, **options)
        _prepare_sqlite(engine)
        return engine
    if backend == "postgresql":
        # No pre-ping: it costs a round trip per checkout; a connection the server dropped
        # fails once and the pool then replaces it, and pool_recycle retires old ones.
        return create_engine(
            url,
            pool_pre_ping=False,
            pool_recycle=POOL_RECYCLE_S,
            connect_args={"connect_timeout": POSTGRES_CONNECT_TIMEOUT_S},
        )
    raise ConfigurationError(
        f"database URL: expected sqlite:/// or postgresql+psycopg://, got {backend}"
    )


def _existing_sqlite(path: Path, timeout_s: float) -> Callable[[], sqlite3.Connection]:
    """A connection factory that opens `path` read-write and never creates it."""
    if not path.is_file():
        raise NoLedgerFile(
            f"database: no ledger at {path} (the file does not exist; nothing was created):"
            " check the path, or run `sequestra init` to create a new ledger there"
        )
    uri = f"{path.resolve().as_uri()}?mode=rw"

    def connect() -> sqlite3.Connection:
        # mode=rw: a file removed after the check above is reported, not made again.
        return sqlite3.connect(uri, uri=True, timeout=timeout_s, check_same_thread=False)

    return connect


def is_postgresql(engine: Engine | Connection) -> bool:
    return engine.dialect.name == "postgresql"


@contextmanager
def write_transaction(engine: Engine) -> Iterator[Connection]:
    """Open the one writer's transaction: commits on success, rolls back on any error."""
    with (
        engine.connect().execution_options(sequestra_write=True) as connection,
        connection.begin(),
    ):
        if is_postgresql(connection):
            connection.execute(text(APPEND_LOCK_SQL), {"key": APPEND_LOCK_KEY})
        yield connection


@contextmanager
def read_transaction(engine: Engine) -> Iterator[Connection]:
    """Open a read-only snapshot (REPEATABLE READ on PostgreSQL)."""
    with engine.connect() as connection:
        if is_postgresql(connection):
            connection = connection.execution_options(isolation_level="REPEATABLE READ")
        with connection.begin():
            yield connection


def column_bytes(value: object) -> bytes:
    """Read a binary column; tampering may leave text (SQLite) or NULL in it."""
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value)
    if isinstance(value, str):
        return value.encode("utf-8", "surrogateescape")
    return b""
