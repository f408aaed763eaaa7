"""Whether a database holds the schema this code needs, without loading Alembic.

`SCHEMA_HEAD` is the newest migration (`sequestra/migrations/versions`); a test holds it equal
to Alembic's head. Commands check the schema before they read or write, and say which
command brings the database up to date.
"""

from __future__ import annotations

from typing import Final

from sqlalchemy import Engine, inspect, text
from sqlalchemy.exc import OperationalError

from sequestra.errors import Conflict, DependencyUnavailable

SCHEMA_HEAD: Final = "0011_web_session"
VERSION_TABLE: Final = "alembic_version"


class SchemaError(Conflict):
    """The database holds no ledger, or an older schema; the message says what to run."""


class SchemaUnreadable(DependencyUnavailable):
    """The database could not be asked for its schema."""


def schema_revision(engine: Engine) -> str | None:
    """The database's migration revision, or None when it has no schema yet.

    Raises SchemaUnreadable when the database does not answer.
    """
    try:
        with engine.connect() as connection:
            if not inspect(connection).has_table(VERSION_TABLE):
                return None
            found = connection.execute(text(f"SELECT version_num FROM {VERSION_TABLE}")).scalar()
    except OperationalError as error:
        raise SchemaUnreadable(f"database: {error.orig}") from error
    return None if found is None else str(found)


def require_schema(engine: Engine) -> None:
    """Raises SchemaError unless the database holds the newest schema."""
    revision = schema_revision(engine)
    if revision is None:
        raise SchemaError("database: expected a ledger, got none; run `sequestra init` first")
    if revision != SCHEMA_HEAD:
        raise SchemaError(
            f"database: schema {revision}, expected {SCHEMA_HEAD}; run `sequestra db upgrade`"
        )
