"""The private key file format, version 1: a small JSON object a browser can also open.

    {"format": "sequestra-private-key", "version": 1,
     "kdf": "PBKDF2-HMAC-SHA256", "iterations": 600000, "salt": "<base64, 16 bytes>",
     "cipher": "AES-256-GCM", "nonce": "<base64, 12 bytes>",
     "public_key": "<base64, the raw 32-byte Ed25519 public key>",
     "ciphertext": "<base64: AES-256-GCM of the key's PKCS#8 DER, 16-byte tag appended>"}

The AES key is PBKDF2-HMAC-SHA256 (`iterations`, `salt`, 32 bytes) of the passphrase's
UTF-8 bytes after Unicode NFC normalisation; the GCM additional data is the raw public key,
so the key stated in clear cannot be swapped. Base64 is standard with padding. The object
has exactly these members, once each. docs/ledger.md describes it for other implementations
(WebCrypto: `deriveBits` PBKDF2 SHA-256, `decrypt` AES-GCM, `importKey("pkcs8", Ed25519)`).

This module only turns bytes into a key and back; reading files, their modes and the
passphrase policy live in `sequestra.ledger.keys`.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import unicodedata
from dataclasses import dataclass
from typing import Final

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.pbkdf2 import PBKDF2HMAC

from sequestra.ledger.errors import KeyFileError

FORMAT: Final = "sequestra-private-key"
VERSION: Final = 1
KDF: Final = "PBKDF2-HMAC-SHA256"
CIPHER: Final = "AES-256-GCM"
SALT_BYTES: Final = 16
NONCE_BYTES: Final = 12
AES_KEY_BYTES: Final = 32
PUBLIC_KEY_BYTES: Final = 32
CIPHERTEXT_BYTES_MAX: Final = 1024
MEMBERS: Final = frozenset(
    {"format", "version", "kdf", "iterations", "salt", "cipher", "nonce"}
    | {"public_key", "ciphertext"}
)

# OWASP's 2023 figure for PBKDF2-HMAC-SHA256. Reading refuses fewer (a file made easy to
# guess) and more than the ceiling (a file that would hold the process for minutes).
ITERATIONS: Final = 600_000
ITERATIONS_MAX: Final = 10_000_000


@dataclass(frozen=True)
class KdfPolicy:
    """How many PBKDF2 iterations a new file gets and how many a file read may state.

    Production uses `KDF_POLICY` only; tests pass a lower one to stay quick.
    """

    iterations: int = ITERATIONS
    iterations_min: int = ITERATIONS
    iterations_max: int = ITERATIONS_MAX

    def __post_init__(self) -> None:
        if not 1 <= self.iterations_min <= self.iterations <= self.iterations_max:
            raise ValueError(f"KdfPolicy: expected 1 <= min <= iterations <= max, got {self}")


KDF_POLICY: Final = KdfPolicy()


@dataclass(frozen=True)
class SealedKey:
    """A parsed version-1 key file: everything but the private key, which needs the passphrase."""

    iterations: int
    salt: bytes
    nonce: bytes
    public_key_raw: bytes
    ciphertext: bytes


def normalise_passphrase(passphrase: bytes) -> bytes:
    """The passphrase's UTF-8 bytes after NFC, so a browser and the CLI derive the same key."""
    try:
        text = passphrase.decode("utf-8")
    except UnicodeDecodeError as error:
        raise KeyFileError("passphrase: expected UTF-8 text") from error
    return unicodedata.normalize("NFC", text).encode("utf-8")


def _aes_key(passphrase: bytes, salt: bytes, iterations: int) -> bytes:
    kdf = PBKDF2HMAC(hashes.SHA256(), AES_KEY_BYTES, salt, iterations)
    return kdf.derive(normalise_passphrase(passphrase))


