"""Watcher: observations, balance snapshots, alerts and the log of watch runs.

Revision ID: 0005_watch
Revises: 0004_custody
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005_watch"
down_revision = "0004_custody"
branch_labels = None
depends_on = None

AMOUNT = sa.String(80)


def upgrade() -> None:
    op.create_table(
        "chain_observation",
        sa.Column("seq", sa.BigInteger(), primary_key=True, autoincrement=False),
        sa.Column("chain", sa.String(16), primary_key=True),
        sa.Column("run_id", sa.String(32), nullable=False),
        sa.Column("network", sa.String(32), nullable=False),
        sa.Column("height", sa.BigInteger(), nullable=False),
        sa.Column("block_hash", sa.String(66), nullable=False),
        sa.Column("snapshot_sha256", sa.String(64), nullable=False),
        sa.Column("superseded_by", sa.BigInteger(), nullable=True),
    )
    op.create_table(
        "chain_snapshot",
        sa.Column("snapshot_sha256", sa.String(64), primary_key=True),
        sa.Column("chain", sa.String(16), primary_key=True),
        sa.Column("address", sa.String(128), primary_key=True),
        sa.Column("asset_id", sa.String(48), primary_key=True),
        sa.Column("amount_base", AMOUNT, nullable=False),
        sa.Column("pending_base", AMOUNT, nullable=False),
    )
    op.create_table(
        "chain_alert",
        sa.Column("seq", sa.BigInteger(), primary_key=True, autoincrement=False),
        sa.Column("run_id", sa.String(32), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("severity", sa.String(16), nullable=False),
        sa.Column("chain", sa.String(16), nullable=False),
        sa.Column("address", sa.String(128), nullable=False),
        sa.Column("asset_id", sa.String(48), nullable=False),
        sa.Column("expected_base", AMOUNT, nullable=False),
        sa.Column("observed_base", AMOUNT, nullable=False),
        sa.Column("pending_base", AMOUNT, nullable=False),
        sa.Column("height", sa.BigInteger(), nullable=False),
        sa.Column("block_hash", sa.String(66), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("raised_at", sa.String(32), nullable=False),
        sa.Column("acknowledged_seq", sa.BigInteger(), nullable=True),
        sa.Column("acknowledged_note", sa.Text(), nullable=True),
    )
    op.create_index("ix_chain_alert_open", "chain_alert", ["acknowledged_seq"])
    op.create_table(
        "chain_watch_run",
        sa.Column("run_id", sa.String(32), primary_key=True),
        sa.Column("started_at", sa.String(32), nullable=False),
        sa.Column("finished_at", sa.String(32), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("observation_seq", sa.BigInteger(), nullable=True),
        sa.Column("calls", sa.Integer(), nullable=False),
        sa.Column("alerts", sa.Integer(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("chain_watch_run")
    op.drop_index("ix_chain_alert_open", "chain_alert")
    op.drop_table("chain_alert")
    op.drop_table("chain_snapshot")
    op.drop_table("chain_observation")
