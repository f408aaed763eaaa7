"""The audit report on both databases: a prefix verified, its checkpoints and their notes,
entries by kind, keys, and a tampered entry reported as a failed verification."""

from __future__ import annotations

import json
from collections import Counter

from sqlalchemy import select, text

from sequestra.ledger.checkpoints import create_checkpoint
from sequestra.ledger.tables import ENTRY_TABLE
from sequestra.reports.catalog import REPORT_FORMATS
from tests.composed import REPORTS
from tests.custody.conftest import Custody, custody  # noqa: F401
from tests.ledger.test_verify import disable_triggers


def _audit(custody: Custody, size: int | None = None) -> dict:  # noqa: F811
    return json.loads(REPORTS.render(custody.world.engine, "audit", "json", size).data)


def test_the_prefix_verifies_and_names_its_checkpoints(custody: Custody) -> None:  # noqa: F811
    world = custody.world
    custody.append(world.note("before the checkpoint"))
    first, _ = create_checkpoint(world.engine, world.signer, world.now)
    custody.append(custody.seize("100000000"))
    size = custody.size()
    before = {f: REPORTS.render(world.engine, "audit", f).data for f in REPORT_FORMATS}
    for format_name in REPORT_FORMATS:
        assert REPORTS.render(world.engine, "audit", format_name).data == before[format_name]
    document = json.loads(before["json"])
    facts = document["facts"]
    assert facts["verification"] == "passed" and facts["entries_checked"] == str(size)
    assert facts["latest_checkpoint_size"] == str(first.size)
    assert facts["latest_checkpoint_note"] == first.note.decode()
    assert facts["latest_checkpoint_check"] == "valid"
    with world.engine.connect() as connection:
        kinds = Counter(connection.execute(select(ENTRY_TABLE.c.kind)).scalars())
    assert {r["kind"]: int(r["entries"]) for r in document["tables"]["kinds"]} == kinds
    labels = {r["label"] for r in document["tables"]["keys"]}
    assert "officer" in labels
    custody.append(custody.seize("5"))
    create_checkpoint(world.engine, world.signer, world.now)  # size beyond the prefix
    for format_name in REPORT_FORMATS:
        assert REPORTS.render(world.engine, "audit", format_name, size).data == before[format_name]
    assert _audit(custody)["facts"]["checkpoints"] == "2"


def test_a_tampered_entry_fails_verification(custody: Custody) -> None:  # noqa: F811
    custody.append(custody.world.note("first"))
    custody.append(custody.world.note("second"))
    size = custody.size()
    engine = custody.world.engine
    with engine.connect() as connection:
        data = bytes(
            connection.execute(
                select(ENTRY_TABLE.c.entry).where(ENTRY_TABLE.c.seq == size - 2)
            ).scalar_one()
        )
    disable_triggers(engine)
    with engine.begin() as connection:
        connection.execute(
            text("UPDATE ledger_entry SET entry = :e WHERE seq = :s"),
            {"e": data.replace(b"first", b"fir5t"), "s": size - 2},
        )
    facts = _audit(custody)["facts"]
    assert facts["verification"] == "FAILED" and facts["first_bad_seq"] == str(size - 2)
    assert "leaf hash" in facts["reason"] or "signature" in facts["reason"]
    assert _audit(custody, size - 2)["facts"]["verification"] == "passed"
