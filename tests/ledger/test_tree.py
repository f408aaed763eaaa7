"""The stored Merkle tree: roots and proofs from the database equal the RFC 6962 reference."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from sequestra.ledger import merkle, tree
from sequestra.ledger.db import read_transaction
from tests.conftest import LedgerWorld


@pytest.fixture
def grown(world: LedgerWorld) -> tuple[LedgerWorld, list[bytes]]:
    for batch in (1, 7, 1, 30, 3, 64, 1):
        world.ledger.append([world.note(f"b{batch} {i}") for i in range(batch)], world.now)
    leaves = [entry.leaf_hash for entry in world.ledger.read(0, 1000)]
    return world, leaves


def test_roots_and_proofs_match_the_reference(grown: tuple[LedgerWorld, list[bytes]]) -> None:
    world, leaves = grown
    with read_transaction(world.engine) as connection:
        for size in range(len(leaves) + 1):
            assert tree.root_at(connection, size) == merkle.root_from_leaf_hashes(leaves[:size])
        size = len(leaves)
        root = tree.root_at(connection, size)
        for index in range(size):
            proof = tree.inclusion_proof(connection, index, size)
            merkle.verify_inclusion(leaves[index], index, size, proof, root)
        for old in range(1, size):
            proof = tree.consistency_proof(connection, old, size)
            old_root = tree.root_at(connection, old)
            merkle.verify_consistency(old, size, proof, old_root, root)
        assert tree.check_stored_tree(connection, leaves) is None


def test_nodes_are_append_only_and_tampering_is_found(
    grown: tuple[LedgerWorld, list[bytes]],
) -> None:
    world, leaves = grown
    with pytest.raises(DBAPIError, match="append-only"), world.engine.begin() as connection:
        connection.execute(text("UPDATE ledger_tree_node SET hash = hash WHERE level = 1"))
    with world.engine.begin() as connection:
        if world.engine.dialect.name == "postgresql":
            connection.execute(text("ALTER TABLE ledger_tree_node DISABLE TRIGGER USER"))
        else:
            connection.execute(text("DROP TRIGGER ledger_tree_node_no_update"))
        connection.execute(
            text("UPDATE ledger_tree_node SET hash = :h WHERE level = 2 AND idx = 3"),
            {"h": bytes(32)},
        )
    with read_transaction(world.engine) as connection:
        reason = tree.check_stored_tree(connection, leaves)
    assert reason is not None and "(2, 3) differs" in reason


def test_missing_node_is_an_error(world: LedgerWorld) -> None:
    with read_transaction(world.engine) as connection, pytest.raises(merkle.NodeReadError):
        tree.DatabaseNodeReader(connection).get_nodes([(5, 0)])
