"""Verify names the first bad seq for every kind of tampering made behind the triggers."""

from __future__ import annotations

import json
from typing import Any

import pytest
from sqlalchemy import Engine, text

from sequestra.ledger.canonical import canonical_json
from sequestra.ledger.entry import Entry, leaf_hash
from sequestra.ledger.keys import SigningKey
from sequestra.ledger.kinds import KEY_REVOKED
from sequestra.ledger.statement import parse_signed_statement, sign_statement
from sequestra.ledger.verify import verify_ledger
from tests.composed import RULES
from tests.conftest import LedgerWorld

COLUMNS = ("seq", "recorded_at", "leaf_hash", "issuer", "kind", "nonce", "entry")


def disable_triggers(engine: Engine) -> None:
    with engine.begin() as connection:
        if engine.dialect.name == "postgresql":
            connection.execute(text("ALTER TABLE ledger_entry DISABLE TRIGGER USER"))
        else:
            connection.execute(text("DROP TRIGGER ledger_entry_no_update"))
            connection.execute(text("DROP TRIGGER ledger_entry_no_delete"))


def stored_rows(engine: Engine) -> list[dict[str, Any]]:
    with engine.begin() as connection:
        rows = connection.execute(text("SELECT * FROM ledger_entry ORDER BY seq")).mappings()
        return [{key: row[key] for key in COLUMNS} for row in rows]


def replace_all(engine: Engine, rows: list[dict[str, Any]]) -> None:
    """Rewrite the whole entries table, as an attacker with database access could."""
    disable_triggers(engine)
    with engine.begin() as connection:
        connection.execute(text("DELETE FROM ledger_entry"))
        connection.execute(
            text(
                "INSERT INTO ledger_entry (seq, recorded_at, leaf_hash, issuer, kind, nonce, entry)"
                " VALUES (:seq, :recorded_at, :leaf_hash, :issuer, :kind, :nonce, :entry)"
            ),
            rows,
        )


def row_of(entry: Entry) -> dict[str, Any]:
    return {
        "seq": entry.seq,
        "recorded_at": entry.recorded_at,
        "leaf_hash": entry.leaf_hash,
        "issuer": entry.statement.issuer,
        "kind": entry.statement.kind,
        "nonce": entry.statement.nonce,
        "entry": entry.canonical,
    }


def forged_row(rows: list[dict[str, Any]], seq: int, key: SigningKey, now: Any) -> dict[str, Any]:
    """An entry signed by `key`, chained correctly after rows[seq - 1]."""
    statement = sign_statement(key, "note.recorded", {"text": "forged"}, now)
    previous = rows[seq - 1]
    return row_of(
        Entry.build(seq, previous["recorded_at"], statement, bytes(previous["leaf_hash"]))
    )


@pytest.fixture
def filled(world: LedgerWorld) -> LedgerWorld:
    world.ledger.append([world.note(f"memo {i}") for i in range(8)], world.now)  # seq 2..9
    assert verify_ledger(world.engine, RULES).to_json() == {
        "ok": True,
        "size": 10,
        "first_bad_seq": None,
        "reason": None,
        "rules": RULES.summary().to_json(),
        "pinned": False,
        "trust": None,
        "summary": "not pinned: no policy, no trusted checkpoint",
    }
    return world


def expect_bad(world: LedgerWorld, seq: int, reason: str) -> None:
    result = verify_ledger(world.engine, RULES)
    assert not result.ok
    assert result.first_bad_seq == seq, result
    assert reason in (result.reason or ""), result


def test_changed_body(filled: LedgerWorld) -> None:
    rows = stored_rows(filled.engine)
    entry = json.loads(rows[5]["entry"])
    entry["statement"]["body"]["text"] = "rewritten"
    rows[5]["entry"] = canonical_json(entry)
    rows[5]["leaf_hash"] = leaf_hash(rows[5]["entry"])  # the attacker covers the hash too
    replace_all(filled.engine, rows)
    expect_bad(filled, 5, "signature does not verify")


def test_changed_body_without_new_hash(filled: LedgerWorld) -> None:
    rows = stored_rows(filled.engine)
    rows[4]["entry"] = bytes(rows[4]["entry"]).replace(b"memo 2", b"memo X")
    replace_all(filled.engine, rows)
    expect_bad(filled, 4, "stored leaf hash differs")


def test_changed_signature(filled: LedgerWorld) -> None:
    rows = stored_rows(filled.engine)
    entry, other = json.loads(rows[6]["entry"]), json.loads(rows[7]["entry"])
    entry["signature"] = other["signature"]
    rows[6]["entry"] = canonical_json(entry)
    rows[6]["leaf_hash"] = leaf_hash(rows[6]["entry"])
    replace_all(filled.engine, rows)
    expect_bad(filled, 6, "signature does not verify")


