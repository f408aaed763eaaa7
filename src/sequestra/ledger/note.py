"""C2SP signed notes (c2sp.org/signed-note) with Ed25519 and tlog-cosignature/v1 keys.

A signed note is a UTF-8 text ending in a newline, a blank line, and one or more signature
lines ``— <key name> <base64(4-byte key ID || signature)>``. A key is named by the pair
(key name, key ID), where key ID = SHA-256(name || 0x0A || signature type || public key)[:4].

Keys travel as strings: the verifier key ``<name>+<8 hex key ID>+<base64(type || public key)>``
and, for Ed25519 (golang.org/x/mod sumdb/note), the signer key
``PRIVATE+KEY+<name>+<8 hex key ID>+<base64(0x01 || seed)>``.

Opening a note follows the spec and golang.org/x/mod: signatures from unknown (name, key ID)
pairs are kept aside unverified, a failing signature from a known key rejects the whole note,
and a note with no verified signature is rejected. This module is stricter than the Go code
in three ways: base64 must be canonical, key IDs lowercase hex, and every distinct signature
line of a known key is checked (not only the first).

Cosignatures (c2sp.org/tlog-cosignature, type 0x04) sign "cosignature/v1\\ntime <t>\\n" plus
the note text; their signature bytes are an 8-byte big-endian timestamp and a 64-byte Ed25519
signature. Only the standard library and ``cryptography`` are used.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from sequestra.errors import InputRefused, IntegrityFailure, SequestraError

SIGNATURE_TYPE_ED25519 = 0x01
SIGNATURE_TYPE_COSIGNATURE_V1 = 0x04
MAX_SIGNATURES = 100
MAX_NOTE_BYTES = 1 << 20
ED25519_KEY_SIZE = 32
ED25519_SIGNATURE_SIZE = 64
COSIGNATURE_SIZE = 8 + ED25519_SIGNATURE_SIZE
MAX_TIMESTAMP = (1 << 63) - 1
SIGNATURE_PREFIX = "\u2014 "  # em dash, space
COSIGNATURE_HEADER = "cosignature/v1\n"

# Unicode White_Space, the set Go's unicode.IsSpace reports; names may not contain any of it.
_WHITE_SPACE = frozenset(
    "\t\n\v\f\r \x85\xa0\u1680\u2028\u2029\u202f\u205f\u3000"
    + "".join(chr(c) for c in range(0x2000, 0x200B))
)
_CONTROL = re.compile("[\x00-\x09\x0b-\x1f]")
_KEY_ID = re.compile("[0-9a-f]{8}")


class NoteError(SequestraError):
    """Base class of every signed-note error."""


class MalformedNoteError(NoteError, InputRefused):
    """A note (or a text to sign) breaks the signed-note syntax or limits."""


class KeyFormatError(NoteError, InputRefused):
    """A key string, key name or key material is malformed or of an unsupported type."""


class InvalidSignatureError(NoteError, IntegrityFailure):
    """A signature by a known key does not verify, so the whole note is rejected."""

    def __init__(self, name: str, key_id: int) -> None:
        super().__init__(f"invalid signature for key {name}+{key_id:08x}")
        self.name = name
        self.key_id = key_id


class AmbiguousKeyError(NoteError, InputRefused):
    """Several verifiers share the name and key ID of a signature in the note."""

    def __init__(self, name: str, key_id: int) -> None:
        super().__init__(f"ambiguous key {name}+{key_id:08x}")
        self.name = name
        self.key_id = key_id


class UnverifiedNoteError(NoteError, IntegrityFailure):
    """The note parsed, but no signature verified under a known key. ``note`` holds it."""

    def __init__(self, note: Note) -> None:
        super().__init__("note has no verifiable signatures")
        self.note = note


@dataclass(frozen=True)
class Signature:
    """One signature line: key name, key ID and the base64 of key ID || signature."""

    name: str
    key_id: int
    base64: str

    @property
    def signature(self) -> bytes:
        """The signature bytes, without the 4-byte key ID."""
        return base64.b64decode(self.base64)[4:]

    def line(self) -> str:
        """The signature line as it appears in a note, newline included."""
        return f"{SIGNATURE_PREFIX}{self.name} {self.base64}\n"


@dataclass(frozen=True)
class Note:
    """An opened note: its text and the signatures that did and did not verify."""

    text: str
    verified_signatures: tuple[Signature, ...]
    unverified_signatures: tuple[Signature, ...]


class Signer(Protocol):
    """A key that signs note texts."""

    @property
    def name(self) -> str: ...

    @property
    def key_id(self) -> int: ...

    def sign(self, message: bytes) -> bytes:
        """Return the signature bytes (without key ID) over ``message``."""
        ...


class Verifier(Protocol):
    """A known key that checks signatures on note texts."""

    @property
    def name(self) -> str: ...

    @property
    def key_id(self) -> int: ...

    def verify(self, message: bytes, signature: bytes) -> bool:
        """Return whether ``signature`` (without key ID) is valid over ``message``."""
        ...


# --- names, key IDs and key strings ----------------------------------------------------------


def is_valid_key_name(name: str) -> bool:
    """Return whether ``name`` is non-empty and has no white space, plus or control character."""
    return (
        bool(name)
        and "+" not in name
        and not _WHITE_SPACE.intersection(name)
        and not _CONTROL.search(name)
    )


def key_id(name: str, signature_type: int, public_key: bytes) -> int:
    """Return SHA-256(name || 0x0A || signature_type || public_key)[:4] as an integer."""
    digest = hashlib.sha256(name.encode() + b"\n" + bytes([signature_type]) + public_key)
    return int.from_bytes(digest.digest()[:4], "big")


@dataclass(frozen=True)
class VerifierKey:
    """A parsed verifier key string."""

    name: str
    key_id: int
    signature_type: int
    public_key: bytes

    def format(self) -> str:
        """Return the string ``<name>+<key ID>+<base64(type || public key)>``."""
        encoded = _b64encode(bytes([self.signature_type]) + self.public_key)
        return f"{self.name}+{self.key_id:08x}+{encoded}"


def format_verifier_key(name: str, signature_type: int, public_key: bytes) -> str:
    """Return the verifier key string of a key; raises KeyFormatError for a bad name."""
    _check_name(name)
    identifier = key_id(name, signature_type, public_key)
    return VerifierKey(name, identifier, signature_type, bytes(public_key)).format()


def parse_verifier_key(text: str) -> VerifierKey:
    """Parse ``<name>+<key ID>+<base64(type || key)>``, checking the key ID derivation.

    Raises KeyFormatError for a malformed string or a key ID that does not match.
    """
    name, id_hex, payload = _split_key_string(text, 3, "verifier key")
    raw = _decode_key_payload(id_hex, payload)
    parsed = VerifierKey(name, int(id_hex, 16), raw[0], raw[1:])
    _check_name(name)
    if parsed.key_id != key_id(name, parsed.signature_type, parsed.public_key):
        raise KeyFormatError(f"verifier key: key ID {id_hex} does not match the key")
    return parsed


def verifier_from_key(text: str) -> Ed25519Verifier | CosignatureVerifier:
    """Build the verifier of a verifier key string of type 0x01 or 0x04.

    Raises KeyFormatError for a malformed string or any other signature type.
    """
    parsed = parse_verifier_key(text)
    if parsed.signature_type == SIGNATURE_TYPE_ED25519:
        return Ed25519Verifier(parsed.name, parsed.public_key)
    if parsed.signature_type == SIGNATURE_TYPE_COSIGNATURE_V1:
        return CosignatureVerifier(parsed.name, parsed.public_key)
    raise KeyFormatError(f"verifier key: unsupported signature type {parsed.signature_type:#04x}")


def _split_key_string(text: str, fields: int, what: str) -> list[str]:
    """Split at the first ``fields - 1`` plus signs (base64 may itself contain '+')."""
    parts = text.split("+", fields - 1)
    if len(parts) != fields:
        raise KeyFormatError(f"{what}: expected {fields} fields separated by '+'")
    return parts


def _decode_key_payload(id_hex: str, payload: str) -> bytes:
    if not _KEY_ID.fullmatch(id_hex):
        raise KeyFormatError(f"key: key ID must be 8 lowercase hex digits, got {id_hex!r}")
    raw = _b64decode(payload, KeyFormatError, "key")
    if len(raw) < 2:
        raise KeyFormatError("key: expected a signature type and key material")
    return raw


def _check_name(name: str) -> None:
    if not is_valid_key_name(name):
        raise KeyFormatError(f"key name {name!r} is empty or has a space, plus or control")


# --- Ed25519 (type 0x01) -------------------------------------------------------------------


class Ed25519Verifier:
    """Verifier of plain Ed25519 note signatures (type 0x01)."""

    signature_type = SIGNATURE_TYPE_ED25519

    def __init__(self, name: str, public_key: bytes) -> None:
        _check_name(name)
        self._name = name
        self._public_key = _ed25519_public_key(public_key)
        self._raw = bytes(public_key)
        self._key_id = key_id(name, self.signature_type, self._raw)

    @property
    def name(self) -> str:
        return self._name

    @property
    def key_id(self) -> int:
        return self._key_id

    @property
    def verifier_key(self) -> str:
        """This key's verifier key string."""
        return VerifierKey(self._name, self._key_id, self.signature_type, self._raw).format()

    def verify(self, message: bytes, signature: bytes) -> bool:
        """Return whether ``signature`` is a valid Ed25519 signature over ``message``."""
        return _ed25519_verify(self._public_key, message, signature)

    def __repr__(self) -> str:
        return f"Ed25519Verifier({self.verifier_key!r})"


