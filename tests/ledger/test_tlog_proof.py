"""Tests of the C2SP tlog-proof file format: exact formatting, strict parsing, verification."""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given, settings
from hypothesis import strategies as st

from sequestra.ledger.checkpoint import Checkpoint, CheckpointError
from sequestra.ledger.merkle import (
    MemoryNodeStore,
    ProofError,
    ProofLengthError,
    RootMismatchError,
    hash_leaf,
)
from sequestra.ledger.note import (
    CosignatureSigner,
    Ed25519Signer,
    InvalidSignatureError,
    UnverifiedNoteError,
)
from sequestra.ledger.tlog_proof import (
    TlogProof,
    TlogProofError,
    format_tlog_proof,
    parse_tlog_proof,
)

VECTORS: dict[str, Any] = json.loads(
    (
        Path(__file__).resolve().parents[1] / "data" / "tlog_proof" / "tlog-proof-vectors.json"
    ).read_text(encoding="utf-8")
)
ORIGIN = "example.com/sequestra-test"
LOG = Ed25519Signer.generate(ORIGIN)
ENTRIES = [f"record {i}".encode() for i in range(1000)]


@pytest.fixture(scope="module")
def store() -> MemoryNodeStore:
    tree = MemoryNodeStore()
    tree.append_entries(ENTRIES)
    return tree


@pytest.fixture(scope="module")
def checkpoint_note(store: MemoryNodeStore) -> bytes:
    return Checkpoint(ORIGIN, store.size, store.root()).sign([LOG])


def b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


# --- formatting ----------------------------------------------------------------------------------


def test_transparency_dev_formats_marshal_vectors(checkpoint_note: bytes) -> None:
    for case in VECTORS["marshal"]:
        hashes = [hashlib.sha256(text.encode()).digest() for text in case["hashes_sha256_of"]]
        extra = None if case["extra_utf8"] is None else case["extra_utf8"].encode()
        expected = case["prefix"].format(
            hash1=b64(hashlib.sha256(b"hash1").digest()),
            hash2=b64(hashlib.sha256(b"hash2").digest()),
            extra=b64(extra or b""),
        )
        formatted = format_tlog_proof(case["index"], hashes, checkpoint_note, extra)
        assert formatted == expected.encode() + checkpoint_note
        parsed = parse_tlog_proof(formatted)
        assert (parsed.index, list(parsed.hashes), parsed.extra) == (case["index"], hashes, extra)
        assert parsed.checkpoint == checkpoint_note


@settings(max_examples=50, deadline=None)
@given(
    index=st.integers(0, 2**64 - 1),
    hashes=st.lists(st.binary(min_size=32, max_size=32), max_size=64),
    extra=st.one_of(st.none(), st.binary(min_size=1, max_size=100)),
)
def test_round_trip(index: int, hashes: list[bytes], extra: bytes | None) -> None:
    note = Checkpoint(ORIGIN, 5, b"\x07" * 32).sign([LOG])
    proof = TlogProof(index, tuple(hashes), note, extra)
    assert TlogProof.parse(proof.format()) == proof


def test_invalid_fields_are_refused(checkpoint_note: bytes) -> None:
    bad = [
        (-1, (), checkpoint_note, None),
        (2**64, (), checkpoint_note, None),
        (0, (b"\x00" * 31,), checkpoint_note, None),
        (0, (b"\x00" * 32,) * 65, checkpoint_note, None),
        (0, (), checkpoint_note, b""),
        (0, (), b"test checkpoint\n", None),
        (0, (), checkpoint_note + b"\n", None),
    ]
    for index, hashes, note, extra in bad:
        with pytest.raises(TlogProofError):
            TlogProof(index, hashes, note, extra)


# --- strict parsing ------------------------------------------------------------------------------


def test_transparency_dev_formats_unmarshal_errors() -> None:
    for name, text in VECTORS["unmarshal_errors"].items():
        with pytest.raises(TlogProofError):
            parse_tlog_proof(text.encode())
        assert name


def test_c2sp_example_with_elided_signatures_is_refused() -> None:
    with pytest.raises(TlogProofError, match="checkpoint") as failure:
        parse_tlog_proof(VECTORS["c2sp_example"].encode())
    assert failure.value.line == 10  # where the checkpoint starts


def good_file(checkpoint_note: bytes) -> bytes:
    hashes = [hashlib.sha256(bytes([i])).digest() for i in range(3)]
    return format_tlog_proof(42, hashes, checkpoint_note, b"context")


