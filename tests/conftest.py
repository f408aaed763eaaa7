"""Shared fixtures: every database test runs on SQLite and on PostgreSQL."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, text

from sequestra.ledger.db import create_ledger_engine
from sequestra.ledger.keys import SigningKey
from sequestra.ledger.kinds import KEY_ENROLLED
from sequestra.ledger.ops import init_ledger
from sequestra.ledger.signer import CheckpointSigner, SignerStore
from sequestra.ledger.statement import SignedStatement, sign_statement
from sequestra.ledger.store import Ledger
from sequestra.ledger.timefmt import format_timestamp
from tests.composed import RULES

POSTGRES_URL = os.environ.get(
    "SEQUESTRA_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
DATABASES = ("sqlite", "postgresql")


def _postgres_schema_url(schema: str) -> str:
    separator = "&" if "?" in POSTGRES_URL else "?"
    return f"{POSTGRES_URL}{separator}options=-csearch_path%3D{schema}"


@pytest.fixture(params=DATABASES)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty database: a SQLite file, or a PostgreSQL schema of its own."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'ledger.db'}"
        return
    schema = f"t_{uuid.uuid4().hex[:16]}"
    admin = create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f"CREATE SCHEMA {schema}"))
    try:
        yield _postgres_schema_url(schema)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    created = create_ledger_engine(database_url)
    yield created
    created.dispose()


@dataclass
class LedgerWorld:
    """An initialised ledger with a ledger key, an admin and a treasury officer."""

    url: str
    engine: Engine
    ledger: Ledger
    ledger_key: SigningKey
    admin: SigningKey
    officer: SigningKey
    now: datetime
    signer_state: Path

    @property
    def signer(self) -> CheckpointSigner:
        """The checkpoint signer, with its record in the test's own folder (no policy)."""
        return CheckpointSigner(self.ledger_key, SignerStore(self.signer_state))

    def note(self, text: str = "memo", key: SigningKey | None = None) -> SignedStatement:
        return sign_statement(key or self.officer, "note.recorded", {"text": text}, self.now)

    def admin_statement(self, kind: str, body: dict[str, object]) -> SignedStatement:
        return sign_statement(self.admin, kind, body, self.now)

    def enroll(self, key: SigningKey, roles: list[str], label: str = "key") -> SignedStatement:
        body = {
            "public_key": key.public_key_b64,
            "roles": roles,
            "valid_from": format_timestamp(self.now - timedelta(hours=1)),
            "label": label,
        }
        return sign_statement(self.admin, KEY_ENROLLED, body, self.now)


@pytest.fixture
def world(database_url: str, engine: Engine, tmp_path: Path) -> Iterator[LedgerWorld]:
    now = datetime.now(UTC)
    ledger_key, admin, officer = (SigningKey.generate() for _ in range(3))
    init_ledger(
        engine, RULES, "test.sequestra.example/log", [admin.public_key_raw], ledger_key, now_utc=now
    )
    ledger = Ledger(engine, RULES)
    state = tmp_path / "signer" / "ledger.key.state.json"
    created = LedgerWorld(database_url, engine, ledger, ledger_key, admin, officer, now, state)
    ledger.append([created.enroll(officer, ["treasury-officer"], "officer")], now)
    yield created
    ledger.close()