def test_deleted_entry(filled: LedgerWorld) -> None:
    rows = stored_rows(filled.engine)
    del rows[3]
    replace_all(filled.engine, rows)
    expect_bad(filled, 3, "entry 3 is missing")


def test_deleted_entry_renumbered(filled: LedgerWorld) -> None:
    rows = stored_rows(filled.engine)
    del rows[3]
    for row in rows[3:]:
        row["seq"] -= 1
    replace_all(filled.engine, rows)
    expect_bad(filled, 3, "says seq 4")


def test_swapped_entries(filled: LedgerWorld) -> None:
    rows = stored_rows(filled.engine)
    rows[4], rows[5] = dict(rows[5], seq=4), dict(rows[4], seq=5)
    replace_all(filled.engine, rows)
    expect_bad(filled, 4, "says seq 5")


def test_swapped_entries_with_rewritten_seq(filled: LedgerWorld) -> None:
    rows = stored_rows(filled.engine)
    for row, seq in ((rows[5], 4), (rows[4], 5)):
        entry = json.loads(row["entry"])
        entry["seq"] = seq
        row["entry"] = canonical_json(entry)
        row["leaf_hash"] = leaf_hash(row["entry"])
        row["seq"] = seq
    rows[4], rows[5] = rows[5], rows[4]
    replace_all(filled.engine, rows)
    expect_bad(filled, 4, "chain broken")


def test_inserted_forged_entry(filled: LedgerWorld) -> None:
    rows = stored_rows(filled.engine)
    forged = forged_row(rows, 4, SigningKey.generate(), filled.now)
    for row in rows[4:]:
        row["seq"] += 1
    replace_all(filled.engine, [*rows[:4], forged, *rows[4:]])
    expect_bad(filled, 4, "not an enrolled key")


def test_appended_entry_by_unknown_key(filled: LedgerWorld) -> None:
    rows = stored_rows(filled.engine)
    replace_all(filled.engine, [*rows, forged_row(rows, 10, SigningKey.generate(), filled.now)])
    expect_bad(filled, 10, "not an enrolled key")


def test_appended_entry_by_revoked_key(filled: LedgerWorld) -> None:
    revoke = sign_statement(
        filled.admin, KEY_REVOKED, {"issuer": filled.officer.issuer, "reason": "lost"}, filled.now
    )
    filled.ledger.append([revoke], filled.now)  # seq 10
    rows = stored_rows(filled.engine)
    replace_all(filled.engine, [*rows, forged_row(rows, 11, filled.officer, filled.now)])
    expect_bad(filled, 11, "revoked at seq 10")


def test_replayed_statement(filled: LedgerWorld) -> None:
    rows = stored_rows(filled.engine)
    stored = json.loads(rows[3]["entry"])
    replayed = parse_signed_statement(
        {"statement": stored["statement"], "signature": stored["signature"]}
    )
    previous = rows[9]
    entry = Entry.build(10, previous["recorded_at"], replayed, bytes(previous["leaf_hash"]))
    with filled.engine.begin() as connection:  # rebuild the table without its unique index
        connection.execute(text("ALTER TABLE ledger_entry RENAME TO ledger_entry_old"))
        connection.execute(text("CREATE TABLE ledger_entry AS SELECT * FROM ledger_entry_old"))
        connection.execute(text("DROP TABLE ledger_entry_old"))
        connection.execute(
            text(
                "INSERT INTO ledger_entry (seq, recorded_at, leaf_hash, issuer, kind, nonce, entry)"
                " VALUES (:seq, :recorded_at, :leaf_hash, :issuer, :kind, :nonce, :entry)"
            ),
            row_of(entry),
        )
    expect_bad(filled, 10, "nonce already used")


def test_non_canonical_bytes(filled: LedgerWorld) -> None:
    rows = stored_rows(filled.engine)
    rows[2]["entry"] = bytes(rows[2]["entry"]).replace(b'"seq":2', b'"seq": 2')
    rows[2]["leaf_hash"] = leaf_hash(rows[2]["entry"])
    replace_all(filled.engine, rows)
    expect_bad(filled, 2, "not canonical")


def test_tampered_projection(filled: LedgerWorld) -> None:
    with filled.engine.begin() as connection:
        connection.execute(
            text("UPDATE ledger_key SET roles = 'admin' WHERE issuer = :issuer"),
            {"issuer": filled.officer.issuer},
        )
    result = verify_ledger(filled.engine, RULES)
    assert not result.ok
    assert "projection ledger_key differs" in (result.reason or "")