class Ed25519Signer:
    """Signer of plain Ed25519 note signatures (type 0x01)."""

    signature_type = SIGNATURE_TYPE_ED25519

    def __init__(self, name: str, private_key: Ed25519PrivateKey) -> None:
        _check_name(name)
        self._name = name
        self._private_key = private_key
        self._public_raw = private_key.public_key().public_bytes_raw()
        self._key_id = key_id(name, self.signature_type, self._public_raw)

    @classmethod
    def generate(cls, name: str) -> Ed25519Signer:
        """Return a signer with a new random key; raises KeyFormatError for a bad name."""
        return cls(name, Ed25519PrivateKey.generate())

    @classmethod
    def from_signer_key(cls, text: str) -> Ed25519Signer:
        """Parse ``PRIVATE+KEY+<name>+<key ID>+<base64(0x01 || seed)>``.

        Raises KeyFormatError for a malformed string, another type or a key ID mismatch.
        """
        private, key, name, id_hex, payload = _split_key_string(text, 5, "signer key")
        if (private, key) != ("PRIVATE", "KEY"):
            raise KeyFormatError("signer key: expected the prefix PRIVATE+KEY+")
        raw = _decode_key_payload(id_hex, payload)
        if raw[0] != SIGNATURE_TYPE_ED25519 or len(raw) != 1 + ED25519_KEY_SIZE:
            raise KeyFormatError("signer key: expected type 0x01 and a 32-byte Ed25519 seed")
        signer = cls(name, Ed25519PrivateKey.from_private_bytes(raw[1:]))
        if signer.key_id != int(id_hex, 16):
            raise KeyFormatError(f"signer key: key ID {id_hex} does not match the key")
        return signer

    @property
    def name(self) -> str:
        return self._name

    @property
    def key_id(self) -> int:
        return self._key_id

    @property
    def public_key(self) -> bytes:
        """The raw 32-byte Ed25519 public key."""
        return self._public_raw

    def verifier(self) -> Ed25519Verifier:
        """Return the verifier of this key."""
        return Ed25519Verifier(self._name, self._public_raw)

    def signer_key(self) -> str:
        """Return the secret signer key string (golang.org/x/mod sumdb/note format)."""
        seed = self._private_key.private_bytes_raw()
        encoded = _b64encode(bytes([self.signature_type]) + seed)
        return f"PRIVATE+KEY+{self._name}+{self._key_id:08x}+{encoded}"

    def sign(self, message: bytes) -> bytes:
        """Return the 64-byte Ed25519 signature over ``message``."""
        return self._private_key.sign(message)

    def __repr__(self) -> str:  # never print key material
        return f"Ed25519Signer(name={self._name!r}, key_id={self._key_id:08x})"


