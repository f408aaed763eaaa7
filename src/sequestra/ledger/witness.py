"""C2SP transparency-log witness (c2sp.org/tlog-witness): the add-checkpoint protocol.

A witness cosigns a log's checkpoint only when it is consistent with the latest checkpoint the
witness cosigned for that log before. The log (here the ledger) sends

    POST <submission prefix>/add-checkpoint

with a body made of the line ``old <size>``, at most 63 lines each holding one base64 hash of a
consistency proof from that old size, an empty line, and the signed checkpoint note. Outcomes,
in the order the spec lists the checks:

- 400 the body is malformed, or the old size is larger than the checkpoint's size;
- 404 the checkpoint's origin is not a log this witness knows;
- 403 no signature from a trusted key of that log verifies (a failing one also refuses);
- 409 the old size is not the size of the latest checkpoint cosigned for the log (zero if none),
  or the sizes are equal but the root hashes differ (a fork); the body is the latest size and a
  newline, with Content-Type ``text/x.tlog.size``;
- 422 the consistency proof does not verify (it must be empty when the old size is zero);
- 200 the witness stores the checkpoint, then answers with its cosignature line(s)
  (c2sp.org/tlog-cosignature, timestamped Ed25519, signature type 0x04).

Checking the old size and storing the new checkpoint happen atomically under an exclusive
``fcntl.flock`` on a per-log lock file, so two requests (threads or processes) can never both
advance from the same old size and roll the witness back. The state is one file per log holding
the latest cosigned note, replaced atomically (temporary file, fsync, ``os.replace``).

A witness that never cosigned for a log treats its state as the empty tree (size 0, the RFC 6962
empty root), so a first checkpoint of size 0 must carry that root. Only the standard library,
``cryptography`` and the ledger's pure modules are used; no web framework.
"""

from __future__ import annotations

import base64
import binascii
import errno
import fcntl
import hashlib
import logging
import os
import re
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from sequestra.errors import (
    Conflict,
    DependencyUnavailable,
    InputRefused,
    IntegrityFailure,
    SequestraError,
)
from sequestra.ledger.checkpoint import Checkpoint, CheckpointError, parse_checkpoint
from sequestra.ledger.merkle import (
    EMPTY_ROOT,
    HASH_SIZE,
    MAX_TREE_SIZE,
    ProofError,
    verify_consistency,
)
from sequestra.ledger.note import (
    MAX_NOTE_BYTES,
    MAX_SIGNATURES,
    AmbiguousKeyError,
    CosignatureSigner,
    CosignatureVerifier,
    Ed25519Verifier,
    InvalidSignatureError,
    KeyFormatError,
    MalformedNoteError,
    NoteError,
    Signature,
    UnverifiedNoteError,
    Verifier,
    open_note,
    parse_verifier_key,
    sign_note,
    split_note,
)

MAX_PROOF_LINES = 63  # the spec's limit; a proof between two sizes below 2**64 needs fewer
MAX_REQUEST_BYTES = 1 << 20
MAX_CHECKPOINT_TEXT_BYTES = 16 * 1024  # origin, size, root and a few extension lines
OLD_SIZE_DIGITS_MAX = 20  # 2**64 - 1 has 20 decimal digits
MAX_LOG_VERIFIERS = 16  # trusted keys per log
MAX_REASON_CHARS = 300
LOCK_WAIT_S_MAX = 5.0
LOCK_POLL_S = 0.005
CONTENT_TYPE_TEXT = "text/plain; charset=utf-8"
CONTENT_TYPE_TLOG_SIZE = "text/x.tlog.size"

STATUS_OK = 200
STATUS_BAD_REQUEST = 400
STATUS_FORBIDDEN = 403
STATUS_NOT_FOUND = 404
STATUS_CONFLICT = 409
STATUS_TOO_LARGE = 413
STATUS_UNPROCESSABLE = 422
STATUS_INTERNAL_ERROR = 500
STATUS_UNAVAILABLE = 503

_OLD_LINE = re.compile(rf"old (0|[1-9][0-9]{{0,{OLD_SIZE_DIGITS_MAX - 1}}})", re.ASCII)
_STATE_SUFFIX = ".note"
_LOCK_SUFFIX = ".lock"

