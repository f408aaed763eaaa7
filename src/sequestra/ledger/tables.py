"""SQLModel tables of the ledger: entries (append-only) and the key registry projection."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    Index,
    LargeBinary,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
)
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


class LedgerTreeNode(SQLModel, table=True):
    """A complete Merkle subtree hash above the leaves: 2**level leaves from index*2**level.

    Leaf hashes (level 0) live in `ledger_entry.leaf_hash`; this table holds levels >= 1,
    written in the append's transaction, append-only like the entries.
    """

    __tablename__ = "ledger_tree_node"

    level: int = Field(sa_column=Column(SmallInteger, primary_key=True, autoincrement=False))
    idx: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    hash: bytes = Field(sa_column=Column(LargeBinary(32), nullable=False))


class LedgerCheckpoint(SQLModel, table=True):
    """A signed checkpoint (C2SP tlog-checkpoint as a signed note by the ledger key)."""

    __tablename__ = "ledger_checkpoint"

    size: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    root_hash: bytes = Field(sa_column=Column(LargeBinary(32), nullable=False))
    note: str = Field(sa_column=Column(Text, nullable=False))
    created_at: str = Field(sa_column=Column(String(32), nullable=False))


class LedgerCosignature(SQLModel, table=True):
    """A witness's cosignature line (C2SP tlog-cosignature) on a stored checkpoint."""

    __tablename__ = "ledger_cosignature"

    size: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    witness: str = Field(sa_column=Column(String(255), primary_key=True))
    line: str = Field(sa_column=Column(Text, nullable=False))
    received_at: str = Field(sa_column=Column(String(32), nullable=False))


NODE_TABLE = LedgerTreeNode.__table__  # type: ignore[attr-defined]
CHECKPOINT_TABLE = LedgerCheckpoint.__table__  # type: ignore[attr-defined]
COSIGNATURE_TABLE = LedgerCosignature.__table__  # type: ignore[attr-defined]