# --- tlog-cosignature/v1 (type 0x04) -------------------------------------------------------


def cosignature_message(text: bytes, timestamp: int) -> bytes:
    """Return the bytes a v1 cosignature signs; raises NoteError for a bad timestamp."""
    _check_timestamp(timestamp)
    return f"{COSIGNATURE_HEADER}time {timestamp}\n".encode() + text


def cosignature_timestamp(signature: Signature) -> int:
    """Return the timestamp (UNIX seconds) of a v1 cosignature line.

    Raises MalformedNoteError if the signature is not 4 + 8 + 64 bytes of base64.
    """
    raw = _b64decode(signature.base64, MalformedNoteError, "cosignature")
    if len(raw) != 4 + COSIGNATURE_SIZE:
        raise MalformedNoteError(f"cosignature: expected 76 bytes, got {len(raw)}")
    return int.from_bytes(raw[4:12], "big")


class CosignatureVerifier:
    """Verifier of witness cosignatures (c2sp.org/tlog-cosignature v1, type 0x04)."""

    signature_type = SIGNATURE_TYPE_COSIGNATURE_V1

    def __init__(self, name: str, public_key: bytes) -> None:
        _check_name(name)
        self._name = name
        self._public_key = _ed25519_public_key(public_key)
        self._raw = bytes(public_key)
        self._key_id = key_id(name, self.signature_type, self._raw)

    @property
    def name(self) -> str:
        return self._name

    @property
    def key_id(self) -> int:
        return self._key_id

    @property
    def verifier_key(self) -> str:
        """This witness key's verifier key string (type 0x04)."""
        return VerifierKey(self._name, self._key_id, self.signature_type, self._raw).format()

    @staticmethod
    def timestamp(signature: Signature) -> int:
        """Return the timestamp of a cosignature line (see cosignature_timestamp)."""
        return cosignature_timestamp(signature)

    def verify(self, message: bytes, signature: bytes) -> bool:
        """Return whether ``signature`` is timestamp || Ed25519 signature over the message."""
        if len(signature) != COSIGNATURE_SIZE:
            return False
        timestamp = int.from_bytes(signature[:8], "big")
        if timestamp > MAX_TIMESTAMP:
            return False
        signed = cosignature_message(message, timestamp)
        return _ed25519_verify(self._public_key, signed, signature[8:])

    def __repr__(self) -> str:
        return f"CosignatureVerifier({self.verifier_key!r})"