logger = logging.getLogger(__name__)


# --- errors --------------------------------------------------------------------------------


class WitnessError(SequestraError):
    """Base class of every witness error."""


class MalformedRequestError(WitnessError, InputRefused):
    """An add-checkpoint body breaks the protocol's syntax or limits (HTTP 400)."""


class RequestTooLargeError(MalformedRequestError):
    """An add-checkpoint body is larger than the limit (HTTP 413)."""


class WitnessConfigError(WitnessError, InputRefused):
    """The witness's configuration (name, logs, trusted keys) is malformed."""


class WitnessStateError(WitnessError, IntegrityFailure):
    """The stored state cannot be read, is corrupt, or cannot be written (HTTP 500)."""


class StateLockTimeoutError(WitnessStateError, DependencyUnavailable):
    """The per-log lock was not acquired in time (HTTP 503; the log retries later)."""


class CheckpointRefused(WitnessError, IntegrityFailure):
    """The witness refuses to cosign; ``status`` is the HTTP status, ``reason`` says why."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(f"{status}: {reason}")
        self.status = status
        self.reason = reason


class SizeConflict(CheckpointRefused, Conflict):
    """409: the old size is not the latest cosigned size, or equal sizes have other roots."""

    def __init__(self, latest_size: int, reason: str) -> None:
        super().__init__(STATUS_CONFLICT, reason)
        self.latest_size = latest_size


# --- request body ----------------------------------------------------------------------------


@dataclass(frozen=True)
class AddCheckpointRequest:
    """A parsed add-checkpoint body: old size, consistency proof and the signed note."""

    old_size: int
    proof: tuple[bytes, ...]
    checkpoint_note: bytes


def parse_add_checkpoint_request(
    body: bytes, request_bytes_max: int = MAX_REQUEST_BYTES
) -> AddCheckpointRequest:
    """Parse ``old <size>``, up to 63 base64 hash lines, an empty line and the signed note.

    The note is only split off here; open it with the log's keys. Raises RequestTooLargeError
    for a body over ``request_bytes_max`` bytes, MalformedRequestError for any other breach:
    no empty line, a non-ASCII header, an old size that is not canonical decimal below 2**64,
    more than 63 proof lines, or a proof line that is not the canonical base64 of 32 bytes.
    """
    if not isinstance(body, bytes | bytearray):
        raise MalformedRequestError(f"body: expected bytes, got {type(body).__name__}")
    if len(body) > request_bytes_max:
        raise RequestTooLargeError(f"body: larger than {request_bytes_max} bytes")
    split = body.find(b"\n\n")
    if split < 0:
        raise MalformedRequestError("body: no empty line before the checkpoint")
    try:
        header = bytes(body[:split]).decode("ascii")
    except UnicodeDecodeError as error:
        raise MalformedRequestError("body: the old size and proof lines must be ASCII") from error
    old_line, *proof_lines = header.split("\n")
    if len(proof_lines) > MAX_PROOF_LINES:
        raise MalformedRequestError(
            f"proof: at most {MAX_PROOF_LINES} lines, got {len(proof_lines)}"
        )
    old_size = _parse_old_line(old_line)
    proof = tuple(_parse_hash_line(number, line) for number, line in enumerate(proof_lines, 1))
    return AddCheckpointRequest(old_size, proof, bytes(body[split + 2 :]))


def format_add_checkpoint_request(
    old_size: int, proof: Sequence[bytes], checkpoint_note: bytes
) -> bytes:
    """Return the add-checkpoint body for a signed checkpoint note.

    Raises MalformedRequestError for an old size outside [0, 2**64), more than 63 proof hashes,
    a hash that is not 32 bytes, or a note that does not end with a newline.
    """
    if isinstance(old_size, bool) or not isinstance(old_size, int):
        raise MalformedRequestError(f"old size: expected an integer, got {old_size!r}")
    if not 0 <= old_size < MAX_TREE_SIZE:
        raise MalformedRequestError(f"old size: expected 0 <= size < 2**64, got {old_size}")
    if len(proof) > MAX_PROOF_LINES:
        raise MalformedRequestError(f"proof: at most {MAX_PROOF_LINES} hashes, got {len(proof)}")
    for number, value in enumerate(proof, 1):
        if not isinstance(value, bytes | bytearray) or len(value) != HASH_SIZE:
            raise MalformedRequestError(f"proof hash {number}: expected {HASH_SIZE} bytes")
    if not checkpoint_note.endswith(b"\n"):
        raise MalformedRequestError("checkpoint note: must end with a newline")
    lines = [f"old {old_size}\n"] + [_b64(value) + "\n" for value in proof]
    return "".join(lines).encode("ascii") + b"\n" + bytes(checkpoint_note)


def _parse_old_line(line: str) -> int:
    match = _OLD_LINE.fullmatch(line)
    if match is None:
        shown = line[:40]
        raise MalformedRequestError(f"old size line: expected 'old <decimal>', got {shown!r}")
    size = int(match.group(1))
    if size >= MAX_TREE_SIZE:
        raise MalformedRequestError(f"old size: {size} is not below 2**64")
    return size


def _parse_hash_line(number: int, line: str) -> bytes:
    try:
        value = base64.b64decode(line.encode("ascii"), validate=True)
    except (binascii.Error, ValueError) as error:
        raise MalformedRequestError(f"proof line {number}: not standard base64") from error
    if len(value) != HASH_SIZE or _b64(value) != line:
        raise MalformedRequestError(
            f"proof line {number}: expected the canonical base64 of {HASH_SIZE} bytes"
        )
    return value


def _b64(value: bytes) -> str:
    return base64.b64encode(value).decode("ascii")


# --- signature lines -------------------------------------------------------------------------


def parse_signature_line(line: str) -> Signature:
    """Parse one note signature line ``— <name> <base64>`` (a final newline is allowed).

    Raises MalformedNoteError for a line with an inner newline or broken syntax.
    """
    body = line[:-1] if line.endswith("\n") else line
    if "\n" in body or not body:
        raise MalformedNoteError("signature line: expected one non-empty line")
    _, signatures = split_note(b"-\n\n" + body.encode("utf-8") + b"\n")
    return signatures[0]


def merge_cosignatures(note: bytes, lines: Iterable[str]) -> bytes:
    """Append signature lines to a signed note, keeping its signatures first and in order.

    A line from a key (name and key ID) that already signed the note is dropped, so the ledger's
    own signature stays first and is never replaced. The lines are not verified here: verify
    them first (push_checkpoint does when given the witnesses' verifiers). Raises
    MalformedNoteError for a malformed note or line, or a result beyond the note limits.
    """
    text, existing = split_note(note)
    merged = list(dict.fromkeys(existing))
    keys = {(signature.name, signature.key_id) for signature in merged}
    for count, line in enumerate(lines, 1):
        if count > MAX_SIGNATURES:
            raise MalformedNoteError(f"note: more than {MAX_SIGNATURES} signatures")
        signature = parse_signature_line(line)
        if (signature.name, signature.key_id) not in keys:
            keys.add((signature.name, signature.key_id))
            merged.append(signature)
    result = (text + "\n" + "".join(signature.line() for signature in merged)).encode("utf-8")
    split_note(result)  # check the limits again on what we built
    return result


# --- persisted state -------------------------------------------------------------------------


@dataclass(frozen=True)
class CosignedCheckpoint:
    """The latest checkpoint a witness cosigned for a log, with the note it stored."""

    checkpoint: Checkpoint
    note: bytes

    @property
    def origin(self) -> str:
        return self.checkpoint.origin

    @property
    def size(self) -> int:
        return self.checkpoint.size

    @property
    def root_hash(self) -> bytes:
        return self.checkpoint.root_hash


def _cosigned_from_note(note: bytes, origin: str) -> CosignedCheckpoint:
    """Parse a stored note and check it is a checkpoint of ``origin``; raises WitnessStateError."""
    try:
        text, _ = split_note(note)
        checkpoint = parse_checkpoint(text)
    except (NoteError, CheckpointError) as error:
        raise WitnessStateError(f"state of {origin!r}: stored note is corrupt: {error}") from error
    if checkpoint.origin != origin:
        raise WitnessStateError(
            f"state of {origin!r}: stored note is for origin {checkpoint.origin!r}"
        )
    return CosignedCheckpoint(checkpoint, bytes(note))


class StateTransaction:
    """The view of one log's state while its lock is held; ``store`` replaces it atomically."""

    def __init__(self, state: WitnessState, origin: str) -> None:
        self._state = state
        self._origin = origin
        self._open = True
        self.latest = state.latest(origin)

    def store(self, note: bytes) -> CosignedCheckpoint:
        """Persist ``note`` as the latest cosigned checkpoint of the log, durably.

        Raises WitnessStateError if the transaction is closed, the note is not a checkpoint of
        this log, it would move the state backwards or fork it, or the write fails.
        """
        if not self._open:
            raise WitnessStateError("state: the transaction is closed (lock released)")
        record = _cosigned_from_note(note, self._origin)
        latest = self.latest
        if latest is not None:
            if record.size < latest.size:
                raise WitnessStateError(
                    f"state of {self._origin!r}: refusing to roll back from size "
                    f"{latest.size} to {record.size}"
                )
            if record.size == latest.size and record.root_hash != latest.root_hash:
                raise WitnessStateError(
                    f"state of {self._origin!r}: refusing a second root at size {record.size}"
                )
        self._state._write(self._origin, record.note)
        reread = self._state.latest(self._origin)
        if reread is None or reread.note != record.note:
            raise WitnessStateError(f"state of {self._origin!r}: read-back differs from write")
        self.latest = reread
        return reread

    def close(self) -> None:
        self._open = False


class WitnessState:
    """Per-log latest cosigned checkpoints in a directory, one note file per log.

    Files are named by the SHA-256 of the origin (origins hold slashes). Each log has a lock
    file; ``transaction`` holds an exclusive ``fcntl.flock`` on it, which serialises threads
    and processes alike (each transaction opens its own file description).
    """

    def __init__(
        self,
        directory: Path,
        lock_wait_s_max: float = LOCK_WAIT_S_MAX,
        lock_poll_s: float = LOCK_POLL_S,
    ) -> None:
        """Create the directory (mode 0700) if needed; raises WitnessStateError if it can't."""
        if not lock_wait_s_max > 0 or not lock_poll_s > 0:
            raise WitnessConfigError("state: lock wait and poll interval must be positive")
        self._directory = Path(directory)
        self._lock_wait_s_max = lock_wait_s_max
        self._lock_poll_s = lock_poll_s
        try:
            self._directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        except OSError as error:
            raise WitnessStateError(f"state directory {directory}: {error.strerror}") from error
        if not self._directory.is_dir():
            raise WitnessStateError(f"state directory {directory}: not a directory")

    @property
    def directory(self) -> Path:
        return self._directory

    def latest(self, origin: str) -> CosignedCheckpoint | None:
        """Return the latest cosigned checkpoint of ``origin``, or None if there is none.

        Reading without the lock is safe (files are replaced atomically) but may be stale.
        Raises WitnessStateError for an unreadable, oversized or corrupt file.
        """
        path = self._path(origin, _STATE_SUFFIX)
        try:
            with path.open("rb") as handle:
                note = handle.read(MAX_NOTE_BYTES + 1)
        except FileNotFoundError:
            return None
        except OSError as error:
            raise WitnessStateError(f"state of {origin!r}: {error.strerror}") from error
        if len(note) > MAX_NOTE_BYTES:
            raise WitnessStateError(f"state of {origin!r}: larger than {MAX_NOTE_BYTES} bytes")
        return _cosigned_from_note(note, origin)

    @contextmanager
    def transaction(self, origin: str) -> Iterator[StateTransaction]:
        """Hold the log's exclusive lock; yield its state for a check-and-store.

        Raises StateLockTimeoutError if the lock is not acquired within the wait limit,
        WitnessStateError if the lock file cannot be opened or the state read.
        """
        path = self._path(origin, _LOCK_SUFFIX)
        try:
            descriptor = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        except OSError as error:
            raise WitnessStateError(f"lock of {origin!r}: {error.strerror}") from error
        try:
            self._acquire(descriptor, origin)
            transaction = StateTransaction(self, origin)
            try:
                yield transaction
            finally:
                transaction.close()
        finally:
            os.close(descriptor)  # closing the last descriptor releases the flock

    def _acquire(self, descriptor: int, origin: str) -> None:
        attempts_max = max(1, int(self._lock_wait_s_max / self._lock_poll_s))
        for _ in range(attempts_max):
            try:
                fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return
            except OSError as error:
                if error.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                    raise WitnessStateError(f"lock of {origin!r}: {error.strerror}") from error
            time.sleep(self._lock_poll_s)
        raise StateLockTimeoutError(
            f"lock of {origin!r}: not acquired within {self._lock_wait_s_max} s"
        )

    def _write(self, origin: str, note: bytes) -> None:
        """Write a file atomically: temporary file, fsync, rename, fsync of the directory."""
        final = self._path(origin, _STATE_SUFFIX)
        try:
            descriptor, temporary = tempfile.mkstemp(
                prefix=f".{final.name}.", suffix=".tmp", dir=self._directory
            )
        except OSError as error:
            raise WitnessStateError(f"state of {origin!r}: {error.strerror}") from error
        try:
            with os.fdopen(descriptor, "wb") as handle:
                handle.write(note)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temporary, final)
            self._fsync_directory()
        except OSError as error:
            _unlink_quietly(temporary)
            raise WitnessStateError(f"state of {origin!r}: write failed: {error}") from error

    def _fsync_directory(self) -> None:
        descriptor = os.open(self._directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            os.fsync(descriptor)
        finally:
            os.close(descriptor)

    def _path(self, origin: str, suffix: str) -> Path:
        digest = hashlib.sha256(origin.encode("utf-8")).hexdigest()
        return self._directory / f"{digest}{suffix}"


def _unlink_quietly(path: str) -> None:
    with suppress(FileNotFoundError):
        os.unlink(path)


# --- configuration ---------------------------------------------------------------------------


def parse_log_option(text: str) -> tuple[str, Ed25519Verifier]:
    """Parse ``ORIGIN=VKEY``: a log origin and its Ed25519 (type 0x01) verifier key string.

    The origin is everything before the first ``=``. The key's name must equal the origin, as
    tlog-checkpoint recommends and the ledger does. Raises WitnessConfigError otherwise.
    """
    origin, separator, vkey = text.partition("=")
    if not separator or not origin or not vkey:
        raise WitnessConfigError(f"--log: expected ORIGIN=VKEY, got {text[:80]!r}")
    try:
        parsed = parse_verifier_key(vkey)
        if parsed.signature_type != Ed25519Verifier.signature_type:
            raise WitnessConfigError(
                f"--log {origin}: expected an Ed25519 log key (type 0x01), "
                f"got type {parsed.signature_type:#04x}"
            )
        verifier = Ed25519Verifier(parsed.name, parsed.public_key)
    except KeyFormatError as error:
        raise WitnessConfigError(f"--log {origin}: {error}") from error
    if verifier.name != origin:
        raise WitnessConfigError(
            f"--log {origin}: the key's name {verifier.name!r} must equal the origin"
        )
    return origin, verifier


def parse_log_options(texts: Iterable[str]) -> dict[str, tuple[Verifier, ...]]:
    """Parse repeated ``--log ORIGIN=VKEY`` options; one origin may list several keys.

    Raises WitnessConfigError for a malformed option or the same key given twice for a log.
    """
    logs: dict[str, list[Verifier]] = {}
    for text in texts:
        origin, verifier = parse_log_option(text)
        known = logs.setdefault(origin, [])
        if any((v.name, v.key_id) == (verifier.name, verifier.key_id) for v in known):
            raise WitnessConfigError(f"--log {origin}: the key {verifier.key_id:08x} is repeated")
        known.append(verifier)
    return {origin: tuple(verifiers) for origin, verifiers in logs.items()}


def _checked_logs(logs: Mapping[str, Sequence[Verifier]]) -> dict[str, tuple[Verifier, ...]]:
    checked: dict[str, tuple[Verifier, ...]] = {}
    for origin, verifiers in logs.items():
        if not origin or any(ord(character) < 0x20 for character in origin):
            raise WitnessConfigError(f"log origin {origin!r}: empty or has a control character")
        if not 0 < len(verifiers) <= MAX_LOG_VERIFIERS:
            raise WitnessConfigError(
                f"log {origin!r}: expected 1 to {MAX_LOG_VERIFIERS} keys, got {len(verifiers)}"
            )
        identities = {(verifier.name, verifier.key_id) for verifier in verifiers}
        if len(identities) != len(verifiers):
            raise WitnessConfigError(f"log {origin!r}: two keys share a name and key ID")
        checked[origin] = tuple(verifiers)
    return checked


# --- the witness ---------------------------------------------------------------------------


class WitnessResponse(NamedTuple):
    """What to answer over HTTP: status, body and Content-Type."""

    status: int
    body: bytes
    content_type: str


class Witness:
    """A tlog witness: cosigns checkpoints of known logs that extend what it cosigned before.

    ``logs`` maps each origin to the log's trusted note verifiers; ``clock`` returns the UNIX
    time in seconds for the cosignature timestamps.
    """

    def __init__(
        self,
        name: str,
        signing_key: Ed25519PrivateKey,
        logs: Mapping[str, Sequence[Verifier]],
        state: WitnessState,
        clock: Callable[[], int] | None = None,
        request_bytes_max: int = MAX_REQUEST_BYTES,
    ) -> None:
        """Raises WitnessConfigError for a bad name or log table."""
        try:
            self._cosigner = CosignatureSigner(name, signing_key, clock)
        except KeyFormatError as error:
            raise WitnessConfigError(f"witness name: {error}") from error
        self._verifier = self._cosigner.verifier()
        self._logs = _checked_logs(logs)
        self._state = state
        self._request_bytes_max = request_bytes_max

    @property
    def name(self) -> str:
        return self._cosigner.name

    @property
    def verifier_key(self) -> str:
        """The witness's cosignature verifier key string (type 0x04), for the log to trust."""
        return self._verifier.verifier_key

    @property
    def cosignature_verifier(self) -> CosignatureVerifier:
        return self._verifier

    @property
    def origins(self) -> tuple[str, ...]:
        return tuple(sorted(self._logs))

    @property
    def request_bytes_max(self) -> int:
        return self._request_bytes_max

    def latest_note(self, origin: str) -> bytes | None:
        """The latest note this witness cosigned for `origin` (the log's signature and the
        witness's cosignature), or None. Raises WitnessStateError for a corrupt state."""
        if origin not in self._logs:
            return None
        latest = self._state.latest(origin)
        return None if latest is None else latest.note

    def add_checkpoint(self, body: bytes) -> WitnessResponse:
        """Handle an add-checkpoint body and return the HTTP answer; never raises.

        See the module docstring for the outcomes. State failures answer 500 (503 for a lock
        timeout) without a cosignature, so the log keeps its checkpoint and retries.
        """
        try:
            lines = self._cosign(body)
        except SizeConflict as conflict:
            logger.info("409 %s", conflict.reason)
            return WitnessResponse(
                STATUS_CONFLICT, f"{conflict.latest_size}\n".encode(), CONTENT_TYPE_TLOG_SIZE
            )
        except CheckpointRefused as refused:
            logger.info("%d %s", refused.status, refused.reason)
            return _text_response(refused.status, refused.reason)
        except StateLockTimeoutError as error:
            logger.warning("503 %s", error)
            return _text_response(STATUS_UNAVAILABLE, "witness busy: retry later")
        except WitnessStateError as error:
            logger.error("500 %s", error)
            return _text_response(STATUS_INTERNAL_ERROR, "witness state error")
        return WitnessResponse(STATUS_OK, "".join(lines).encode("utf-8"), CONTENT_TYPE_TEXT)

    def _cosign(self, body: bytes) -> list[str]:
        """Run every check, store, and return the cosignature lines; raises CheckpointRefused."""
        try:
            request = parse_add_checkpoint_request(body, self._request_bytes_max)
        except RequestTooLargeError as error:
            raise CheckpointRefused(STATUS_TOO_LARGE, str(error)) from error
        except MalformedRequestError as error:
            raise CheckpointRefused(STATUS_BAD_REQUEST, str(error)) from error
        checkpoint, log_signatures = self._open(request.checkpoint_note)
        if request.old_size > checkpoint.size:
            raise CheckpointRefused(
                STATUS_BAD_REQUEST,
                f"old size {request.old_size} is larger than the checkpoint size {checkpoint.size}",
            )
        with self._state.transaction(checkpoint.origin) as transaction:
            self._check_consistency(request, checkpoint, transaction.latest)
            signature = self._signature(checkpoint)
            text = checkpoint.format()
            stored = (text + "\n" + "".join(s.line() for s in log_signatures)).encode("utf-8")
            transaction.store(stored + signature.line().encode("utf-8"))
        logger.info("cosigned %r at size %d", checkpoint.origin, checkpoint.size)
        return [signature.line()]

    def _open(self, note: bytes) -> tuple[Checkpoint, tuple[Signature, ...]]:
        """Parse the checkpoint, find its log and verify its signature (400, 404, 403)."""
        try:
            text, _ = split_note(note)
            checkpoint = parse_checkpoint(text)
        except (NoteError, CheckpointError) as error:
            raise CheckpointRefused(STATUS_BAD_REQUEST, f"checkpoint: {error}") from error
        if len(text.encode("utf-8")) > MAX_CHECKPOINT_TEXT_BYTES:
            raise CheckpointRefused(
                STATUS_BAD_REQUEST,
                f"checkpoint: text larger than {MAX_CHECKPOINT_TEXT_BYTES} bytes",
            )
        verifiers = self._logs.get(checkpoint.origin)
        if verifiers is None:
            raise CheckpointRefused(STATUS_NOT_FOUND, f"unknown log origin {checkpoint.origin!r}")
        try:
            opened = open_note(note, verifiers)
        except (UnverifiedNoteError, InvalidSignatureError, AmbiguousKeyError) as error:
            raise CheckpointRefused(
                STATUS_FORBIDDEN, f"log {checkpoint.origin!r}: {error}"
            ) from error
        except NoteError as error:
            raise CheckpointRefused(STATUS_BAD_REQUEST, f"checkpoint: {error}") from error
        if opened.text != checkpoint.format():  # sign only what we parsed, byte for byte
            raise CheckpointRefused(STATUS_BAD_REQUEST, "checkpoint: text is not canonical")
        return checkpoint, opened.verified_signatures

    def _check_consistency(
        self,
        request: AddCheckpointRequest,
        checkpoint: Checkpoint,
        latest: CosignedCheckpoint | None,
    ) -> None:
        """Check old size against the latest (409) and the proof (422); raises CheckpointRefused."""
        latest_size = latest.size if latest is not None else 0
        latest_root = latest.root_hash if latest is not None else EMPTY_ROOT
        origin = checkpoint.origin
        if request.old_size != latest_size:
            raise SizeConflict(
                latest_size,
                f"log {origin!r}: old size {request.old_size} is not the latest cosigned "
                f"size {latest_size}",
            )
        if checkpoint.size == latest_size and checkpoint.root_hash != latest_root:
            logger.warning("fork: log %r shows a second root at size %d", origin, latest_size)
            raise SizeConflict(
                latest_size,
                f"log {origin!r}: a different root at the cosigned size {latest_size} (fork)",
            )
        try:
            verify_consistency(
                latest_size, checkpoint.size, request.proof, latest_root, checkpoint.root_hash
            )
        except ProofError as error:
            logger.warning(
                "inconsistent checkpoint for %r: %d -> %d: %s",
                origin,
                latest_size,
                checkpoint.size,
                error,
            )
            raise CheckpointRefused(
                STATUS_UNPROCESSABLE,
                f"log {origin!r}: consistency proof {latest_size} -> {checkpoint.size} "
                f"does not verify: {error}",
            ) from error

    def _signature(self, checkpoint: Checkpoint) -> Signature:
        """Cosign the checkpoint text; raises WitnessStateError if the clock is out of range."""
        try:
            _, signatures = split_note(sign_note(checkpoint.format(), [self._cosigner]))
        except NoteError as error:
            raise WitnessStateError(f"cosigning failed: {error}") from error
        return signatures[0]


def _text_response(status: int, reason: str) -> WitnessResponse:
    shown = reason if len(reason) <= MAX_REASON_CHARS else reason[: MAX_REASON_CHARS - 3] + "..."
    return WitnessResponse(status, (shown + "\n").encode("utf-8"), CONTENT_TYPE_TEXT)
