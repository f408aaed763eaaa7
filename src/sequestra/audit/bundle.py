"""What the offline auditor checks: an export bundle, an inclusion proof, a consistency
proof, a signed note.

A bundle (written by `sequestra export`) is verified trusting nothing in it but what the
ledger key signed: the signed `checkpoint` fixes the tree size and root; every entry of
`entries.jsonl` goes through the same replay core as `sequestra verify` (bytes, chain,
signatures, authority, nonces); the tree recomputed from the entries must give the root of
every signed checkpoint, and every tile and entry bundle must equal the recomputed one byte
for byte. Witness cosignatures count for the witness keys the auditor names, a checkpoint
kept from an earlier audit exposes a rollback or a fork.

The tree is built as the entries stream by, in O(log n) memory plus one tile per level, so
a bundle of any size is checked without holding it. Only the standard library and
`cryptography` are used.
"""

from __future__ import annotations

import base64
import binascii
import os
import re
from collections import deque
from collections.abc import Callable, Generator, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from contextlib import closing
from dataclasses import dataclass, field
from multiprocessing import get_context
from pathlib import Path
from typing import Any, BinaryIO

from sequestra.errors import InputRefused, IntegrityFailure, SequestraError
from sequestra.ledger import canonical
from sequestra.ledger.canonical import parse_json
from sequestra.ledger.checkpoint import Checkpoint, CheckpointError, open_checkpoint
from sequestra.ledger.entry import ENTRY_BYTES_MAX, leaf_hash
from sequestra.ledger.errors import LedgerError
from sequestra.ledger.keys import decode_public_key, issuer_id
from sequestra.ledger.merkle import (
    EMPTY_ROOT,
    HASH_SIZE,
    ProofError,
    hash_children,
    verify_consistency,
)
from sequestra.ledger.note import (
    MAX_NOTE_BYTES,
    SIGNATURE_TYPE_COSIGNATURE_V1,
    SIGNATURE_TYPE_ED25519,
    CosignatureVerifier,
    Ed25519Verifier,
    InvalidSignatureError,
    KeyFormatError,
    NoteError,
    UnverifiedNoteError,
    Verifier,
    open_note,
    parse_verifier_key,
    verifier_from_key,
)
from sequestra.ledger.policy import CheckpointUntrusted, TrustPolicy
from sequestra.ledger.replay import Checked, EntryChecker, Replay
from sequestra.ledger.roles import authority_digest
from sequestra.ledger.tiles import (
    TILE_HEIGHT,
    TILE_WIDTH,
    EntryBundleError,
    TileRef,
    encode_entry_bundle,
    entry_bundle_refs,
    tile_refs,
)
from sequestra.ledger.tlog_proof import MAX_TLOG_PROOF_BYTES, TlogProofError, parse_tlog_proof
from sequestra.ledger.workers import watch_parent

NOTE_BYTES_MAX = MAX_NOTE_BYTES
TLOG_PROOF_BYTES_MAX = MAX_TLOG_PROOF_BYTES
BUNDLE_FORMAT = "sequestra-bundle/v1"
BUNDLE_JSON_BYTES_MAX = 64 * 1024
VKEY_FILE_BYTES_MAX = 4 * 1024
WITNESS_KEYS_MAX = 64
CHECKPOINT_FILES_MAX = 1 << 22
TILE_FILES_EXTRA_MAX = 1  # the first unexpected file fails the bundle
PROGRESS_ENTRIES = 4096
PARALLEL_MIN_ENTRIES = 4096
CHUNK_ENTRIES = 1024
IN_FLIGHT_CHUNKS_PER_WORKER = 4
WORKERS_MAX = 256
CONSISTENCY_PROOF_HASHES_MAX = 64
ENTRY_FILE_BYTES_MAX = ENTRY_BYTES_MAX + 2  # the entry and its newline, one byte to spare
ENTRY_BUNDLE_BYTES_MAX = TILE_WIDTH * (2 + ENTRY_BYTES_MAX)
FULL_TILE_BYTES = TILE_WIDTH * HASH_SIZE

_DECIMAL = re.compile(r"0|[1-9][0-9]{0,19}", re.ASCII)
# Canonical entries hold these bytes where a statement is of a key-bearing kind.
_GENESIS_MARK = b'"kind":"ledger.genesis"'
_ENROLLED_MARK = b'"kind":"key.enrolled"'

ProgressCallback = Callable[[int, int], None]


class AuditError(SequestraError):
    """Base class of the auditor's errors."""


class AuditUsageError(AuditError, InputRefused):
    """The auditor's own input (a key, a trusted checkpoint, a path) is unusable: exit 2."""