class CosignatureSigner:
    """Witness signer of v1 cosignatures; ``clock`` returns the UNIX time in seconds."""

    signature_type = SIGNATURE_TYPE_COSIGNATURE_V1

    def __init__(
        self,
        name: str,
        private_key: Ed25519PrivateKey,
        clock: Callable[[], int] | None = None,
    ) -> None:
        _check_name(name)
        self._name = name
        self._private_key = private_key
        self._public_raw = private_key.public_key().public_bytes_raw()
        self._key_id = key_id(name, self.signature_type, self._public_raw)
        self._clock = clock if clock is not None else lambda: int(time.time())

    @property
    def name(self) -> str:
        return self._name

    @property
    def key_id(self) -> int:
        return self._key_id

    def verifier(self) -> CosignatureVerifier:
        """Return the verifier of this witness key."""
        return CosignatureVerifier(self._name, self._public_raw)

    def sign(self, message: bytes) -> bytes:
        """Return timestamp || Ed25519 signature; raises NoteError if the clock is out of range."""
        timestamp = self._clock()
        signed = cosignature_message(message, timestamp)
        return timestamp.to_bytes(8, "big") + self._private_key.sign(signed)

    def __repr__(self) -> str:  # never print key material
        return f"CosignatureSigner(name={self._name!r}, key_id={self._key_id:08x})"


