"""The anchor payload: the bytes a blockchain transaction carries to anchor a checkpoint.

The payload is a header line followed by the checkpoint's body lines (c2sp.org/tlog-checkpoint,
without extension lines and without signatures):

    b"sequestra/anchor/v1\\n" + origin + b"\\n" + size + b"\\n" + base64(root) + b"\\n"

where origin is UTF-8 without control characters, size is ASCII decimal without leading
zeros below 2**64, and root is the standard padded base64 of the 32-byte RFC 6962 root hash.
Parsing is strict: exactly these four lines, each ending in a newline, nothing before or
after. Only the standard library is used, so an offline auditor can parse payloads.
"""

from __future__ import annotations

import base64
import binascii
import re
from typing import NamedTuple, Protocol

from sequestra.errors import InputRefused

ANCHOR_PAYLOAD_HEADER = b"sequestra/anchor/v1"
ROOT_HASH_SIZE = 32
TREE_SIZE_MAX = (1 << 64) - 1
ORIGIN_BYTES_MAX = 1024
# Header, origin, 20 digits, 44 base64 characters and four newlines.
ANCHOR_PAYLOAD_BYTES_MAX = len(ANCHOR_PAYLOAD_HEADER) + ORIGIN_BYTES_MAX + 20 + 44 + 4

_DECIMAL = re.compile(r"0|[1-9][0-9]*", re.ASCII)
_CONTROL = re.compile("[\x00-\x1f\x7f]")


class AnchorPayloadError(InputRefused):
    """Bytes are not a well-formed sequestra anchor payload (v1)."""


class AnchorPayload(NamedTuple):
    """What an anchor payload names: the log's origin, tree size and root hash."""

    origin: str
    size: int
    root_hash: bytes


class CheckpointLike(Protocol):
    """Anything with a checkpoint's origin, size and root hash (ledger Checkpoint)."""

    @property
    def origin(self) -> str: ...

    @property
    def size(self) -> int: ...

    @property
    def root_hash(self) -> bytes: ...


def format_anchor_payload(checkpoint: CheckpointLike) -> bytes:
    """Return the anchor payload of a checkpoint (origin, size and root hash).

    Raises AnchorPayloadError when the origin is empty, too long or has a control character,
    the size is not an integer in [0, 2**64), or the root hash is not 32 bytes.
    """
    origin = _check_origin(checkpoint.origin)
    size = checkpoint.size
    if isinstance(size, bool) or not isinstance(size, int) or not 0 <= size <= TREE_SIZE_MAX:
        raise AnchorPayloadError(f"size: expected an integer in [0, 2**64), got {size!r}")
    root_hash = checkpoint.root_hash
    if not isinstance(root_hash, bytes) or len(root_hash) != ROOT_HASH_SIZE:
        raise AnchorPayloadError(f"root hash: expected {ROOT_HASH_SIZE} bytes")
    lines = (ANCHOR_PAYLOAD_HEADER, origin, str(size).encode(), base64.b64encode(root_hash))
    return b"".join(line + b"\n" for line in lines)


def parse_anchor_payload(data: bytes) -> AnchorPayload:
    """Parse an anchor payload strictly; returns (origin, size, root_hash).

    Raises AnchorPayloadError for anything but exactly the header line, an origin line, a
    canonical decimal size line and a canonical base64 root line, each ending in a newline.
    """
    if not isinstance(data, bytes | bytearray):
        raise AnchorPayloadError(f"expected bytes, got {type(data).__name__}")
    if len(data) > ANCHOR_PAYLOAD_BYTES_MAX:
        raise AnchorPayloadError(f"expected at most {ANCHOR_PAYLOAD_BYTES_MAX} bytes")
    if not data.endswith(b"\n"):
        raise AnchorPayloadError("the payload must end with a newline")
    lines = bytes(data[:-1]).split(b"\n")
    if len(lines) != 4:
        raise AnchorPayloadError(f"expected 4 lines, got {len(lines)}")
    header, origin_line, size_line, root_line = lines
    if header != ANCHOR_PAYLOAD_HEADER:
        raise AnchorPayloadError(f"expected the header {ANCHOR_PAYLOAD_HEADER!r}, got {header!r}")
    return AnchorPayload(_parse_origin(origin_line), _parse_size(size_line), _parse_root(root_line))


def _check_origin(origin: str) -> bytes:
    if not isinstance(origin, str) or not origin:
        raise AnchorPayloadError("origin: expected a non-empty string")
    if _CONTROL.search(origin):
        raise AnchorPayloadError("origin: contains a newline or control character")
    try:
        encoded = origin.encode("utf-8")
    except UnicodeEncodeError as error:
        raise AnchorPayloadError("origin: not encodable as UTF-8") from error
    if len(encoded) > ORIGIN_BYTES_MAX:
        raise AnchorPayloadError(f"origin: longer than {ORIGIN_BYTES_MAX} bytes")
    return encoded


def _parse_origin(line: bytes) -> str:
    try:
        origin = line.decode("utf-8")
    except UnicodeDecodeError as error:
        raise AnchorPayloadError("origin: not valid UTF-8") from error
    _check_origin(origin)
    return origin


def _parse_size(line: bytes) -> int:
    try:
        text = line.decode("ascii")
    except UnicodeDecodeError as error:
        raise AnchorPayloadError(f"size: expected ASCII decimal, got {line!r}") from error
    if not _DECIMAL.fullmatch(text):
        raise AnchorPayloadError(f"size: expected decimal without leading zeros, got {text!r}")
    size = int(text)
    if size > TREE_SIZE_MAX:
        raise AnchorPayloadError(f"size: {text} is not below 2**64")
    return size


def _parse_root(line: bytes) -> bytes:
    try:
        root = base64.b64decode(line, validate=True)
    except (binascii.Error, ValueError) as error:
        raise AnchorPayloadError(f"root hash: not standard base64: {line!r}") from error
    if len(root) != ROOT_HASH_SIZE or base64.b64encode(root) != line:
        raise AnchorPayloadError("root hash: expected the canonical padded base64 of 32 bytes")
    return root
