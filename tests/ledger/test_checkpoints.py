"""Checkpoints: signed only when consistent, published once the witnesses cosign."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
from sqlalchemy import text

from sequestra.ledger import merkle, tree
from sequestra.ledger.checkpoint import Checkpoint
from sequestra.ledger.checkpoints import (
    CheckpointConflict,
    WitnessTarget,
    create_checkpoint,
    get_checkpoint,
    publish,
)
from sequestra.ledger.db import read_transaction
from sequestra.ledger.errors import LedgerStateError
from sequestra.ledger.keys import SigningKey
from sequestra.ledger.note import Ed25519Verifier, open_note
from sequestra.ledger.witness import Witness, WitnessState
from tests.conftest import LedgerWorld
from tests.service.test_witness_app import serving

ORIGIN = "test.sequestra.example/log"


def ledger_verifier(world: LedgerWorld) -> Ed25519Verifier:
    return Ed25519Verifier(ORIGIN, world.ledger_key.public_key_raw)


def test_checkpoint_is_signed_consistent_and_idempotent(world: LedgerWorld) -> None:
    first, created = create_checkpoint(world.engine, world.ledger_key)
    assert created and first.size == 2
    note = open_note(first.note, [ledger_verifier(world)])
    parsed = Checkpoint.parse(note.text)
    assert (parsed.origin, parsed.size, parsed.root_hash) == (ORIGIN, 2, first.root_hash)
    again, created = create_checkpoint(world.engine, world.ledger_key)
    assert not created and again.note == first.note
    world.ledger.append([world.note(f"n{i}") for i in range(5)], world.now)
    second, created = create_checkpoint(world.engine, world.ledger_key)
    assert created and second.size == 7
    with read_transaction(world.engine) as connection:
        proof = tree.consistency_proof(connection, 2, 7)
    merkle.verify_consistency(2, 7, proof, first.root_hash, second.root_hash)


def test_only_the_ledger_key_signs(world: LedgerWorld) -> None:
    with pytest.raises(LedgerStateError, match="not the ledger key"):
        create_checkpoint(world.engine, world.admin)


def test_never_signs_an_inconsistent_checkpoint(world: LedgerWorld) -> None:
    world.ledger.append([world.note(f"n{i}") for i in range(6)], world.now)  # size 8
    create_checkpoint(world.engine, world.ledger_key)
    world.ledger.append([world.note("later")], world.now)
    with world.engine.begin() as connection:  # rewrite history behind the triggers
        if world.engine.dialect.name == "postgresql":
            connection.execute(text("ALTER TABLE ledger_tree_node DISABLE TRIGGER USER"))
        else:
            connection.execute(text("DROP TRIGGER ledger_tree_node_no_update"))
        connection.execute(
            text("UPDATE ledger_tree_node SET hash = :h WHERE level = 3"), {"h": bytes(32)}
        )
    with pytest.raises(CheckpointConflict, match="not consistent"):
        create_checkpoint(world.engine, world.ledger_key)
    with read_transaction(world.engine) as connection:
        assert get_checkpoint(connection).size == 8  # type: ignore[union-attr]


def witness_for(world: LedgerWorld, directory: Path, name: str) -> tuple[Witness, str]:
    key = SigningKey.generate()
    witness = Witness(
        name, key.private_key, {ORIGIN: [ledger_verifier(world)]}, WitnessState(directory)
    )
    return witness, witness.verifier_key


def test_publication_waits_for_required_witnesses(world: LedgerWorld, tmp_path: Path) -> None:
    audit, audit_vkey = witness_for(world, tmp_path / "audit", "audit.example/witness")
    spare, spare_vkey = witness_for(world, tmp_path / "spare", "spare.example/witness")
    down_port = _closed_port()
    with serving(audit) as audit_url:
        targets = [
            WitnessTarget(audit_url, audit_vkey, required=True, timeout_s=2),
            WitnessTarget(f"http://127.0.0.1:{down_port}", spare_vkey, required=False, timeout_s=1),
        ]
        stored, _ = create_checkpoint(world.engine, world.ledger_key)
        result = publish(world.engine, stored, targets)
        assert result.published and result.checkpoint.cosigned_by == ("audit.example/witness",)
        assert "spare.example/witness" in result.pending
        verifiers = [ledger_verifier(world), audit.cosignature_verifier]
        note = open_note(result.checkpoint.note, verifiers)
        assert {s.name for s in note.verified_signatures} == {ORIGIN, "audit.example/witness"}
        world.ledger.append([world.note("grow")], world.now)
        grown, _ = create_checkpoint(world.engine, world.ledger_key)
        assert publish(world.engine, grown, targets).published  # consistency from size 2
    with serving(spare) as spare_url:
        targets[1] = WitnessTarget(spare_url, spare_vkey, required=True)
        later = publish(world.engine, grown, targets[1:])
        assert later.published and "spare.example/witness" in later.checkpoint.cosigned_by


def test_required_witness_down_delays_publication(world: LedgerWorld, tmp_path: Path) -> None:
    _, vkey = witness_for(world, tmp_path / "w", "w.example/witness")
    stored, _ = create_checkpoint(world.engine, world.ledger_key)
    target = WitnessTarget(f"http://127.0.0.1:{_closed_port()}", vkey, timeout_s=1)
    result = publish(world.engine, stored, [target])
    assert not result.published and "w.example/witness" in result.pending
    with read_transaction(world.engine) as connection:
        assert get_checkpoint(connection, stored.size) is not None  # nothing lost


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])
