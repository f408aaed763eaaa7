"""Alembic environment: runs migrations on the connection Sequestra hands over."""

from __future__ import annotations

from alembic import context
from sqlmodel import SQLModel

import sequestra.ledger.tables  # noqa: F401  (registers the tables on the metadata)

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations through `sequestra db upgrade`, which supplies a connection")

context.configure(connection=connection, target_metadata=SQLModel.metadata)
with context.begin_transaction():
    context.run_migrations()
