"""Ed25519 keys: files, identifiers and signing.

Private keys are PKCS#8 PEM files encrypted with a passphrase; they stay on the officer's
machine. Public keys travel as standard base64 of the raw 32 bytes; an issuer is named by
the lowercase hex SHA-256 of those bytes.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from sequestra.ledger.errors import KeyFileError

PUBLIC_KEY_SIZE = 32
PASSPHRASE_ENV = "SEQUESTRA_PASSPHRASE"
PASSPHRASE_BYTES_MIN = 8
KEY_FILE_BYTES_MAX = 16 * 1024


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
    """Return the passphrase from a file, else from SEQUESTRA_PASSPHRASE, else None."""
    if passphrase_file is not None:
        try:
            text = passphrase_file.read_text(encoding="utf-8")
        except OSError as error:
            raise KeyFileError(f"passphrase file {passphrase_file}: {error.strerror}") from error
        return text.rstrip("\r\n").encode("utf-8")
    from_env = os.environ.get(PASSPHRASE_ENV)
    return from_env.encode("utf-8") if from_env else None


def write_key_pair(key: SigningKey, directory: Path, name: str, passphrase: bytes) -> Path:
    """Write NAME.key (encrypted PKCS#8 PEM, mode 0600) and NAME.pub; return the .key path.

    Raises KeyFileError if either file exists or the passphrase is too short.
    """
    if len(passphrase) < PASSPHRASE_BYTES_MIN:
        raise KeyFileError(f"passphrase: expected at least {PASSPHRASE_BYTES_MIN} bytes")
    directory.mkdir(parents=True, exist_ok=True)
    key_path, pub_path = directory / f"{name}.key", directory / f"{name}.pub"
    for path in (key_path, pub_path):
        if path.exists():
            raise KeyFileError(f"{path} exists; refusing to overwrite a key")
    pem = key.private_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(passphrase),
    )
    descriptor = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(pem)
    pub_path.write_text(key.public_key_b64 + "\n", encoding="ascii")
    return key_path


def load_signing_key(path: Path, passphrase: bytes | None) -> SigningKey:
    """Load an Ed25519 PKCS#8 PEM private key; raises KeyFileError with the reason."""
    try:
        data = path.read_bytes()
    except OSError as error:
        raise KeyFileError(f"key file {path}: {error.strerror}") from error
    if len(data) > KEY_FILE_BYTES_MAX:
        raise KeyFileError(f"key file {path}: larger than {KEY_FILE_BYTES_MAX} bytes")
    try:
        private_key = serialization.load_pem_private_key(data, password=passphrase)
    except TypeError as error:
        raise KeyFileError(
            f"key file {path}: encrypted; give --passphrase-file or set {PASSPHRASE_ENV}"
        ) from error
    except ValueError as error:
        raise KeyFileError(f"key file {path}: wrong passphrase or not a PEM key") from error
    if not isinstance(private_key, Ed25519PrivateKey):
        raise KeyFileError(f"key file {path}: expected an Ed25519 key")
    return SigningKey.from_private_key(private_key)


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
    return decode_public_key(reference)
