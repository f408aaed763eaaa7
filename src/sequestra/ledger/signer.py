"""The checkpoint signer's own record, kept beside the ledger key and outside the database.

The database is the operator's; a checkpoint signed from it alone would vouch for whatever
the database says. The signer keeps, in a file of its own (JSON, written atomically:
temporary file, fsync, rename, fsync of the directory; mode 0600), what it last signed (size
and root), the ledger's identity (origin, key, the genesis entry's leaf hash) and the latest
checkpoint each witness cosigned. Before it signs a new tree it proves the tree extends all of
them (`sequestra.ledger.checkpoints.create_checkpoint`); the record is written before the new
checkpoint leaves the signer.

Fork alarms are appended to a second file beside it (`<state>.alarms.jsonl`, fsynced), so an
alarm survives a database that is rewritten or wiped; `/health` fails while one is open.
"""

from __future__ import annotations

import base64
import errno
import fcntl
import json
import os
import tempfile
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import MappingProxyType
from typing import Any, Final

from sequestra.errors import DependencyUnavailable, IntegrityFailure
from sequestra.ledger.keys import SigningKey
from sequestra.ledger.note import format_verifier_key
from sequestra.ledger.policy import TrustPolicy

STATE_BYTES_MAX: Final = 1 << 20
ALARMS_READ_MAX: Final = 1_000
LOCK_WAIT_S_MAX: Final = 60.0
LOCK_POLL_S: Final = 0.05
STATE_VERSION: Final = 1


class SignerStateError(IntegrityFailure):
    """The signer's record is unreadable, corrupt, or belongs to another ledger."""


class SignerBusy(DependencyUnavailable):
    """Another process holds the signer's lock."""


class ForkDetected(IntegrityFailure):
    """The tree does not extend what the signer or a witness already holds: a fork.

    `evidence` says against what (`against`), the trusted size and root, the size and root
    of the tree offered, and why the proof failed.
    """

    def __init__(self, message: str, evidence: Mapping[str, Any]) -> None:
        super().__init__(message)
        self.evidence = dict(evidence)


@dataclass(frozen=True)
class Head:
    """A tree head: its size and root."""

    size: int
    root: bytes

    def to_json(self) -> dict[str, Any]:
        return {"size": self.size, "root": base64.b64encode(self.root).decode("ascii")}

    @classmethod
    def from_json(cls, value: Any) -> Head:
        if not isinstance(value, dict) or set(value) != {"size", "root"}:
            raise SignerStateError("signer state: a head must hold exactly size and root")
        size, root = value["size"], value["root"]
        if not isinstance(size, int) or size < 0 or not isinstance(root, str):
            raise SignerStateError("signer state: a head's size or root is malformed")
        try:
            raw = base64.b64decode(root, validate=True)
        except ValueError as error:
            raise SignerStateError("signer state: a root is not base64") from error
        if len(raw) != 32:
            raise SignerStateError("signer state: a root must be 32 bytes")
        return cls(size, raw)


@dataclass(frozen=True)
class SignerState:
    """What the signer holds of the ledger: identity, last signed head, witnesses' heads."""

    origin: str
    ledger_key: str  # the verifier key string
    genesis_leaf: bytes
    signed: Head
    signed_at: str
    witnesses: Mapping[str, Head] = field(default_factory=dict)

    def with_witness(self, name: str, head: Head) -> SignerState:
        known = self.witnesses.get(name)
        if known is not None and known.size >= head.size:
            return self
        return replace(self, witnesses=MappingProxyType({**self.witnesses, name: head}))

    def to_json(self) -> dict[str, Any]:
        return {
            "version": STATE_VERSION,
            "origin": self.origin,
            "ledger_key": self.ledger_key,
            "genesis_leaf": self.genesis_leaf.hex(),
            "signed": self.signed.to_json(),
            "signed_at": self.signed_at,
            "witnesses": {name: head.to_json() for name, head in sorted(self.witnesses.items())},
        }

    @classmethod
    def from_json(cls, value: Any) -> SignerState:
        expected = {
            "version",
            "origin",
            "ledger_key",
            "genesis_leaf",
            "signed",
            "signed_at",
            "witnesses",
        }
        if not isinstance(value, dict) or set(value) != expected:
            raise SignerStateError(f"signer state: expected the fields {sorted(expected)}")
        if value["version"] != STATE_VERSION:
            raise SignerStateError(f"signer state: version {value['version']!r} is not known")
        try:
            genesis = bytes.fromhex(value["genesis_leaf"])
        except (TypeError, ValueError) as error:
            raise SignerStateError("signer state: genesis_leaf is not hex") from error
        witnesses = value["witnesses"]
        if not isinstance(witnesses, dict):
            raise SignerStateError("signer state: witnesses must be an object")
        return cls(
            str(value["origin"]),
            str(value["ledger_key"]),
            genesis,
            Head.from_json(value["signed"]),
            str(value["signed_at"]),
            MappingProxyType({str(k): Head.from_json(v) for k, v in witnesses.items()}),
        )


