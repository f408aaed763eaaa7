"""Tables of the watcher: observations and alerts (a projection of the entries), the
balance snapshots observations commit to by hash, and the log of watch runs.

`chain_snapshot` rows are written before the observation that names their hash is
appended, so a crash between the two leaves only an unreferenced snapshot; `verify` hashes
every referenced snapshot again. `chain_watch_run` is an operating log (failed runs too),
not part of the ledger.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Index, Integer, String, Text
from sqlmodel import Field, SQLModel

from sequestra.custody.amounts import AMOUNT_TEXT_LENGTH


class ChainObservation(SQLModel, table=True):
    """One chain's block in one observation entry; `superseded_by` after a reorg."""

    __tablename__ = "chain_observation"

    seq: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    chain: str = Field(sa_column=Column(String(16), primary_key=True))
    run_id: str = Field(sa_column=Column(String(32), nullable=False))
    network: str = Field(sa_column=Column(String(32), nullable=False))
    height: int = Field(sa_column=Column(BigInteger, nullable=False))
    block_hash: str = Field(sa_column=Column(String(66), nullable=False))
    snapshot_sha256: str = Field(sa_column=Column(String(64), nullable=False))
    superseded_by: int | None = Field(default=None, sa_column=Column(BigInteger))


class ChainSnapshot(SQLModel, table=True):
    """A balance in a snapshot; a snapshot is named by the SHA-256 of its canonical form."""

    __tablename__ = "chain_snapshot"

    snapshot_sha256: str = Field(sa_column=Column(String(64), primary_key=True))
    chain: str = Field(sa_column=Column(String(16), primary_key=True))
    address: str = Field(sa_column=Column(String(128), primary_key=True))
    asset_id: str = Field(sa_column=Column(String(48), primary_key=True))
    amount_base: str = Field(sa_column=Column(String(AMOUNT_TEXT_LENGTH), nullable=False))
    pending_base: str = Field(sa_column=Column(String(AMOUNT_TEXT_LENGTH), nullable=False))


class ChainAlert(SQLModel, table=True):
    __tablename__ = "chain_alert"
    __table_args__ = (Index("ix_chain_alert_open", "acknowledged_seq"),)

    seq: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    run_id: str = Field(sa_column=Column(String(32), nullable=False))
    kind: str = Field(sa_column=Column(String(32), nullable=False))
    severity: str = Field(sa_column=Column(String(16), nullable=False))
    chain: str = Field(sa_column=Column(String(16), nullable=False))
    address: str = Field(sa_column=Column(String(128), nullable=False))
    asset_id: str = Field(sa_column=Column(String(48), nullable=False))
    expected_base: str = Field(sa_column=Column(String(AMOUNT_TEXT_LENGTH), nullable=False))
    observed_base: str = Field(sa_column=Column(String(AMOUNT_TEXT_LENGTH), nullable=False))
    pending_base: str = Field(sa_column=Column(String(AMOUNT_TEXT_LENGTH), nullable=False))
    height: int = Field(sa_column=Column(BigInteger, nullable=False))
    block_hash: str = Field(sa_column=Column(String(66), nullable=False))
    message: str = Field(sa_column=Column(Text, nullable=False))
    raised_at: str = Field(sa_column=Column(String(32), nullable=False))
    acknowledged_seq: int | None = Field(default=None, sa_column=Column(BigInteger))
    acknowledged_note: str | None = Field(default=None, sa_column=Column(Text))


class ChainWatchRun(SQLModel, table=True):
    """Every watch run, failed ones included, with what it cost."""

    __tablename__ = "chain_watch_run"

    run_id: str = Field(sa_column=Column(String(32), primary_key=True))
    started_at: str = Field(sa_column=Column(String(32), nullable=False))
    finished_at: str = Field(sa_column=Column(String(32), nullable=False))
    status: str = Field(sa_column=Column(String(16), nullable=False))
    reason: str | None = Field(default=None, sa_column=Column(Text))
    observation_seq: int | None = Field(default=None, sa_column=Column(BigInteger))
    calls: int = Field(sa_column=Column(Integer, nullable=False))
    alerts: int = Field(sa_column=Column(Integer, nullable=False))


OBSERVATION_TABLE = ChainObservation.__table__  # type: ignore[attr-defined]
SNAPSHOT_TABLE = ChainSnapshot.__table__  # type: ignore[attr-defined]
ALERT_TABLE = ChainAlert.__table__  # type: ignore[attr-defined]
RUN_TABLE = ChainWatchRun.__table__  # type: ignore[attr-defined]
