"""Ed25519 keys: files, identifiers and signing.

Private keys stay on the holder's machine in the version-1 key file format
(`sequestra.ledger.keyfile`: PBKDF2-HMAC-SHA256 at 600,000 iterations, AES-256-GCM), mode
0600. Files in the old PKCS#8 PEM form still open, with a warning that says how to
re-encrypt them. A private key file that group or others may read is refused. Public keys
travel as standard base64 of the raw 32 bytes; an issuer is named by the lowercase hex
SHA-256 of those bytes.
"""

from __future__ import annotations

import base64
import binascii
import enum
import hashlib
import logging
import os
import stat
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from sequestra.ledger.errors import KeyFileError
from sequestra.ledger.keyfile import (
    KDF_POLICY,
    KdfPolicy,
    SealedKey,
    normalise_passphrase,
    parse,
    seal,
    unseal,
)

PUBLIC_KEY_SIZE = 32
PASSPHRASE_ENV = "SEQUESTRA_PASSPHRASE"
PASSPHRASE_CHARACTERS_MIN = 12
PASSPHRASE_FILE_BYTES_MAX = 4096
KEY_FILE_BYTES_MAX = 16 * 1024

# The keys in keys-example/ and their passphrase are published with the source: their
# secrecy protects nothing, so their files may be readable by others (a fresh clone makes
# them 0644) and use few iterations. A file stating one of these is held to it on unlock.
PUBLISHED_EXAMPLE_PASSPHRASE: Final = b"sandbox-example-passphrase"
PUBLISHED_EXAMPLE_KEYS: Final = frozenset(
    base64.b64decode(text)
    for text in (
        "53Cpo32uAFkjKcWzTVp+Lvqojwog4pOK3bJUTzT0F7o=",  # admin
        "WmuyPVUZMJe3MXcY1uK1B12pvl4qnEodQRcNfiny8l8=",  # approver
        "nkIWMTWeKJraEyisI0NNFZ1JuSiKJw1toU/hnPtZWek=",  # auditor
        "0409sgXZCU24n6+joNokXQg2m6UzKSHDQFvRORCTaP4=",  # ledger
        "oMUNZIyt4/BqBxP7MpJULmRrg5dv+LpYZfLsV6ZLxEg=",  # treasury-officer
        "dmaf9TZRdwgx0m2zB7+uT1jSj0YFGqnhVg4xM+X2+tM=",  # valuer
        "A5uIRhNGG02V63ZLZI7Hoc/2Ex9VZxLt6di5itJIBOQ=",  # watcher
        "UIhjf5xLQsDiXm3+a1moKBo1hKDD0UtsoCpVMUpEnq8=",  # witness
    )
)

logger = logging.getLogger(__name__)
_warned: set[str] = set()  # warnings already given in this process: each is given once


class KeyFileForm(enum.Enum):
    """The forms a private key file may take."""

    SEQUESTRA_V1 = "sequestra-private-key/1"
    PEM_ENCRYPTED = "pkcs8-pem-encrypted"  # the old form: PBKDF2 at 2,048 iterations
    PEM_PLAIN = "pkcs8-pem"  # not encrypted


def issuer_id(public_key_raw: bytes) -> str:
    """Return the issuer identifier: lowercase hex SHA-256 of the raw public key."""
    if len(public_key_raw) != PUBLIC_KEY_SIZE:
        raise KeyFileError(
            f"public key: expected {PUBLIC_KEY_SIZE} bytes, got {len(public_key_raw)}"
        )
    return hashlib.sha256(public_key_raw).hexdigest()


def encode_public_key(public_key_raw: bytes) -> str:
    """Return the standard base64 text of a raw Ed25519 public key."""
    return base64.b64encode(public_key_raw).decode("ascii")


def decode_public_key(text: str) -> bytes:
    """Decode a base64 raw Ed25519 public key; raises KeyFileError if it is not 32 bytes."""
    try:
        raw = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError) as error:
        raise KeyFileError(f"public key: expected base64 of 32 bytes, got {text!r}") from error
    if len(raw) != PUBLIC_KEY_SIZE:
        raise KeyFileError(f"public key: expected 32 bytes, got {len(raw)}")
    try:
        Ed25519PublicKey.from_public_bytes(raw)
    except ValueError as error:
        raise KeyFileError("public key: not a valid Ed25519 point") from error
    return raw


