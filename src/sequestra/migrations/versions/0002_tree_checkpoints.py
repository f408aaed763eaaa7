"""Merkle tree nodes, checkpoints and witness cosignatures (all append-only).

Revision ID: 0002_tree_checkpoints
Revises: 0001_ledger
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from sequestra.ledger.merkle import MemoryNodeStore

revision = "0002_tree_checkpoints"
down_revision = "0001_ledger"
branch_labels = None
depends_on = None

TABLES = ("ledger_tree_node", "ledger_checkpoint", "ledger_cosignature")


def _protect(table: str) -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table}"
            " FOR EACH ROW EXECUTE FUNCTION sequestra_refuse_change()"
        )
        op.execute(
            f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table}"
            " FOR EACH STATEMENT EXECUTE FUNCTION sequestra_refuse_change()"
        )
        return
    for action in ("UPDATE", "DELETE"):
        op.execute(
            f"CREATE TRIGGER {table}_no_{action.lower()} BEFORE {action} ON {table}"
            f" BEGIN SELECT RAISE(ABORT, '{table} is append-only: {action} refused'); END"
        )


def upgrade() -> None:
    op.create_table(
        "ledger_tree_node",
        sa.Column("level", sa.SmallInteger(), primary_key=True, autoincrement=False),
        sa.Column("idx", sa.BigInteger(), primary_key=True, autoincrement=False),
        sa.Column("hash", sa.LargeBinary(32), nullable=False),
    )
    op.create_table(
        "ledger_checkpoint",
        sa.Column("size", sa.BigInteger(), primary_key=True, autoincrement=False),
        sa.Column("root_hash", sa.LargeBinary(32), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("created_at", sa.String(32), nullable=False),
    )
    op.create_table(
        "ledger_cosignature",
        sa.Column("size", sa.BigInteger(), primary_key=True, autoincrement=False),
        sa.Column("witness", sa.String(255), primary_key=True),
        sa.Column("line", sa.Text(), nullable=False),
        sa.Column("received_at", sa.String(32), nullable=False),
    )
    _backfill_tree()
    for table in TABLES:
        _protect(table)


def _backfill_tree() -> None:
    """Build the tree of a ledger that already has entries."""
    connection = op.get_bind()
    leaves = [
        bytes(row[0])
        for row in connection.execute(sa.text("SELECT leaf_hash FROM ledger_entry ORDER BY seq"))
    ]
    store = MemoryNodeStore()
    created = store.append_leaf_hashes(leaves)
    rows = [{"level": lv, "idx": ix, "hash": h} for lv, ix, h in created if lv > 0]
    if rows:
        connection.execute(
            sa.text("INSERT INTO ledger_tree_node (level, idx, hash) VALUES (:level, :idx, :hash)"),
            rows,
        )


def downgrade() -> None:
    for table in reversed(TABLES):
        op.drop_table(table)
