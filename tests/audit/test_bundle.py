"""The auditor verifies intact bundles and names what is wrong in every damaged one."""

from __future__ import annotations

import copy
import json
import random
from collections.abc import Callable
from pathlib import Path

import pytest

from sequestra.audit.bundle import (
    OFFLINE_RULES_CHECKED,
    AuditUsageError,
    BundleVerdict,
    Trust,
    _StreamingTree,
    ledger_verifier,
    verify_bundle,
    witness_verifier,
)
from sequestra.ledger.checkpoint import Checkpoint
from sequestra.ledger.merkle import EMPTY_ROOT, MemoryNodeStore
from sequestra.ledger.note import NoteError, split_note
from sequestra.ledger.roles import authority_digest
from sequestra.ledger.tiles import TileRef, iter_tiles
from tests.audit.bundles import MemoryLedger, Witness, write_bundle

Damage = Callable[[Path], None]


def trust_for(ledger: MemoryLedger, **options: object) -> Trust:
    return Trust(ledger_verifier(ledger.vkey), **options)  # type: ignore[arg-type]


def audit(directory: Path, ledger: MemoryLedger, **options: object) -> BundleVerdict:
    return verify_bundle(directory, trust_for(ledger, **options))


def expect_bad(verdict: BundleVerdict, reason: str, first_bad_seq: int | None = None) -> None:
    assert not verdict.ok, verdict
    assert reason in (verdict.reason or ""), verdict.reason
    assert verdict.first_bad_seq == first_bad_seq, verdict


def lines_of(directory: Path) -> list[bytes]:
    return (directory / "entries.jsonl").read_bytes().splitlines(keepends=True)


def write_lines(directory: Path, lines: list[bytes]) -> None:
    (directory / "entries.jsonl").write_bytes(b"".join(lines))


def flip(path: Path, position: int, mask: int = 0x01) -> None:
    data = bytearray(path.read_bytes())
    data[position] ^= mask
    path.write_bytes(bytes(data))


# --- intact bundles ---------------------------------------------------------------------------


def test_intact_bundle_verifies(small: MemoryLedger, witness: Witness, tmp_path: Path) -> None:
    directory = write_bundle(small, tmp_path / "bundle", witnesses=[witness])
    verdict = audit(directory, small, witnesses=(witness_verifier(witness.vkey),))
    assert verdict.to_json() == {
        "ok": True,
        "size": 10,
        "first_bad_seq": None,
        "reason": None,
        "root": small.tree().root().hex(),
        "checkpoints_checked": [3, 7, 10],
        "cosigned_by": {"10": [witness.name], "7": [witness.name], "3": []},
        "warnings": [],
        "rules": {"authority": authority_digest(), "checked": OFFLINE_RULES_CHECKED},
    }


def test_large_bundle_with_full_and_partial_tiles(large: MemoryLedger, tmp_path: Path) -> None:
    directory = write_bundle(large, tmp_path / "bundle")
    partial = {p.relative_to(directory).as_posix() for p in directory.rglob("*.p/*")}
    assert partial == {"tile/0/002.p/88", "tile/1/000.p/2", "tile/entries/002.p/88"}
    verdict = audit(directory, large)
    assert (verdict.ok, verdict.size, verdict.checkpoints_checked) == (True, 600, [256, 513, 600])


def test_bundle_of_an_earlier_checkpoint(large: MemoryLedger, tmp_path: Path) -> None:
    directory = write_bundle(large, tmp_path / "bundle", size=513)
    verdict = audit(directory, large)
    assert (verdict.ok, verdict.size, verdict.checkpoints_checked) == (True, 513, [256, 513])
    assert verdict.root == large.tree(513).root(513).hex()


