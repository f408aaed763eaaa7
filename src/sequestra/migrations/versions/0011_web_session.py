"""Page sessions kept on the server: the SHA-256 of each session id, the token it was opened
with, its role, when it was opened, last seen and ended, and why it ended.

Revision ID: 0011_web_session
Revises: 0010_fair_value
Create Date: 2026-12-15
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011_web_session"
down_revision = "0010_fair_value"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "web_session",
        sa.Column("session_hash", sa.String(64), primary_key=True),
        sa.Column(
            "token_hash", sa.String(64), sa.ForeignKey("api_token.token_hash"), nullable=False
        ),
        sa.Column("role", sa.String(32), nullable=False),
        sa.Column("created_at", sa.String(32), nullable=False),
        sa.Column("last_seen_at", sa.String(32), nullable=False),
        sa.Column("ended_at", sa.String(32), nullable=True),
        sa.Column("end_reason", sa.String(16), nullable=True),
    )
    op.create_index("ix_web_session_token_hash", "web_session", ["token_hash"])


def downgrade() -> None:
    op.drop_index("ix_web_session_token_hash", table_name="web_session")
    op.drop_table("web_session")
