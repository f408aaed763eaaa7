"""C2SP transparency log checkpoints (c2sp.org/tlog-checkpoint).

A checkpoint is the text of a signed note: the origin line, the tree size in ASCII decimal
without leading zeros, the standard padded base64 of the 32-byte RFC 6962 root hash, and
optional non-empty extension lines, each ending in a newline.

The spec only recommends (SHOULD) an origin without spaces or plus signs and tells clients not
to assume it, so parsing accepts any non-empty origin without control characters; a log that
wants the recommendation enforced can check ``is_recommended_origin``. Parsing is syntactic:
whether the root really is the tree's root is for the proofs to show.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Sequence
from dataclasses import dataclass

from sequestra.errors import InputRefused
from sequestra.ledger.merkle import HASH_SIZE, MAX_TREE_SIZE
from sequestra.ledger.note import Note, Signer, Verifier, is_valid_key_name, open_note, sign_note

_DECIMAL = re.compile(r"0|[1-9][0-9]*", re.ASCII)
_CONTROL = re.compile("[\x00-\x1f]")


class CheckpointError(InputRefused):
    """A checkpoint is malformed, or is not the checkpoint of the expected log."""


@dataclass(frozen=True)
class Checkpoint:
    """The signed statement of a log: its origin, tree size and root hash at that size."""

    origin: str
    size: int
    root_hash: bytes
    extensions: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        """Validate every field; raises CheckpointError."""
        object.__setattr__(self, "extensions", tuple(self.extensions))
        _check_line("origin", self.origin)
        if isinstance(self.size, bool) or not isinstance(self.size, int):
            raise CheckpointError(f"size: expected an integer, got {type(self.size).__name__}")
        if not 0 <= self.size < MAX_TREE_SIZE:
            raise CheckpointError(f"size: expected 0 <= size < 2**64, got {self.size}")
        if not isinstance(self.root_hash, bytes) or len(self.root_hash) != HASH_SIZE:
            raise CheckpointError("root hash: expected 32 bytes")
        for number, line in enumerate(self.extensions, start=1):
            _check_line(f"extension line {number}", line)

    def format(self) -> str:
        """Return the checkpoint text (the note body), ending with a newline."""
        root = base64.b64encode(self.root_hash).decode("ascii")
        lines = [self.origin, str(self.size), root, *self.extensions]
        return "".join(line + "\n" for line in lines)

    @classmethod
    def parse(cls, text: str) -> Checkpoint:
        """Parse a checkpoint text; raises CheckpointError if any rule is broken."""
        return parse_checkpoint(text)

    def sign(self, signers: Sequence[Signer]) -> bytes:
        """Return the checkpoint as a signed note; raises NoteError from sign_note."""
        return sign_note(self.format(), signers)


def parse_checkpoint(text: str) -> Checkpoint:
    """Parse a checkpoint text (origin, size, root hash, extension lines).

    Raises CheckpointError for a missing final newline, fewer than three lines, an empty line,
    a control character, a size that is not canonical ASCII decimal below 2**64, or a root hash
    that is not the canonical padded base64 of 32 bytes.
    """
    if not text.endswith("\n"):
        raise CheckpointError("checkpoint: the text must end with a newline")
    lines = text[:-1].split("\n")
    if len(lines) < 3:
        raise CheckpointError(f"checkpoint: expected at least 3 lines, got {len(lines)}")
    origin, size_text, root_text, *extensions = lines
    return Checkpoint(origin, _parse_size(size_text), _parse_root(root_text), tuple(extensions))


def open_checkpoint(
    note: bytes, origin: str, verifiers: Sequence[Verifier]
) -> tuple[Checkpoint, Note]:
    """Verify a signed checkpoint note and check that it is the checkpoint of ``origin``.

    Raises NoteError (and subclasses) from open_note, CheckpointError if the text is not a
    checkpoint or names another origin.
    """
    opened = open_note(note, verifiers)
    checkpoint = parse_checkpoint(opened.text)
    if checkpoint.origin != origin:
        raise CheckpointError(f"checkpoint: expected origin {origin!r}, got {checkpoint.origin!r}")
    return checkpoint, opened


def is_recommended_origin(origin: str) -> bool:
    """Return whether the origin follows the spec's advice: no Unicode space and no plus."""
    return is_valid_key_name(origin)


def _check_line(what: str, line: str) -> None:
    if not isinstance(line, str) or not line:
        raise CheckpointError(f"{what}: expected a non-empty line")
    if _CONTROL.search(line):
        raise CheckpointError(f"{what}: contains a newline or control character")


def _parse_size(text: str) -> int:
    if not _DECIMAL.fullmatch(text):
        raise CheckpointError(f"size: expected ASCII decimal without leading zeros, got {text!r}")
    size = int(text)
    if size >= MAX_TREE_SIZE:
        raise CheckpointError(f"size: {text} is not below 2**64")
    return size


def _parse_root(text: str) -> bytes:
    try:
        root = base64.b64decode(text.encode("ascii"), validate=True)
    except (UnicodeEncodeError, binascii.Error) as error:
        raise CheckpointError(f"root hash: not standard base64: {text!r}") from error
    if len(root) != HASH_SIZE or base64.b64encode(root).decode("ascii") != text:
        raise CheckpointError("root hash: expected the canonical padded base64 of 32 bytes")
    return root