@pytest.mark.parametrize(
    "size", [1, 2, 3, 255, 256, 257, 511, 512, 513, 65535, 65536, 65537, 70_001]
)
def test_streaming_tree_gives_the_tiles_and_roots_of_the_reference(size: int) -> None:
    generator = random.Random(size)
    leaves = [generator.randbytes(32) for _ in range(size)]
    tiles: dict[str, bytes] = {}

    def keep(ref: TileRef, data: bytes) -> None:
        assert ref.path not in tiles
        tiles[ref.path] = data

    tree = _StreamingTree(keep)
    assert tree.root() == EMPTY_ROOT
    store = MemoryNodeStore()
    store.append_leaf_hashes(leaves)
    for number, leaf in enumerate(leaves, start=1):
        tree.push(leaf)
        if number in (1, 7, 256, size // 2):
            assert tree.root() == store.root(number)
    tree.finish()
    assert tree.root() == store.root()
    assert tiles == {ref.path: data for ref, data in iter_tiles(size, store)}


# --- damaged entries --------------------------------------------------------------------------


@pytest.fixture
def bundle(small: MemoryLedger, tmp_path: Path) -> Path:
    return write_bundle(small, tmp_path / "bundle")


def test_flipped_byte_in_a_body(small: MemoryLedger, bundle: Path) -> None:
    lines = lines_of(bundle)
    lines[6] = lines[6].replace(b"memo 4", b"memo 5")
    write_lines(bundle, lines)
    expect_bad(audit(bundle, small), "signature does not verify", 6)


def test_flipped_byte_in_recorded_at_breaks_the_next_link(
    small: MemoryLedger, bundle: Path
) -> None:
    lines = lines_of(bundle)
    lines[6] = lines[6].replace(b"09:00:06.000006Z", b"09:00:06.000007Z")
    write_lines(bundle, lines)
    expect_bad(audit(bundle, small), "chain broken", 7)


def test_flipped_byte_in_the_last_entry_breaks_the_root(small: MemoryLedger, bundle: Path) -> None:
    lines = lines_of(bundle)
    lines[9] = lines[9].replace(b"09:00:09.000009Z", b"09:00:09.000010Z")
    write_lines(bundle, lines)
    expect_bad(audit(bundle, small), "is not the root")


def test_every_single_bit_flip_of_an_entry_fails(small: MemoryLedger, bundle: Path) -> None:
    original = (bundle / "entries.jsonl").read_bytes()
    start = sum(len(line) for line in lines_of(bundle)[:5])
    end = start + len(lines_of(bundle)[5])
    generator = random.Random(5)
    for position in range(start, end):
        data = bytearray(original)
        data[position] ^= 1 << generator.randrange(8)
        (bundle / "entries.jsonl").write_bytes(bytes(data))
        verdict = audit(bundle, small)
        assert not verdict.ok, position
        assert verdict.first_bad_seq in (5, 6, None), (position, verdict)


@pytest.mark.parametrize(
    ("edit", "reason", "seq"),
    [
        (lambda lines: lines[:4] + lines[5:], "says seq 5", 4),
        (lambda lines: [*lines[:5], lines[4], *lines[5:]], "says seq 4", 5),
        (lambda lines: [*lines[:3], lines[4], lines[3], *lines[5:]], "says seq 4", 3),
        (lambda lines: lines[:-1], "ends after 9 entries", 9),
        (lambda lines: [*lines, lines[-1]], "holds more than the 10 entries", 10),
        (lambda lines: [*lines, b"\n"], "holds more than the 10 entries", 10),
        (lambda lines: [*lines[:-1], lines[-1][:-10]], "no newline (truncated)", 9),
        (lambda lines: [*lines[:-1], lines[-1][:-1]], "no newline (truncated)", 9),
        (lambda lines: [*lines[:2], b"\n", *lines[2:]], "malformed entry", 2),
        (lambda lines: [*lines[:2], lines[2][:-1] + b"\r\n", *lines[3:]], "not canonical", 2),
        (lambda lines: [*lines[:2], b" " + lines[2], *lines[3:]], "not canonical", 2),
        (lambda lines: [b"\x00" * 70_000 + b"\n", *lines[1:]], "over 65535", 0),
        (lambda lines: [], "ends after 0 entries", 0),
    ],
)
def test_dropped_inserted_swapped_truncated_padded_lines(
    small: MemoryLedger,
    bundle: Path,
    edit: Callable[[list[bytes]], list[bytes]],
    reason: str,
    seq: int,
) -> None:
    write_lines(bundle, edit(lines_of(bundle)))
    expect_bad(audit(bundle, small), reason, seq)


def test_missing_entries_file(small: MemoryLedger, bundle: Path) -> None:
    (bundle / "entries.jsonl").unlink()
    expect_bad(audit(bundle, small), "entries.jsonl: missing", 0)


def test_entry_by_a_key_the_ledger_never_enrolled(small: MemoryLedger, tmp_path: Path) -> None:
    forged = copy.deepcopy(small)
    forged.checkpoints = {}
    from sequestra.ledger.keys import SigningKey

    forged.append(forged.note("forged", SigningKey.generate()))
    directory = write_bundle(forged, tmp_path / "bundle")
    expect_bad(audit(directory, forged), "is not an enrolled key", 10)


# --- tiles and entry bundles ------------------------------------------------------------------


def test_tampered_hash_tile(large: MemoryLedger, tmp_path: Path) -> None:
    directory = write_bundle(large, tmp_path / "bundle")
    flip(directory / "tile/0/001", 100)
    expect_bad(audit(directory, large), "tile/0/001: the hash tile differs")


def test_tampered_partial_tile_of_level_one(large: MemoryLedger, tmp_path: Path) -> None:
    directory = write_bundle(large, tmp_path / "bundle")
    flip(directory / "tile/1/000.p/2", 63)
    expect_bad(audit(directory, large), "tile/1/000.p/2: the hash tile differs")


def test_tampered_entry_bundle(large: MemoryLedger, tmp_path: Path) -> None:
    directory = write_bundle(large, tmp_path / "bundle")
    flip(directory / "tile/entries/002.p/88", 500)
    expect_bad(audit(directory, large), "tile/entries/002.p/88: the entry bundle differs")


@pytest.mark.parametrize("path", ["tile/0/000", "tile/0/002.p/88", "tile/entries/001"])
def test_dropped_tile(large: MemoryLedger, tmp_path: Path, path: str) -> None:
    directory = write_bundle(large, tmp_path / "bundle")
    (directory / path).unlink()
    expect_bad(audit(directory, large), f"{path} is missing")


@pytest.mark.parametrize("path", ["tile/0/003", "tile/0/002", "tile/entries/002", "tile/x"])
def test_extra_tile(large: MemoryLedger, tmp_path: Path, path: str) -> None:
    directory = write_bundle(large, tmp_path / "bundle")
    (directory / path).parent.mkdir(parents=True, exist_ok=True)
    (directory / path).write_bytes(b"\x00" * 32)
    expect_bad(audit(directory, large), f"{path}: unexpected file")


def test_truncated_and_padded_tiles(large: MemoryLedger, tmp_path: Path) -> None:
    directory = write_bundle(large, tmp_path / "bundle")
    tile = directory / "tile/0/000"
    original = tile.read_bytes()
    for data in (original[:-1], original + b"\x00", b""):
        tile.write_bytes(data)
        expect_bad(audit(directory, large), "tile/0/000")
    tile.write_bytes(original)
    assert audit(directory, large).ok


# --- checkpoints ------------------------------------------------------------------------------


def signature_flipped(note: bytes) -> bytes:
    """Change one byte of the signature (not of the key ID) in the first signature line."""
    text, _, signatures = note.partition(b"\n\n")
    line = signatures.split(b"\n")[0]
    name, _, encoded = line.rpartition(b" ")
    position = len(encoded) - 10
    changed = encoded[:position] + (b"A" if encoded[position : position + 1] != b"A" else b"B")
    changed += encoded[position + 1 :]
    return text + b"\n\n" + name + b" " + changed + b"\n" + signatures.split(b"\n", 1)[1]


def test_checkpoint_with_a_bad_signature(small: MemoryLedger, bundle: Path) -> None:
    note = (bundle / "checkpoint").read_bytes()
    (bundle / "checkpoint").write_bytes(signature_flipped(note))
    expect_bad(audit(bundle, small), "checkpoint: the ledger key's signature does not verify")


def test_checkpoint_with_a_wrong_root(small: MemoryLedger, bundle: Path) -> None:
    wrong = Checkpoint(small.origin, 10, small.tree(9).root(9)).sign([small.signer])
    (bundle / "checkpoint").write_bytes(wrong)
    expect_bad(audit(bundle, small), "checkpoint: its root")


def test_missing_or_garbage_checkpoint(small: MemoryLedger, bundle: Path) -> None:
    (bundle / "checkpoint").write_bytes(b"garbage\n")
    expect_bad(audit(bundle, small), "checkpoint: note: no blank line")
    (bundle / "checkpoint").unlink()
    expect_bad(audit(bundle, small), "checkpoint: missing")


def test_older_checkpoint_with_a_bad_signature(small: MemoryLedger, bundle: Path) -> None:
    path = bundle / "checkpoints" / "3"
    path.write_bytes(signature_flipped(path.read_bytes()))
    expect_bad(audit(bundle, small), "checkpoints/3: the ledger key's signature does not verify")


def test_older_checkpoint_with_another_root_is_a_fork(small: MemoryLedger, bundle: Path) -> None:
    forked = Checkpoint(small.origin, 7, small.tree(6).root(6)).sign([small.signer])
    (bundle / "checkpoints" / "7").write_bytes(forked)
    expect_bad(audit(bundle, small), "checkpoints/7: the ledger signed root")


def test_older_checkpoint_under_the_wrong_name(small: MemoryLedger, bundle: Path) -> None:
    (bundle / "checkpoints" / "4").write_bytes((bundle / "checkpoints" / "3").read_bytes())
    expect_bad(audit(bundle, small), "checkpoints/4: holds a checkpoint of size 3")
    (bundle / "checkpoints" / "4").unlink()
    (bundle / "checkpoints" / "03").write_bytes(b"x")
    expect_bad(audit(bundle, small), "checkpoints/03: not named by a tree size")


def test_older_checkpoint_larger_than_the_bundle(small: MemoryLedger, tmp_path: Path) -> None:
    directory = write_bundle(small, tmp_path / "bundle", size=7)
    (directory / "checkpoints" / "10").write_bytes(small.checkpoints[10])
    expect_bad(audit(directory, small), "checkpoints/10: larger than the bundle's checkpoint")


def test_bundle_of_another_ledger_key(small: MemoryLedger, tmp_path: Path) -> None:
    other = MemoryLedger.create(notes=3, origin=small.origin)
    directory = write_bundle(other, tmp_path / "bundle")
    expect_bad(audit(directory, small), "checkpoint: not signed by the trusted ledger key")


def test_genesis_of_another_key_behind_a_good_checkpoint(
    small: MemoryLedger, tmp_path: Path
) -> None:
    other = MemoryLedger.create(notes=3, origin=small.origin)
    directory = write_bundle(other, tmp_path / "bundle")
    root = other.tree().root()
    (directory / "checkpoint").write_bytes(Checkpoint(small.origin, 5, root).sign([small.signer]))
    expect_bad(audit(directory, small), "genesis is not signed by the trusted ledger key", 0)


def test_vkey_of_another_origin(small: MemoryLedger, bundle: Path) -> None:
    from sequestra.ledger.note import format_verifier_key

    vkey = format_verifier_key("other.example/log", 0x01, small.ledger_key.public_key_raw)
    verdict = verify_bundle(bundle, Trust(ledger_verifier(vkey)))
    expect_bad(verdict, "checkpoint: not signed by the trusted ledger key")


# --- trusted checkpoints: rollback and fork ---------------------------------------------------


def test_trusted_checkpoint_consistent(small: MemoryLedger, tmp_path: Path) -> None:
    directory = write_bundle(small, tmp_path / "bundle")
    for size in (3, 7, 10):
        verdict = audit(directory, small, trusted_checkpoint=small.checkpoints[size])
        assert verdict.ok, verdict


def test_trusted_checkpoint_larger_is_a_rollback(small: MemoryLedger, tmp_path: Path) -> None:
    directory = write_bundle(small, tmp_path / "bundle", size=7)
    verdict = audit(directory, small, trusted_checkpoint=small.checkpoints[10])
    expect_bad(verdict, "rollback: the bundle's ledger has 7 entries")


def test_trusted_checkpoint_conflicting_is_a_fork(small: MemoryLedger, tmp_path: Path) -> None:
    fork = copy.deepcopy(small)
    fork.entries = fork.entries[:5]
    fork.append(fork.note("another history"))
    fork.append(fork.note("and more"))
    trusted = fork.sign_checkpoint(7)
    directory = write_bundle(small, tmp_path / "bundle")
    expect_bad(audit(directory, small, trusted_checkpoint=trusted), "fork: the checkpoint you hold")


def test_trusted_checkpoint_of_another_key_is_a_usage_error(
    small: MemoryLedger, bundle: Path
) -> None:
    other = MemoryLedger.create(notes=1, origin=small.origin)
    with pytest.raises(AuditUsageError, match="--trusted-checkpoint"):
        audit(bundle, small, trusted_checkpoint=other.sign_checkpoint())


# --- witnesses --------------------------------------------------------------------------------


def test_required_witness(small: MemoryLedger, witness: Witness, tmp_path: Path) -> None:
    directory = write_bundle(small, tmp_path / "bundle")
    verifiers = (witness_verifier(witness.vkey),)
    verdict = audit(directory, small, witnesses=verifiers, required_witnesses=(witness.name,))
    assert verdict.ok and verdict.cosigned_by[10] == [witness.name]
    uncosigned = Checkpoint(small.origin, 10, small.tree().root()).sign([small.signer])
    (directory / "checkpoint").write_bytes(uncosigned)
    (directory / "checkpoints" / "10").write_bytes(uncosigned)
    verdict = audit(directory, small, witnesses=verifiers, required_witnesses=(witness.name,))
    expect_bad(verdict, f"not cosigned by the required witness {witness.name}")
    assert audit(directory, small, witnesses=verifiers).ok


def test_bad_cosignature_fails(small: MemoryLedger, witness: Witness, tmp_path: Path) -> None:
    directory = write_bundle(small, tmp_path / "bundle")
    note = small.checkpoints[7]
    text, _, signatures = note.partition(b"\n\n")
    ledger_line, witness_line = signatures.split(b"\n")[:2]
    ours = signature_flipped(text + b"\n\n" + witness_line + b"\n")
    bad_witness_line = ours.partition(b"\n\n")[2]
    (directory / "checkpoints" / "7").write_bytes(
        text + b"\n\n" + ledger_line + b"\n" + bad_witness_line
    )
    verdict = audit(directory, small, witnesses=(witness_verifier(witness.vkey),))
    expect_bad(verdict, f"checkpoints/7: the cosignature of witness {witness.name} does not")
    assert audit(directory, small).ok  # not a witness the auditor named: ignored


def test_required_witness_must_be_given() -> None:
    ledger = MemoryLedger()
    with pytest.raises(AuditUsageError, match="no --witness-vkey names"):
        trust_for(ledger, required_witnesses=("someone",))


# --- informational files ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "warning"),
    [
        (None, "bundle.json is missing"),
        (b"{garbage", "not valid JSON"),
        (b'{"format": "other"}', "does not say format"),
        (b'{"format": "sequestra-bundle/v1", "size": 99, "origin": "x"}', "says size 99"),
    ],
)
def test_manifest_problems_are_warnings(
    small: MemoryLedger, bundle: Path, content: bytes | None, warning: str
) -> None:
    if content is None:
        (bundle / "bundle.json").unlink()
    else:
        (bundle / "bundle.json").write_bytes(content)
    verdict = audit(bundle, small)
    assert verdict.ok
    assert any(warning in text for text in verdict.warnings), verdict.warnings