class _Failure(AuditError, IntegrityFailure):
    """The bundle (or proof) does not verify; carries the reason and the first bad seq."""

    def __init__(self, reason: str, first_bad_seq: int | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.first_bad_seq = first_bad_seq


# --- keys -----------------------------------------------------------------------------------


def read_key_argument(value: str, what: str) -> str:
    """Return a verifier key string given as itself or as a file holding it (first line).

    Raises AuditUsageError when the file is unreadable or empty.
    """
    path = Path(value)
    if not path.is_file():
        if _names_a_file(value):
            raise AuditUsageError(
                f"{what} {value}: no such file (expected a file holding a verifier key, or the"
                " key itself: name+id+key)"
            )
        return value.strip()
    data = read_auditor_file(path, VKEY_FILE_BYTES_MAX, what)
    try:
        lines = [line.strip() for line in data.decode("utf-8").splitlines() if line.strip()]
    except UnicodeDecodeError as error:
        raise AuditUsageError(f"{what} {path}: not UTF-8 text") from error
    if not lines:
        raise AuditUsageError(f"{what} {path}: empty")
    return lines[0]


def _names_a_file(value: str) -> bool:
    """Whether a key argument that is not a file was meant as one: a verifier key is
    `name+id+key`, so text without a `+` (or with a key file's suffix) names a file."""
    text = value.strip()
    return "+" not in text or text.endswith((".vkey", ".pub", ".txt"))


def ledger_verifier(vkey: str, what: str = "--vkey") -> Ed25519Verifier:
    """Return the Ed25519 (type 0x01) verifier of a ledger key string.

    Raises AuditUsageError for a malformed string or another signature type.
    """
    try:
        parsed = parse_verifier_key(vkey)
        if parsed.signature_type != SIGNATURE_TYPE_ED25519:
            raise AuditUsageError(
                f"{what}: expected an Ed25519 ledger key (type 0x01), got type"
                f" {parsed.signature_type:#04x}"
            )
        return Ed25519Verifier(parsed.name, parsed.public_key)
    except KeyFormatError as error:
        raise AuditUsageError(f"{what}: {error}") from error


def witness_verifier(vkey: str, what: str = "--witness-vkey") -> CosignatureVerifier:
    """Return the cosignature (type 0x04) verifier of a witness key string.

    Raises AuditUsageError for a malformed string or another signature type.
    """
    try:
        parsed = parse_verifier_key(vkey)
        if parsed.signature_type != SIGNATURE_TYPE_COSIGNATURE_V1:
            raise AuditUsageError(
                f"{what}: expected a witness cosignature key (type 0x04), got type"
                f" {parsed.signature_type:#04x}"
            )
        return CosignatureVerifier(parsed.name, parsed.public_key)
    except KeyFormatError as error:
        raise AuditUsageError(f"{what}: {error}") from error


def note_verifier(vkey: str, what: str = "--vkey") -> Verifier:
    """Return the verifier of an Ed25519 or cosignature key string; AuditUsageError else."""
    try:
        return verifier_from_key(vkey)
    except KeyFormatError as error:
        raise AuditUsageError(f"{what}: {error}") from error


def _key_label(verifier: Verifier) -> str:
    return f"{verifier.name}+{verifier.key_id:08x}"


# --- files ----------------------------------------------------------------------------------


def read_auditor_file(path: Path, size_max: int, what: str) -> bytes:
    """Read a file named on the command line; raises AuditUsageError when it cannot."""
    try:
        with path.open("rb") as handle:
            data = handle.read(size_max + 1)
    except OSError as error:
        raise AuditUsageError(f"{what} {path}: {error.strerror or error}") from error
    if len(data) > size_max:
        raise AuditUsageError(f"{what} {path}: larger than {size_max} bytes")
    return data


def _read_bundle_file(path: Path, size_max: int, name: str) -> bytes | None:
    """Read a file of the bundle; None when absent. Raises _Failure when unreadable."""
    try:
        with path.open("rb") as handle:
            data = handle.read(size_max + 1)
    except FileNotFoundError:
        return None
    except OSError as error:
        raise _Failure(f"{name}: cannot be read: {error.strerror or error}") from error
    if len(data) > size_max:
        raise _Failure(f"{name}: larger than {size_max} bytes")
    return data


# --- the tree, as the entries stream by -----------------------------------------------------


class _StreamingTree:
    """RFC 6962 tree of a stream of leaf hashes: roots on the way, tiles as they complete.

    Keeps the right border of complete subtrees (at most 64 hashes) and, per tile level,
    the hashes of the tile being filled. `on_tile` receives each full tile as it completes
    and the partial ones at `finish`.
    """

    def __init__(self, on_tile: Callable[[TileRef, bytes], None]) -> None:
        self.size = 0
        self._border: list[tuple[int, bytes]] = []
        self._tiles: list[bytearray] = []
        self._tiles_done: list[int] = []
        self._on_tile = on_tile

    def push(self, leaf: bytes) -> None:
        """Append one leaf hash."""
        self._emit(0, leaf)
        node, level = leaf, 0
        border = self._border
        while border and border[-1][0] == level:
            node = hash_children(border.pop()[1], node)
            level += 1
            if level % TILE_HEIGHT == 0:
                self._emit(level // TILE_HEIGHT, node)
        border.append((level, node))
        self.size += 1

    def root(self) -> bytes:
        """Return the root of the leaves pushed so far."""
        if not self._border:
            return EMPTY_ROOT
        node = self._border[-1][1]
        for _, left in reversed(self._border[:-1]):
            node = hash_children(left, node)
        return node

    def finish(self) -> None:
        """Hand over the partial tile of every level (the rightmost, not yet full)."""
        for level, hashes in enumerate(self._tiles):
            if hashes:
                ref = TileRef(level, self._tiles_done[level], len(hashes) // HASH_SIZE)
                self._on_tile(ref, bytes(hashes))

    def _emit(self, tile_level: int, node: bytes) -> None:
        if tile_level == len(self._tiles):
            self._tiles.append(bytearray())
            self._tiles_done.append(0)
        hashes = self._tiles[tile_level]
        hashes += node
        if len(hashes) == FULL_TILE_BYTES:
            self._on_tile(TileRef(tile_level, self._tiles_done[tile_level]), bytes(hashes))
            self._tiles_done[tile_level] += 1
            hashes.clear()


# --- the verdict ----------------------------------------------------------------------------


# What the offline replay checks of the rules; `sequestra verify` checks the rest.
OFFLINE_RULES_CHECKED = (
    "bytes, links, signatures, nonces, time order and who may issue each kind (the authority"
    " table); each kind's body model and the read models need the service: `sequestra verify`"
)


@dataclass
class BundleVerdict:
    """What `verify_bundle` found. `root` is the hex root recomputed from the entries."""

    ok: bool
    size: int | None = None
    first_bad_seq: int | None = None
    reason: str | None = None
    root: str | None = None
    checkpoints_checked: list[int] = field(default_factory=list)
    cosigned_by: dict[int, list[str]] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "size": self.size,
            "first_bad_seq": self.first_bad_seq,
            "reason": self.reason,
            "root": self.root,
            "checkpoints_checked": self.checkpoints_checked,
            "cosigned_by": {str(size): names for size, names in self.cosigned_by.items()},
            "warnings": self.warnings,
            "rules": {
                "authority": authority_digest(),
                "checked": OFFLINE_RULES_CHECKED,
            },
        }


@dataclass(frozen=True)
class Trust:
    """What the auditor trusts: the ledger key, witness keys, a checkpoint kept earlier.

    `ledger_from_bundle` says the ledger key was read from the bundle itself (no --vkey).
    """

    ledger: Ed25519Verifier
    witnesses: tuple[CosignatureVerifier, ...] = ()
    required_witnesses: tuple[str, ...] = ()
    trusted_checkpoint: bytes | None = None
    ledger_from_bundle: bool = False
    policy: TrustPolicy | None = None  # the bundle's checkpoint must meet its quorum

    @property
    def ledger_public_key(self) -> bytes:
        """The raw 32-byte Ed25519 key of the ledger."""
        return parse_verifier_key(self.ledger.verifier_key).public_key

    def __post_init__(self) -> None:
        """Check the witness names; raises AuditUsageError."""
        if len(self.witnesses) > WITNESS_KEYS_MAX:
            raise AuditUsageError(f"--witness-vkey: at most {WITNESS_KEYS_MAX} witness keys")
        labels = [_key_label(witness) for witness in self.witnesses]
        if len(set(labels)) != len(labels):
            raise AuditUsageError("--witness-vkey: the same witness key is given twice")
        names = {witness.name for witness in self.witnesses}
        for name in self.required_witnesses:
            if name not in names:
                raise AuditUsageError(
                    f"--require-witness {name}: no --witness-vkey names that witness"
                )


def bundle_ledger_key(directory: Path) -> str:
    """Return the ledger key string the bundle carries (keys/ledger.vkey), untrusted.

    Raises AuditUsageError when there is none to read.
    """
    path = directory / "keys" / "ledger.vkey"
    if not path.is_file():
        raise AuditUsageError(f"no --vkey given and the bundle has no {path}")
    return read_key_argument(str(path), "keys/ledger.vkey")


# --- verifying a bundle ---------------------------------------------------------------------


def verify_bundle(
    directory: Path,
    trust: Trust,
    progress: ProgressCallback | None = None,
    workers: int = 1,
) -> BundleVerdict:
    """Verify the export bundle in `directory` against `trust`; never trusts the bundle.

    `workers` processes check entries' signatures when the bundle is large. Returns the
    verdict (ok, or the first failure and, for entry damage, its seq). Raises
    AuditUsageError when the directory is not one or the trusted checkpoint is unusable.
    """
    if not directory.is_dir():
        raise AuditUsageError(f"{directory}: not a directory")
    if not 1 <= workers <= WORKERS_MAX:
        raise AuditUsageError(f"--workers: expected 1 to {WORKERS_MAX}, got {workers}")
    check = _BundleCheck(directory, trust, progress, workers)
    trusted = check.open_trusted_checkpoint()
    verdict = check.verdict
    try:
        check.run(trusted)
        verdict.ok = True
    except _Failure as failure:
        verdict.ok = False
        verdict.reason = failure.reason
        verdict.first_bad_seq = failure.first_bad_seq
    verdict.checkpoints_checked = sorted(set(verdict.checkpoints_checked))
    return verdict


class _BundleCheck:
    """One verification of one bundle; `run` raises _Failure at the first failure."""

    def __init__(
        self, directory: Path, trust: Trust, progress: ProgressCallback | None, workers: int
    ) -> None:
        self.directory = directory
        self.trust = trust
        self.progress = progress
        self.workers = workers
        self.verdict = BundleVerdict(ok=False)
        self.roots: dict[int, bytes] = {}  # tree size -> root recomputed from the entries
        self.tile_failure: str | None = None  # the first tile problem, reported after entries
        self.seen_tiles: set[str] = set()
        self.manifest: dict[str, Any] | None = None
        self.listing_failure: _Failure | None = None  # checkpoints/ problems, reported later
        if trust.ledger_from_bundle:
            self.verdict.warnings.append(
                "no --vkey given: trusting the ledger key the bundle itself carries"
                f" ({_key_label(trust.ledger)}); this shows only that the bundle is"
                " self-consistent, not that it is the ledger you mean. Get the ledger's"
                " verifier key from its owner and pass --vkey."
            )

    # -- the steps --

    def run(self, trusted: Checkpoint | None) -> None:
        """Check the bundle, most telling failure first; raises _Failure.

        The signed checkpoint fixes the size; then the entries (a failure names its seq), the
        checkpoint's root, the trusted checkpoint (rollback, fork), the older checkpoints, the
        tiles and entry bundles, and the required witnesses.
        """
        self._read_manifest()
        note, checkpoint = self._open_main_checkpoint()
        self.verdict.size = checkpoint.size
        files = self._list_checkpoint_files()
        wanted = {size for size, _ in files if size <= checkpoint.size}
        if trusted is not None and trusted.size <= checkpoint.size:
            wanted.add(trusted.size)
        self._check_entries(checkpoint.size, wanted)
        root = self.roots[checkpoint.size]
        self.verdict.root = root.hex()
        if checkpoint.root_hash != root:
            raise _Failure(
                f"checkpoint: its root {checkpoint.root_hash.hex()} is not the root {root.hex()}"
                f" of the {checkpoint.size} entries"
            )
        self._record_cosigners(note, checkpoint.size, "checkpoint")
        self.verdict.checkpoints_checked.append(checkpoint.size)
        if trusted is not None:
            self._check_trusted(trusted, checkpoint.size)
        if self.listing_failure is not None:
            raise self.listing_failure
        for size, path in files:
            self._check_checkpoint_file(size, path, checkpoint)
        if self.tile_failure is not None:
            raise _Failure(self.tile_failure)
        self._check_tile_files(checkpoint.size)
        self._check_required_witnesses(checkpoint.size)
        self._check_policy(note)

    def open_trusted_checkpoint(self) -> Checkpoint | None:
        """Open the checkpoint the auditor kept; raises AuditUsageError when it is unusable."""
        data = self.trust.trusted_checkpoint
        if data is None:
            return None
        try:
            checkpoint, _ = open_checkpoint(data, self.trust.ledger.name, [self.trust.ledger])
        except (NoteError, CheckpointError) as error:
            raise AuditUsageError(
                f"--trusted-checkpoint: does not verify under the ledger key"
                f" {_key_label(self.trust.ledger)}: {error}"
            ) from error
        return checkpoint

    def _read_manifest(self) -> None:
        """bundle.json is informational: its problems are warnings, never trusted facts."""
        try:
            data = _read_bundle_file(
                self.directory / "bundle.json", BUNDLE_JSON_BYTES_MAX, "bundle.json"
            )
        except _Failure as failure:
            self.verdict.warnings.append(failure.reason)
            return
        if data is None:
            self.verdict.warnings.append("bundle.json is missing (it is informational only)")
            return
        try:
            manifest = parse_json(data)  # no name twice (I-JSON)
        except ValueError:  # CanonicalError too
            self.verdict.warnings.append("bundle.json is not valid JSON (ignored)")
            return
        if not isinstance(manifest, dict) or manifest.get("format") != BUNDLE_FORMAT:
            self.verdict.warnings.append(f"bundle.json does not say format {BUNDLE_FORMAT}")
            return
        self.manifest = manifest

    def _check_manifest(self, checkpoint: Checkpoint) -> None:
        manifest = self.manifest
        if manifest is None:
            return
        facts = {
            "origin": checkpoint.origin,
            "size": checkpoint.size,
            "ledger_vkey": self.trust.ledger.verifier_key,
        }
        for key, value in facts.items():
            if manifest.get(key) != value:
                self.verdict.warnings.append(
                    f"bundle.json says {key} {manifest.get(key)!r:.80}; the signed checkpoint"
                    f" says {value!r}"
                )

    def _open_main_checkpoint(self) -> tuple[bytes, Checkpoint]:
        data = _read_bundle_file(self.directory / "checkpoint", MAX_NOTE_BYTES, "checkpoint")
        if data is None:
            raise _Failure("checkpoint: missing; a bundle must hold its signed checkpoint")
        checkpoint = self._open_ledger_checkpoint(data, "checkpoint")
        self._check_manifest(checkpoint)
        return data, checkpoint

    def _open_ledger_checkpoint(self, data: bytes, name: str) -> Checkpoint:
        ledger = self.trust.ledger
        try:
            checkpoint, _ = open_checkpoint(data, ledger.name, [ledger])
        except UnverifiedNoteError as error:
            raise _Failure(
                f"{name}: not signed by the trusted ledger key {_key_label(ledger)}"
            ) from error
        except InvalidSignatureError as error:
            raise _Failure(
                f"{name}: the ledger key's signature does not verify (altered?)"
            ) from error
        except (NoteError, CheckpointError) as error:
            raise _Failure(f"{name}: {error}") from error
        return checkpoint

    def _record_cosigners(self, note: bytes, size: int, name: str) -> None:
        if not self.trust.witnesses:
            return
        try:
            opened = open_note(note, self.trust.witnesses)
            names = sorted({signature.name for signature in opened.verified_signatures})
        except UnverifiedNoteError:
            names = []
        except InvalidSignatureError as error:
            raise _Failure(
                f"{name}: the cosignature of witness {error.name} does not verify"
            ) from error
        except NoteError as error:
            raise _Failure(f"{name}: {error}") from error
        known = self.verdict.cosigned_by.setdefault(size, [])
        self.verdict.cosigned_by[size] = sorted(set(known) | set(names))

    # -- entries --

    def _check_entries(self, size: int, wanted_roots: set[int]) -> None:
        """Replay every entry, build the tree, check entry bundles and tiles on the way."""
        handle = self._open_entries(size)
        with handle:
            self._replay(handle, size, wanted_roots)

    def _open_entries(self, size: int) -> BinaryIO:
        path = self.directory / "entries.jsonl"
        try:
            return path.open("rb")
        except FileNotFoundError as error:
            raise _Failure("entries.jsonl: missing", 0 if size else None) from error
        except OSError as error:
            raise _Failure(f"entries.jsonl: cannot be read: {error.strerror}") from error

    def _replay(self, handle: BinaryIO, size: int, wanted_roots: set[int]) -> None:
        replay = Replay(self.trust.ledger_public_key)
        tree = _StreamingTree(self._compare_tile)
        bundle: list[bytes] = []
        if 0 in wanted_roots:
            self.roots[0] = EMPTY_ROOT
        with closing(self._checked_entries(handle, size, replay)) as checked_entries:
            for position, (data, checked) in enumerate(checked_entries):
                reason = replay.feed(checked)
                if reason is not None:
                    raise _Failure(reason, position)
                if position == 0:
                    self._check_genesis_origin(replay)
                tree.push(replay.last_leaf_hash)
                bundle.append(data)
                if len(bundle) == TILE_WIDTH:
                    self._compare_entry_bundle(TileRef(None, position // TILE_WIDTH), bundle)
                    bundle = []
                if tree.size in wanted_roots:
                    self.roots[tree.size] = tree.root()
                if self.progress is not None and tree.size % PROGRESS_ENTRIES == 0:
                    self.progress(tree.size, size)
        if size == 0:
            raise _Failure("the checkpoint is of an empty tree: a ledger has a genesis entry")
        if bundle:
            self._compare_entry_bundle(TileRef(None, size // TILE_WIDTH, len(bundle)), bundle)
        tree.finish()
        self.roots[size] = tree.root()
        if self.progress is not None:
            self.progress(size, size)

    def _checked_entries(
        self, handle: BinaryIO, size: int, replay: Replay
    ) -> Generator[tuple[bytes, Checked], None, None]:
        """Yield each entry's bytes with the checker's verdict, in order.

        Large bundles are checked on `workers` processes, chunk by chunk, with the keys a
        first pass finds in the registry entries (keys name their issuer by hash, so a key
        found is right; one missed is checked by the replay instead).
        """
        lines = _entry_lines(handle, size)
        if self.workers < 2 or size < PARALLEL_MIN_ENTRIES:
            checker = EntryChecker(replay.enrolled_keys, replay.wanted_kinds)
            for position, data in enumerate(lines):
                yield data, checker.check(position, data)
            return
        keys = self._scan_keys(size)
        standard_library = canonical.using_standard_library_encoder()
        with ProcessPoolExecutor(
            self.workers,
            mp_context=get_context("spawn"),
            initializer=_init_worker,
            initargs=(keys, replay.wanted_kinds, standard_library, os.getpid()),
        ) as pool:
            pending: deque[tuple[list[bytes], Future[list[Checked]] | _Failure]] = deque()
            for start, chunk, failure in _chunks(lines, CHUNK_ENTRIES):
                pending.append((chunk, pool.submit(_check_chunk, start, chunk)))
                if failure is not None:
                    pending.append(([], failure))
                while len(pending) > IN_FLIGHT_CHUNKS_PER_WORKER * self.workers:
                    yield from _drain(pending.popleft())
            while pending:
                yield from _drain(pending.popleft())

    def _scan_keys(self, size: int) -> dict[str, bytes]:
        """Collect the public keys the registry entries name, by issuer id (a fast pass)."""
        keys: dict[str, bytes] = {}
        with self._open_entries(size) as handle:
            for _ in range(size):
                line = handle.readline(ENTRY_FILE_BYTES_MAX)
                if not line:
                    break
                if _GENESIS_MARK in line or _ENROLLED_MARK in line:
                    keys.update(_keys_named(line))
        return keys

    def _check_genesis_origin(self, replay: Replay) -> None:
        origin = replay.authority.origin
        if origin != self.trust.ledger.name:
            raise _Failure(
                f"the genesis names origin {origin!r}; the trusted ledger key is named"
                f" {self.trust.ledger.name!r}",
                0,
            )

    # -- tiles --

    def _compare_tile(self, ref: TileRef, expected: bytes) -> None:
        self._compare_file(ref, expected, FULL_TILE_BYTES)

    def _compare_entry_bundle(self, ref: TileRef, entries: Sequence[bytes]) -> None:
        try:
            expected = encode_entry_bundle(entries)
        except EntryBundleError as error:  # the checker refused bigger entries already
            raise _Failure(f"{ref.path}: {error}") from error
        self._compare_file(ref, expected, ENTRY_BUNDLE_BYTES_MAX)

    def _compare_file(self, ref: TileRef, expected: bytes, size_max: int) -> None:
        path = ref.path
        self.seen_tiles.add(path)
        if self.tile_failure is not None:
            return
        try:
            data = _read_bundle_file(self.directory / path, size_max, path)
        except _Failure as failure:
            self.tile_failure = failure.reason
            return
        if data is None:
            self.tile_failure = f"{path} is missing"
        elif data != expected:
            what = "hash tile" if ref.level is not None else "entry bundle"
            self.tile_failure = (
                f"{path}: the {what} differs from the one recomputed from the entries"
            )

    def _check_tile_files(self, size: int) -> None:
        expected = {ref.path for ref in tile_refs(size)}
        expected |= {ref.path for ref in entry_bundle_refs(size)}
        missing = sorted(expected - self.seen_tiles)
        if missing:  # cannot happen unless the tree and the tile layout disagree
            raise _Failure(f"{missing[0]} was not checked")
        for path in _bundle_files(self.directory / "tile", len(expected) + TILE_FILES_EXTRA_MAX):
            relative = "tile/" + path
            if relative not in expected:
                raise _Failure(f"{relative}: unexpected file; the tree of {size} has no such tile")

    # -- checkpoints --

    def _list_checkpoint_files(self) -> list[tuple[int, Path]]:
        folder = self.directory / "checkpoints"
        if not folder.is_dir():
            self.verdict.warnings.append("checkpoints/ is missing: no earlier checkpoint checked")
            return []
        files: list[tuple[int, Path]] = []
        try:
            for name in _bundle_files(folder, CHECKPOINT_FILES_MAX):
                if not _DECIMAL.fullmatch(name):
                    raise _Failure(f"checkpoints/{name}: not named by a tree size")
                files.append((int(name), folder / name))
        except _Failure as failure:
            self.listing_failure = failure
        return sorted(files)

    def _check_checkpoint_file(self, size: int, path: Path, latest: Checkpoint) -> None:
        name = f"checkpoints/{size}"
        if size > latest.size:
            raise _Failure(f"{name}: larger than the bundle's checkpoint of {latest.size}")
        data = _read_bundle_file(path, MAX_NOTE_BYTES, name)
        if data is None:
            raise _Failure(f"{name}: vanished while checking")
        checkpoint = self._open_ledger_checkpoint(data, name)
        if checkpoint.size != size:
            raise _Failure(f"{name}: holds a checkpoint of size {checkpoint.size}")
        root = self.roots[size]
        if checkpoint.root_hash != root:
            raise _Failure(
                f"{name}: the ledger signed root {checkpoint.root_hash.hex()} for size {size},"
                f" but the first {size} entries give {root.hex()}: a fork, or altered entries"
            )
        self._record_cosigners(data, size, name)
        self.verdict.checkpoints_checked.append(size)

    def _check_trusted(self, trusted: Checkpoint, size: int) -> None:
        if trusted.size > size:
            raise _Failure(
                f"rollback: the bundle's ledger has {size} entries, but you hold a checkpoint"
                f" of {trusted.size} signed by the same key"
            )
        root = self.roots[trusted.size]
        if trusted.root_hash != root:
            raise _Failure(
                f"fork: the checkpoint you hold says root {trusted.root_hash.hex()} at size"
                f" {trusted.size}, but the bundle's first {trusted.size} entries give"
                f" {root.hex()}; the ledger key signed two different histories"
            )

    def _check_policy(self, note: bytes) -> None:
        """With a policy, the bundle's checkpoint must carry its quorum of valid
        cosignatures (fail closed); without one, say that only self-consistency was checked."""
        policy = self.trust.policy
        if policy is None:
            if not self.trust.witnesses and self.trust.trusted_checkpoint is None:
                self.verdict.warnings.append(
                    "no --policy, no witness key, no kept checkpoint: only the bundle's"
                    " self-consistency was checked; nothing pins its history"
                )
            return
        try:
            judged = policy.check(note)
        except CheckpointUntrusted as error:
            raise _Failure(f"policy {policy.source}: {error}") from error
        for cosignature in judged.rejected:
            if cosignature.status == "invalid":
                raise _Failure(
                    f"checkpoint: a cosignature named {cosignature.name} is invalid under the"
                    " policy (forged or copied)"
                )
            self.verdict.warnings.append(
                f"checkpoint: a cosignature named {cosignature.name} is {cosignature.status}"
                " under the policy (a key it does not name) and was not counted"
            )
        if not judged.quorum_met:
            cosigned = ", ".join(judged.cosigned_by) or "no witness of the policy"
            raise _Failure(
                f"checkpoint: lacks the policy's quorum ({policy.quorum}): cosigned by"
                f" {cosigned}; an unwitnessed checkpoint proves nothing to an auditor"
            )

    def _check_required_witnesses(self, size: int) -> None:
        cosigned = set(self.verdict.cosigned_by.get(size, ()))
        for name in self.trust.required_witnesses:
            if name not in cosigned:
                raise _Failure(f"checkpoint: not cosigned by the required witness {name}")


def _entry_lines(handle: BinaryIO, size: int) -> Iterator[bytes]:
    """Yield the `size` entries of entries.jsonl (newline removed); raises _Failure."""
    for position in range(size):
        line = handle.readline(ENTRY_FILE_BYTES_MAX)
        if not line:
            raise _Failure(
                f"entries.jsonl ends after {position} entries; the checkpoint has {size}",
                position,
            )
        if not line.endswith(b"\n"):
            if len(line) == ENTRY_FILE_BYTES_MAX:
                raise _Failure(f"entry is over {ENTRY_BYTES_MAX} bytes", position)
            raise _Failure("entries.jsonl: the last line has no newline (truncated)", position)
        yield line[:-1]
    if handle.read(1):
        raise _Failure(
            f"entries.jsonl holds more than the {size} entries of the signed checkpoint", size
        )


def _chunks(
    lines: Iterator[bytes], chunk_entries: int
) -> Iterator[tuple[int, list[bytes], _Failure | None]]:
    """Group lines into chunks; a reading failure ends the stream, after the lines before it."""
    start, chunk = 0, []
    try:
        for line in lines:
            chunk.append(line)
            if len(chunk) == chunk_entries:
                yield start, chunk, None
                start, chunk = start + len(chunk), []
    except _Failure as failure:
        yield start, chunk, failure
        return
    if chunk:
        yield start, chunk, None


def _drain(
    item: tuple[list[bytes], Future[list[Checked]] | _Failure],
) -> Iterator[tuple[bytes, Checked]]:
    chunk, result = item
    if isinstance(result, _Failure):
        raise result
    yield from zip(chunk, result.result(), strict=True)


def _keys_named(line: bytes) -> dict[str, bytes]:
    """The keys a genesis or enrolment entry names; nothing for anything else or garbage."""
    keys: dict[str, bytes] = {}
    try:
        body = parse_json(line)["statement"]["body"]
        texts = [body.get("public_key"), body.get("ledger_key"), *body.get("admins", [])]
        for text in texts:
            if isinstance(text, str):
                raw = decode_public_key(text)
                keys[issuer_id(raw)] = raw
    except (LedgerError, KeyError, TypeError, AttributeError):
        return keys  # a malformed entry is reported when the replay reaches it
    return keys


class _Worker:
    """Per-process state of a checking worker."""

    checker: EntryChecker = EntryChecker()


def _init_worker(
    keys: dict[str, bytes], wanted_kinds: frozenset[str], standard_library: bool, parent_pid: int
) -> None:
    watch_parent(parent_pid)  # the worker ends when the auditor's process does
    if standard_library:
        canonical.use_standard_library_encoder()
    _Worker.checker = EntryChecker(keys, wanted_kinds)


def _check_chunk(start: int, lines: list[bytes]) -> list[Checked]:
    """Check the entries at positions start, start + 1, ... each on its own."""
    check = _Worker.checker.check
    return [check(start + offset, data) for offset, data in enumerate(lines)]


def _bundle_files(folder: Path, count_max: int) -> list[str]:
    """Return every file under `folder` as a relative '/' path, sorted; raises _Failure.

    More than `count_max` files, or anything that is neither a file nor a directory, fail.
    """
    found: list[str] = []
    if not folder.is_dir():
        return found
    for root, directories, files in os.walk(folder, onerror=_walk_error):
        directories.sort()
        base = Path(root).relative_to(folder)
        for name in sorted(files):
            relative = (base / name).as_posix()
            if not (Path(root) / name).is_file():
                raise _Failure(f"{folder.name}/{relative}: not a regular file")
            found.append(relative)
            if len(found) > count_max:
                raise _Failure(f"{folder.name}/: more than {count_max} files")
    return found


def _walk_error(error: OSError) -> None:
    raise _Failure(f"{error.filename}: cannot be listed: {error.strerror}")


# --- single proofs --------------------------------------------------------------------------


@dataclass
class ProofVerdict:
    """What `verify_inclusion_file` or `verify_consistency_files` found."""

    ok: bool
    reason: str | None = None
    details: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"ok": self.ok, "reason": self.reason, **self.details}


def verify_inclusion_file(
    entry_data: bytes, proof_data: bytes, ledger: Ed25519Verifier
) -> ProofVerdict:
    """Check that an entry (its JCS bytes, one line) is in a checkpoint signed by `ledger`.

    Checks the entry's form, that its seq is the proof's index, the inclusion proof and the
    checkpoint's signature. The statement's own signature needs the issuer's key, which only
    the ledger's entries provide: verify a bundle for that.
    """
    try:
        return _verify_inclusion(entry_data, proof_data, ledger)
    except _Failure as failure:
        return ProofVerdict(False, failure.reason)


def _verify_inclusion(
    entry_data: bytes, proof_data: bytes, ledger: Ed25519Verifier
) -> ProofVerdict:
    data = entry_data[:-1] if entry_data.endswith(b"\n") else entry_data
    try:
        proof = parse_tlog_proof(proof_data)
    except TlogProofError as error:
        raise _Failure(f"proof file: {error}") from error
    checked = EntryChecker().check(proof.index, data)
    if checked[1] is not None:
        raise _Failure(f"entry: {checked[1]}")
    if checked[3] != proof.index:
        raise _Failure(f"entry: its seq is {checked[3]}; the proof is for index {proof.index}")
    leaf = leaf_hash(data)
    try:
        checkpoint, _ = proof.verify(leaf, ledger.name, [ledger])
    except UnverifiedNoteError as error:
        raise _Failure(f"checkpoint: not signed by the ledger key {_key_label(ledger)}") from error
    except (NoteError, CheckpointError) as error:
        raise _Failure(f"checkpoint: {error}") from error
    except ProofError as error:
        raise _Failure(
            f"inclusion proof: entry {proof.index} is not in the checkpoint's tree: {error}"
        ) from error
    return ProofVerdict(
        True,
        None,
        {
            "seq": proof.index,
            "leaf_hash": leaf.hex(),
            "size": checkpoint.size,
            "root": checkpoint.root_hash.hex(),
            "statement_signature_checked": False,
        },
    )


def parse_consistency_proof(data: bytes) -> list[bytes]:
    """Parse base64 hashes, one a line (what `sequestra consistency` prints).

    Raises _Failure for a line that is not the canonical base64 of 32 bytes or too many.
    """
    try:
        text = data.decode("ascii")
    except UnicodeDecodeError as error:
        raise _Failure("consistency proof: not ASCII text") from error
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    if len(lines) > CONSISTENCY_PROOF_HASHES_MAX:
        raise _Failure(f"consistency proof: more than {CONSISTENCY_PROOF_HASHES_MAX} hashes")
    hashes: list[bytes] = []
    for number, line in enumerate(lines, start=1):
        line = line.removesuffix("\r")
        try:
            value = base64.b64decode(line, validate=True)
        except (binascii.Error, ValueError) as error:
            raise _Failure(f"consistency proof line {number}: not base64") from error
        if len(value) != HASH_SIZE or base64.b64encode(value).decode("ascii") != line:
            raise _Failure(f"consistency proof line {number}: not the base64 of 32 bytes")
        hashes.append(value)
    return hashes


def verify_consistency_files(
    old_note: bytes, new_note: bytes, proof_data: bytes, ledger: Ed25519Verifier
) -> ProofVerdict:
    """Check two checkpoints signed by `ledger` and the consistency proof between them."""
    try:
        old = _open_checkpoint_note(old_note, ledger, "old checkpoint")
        new = _open_checkpoint_note(new_note, ledger, "new checkpoint")
        if old.size > new.size:
            raise _Failure(
                f"rollback: the old checkpoint has {old.size} entries, the new one {new.size}"
            )
        proof = parse_consistency_proof(proof_data)
        try:
            verify_consistency(old.size, new.size, proof, old.root_hash, new.root_hash)
        except ProofError as error:
            raise _Failure(
                f"fork or bad proof: the checkpoint of {new.size} is not shown to extend the"
                f" one of {old.size}: {error}"
            ) from error
    except _Failure as failure:
        return ProofVerdict(False, failure.reason)
    return ProofVerdict(
        True,
        None,
        {
            "old_size": old.size,
            "new_size": new.size,
            "old_root": old.root_hash.hex(),
            "new_root": new.root_hash.hex(),
        },
    )


def _open_checkpoint_note(note: bytes, ledger: Ed25519Verifier, name: str) -> Checkpoint:
    try:
        checkpoint, _ = open_checkpoint(note, ledger.name, [ledger])
    except UnverifiedNoteError as error:
        raise _Failure(f"{name}: not signed by the ledger key {_key_label(ledger)}") from error
    except (NoteError, CheckpointError) as error:
        raise _Failure(f"{name}: {error}") from error
    return checkpoint


@dataclass
class NoteVerdict:
    """What `verify_note_file` found: the text and which keys signed it."""

    ok: bool
    reason: str | None = None
    text: str | None = None
    verified_by: list[str] = field(default_factory=list)
    unknown_signers: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "reason": self.reason,
            "text": self.text,
            "verified_by": self.verified_by,
            "unknown_signers": self.unknown_signers,
        }


def verify_note_file(data: bytes, verifiers: Sequence[Verifier]) -> NoteVerdict:
    """Open a C2SP signed note with the given keys; ok when one verifies and none fails."""
    try:
        opened = open_note(data, verifiers)
    except UnverifiedNoteError as error:
        unknown = [f"{s.name}+{s.key_id:08x}" for s in error.note.unverified_signatures]
        return NoteVerdict(False, "no signature by a given key", error.note.text, [], unknown)
    except NoteError as error:
        return NoteVerdict(False, str(error))
    return NoteVerdict(
        True,
        None,
        opened.text,
        [f"{s.name}+{s.key_id:08x}" for s in opened.verified_signatures],
        [f"{s.name}+{s.key_id:08x}" for s in opened.unverified_signatures],
    )
