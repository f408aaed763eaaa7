"""The pure verification core names the first bad entry and why, on entries built in memory."""

from __future__ import annotations

import base64
import json
from datetime import datetime, timedelta
from typing import Any

import pytest

from sequestra.ledger.canonical import canonical_json
from sequestra.ledger.entry import GENESIS_PREV, Entry, leaf_hash
from sequestra.ledger.errors import StatementError
from sequestra.ledger.keys import SigningKey
from sequestra.ledger.kinds import GENESIS_KIND, KEY_ENROLLED, KEY_REVOKED
from sequestra.ledger.replay import (
    SIGNATURE_BAD,
    SIGNATURE_KEY_UNKNOWN,
    SIGNATURE_OK,
    EntryChecker,
    Replay,
    replay_entries,
)
from sequestra.ledger.statement import SIGNING_DOMAIN, SignedStatement, new_nonce
from sequestra.ledger.timefmt import format_timestamp, parse_timestamp
from tests.audit.bundles import START, MemoryLedger


def raw_statement(
    key: SigningKey, kind: str, body: dict[str, Any], issued_at: datetime = START
) -> SignedStatement:
    """Sign a statement without the body schema check, as a forger (or a bug) could."""
    statement = {
        "v": 1,
        "kind": kind,
        "issued_at": format_timestamp(issued_at),
        "issuer": key.issuer,
        "nonce": new_nonce(),
        "body": body,
    }
    canonical = canonical_json(statement)
    signature = base64.b64encode(key.sign(SIGNING_DOMAIN + canonical)).decode()
    return SignedStatement(statement, signature, canonical, parse_timestamp(statement["issued_at"]))


def datas(ledger: MemoryLedger) -> list[bytes]:
    return [entry.canonical for entry in ledger.entries]


def rechain(entries: list[bytes]) -> list[bytes]:
    """Renumber and relink entries after a change, as an attacker covering tracks would."""
    result: list[bytes] = []
    prev = GENESIS_PREV
    for seq, data in enumerate(entries):
        entry = json.loads(data)
        entry["seq"], entry["prev"] = seq, prev.hex()
        result.append(canonical_json(entry))
        prev = leaf_hash(result[-1])
    return result


def expect_bad(entries: list[bytes], seq: int, reason: str, trusted: bytes | None = None) -> None:
    result = replay_entries(entries, trusted)
    assert (result.ok, result.first_bad_seq) == (False, seq), result.reason
    assert reason in (result.reason or ""), result.reason


@pytest.fixture
def ledger() -> MemoryLedger:
    return MemoryLedger.create(notes=6)  # seq 0 genesis, 1 enrolment, 2..7 notes


def test_intact_ledger_replays(ledger: MemoryLedger) -> None:
    result = replay_entries(datas(ledger), ledger.ledger_key.public_key_raw)
    assert (result.ok, result.entries_ok, result.reason) == (True, 8, None)
    assert result.leaf_hashes == tuple(entry.leaf_hash for entry in ledger.entries)
    assert result.authority.origin == ledger.origin
    assert result.authority.records[ledger.officer.issuer].roles == ("treasury-officer",)


def test_empty_input_is_not_a_ledger() -> None:
    result = replay_entries([])
    assert (result.ok, result.first_bad_seq) == (False, None)


def test_genesis_of_another_ledger_key(ledger: MemoryLedger) -> None:
    expect_bad(datas(ledger), 0, "not signed by the trusted ledger key", b"\x01" * 32)


def test_changed_body_fails_its_signature(ledger: MemoryLedger) -> None:
    entries = datas(ledger)
    entry = json.loads(entries[4])
    entry["statement"]["body"]["text"] = "rewritten"
    entries[4] = canonical_json(entry)
    expect_bad(rechain(entries), 4, "signature does not verify")


def test_changed_bytes_break_the_chain(ledger: MemoryLedger) -> None:
    entries = datas(ledger)
    entries[3] = entries[3].replace(b"memo 1", b"memo X")
    expect_bad(entries, 3, "signature does not verify")
    entries = datas(ledger)  # recorded_at is not signed, but it is in the leaf hash
    entries[3] = entries[3].replace(b"09:00:03.000003Z", b"09:00:03.000004Z")
    expect_bad(entries, 4, "chain broken")