def test_bundle_own_key_is_trusted_only_with_a_warning(small: MemoryLedger, bundle: Path) -> None:
    verdict = verify_bundle(bundle, Trust(ledger_verifier(small.vkey), ledger_from_bundle=True))
    assert verdict.ok
    assert "no --vkey given" in verdict.warnings[0]


def test_not_a_directory(small: MemoryLedger, tmp_path: Path) -> None:
    with pytest.raises(AuditUsageError, match="not a directory"):
        audit(tmp_path / "absent", small)


# --- fuzz: random damage to every file never verifies and never crashes -----------------------


INFORMATIONAL = ("bundle.json", "keys/")


def only_cosignatures_changed(original: bytes, damaged: bytes) -> bool:
    """Whether a note keeps its text and the ledger's signature: other lines may go."""
    try:
        text, signatures = split_note(damaged)
    except NoteError:
        return False
    original_text, original_signatures = split_note(original)
    return text == original_text and original_signatures[0] in signatures


def test_random_damage_to_any_file(small: MemoryLedger, witness: Witness, tmp_path: Path) -> None:
    """Damage verifies only in informational files, or by dropping a cosignature."""
    directory = write_bundle(small, tmp_path / "bundle", witnesses=[witness])
    files = sorted(p for p in directory.rglob("*") if p.is_file())
    originals = {path: path.read_bytes() for path in files}
    generator = random.Random(20260301)
    trust = trust_for(small, witnesses=(witness_verifier(witness.vkey),))
    intact = verify_bundle(directory, trust)
    assert intact.ok
    for _ in range(300):
        path = generator.choice(files)
        data = bytearray(originals[path])
        for _ in range(generator.randint(1, 3)):
            action = generator.randrange(4)
            position = generator.randrange(len(data) + 1)
            if action == 0 and data:
                del data[min(position, len(data) - 1)]
            elif action == 1:
                data.insert(position, generator.randrange(256))
            elif action == 2 and data:
                data[min(position, len(data) - 1)] ^= 1 << generator.randrange(8)
            else:
                data = data[:position]
        if bytes(data) == originals[path]:
            continue
        path.write_bytes(bytes(data))
        verdict = verify_bundle(directory, trust)
        relative = path.relative_to(directory).as_posix()
        if verdict.ok and not relative.startswith(INFORMATIONAL):
            assert only_cosignatures_changed(originals[path], bytes(data)), (relative, data)
        json.dumps(verdict.to_json())
        path.write_bytes(originals[path])
    assert verify_bundle(directory, trust).ok