def mutations(data: bytes) -> list[bytes]:
    """Garbage, truncated, padded and reordered variants of a good proof file."""
    lines = data.split(b"\n")
    hash_line = lines[3]
    return [
        b"",
        data[:10],
        data.split(b"\n\n")[0],  # no empty line, no checkpoint
        data.split(b"\n\n")[0] + b"\n\n",  # no checkpoint
        data[:-1],  # checkpoint without final newline
        data + b"\n",  # padded after the checkpoint
        data + b"garbage\n",
        b"\n" + data,
        b" " + data,
        data.replace(b"\n", b"\r\n"),
        data.replace(b"tlog-proof@v1", b"tlog-proof@v2"),
        data.replace(b"index 42", b"index 042"),
        data.replace(b"index 42", b"index +42"),
        data.replace(b"index 42", b"index 42 "),
        data.replace(b"index 42", b"index  42"),
        data.replace(b"index 42", b"index"),
        data.replace(b"index 42", b"index " + str(2**64).encode()),
        data.replace(b"index 42\n", b""),
        data.replace(b"extra ", b"extra  "),
        data.replace(b"extra Y29udGV4dA==", b"extra Y29udGV4dA"),  # unpadded
        data.replace(b"extra Y29udGV4dA==", b"extra "),
        data.replace(b"extra Y29udGV4dA==\nindex 42", b"index 42\nextra Y29udGV4dA=="),
        data.replace(hash_line, hash_line[:-1]),  # unpadded hash
        data.replace(hash_line, hash_line[:-2] + b"B="),  # stray bits
        data.replace(hash_line, hash_line + b"\n" + hash_line[:20] + b"="),
        data.replace(hash_line, base64.b64encode(b"\x00" * 33)),
        data.replace(hash_line + b"\n", hash_line + b"\n\n"),  # empty line inside the proof
        data.replace(hash_line, hash_line + b" "),
        data.replace(b"\xe2\x80\x94", b"-"),  # checkpoint signature line broken
        data.replace(f"\n{ORIGIN}\n".encode(), f"\n{ORIGIN}\n01".encode()),
        b"\xff" + data,
    ]


def test_malformed_files_are_refused(checkpoint_note: bytes) -> None:
    data = good_file(checkpoint_note)
    assert parse_tlog_proof(data).index == 42
    for bad in mutations(data):
        with pytest.raises(TlogProofError):
            parse_tlog_proof(bad)


def test_too_many_hashes_and_size_limit(checkpoint_note: bytes) -> None:
    line = b64(b"\x01" * 32).encode()
    data = b"c2sp.org/tlog-proof@v1\nindex 0\n" + (line + b"\n") * 65 + b"\n" + checkpoint_note
    with pytest.raises(TlogProofError, match="more than 64"):
        parse_tlog_proof(data)
    with pytest.raises(TlogProofError, match="larger"):
        parse_tlog_proof(b"c2sp.org/tlog-proof@v1\n" + b"x" * (1 << 21))


def test_error_reports_the_line(checkpoint_note: bytes) -> None:
    data = good_file(checkpoint_note).replace(b"index 42", b"index x")
    with pytest.raises(TlogProofError) as failure:
        parse_tlog_proof(data)
    assert failure.value.line == 3
    assert str(failure.value).startswith("line 3: ")


# --- verification --------------------------------------------------------------------------------


def make_proof(store: MemoryNodeStore, checkpoint_note: bytes, index: int) -> TlogProof:
    return TlogProof(index, tuple(store.inclusion_proof(index)), checkpoint_note)


def test_verify_end_to_end(store: MemoryNodeStore, checkpoint_note: bytes) -> None:
    for index in [0, 1, 500, 999]:
        data = make_proof(store, checkpoint_note, index).format()
        checkpoint, note = parse_tlog_proof(data).verify(
            hash_leaf(ENTRIES[index]), ORIGIN, [LOG.verifier()]
        )
        assert checkpoint.size == 1000 and checkpoint.root_hash == store.root()
        assert note.verified_signatures[0].name == ORIGIN


def test_verify_rejects_tampering(store: MemoryNodeStore, checkpoint_note: bytes) -> None:
    proof = make_proof(store, checkpoint_note, 500)
    leaf = hash_leaf(ENTRIES[500])
    verifiers = [LOG.verifier()]
    with pytest.raises(RootMismatchError):
        proof.verify(hash_leaf(b"another record"), ORIGIN, verifiers)
    with pytest.raises(ProofError):
        TlogProof(501, proof.hashes, checkpoint_note).verify(leaf, ORIGIN, verifiers)
    with pytest.raises(ProofLengthError):
        TlogProof(500, proof.hashes[:-1], checkpoint_note).verify(leaf, ORIGIN, verifiers)
    flipped = (bytes([proof.hashes[0][0] ^ 1]) + proof.hashes[0][1:], *proof.hashes[1:])
    with pytest.raises(RootMismatchError):
        TlogProof(500, flipped, checkpoint_note).verify(leaf, ORIGIN, verifiers)
    with pytest.raises(CheckpointError):
        proof.verify(leaf, "example.com/another-log", verifiers)
    with pytest.raises(UnverifiedNoteError):
        proof.verify(leaf, ORIGIN, [Ed25519Signer.generate(ORIGIN).verifier()])
    forged = checkpoint_note.replace(b"\n1000\n", b"\n1001\n")
    with pytest.raises(InvalidSignatureError):
        TlogProof(500, proof.hashes, forged).verify(leaf, ORIGIN, verifiers)


def test_cosigned_checkpoint_and_unverified_view(store: MemoryNodeStore) -> None:
    witness = CosignatureSigner(
        "witness.example/w1", Ed25519PrivateKey.generate(), clock=lambda: 17
    )
    note = Checkpoint(ORIGIN, 1000, store.root()).sign([LOG, witness])
    proof = TlogProof(7, tuple(store.inclusion_proof(7)), note, b"extra")
    checkpoint, opened = parse_tlog_proof(proof.format()).verify(
        hash_leaf(ENTRIES[7]), ORIGIN, [LOG.verifier(), witness.verifier()]
    )
    assert [s.name for s in opened.verified_signatures] == [ORIGIN, "witness.example/w1"]
    assert proof.unverified_checkpoint() == checkpoint