def test_trusted_ledger_key(filled: LedgerWorld) -> None:
    assert verify_ledger(filled.engine, RULES, filled.ledger_key.public_key_raw).ok
    other = SigningKey.generate().public_key_raw
    result = verify_ledger(filled.engine, RULES, other)
    assert (result.ok, result.first_bad_seq) == (False, 0)


def test_parallel_verify_finds_the_same_seq(
    filled: LedgerWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sequestra.ledger import verify

    filled.ledger.append([filled.note(f"bulk {i}") for i in range(300)], filled.now)
    rows = stored_rows(filled.engine)
    rows[250]["entry"] = bytes(rows[250]["entry"]).replace(b"bulk", b"BULK")
    rows[250]["leaf_hash"] = leaf_hash(rows[250]["entry"])
    replace_all(filled.engine, rows)
    monkeypatch.setattr(verify, "PARALLEL_MIN_ENTRIES", 10)
    monkeypatch.setattr(verify, "CHUNK_ENTRIES", 64)
    seen: list[int] = []
    result = verify_ledger(
        filled.engine, RULES, progress=lambda done, total: seen.append(done), workers=2
    )
    assert (result.ok, result.first_bad_seq) == (False, 250)
    assert "signature" in (result.reason or "")
    assert seen and seen == sorted(seen)


def test_empty_ledger_is_not_ok(engine: Engine) -> None:
    from sequestra.ledger import migrate

    migrate.upgrade(engine)
    result = verify_ledger(engine, RULES)
    assert (result.ok, result.size) == (False, 0)


def test_tampered_tree_node(filled: LedgerWorld) -> None:
    with filled.engine.begin() as connection:
        if filled.engine.dialect.name == "postgresql":
            connection.execute(text("ALTER TABLE ledger_tree_node DISABLE TRIGGER USER"))
        else:
            connection.execute(text("DROP TRIGGER ledger_tree_node_no_update"))
        connection.execute(
            text("UPDATE ledger_tree_node SET hash = :h WHERE level = 1 AND idx = 2"),
            {"h": bytes(32)},
        )
    result = verify_ledger(filled.engine, RULES)
    assert not result.ok and "tree node (1, 2) differs" in (result.reason or "")


def test_checkpoints_are_checked(filled: LedgerWorld) -> None:
    from sequestra.ledger.checkpoint import Checkpoint
    from sequestra.ledger.checkpoints import create_checkpoint
    from sequestra.ledger.note import Ed25519Signer

    create_checkpoint(filled.engine, filled.signer)
    assert verify_ledger(filled.engine, RULES).ok
    origin = "test.sequestra.example/log"
    forged_signer = Ed25519Signer(origin, SigningKey.generate().private_key)
    cases = {
        3: (Checkpoint(origin, 3, bytes(32)).sign([forged_signer]), "not a valid note"),
        4: (
            Checkpoint(origin, 4, bytes(32)).sign(
                [Ed25519Signer(origin, filled.ledger_key.private_key)]
            ),
            "is not the root",
        ),
    }
    for size, (note, reason) in cases.items():
        with filled.engine.begin() as connection:
            connection.execute(
                text(
                    "INSERT INTO ledger_checkpoint (size, root_hash, note, created_at)"
                    " VALUES (:size, :root, :note, 'x')"
                ),
                {"size": size, "root": bytes(32), "note": note.decode()},
            )
        result = verify_ledger(filled.engine, RULES)
        assert not result.ok and reason in (result.reason or ""), result
        with filled.engine.begin() as connection:
            if filled.engine.dialect.name == "postgresql":
                connection.execute(text("ALTER TABLE ledger_checkpoint DISABLE TRIGGER USER"))
            else:
                connection.execute(text("DROP TRIGGER IF EXISTS ledger_checkpoint_no_delete"))
            connection.execute(text("DELETE FROM ledger_checkpoint WHERE size = :s"), {"s": size})


def test_tampered_tree_node_found_by_parallel_verify(
    filled: LedgerWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sequestra.ledger import verify

    filled.ledger.append([filled.note(f"bulk {i}") for i in range(100)], filled.now)
    with filled.engine.begin() as connection:
        if filled.engine.dialect.name == "postgresql":
            connection.execute(text("ALTER TABLE ledger_tree_node DISABLE TRIGGER USER"))
        else:
            connection.execute(text("DROP TRIGGER ledger_tree_node_no_update"))
        connection.execute(
            text("UPDATE ledger_tree_node SET hash = :h WHERE level = 3 AND idx = 5"),
            {"h": bytes(32)},
        )
    monkeypatch.setattr(verify, "PARALLEL_MIN_ENTRIES", 10)
    monkeypatch.setattr(verify, "CHUNK_ENTRIES", 32)
    result = verify_ledger(filled.engine, RULES, workers=2)
    assert not result.ok and "tree node (3, 5) differs" in (result.reason or "")