def _check_timestamp(timestamp: int) -> None:
    if not 0 <= timestamp <= MAX_TIMESTAMP:
        raise NoteError(f"cosignature: timestamp must be in [0, 2**63), got {timestamp}")


def _ed25519_public_key(public_key: bytes) -> Ed25519PublicKey:
    if len(public_key) != ED25519_KEY_SIZE:
        raise KeyFormatError(f"Ed25519 key: expected 32 bytes, got {len(public_key)}")
    try:
        return Ed25519PublicKey.from_public_bytes(bytes(public_key))
    except ValueError as error:
        raise KeyFormatError("Ed25519 key: not a valid public key") from error


def _ed25519_verify(public_key: Ed25519PublicKey, message: bytes, signature: bytes) -> bool:
    if len(signature) != ED25519_SIGNATURE_SIZE:
        return False
    try:
        public_key.verify(signature, message)
    except InvalidSignature:
        return False
    return True


# --- notes ---------------------------------------------------------------------------------


def split_note(note: bytes) -> tuple[str, list[Signature]]:
    """Parse a signed note's syntax without checking any signature.

    The text must not be trusted: use open_note. Raises MalformedNoteError if the note is too
    large, not UTF-8, has a control character other than newline, lacks the blank line before
    the signatures, has more than MAX_SIGNATURES lines or a malformed signature line.
    """
    if len(note) > MAX_NOTE_BYTES:
        raise MalformedNoteError(f"note: larger than {MAX_NOTE_BYTES} bytes")
    decoded = _decode_note_text(note)
    split = decoded.rfind("\n\n")
    if split < 0:
        raise MalformedNoteError("note: no blank line before the signatures")
    text, block = decoded[: split + 1], decoded[split + 2 :]
    if not block.endswith("\n"):
        raise MalformedNoteError("note: the signature block must end with a newline")
    lines = block[:-1].split("\n")
    if len(lines) > MAX_SIGNATURES:
        raise MalformedNoteError(f"note: more than {MAX_SIGNATURES} signatures")
    return text, [_parse_signature_line(line) for line in lines]


def open_note(note: bytes, verifiers: Sequence[Verifier]) -> Note:
    """Parse a signed note and check its signatures against the known verifiers.

    Identical signature lines count once; a key's first valid signature is kept. Raises
    MalformedNoteError (see split_note), AmbiguousKeyError if two verifiers match a signature,
    InvalidSignatureError if a known key's signature fails, UnverifiedNoteError if none verifies.
    """
    text, signatures = split_note(note)
    known = _index_verifiers(verifiers)
    message = text.encode()
    verified: dict[tuple[str, int], Signature] = {}
    unverified: list[Signature] = []
    for signature in dict.fromkeys(signatures):
        key = (signature.name, signature.key_id)
        candidates = known.get(key, [])
        if not candidates:
            unverified.append(signature)
            continue
        if len(candidates) > 1:
            raise AmbiguousKeyError(*key)
        if not candidates[0].verify(message, signature.signature):
            raise InvalidSignatureError(*key)
        verified.setdefault(key, signature)
    opened = Note(text, tuple(verified.values()), tuple(unverified))
    if not verified:
        raise UnverifiedNoteError(opened)
    return opened