def test_unreadable_bundle_file_is_a_reason(small: MemoryLedger, bundle: Path) -> None:
    (bundle / "tile/0/000.p/10").unlink()
    (bundle / "tile/0/000.p/10").mkdir()  # a directory where a file belongs
    expect_bad(audit(bundle, small), "tile/0/000.p/10: cannot be read")


# --- parallel checking ------------------------------------------------------------------------


@pytest.fixture
def parallel(monkeypatch: pytest.MonkeyPatch) -> None:
    from sequestra.audit import bundle as module

    monkeypatch.setattr(module, "PARALLEL_MIN_ENTRIES", 10)
    monkeypatch.setattr(module, "CHUNK_ENTRIES", 32)


@pytest.mark.usefixtures("parallel")
def test_parallel_check_verifies_and_finds_the_same_seq(
    large: MemoryLedger, tmp_path: Path
) -> None:
    directory = write_bundle(large, tmp_path / "bundle")
    trust = trust_for(large)
    assert verify_bundle(directory, trust, workers=2).ok
    lines = lines_of(directory)
    lines[450] = lines[450].replace(b"memo 448", b"memo 999")
    write_lines(directory, [*lines[:-1], lines[-1][:-5]])  # and a truncated last line
    expect_bad(verify_bundle(directory, trust, workers=2), "signature does not verify", 450)
    write_lines(directory, lines_of(directory)[:450])
    expect_bad(verify_bundle(directory, trust, workers=2), "ends after 450 entries", 450)


@pytest.mark.usefixtures("parallel")
def test_parallel_check_without_the_scanned_keys(
    small: MemoryLedger, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Keys the fast scan misses leave the signatures to the replay, which still checks them."""
    from sequestra.audit import bundle as module

    monkeypatch.setattr(module, "_keys_named", lambda line: {})
    directory = write_bundle(small, tmp_path / "bundle")
    assert verify_bundle(directory, trust_for(small), workers=2).ok
    lines = lines_of(directory)
    lines[6] = lines[6].replace(b"memo 4", b"memo 5")
    write_lines(directory, lines)
    expect_bad(verify_bundle(directory, trust_for(small), workers=2), "signature", 6)
