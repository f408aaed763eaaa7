"""Checkpoints: signed only when the tree extends what the signer and the witnesses hold,
published once the trust policy's quorum of witnesses cosigned."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
from sqlalchemy import text

from sequestra.ledger import merkle, tree
from sequestra.ledger.checkpoint import Checkpoint
from sequestra.ledger.checkpoints import create_checkpoint, get_checkpoint, publish
from sequestra.ledger.db import read_transaction
from sequestra.ledger.errors import LedgerStateError
from sequestra.ledger.keys import SigningKey
from sequestra.ledger.note import Ed25519Verifier, format_verifier_key, open_note
from sequestra.ledger.policy import TrustPolicy, parse_policy
from sequestra.ledger.signer import CheckpointSigner, ForkDetected, SignerStateError, SignerStore
from sequestra.ledger.witness import Witness, WitnessState
from tests.conftest import LedgerWorld
from tests.service.test_witness_app import serving

ORIGIN = "test.sequestra.example/log"


def ledger_verifier(world: LedgerWorld) -> Ed25519Verifier:
    return Ed25519Verifier(ORIGIN, world.ledger_key.public_key_raw)


def policy_for(
    world: LedgerWorld, witnesses: list[tuple[str, str, str | None]], quorum: str
) -> TrustPolicy:
    """A trust policy naming the world's ledger key and these (name, vkey, url) witnesses."""
    lines = [f"log {format_verifier_key(ORIGIN, 0x01, world.ledger_key.public_key_raw)}"]
    lines += [f"witness {name} {vkey} {url or ''}".rstrip() for name, vkey, url in witnesses]
    if len(witnesses) > 1 and quorum not in {name for name, _, _ in witnesses}:
        lines.append(f"group {quorum} any {' '.join(name for name, _, _ in witnesses)}")
    lines.append(f"quorum {quorum}")
    return parse_policy("\n".join(lines) + "\n", "test policy")


def signer_with(world: LedgerWorld, policy: TrustPolicy | None) -> CheckpointSigner:
    return CheckpointSigner(world.ledger_key, SignerStore(world.signer_state), policy)


def test_checkpoint_is_signed_consistent_and_idempotent(world: LedgerWorld) -> None:
    first, created = create_checkpoint(world.engine, world.signer)
    assert created and first.size == 2
    note = open_note(first.note, [ledger_verifier(world)])
    parsed = Checkpoint.parse(note.text)
    assert (parsed.origin, parsed.size, parsed.root_hash) == (ORIGIN, 2, first.root_hash)
    again, created = create_checkpoint(world.engine, world.signer)
    assert not created and again.note == first.note
    world.ledger.append([world.note(f"n{i}") for i in range(5)], world.now)
    second, created = create_checkpoint(world.engine, world.signer)
    assert created and second.size == 7
    with read_transaction(world.engine) as connection:
        proof = tree.consistency_proof(connection, 2, 7)
    merkle.verify_consistency(2, 7, proof, first.root_hash, second.root_hash)
    record = SignerStore(world.signer_state).load()
    assert record is not None and (record.signed.size, record.signed.root) == (7, second.root_hash)
    assert world.signer_state.stat().st_mode & 0o777 == 0o600


def test_only_the_ledger_key_signs(world: LedgerWorld) -> None:
    with pytest.raises(LedgerStateError, match="not the ledger key"):
        create_checkpoint(world.engine, CheckpointSigner(world.admin, world.signer.store))


def test_never_signs_a_tree_that_does_not_extend_its_record(world: LedgerWorld) -> None:
    world.ledger.append([world.note(f"n{i}") for i in range(6)], world.now)  # size 8
    create_checkpoint(world.engine, world.signer)
    world.ledger.append([world.note("later")], world.now)
    with world.engine.begin() as connection:  # rewrite history behind the triggers
        if world.engine.dialect.name == "postgresql":
            connection.execute(text("ALTER TABLE ledger_tree_node DISABLE TRIGGER USER"))
        else:
            connection.execute(text("DROP TRIGGER ledger_tree_node_no_update"))
        connection.execute(
            text("UPDATE ledger_tree_node SET hash = :h WHERE level = 3"), {"h": bytes(32)}
        )
    with pytest.raises(ForkDetected, match="does not extend the checkpoint of 8") as fork:
        create_checkpoint(world.engine, world.signer)
    assert fork.value.evidence["trusted_size"] == 8 and fork.value.evidence["size"] == 9
    with read_transaction(world.engine) as connection:
        assert get_checkpoint(connection).size == 8  # type: ignore[union-attr]
    (alarm,) = world.signer.store.alarms()
    assert alarm["kind"] == "fork" and alarm["against"] == "the signer's record"


