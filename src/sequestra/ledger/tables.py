"""SQLModel tables of the ledger: entries (append-only) and the key registry projection."""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Index, LargeBinary, String, UniqueConstraint
from sqlmodel import Field, SQLModel


class LedgerEntry(SQLModel, table=True):
    """One entry. `entry` holds JCS(E) exactly; the other columns index it."""

    __tablename__ = "ledger_entry"
    __table_args__ = (
        UniqueConstraint("issuer", "nonce", name="uq_ledger_entry_issuer_nonce"),
        Index("ix_ledger_entry_kind", "kind"),
    )

    seq: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    recorded_at: str = Field(sa_column=Column(String(32), nullable=False))
    leaf_hash: bytes = Field(sa_column=Column(LargeBinary(32), nullable=False, unique=True))
    issuer: str = Field(sa_column=Column(String(64), nullable=False))
    kind: str = Field(sa_column=Column(String(64), nullable=False))
    nonce: str = Field(sa_column=Column(String(128), nullable=False))
    entry: bytes = Field(sa_column=Column(LargeBinary, nullable=False))


class LedgerKey(SQLModel, table=True):
    """Projection: every key the ledger has enrolled, with roles and revocation."""

    __tablename__ = "ledger_key"

    issuer: str = Field(sa_column=Column(String(64), primary_key=True))
    public_key: str = Field(sa_column=Column(String(44), nullable=False))
    roles: str = Field(sa_column=Column(String(256), nullable=False))  # comma-separated
    label: str = Field(sa_column=Column(String(128), nullable=False))
    valid_from: str = Field(sa_column=Column(String(32), nullable=False))
    enrolled_seq: int = Field(sa_column=Column(BigInteger, nullable=False))
    revoked_seq: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    revoked_reason: str | None = Field(default=None, sa_column=Column(String(1024)))


ENTRY_TABLE = LedgerEntry.__table__  # type: ignore[attr-defined]
KEY_TABLE = LedgerKey.__table__  # type: ignore[attr-defined]
