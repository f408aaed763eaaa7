"""Build ledgers in memory and write export bundles from them, with the pure modules only.

The bundle layout is that of `sequestra export` (docs/auditor-guide.md); the tests write it
themselves so the auditor is checked against the specs, not against the exporter.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from sequestra.ledger.checkpoint import Checkpoint
from sequestra.ledger.entry import GENESIS_PREV, Entry
from sequestra.ledger.keys import SigningKey, encode_public_key
from sequestra.ledger.kinds import GENESIS_KIND, KEY_ENROLLED, KEY_REVOKED
from sequestra.ledger.merkle import MemoryNodeStore
from sequestra.ledger.note import (
    CosignatureSigner,
    Ed25519Signer,
    format_verifier_key,
    sign_note,
    split_note,
)
from sequestra.ledger.statement import SignedStatement, sign_statement
from sequestra.ledger.tiles import encode_entry_bundle, entry_bundle_refs, write_tiles
from sequestra.ledger.timefmt import format_timestamp

ORIGIN = "audit.sequestra.example/log"
START = datetime(2026, 3, 1, 9, 0, 0, tzinfo=UTC)


@dataclass
class Witness:
    """A witness's cosigning key, with a fixed clock."""

    name: str
    signer: CosignatureSigner

    @classmethod
    def create(cls, name: str) -> Witness:
        return cls(
            name, CosignatureSigner(name, Ed25519PrivateKey.generate(), lambda: 1_772_000_000)
        )

    @property
    def vkey(self) -> str:
        return self.signer.verifier().verifier_key


@dataclass
class MemoryLedger:
    """A ledger's entries and signed checkpoints, built in memory without any rule check."""

    origin: str = ORIGIN
    ledger_key: SigningKey = field(default_factory=SigningKey.generate)
    admin: SigningKey = field(default_factory=SigningKey.generate)
    officer: SigningKey = field(default_factory=SigningKey.generate)
    entries: list[Entry] = field(default_factory=list)
    checkpoints: dict[int, bytes] = field(default_factory=dict)

    @classmethod
    def create(cls, notes: int = 5, origin: str = ORIGIN) -> MemoryLedger:
        """Genesis, the officer's enrolment, then `notes` notes by the officer."""
        ledger = cls(origin=origin)
        body = {
            "origin": origin,
            "ledger_key": ledger.ledger_key.public_key_b64,
            "admins": [ledger.admin.public_key_b64],
        }
        ledger.append(sign_statement(ledger.ledger_key, GENESIS_KIND, body, START))
        ledger.append(ledger.enroll(ledger.officer, ["treasury-officer"], "officer"))
        for number in range(notes):
            ledger.append(ledger.note(f"memo {number}"))
        return ledger

    @property
    def now(self) -> datetime:
        return START + timedelta(seconds=len(self.entries))

    @property
    def signer(self) -> Ed25519Signer:
        return Ed25519Signer(self.origin, self.ledger_key.private_key)

    @property
    def vkey(self) -> str:
        return format_verifier_key(self.origin, 0x01, self.ledger_key.public_key_raw)

    def note(self, text: str, key: SigningKey | None = None) -> SignedStatement:
        return sign_statement(key or self.officer, "note.recorded", {"text": text}, self.now)

    def enroll(self, key: SigningKey, roles: list[str], label: str) -> SignedStatement:
        body = {
            "public_key": key.public_key_b64,
            "roles": roles,
            "valid_from": format_timestamp(START - timedelta(hours=1)),
            "label": label,
        }
        return sign_statement(self.admin, KEY_ENROLLED, body, self.now)

    def revoke(self, issuer: str) -> SignedStatement:
        body = {"issuer": issuer, "reason": "lost"}
        return sign_statement(self.admin, KEY_REVOKED, body, self.now)

    def append(self, statement: SignedStatement) -> Entry:
        seq = len(self.entries)
        prev = self.entries[-1].leaf_hash if self.entries else GENESIS_PREV
        recorded_at = format_timestamp(START + timedelta(seconds=seq, microseconds=seq))
        entry = Entry.build(seq, recorded_at, statement, prev)
        self.entries.append(entry)
        return entry

    def tree(self, size: int | None = None) -> MemoryNodeStore:
        store = MemoryNodeStore()
        chosen = self.entries if size is None else self.entries[:size]
        store.append_leaf_hashes([e.leaf_hash for e in chosen])
        return store

    def sign_checkpoint(self, size: int | None = None, witnesses: Sequence[Witness] = ()) -> bytes:
        """Sign (and keep) the checkpoint of the first `size` entries, cosigned by witnesses."""
        size = len(self.entries) if size is None else size
        root = self.tree(size).root(size)
        note = Checkpoint(self.origin, size, root).sign([self.signer])
        if witnesses:
            note = cosign(note, witnesses)
        self.checkpoints[size] = note
        return note


def cosign(note: bytes, witnesses: Sequence[Witness]) -> bytes:
    """Add the witnesses' cosignatures to a signed checkpoint note."""
    text, signatures = split_note(note)
    return sign_note(text, [witness.signer for witness in witnesses], keep=signatures)


def entry_lines(ledger: MemoryLedger, size: int | None = None) -> bytes:
    chosen = ledger.entries if size is None else ledger.entries[:size]
    return b"".join(e.canonical + b"\n" for e in chosen)


def write_bundle(
    ledger: MemoryLedger,
    directory: Path,
    size: int | None = None,
    witnesses: Sequence[Witness] = (),
) -> Path:
    """Write the bundle of the checkpoint at `size` (signed now if the ledger has none)."""
    size = len(ledger.entries) if size is None else size
    if size not in ledger.checkpoints:
        ledger.sign_checkpoint(size, witnesses)
    directory.mkdir(parents=True)
    entries = [e.canonical for e in ledger.entries[:size]]
    (directory / "entries.jsonl").write_bytes(entry_lines(ledger, size))
    write_tiles(directory, size, ledger.tree(size))
    for ref in entry_bundle_refs(size):
        first = ref.index * 256
        path = directory / ref.path
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(encode_entry_bundle(entries[first : first + ref.width]))
    (directory / "checkpoint").write_bytes(ledger.checkpoints[size])
    (directory / "checkpoints").mkdir()
    for checkpoint_size, note in ledger.checkpoints.items():
        if checkpoint_size <= size:
            (directory / "checkpoints" / str(checkpoint_size)).write_bytes(note)
    keys = directory / "keys"
    keys.mkdir()
    (keys / "ledger.vkey").write_text(ledger.vkey + "\n")
    (keys / "witnesses.vkeys").write_text("".join(w.vkey + "\n" for w in witnesses))
    issuers = [
        {"issuer": key.issuer, "public_key": encode_public_key(key.public_key_raw)}
        for key in (ledger.ledger_key, ledger.admin, ledger.officer)
    ]
    (keys / "issuers.jsonl").write_text("".join(json.dumps(i) + "\n" for i in issuers))
    manifest = {
        "format": "sequestra-bundle/v1",
        "origin": ledger.origin,
        "size": size,
        "ledger_vkey": ledger.vkey,
        "witness_vkeys": [w.vkey for w in witnesses],
        "exported_at": "2026-03-02T00:00:00.000000Z",
    }
    (directory / "bundle.json").write_text(json.dumps(manifest, indent=2) + "\n")
    return directory