@pytest.mark.parametrize(
    ("damage", "reason"),
    [
        (lambda data: data.replace(b'"seq":5', b'"seq": 5'), "not canonical"),
        (lambda data: data[:-1], "malformed entry"),
        (lambda data: b"\xff" + data, "malformed entry"),
        (lambda data: b"", "malformed entry"),
        (lambda data: b"[" * 5000 + b"]" * 5000, "malformed entry"),
        (lambda data: data[:-1] + b' ,"x":"' + b"y" * 70_000 + b'"}', "over 65535"),
        (lambda data: data.replace(b'"v":1', b'"v":2'), "v: expected 1"),
        (lambda data: data.replace(b'"seq":5', b'"seq":-5'), "entry.seq"),
    ],
)
def test_malformed_bytes(ledger: MemoryLedger, damage: Any, reason: str) -> None:
    entries = datas(ledger)
    entries[5] = damage(entries[5])
    expect_bad(entries, 5, reason)


def test_dropped_swapped_and_inserted_entries(ledger: MemoryLedger) -> None:
    entries = datas(ledger)
    expect_bad(entries[:3] + entries[4:], 3, "says seq 4")
    expect_bad([*entries[:3], entries[4], entries[3], *entries[5:]], 3, "says seq 4")
    swapped = rechain([*entries[:3], entries[4], entries[3], *entries[5:]])
    expect_bad(swapped, 4, "earlier than the entry before")
    forger = SigningKey.generate()
    recorded_at = ledger.entries[2].recorded_at
    forged = Entry.build(3, recorded_at, ledger.note("forged", forger), GENESIS_PREV)
    expect_bad(rechain([*entries[:3], forged.canonical, *entries[3:]]), 3, "not an enrolled key")


def test_entry_by_an_unknown_key(ledger: MemoryLedger) -> None:
    ledger.append(ledger.note("forged", SigningKey.generate()))
    expect_bad(datas(ledger), 8, "is not an enrolled key")


def test_entry_before_its_issuer_is_enrolled() -> None:
    ledger = MemoryLedger.create(notes=0)
    ledger.entries.pop()
    ledger.append(ledger.note("too early"))
    ledger.append(ledger.enroll(ledger.officer, ["treasury-officer"], "officer"))
    expect_bad(datas(ledger), 1, "is not an enrolled key")


def test_entry_by_a_revoked_key(ledger: MemoryLedger) -> None:
    ledger.append(ledger.revoke(ledger.officer.issuer))
    ledger.append(ledger.note("after revocation"))
    expect_bad(datas(ledger), 9, "revoked at seq 8")


def test_entry_by_a_role_without_authority(ledger: MemoryLedger) -> None:
    ledger.append(ledger.enroll(SigningKey.generate(), ["watcher"], "watcher"))
    ledger.append(ledger.revoke(ledger.admin.issuer))
    expect_bad(datas(ledger), 9, "last active admin")
    watcher = SigningKey.generate()
    other = MemoryLedger.create(notes=0)
    other.append(other.enroll(watcher, ["watcher"], "watcher"))
    other.append(other.note("not mine to say", watcher))
    expect_bad(datas(other), 3, "needs one of")


def test_replayed_statement(ledger: MemoryLedger) -> None:
    ledger.append(ledger.entries[4].statement)
    expect_bad(datas(ledger), 8, "nonce already used")


def test_recorded_at_going_back(ledger: MemoryLedger) -> None:
    entry = ledger.entries[-1]
    earlier = format_timestamp(START - timedelta(days=1))
    ledger.entries.append(Entry.build(8, earlier, ledger.note("late"), entry.leaf_hash))
    expect_bad(datas(ledger), 8, "earlier than the entry before")


def test_first_entry_must_be_the_genesis(ledger: MemoryLedger) -> None:
    expect_bad(rechain(datas(ledger)[1:]), 0, "must be a 'ledger.genesis'")
    genesis = ledger.entries[0].statement
    ledger.append(raw_statement(ledger.ledger_key, GENESIS_KIND, genesis.body, ledger.now))
    expect_bad(datas(ledger), 8, "may only stand at seq 0")


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"extra": "x"}, "body: unexpected field(s) extra"),
        ({"admins": []}, "body.admins: expected a list of 1 to 16"),
        ({"admins": "AAAA"}, "body.admins: expected a list"),
        ({"admins": [1]}, "body.admins: expected strings"),
        ({"admins": ["not base64"]}, "body.admins.0"),
        ({"origin": "has space"}, "body.origin"),
        ({"ledger_key": 7}, "body.ledger_key"),
    ],
)
def test_malformed_genesis_body(change: dict[str, Any], reason: str) -> None:
    ledger_key, admin = SigningKey.generate(), SigningKey.generate()
    body = {
        "origin": "log.example",
        "ledger_key": ledger_key.public_key_b64,
        "admins": [admin.public_key_b64],
    }
    statement = raw_statement(ledger_key, GENESIS_KIND, {**body, **change})
    entry = Entry.build(0, "2026-03-01T09:00:00.000000Z", statement, GENESIS_PREV)
    expect_bad([entry.canonical], 0, reason)


