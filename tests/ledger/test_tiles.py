"""Tests of C2SP tlog-tiles: paths, tile sets, tile contents, entry bundles, tile readers."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sequestra.ledger import merkle, tiles
from sequestra.ledger.merkle import MemoryNodeStore, hash_leaf
from sequestra.ledger.tiles import (
    EntryBundleError,
    TilePathError,
    TileReadError,
    TileRef,
    decode_entry_bundle,
    encode_entry_bundle,
    entry_bundle_path,
    hash_tile_path,
    parse_tile_path,
)

VECTORS: dict[str, Any] = json.loads(
    (Path(__file__).resolve().parents[1] / "data" / "tiles" / "tile-vectors.json").read_text()
)
SIZE = 70_000  # the spec's example: full and partial tiles on three levels
ENTRIES = [f"entry {i}".encode() for i in range(SIZE)]


@pytest.fixture(scope="module")
def store() -> MemoryNodeStore:
    tree = MemoryNodeStore()
    tree.append_entries(ENTRIES)
    return tree


@pytest.fixture(scope="module")
def exported(store: MemoryNodeStore, tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("tiles")
    tiles.write_tiles(directory, SIZE, store)
    return directory


# --- paths -------------------------------------------------------------------------------------


def test_index_path_vectors() -> None:
    for index, path in VECTORS["index_paths"]:
        assert tiles.encode_tile_index(index) == path
        assert tiles.decode_tile_index(path) == index
    assert tiles.encode_tile_index(0) == "000"
    assert tiles.encode_tile_index(999) == "999"
    assert tiles.encode_tile_index(1000) == "x001/000"
    assert tiles.encode_tile_index(2**64 - 1) == "x018/x446/x744/x073/x709/x551/615"


@given(st.integers(0, 2**70))
def test_index_path_round_trip(index: int) -> None:
    assert tiles.decode_tile_index(tiles.encode_tile_index(index)) == index


@pytest.mark.parametrize(
    "text",
    [
        *VECTORS["invalid_index_paths"],
        "",
        "1",
        "01",
        "0001",
        "x001",
        "x000/001",
        "x1/001",
        "x001/x02/003",
        "x001/002/003",
        "X001/000",
        "x001/00a",
        "x001//000",
        "/000",
        "000/",
    ],
)
def test_bad_index_paths(text: str) -> None:
    with pytest.raises(TilePathError):
        tiles.decode_tile_index(text)


def test_tile_paths() -> None:
    assert hash_tile_path(0, 1234067) == "tile/0/x001/x234/067"
    assert hash_tile_path(0, 1234067, 256) == "tile/0/x001/x234/067"
    assert hash_tile_path(3, 5, 2) == "tile/3/005.p/2"
    assert hash_tile_path(63, 0, 255) == "tile/63/000.p/255"
    assert entry_bundle_path(1234067) == "tile/entries/x001/x234/067"
    assert entry_bundle_path(7, 1) == "tile/entries/007.p/1"
    for level, index, width in [
        (64, 0, None),
        (-1, 0, None),
        (0, -1, None),
        (0, 0, 0),
        (0, 0, 257),
    ]:
        with pytest.raises(TilePathError):
            hash_tile_path(level, index, width)


def test_tile_refs_are_validated() -> None:
    for level, index, width in [(64, 0, 1), (-1, 0, 1), (0, -1, 1), (0, 0, 0), (None, 0, 257)]:
        with pytest.raises(TilePathError):
            TileRef(level, index, width)


def test_parse_tile_paths() -> None:
    assert parse_tile_path("tile/0/x001/x234/067") == TileRef(0, 1234067)
    assert parse_tile_path("tile/3/005.p/2") == TileRef(3, 5, 2)
    assert parse_tile_path("tile/entries/x003/x057/500.p/17") == TileRef(None, 3057500, 17)
    for ref in [TileRef(5, 123456078, 9), TileRef(None, 0), TileRef(0, 1000, 255)]:
        assert parse_tile_path(ref.path) == ref
    bad = [
        "tile/3/5/123/456/078",
        "tile/01/000",
        "tile/64/000",
        "tile/-1/000",
        "tile/0/000.p/0",
        "tile/0/000.p/256",
        "tile/0/000.p/05",
        "tile/0/000.p/",
        "tile/data/000",
        "tiles/0/000",
        "tile/0",
        "tile/0/000/",
    ]
    for path in bad:
        with pytest.raises(TilePathError):
            parse_tile_path(path)


# --- which tiles ---------------------------------------------------------------------------------


def summary(refs: list[TileRef]) -> dict[int, tuple[int, int | None]]:
    result: dict[int, tuple[int, int | None]] = {}
    for ref in refs:
        assert ref.level is not None
        full, partial = result.get(ref.level, (0, None))
        result[ref.level] = (full + 1, partial) if ref.is_full else (full, ref.width)
    return result


def test_tile_sets_match_the_spec_examples() -> None:
    for case in VECTORS["tile_counts"]:
        expected = {t["level"]: (t["full"], t["partial_width"]) for t in case["tiles"]}
        assert summary(tiles.tile_refs(case["size"])) == expected
    assert tiles.tile_refs(0) == []


def test_incremental_tile_sets() -> None:
    assert tiles.tile_refs(1000, since=1000) == []
    assert tiles.tile_refs(101, since=100) == [TileRef(0, 0, 101)]
    grown = tiles.tile_refs(70_000, since=65_600)
    assert [ref.path for ref in grown] == [
        "tile/0/256",
        *[f"tile/0/{i:03d}" for i in range(257, 273)],
        "tile/0/273.p/112",
        "tile/1/001.p/17",
    ]
    rng = random.Random(3)
    for _ in range(200):
        old = rng.randrange(0, 200_000)
        new = rng.randrange(old, 200_000)
        everything = set(tiles.tile_refs(new))
        assert set(tiles.tile_refs(new, since=old)) == everything - set(tiles.tile_refs(old))
    with pytest.raises(tiles.TileError):
        tiles.tile_refs(5, since=6)


def test_entry_bundle_refs() -> None:
    refs = tiles.entry_bundle_refs(SIZE)
    assert len(refs) == 274 and refs[-1] == TileRef(None, 273, 112)
    assert refs[-1].path == "tile/entries/273.p/112"
    assert tiles.entry_bundle_refs(SIZE, since=SIZE - 1) == [TileRef(None, 273, 112)]


# --- tile contents -------------------------------------------------------------------------------


def test_tile_contents_are_the_tree_nodes(store: MemoryNodeStore) -> None:
    level0 = tiles.read_tile(TileRef(0, 3), store)
    assert level0 == b"".join(hash_leaf(e) for e in ENTRIES[768:1024])
    level1 = tiles.read_tile(TileRef(1, 0), store)
    subtree_roots = [
        merkle.root_from_leaf_hashes([hash_leaf(e) for e in ENTRIES[i * 256 : (i + 1) * 256]])
        for i in range(256)
    ]
    assert level1 == b"".join(subtree_roots)
    level2 = tiles.read_tile(TileRef(2, 0, 1), store)
    assert level2 == store.root(65_536)
    with pytest.raises(tiles.TileError):
        tiles.read_tile(TileRef(None, 0), store)


def test_written_tiles(exported: Path) -> None:
    written = sorted(p.relative_to(exported).as_posix() for p in exported.rglob("*") if p.is_file())
    assert written == sorted(ref.path for ref in tiles.tile_refs(SIZE))
    assert (exported / "tile/0/273.p/112").stat().st_size == 112 * 32
    assert (exported / "tile/2/000.p/1").stat().st_size == 32


@pytest.mark.parametrize("size", [1, 255, 256, 257, 65_535, 65_536, 65_537, 69_999, SIZE])
def test_roots_and_proofs_from_a_tile_directory(
    store: MemoryNodeStore, exported: Path, size: int
) -> None:
    reader = tiles.TileNodeReader.from_directory(exported, SIZE)
    assert merkle.root_at(size, reader) == store.root(size)
    rng = random.Random(size)
    for index in {0, size - 1, rng.randrange(size)}:
        assert merkle.inclusion_proof(index, size, reader) == store.inclusion_proof(index, size)
    for old in {1, size // 2, rng.randrange(1, size + 1)}:
        assert merkle.consistency_proof(old, size, reader) == store.consistency_proof(old, size)


def test_tile_reader_serves_every_level(store: MemoryNodeStore, exported: Path) -> None:
    reader = tiles.TileNodeReader.from_directory(exported, SIZE)
    rng = random.Random(9)
    ids = [(level, rng.randrange(SIZE >> level)) for level in range(17) for _ in range(5)]
    assert reader.get_nodes(ids) == store.get_nodes(ids)
    with pytest.raises(TileReadError):
        reader.get_nodes([(0, SIZE)])
    with pytest.raises(TileReadError):
        reader.get_nodes([(17, 0)])


def test_partial_tile_falls_back_to_the_full_tile(store: MemoryNodeStore, tmp_path: Path) -> None:
    tiles.write_tiles(tmp_path, 1000, store)
    tiles.write_tiles(tmp_path, 1100, store, since=1000)
    (tmp_path / "tile/0/003.p/232").unlink()  # the log deleted the partial tile of size 1000
    reader = tiles.TileNodeReader.from_directory(tmp_path, 1000)
    assert merkle.root_at(1000, reader) == store.root(1000)


def test_missing_or_malformed_tiles_are_errors(store: MemoryNodeStore, tmp_path: Path) -> None:
    tiles.write_tiles(tmp_path, 600, store)
    (tmp_path / "tile/0/002.p/88").write_bytes(b"\x00" * 87 * 32)
    (tmp_path / "tile/0/001").unlink()
    reader = tiles.TileNodeReader.from_directory(tmp_path, 600)
    with pytest.raises(TileReadError, match="expected 2816 bytes"):
        reader.get_nodes([(0, 599)])
    with pytest.raises(TileReadError, match="missing"):
        reader.get_nodes([(0, 300)])
    with pytest.raises(TileReadError):
        merkle.root_at(600, reader)
    assert isinstance(TileReadError("x"), merkle.NodeReadError)


def test_tile_reader_from_a_mapping(store: MemoryNodeStore) -> None:
    contents = {ref.path: data for ref, data in tiles.iter_tiles(5000, store)}
    fetched: list[str] = []

    def fetch(path: str) -> bytes | None:
        fetched.append(path)
        return contents.get(path)

    reader = tiles.TileNodeReader(5000, fetch)
    assert merkle.root_at(5000, reader) == store.root(5000)
    assert merkle.root_at(5000, reader) == store.root(5000)
    assert len(fetched) == len(set(fetched))  # tiles are cached
    assert reader.size == 5000


# --- entry bundles -------------------------------------------------------------------------------


def test_entry_bundle_round_trip_and_hashes(store: MemoryNodeStore) -> None:
    bundle = encode_entry_bundle(ENTRIES[512:768])
    assert bundle[:2] == len(ENTRIES[512]).to_bytes(2, "big")
    decoded = decode_entry_bundle(bundle, 256)
    assert decoded == ENTRIES[512:768]
    assert b"".join(hash_leaf(e) for e in decoded) == tiles.read_tile(TileRef(0, 2), store)


def test_entry_bundle_limits() -> None:
    assert decode_entry_bundle(encode_entry_bundle([b"", b"x" * 0xFFFF])) == [b"", b"x" * 0xFFFF]
    with pytest.raises(EntryBundleError):
        encode_entry_bundle([b"x" * 0x10000])
    with pytest.raises(EntryBundleError):
        encode_entry_bundle([])
    with pytest.raises(EntryBundleError):
        encode_entry_bundle([b""] * 257)


@pytest.mark.parametrize(
    ("data", "width"),
    [
        (b"", None),  # empty bundles are never served
        (b"\x00", None),  # truncated length prefix
        (b"\x00\x05abc", None),  # truncated entry
        (b"\x00\x01a\x00", None),  # trailing byte
        (b"\x00\x01a", 2),  # fewer entries than the width
        (b"\x00\x01a\x00\x01b", 1),  # more entries than the width
        (b"\x00\x00" * 257, None),  # more than 256 entries
    ],
)
def test_malformed_entry_bundles(data: bytes, width: int | None) -> None:
    with pytest.raises(EntryBundleError):
        decode_entry_bundle(data, width)


@given(st.lists(st.binary(max_size=300), min_size=1, max_size=256))
def test_entry_bundle_property(items: list[bytes]) -> None:
    assert decode_entry_bundle(encode_entry_bundle(items), len(items)) == items