@dataclass(frozen=True)
class SigningKey:
    """A loaded private key with its public half and issuer identifier."""

    private_key: Ed25519PrivateKey
    public_key_raw: bytes

    @property
    def issuer(self) -> str:
        return issuer_id(self.public_key_raw)

    @property
    def public_key_b64(self) -> str:
        return encode_public_key(self.public_key_raw)

    def sign(self, message: bytes) -> bytes:
        return self.private_key.sign(message)

    def __repr__(self) -> str:  # never print key material
        return f"SigningKey(issuer={self.issuer[:16]}...)"

    @classmethod
    def generate(cls) -> SigningKey:
        private_key = Ed25519PrivateKey.generate()
        return cls(private_key, private_key.public_key().public_bytes_raw())

    @classmethod
    def from_private_key(cls, private_key: Ed25519PrivateKey) -> SigningKey:
        return cls(private_key, private_key.public_key().public_bytes_raw())


def verify_signature(public_key_raw: bytes, signature: bytes, message: bytes) -> bool:
    """Return whether `signature` is a valid Ed25519 signature of `message`."""
    try:
        Ed25519PublicKey.from_public_bytes(public_key_raw).verify(signature, message)
    except (InvalidSignature, ValueError):
        return False
    return True


def resolve_passphrase(passphrase_file: Path | None) -> bytes | None:
    """Return the passphrase from a file, else from SEQUESTRA_PASSPHRASE, else None.

    For opening an existing key only: a new key takes its passphrase from a file, a prompt
    or, when asked for explicitly, the environment (`sequestra keys generate`).
    """
    if passphrase_file is not None:
        return read_passphrase_file(passphrase_file)
    from_env = os.environ.get(PASSPHRASE_ENV)
    return from_env.encode("utf-8") if from_env else None


def read_passphrase_file(path: Path) -> bytes:
    """The passphrase in `path` without its final line break; raises KeyFileError."""
    try:
        data = path.read_bytes()[: PASSPHRASE_FILE_BYTES_MAX + 1]
    except OSError as error:
        raise KeyFileError(f"passphrase file {path}: {error.strerror}") from error
    if len(data) > PASSPHRASE_FILE_BYTES_MAX:
        raise KeyFileError(f"passphrase file {path}: larger than {PASSPHRASE_FILE_BYTES_MAX} bytes")
    return data.rstrip(b"\r\n")


def check_new_passphrase(passphrase: bytes) -> None:
    """Refuse a passphrase too weak for a new key file; raises KeyFileError saying why.

    Only cheap checks: a length floor, one character repeated, the published example one.
    """
    text = normalise_passphrase(passphrase).decode("utf-8")
    if len(text) < PASSPHRASE_CHARACTERS_MIN:
        raise KeyFileError(
            f"passphrase: expected at least {PASSPHRASE_CHARACTERS_MIN} characters, got {len(text)}"
        )
    if len(set(text)) == 1:
        raise KeyFileError("passphrase: one character repeated; choose one hard to guess")
    if text.encode("utf-8") == PUBLISHED_EXAMPLE_PASSPHRASE:
        raise KeyFileError(
            "passphrase: that is the published passphrase of the example keys; choose your own"
        )


@dataclass(frozen=True)
class KeyFile:
    """A private key file as read, before its passphrase: its form and what it states."""

    path: Path
    data: bytes
    form: KeyFileForm
    sealed: SealedKey | None  # the version-1 file's members (None for the old PEM forms)

    @property
    def encrypted(self) -> bool:
        return self.form is not KeyFileForm.PEM_PLAIN

    @property
    def published_example(self) -> bool:
        """Whether the file states one of the published example keys (checked on unlock)."""
        return self.sealed is not None and self.sealed.public_key_raw in PUBLISHED_EXAMPLE_KEYS

    def warnings(self) -> tuple[str, ...]:
        """What the holder should know about the file's protection (empty when it is sound)."""
        if self.form is KeyFileForm.PEM_ENCRYPTED:
            return (
                f"key file {self.path} uses the old weak format (PBKDF2 at 2,048 iterations,"
                f" quick to guess): re-encrypt it with `sequestra keys rekey {self.path}`",
            )
        if self.form is KeyFileForm.PEM_PLAIN:
            return (
                f"key file {self.path} is not encrypted: whoever copies it can sign as its"
                f" holder; encrypt it with `sequestra keys rekey {self.path}`",
            )
        return ()