def seal(private_key: Ed25519PrivateKey, passphrase: bytes, iterations: int) -> bytes:
    """The version-1 file of `private_key` encrypted under `passphrase` (a fresh salt, nonce)."""
    if not 1 <= iterations <= ITERATIONS_MAX:
        raise KeyFileError(f"iterations: expected 1 to {ITERATIONS_MAX}, got {iterations}")
    salt, nonce = os.urandom(SALT_BYTES), os.urandom(NONCE_BYTES)
    public_key_raw = private_key.public_key().public_bytes_raw()
    der = private_key.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    ciphertext = AESGCM(_aes_key(passphrase, salt, iterations)).encrypt(nonce, der, public_key_raw)
    document = {
        "format": FORMAT,
        "version": VERSION,
        "kdf": KDF,
        "iterations": iterations,
        "salt": _b64(salt),
        "cipher": CIPHER,
        "nonce": _b64(nonce),
        "public_key": _b64(public_key_raw),
        "ciphertext": _b64(ciphertext),
    }
    return (json.dumps(document, indent=1) + "\n").encode("ascii")


def parse(data: bytes, where: str) -> SealedKey:
    """Parse a version-1 file without the passphrase; raises KeyFileError naming the member."""
    try:
        document = json.loads(data.decode("utf-8"), object_pairs_hook=_refuse_duplicates)
    except (UnicodeDecodeError, ValueError) as error:
        raise KeyFileError(f"{where}: not a key file ({error})") from error
    if not isinstance(document, dict) or set(document) != MEMBERS:
        found = sorted(document) if isinstance(document, dict) else type(document).__name__
        raise KeyFileError(f"{where}: expected the members {sorted(MEMBERS)}, got {found}")
    expected = {"format": FORMAT, "version": VERSION, "kdf": KDF, "cipher": CIPHER}
    for member, value in expected.items():
        if document[member] != value or type(document[member]) is not type(value):
            raise KeyFileError(f"{where}: {member}: expected {value!r}, got {document[member]!r}")
    iterations = document["iterations"]
    if type(iterations) is not int or not 1 <= iterations <= ITERATIONS_MAX:
        raise KeyFileError(
            f"{where}: iterations: expected an integer up to {ITERATIONS_MAX}, got {iterations!r}"
        )
    return SealedKey(
        iterations=iterations,
        salt=_unb64(document, "salt", where, SALT_BYTES, SALT_BYTES),
        nonce=_unb64(document, "nonce", where, NONCE_BYTES, NONCE_BYTES),
        public_key_raw=_unb64(document, "public_key", where, PUBLIC_KEY_BYTES, PUBLIC_KEY_BYTES),
        ciphertext=_unb64(document, "ciphertext", where, 17, CIPHERTEXT_BYTES_MAX),
    )


def unseal(sealed: SealedKey, passphrase: bytes, where: str) -> Ed25519PrivateKey:
    """Decrypt `sealed`; raises KeyFileError on a wrong passphrase, a non-Ed25519 key or a
    key that is not the public key the file states."""
    aes_key = _aes_key(passphrase, sealed.salt, sealed.iterations)
    try:
        der = AESGCM(aes_key).decrypt(sealed.nonce, sealed.ciphertext, sealed.public_key_raw)
    except InvalidTag as error:
        raise KeyFileError(f"{where}: wrong passphrase or a damaged file") from error
    try:
        private_key = serialization.load_der_private_key(der, password=None)
    except ValueError as error:
        raise KeyFileError(f"{where}: the decrypted key is not PKCS#8") from error
    if not isinstance(private_key, Ed25519PrivateKey):
        raise KeyFileError(f"{where}: expected an Ed25519 key")
    if private_key.public_key().public_bytes_raw() != sealed.public_key_raw:
        raise KeyFileError(f"{where}: the key does not match the public_key the file states")
    return private_key


def _refuse_duplicates(pairs: list[tuple[str, object]]) -> dict[str, object]:
    document: dict[str, object] = {}
    for name, value in pairs:
        if name in document:
            raise ValueError(f"member {name!r} appears twice")
        document[name] = value
    return document


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


def _unb64(document: dict[str, object], member: str, where: str, low: int, high: int) -> bytes:
    value = document[member]
    try:
        if not isinstance(value, str):
            raise ValueError("not a string")
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError) as error:
        raise KeyFileError(f"{where}: {member}: expected base64, got {value!r}") from error
    if not low <= len(raw) <= high:
        size = f"{low}" if low == high else f"{low} to {high}"
        raise KeyFileError(f"{where}: {member}: expected {size} bytes, got {len(raw)}")
    return raw
