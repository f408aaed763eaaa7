"""Signed statements: the format clients, the API and auditors depend on.

A statement `S = {v, kind, issued_at, issuer, nonce, body}` is signed with the issuer's
Ed25519 key over `b"sequestra/statement/v1\\n" + JCS(S)` and travels as
`{"statement": S, "signature": base64}`.

Reading and checking the form of statements needs the standard library and `cryptography`
only (the offline auditor uses it); the body schemas (pydantic, `sequestra.ledger.kinds`) are
imported by the two functions that validate bodies, on first use.
"""

from __future__ import annotations

import base64
import binascii
import re
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sequestra.ledger.canonical import (
    canonical_json,
    canonical_json_of_parsed,
    check_json_value,
    parse_json,
)
from sequestra.ledger.errors import CanonicalError, StatementError
from sequestra.ledger.keys import SigningKey, verify_signature
from sequestra.ledger.timefmt import format_timestamp, parse_timestamp

STATEMENT_VERSION = 1
SIGNING_DOMAIN = b"sequestra/statement/v1\n"
STATEMENT_FIELDS = frozenset({"v", "kind", "issued_at", "issuer", "nonce", "body"})
SIGNATURE_BYTES = 64
NONCE_BYTES_MIN = 16
NONCE_BYTES_MAX = 64
SIGNED_STATEMENT_BYTES_MAX = 64 * 1024

KIND_PATTERN = re.compile(r"[a-z][a-z0-9-]{0,31}(\.[a-z][a-z0-9-]{0,31}){1,3}")
ISSUER_PATTERN = re.compile(r"[0-9a-f]{64}")
NONCE_PATTERN = re.compile(f"(?:[0-9a-f]{{2}}){{{NONCE_BYTES_MIN},{NONCE_BYTES_MAX}}}")
_BASE64_SIGNATURE = re.compile(r"[A-Za-z0-9+/]{86}==")


@dataclass(frozen=True)
class SignedStatement:
    """A statement with its signature and canonical bytes, checked for form (not authority)."""

    statement: dict[str, Any]
    signature_b64: str
    canonical: bytes
    issued_at: datetime

    @property
    def kind(self) -> str:
        return str(self.statement["kind"])

    @property
    def issuer(self) -> str:
        return str(self.statement["issuer"])

    @property
    def nonce(self) -> str:
        return str(self.statement["nonce"])

    @property
    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = self.statement["body"]
        return body

    @property
    def signature(self) -> bytes:
        return base64.b64decode(self.signature_b64)

    def signing_message(self) -> bytes:
        return SIGNING_DOMAIN + self.canonical

    def signature_valid(self, public_key_raw: bytes) -> bool:
        """Return whether the signature verifies under `public_key_raw`."""
        return verify_signature(public_key_raw, self.signature, self.signing_message())

    def to_json(self) -> dict[str, Any]:
        return {"statement": self.statement, "signature": self.signature_b64}

    def to_bytes(self) -> bytes:
        """Canonical JSON of the transport form `{"statement": S, "signature": B64}`."""
        return canonical_json(self.to_json())


def check_statement_fields(statement: Any) -> datetime:
    """Check the statement's fields (not its body schema); return its issued_at.

    Raises StatementError naming the first field that is wrong.
    """
    if not isinstance(statement, dict):
        raise StatementError(f"statement: expected a JSON object, got {type(statement).__name__}")
    missing = STATEMENT_FIELDS - statement.keys()
    extra = statement.keys() - STATEMENT_FIELDS
    if missing:
        raise StatementError(f"statement: missing field(s) {', '.join(sorted(missing))}")
    if extra:
        raise StatementError(f"statement: unexpected field(s) {', '.join(sorted(extra))}")
    version = statement["v"]
    if type(version) is not int or version != STATEMENT_VERSION:
        raise StatementError(f"v: expected {STATEMENT_VERSION}, got {version!r}")
    kind = statement["kind"]
    if not isinstance(kind, str) or not KIND_PATTERN.fullmatch(kind):
        raise StatementError(
            f"kind: expected a dotted lowercase name like 'note.recorded', got {kind!r}"
        )
    issued_at = parse_timestamp(statement["issued_at"], "issued_at")
    issuer = statement["issuer"]
    if not isinstance(issuer, str) or not ISSUER_PATTERN.fullmatch(issuer):
        raise StatementError(f"issuer: expected 64 lowercase hex digits, got {issuer!r}")
    nonce = statement["nonce"]
    if not isinstance(nonce, str) or not NONCE_PATTERN.fullmatch(nonce):
        raise StatementError(
            f"nonce: expected {NONCE_BYTES_MIN} to {NONCE_BYTES_MAX} random bytes in lowercase hex,"
            f" got {nonce!r}"
        )
    if not isinstance(statement["body"], dict):
        raise StatementError("body: expected a JSON object")
    return issued_at


