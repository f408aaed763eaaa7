"""Signed checkpoints of the ledger's tree, and their publication to witnesses.

A checkpoint (C2SP tlog-checkpoint) names the origin, the tree size and the root; the ledger
key signs it as a C2SP signed note. The ledger never signs a checkpoint inconsistent with
the last one it signed: it proves consistency from its own stored tree first. Witnesses
cosign each new checkpoint; a witness that is down delays publication and loses nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Connection, Engine, func, insert, select

from sequestra.errors import IntegrityFailure
from sequestra.ledger import merkle, tree
from sequestra.ledger.canonical import parse_json
from sequestra.ledger.checkpoint import Checkpoint
from sequestra.ledger.db import read_transaction, write_transaction
from sequestra.ledger.errors import LedgerError, LedgerStateError
from sequestra.ledger.keys import SigningKey
from sequestra.ledger.note import CosignatureVerifier, Ed25519Signer, parse_verifier_key
from sequestra.ledger.tables import CHECKPOINT_TABLE, COSIGNATURE_TABLE, ENTRY_TABLE
from sequestra.ledger.timefmt import format_timestamp
from sequestra.ledger.witness import merge_cosignatures
from sequestra.ledger.witness_client import WitnessClientError, push_checkpoint


class CheckpointConflict(LedgerError, IntegrityFailure):
    """The tree is not consistent with a checkpoint the ledger signed before."""


@dataclass(frozen=True)
class WitnessTarget:
    """A witness the ledger pushes checkpoints to."""

    url: str
    vkey: str
    required: bool = True
    timeout_s: float = 10.0

    @property
    def name(self) -> str:
        return parse_verifier_key(self.vkey).name

    def verifier(self) -> CosignatureVerifier:
        key = parse_verifier_key(self.vkey)
        if key.signature_type != 0x04:
            raise LedgerStateError(f"witness {key.name}: expected a cosignature (type 0x04) key")
        return CosignatureVerifier(key.name, key.public_key)


@dataclass(frozen=True)
class StoredCheckpoint:
    size: int
    root_hash: bytes
    note: bytes  # signed by the ledger key, with the witnesses' cosignature lines after it
    created_at: str
    cosigned_by: tuple[str, ...]

    def to_json(self) -> dict[str, object]:
        return {
            "size": self.size,
            "root": self.root_hash.hex(),
            "created_at": self.created_at,
            "cosigned_by": list(self.cosigned_by),
        }


def ledger_origin(connection: Connection) -> str:
    """Return the origin named by the genesis entry; raises LedgerStateError when empty."""
    data = connection.execute(select(ENTRY_TABLE.c.entry).where(ENTRY_TABLE.c.seq == 0)).scalar()
    if data is None:
        raise LedgerStateError("the ledger has no genesis entry; run `sequestra init` first")
    origin = parse_json(bytes(data))["statement"]["body"]["origin"]
    if not isinstance(origin, str):
        raise LedgerStateError("the genesis entry has no origin")
    return origin


def _stored(connection: Connection, row: object) -> StoredCheckpoint:
    size = row.size  # type: ignore[attr-defined]
    cosignatures = connection.execute(
        select(COSIGNATURE_TABLE.c.witness, COSIGNATURE_TABLE.c.line)
        .where(COSIGNATURE_TABLE.c.size == size)
        .order_by(COSIGNATURE_TABLE.c.witness)
    ).all()
    note = row.note.encode("utf-8")  # type: ignore[attr-defined]
    if cosignatures:
        note = merge_cosignatures(note, [c.line for c in cosignatures])
    return StoredCheckpoint(
        size,
        bytes(row.root_hash),  # type: ignore[attr-defined]
        note,
        row.created_at,  # type: ignore[attr-defined]
        tuple(c.witness for c in cosignatures),
    )


def get_checkpoint(connection: Connection, size: int | None = None) -> StoredCheckpoint | None:
    """Return the checkpoint of `size`, or the latest when size is None."""
    query = select(CHECKPOINT_TABLE)
    if size is None:
        query = query.order_by(CHECKPOINT_TABLE.c.size.desc()).limit(1)
    else:
        query = query.where(CHECKPOINT_TABLE.c.size == size)
    row = connection.execute(query).first()
    return None if row is None else _stored(connection, row)


def recent_checkpoints(connection: Connection, limit: int) -> list[StoredCheckpoint]:
    """The `limit` largest checkpoints, largest first."""
    query = select(CHECKPOINT_TABLE).order_by(CHECKPOINT_TABLE.c.size.desc()).limit(limit)
    return [_stored(connection, row) for row in connection.execute(query).all()]


def list_checkpoints(connection: Connection, size_max: int | None = None) -> list[StoredCheckpoint]:
    query = select(CHECKPOINT_TABLE).order_by(CHECKPOINT_TABLE.c.size)
    if size_max is not None:
        query = query.where(CHECKPOINT_TABLE.c.size <= size_max)
    return [_stored(connection, row) for row in connection.execute(query).all()]


def create_checkpoint(
    engine: Engine, ledger_key: SigningKey, now_utc: datetime | None = None
) -> tuple[StoredCheckpoint, bool]:
    """Sign a checkpoint of the ledger as it is now; returns it and whether it is new.

    Takes the append lock so the size and root belong together. Raises LedgerStateError for
    an empty ledger or a key that is not the ledger key, CheckpointConflict when the tree is
    not consistent with the last signed checkpoint (nothing is signed then).
    """
    now = now_utc or datetime.now(UTC)
    with write_transaction(engine) as connection:
        origin = ledger_origin(connection)
        _require_ledger_key(connection, ledger_key)
        size = int(connection.execute(select(func.count()).select_from(ENTRY_TABLE)).scalar_one())
        root = tree.root_at(connection, size)
        latest = get_checkpoint(connection)
        if latest is not None:
            if latest.size == size and latest.root_hash == root:
                return latest, False
            _require_consistent(connection, latest, size, root)
        signer = Ed25519Signer(origin, ledger_key.private_key)
        note = Checkpoint(origin, size, root).sign([signer])
        created_at = format_timestamp(now)
        connection.execute(
            insert(CHECKPOINT_TABLE),
            {
                "size": size,
                "root_hash": root,
                "note": note.decode("utf-8"),
                "created_at": created_at,
            },
        )
        return StoredCheckpoint(size, root, note, created_at, ()), True


def _require_ledger_key(connection: Connection, ledger_key: SigningKey) -> None:
    genesis = connection.execute(select(ENTRY_TABLE.c.issuer).where(ENTRY_TABLE.c.seq == 0))
    if genesis.scalar() != ledger_key.issuer:
        raise LedgerStateError("the key given is not the ledger key named by the genesis entry")


def _require_consistent(
    connection: Connection, latest: StoredCheckpoint, size: int, root: bytes
) -> None:
    if size < latest.size:
        raise CheckpointConflict(
            f"the ledger has {size} entries but a checkpoint of {latest.size} was signed"
        )
    try:
        proof = tree.consistency_proof(connection, latest.size, size)
        merkle.verify_consistency(latest.size, size, proof, latest.root_hash, root)
    except merkle.MerkleError as error:
        raise CheckpointConflict(
            f"refusing to sign: the tree at {size} is not consistent with the checkpoint at"
            f" {latest.size} ({error})"
        ) from error


@dataclass(frozen=True)
class Publication:
    """Where a checkpoint stands with its witnesses."""

    checkpoint: StoredCheckpoint
    published: bool
    pending: dict[str, str]  # witness name -> why it has not cosigned (yet)

    def to_json(self) -> dict[str, object]:
        return {**self.checkpoint.to_json(), "published": self.published, "pending": self.pending}


def publish(
    engine: Engine,
    checkpoint: StoredCheckpoint,
    witnesses: Sequence[WitnessTarget],
    now_utc: datetime | None = None,
) -> Publication:
    """Push `checkpoint` to every witness that has not cosigned it and store cosignatures.

    A witness that is down, slow or refuses is reported in `pending`; nothing is lost and
    the next call tries again. Published means every required witness has cosigned.
    """
    pending: dict[str, str] = {}
    ledger_note = _ledger_note(engine, checkpoint.size)
    for witness in witnesses:
        if witness.name in checkpoint.cosigned_by:
            continue
        try:
            lines = _push(engine, ledger_note, checkpoint.size, witness)
        except WitnessClientError as error:
            pending[witness.name] = str(error)
            continue
        _store_cosignature(engine, checkpoint.size, witness.name, lines, now_utc)
    with read_transaction(engine) as connection:
        current = get_checkpoint(connection, checkpoint.size)
    if current is None:
        raise LedgerStateError(f"checkpoint {checkpoint.size} vanished")
    required = {w.name for w in witnesses if w.required}
    return Publication(current, required.issubset(current.cosigned_by), pending)


def _ledger_note(engine: Engine, size: int) -> bytes:
    with read_transaction(engine) as connection:
        note = connection.execute(
            select(CHECKPOINT_TABLE.c.note).where(CHECKPOINT_TABLE.c.size == size)
        ).scalar_one()
    return str(note).encode("utf-8")


def _push(engine: Engine, note: bytes, size: int, witness: WitnessTarget) -> list[str]:
    with read_transaction(engine) as connection:
        old_size = connection.execute(
            select(func.max(COSIGNATURE_TABLE.c.size)).where(
                COSIGNATURE_TABLE.c.witness == witness.name
            )
        ).scalar()

    def proof_for(old: int) -> list[bytes]:
        with read_transaction(engine) as reader:
            return tree.consistency_proof(reader, old, size)

    return push_checkpoint(
        witness.url,
        note,
        int(old_size or 0),
        proof_for,
        witness.timeout_s,
        verifiers=[witness.verifier()],
    )


def _store_cosignature(
    engine: Engine, size: int, witness: str, lines: Sequence[str], now_utc: datetime | None
) -> None:
    if not lines:
        return
    with write_transaction(engine) as connection:
        exists = connection.execute(
            select(COSIGNATURE_TABLE.c.size).where(
                COSIGNATURE_TABLE.c.size == size, COSIGNATURE_TABLE.c.witness == witness
            )
        ).first()
        if exists is None:
            connection.execute(
                insert(COSIGNATURE_TABLE),
                {
                    "size": size,
                    "witness": witness,
                    "line": lines[0],
                    "received_at": format_timestamp(now_utc or datetime.now(UTC)),
                },
            )