def test_genesis_missing_a_field() -> None:
    key = SigningKey.generate()
    statement = raw_statement(key, GENESIS_KIND, {"origin": "o", "ledger_key": key.public_key_b64})
    entry = Entry.build(0, "2026-03-01T09:00:00.000000Z", statement, GENESIS_PREV)
    expect_bad([entry.canonical], 0, "body: missing field(s) admins")


@pytest.mark.parametrize(
    ("kind", "body", "reason"),
    [
        (KEY_ENROLLED, {"roles": ["ledger"]}, "body.roles.0: expected one of admin"),
        (KEY_ENROLLED, {"roles": ["admin", "admin"]}, "a role is listed twice"),
        (KEY_ENROLLED, {"label": ""}, "body.label"),
        (KEY_ENROLLED, {"valid_from": "2026-02-30T00:00:00Z"}, "body.valid_from"),
        (KEY_ENROLLED, {"valid_from": "yesterday"}, "body.valid_from"),
        (KEY_REVOKED, {"issuer": "AB" * 32, "reason": "x"}, "body.issuer"),
        (KEY_REVOKED, {"issuer": "ab" * 32, "reason": "x"}, "no enrolled key"),
        (KEY_REVOKED, {"issuer": "ab" * 32, "reason": ""}, "body.reason"),
    ],
)
def test_malformed_registry_body(kind: str, body: dict[str, Any], reason: str) -> None:
    ledger = MemoryLedger.create(notes=0)
    if kind == KEY_ENROLLED:
        body = {
            "public_key": SigningKey.generate().public_key_b64,
            "roles": ["approver"],
            "valid_from": "2026-01-01T00:00:00Z",
            "label": "new",
            **body,
        }
    ledger.append(raw_statement(ledger.admin, kind, body, ledger.now))
    expect_bad(datas(ledger), 2, reason)


def test_stage_hook_sees_statements_in_order_and_can_refuse(ledger: MemoryLedger) -> None:
    seen: list[tuple[int, str]] = []

    def stage(seq: int, statement: SignedStatement) -> None:
        seen.append((seq, statement.kind))
        if seq == 6:
            raise StatementError("the projection refuses this one")

    replay = Replay(None, stage, frozenset({"note.recorded"}))
    checker = EntryChecker({}, replay.wanted_kinds)
    reasons = [replay.feed(checker.check(seq, data)) for seq, data in enumerate(datas(ledger))]
    assert reasons[:6] == [None] * 6
    assert reasons[6] == "the projection refuses this one"
    assert seen == [
        (0, GENESIS_KIND),
        (1, KEY_ENROLLED),
        *((n, "note.recorded") for n in (2, 3, 4, 5, 6)),
    ]


def test_checker_signature_status(ledger: MemoryLedger) -> None:
    entry = ledger.entries[3]
    known = EntryChecker({ledger.officer.issuer: ledger.officer.public_key_raw})
    checked = known.check(3, entry.canonical)
    assert (checked[1], checked[2], checked[10], checked[11]) == (
        None,
        entry.leaf_hash,
        SIGNATURE_OK,
        None,
    )
    wrong = EntryChecker({ledger.officer.issuer: ledger.admin.public_key_raw})
    assert wrong.check(3, entry.canonical)[10] == SIGNATURE_BAD
    unknown = EntryChecker().check(3, entry.canonical)
    assert unknown[10] == SIGNATURE_KEY_UNKNOWN
    assert unknown[11][2] == entry.statement.canonical
    assert known.check(3, entry.canonical, b"\x00" * 32)[1] == (
        "stored leaf hash differs from the hash of the entry"
    )


def test_checker_finds_the_statement_when_the_body_has_a_statement_key() -> None:
    key = SigningKey.generate()
    body = {"statement": {"seq": 1}, "text": ',"statement":'}
    statement = raw_statement(key, "test.kind", body)
    entry = Entry.build(0, "2026-03-01T09:00:00.000000Z", statement, GENESIS_PREV)
    checked = EntryChecker({key.issuer: key.public_key_raw}).check(0, entry.canonical)
    assert checked[10] == SIGNATURE_OK


def test_replay_feed_reports_a_gap() -> None:
    replay = Replay()
    assert replay.feed((1, "anything")) == "entry 0 is missing: the next stored entry has seq 1"
