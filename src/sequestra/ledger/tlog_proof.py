"""C2SP transparency log proofs (c2sp.org/tlog-proof@v1): an offline-verifiable receipt.

The file is a sequence of newline-terminated lines::

    c2sp.org/tlog-proof@v1
    extra <base64>              (optional, opaque and unauthenticated)
    index <decimal>
    <base64 hash>               (zero or more: the inclusion proof, leaf sibling first)

    <the signed checkpoint note, verbatim>

Parsing is strict: the exact header, canonical decimal and base64, 32-byte hashes, at most 64
of them, and a checkpoint that is a well-formed signed note whose text is a checkpoint. Only
the standard library and ``cryptography`` are used.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Sequence
from dataclasses import dataclass

from sequestra.errors import InputRefused
from sequestra.ledger.checkpoint import Checkpoint, CheckpointError, open_checkpoint
from sequestra.ledger.merkle import HASH_SIZE, MAX_TREE_SIZE, verify_inclusion
from sequestra.ledger.note import Note, NoteError, Verifier, split_note

HEADER = b"c2sp.org/tlog-proof@v1"
EXTRA_PREFIX = b"extra "
INDEX_PREFIX = b"index "
MAX_PROOF_HASHES = 64
MAX_TLOG_PROOF_BYTES = 1 << 21
FILE_EXTENSION = ".tlog-proof"

_DECIMAL = re.compile(rb"0|[1-9][0-9]*")


class TlogProofError(InputRefused):
    """A tlog-proof file is malformed; ``line`` is the 1-based line at fault, if known."""

    def __init__(self, message: str, line: int | None = None) -> None:
        super().__init__(f"line {line}: {message}" if line is not None else message)
        self.line = line
        self.reason = message


@dataclass(frozen=True)
class TlogProof:
    """An entry index, its inclusion proof, the signed checkpoint and optional extra data."""

    index: int
    hashes: tuple[bytes, ...]
    checkpoint: bytes
    extra: bytes | None = None

    def __post_init__(self) -> None:
        """Validate every field; raises TlogProofError."""
        object.__setattr__(self, "hashes", tuple(self.hashes))
        if isinstance(self.index, bool) or not 0 <= self.index < MAX_TREE_SIZE:
            raise TlogProofError(f"index: expected 0 <= index < 2**64, got {self.index}")
        if len(self.hashes) > MAX_PROOF_HASHES:
            raise TlogProofError(f"inclusion proof: more than {MAX_PROOF_HASHES} hashes")
        if any(not isinstance(h, bytes) or len(h) != HASH_SIZE for h in self.hashes):
            raise TlogProofError("inclusion proof: every hash must be 32 bytes")
        if self.extra is not None and not self.extra:
            raise TlogProofError("extra: empty extra data must be None")
        _check_checkpoint_syntax(self.checkpoint)

    def format(self) -> bytes:
        """Return the tlog-proof file bytes."""
        lines = [HEADER]
        if self.extra is not None:
            lines.append(EXTRA_PREFIX + base64.b64encode(self.extra))
        lines.append(INDEX_PREFIX + str(self.index).encode("ascii"))
        lines.extend(base64.b64encode(h) for h in self.hashes)
        return b"".join(line + b"\n" for line in lines) + b"\n" + self.checkpoint

    @classmethod
    def parse(cls, data: bytes) -> TlogProof:
        """Parse a tlog-proof file; raises TlogProofError (see parse_tlog_proof)."""
        return parse_tlog_proof(data)

    def unverified_checkpoint(self) -> Checkpoint:
        """Return the checkpoint WITHOUT checking signatures: for display only."""
        text, _ = split_note(self.checkpoint)
        return Checkpoint.parse(text)

    def verify(
        self, leaf_hash: bytes, origin: str, verifiers: Sequence[Verifier]
    ) -> tuple[Checkpoint, Note]:
        """Check the checkpoint signatures and the inclusion of ``leaf_hash`` at ``index``.

        Returns the verified checkpoint and note (whose cosignatures a witness policy may
        inspect). Raises NoteError and CheckpointError from open_checkpoint, and ProofError
        (RootMismatchError, ProofLengthError, ...) if the inclusion proof fails.
        """
        checkpoint, opened = open_checkpoint(self.checkpoint, origin, verifiers)
        verify_inclusion(leaf_hash, self.index, checkpoint.size, self.hashes, checkpoint.root_hash)
        return checkpoint, opened


def format_tlog_proof(
    index: int, hashes: Sequence[bytes], checkpoint: bytes, extra: bytes | None = None
) -> bytes:
    """Return tlog-proof file bytes; raises TlogProofError for invalid fields."""
    return TlogProof(index, tuple(hashes), checkpoint, extra).format()


def parse_tlog_proof(data: bytes) -> TlogProof:
    """Parse a tlog-proof file strictly.

    Raises TlogProofError for a file that is too large, a wrong header, an ``extra`` or
    ``index`` line that is not canonical, a hash that is not the canonical base64 of 32 bytes,
    more than 64 hashes, a missing empty line, or a checkpoint that is not a signed checkpoint.
    """
    if len(data) > MAX_TLOG_PROOF_BYTES:
        raise TlogProofError(f"file larger than {MAX_TLOG_PROOF_BYTES} bytes")
    lines = _Lines(data)
    if lines.next() != HEADER:
        raise TlogProofError(f"expected the header {HEADER.decode()}", lines.number)
    line, extra = lines.next(), None
    if line.startswith(EXTRA_PREFIX):
        extra = _decode_base64(line[len(EXTRA_PREFIX) :], "extra data", lines.number)
        line = lines.next()
    if not line.startswith(INDEX_PREFIX):
        raise TlogProofError("expected 'index <n>'", lines.number)
    index = _parse_index(line[len(INDEX_PREFIX) :], lines.number)
    hashes = _parse_hashes(lines)
    try:
        return TlogProof(index, tuple(hashes), lines.rest(), extra)
    except TlogProofError as error:
        raise TlogProofError(f"checkpoint: {error.reason}", lines.number + 1) from error


class _Lines:
    """Newline-terminated lines of a byte string; a line without newline is truncation."""

    def __init__(self, data: bytes) -> None:
        self._data = data
        self._position = 0
        self.number = 0

    def next(self) -> bytes:
        end = self._data.find(b"\n", self._position)
        if end < 0:
            raise TlogProofError("truncated: expected a newline-terminated line", self.number + 1)
        line = self._data[self._position : end]
        self._position, self.number = end + 1, self.number + 1
        return line

    def rest(self) -> bytes:
        return self._data[self._position :]


def _parse_hashes(lines: _Lines) -> list[bytes]:
    hashes: list[bytes] = []
    while line := lines.next():
        if len(hashes) == MAX_PROOF_HASHES:
            raise TlogProofError(f"more than {MAX_PROOF_HASHES} proof hashes", lines.number)
        value = _decode_base64(line, "proof hash", lines.number)
        if len(value) != HASH_SIZE:
            raise TlogProofError(f"proof hash: expected 32 bytes, got {len(value)}", lines.number)
        hashes.append(value)
    return hashes


def _parse_index(text: bytes, line: int) -> int:
    if not _DECIMAL.fullmatch(text):
        raise TlogProofError("index: expected ASCII decimal without leading zeros", line)
    index = int(text)
    if index >= MAX_TREE_SIZE:
        raise TlogProofError("index: not below 2**64", line)
    return index


def _decode_base64(text: bytes, what: str, line: int) -> bytes:
    try:
        value = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as error:
        raise TlogProofError(f"{what}: not standard base64", line) from error
    if not value or base64.b64encode(value) != text:
        raise TlogProofError(f"{what}: not canonical non-empty base64", line)
    return value


def _check_checkpoint_syntax(checkpoint: bytes) -> None:
    try:
        text, _ = split_note(checkpoint)
        Checkpoint.parse(text)
    except (NoteError, CheckpointError) as error:
        raise TlogProofError(f"not a signed checkpoint: {error}") from error
