"""Signed checkpoints of the ledger's tree, and their publication to witnesses.

A checkpoint (C2SP tlog-checkpoint) names the origin, the tree size and the root; the ledger
key signs it as a C2SP signed note. The signer never signs a tree that does not extend what
it signed before and what the witnesses cosigned: it keeps its own record outside the
database (`sequestra.ledger.signer`) and proves consistency against it. Witnesses cosign each
new checkpoint (c2sp.org/tlog-witness); a witness that is down delays publication and loses
nothing; a witness that refuses because its history and the ledger disagree is a fork alarm.
With a trust policy, a checkpoint is published once the policy's quorum of valid
cosignatures is met.
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
from sequestra.ledger.note import Ed25519Signer
from sequestra.ledger.policy import (
    CheckpointUntrusted,
    JudgedCosignatures,
    PolicyWitness,
    TrustPolicy,
    judge_cosignatures,
)
from sequestra.ledger.signer import (
    CheckpointSigner,
    ForkDetected,
    Head,
    SignerState,
    SignerStateError,
)
from sequestra.ledger.tables import CHECKPOINT_TABLE, COSIGNATURE_TABLE, ENTRY_TABLE
from sequestra.ledger.timefmt import format_timestamp
from sequestra.ledger.witness import merge_cosignatures
from sequestra.ledger.witness_client import (
    WitnessClientError,
    WitnessFork,
    WitnessRefused,
    fetch_latest,
    push_checkpoint,
)

WITNESS_READ_TIMEOUT_S = 10.0
WITNESS_PUSH_TIMEOUT_S = 10.0


class CheckpointConflict(LedgerError, IntegrityFailure):
    """The tree is not consistent with a checkpoint the ledger signed before."""


@dataclass(frozen=True)
class StoredCheckpoint:
    size: int
    root_hash: bytes
    note: bytes  # signed by the ledger key, with the witnesses' cosignature lines after it
    created_at: str
    # No list of who cosigned: a line in the database proves nothing until a trust policy
    # judges it (`sequestra.ledger.policy.judge_cosignatures`).

    def to_json(self) -> dict[str, object]:
        return {"size": self.size, "root": self.root_hash.hex(), "created_at": self.created_at}


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


def list_checkpoints_newest(
    connection: Connection, offset: int, limit: int
) -> list[StoredCheckpoint]:
    """Checkpoints largest first, a window of them."""
    query = (
        select(CHECKPOINT_TABLE)
        .order_by(CHECKPOINT_TABLE.c.size.desc())
        .offset(offset)
        .limit(limit)
    )
    return [_stored(connection, row) for row in connection.execute(query).all()]


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
    engine: Engine,
    signer: CheckpointSigner,
    now_utc: datetime | None = None,
    *,
    adopt: bool = False,
) -> tuple[StoredCheckpoint, bool]:
    """Sign a checkpoint of the ledger as it is now; returns it and whether it is new.

    Signs only a tree that extends everything held outside the database: the signer's own
    record of what it signed last (`signer.store`), the latest checkpoint each witness
    cosigned as the signer recorded it, and, with a trust policy, the latest checkpoint each
    of the policy's witnesses reports it cosigned (a witness that cannot be reached is
    skipped: the others and the signer's record still bind). The record is written before
    the new checkpoint is stored or sent anywhere.

    Raises ForkDetected (after recording the alarm beside the signer's record) when the tree
    does not extend one of them, or the ledger's identity (origin, key, genesis entry)
    changed; SignerStateError when there is no record but the database holds checkpoints
    (`adopt` starts the record from the database's latest checkpoint, checked against the
    witnesses); LedgerStateError for an empty ledger or a key that is not the ledger key.
    """
    now = now_utc or datetime.now(UTC)
    with signer.store.locked():
        state = signer.store.load()
        reported = _reported_witness_heads(signer)
        try:
            return _sign_locked(engine, signer, state, reported, now, adopt)
        except ForkDetected as fork:
            signer.store.record_alarm(
                {"at": format_timestamp(now), "kind": "fork", "reason": str(fork), **fork.evidence}
            )
            raise


def _sign_locked(
    engine: Engine,
    signer: CheckpointSigner,
    state: SignerState | None,
    reported: dict[str, Head],
    now: datetime,
    adopt: bool,
) -> tuple[StoredCheckpoint, bool]:
    with write_transaction(engine) as connection:
        origin = ledger_origin(connection)
        _require_ledger_key(connection, signer.key)
        size = int(connection.execute(select(func.count()).select_from(ENTRY_TABLE)).scalar_one())
        root = tree.root_at(connection, size)
        genesis = _genesis_leaf(connection)
        latest = get_checkpoint(connection)
        vkey = signer.verifier_key(origin)
        if state is None and latest is not None and not adopt:
            raise SignerStateError(
                f"{signer.store.path}: the signer has no record, but the database holds a"
                f" checkpoint of {latest.size}; restore the record from its backup, or run"
                " `sequestra checkpoint --adopt` to start it from the database's latest"
                " checkpoint (checked against the witnesses)"
            )
        if state is not None:
            _require_same_ledger(state, origin, vkey, genesis)
        trusted = _trusted_heads(state, reported, latest if state is None else None)
        for source, head in trusted:
            _require_extends(connection, source, head, size, root)
        unchanged = latest is not None and (latest.size, latest.root_hash) == (size, root)
        if latest is not None and unchanged and (state is None or state.signed == Head(size, root)):
            signer.store.save(_state(origin, vkey, genesis, latest, state, reported))
            return latest, False
        if latest is not None and latest.size == size:
            raise CheckpointConflict(
                f"the database holds another checkpoint at size {size}: refusing to sign twice"
            )
        note = Checkpoint(origin, size, root).sign([Ed25519Signer(origin, signer.key.private_key)])
        created_at = format_timestamp(now)
        stored = StoredCheckpoint(size, root, note, created_at)
        # Written before the checkpoint leaves the signer: a crash after this line leaves a
        # record one checkpoint ahead of the database, which the next run signs again.
        signer.store.save(_state(origin, vkey, genesis, stored, state, reported))
        connection.execute(
            insert(CHECKPOINT_TABLE),
            {
                "size": size,
                "root_hash": root,
                "note": note.decode("utf-8"),
                "created_at": created_at,
            },
        )
        return stored, True


def _state(
    origin: str,
    vkey: str,
    genesis: bytes,
    stored: StoredCheckpoint,
    previous: SignerState | None,
    reported: dict[str, Head],
) -> SignerState:
    witnesses = dict(previous.witnesses) if previous is not None else {}
    head = Head(stored.size, stored.root_hash)
    state = SignerState(origin, vkey, genesis, head, stored.created_at, witnesses)
    for name, head in reported.items():
        state = state.with_witness(name, head)
    return state


def _require_ledger_key(connection: Connection, ledger_key: SigningKey) -> None:
    genesis = connection.execute(select(ENTRY_TABLE.c.issuer).where(ENTRY_TABLE.c.seq == 0))
    if genesis.scalar() != ledger_key.issuer:
        raise LedgerStateError("the key given is not the ledger key named by the genesis entry")


def _genesis_leaf(connection: Connection) -> bytes:
    found = connection.execute(select(ENTRY_TABLE.c.leaf_hash).where(ENTRY_TABLE.c.seq == 0))
    leaf = found.scalar()
    if leaf is None:
        raise LedgerStateError("the ledger has no genesis entry; run `sequestra init` first")
    return bytes(leaf)


def _require_same_ledger(state: SignerState, origin: str, vkey: str, genesis: bytes) -> None:
    """The origin, the ledger key and the genesis entry are the ledger's identity."""
    for what, recorded, now in (
        ("origin", state.origin, origin),
        ("ledger key", state.ledger_key, vkey),
        ("genesis entry's leaf hash", state.genesis_leaf.hex(), genesis.hex()),
    ):
        if recorded != now:
            raise ForkDetected(
                f"the ledger's {what} is not the one the signer signed for: a new ledger in"
                " the old one's place",
                {"against": "signer record", "field": what, "recorded": recorded, "found": now},
            )


def _trusted_heads(
    state: SignerState | None, reported: dict[str, Head], adopted: StoredCheckpoint | None
) -> list[tuple[str, Head]]:
    heads: list[tuple[str, Head]] = []
    if state is not None:
        heads.append(("the signer's record", state.signed))
        heads += [(f"witness {n} (as recorded)", h) for n, h in sorted(state.witnesses.items())]
    heads += [(f"witness {n}", head) for n, head in sorted(reported.items())]
    if adopted is not None:
        heads.append(
            ("the database's latest checkpoint (adopted)", Head(adopted.size, adopted.root_hash))
        )
    return heads


def _require_extends(
    connection: Connection, source: str, head: Head, size: int, root: bytes
) -> None:
    """Raise ForkDetected unless the tree (size, root) extends `head`, by a consistency proof
    from the stored tree checked against `head`'s root (kept outside the database)."""
    evidence = {
        "against": source,
        "trusted_size": head.size,
        "trusted_root": head.root.hex(),
        "size": size,
        "root": root.hex(),
    }
    if head.size > size:
        raise ForkDetected(
            f"refusing to sign: the ledger has {size} entries, {source} holds a checkpoint"
            f" of {head.size} (entries were removed, or another history replaced it)",
            evidence,
        )
    if head.size == 0:
        return
    try:
        proof = tree.consistency_proof(connection, head.size, size)
        merkle.verify_consistency(head.size, size, proof, head.root, root)
    except merkle.MerkleError as error:
        raise ForkDetected(
            f"refusing to sign: the tree of {size} does not extend the checkpoint of"
            f" {head.size} that {source} holds ({error})",
            {**evidence, "proof_error": str(error)},
        ) from error


def _reported_witness_heads(signer: CheckpointSigner) -> dict[str, Head]:
    """The latest checkpoint each policy witness reports it cosigned, verified under the
    policy (the ledger's signature and that witness's own cosignature); witnesses that
    cannot be reached, or report nothing yet, are left out."""
    policy = signer.policy
    if policy is None:
        return {}
    heads: dict[str, Head] = {}
    for name, witness in sorted(policy.witnesses.items()):
        if witness.url is None:
            continue
        try:
            note = fetch_latest(witness.url, policy.origin, WITNESS_READ_TIMEOUT_S)
        except WitnessClientError:
            continue
        if note is None:
            continue
        try:
            judged = policy.check(note)
        except CheckpointUntrusted:
            continue
        if name in judged.cosigned_by:
            heads[name] = Head(judged.checkpoint.size, judged.checkpoint.root_hash)
    return heads


@dataclass(frozen=True)
class Publication:
    """Where a checkpoint stands with the policy's witnesses."""

    checkpoint: StoredCheckpoint
    cosignatures: JudgedCosignatures  # as the policy judged them
    published: bool  # the policy's quorum of valid cosignatures is met
    pending: dict[str, str]  # witness name -> why it has not cosigned yet (down, slow)
    refused: dict[str, str]  # witness name -> a refusal that is not a fork (misconfigured)
    forks: dict[str, str]  # witness name -> a refusal that is evidence of a fork
    policy: bool  # False: no trust policy, nothing pins this checkpoint

    def to_json(self) -> dict[str, object]:
        return {
            **self.checkpoint.to_json(),
            "cosigned_by": list(self.cosignatures.cosigned_by),
            "rejected": [c.to_json() for c in self.cosignatures.others],
            "published": self.published,
            "pending": self.pending,
            "refused": self.refused,
            "forks": self.forks,
            "policy": self.policy,
        }


def publish(
    engine: Engine,
    checkpoint: StoredCheckpoint,
    signer: CheckpointSigner,
    now_utc: datetime | None = None,
) -> Publication:
    """Push `checkpoint` to every policy witness with a url that has not cosigned it, and
    store each cosignature (after checking it under the policy).

    A witness that is down or slow is pending: nothing is lost and the next call tries again.
    A witness that refuses because its state and the ledger disagree (WitnessFork) is a fork:
    the alarm is recorded beside the signer's record and ForkDetected is raised once every
    witness was tried. Published means the policy's quorum of valid cosignatures is met.
    """
    policy = signer.policy
    pending: dict[str, str] = {}
    refused: dict[str, str] = {}
    forks: dict[str, str] = {}
    now = now_utc or datetime.now(UTC)
    if policy is not None:
        ledger_note = _ledger_note(engine, checkpoint.size)
        done = set(_valid_cosigners(policy, checkpoint))
        for name, witness in sorted(policy.witnesses.items()):
            if witness.url is None or name in done:
                continue
            try:
                lines = _push(engine, signer, ledger_note, checkpoint, name, witness)
            except WitnessFork as error:
                forks[name] = str(error)
                continue
            except WitnessRefused as error:
                refused[name] = str(error)
                continue
            except WitnessClientError as error:
                pending[name] = str(error)
                continue
            _store_cosignature(engine, checkpoint.size, name, lines, now)
            _remember_witness(signer, name, Head(checkpoint.size, checkpoint.root_hash))
    with read_transaction(engine) as connection:
        current = get_checkpoint(connection, checkpoint.size)
    if current is None:
        raise LedgerStateError(f"checkpoint {checkpoint.size} vanished")
    judged = judge_cosignatures(policy, current.note)
    published = judged.quorum_met is True
    publication = Publication(
        current, judged, published, pending, refused, forks, policy is not None
    )
    if forks:
        evidence = {
            "against": "witnesses " + ", ".join(sorted(forks)),
            "size": checkpoint.size,
            "root": checkpoint.root_hash.hex(),
            "refusals": forks,
        }
        reason = (
            f"witness(es) {', '.join(sorted(forks))} refused the checkpoint of"
            f" {checkpoint.size}: their cosigned history and this ledger disagree (a fork)"
        )
        signer.store.record_alarm(
            {"at": format_timestamp(now), "kind": "witness_refused", "reason": reason, **evidence}
        )
        raise ForkDetected(reason, {**evidence, "publication": publication.to_json()})
    return publication


def _valid_cosigners(policy: TrustPolicy, checkpoint: StoredCheckpoint) -> tuple[str, ...]:
    try:
        return policy.check(checkpoint.note).cosigned_by
    except CheckpointUntrusted:
        return ()


def _remember_witness(signer: CheckpointSigner, name: str, head: Head) -> None:
    with signer.store.locked():
        state = signer.store.load()
        if state is not None:
            signer.store.save(state.with_witness(name, head))


def _ledger_note(engine: Engine, size: int) -> bytes:
    with read_transaction(engine) as connection:
        note = connection.execute(
            select(CHECKPOINT_TABLE.c.note).where(CHECKPOINT_TABLE.c.size == size)
        ).scalar_one()
    return str(note).encode("utf-8")


def _push(
    engine: Engine,
    signer: CheckpointSigner,
    note: bytes,
    checkpoint: StoredCheckpoint,
    name: str,
    witness: PolicyWitness,
) -> list[str]:
    """Send the checkpoint with a proof from the size the signer recorded for the witness
    (its 409 corrects a stale record once)."""
    state = signer.store.load()
    known = None if state is None else state.witnesses.get(name)
    old_size = 0 if known is None or known.size > checkpoint.size else known.size

    def proof_for(old: int) -> list[bytes]:
        with read_transaction(engine) as reader:
            return tree.consistency_proof(reader, old, checkpoint.size)

    if witness.url is None:
        raise ValueError(f"witness {name}: has no url (an offline witness is not pushed to)")
    return push_checkpoint(
        witness.url, note, old_size, proof_for, WITNESS_PUSH_TIMEOUT_S, verifiers=[witness.verifier]
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
