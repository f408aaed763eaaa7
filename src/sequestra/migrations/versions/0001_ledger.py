"""Ledger entries (append-only, enforced by triggers) and the key registry.

Revision ID: 0001_ledger
Revises:
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001_ledger"
down_revision = None
branch_labels = None
depends_on = None

_SQLITE_TRIGGERS = (
    """CREATE TRIGGER ledger_entry_no_update BEFORE UPDATE ON ledger_entry
       BEGIN SELECT RAISE(ABORT, 'ledger_entry is append-only: UPDATE refused'); END""",
    """CREATE TRIGGER ledger_entry_no_delete BEFORE DELETE ON ledger_entry
       BEGIN SELECT RAISE(ABORT, 'ledger_entry is append-only: DELETE refused'); END""",
)
_POSTGRES_TRIGGERS = (
    """CREATE FUNCTION sequestra_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
       BEGIN
         RAISE EXCEPTION '% is append-only: % refused', TG_TABLE_NAME, TG_OP
           USING ERRCODE = 'insufficient_privilege';
       END $$""",
    """CREATE TRIGGER ledger_entry_append_only BEFORE UPDATE OR DELETE ON ledger_entry
       FOR EACH ROW EXECUTE FUNCTION sequestra_refuse_change()""",
    """CREATE TRIGGER ledger_entry_no_truncate BEFORE TRUNCATE ON ledger_entry
       FOR EACH STATEMENT EXECUTE FUNCTION sequestra_refuse_change()""",
)


def upgrade() -> None:
    op.create_table(
        "ledger_entry",
        sa.Column("seq", sa.BigInteger(), primary_key=True, autoincrement=False),
        sa.Column("recorded_at", sa.String(32), nullable=False),
        sa.Column("leaf_hash", sa.LargeBinary(32), nullable=False, unique=True),
        sa.Column("issuer", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(64), nullable=False),
        sa.Column("nonce", sa.String(128), nullable=False),
        sa.Column("entry", sa.LargeBinary(), nullable=False),
        sa.UniqueConstraint("issuer", "nonce", name="uq_ledger_entry_issuer_nonce"),
    )
    op.create_index("ix_ledger_entry_kind", "ledger_entry", ["kind"])
    op.create_table(
        "ledger_key",
        sa.Column("issuer", sa.String(64), primary_key=True),
        sa.Column("public_key", sa.String(44), nullable=False),
        sa.Column("roles", sa.String(256), nullable=False),
        sa.Column("label", sa.String(128), nullable=False),
        sa.Column("valid_from", sa.String(32), nullable=False),
        sa.Column("enrolled_seq", sa.BigInteger(), nullable=False),
        sa.Column("revoked_seq", sa.BigInteger(), nullable=True),
        sa.Column("revoked_reason", sa.String(1024), nullable=True),
    )
    triggers = (
        _POSTGRES_TRIGGERS if op.get_bind().dialect.name == "postgresql" else _SQLITE_TRIGGERS
    )
    for statement in triggers:
        op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER ledger_entry_no_truncate ON ledger_entry")
        op.execute("DROP TRIGGER ledger_entry_append_only ON ledger_entry")
        op.execute("DROP FUNCTION sequestra_refuse_change()")
    op.drop_table("ledger_key")
    op.drop_index("ix_ledger_entry_kind", "ledger_entry")
    op.drop_table("ledger_entry")
