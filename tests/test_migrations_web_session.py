"""Migration 0011 (page sessions) on SQLite and PostgreSQL: SCHEMA_HEAD is Alembic's head;
upgrading from 0010 adds `web_session` beside the tokens it keeps, downgrading removes it
and leaves the tokens, and upgrading again brings it back."""

from __future__ import annotations

from datetime import UTC, datetime

from alembic import command
from sqlalchemy import Engine, inspect

from sequestra.ledger import migrate
from sequestra.schema import SCHEMA_HEAD
from sequestra.service.access.sessions import SessionLimits, check_session, open_session
from sequestra.service.access.tokens import create_token, list_tokens

BEFORE = "0010_fair_value"
WEB_SESSION = "0011_web_session"
COLUMNS = {
    "session_hash",
    "token_hash",
    "role",
    "created_at",
    "last_seen_at",
    "ended_at",
    "end_reason",
}


def _downgrade(engine: Engine, revision: str) -> None:
    config = migrate._config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, revision)


def test_schema_head_is_alembics_head() -> None:
    assert migrate.head_revision() == SCHEMA_HEAD == WEB_SESSION


def test_web_session_upgrades_and_downgrades(engine: Engine) -> None:
    now = datetime(2026, 12, 15, 9, 0, tzinfo=UTC)
    migrate.upgrade(engine, BEFORE)
    assert not inspect(engine).has_table("web_session")
    _, record = create_token(engine, "auditor", "desk", now)

    migrate.upgrade(engine)
    assert migrate.current_revision(engine) == WEB_SESSION
    found = inspect(engine)
    assert {column["name"] for column in found.get_columns("web_session")} == COLUMNS
    assert found.get_pk_constraint("web_session")["constrained_columns"] == ["session_hash"]
    (foreign,) = found.get_foreign_keys("web_session")
    assert foreign["referred_table"] == "api_token"
    assert foreign["constrained_columns"] == ["token_hash"]
    indexed = [index["column_names"] for index in found.get_indexes("web_session")]
    assert ["token_hash"] in indexed
    session_id = open_session(engine, record.token_hash, record.role, now)
    assert check_session(engine, session_id, now, SessionLimits()).label == "desk"

    _downgrade(engine, BEFORE)
    assert migrate.current_revision(engine) == BEFORE
    assert not inspect(engine).has_table("web_session")
    assert [kept.token_hash for kept in list_tokens(engine)] == [record.token_hash]

    migrate.upgrade(engine)
    assert inspect(engine).has_table("web_session")
    assert migrate.current_revision(engine) == SCHEMA_HEAD
