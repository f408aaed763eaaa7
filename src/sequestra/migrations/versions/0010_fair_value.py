"""Fair value: each price's level, basis, market, median and deviation; the venues a
valuation treated as accessible; the asset each quote row was considered for.

Revision ID: 0010_fair_value
Revises: 0009_api_tokens
Create Date: 2026-12-08
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010_fair_value"
down_revision = "0009_api_tokens"
branch_labels = None
depends_on = None

DECIMAL_TEXT = 48


def upgrade() -> None:
    with op.batch_alter_table("valuation") as table:
        table.add_column(sa.Column("accessible_venues", sa.Text(), nullable=True))
        table.add_column(sa.Column("deviation_max", sa.String(DECIMAL_TEXT), nullable=True))
    with op.batch_alter_table("valuation_price") as table:
        table.add_column(sa.Column("level", sa.Integer(), nullable=True))
        table.add_column(sa.Column("basis", sa.String(32), nullable=True))
        table.add_column(sa.Column("market", sa.String(100), nullable=True))
        table.add_column(sa.Column("market_volume", sa.String(DECIMAL_TEXT), nullable=True))
        table.add_column(sa.Column("price_at", sa.String(32), nullable=True))
        table.add_column(sa.Column("median_usd", sa.String(DECIMAL_TEXT), nullable=True))
        table.add_column(sa.Column("deviation", sa.String(DECIMAL_TEXT), nullable=True))
        table.add_column(sa.Column("flagged", sa.Boolean(), nullable=True))
    with op.batch_alter_table("valuation_quote") as table:
        table.add_column(sa.Column("asset", sa.String(48), nullable=False, server_default=""))


def downgrade() -> None:
    with op.batch_alter_table("valuation_quote") as table:
        table.drop_column("asset")
    with op.batch_alter_table("valuation_price") as table:
        for name in (
            "flagged",
            "deviation",
            "median_usd",
            "price_at",
            "market_volume",
            "market",
            "basis",
            "level",
        ):
            table.drop_column(name)
    with op.batch_alter_table("valuation") as table:
        table.drop_column("deviation_max")
        table.drop_column("accessible_venues")
