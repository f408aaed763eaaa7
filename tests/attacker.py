"""An operator with write access to the database, rewriting history as well as it can be done:
the append-only triggers switched off, entries removed, reordered or added, the hash chain
and the Merkle tree recomputed, the stored checkpoints and cosignatures deleted, the read
models rebuilt. Whatever it does, the entries it leaves are self-consistent; only state kept
outside the database can tell the history was changed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, text

from sequestra.ledger.canonical import parse_json
from sequestra.ledger.entry import GENESIS_PREV, Entry
from sequestra.ledger.rebuild import rebuild_projections
from sequestra.ledger.statement import SignedStatement, parse_signed_statement
from sequestra.ledger.tree import append_tree_nodes
from tests.composed import RULES

PROTECTED = (
    "ledger_anchor",
    "ledger_entry",
    "ledger_tree_node",
    "ledger_checkpoint",
    "ledger_cosignature",
)


@dataclass
class Row:
    """An entry as the attacker handles it: its statement and when it says it was recorded."""

    statement: SignedStatement
    recorded_at: str


Rewrite = Callable[[list[Row]], list[Row]]


def switch_off_protection(engine: Engine) -> None:
    """What an operator with the database can do: the append-only triggers go."""
    with engine.begin() as connection:
        if engine.dialect.name == "postgresql":
            for table in PROTECTED:
                connection.execute(text(f"ALTER TABLE {table} DISABLE TRIGGER USER"))
            return
        names = connection.execute(
            text("SELECT name FROM sqlite_master WHERE type = 'trigger'")
        ).scalars()
        for name in list(names):
            connection.execute(text(f"DROP TRIGGER {name}"))


def read_rows(engine: Engine) -> list[Row]:
    with engine.connect() as connection:
        stored = connection.execute(text("SELECT entry FROM ledger_entry ORDER BY seq")).scalars()
        rows = []
        for data in stored:
            entry: dict[str, Any] = parse_json(bytes(data))
            signed = {"statement": entry["statement"], "signature": entry["signature"]}
            rows.append(Row(parse_signed_statement(signed), entry["recorded_at"]))
    return rows


def rewrite_history(engine: Engine, change: Rewrite, *, keep_checkpoints: bool = False) -> None:
    """Replace the ledger with `change(rows)`, re-chained, with a fresh tree, no checkpoints
    or recorded anchors (unless kept) and rebuilt read models: the best a database-only
    attacker can do."""
    rows = change(read_rows(engine))
    switch_off_protection(engine)
    with engine.begin() as connection:
        connection.execute(text("DELETE FROM ledger_entry"))
        connection.execute(text("DELETE FROM ledger_tree_node"))
        if not keep_checkpoints:
            connection.execute(text("DELETE FROM ledger_anchor"))
            connection.execute(text("DELETE FROM ledger_cosignature"))
            connection.execute(text("DELETE FROM ledger_checkpoint"))
        prev = GENESIS_PREV
        leaves = []
        for seq, row in enumerate(rows):
            entry = Entry.build(seq, row.recorded_at, row.statement, prev)
            connection.execute(
                text(
                    "INSERT INTO ledger_entry (seq, recorded_at, leaf_hash, issuer, kind, nonce,"
                    " entry) VALUES (:seq, :recorded_at, :leaf, :issuer, :kind, :nonce, :entry)"
                ),
                {
                    "seq": seq,
                    "recorded_at": row.recorded_at,
                    "leaf": entry.leaf_hash,
                    "issuer": row.statement.issuer,
                    "kind": row.statement.kind,
                    "nonce": row.statement.nonce,
                    "entry": entry.canonical,
                },
            )
            prev = entry.leaf_hash
            leaves.append(entry.leaf_hash)
        append_tree_nodes(connection, 0, leaves)
    rebuild_projections(engine, RULES)


def delete_last_entry(engine: Engine) -> int:
    """Remove the last entry and nothing else; returns its seq."""
    switch_off_protection(engine)
    with engine.begin() as connection:
        last = int(connection.execute(text("SELECT MAX(seq) FROM ledger_entry")).scalar_one())
        connection.execute(text("DELETE FROM ledger_entry WHERE seq = :seq"), {"seq": last})
    return last
