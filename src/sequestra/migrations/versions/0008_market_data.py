"""Daily market data for the State Fund's risk figures.

Revision ID: 0008_market_data
Revises: 0007_fund
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008_market_data"
down_revision = "0007_fund"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "market_close",
        sa.Column("venue", sa.String(32), primary_key=True),
        sa.Column("pair", sa.String(64), primary_key=True),
        sa.Column("day", sa.String(10), primary_key=True),
        sa.Column("close", sa.String(48), nullable=False),
        sa.Column("volume", sa.String(48), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("market_close")
