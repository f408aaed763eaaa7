"""Entries: the concatenated canonical form equals the reference encoder's."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime

import rfc8785

from sequestra.ledger.entry import GENESIS_PREV, Entry, leaf_hash
from sequestra.ledger.keys import SigningKey
from sequestra.ledger.statement import sign_statement


def test_entry_bytes_are_jcs_and_leaf_hash_is_rfc6962() -> None:
    key = SigningKey.generate()
    body = {"text": 'caf\u00e9 \U0001f600 "quoted"\n', "refs": ["a", "\u0000"]}
    statement = sign_statement(
        key, "note.recorded", body, datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    )
    entry = Entry.build(7, "2026-01-02T03:04:06.000000Z", statement, GENESIS_PREV)
    as_object = {
        "seq": 7,
        "recorded_at": "2026-01-02T03:04:06.000000Z",
        "statement": statement.statement,
        "signature": statement.signature_b64,
        "prev": "00" * 32,
    }
    assert entry.canonical == rfc8785.dumps(as_object)
    assert entry.leaf_hash == hashlib.sha256(b"\x00" + entry.canonical).digest()
    assert leaf_hash(b"") == bytes.fromhex(
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"
    )
    assert json.loads(entry.canonical)["statement"] == statement.statement
