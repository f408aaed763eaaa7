"""Export bundles: entries, checkpoints, tiles and keys, consistent with the database."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sequestra.ledger import merkle
from sequestra.ledger.checkpoint import Checkpoint
from sequestra.ledger.checkpoints import create_checkpoint
from sequestra.ledger.errors import LedgerStateError
from sequestra.ledger.export import BUNDLE_FORMAT, export_bundle
from sequestra.ledger.note import open_note, verifier_from_key
from sequestra.ledger.tiles import TileNodeReader, decode_entry_bundle, entry_bundle_refs
from tests.conftest import LedgerWorld


@pytest.fixture
def checkpointed(world: LedgerWorld) -> LedgerWorld:
    world.ledger.append([world.note(f"n{i}") for i in range(300)], world.now)  # size 302
    create_checkpoint(world.engine, world.signer)
    world.ledger.append([world.note(f"m{i}") for i in range(40)], world.now)  # size 342
    create_checkpoint(world.engine, world.signer)
    return world


def test_bundle_matches_the_ledger(checkpointed: LedgerWorld, tmp_path: Path) -> None:
    out = tmp_path / "bundle"
    summary = export_bundle(checkpointed.engine, out, witness_vkeys=["w+00000000+BA=="])
    assert summary.size == 342 and summary.checkpoints == 2
    lines = (out / "entries.jsonl").read_bytes().split(b"\n")
    assert lines[-1] == b"" and len(lines) == 343
    stored = [entry.entry for entry in checkpointed.ledger.read(0, 1000)]
    assert lines[:-1] == stored
    vkey = (out / "keys" / "ledger.vkey").read_text().strip()
    note = open_note((out / "checkpoint").read_bytes(), [verifier_from_key(vkey)])
    checkpoint = Checkpoint.parse(note.text)
    assert checkpoint.size == 342
    leaves = [merkle.hash_leaf(line) for line in stored]
    assert checkpoint.root_hash == merkle.root_from_leaf_hashes(leaves)
    assert merkle.root_at(342, TileNodeReader.from_directory(out, 342)) == checkpoint.root_hash
    bundled = []
    for ref in entry_bundle_refs(342):
        bundled.extend(decode_entry_bundle((out / ref.path).read_bytes(), ref.width))
    assert bundled == stored
    assert sorted(p.name for p in (out / "checkpoints").iterdir()) == ["302", "342"]
    manifest = json.loads((out / "bundle.json").read_text())
    assert manifest["format"] == BUNDLE_FORMAT and manifest["size"] == 342
    issuers = [
        json.loads(line) for line in (out / "keys" / "issuers.jsonl").read_text().splitlines()
    ]
    assert [i["roles"] for i in issuers] == [["ledger"], ["admin"], ["treasury-officer"]]


def test_export_at_an_older_checkpoint(checkpointed: LedgerWorld, tmp_path: Path) -> None:
    summary = export_bundle(checkpointed.engine, tmp_path / "old", size=302)
    assert summary.size == 302 and summary.checkpoints == 1
    assert len((tmp_path / "old" / "entries.jsonl").read_bytes().splitlines()) == 302


def test_export_refusals(world: LedgerWorld, tmp_path: Path) -> None:
    with pytest.raises(LedgerStateError, match="no checkpoint"):
        export_bundle(world.engine, tmp_path / "none")
    assert not (tmp_path / "none").exists() and not (tmp_path / "none.partial").exists()
    create_checkpoint(world.engine, world.signer)
    with pytest.raises(LedgerStateError, match="no checkpoint at size 1"):
        export_bundle(world.engine, tmp_path / "x", size=1)
    (tmp_path / "taken").mkdir()
    with pytest.raises(LedgerStateError, match="exists"):
        export_bundle(world.engine, tmp_path / "taken")
