"""Custody projection: assets, cases, wallets, positions, movements and postings.

Revision ID: 0004_custody
Revises: 0003_anchors
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004_custody"
down_revision = "0003_anchors"
branch_labels = None
depends_on = None

AMOUNT = sa.String(80)


def upgrade() -> None:
    op.create_table(
        "custody_asset",
        sa.Column("asset_id", sa.String(48), primary_key=True),
        sa.Column("chain", sa.String(16), nullable=False),
        sa.Column("symbol", sa.String(16), nullable=False),
        sa.Column("kind", sa.String(8), nullable=False),
        sa.Column("contract", sa.String(128), nullable=True),
        sa.Column("decimals", sa.SmallInteger(), nullable=False),
        sa.Column("registered_seq", sa.BigInteger(), nullable=False),
    )
    op.create_table(
        "custody_case",
        sa.Column("case_id", sa.String(64), primary_key=True),
        sa.Column("agency", sa.String(256), nullable=False),
        sa.Column("legal_basis", sa.Text(), nullable=False),
        sa.Column("prosecutor_ref", sa.String(256), nullable=True),
        sa.Column("court_ref", sa.String(256), nullable=True),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("opened_seq", sa.BigInteger(), nullable=False),
        sa.Column("opened_at", sa.String(32), nullable=False),
        sa.Column("closed_seq", sa.BigInteger(), nullable=True),
        sa.Column("closed_reason", sa.Text(), nullable=True),
        sa.Column("holdings_open", sa.Integer(), nullable=False),
    )
    op.create_table(
        "custody_wallet",
        sa.Column("address", sa.String(128), primary_key=True),
        sa.Column("chain", sa.String(16), nullable=False),
        sa.Column("network", sa.String(32), nullable=False),
        sa.Column("controller", sa.String(256), nullable=False),
        sa.Column("label", sa.String(256), nullable=False),
        sa.Column("registered_seq", sa.BigInteger(), nullable=False),
    )
    op.create_table(
        "custody_position",
        sa.Column("asset_id", sa.String(48), primary_key=True),
        sa.Column("account", sa.String(256), primary_key=True),
        sa.Column("amount_base", AMOUNT, nullable=False),
        sa.Column("holding_id", sa.BigInteger(), nullable=True),
        sa.Column("case_id", sa.String(64), nullable=True),
        sa.Column("wallet", sa.String(128), nullable=True),
        sa.Column("state", sa.String(16), nullable=True),
        sa.Column("first_seq", sa.BigInteger(), nullable=False),
        sa.Column("last_seq", sa.BigInteger(), nullable=False),
    )
    op.create_index("ix_custody_position_case", "custody_position", ["case_id"])
    op.create_index("ix_custody_position_account", "custody_position", ["account"])
    op.create_index("ix_custody_position_holding", "custody_position", ["holding_id"], unique=True)
    op.create_table(
        "custody_movement",
        sa.Column("seq", sa.BigInteger(), primary_key=True, autoincrement=False),
        sa.Column("kind", sa.String(64), nullable=False),
        sa.Column("case_id", sa.String(64), nullable=True),
        sa.Column("reversed_by", sa.BigInteger(), nullable=True),
    )
    op.create_table(
        "custody_posting",
        sa.Column("seq", sa.BigInteger(), primary_key=True, autoincrement=False),
        sa.Column("idx", sa.SmallInteger(), primary_key=True, autoincrement=False),
        sa.Column("asset_id", sa.String(48), nullable=False),
        sa.Column("account", sa.String(256), nullable=False),
        sa.Column("amount_base", AMOUNT, nullable=False),
        sa.Column("holding_id", sa.BigInteger(), nullable=True),
    )
    op.create_index("ix_custody_posting_holding", "custody_posting", ["holding_id"])


def downgrade() -> None:
    op.drop_index("ix_custody_posting_holding", "custody_posting")
    op.drop_table("custody_posting")
    op.drop_table("custody_movement")
    op.drop_index("ix_custody_position_holding", "custody_position")
    op.drop_index("ix_custody_position_account", "custody_position")
    op.drop_index("ix_custody_position_case", "custody_position")
    op.drop_table("custody_position")
    op.drop_table("custody_wallet")
    op.drop_table("custody_case")
    op.drop_table("custody_asset")