def test_a_lost_record_is_not_silently_replaced(world: LedgerWorld) -> None:
    create_checkpoint(world.engine, world.signer)
    world.signer_state.unlink()
    world.ledger.append([world.note("later")], world.now)
    with pytest.raises(SignerStateError, match="--adopt"):
        create_checkpoint(world.engine, world.signer)
    stored, created = create_checkpoint(world.engine, world.signer, adopt=True)
    assert created and stored.size == 3


def witness_for(world: LedgerWorld, directory: Path, name: str) -> tuple[Witness, str]:
    key = SigningKey.generate()
    witness = Witness(
        name, key.private_key, {ORIGIN: [ledger_verifier(world)]}, WitnessState(directory)
    )
    return witness, witness.verifier_key


def test_publication_waits_for_the_quorum(world: LedgerWorld, tmp_path: Path) -> None:
    audit, audit_vkey = witness_for(world, tmp_path / "audit", "audit.example/witness")
    spare, spare_vkey = witness_for(world, tmp_path / "spare", "spare.example/witness")
    down = f"http://127.0.0.1:{_closed_port()}"
    with serving(audit) as audit_url:
        policy = policy_for(
            world,
            [
                ("audit.example/witness", audit_vkey, audit_url),
                ("spare.example/witness", spare_vkey, down),
            ],
            "audit.example/witness",
        )
        signer = signer_with(world, policy)
        stored, _ = create_checkpoint(world.engine, signer)
        result = publish(world.engine, stored, signer)
        assert result.published and result.cosignatures.cosigned_by == ("audit.example/witness",)
        assert "spare.example/witness" in result.pending and not result.forks
        verifiers = [ledger_verifier(world), audit.cosignature_verifier]
        note = open_note(result.checkpoint.note, verifiers)
        assert {s.name for s in note.verified_signatures} == {ORIGIN, "audit.example/witness"}
        world.ledger.append([world.note("grow")], world.now)
        grown, _ = create_checkpoint(world.engine, signer)
        assert publish(world.engine, grown, signer).published  # consistency from size 2
        record = signer.store.load()
        assert record is not None and record.witnesses["audit.example/witness"].size == 3
    with serving(spare) as spare_url:
        both = policy_for(
            world,
            [
                ("audit.example/witness", audit_vkey, None),
                ("spare.example/witness", spare_vkey, spare_url),
            ],
            "spare.example/witness",
        )
        later = publish(world.engine, grown, signer_with(world, both))
        assert later.published and "spare.example/witness" in later.cosignatures.cosigned_by


def test_a_witness_that_is_down_delays_publication(world: LedgerWorld, tmp_path: Path) -> None:
    _, vkey = witness_for(world, tmp_path / "w", "w.example/witness")
    policy = policy_for(
        world,
        [("w.example/witness", vkey, f"http://127.0.0.1:{_closed_port()}")],
        "w.example/witness",
    )
    signer = signer_with(world, policy)
    stored, _ = create_checkpoint(world.engine, signer)
    result = publish(world.engine, stored, signer)
    assert not result.published and "w.example/witness" in result.pending
    assert signer.store.alarms() == []  # a witness that is down is no fork
    with read_transaction(world.engine) as connection:
        assert get_checkpoint(connection, stored.size) is not None  # nothing lost


def test_without_a_policy_nothing_is_published(world: LedgerWorld) -> None:
    stored, _ = create_checkpoint(world.engine, world.signer)
    result = publish(world.engine, stored, world.signer)
    assert not result.published and not result.policy


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])
