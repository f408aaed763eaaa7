"""Pricing: valuations, their prices, and the quotes each considered.

Revision ID: 0006_pricing
Revises: 0005_watch
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006_pricing"
down_revision = "0005_watch"
branch_labels = None
depends_on = None

DECIMAL = sa.String(48)


def upgrade() -> None:
    op.create_table(
        "valuation",
        sa.Column("seq", sa.BigInteger(), primary_key=True, autoincrement=False),
        sa.Column("cutoff", sa.String(32), nullable=False, unique=True),
        sa.Column("method", sa.String(16), nullable=False),
        sa.Column("price_type", sa.String(8), nullable=False),
        sa.Column("fx_rate", DECIMAL, nullable=False),
        sa.Column("fx_on", sa.String(10), nullable=False),
        sa.Column("fx_published_on", sa.String(10), nullable=False),
        sa.Column("fx_source", sa.String(256), nullable=False),
        sa.Column("quotes_sha256", sa.String(64), nullable=False),
        sa.Column("unpriced", sa.Integer(), nullable=False),
        sa.Column("venues_missing", sa.Text(), nullable=False),
    )
    op.create_table(
        "valuation_price",
        sa.Column("seq", sa.BigInteger(), primary_key=True, autoincrement=False),
        sa.Column("asset_id", sa.String(48), primary_key=True),
        sa.Column("price_usd", DECIMAL, nullable=False),
        sa.Column("confidence", sa.String(16), nullable=False),
        sa.Column("venues", sa.String(600), nullable=False),
    )
    op.create_table(
        "valuation_quote",
        sa.Column("quotes_sha256", sa.String(64), primary_key=True),
        sa.Column("idx", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("venue", sa.String(32), nullable=False),
        sa.Column("pair", sa.String(64), nullable=False),
        sa.Column("last", DECIMAL, nullable=False),
        sa.Column("bid", DECIMAL, nullable=False),
        sa.Column("ask", DECIMAL, nullable=False),
        sa.Column("volume", DECIMAL, nullable=False),
        sa.Column("timestamp", sa.String(32), nullable=False),
        sa.Column("price_usd", DECIMAL, nullable=False),
        sa.Column("dropped", sa.Text(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("valuation_quote")
    op.drop_table("valuation_price")
    op.drop_table("valuation")
