"""The State Fund's sale workflow: policy, sales, approvals, executions.

Revision ID: 0007_fund
Revises: 0006_pricing
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007_fund"
down_revision = "0006_pricing"
branch_labels = None
depends_on = None

MONEY = sa.String(48)


def upgrade() -> None:
    op.create_table(
        "fund_policy",
        sa.Column("seq", sa.BigInteger(), primary_key=True, autoincrement=False),
        sa.Column("bands", sa.Text(), nullable=False),
        sa.Column("approval_valid_s", sa.Integer(), nullable=False),
        sa.Column("venues", sa.Text(), nullable=False),
    )
    op.create_table(
        "fund_sale",
        sa.Column("sale_id", sa.String(64), primary_key=True),
        sa.Column("asset_id", sa.String(48), nullable=False),
        sa.Column("wallet", sa.String(128), nullable=False),
        sa.Column("amount_base", sa.String(80), nullable=False),
        sa.Column("venues", sa.Text(), nullable=False),
        sa.Column("method", sa.String(16), nullable=False),
        sa.Column("price_floor_usd", MONEY, nullable=False),
        sa.Column("approvals_min", sa.Integer(), nullable=False),
        sa.Column("proposer", sa.String(64), nullable=False),
        sa.Column("proposed_seq", sa.BigInteger(), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("executed_base", sa.String(80), nullable=False),
        sa.Column("proceeds_usd", MONEY, nullable=False),
        sa.Column("fees_usd", MONEY, nullable=False),
        sa.Column("closed_seq", sa.BigInteger(), nullable=True),
        sa.Column("proceeds_kzt", MONEY, nullable=True),
        sa.Column("payment_ref", sa.String(256), nullable=True),
    )
    op.create_index("ix_fund_sale_holding", "fund_sale", ["asset_id", "wallet"])
    op.create_table(
        "fund_approval",
        sa.Column("sale_id", sa.String(64), primary_key=True),
        sa.Column("approver", sa.String(64), primary_key=True),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("issued_at", sa.String(32), nullable=False),
    )
    op.create_table(
        "fund_execution",
        sa.Column("seq", sa.BigInteger(), primary_key=True, autoincrement=False),
        sa.Column("sale_id", sa.String(64), nullable=False),
        sa.Column("venue", sa.String(32), nullable=False),
        sa.Column("amount_base", sa.String(80), nullable=False),
        sa.Column("price_usd", MONEY, nullable=False),
        sa.Column("fee_usd", MONEY, nullable=False),
        sa.Column("executed_at", sa.String(32), nullable=False),
        sa.Column("venue_order_id", sa.String(256), nullable=False),
        sa.Column("deposit_tx", sa.String(66), nullable=False),
    )

    op.create_table(
        "fund_emergency",
        sa.Column("seq", sa.BigInteger(), primary_key=True, autoincrement=False),
        sa.Column("asset_id", sa.String(48), nullable=False),
        sa.Column("wallet", sa.String(128), nullable=False),
        sa.Column("reference_seq", sa.BigInteger(), nullable=False),
        sa.Column("valuation_seq", sa.BigInteger(), nullable=False),
        sa.Column("drop", sa.String(32), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
    )
    op.create_index(
        "ix_fund_emergency_holding",
        "fund_emergency",
        ["asset_id", "wallet", "reference_seq"],
        unique=True,
    )


def downgrade() -> None:
    op.drop_index("ix_fund_emergency_holding", "fund_emergency")
    op.drop_table("fund_emergency")
    op.drop_table("fund_execution")
    op.drop_table("fund_approval")
    op.drop_index("ix_fund_sale_holding", "fund_sale")
    op.drop_table("fund_sale")
    op.drop_table("fund_policy")
