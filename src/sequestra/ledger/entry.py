"""Entries: registered statements, chained by the previous entry's leaf hash.

`E = {seq, recorded_at, statement, signature, prev}`; leaf hash `SHA-256(0x00 || JCS(E))`.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from sequestra.ledger.statement import SignedStatement

ENTRY_BYTES_MAX = 65_535  # the C2SP tlog-tiles entry-bundle limit (uint16 length prefix)
GENESIS_PREV = bytes(32)
ENTRY_FIELDS = ("prev", "recorded_at", "seq", "signature", "statement")


def entry_bytes(
    seq: int, recorded_at: str, statement_canonical: bytes, signature_b64: str, prev: bytes
) -> bytes:
    """Return JCS(E) built from the statement's canonical bytes.

    JCS orders the entry's keys prev < recorded_at < seq < signature < statement, and every
    value but the statement is ASCII with nothing to escape, so the canonical entry is this
    concatenation; tests check it against the reference encoder.
    """
    return b"".join(
        (
            b'{"prev":"',
            prev.hex().encode("ascii"),
            b'","recorded_at":"',
            recorded_at.encode("ascii"),
            b'","seq":',
            str(seq).encode("ascii"),
            b',"signature":"',
            signature_b64.encode("ascii"),
            b'","statement":',
            statement_canonical,
            b"}",
        )
    )


def leaf_hash(data: bytes) -> bytes:
    """Return the RFC 6962 leaf hash SHA-256(0x00 || data)."""
    return hashlib.sha256(b"\x00" + data).digest()


@dataclass(frozen=True)
class Entry:
    """A registered statement at position `seq`."""

    seq: int
    recorded_at: str
    statement: SignedStatement
    prev: bytes
    canonical: bytes
    leaf_hash: bytes

    @classmethod
    def build(cls, seq: int, recorded_at: str, statement: SignedStatement, prev: bytes) -> Entry:
        data = entry_bytes(seq, recorded_at, statement.canonical, statement.signature_b64, prev)
        return cls(seq, recorded_at, statement, prev, data, leaf_hash(data))
