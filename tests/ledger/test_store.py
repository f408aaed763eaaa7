"""Appending: everything that must be refused is refused, and nothing is then written."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.exc import DBAPIError

from sequestra.ledger import kinds, migrate
from sequestra.ledger.errors import AppendRefused, LedgerStateError
from sequestra.ledger.keys import SigningKey
from sequestra.ledger.kinds import KEY_REVOKED, BodyModel
from sequestra.ledger.ops import init_ledger
from sequestra.ledger.rules import RuleSet
from sequestra.ledger.statement import parse_signed_statement, sign_statement
from sequestra.ledger.store import AppendRules, Ledger
from sequestra.ledger.timefmt import format_timestamp
from sequestra.ledger.verify import verify_ledger
from tests.composed import RULES
from tests.conftest import LedgerWorld


def expect_refused(world: LedgerWorld, statements: list, match: str, index: int = 0) -> None:
    before = world.ledger.head()
    with pytest.raises(AppendRefused, match=match) as caught:
        world.ledger.append(statements, world.now)
    assert caught.value.index == index
    assert world.ledger.head() == before, "a refused batch must write nothing"


def test_append_returns_consecutive_receipts_and_verifies(world: LedgerWorld) -> None:
    receipts = world.ledger.append([world.note(f"n{i}") for i in range(5)], world.now)
    assert [r.seq for r in receipts] == [2, 3, 4, 5, 6]
    entries = world.ledger.read(2, 5)
    assert [e.leaf_hash for e in entries] == [r.leaf_hash for r in receipts]
    previous = world.ledger.read(1, 1)[0].leaf_hash
    for entry in entries:
        assert json.loads(entry.entry)["prev"] == previous.hex()
        previous = entry.leaf_hash
    assert verify_ledger(world.engine, RULES).ok


def test_bad_signature_refused(world: LedgerWorld) -> None:
    transport = world.note("original").to_json()
    transport["statement"]["body"]["text"] = "altered after signing"
    expect_refused(world, [parse_signed_statement(transport)], "signature does not verify")


def test_signature_of_another_statement_refused(world: LedgerWorld) -> None:
    first, second = world.note("a").to_json(), world.note("b").to_json()
    first["signature"] = second["signature"]
    expect_refused(world, [parse_signed_statement(first)], "signature does not verify")


def test_unknown_issuer_refused(world: LedgerWorld) -> None:
    expect_refused(world, [world.note(key=SigningKey.generate())], "not an enrolled key")


def test_role_that_may_not_issue_refused(world: LedgerWorld) -> None:
    officer_enrolls = sign_statement(
        world.officer,
        "key.enrolled",
        {
            "public_key": SigningKey.generate().public_key_b64,
            "roles": ["admin"],
            "valid_from": format_timestamp(world.now),
            "label": "escalation",
        },
        world.now,
    )
    expect_refused(world, [officer_enrolls], "needs one of admin")


def test_revoked_issuer_refused(world: LedgerWorld) -> None:
    revoke = sign_statement(
        world.admin, KEY_REVOKED, {"issuer": world.officer.issuer, "reason": "left"}, world.now
    )
    world.ledger.append([revoke], world.now)
    expect_refused(world, [world.note("after revocation")], "revoked at seq 2")


def test_not_yet_valid_issuer_refused(world: LedgerWorld) -> None:
    later = SigningKey.generate()
    enrolment = world.enroll(later, ["treasury-officer"], "later")
    body = dict(enrolment.body, valid_from=format_timestamp(world.now + timedelta(days=1)))
    world.ledger.append([sign_statement(world.admin, "key.enrolled", body, world.now)], world.now)
    expect_refused(world, [world.note("too early", later)], "is valid from")


def test_nonce_reuse_refused_across_and_within_batches(world: LedgerWorld) -> None:
    note = world.note("once")
    world.ledger.append([note], world.now)
    expect_refused(world, [note], "nonce already used")
    twin = sign_statement(world.officer, "note.recorded", {"text": "x"}, world.now, nonce="ab" * 16)
    twin2 = sign_statement(
        world.officer, "note.recorded", {"text": "y"}, world.now, nonce="ab" * 16
    )
    expect_refused(world, [twin, twin2], "same batch", index=1)


def test_issued_at_outside_window_refused(world: LedgerWorld) -> None:
    future = sign_statement(
        world.officer, "note.recorded", {"text": "f"}, world.now + timedelta(hours=1)
    )
    expect_refused(world, [future], "in the future")
    old = sign_statement(
        world.officer, "note.recorded", {"text": "o"}, world.now - timedelta(days=8)
    )
    expect_refused(world, [old], "older than")


def test_batch_is_atomic(world: LedgerWorld) -> None:
    batch = [
        world.note("1"),
        world.note("2"),
        world.note("3", SigningKey.generate()),
        world.note("4"),
    ]
    expect_refused(world, batch, "not an enrolled key", index=2)


def test_enrolment_and_use_in_one_batch(world: LedgerWorld) -> None:
    newcomer = SigningKey.generate()
    receipts = world.ledger.append(
        [world.enroll(newcomer, ["auditor"], "auditor"), world.note("hello", newcomer)], world.now
    )
    assert len(receipts) == 2
    assert verify_ledger(world.engine, RULES).ok


def test_key_rules(world: LedgerWorld) -> None:
    expect_refused(world, [world.enroll(world.officer, ["approver"])], "already enrolled")
    last_admin = sign_statement(
        world.admin, KEY_REVOKED, {"issuer": world.admin.issuer, "reason": "oops"}, world.now
    )
    expect_refused(world, [last_admin], "last active admin")
    unknown = sign_statement(
        world.admin, KEY_REVOKED, {"issuer": "00" * 32, "reason": "x"}, world.now
    )
    expect_refused(world, [unknown], "no enrolled key")


def test_genesis_only_once_and_first(world: LedgerWorld, database_url: str) -> None:
    with pytest.raises(LedgerStateError):
        init_ledger(world.engine, RULES, "again", [world.admin.public_key_raw], world.ledger_key)
    again = sign_statement(
        world.ledger_key,
        "ledger.genesis",
        {
            "origin": "x",
            "ledger_key": world.ledger_key.public_key_b64,
            "admins": [world.admin.public_key_b64],
        },
        world.now,
    )
    expect_refused(world, [again], "only stand at seq 0")


def test_first_entry_must_be_genesis(engine: Engine) -> None:
    migrate.upgrade(engine)
    note = sign_statement(SigningKey.generate(), "note.recorded", {"text": "x"}, datetime.now(UTC))
    with Ledger(engine, RULES) as ledger:
        with pytest.raises(AppendRefused, match="seq 0 must be"):
            ledger.append([note])
        assert ledger.head().size == 0


class BlobBody(BodyModel):
    blob: str


def test_entry_over_size_limit_refused(world: LedgerWorld, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(kinds.AUTHORITY, "test.blob", frozenset({"treasury-officer"}))
    blobs = RuleSet(
        "test-blobs",
        {**RULES.body_models, "test.blob": BlobBody},
        RULES.projections,
        RULES.unprojected | {"test.blob"},
    )
    fits = sign_statement(world.officer, "test.blob", {"blob": "a" * 64_000}, world.now)
    too_big = sign_statement(world.officer, "test.blob", {"blob": "a" * 65_300}, world.now)
    with Ledger(world.engine, blobs) as ledger:
        ledger.append([fits], world.now)
        with pytest.raises(AppendRefused, match="the limit is 65535"):
            ledger.append([too_big], world.now)


def test_database_refuses_update_and_delete(world: LedgerWorld) -> None:
    for statement in (
        "UPDATE ledger_entry SET kind = 'x' WHERE seq = 1",
        "DELETE FROM ledger_entry",
    ):
        with pytest.raises(DBAPIError, match="append-only"), world.engine.begin() as connection:
            connection.execute(text(statement))
    assert world.ledger.head().size == 2


def test_recorded_at_never_decreases(world: LedgerWorld) -> None:
    head = world.ledger.head()
    earlier = world.now - timedelta(minutes=1)
    note = sign_statement(world.officer, "note.recorded", {"text": "clock stepped back"}, earlier)
    world.ledger.append([note], earlier)
    assert world.ledger.read(head.size, 1)[0].recorded_at == head.recorded_at
    assert verify_ledger(world.engine, RULES).ok


def test_time_rules_are_configurable(world: LedgerWorld) -> None:
    strict = Ledger(world.engine, RULES, AppendRules(clock_skew_s_max=0, statement_age_s_max=60))
    old = sign_statement(
        world.officer, "note.recorded", {"text": "o"}, world.now - timedelta(minutes=5)
    )
    with pytest.raises(AppendRefused, match="older than 60 s"):
        strict.append([old], world.now)
    strict.close()


def test_large_batch_uses_parallel_verification(world: LedgerWorld) -> None:
    notes = [world.note(f"bulk {i}") for i in range(600)]
    bad = notes[450].to_json()
    bad["signature"] = base64.b64encode(bytes(64)).decode()
    notes[450] = parse_signed_statement(bad)
    expect_refused(world, notes, "signature does not verify", index=450)
    del notes[450]
    assert len(world.ledger.append(notes, world.now)) == 599