def read_key_file(path: Path) -> KeyFile:
    """Read a private key file and check who may read it, before any passphrase is asked.

    Raises KeyFileError when the file is missing, not a regular file, too large, not a key
    file, or readable or writable by group or others (unless it states a published example
    key, whose secrecy protects nothing).
    """
    try:
        descriptor = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY)
    except OSError as error:
        raise KeyFileError(f"key file {path}: {error.strerror}") from error
    with os.fdopen(descriptor, "rb") as handle:
        status = os.fstat(handle.fileno())
        if not stat.S_ISREG(status.st_mode):
            raise KeyFileError(f"key file {path}: expected a regular file")
        data = handle.read(KEY_FILE_BYTES_MAX + 1)
    if len(data) > KEY_FILE_BYTES_MAX:
        raise KeyFileError(f"key file {path}: larger than {KEY_FILE_BYTES_MAX} bytes")
    key_file = _classify(path, data)
    mode = stat.S_IMODE(status.st_mode)
    if mode & 0o077 and not key_file.published_example:
        raise KeyFileError(
            f"key file {path}: readable or writable by group or others (mode {mode:04o});"
            f" a private key must be its owner's alone: run `chmod 600 {path}`"
        )
    return key_file


def _classify(path: Path, data: bytes) -> KeyFile:
    text = data.lstrip()
    if text.startswith(b"{"):
        return KeyFile(path, data, KeyFileForm.SEQUESTRA_V1, parse(data, f"key file {path}"))
    if text.startswith(b"-----BEGIN ENCRYPTED PRIVATE KEY-----"):
        return KeyFile(path, data, KeyFileForm.PEM_ENCRYPTED, None)
    if text.startswith(b"-----BEGIN PRIVATE KEY-----"):
        return KeyFile(path, data, KeyFileForm.PEM_PLAIN, None)
    raise KeyFileError(
        f"key file {path}: expected a Sequestra key file (JSON) or a PKCS#8 PEM private key"
    )


def unlock(
    key_file: KeyFile, passphrase: bytes | None, *, kdf_for_tests: KdfPolicy | None = None
) -> SigningKey:
    """Open `key_file` with `passphrase`; raises KeyFileError with the reason.

    A version-1 file must state at least the policy's iterations (a published example key
    excepted) and no more than its ceiling. `kdf_for_tests` lowers the floor for tests only.
    """
    path = key_file.path
    if key_file.encrypted and passphrase is None:
        raise KeyFileError(
            f"key file {path}: encrypted; give --passphrase-file or set {PASSPHRASE_ENV}"
        )
    if key_file.sealed is not None and passphrase is not None:
        _check_iterations(key_file, key_file.sealed, kdf_for_tests or KDF_POLICY)
        return SigningKey.from_private_key(unseal(key_file.sealed, passphrase, f"key file {path}"))
    password = passphrase if key_file.encrypted else None
    try:
        private_key = serialization.load_pem_private_key(key_file.data, password=password)
    except (TypeError, ValueError) as error:
        raise KeyFileError(f"key file {path}: wrong passphrase or not a PEM key") from error
    if not isinstance(private_key, Ed25519PrivateKey):
        raise KeyFileError(f"key file {path}: expected an Ed25519 key")
    return SigningKey.from_private_key(private_key)


def _check_iterations(key_file: KeyFile, sealed: SealedKey, policy: KdfPolicy) -> None:
    iterations = sealed.iterations
    if iterations > policy.iterations_max:
        raise KeyFileError(
            f"key file {key_file.path}: iterations: expected at most {policy.iterations_max},"
            f" got {iterations}"
        )
    if iterations < policy.iterations_min and not key_file.published_example:
        raise KeyFileError(
            f"key file {key_file.path}: iterations: expected at least {policy.iterations_min},"
            f" got {iterations}; refusing a key file that is quick to guess"
        )


