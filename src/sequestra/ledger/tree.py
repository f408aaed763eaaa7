"""The ledger's Merkle tree in the database: complete subtree hashes, read O(log n) at a time.

Leaves are the entries' leaf hashes (`ledger_entry.leaf_hash`); `ledger_tree_node` holds
every complete subtree above them, written in the same transaction as the entries, so the
root at any size and any inclusion or consistency proof cost one or two indexed queries.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, and_, insert, literal, or_, select, text, union_all

from sequestra.ledger import merkle
from sequestra.ledger.merkle import NodeId, NodeReadError
from sequestra.ledger.tables import ENTRY_TABLE, NODE_TABLE

# Bounds one query's IN list; a proof needs at most 2 x 64 nodes.
NODE_QUERY_CHUNK = 512


class DatabaseNodeReader:
    """A merkle.NodeReader over the ledger tables, inside the caller's transaction."""

    def __init__(self, connection: Connection) -> None:
        self.connection = connection

    def get_nodes(self, ids: Sequence[NodeId]) -> list[bytes]:
        """Return the hashes of `ids`; raises NodeReadError for any that is not stored.

        One round trip per chunk: leaves (from the entries) and inner nodes are read in one
        UNION ALL query, each term a primary-key search.
        """
        unique = sorted(set(ids))
        found: dict[NodeId, bytes] = {}
        postgresql = self.connection.dialect.name == "postgresql"
        for start in range(0, len(unique), NODE_QUERY_CHUNK):
            chunk = unique[start : start + NODE_QUERY_CHUNK]
            if postgresql:
                rows = self.connection.execute(_POSTGRES_NODES, _postgres_arrays(chunk))
            else:
                rows = self.connection.execute(_nodes_query(chunk))
            for row in rows:
                found[(row.level, row.idx)] = bytes(row.hash)
        missing = [node for node in ids if node not in found]
        if missing:
            raise NodeReadError(f"tree node {missing[0]} is not stored")
        return [found[node] for node in ids]


# On PostgreSQL one constant statement with arrays: psycopg prepares it after a few uses,
# so a proof costs no planning (the text of the portable query changes with its lists).
_POSTGRES_NODES = text(
    "SELECT 0 AS level, e.seq AS idx, e.leaf_hash AS hash FROM ledger_entry e"
    " WHERE e.seq = ANY(CAST(:leaves AS bigint[]))"
    " UNION ALL"
    " SELECT n.level, n.idx, n.hash FROM ledger_tree_node n"
    " JOIN unnest(CAST(:levels AS smallint[]), CAST(:indexes AS bigint[])) AS k(level, idx)"
    " ON n.level = k.level AND n.idx = k.idx"
)


def _postgres_arrays(ids: Sequence[NodeId]) -> dict[str, list[int]]:
    inner = [(level, index) for level, index in ids if level > 0]
    return {
        "leaves": [index for level, index in ids if level == 0],
        "levels": [level for level, _ in inner],
        "indexes": [index for _, index in inner],
    }


def _nodes_query(ids: Sequence[NodeId]) -> Any:
    """SELECT level, idx, hash for `ids`: one term per level so every term uses a key.

    (SQLite scans the whole table for a row-value IN list, hence not `(level, idx) IN`.)
    """
    by_level: dict[int, list[int]] = {}
    for level, index in ids:
        by_level.setdefault(level, []).append(index)
    parts: list[Any] = []
    leaves = by_level.pop(0, None)
    if leaves:
        parts.append(
            select(
                literal(0).label("level"),
                ENTRY_TABLE.c.seq.label("idx"),
                ENTRY_TABLE.c.leaf_hash.label("hash"),
            ).where(ENTRY_TABLE.c.seq.in_(leaves))
        )
    if by_level:
        condition = or_(
            *(
                and_(NODE_TABLE.c.level == level, NODE_TABLE.c.idx.in_(indexes))
                for level, indexes in by_level.items()
            )
        )
        parts.append(
            select(NODE_TABLE.c.level, NODE_TABLE.c.idx, NODE_TABLE.c.hash).where(condition)
        )
    return parts[0] if len(parts) == 1 else union_all(*parts)


def append_tree_nodes(
    connection: Connection, start_size: int, leaf_hashes: Sequence[bytes]
) -> None:
    """Store the subtree hashes that appending `leaf_hashes` completes (levels >= 1)."""
    created = merkle.append_leaves(start_size, leaf_hashes, DatabaseNodeReader(connection))
    rows = [
        {"level": level, "idx": index, "hash": node_hash}
        for level, index, node_hash in created
        if level > 0
    ]
    if rows:
        connection.execute(insert(NODE_TABLE), rows)


def root_at(connection: Connection, size: int) -> bytes:
    """Return the tree root at `size` from stored nodes."""
    return merkle.root_at(size, DatabaseNodeReader(connection))


def inclusion_proof(connection: Connection, index: int, size: int) -> list[bytes]:
    return merkle.inclusion_proof(index, size, DatabaseNodeReader(connection))


def consistency_proof(connection: Connection, size1: int, size2: int) -> list[bytes]:
    return merkle.consistency_proof(size1, size2, DatabaseNodeReader(connection))


def check_stored_tree(connection: Connection, leaf_hashes: Sequence[bytes]) -> str | None:
    """Recompute every complete subtree from verified leaf hashes and compare with storage.

    Level by level: the stored nodes of a level, read in index order, must be exactly the
    hashes of the pairs below. Returns the first discrepancy as a sentence, or None.
    """
    below = list(leaf_hashes)
    level = 0
    while len(below) > 1:
        level += 1
        sha256 = hashlib.sha256
        expected = [
            sha256(b"\x01" + left + right).digest()
            for left, right in zip(below[0::2], below[1::2], strict=False)
        ]
        error = _compare_level(connection, level, expected)
        if error:
            return error
        below = expected
    extra = connection.execute(
        select(NODE_TABLE.c.level, NODE_TABLE.c.idx).where(NODE_TABLE.c.level > level).limit(1)
    ).first()
    if extra is not None:
        return f"tree node ({extra.level}, {extra.idx}) is stored but not part of the tree"
    return None


def _compare_level(connection: Connection, level: int, expected: list[bytes]) -> str | None:
    rows = connection.execute(
        select(NODE_TABLE.c.idx, NODE_TABLE.c.hash)
        .where(NODE_TABLE.c.level == level)
        .order_by(NODE_TABLE.c.idx)
    ).all()
    for position, (index, stored) in enumerate(rows):
        if index != position:
            return f"tree node ({level}, {position}) is missing"
        if position >= len(expected):
            return f"tree node ({level}, {index}) is stored but not part of the tree"
        if bytes(stored) != expected[position]:
            return f"tree node ({level}, {index}) differs from the hash of its leaves"
    if len(rows) < len(expected):
        return f"tree node ({level}, {len(rows)}) is missing"
    return None
