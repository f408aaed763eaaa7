"""C2SP tiled transparency logs (c2sp.org/tlog-tiles): tile paths, tiles and entry bundles.

A tile at tile level L is a run of up to 256 consecutive hashes of tree level 8*L: the n-th
tile holds nodes ``(8*L, n*256 + i)``. Full tiles hold 256 hashes (8,192 bytes); the rightmost
tile of a level is partial, with ``(size >> 8*L) % 256`` hashes, and its path ends in
``.p/<width>``. Entry bundles hold the entries behind the level 0 tiles, each prefixed with its
length as a big-endian uint16.

``TileNodeReader`` turns a set of tiles (for instance an exported directory) back into a
NodeReader, so the offline auditor can compute roots and proofs with sequestra.ledger.merkle.
Only the standard library is used.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from sequestra.errors import InputRefused, SequestraError
from sequestra.ledger.merkle import (
    HASH_SIZE,
    MAX_TREE_SIZE,
    NodeId,
    NodeReader,
    NodeReadError,
    read_nodes,
    root_from_leaf_hashes,
)

TILE_HEIGHT = 8
TILE_WIDTH = 1 << TILE_HEIGHT
MAX_TILE_LEVEL = 63
MAX_ENTRY_SIZE = 0xFFFF
FULL_TILE_BYTES = TILE_WIDTH * HASH_SIZE

_GROUP = re.compile(r"x[0-9]{3}", re.ASCII)
_LAST_GROUP = re.compile(r"[0-9]{3}", re.ASCII)
_LEVEL = re.compile(r"0|[1-9][0-9]?", re.ASCII)
_WIDTH = re.compile(r"[1-9][0-9]{0,2}", re.ASCII)


class TileError(SequestraError):
    """Base class of every tile error."""


class TilePathError(TileError, InputRefused):
    """A tile or entry bundle path (or its level, index or width) is malformed."""


class EntryBundleError(TileError, InputRefused):
    """An entry bundle is malformed, truncated or holds the wrong number of entries."""


class TileReadError(TileError, NodeReadError):
    """A tile needed for a node is missing, has the wrong length or the node is not in the tree."""


@dataclass(frozen=True)
class TileRef:
    """A tile (``level`` >= 0) or an entry bundle (``level`` None), with its width."""

    level: int | None
    index: int
    width: int = TILE_WIDTH

    def __post_init__(self) -> None:
        """Validate the reference; raises TilePathError."""
        if self.level is not None and not 0 <= self.level <= MAX_TILE_LEVEL:
            raise TilePathError(f"tile level: expected 0..63, got {self.level}")
        if self.index < 0 or not 1 <= self.width <= TILE_WIDTH:
            raise TilePathError(f"tile: bad index {self.index} or width {self.width}")

    @property
    def is_full(self) -> bool:
        """Whether the tile holds 256 hashes (or the bundle 256 entries)."""
        return self.width == TILE_WIDTH

    @property
    def path(self) -> str:
        """The tile's path relative to the log prefix."""
        width = None if self.is_full else self.width
        if self.level is None:
            return entry_bundle_path(self.index, width)
        return hash_tile_path(self.level, self.index, width)

    @property
    def node_ids(self) -> list[NodeId]:
        """The tree nodes whose hashes the tile holds (level 0 nodes for an entry bundle)."""
        tree_level = TILE_HEIGHT * (self.level or 0)
        first = self.index * TILE_WIDTH
        return [(tree_level, first + offset) for offset in range(self.width)]


# --- paths ---------------------------------------------------------------------------------