def sign_note(text: str, signers: Sequence[Signer], keep: Sequence[Signature] = ()) -> bytes:
    """Sign ``text`` and return the note; ``keep`` are earlier signatures to carry over.

    A kept signature by the same key as a new one is dropped. Raises MalformedNoteError if the
    text is not a valid note text or the note breaks the limits, KeyFormatError for a signer
    with a bad name.
    """
    _check_text(text)
    message = text.encode()
    new = [_sign_line(signer, message) for signer in signers]
    replaced = {(signature.name, signature.key_id) for signature in new}
    kept = [_checked_kept(sig) for sig in keep if (sig.name, sig.key_id) not in replaced]
    signatures = kept + new
    if not signatures:
        raise MalformedNoteError("note: at least one signature is required")
    if len(signatures) > MAX_SIGNATURES:
        raise MalformedNoteError(f"note: more than {MAX_SIGNATURES} signatures")
    encoded = (text + "\n" + "".join(sig.line() for sig in signatures)).encode()
    if len(encoded) > MAX_NOTE_BYTES:
        raise MalformedNoteError(f"note: larger than {MAX_NOTE_BYTES} bytes")
    return encoded


def _decode_note_text(note: bytes) -> str:
    try:
        decoded = note.decode("utf-8")
    except UnicodeDecodeError as error:
        raise MalformedNoteError("note: not valid UTF-8") from error
    if _CONTROL.search(decoded):
        raise MalformedNoteError("note: control character other than newline")
    return decoded


def _check_text(text: str) -> None:
    if not text.endswith("\n"):
        raise MalformedNoteError("note text: must end with a newline")
    if _CONTROL.search(text):
        raise MalformedNoteError("note text: control character other than newline")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as error:
        raise MalformedNoteError("note text: not encodable as UTF-8") from error


def _parse_signature_line(line: str) -> Signature:
    if not line.startswith(SIGNATURE_PREFIX):
        raise MalformedNoteError(f"note: signature line must start with an em dash: {line!r}")
    name, _, encoded = line[len(SIGNATURE_PREFIX) :].partition(" ")
    if not is_valid_key_name(name):
        raise MalformedNoteError(f"note: bad key name {name!r} in a signature line")
    raw = _b64decode(encoded, MalformedNoteError, "signature")
    if len(raw) < 5:
        raise MalformedNoteError("signature: expected a key ID and at least one byte")
    return Signature(name, int.from_bytes(raw[:4], "big"), encoded)


def _index_verifiers(verifiers: Sequence[Verifier]) -> dict[tuple[str, int], list[Verifier]]:
    known: dict[tuple[str, int], list[Verifier]] = {}
    for verifier in verifiers:
        known.setdefault((verifier.name, verifier.key_id), []).append(verifier)
    return known


def _sign_line(signer: Signer, message: bytes) -> Signature:
    _check_name(signer.name)
    raw = signer.key_id.to_bytes(4, "big") + signer.sign(message)
    return Signature(signer.name, signer.key_id, _b64encode(raw))


def _checked_kept(signature: Signature) -> Signature:
    parsed = _parse_signature_line(signature.line()[:-1])
    if parsed != signature:
        raise MalformedNoteError(f"note: kept signature {signature.name} has a wrong key ID")
    return signature


def _b64encode(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


def _b64decode(text: str, error: type[NoteError], what: str) -> bytes:
    """Decode canonical standard base64 (padded, no stray bits); raise ``error`` otherwise."""
    try:
        raw = base64.b64decode(text.encode("ascii"), validate=True)
    except (UnicodeEncodeError, binascii.Error, ValueError) as failure:
        raise error(f"{what}: not standard base64") from failure
    if not raw or _b64encode(raw) != text:
        raise error(f"{what}: not canonical non-empty base64")
    return raw
