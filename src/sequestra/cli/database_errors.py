"""What the CLI says when the database itself refuses: one line and the exit code of its kind.

SQLAlchemy's own text of an error carries the SQL and its parameters (a statement's
contents, a key's label); only the first line of the driver's message is ever shown, cut to
`MESSAGE_CHARS_MAX`.

- read-only (PostgreSQL `default_transaction_read_only`, SQLite opened read-only or on a
  file it may not write): dependency unavailable, 6;
- no ledger tables (or an older schema): conflict, 4, naming the command that fixes it;
- a value the database cannot hold (PostgreSQL: NUL in text): input refused, 2;
- anything else the database or its connection says: dependency unavailable, 6.
"""

from __future__ import annotations

from typing import Final

from sqlalchemy.exc import DataError, DBAPIError

from sequestra.errors import EXIT_CONFLICT, EXIT_INPUT, EXIT_UNAVAILABLE

MESSAGE_CHARS_MAX: Final = 200
POSTGRES_READ_ONLY: Final = "25006"  # SQLSTATE read_only_sql_transaction
SQLITE_READONLY: Final = 8  # the primary result code; extended codes keep it in the low byte
NO_TABLES: Final = (
    "the database holds no ledger tables (or an older schema): run `sequestra init`"
    " for a new ledger or `sequestra db upgrade` for an existing one"
)


def driver_message(error: DBAPIError) -> str:
    """The first line of the driver's message (no SQL, no parameters), cut short."""
    lines = str(error.orig).strip().splitlines() or [type(error.orig).__name__]
    first = lines[0]
    if len(first) > MESSAGE_CHARS_MAX:
        return first[:MESSAGE_CHARS_MAX] + "..."
    return first


def is_read_only(error: DBAPIError) -> bool:
    """Whether the database refused a write because it is read-only."""
    original = error.orig
    if getattr(original, "sqlstate", None) == POSTGRES_READ_ONLY:
        return True
    code = getattr(original, "sqlite_errorcode", None)
    if isinstance(code, int) and code & 0xFF == SQLITE_READONLY:
        return True
    return "readonly database" in str(original).lower()


def database_failure(error: DBAPIError) -> tuple[str, int]:
    """The one-line message and the exit code for an error the database raised."""
    message = driver_message(error)
    if is_read_only(error):
        return (
            f"the database is read-only ({message}): nothing was written; point"
            " --database-url or database_url at the ledger's writable database",
            EXIT_UNAVAILABLE,
        )
    lowered = message.lower()
    if "no such table" in lowered or "does not exist" in lowered:
        return NO_TABLES, EXIT_CONFLICT
    if isinstance(error, DataError):
        return f"the database refused a value: {message}; nothing was written", EXIT_INPUT
    return f"database unavailable: {message}", EXIT_UNAVAILABLE
