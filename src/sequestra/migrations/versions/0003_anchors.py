"""Anchors of checkpoints on blockchains (append-only).

Revision ID: 0003_anchors
Revises: 0002_tree_checkpoints
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003_anchors"
down_revision = "0002_tree_checkpoints"
branch_labels = None
depends_on = None

TABLE = "ledger_anchor"


def _protect(table: str) -> None:
    """Refuse UPDATE and DELETE (and TRUNCATE on PostgreSQL), as 0001 and 0002 do."""
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
        TABLE,
        sa.Column("chain", sa.String(32), primary_key=True),
        sa.Column("tx_hash", sa.String(128), primary_key=True),
        sa.Column(
            "size",
            sa.BigInteger(),
            sa.ForeignKey("ledger_checkpoint.size", name="fk_ledger_anchor_size"),
            nullable=False,
        ),
        sa.Column("block_number", sa.BigInteger(), nullable=False),
        sa.Column("block_hash", sa.String(128), nullable=False),
        sa.Column("payload", sa.LargeBinary(), nullable=False),
        sa.Column("recorded_at", sa.String(32), nullable=False),
    )
    op.create_index("ix_ledger_anchor_size", TABLE, ["size"])
    _protect(TABLE)


def downgrade() -> None:
    op.drop_index("ix_ledger_anchor_size", TABLE)
    op.drop_table(TABLE)