def encode_tile_index(index: int) -> str:
    """Encode a tile index as 3-digit path elements, all but the last prefixed with ``x``.

    For example 1234067 is ``x001/x234/067``. Raises TilePathError for a negative index.
    """
    if index < 0:
        raise TilePathError(f"tile index: expected a non-negative integer, got {index}")
    digits = str(index)
    digits = digits.zfill(-(-len(digits) // 3) * 3)
    groups = [digits[start : start + 3] for start in range(0, len(digits), 3)]
    return "/".join([*("x" + group for group in groups[:-1]), groups[-1]])


def decode_tile_index(text: str) -> int:
    """Decode ``encode_tile_index`` output; raises TilePathError for any other text."""
    *upper, last = text.split("/")
    if not _LAST_GROUP.fullmatch(last) or not all(_GROUP.fullmatch(g) for g in upper):
        raise TilePathError(f"tile index: malformed path elements {text!r}")
    if upper and upper[0] == "x000":
        raise TilePathError(f"tile index: leading zero element in {text!r}")
    return int("".join(group.removeprefix("x") for group in [*upper, last]))


def hash_tile_path(level: int, index: int, width: int | None = None) -> str:
    """Return ``tile/<L>/<N>[.p/<W>]``; width None or 256 is a full tile.

    Raises TilePathError for a level outside 0..63 or a width outside 1..256.
    """
    if not 0 <= level <= MAX_TILE_LEVEL:
        raise TilePathError(f"tile level: expected 0..63, got {level}")
    return f"tile/{level}/{encode_tile_index(index)}{_width_suffix(width)}"


def entry_bundle_path(index: int, width: int | None = None) -> str:
    """Return ``tile/entries/<N>[.p/<W>]``; raises TilePathError for a bad index or width."""
    return f"tile/entries/{encode_tile_index(index)}{_width_suffix(width)}"


def parse_tile_path(path: str) -> TileRef:
    """Parse a tile or entry bundle path (level None for bundles); raises TilePathError."""
    parts = path.split("/", 2)
    if len(parts) != 3 or parts[0] != "tile":
        raise TilePathError(f"tile path: expected tile/<L>/<N>[.p/<W>], got {path!r}")
    _, level_text, rest = parts
    index_text, width = _split_width(rest)
    if level_text == "entries":
        return TileRef(None, decode_tile_index(index_text), width)
    if not _LEVEL.fullmatch(level_text) or int(level_text) > MAX_TILE_LEVEL:
        raise TilePathError(f"tile path: bad level {level_text!r}")
    return TileRef(int(level_text), decode_tile_index(index_text), width)


def _width_suffix(width: int | None) -> str:
    if width is None or width == TILE_WIDTH:
        return ""
    if not 1 <= width < TILE_WIDTH:
        raise TilePathError(f"tile width: expected 1..256, got {width}")
    return f".p/{width}"


def _split_width(text: str) -> tuple[str, int]:
    index_text, marker, width_text = text.partition(".p/")
    if not marker:
        return index_text, TILE_WIDTH
    if not _WIDTH.fullmatch(width_text) or int(width_text) >= TILE_WIDTH:
        raise TilePathError(f"tile path: bad partial width {width_text!r}")
    return index_text, int(width_text)


# --- which tiles a tree has ----------------------------------------------------------------


def tile_refs(size: int, since: int = 0) -> list[TileRef]:
    """Return the hash tiles of the tree of ``size`` leaves that the tree of ``since`` lacks.

    With since=0 this is every tile of the tree, full and partial, level by level.
    Raises TileError unless 0 <= since <= size < 2**64.
    """
    _check_sizes(size, since)
    refs: list[TileRef] = []
    level = 0
    while size >> (TILE_HEIGHT * level):
        refs.extend(_level_refs(level, size, since))
        level += 1
    return refs


def entry_bundle_refs(size: int, since: int = 0) -> list[TileRef]:
    """Return the entry bundles of the tree of ``size`` that the tree of ``since`` lacks."""
    _check_sizes(size, since)
    return [TileRef(None, ref.index, ref.width) for ref in _level_refs(0, size, since)]


def _level_refs(level: int, size: int, since: int) -> list[TileRef]:
    shift = TILE_HEIGHT * level
    count, old_count = size >> shift, since >> shift
    if count == old_count:
        return []
    first = old_count >> TILE_HEIGHT
    last = (count - 1) >> TILE_HEIGHT
    return [
        TileRef(level, index, min(TILE_WIDTH, count - index * TILE_WIDTH))
        for index in range(first, last + 1)
    ]


def _check_sizes(size: int, since: int) -> None:
    if not 0 <= since <= size < MAX_TREE_SIZE:
        raise TileError(f"tiles: expected 0 <= since <= size < 2**64, got {since}, {size}")


# --- reading and writing tiles -------------------------------------------------------------


def read_tile(ref: TileRef, reader: NodeReader) -> bytes:
    """Return a hash tile's bytes from a node reader, in one batched read.

    Raises TileError for an entry bundle reference, NodeReadError from the reader.
    """
    if ref.level is None:
        raise TileError("read_tile: entry bundles hold entries, not hashes")
    return b"".join(read_nodes(reader, ref.node_ids))


def iter_tiles(size: int, reader: NodeReader, since: int = 0) -> Iterator[tuple[TileRef, bytes]]:
    """Yield each tile of the tree of ``size`` (that ``since`` lacks) with its bytes."""
    for ref in tile_refs(size, since):
        yield ref, read_tile(ref, reader)


def write_tiles(directory: Path, size: int, reader: NodeReader, since: int = 0) -> list[TileRef]:
    """Write the tiles of the tree of ``size`` under ``directory``; returns what was written.

    Raises OSError from the file system and the errors of iter_tiles.
    """
    written: list[TileRef] = []
    for ref, data in iter_tiles(size, reader, since):
        target = directory / ref.path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
        written.append(ref)
    return written


class TileNodeReader:
    """A NodeReader that rebuilds node hashes of a tree of ``size`` leaves from its tiles.

    ``fetch`` returns a tile's bytes by path, or None when it is absent. A missing partial tile
    falls back to the full tile of the same index, since logs may delete partial tiles once the
    full tile exists. Tiles are cached for the reader's lifetime.
    """

    def __init__(self, size: int, fetch: Callable[[str], bytes | None]) -> None:
        _check_sizes(size, 0)
        self._size = size
        self._fetch = fetch
        self._cache: dict[tuple[int, int], bytes] = {}

    @classmethod
    def from_directory(cls, directory: Path, size: int) -> TileNodeReader:
        """Read tiles from files laid out as their paths under ``directory``."""

        def fetch(path: str) -> bytes | None:
            target = directory / path
            return target.read_bytes() if target.is_file() else None

        return cls(size, fetch)

    @property
    def size(self) -> int:
        """The tree size the tiles describe."""
        return self._size

    def get_nodes(self, ids: Sequence[NodeId]) -> list[bytes]:
        """Return the node hashes; raises TileReadError for a missing or malformed tile."""
        return [self._node(level, index) for level, index in ids]

    def _node(self, level: int, index: int) -> bytes:
        if level < 0 or index < 0 or (index + 1) << level > self._size:
            raise TileReadError(f"node {(level, index)} is not complete at size {self._size}")
        tile_level, rise = divmod(level, TILE_HEIGHT)
        first = index << rise  # first hash of the subtree at tree level 8 * tile_level
        tile = self._tile(tile_level, first >> TILE_HEIGHT)
        offset = (first % TILE_WIDTH) * HASH_SIZE
        hashes = [
            tile[at : at + HASH_SIZE]
            for at in range(offset, offset + (HASH_SIZE << rise), HASH_SIZE)
        ]
        return root_from_leaf_hashes(hashes)

    def _tile(self, level: int, index: int) -> bytes:
        cached = self._cache.get((level, index))
        if cached is None:
            cached = self._load(level, index)
            self._cache[(level, index)] = cached
        return cached

    def _load(self, level: int, index: int) -> bytes:
        count = self._size >> (TILE_HEIGHT * level)
        width = min(TILE_WIDTH, count - index * TILE_WIDTH)
        ref = TileRef(level, index, width)
        data = self._fetch(ref.path)
        if data is None and not ref.is_full:
            data = self._fetch(TileRef(level, index).path)
            data = data[: width * HASH_SIZE] if data and len(data) == FULL_TILE_BYTES else data
        if data is None:
            raise TileReadError(f"tile {ref.path} is missing")
        if len(data) != width * HASH_SIZE:
            raise TileReadError(
                f"tile {ref.path}: expected {width * HASH_SIZE} bytes, got {len(data)}"
            )
        return data


# --- entry bundles -------------------------------------------------------------------------


def encode_entry_bundle(entries: Sequence[bytes]) -> bytes:
    """Encode 1 to 256 entries, each prefixed with its big-endian uint16 length.

    Raises EntryBundleError for no entries, too many, or an entry over 65,535 bytes.
    """
    if not 1 <= len(entries) <= TILE_WIDTH:
        raise EntryBundleError(f"entry bundle: expected 1..256 entries, got {len(entries)}")
    parts: list[bytes] = []
    for position, entry in enumerate(entries):
        if len(entry) > MAX_ENTRY_SIZE:
            raise EntryBundleError(f"entry {position}: {len(entry)} bytes, at most 65,535 allowed")
        parts.append(len(entry).to_bytes(2, "big") + entry)
    return b"".join(parts)


def decode_entry_bundle(data: bytes, width: int | None = None) -> list[bytes]:
    """Decode an entry bundle; with ``width``, require exactly that many entries.

    Raises EntryBundleError for an empty or truncated bundle, more than 256 entries, or a
    count other than ``width``.
    """
    entries: list[bytes] = []
    position = 0
    while position < len(data):
        if len(data) - position < 2:
            raise EntryBundleError(f"entry bundle: truncated length prefix at byte {position}")
        length = int.from_bytes(data[position : position + 2], "big")
        start, position = position + 2, position + 2 + length
        if position > len(data):
            raise EntryBundleError(f"entry {len(entries)}: truncated ({length} bytes announced)")
        entries.append(bytes(data[start:position]))
        if len(entries) > TILE_WIDTH:
            raise EntryBundleError("entry bundle: more than 256 entries")
    if not entries or (width is not None and len(entries) != width):
        raise EntryBundleError(
            f"entry bundle: expected {width or '1..256'} entries, got {len(entries)}"
        )
    return entries