def check_texts(value: Any, path: str = "") -> None:
    """Refuse a NUL character (U+0000) in any text or name of a statement's JSON value.

    JSON carries it (`\\u0000`), but PostgreSQL text cannot and no field needs it: a new
    statement holding one is refused the same way on every database. Entries already
    recorded are not judged by this again (verify reads them as they are).
    Precondition: `value` is a JSON value of bounded depth. Raises StatementError naming the
    field (`body.label`).
    """
    if isinstance(value, str):
        if "\x00" in value:
            raise StatementError(
                f"{path or 'statement'}: expected text without the NUL character (U+0000),"
                f" got one at position {value.index(chr(0))}"
            )
    elif isinstance(value, dict):
        for key, item in value.items():
            name = str(key).replace("\x00", "\\u0000")
            field = f"{path}.{name}" if path else name
            if name != key:
                raise StatementError(
                    f"{field[:120]}: expected a name without the NUL character (U+0000)"
                )
            check_texts(item, field)
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            check_texts(item, f"{path}[{index}]")


def check_statement_form(statement: Any, parsed: bool = False) -> tuple[bytes, datetime]:
    """Check the statement's fields and return its JCS bytes and issued_at.

    `parsed` says the statement came from `parse_json`, which already refused floats,
    unsafe integers and anything else JCS cannot carry. Raises StatementError naming the
    first field that is wrong.
    """
    issued_at = check_statement_fields(statement)
    try:
        if parsed:
            return canonical_json_of_parsed(statement), issued_at
        check_json_value(statement["body"], "body")
        return canonical_json(statement), issued_at
    except CanonicalError as error:
        raise StatementError(str(error)) from error


def parse_signed_statement(data: Any) -> SignedStatement:
    """Parse and check a signed statement (a dict, or JSON text/bytes).

    Checks the form and the signature's encoding; the body against its kind's model, the
    signature itself and the issuer's authority are checked by the ledger, with its rule set.
    Raises StatementError naming the field and what was expected.
    """
    parsed = isinstance(data, bytes | str)
    if isinstance(data, bytes | str):
        if len(data) > SIGNED_STATEMENT_BYTES_MAX:
            raise StatementError(f"signed statement larger than {SIGNED_STATEMENT_BYTES_MAX} bytes")
        try:
            data = parse_json(data)
        except CanonicalError as error:
            raise StatementError(str(error)) from error
    if not isinstance(data, dict):
        raise StatementError(
            f"expected a JSON object {{statement, signature}}, got {type(data).__name__}"
        )
    if set(data) != {"statement", "signature"}:
        raise StatementError(
            f"expected exactly the fields statement and signature, got {sorted(data)}"
        )
    signature_b64 = data["signature"]
    if not isinstance(signature_b64, str) or not _BASE64_SIGNATURE.fullmatch(signature_b64):
        raise StatementError("signature: expected standard base64 of 64 bytes")
    try:
        decoded = base64.b64decode(signature_b64, validate=True)
    except binascii.Error as error:
        raise StatementError("signature: not valid base64") from error
    if len(decoded) != SIGNATURE_BYTES or base64.b64encode(decoded).decode() != signature_b64:
        raise StatementError("signature: expected the canonical base64 of 64 bytes")
    statement = data["statement"]
    canonical, issued_at = check_statement_form(statement, parsed)
    return SignedStatement(statement, signature_b64, canonical, issued_at)


def new_nonce() -> str:
    """Return a fresh 16-byte nonce in lowercase hex."""
    return secrets.token_hex(NONCE_BYTES_MIN)


def sign_statement(
    key: SigningKey,
    kind: str,
    body: dict[str, Any],
    issued_at: datetime,
    nonce: str | None = None,
) -> SignedStatement:
    """Build and sign a statement; raises StatementError if its form would be refused.

    The body is not checked against its kind's model here: `RuleSet.sign` does both.
    """
    statement = {
        "v": STATEMENT_VERSION,
        "kind": kind,
        "issued_at": format_timestamp(issued_at),
        "issuer": key.issuer,
        "nonce": nonce if nonce is not None else new_nonce(),
        "body": body,
    }
    canonical, parsed_at = check_statement_form(statement)
    signature = key.sign(SIGNING_DOMAIN + canonical)
    return SignedStatement(
        statement, base64.b64encode(signature).decode("ascii"), canonical, parsed_at
    )