def load_signing_key(
    path: Path, passphrase: bytes | None, *, kdf_for_tests: KdfPolicy | None = None
) -> SigningKey:
    """Read, check and open a private key file; log its warnings once per process.

    Raises KeyFileError with the reason (see `read_key_file` and `unlock`).
    """
    key_file = read_key_file(path)
    for warning in key_file.warnings():
        if warning not in _warned:
            _warned.add(warning)
            logger.warning("%s", warning)
    return unlock(key_file, passphrase, kdf_for_tests=kdf_for_tests)


def write_key_pair(
    key: SigningKey,
    directory: Path,
    name: str,
    passphrase: bytes,
    *,
    kdf_for_tests: KdfPolicy | None = None,
) -> Path:
    """Write NAME.key (version-1 format, mode 0600) and NAME.pub; return the .key path.

    Each file appears whole or not at all. Raises KeyFileError if either exists or the
    passphrase is too weak (`check_new_passphrase`). Production never passes
    `kdf_for_tests`: new files get `KDF_POLICY.iterations`.
    """
    check_new_passphrase(passphrase)
    key_path, pub_path = directory / f"{name}.key", directory / f"{name}.pub"
    for path in (key_path, pub_path):
        if path.exists():
            raise KeyFileError(f"{path} exists; refusing to overwrite a key")
    iterations = (kdf_for_tests or KDF_POLICY).iterations
    sealed = seal(key.private_key, passphrase, iterations)
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    _create(key_path, sealed, 0o600)
    _create(pub_path, (key.public_key_b64 + "\n").encode("ascii"), 0o644)
    return key_path


def rekey_key_file(
    path: Path,
    key: SigningKey,
    new_passphrase: bytes,
    *,
    kdf_for_tests: KdfPolicy | None = None,
) -> None:
    """Write `key`, just opened from `path`, back to `path` in the version-1 format under
    `new_passphrase`, mode 0600.

    The file is replaced whole (a new file renamed over it) or not at all. Raises
    KeyFileError as `check_new_passphrase` does, or when the file cannot be replaced.
    """
    check_new_passphrase(new_passphrase)
    sealed = seal(key.private_key, new_passphrase, (kdf_for_tests or KDF_POLICY).iterations)
    temporary = _write_temporary(path, sealed, 0o600)
    try:
        os.replace(temporary, path)
    except OSError as error:
        temporary.unlink(missing_ok=True)
        raise KeyFileError(f"key file {path}: {error.strerror}") from error
    _sync_directory(path.parent)


def _create(path: Path, data: bytes, mode: int) -> None:
    """Write `path` whole, refusing to replace a file that appeared meanwhile."""
    temporary = _write_temporary(path, data, mode)
    try:
        os.link(temporary, path)
    except FileExistsError as error:
        raise KeyFileError(f"{path} exists; refusing to overwrite a key") from error
    finally:
        temporary.unlink(missing_ok=True)
    _sync_directory(path.parent)


def _write_temporary(beside: Path, data: bytes, mode: int) -> Path:
    descriptor, name = tempfile.mkstemp(prefix=f".{beside.name}.", dir=beside.parent)
    try:
        with os.fdopen(descriptor, "wb") as handle:
            os.fchmod(handle.fileno(), mode)
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
    except BaseException:
        Path(name).unlink(missing_ok=True)
        raise
    return Path(name)


def _sync_directory(directory: Path) -> None:
    descriptor = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def load_public_key(reference: str) -> bytes:
    """Return the raw public key named by a .pub file path or by its base64 text."""
    path = Path(reference)
    if path.is_file():
        try:
            text = path.read_text(encoding="ascii")
        except (OSError, UnicodeDecodeError) as error:
            raise KeyFileError(f"public key file {path}: unreadable") from error
        if "BEGIN PUBLIC KEY" in text:
            public_key = serialization.load_pem_public_key(text.encode("ascii"))
            if not isinstance(public_key, Ed25519PublicKey):
                raise KeyFileError(f"public key file {path}: expected an Ed25519 key")
            return public_key.public_bytes_raw()
        return decode_public_key(text)
    if reference.endswith((".pub", ".vkey", ".pem", ".key")):
        raise KeyFileError(f"public key file {path}: no such file")
    try:
        return decode_public_key(reference)
    except KeyFileError as error:
        raise KeyFileError(
            f"public key {reference[:80]!r}: no such file, and not a base64 Ed25519 public key"
            f" ({error})"
        ) from None
