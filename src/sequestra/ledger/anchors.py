"""Anchors: blockchain transactions that carry a checkpoint's root, recorded append-only.

A chain adapter (`sequestra.chains.<chain>.anchor`) sends the transaction and returns an
AnchorReceipt; `record_anchor` checks that the payload names a checkpoint this ledger signed
(origin, size and root) and stores it. The ledger never talks to a chain itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import (
    BigInteger,
    Column,
    Connection,
    Engine,
    ForeignKey,
    Index,
    LargeBinary,
    String,
    insert,
    select,
)
from sqlmodel import Field, SQLModel

from sequestra.ledger.anchor_payload import (
    ANCHOR_PAYLOAD_BYTES_MAX,
    AnchorPayloadError,
    parse_anchor_payload,
)
from sequestra.ledger.checkpoints import get_checkpoint, ledger_origin
from sequestra.ledger.db import read_transaction, write_transaction
from sequestra.ledger.errors import LedgerStateError
from sequestra.ledger.timefmt import format_timestamp

CHAIN_NAME_CHARS_MAX = 32
TX_HASH_CHARS_MAX = 128
BLOCK_HASH_CHARS_MAX = 128
ANCHORS_LISTED_MAX = 100_000


class LedgerAnchor(SQLModel, table=True):
    """A transaction on `chain` whose payload anchors the checkpoint of `size`."""

    __tablename__ = "ledger_anchor"
    __table_args__ = (Index("ix_ledger_anchor_size", "size"),)

    chain: str = Field(sa_column=Column(String(CHAIN_NAME_CHARS_MAX), primary_key=True))
    tx_hash: str = Field(sa_column=Column(String(TX_HASH_CHARS_MAX), primary_key=True))
    size: int = Field(
        sa_column=Column(
            BigInteger,
            ForeignKey("ledger_checkpoint.size", name="fk_ledger_anchor_size"),
            nullable=False,
        )
    )
    block_number: int = Field(sa_column=Column(BigInteger, nullable=False))
    block_hash: str = Field(sa_column=Column(String(BLOCK_HASH_CHARS_MAX), nullable=False))
    payload: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    recorded_at: str = Field(sa_column=Column(String(32), nullable=False))


ANCHOR_TABLE = LedgerAnchor.__table__  # type: ignore[attr-defined]


@dataclass(frozen=True)
class AnchorReceipt:
    """What a chain reports about a confirmed anchor transaction.

    `tx_hash` and `block_hash` are in the chain's usual text form (Ethereum: 0x-prefixed
    lowercase hex); `data` is the anchor payload the transaction carries.
    """

    chain: str
    tx_hash: str
    block_number: int
    block_hash: str
    data: bytes

    def to_json(self) -> dict[str, object]:
        return {
            "chain": self.chain,
            "tx_hash": self.tx_hash,
            "block_number": self.block_number,
            "block_hash": self.block_hash,
            "payload": self.data.decode("utf-8", errors="replace"),
        }


@dataclass(frozen=True)
class StoredAnchor:
    """A recorded anchor of the checkpoint of `size`."""

    chain: str
    tx_hash: str
    size: int
    block_number: int
    block_hash: str
    payload: bytes
    recorded_at: str

    def to_json(self) -> dict[str, object]:
        return {
            "chain": self.chain,
            "tx_hash": self.tx_hash,
            "size": self.size,
            "block_number": self.block_number,
            "block_hash": self.block_hash,
            "payload": self.payload.decode("utf-8", errors="replace"),
            "recorded_at": self.recorded_at,
        }


def record_anchor(
    engine: Engine, receipt: AnchorReceipt, size: int, now_utc: datetime | None = None
) -> StoredAnchor:
    """Record that `receipt` anchors the ledger's checkpoint of `size`; idempotent.

    Checks before writing that the payload is a well-formed anchor payload naming this
    ledger's origin, `size` and the root of the signed checkpoint of `size`. Raises
    LedgerStateError when the receipt is malformed, no checkpoint of `size` exists, the
    payload names another checkpoint, or the transaction was recorded with other details.
    """
    _check_receipt_fields(receipt)
    try:
        payload = parse_anchor_payload(receipt.data)
    except AnchorPayloadError as error:
        raise LedgerStateError(f"anchor {receipt.tx_hash}: {error}") from error
    with write_transaction(engine) as connection:
        origin = ledger_origin(connection)
        checkpoint = get_checkpoint(connection, size)
        if checkpoint is None:
            raise LedgerStateError(f"anchor: no signed checkpoint of size {size}")
        expected = (origin, checkpoint.size, checkpoint.root_hash)
        if tuple(payload) != expected:
            raise LedgerStateError(
                f"anchor {receipt.tx_hash}: expected the payload of checkpoint"
                f" ({origin}, {size}, {checkpoint.root_hash.hex()}), got"
                f" ({payload.origin}, {payload.size}, {payload.root_hash.hex()})"
            )
        existing = _get(connection, receipt.chain, receipt.tx_hash)
        if existing is not None:
            return _same_or_raise(existing, receipt, size)
        stored = StoredAnchor(
            receipt.chain,
            receipt.tx_hash,
            size,
            receipt.block_number,
            receipt.block_hash,
            bytes(receipt.data),
            format_timestamp(now_utc or datetime.now(UTC)),
        )
        connection.execute(insert(ANCHOR_TABLE), {**vars(stored)})
    return stored


def list_anchors(
    engine: Engine, chain: str | None = None, size: int | None = None
) -> list[StoredAnchor]:
    """Return the recorded anchors (of `chain` and `size`, or all), by size, chain, block.

    Raises LedgerStateError when more than ANCHORS_LISTED_MAX anchors would be returned.
    """
    query = select(ANCHOR_TABLE).order_by(
        ANCHOR_TABLE.c.size, ANCHOR_TABLE.c.chain, ANCHOR_TABLE.c.block_number
    )
    if chain is not None:
        query = query.where(ANCHOR_TABLE.c.chain == chain)
    if size is not None:
        query = query.where(ANCHOR_TABLE.c.size == size)
    with read_transaction(engine) as connection:
        rows = connection.execute(query.limit(ANCHORS_LISTED_MAX + 1)).all()
    if len(rows) > ANCHORS_LISTED_MAX:
        raise LedgerStateError(f"more than {ANCHORS_LISTED_MAX} anchors; list by chain")
    return [_stored(row) for row in rows]


def _check_receipt_fields(receipt: AnchorReceipt) -> None:
    if not receipt.chain or len(receipt.chain) > CHAIN_NAME_CHARS_MAX:
        raise LedgerStateError(f"anchor: chain name must be 1..{CHAIN_NAME_CHARS_MAX} characters")
    if not receipt.tx_hash or len(receipt.tx_hash) > TX_HASH_CHARS_MAX:
        raise LedgerStateError(f"anchor: tx hash must be 1..{TX_HASH_CHARS_MAX} characters")
    if not receipt.block_hash or len(receipt.block_hash) > BLOCK_HASH_CHARS_MAX:
        raise LedgerStateError(f"anchor: block hash must be 1..{BLOCK_HASH_CHARS_MAX} characters")
    if isinstance(receipt.block_number, bool) or receipt.block_number < 0:
        raise LedgerStateError(f"anchor: expected a block number >= 0, got {receipt.block_number}")
    if len(receipt.data) > ANCHOR_PAYLOAD_BYTES_MAX:
        raise LedgerStateError(f"anchor: payload larger than {ANCHOR_PAYLOAD_BYTES_MAX} bytes")


def _get(connection: Connection, chain: str, tx_hash: str) -> StoredAnchor | None:
    row = connection.execute(
        select(ANCHOR_TABLE).where(ANCHOR_TABLE.c.chain == chain, ANCHOR_TABLE.c.tx_hash == tx_hash)
    ).first()
    return None if row is None else _stored(row)


def _same_or_raise(existing: StoredAnchor, receipt: AnchorReceipt, size: int) -> StoredAnchor:
    recorded = (existing.size, existing.block_number, existing.block_hash, existing.payload)
    given = (size, receipt.block_number, receipt.block_hash, bytes(receipt.data))
    if recorded != given:
        raise LedgerStateError(
            f"anchor {receipt.chain} {receipt.tx_hash} is already recorded at block"
            f" {existing.block_number} {existing.block_hash} for size {existing.size};"
            f" got block {receipt.block_number} {receipt.block_hash} for size {size}"
        )
    return existing


def _stored(row: object) -> StoredAnchor:
    return StoredAnchor(
        row.chain,  # type: ignore[attr-defined]
        row.tx_hash,  # type: ignore[attr-defined]
        int(row.size),  # type: ignore[attr-defined]
        int(row.block_number),  # type: ignore[attr-defined]
        row.block_hash,  # type: ignore[attr-defined]
        bytes(row.payload),  # type: ignore[attr-defined]
        row.recorded_at,  # type: ignore[attr-defined]
    )