class SignerStore:
    """The signer's record and alarms, in files beside the ledger key."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    @classmethod
    def beside(cls, key_file: Path) -> SignerStore:
        """The default place: `<key file>.state.json`."""
        return cls(key_file.with_name(key_file.name + ".state.json"))

    @property
    def alarms_path(self) -> Path:
        return self.path.with_name(self.path.name + ".alarms.jsonl")

    def load(self) -> SignerState | None:
        """The record, or None before the signer first signed. Raises SignerStateError."""
        try:
            with self.path.open("rb") as handle:
                data = handle.read(STATE_BYTES_MAX + 1)
        except FileNotFoundError:
            return None
        except OSError as error:
            raise SignerStateError(f"{self.path}: {error.strerror}") from error
        if len(data) > STATE_BYTES_MAX:
            raise SignerStateError(f"{self.path}: larger than {STATE_BYTES_MAX} bytes")
        try:
            value = json.loads(data)
        except ValueError as error:
            raise SignerStateError(f"{self.path}: not JSON ({error})") from error
        return SignerState.from_json(value)

    def save(self, state: SignerState) -> None:
        """Write the record atomically (temporary file, fsync, rename, fsync of the folder)."""
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        data = json.dumps(state.to_json(), indent=2, sort_keys=True).encode("utf-8") + b"\n"
        descriptor, temporary = tempfile.mkstemp(
            prefix=f".{self.path.name}.", suffix=".tmp", dir=self.path.parent
        )
        try:
            with os.fdopen(descriptor, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.chmod(temporary, 0o600)
            os.replace(temporary, self.path)
            _fsync_directory(self.path.parent)
        except OSError as error:
            with suppress(OSError):
                os.unlink(temporary)
            raise SignerStateError(f"{self.path}: write failed: {error}") from error

    @contextmanager
    def locked(self) -> Iterator[None]:
        """Hold the signer's exclusive lock (one signer at a time, across processes).

        Raises SignerBusy when another process holds it longer than LOCK_WAIT_S_MAX.
        """
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        lock = self.path.with_name(self.path.name + ".lock")
        descriptor = os.open(lock, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            deadline = time.monotonic() + LOCK_WAIT_S_MAX
            while True:
                try:
                    fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except OSError as error:
                    if error.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                        raise
                if time.monotonic() > deadline:
                    raise SignerBusy(f"{lock}: held by another signer for {LOCK_WAIT_S_MAX} s")
                time.sleep(LOCK_POLL_S)
            yield
        finally:
            os.close(descriptor)

    def record_alarm(self, alarm: Mapping[str, Any]) -> None:
        """Append a fork alarm (one JSON line) and fsync it before anything else happens."""
        self.alarms_path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        line = json.dumps(dict(alarm), sort_keys=True).encode("utf-8") + b"\n"
        descriptor = os.open(
            self.alarms_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o600
        )
        try:
            os.write(descriptor, line)
            os.fsync(descriptor)
        finally:
            os.close(descriptor)

    def alarms(self) -> list[dict[str, Any]]:
        """The open fork alarms, oldest first (at most ALARMS_READ_MAX)."""
        try:
            lines = self.alarms_path.read_bytes().splitlines()
        except FileNotFoundError:
            return []
        found = []
        for line in lines[-ALARMS_READ_MAX:]:
            try:
                value = json.loads(line)
            except ValueError:
                value = {"reason": "an alarm line that is not JSON", "raw": line[:200].hex()}
            found.append(value if isinstance(value, dict) else {"raw": str(value)[:200]})
        return found

    def resolve_alarms(self, note: str, now: str) -> int:
        """Move the open alarms to `<alarms>.resolved` with the operator's note; returns how
        many were open."""
        open_alarms = self.alarms()
        if not open_alarms:
            return 0
        resolved = self.alarms_path.with_name(self.alarms_path.name + ".resolved")
        with resolved.open("ab") as handle:
            for alarm in open_alarms:
                record = {**alarm, "resolved_at": now, "resolution": note}
                handle.write(json.dumps(record, sort_keys=True).encode("utf-8") + b"\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.unlink(self.alarms_path)
        _fsync_directory(self.alarms_path.parent)
        return len(open_alarms)


def _fsync_directory(directory: Path) -> None:
    descriptor = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


@dataclass(frozen=True)
class CheckpointSigner:
    """The ledger key, the signer's own record and (optionally) the trust policy whose
    witnesses' latest cosigned checkpoints the signer checks before signing."""

    key: SigningKey
    store: SignerStore
    policy: TrustPolicy | None = None

    def verifier_key(self, origin: str) -> str:
        return format_verifier_key(origin, 0x01, self.key.public_key_raw)
