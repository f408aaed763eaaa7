"""Who may issue what: the key registry replayed from the ledger.

The genesis entry names the ledger key and the first admins; `key.enrolled` and
`key.revoked` statements change the registry. The same rules run at append time and in
`verify`, so a statement the ledger accepted is one a replay accepts.

Only the standard library and `cryptography` are used (the offline auditor runs these rules).
The registry bodies were checked against their schemas at append, but `verify` and the
auditor read untrusted bytes, so each body is read here with explicit checks of its own.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sequestra.ledger.errors import AuthorityError, LedgerError, StatementError
from sequestra.ledger.keys import decode_public_key, issuer_id
from sequestra.ledger.roles import (
    AUTHORITY,
    ENROLLABLE_ROLES,
    GENESIS_KIND,
    KEY_ENROLLED,
    KEY_REVOKED,
)
from sequestra.ledger.statement import SignedStatement
from sequestra.ledger.timefmt import TIMESTAMP_PATTERN, parse_timestamp

KEYS_MAX = 100_000
ADMINS_MAX = 16
LABEL_CHARS_MAX = 128
REASON_CHARS_MAX = 1024

_BASE64_KEY = re.compile(r"[A-Za-z0-9+/]{43}=")
_ISSUER_HEX = re.compile(r"[0-9a-f]{64}")
_ORIGIN = re.compile(r"[^\s+]{1,255}")


@dataclass(frozen=True)
class GenesisFields:
    """The body of a `ledger.genesis` statement, read and checked."""

    origin: str
    ledger_key: str
    admins: tuple[str, ...]


@dataclass(frozen=True)
class EnrolledFields:
    """The body of a `key.enrolled` statement, read and checked."""

    public_key: str
    roles: tuple[str, ...]
    valid_from: str
    label: str


@dataclass(frozen=True)
class RevokedFields:
    """The body of a `key.revoked` statement, read and checked."""

    issuer: str
    reason: str


def _exact_fields(body: Any, fields: frozenset[str]) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise StatementError(f"body: expected a JSON object, got {type(body).__name__}")
    missing, extra = fields - body.keys(), body.keys() - fields
    if missing:
        raise StatementError(f"body: missing field(s) {', '.join(sorted(missing))}")
    if extra:
        raise StatementError(f"body: unexpected field(s) {', '.join(sorted(extra))}")
    return body


def _text(body: dict[str, Any], field: str, pattern: re.Pattern[str], expected: str) -> str:
    value = body[field]
    if not isinstance(value, str) or not pattern.fullmatch(value):
        raise StatementError(f"body.{field}: expected {expected}, got {value!r:.80}")
    return value


def _bounded_text(body: dict[str, Any], field: str, chars_max: int) -> str:
    value = body[field]
    if not isinstance(value, str) or not 1 <= len(value) <= chars_max:
        raise StatementError(f"body.{field}: expected a string of 1 to {chars_max} characters")
    return value


def _text_list(body: dict[str, Any], field: str, count_max: int) -> tuple[str, ...]:
    value = body[field]
    if not isinstance(value, list) or not 1 <= len(value) <= count_max:
        raise StatementError(f"body.{field}: expected a list of 1 to {count_max} items")
    if not all(isinstance(item, str) for item in value):
        raise StatementError(f"body.{field}: expected strings only")
    return tuple(value)


def read_genesis_body(body: Any) -> GenesisFields:
    """Read a genesis body: origin, ledger key and 1 to 16 admin keys (base64).

    Raises StatementError naming the first field that is wrong.
    """
    fields = _exact_fields(body, frozenset({"origin", "ledger_key", "admins"}))
    origin = _text(fields, "origin", _ORIGIN, "1 to 255 characters without space or '+'")
    ledger_key = _text(fields, "ledger_key", _BASE64_KEY, "base64 of a 32-byte key")
    admins = _text_list(fields, "admins", ADMINS_MAX)
    for number, admin in enumerate(admins):
        if not _BASE64_KEY.fullmatch(admin):
            raise StatementError(f"body.admins.{number}: expected base64 of a 32-byte key")
    return GenesisFields(origin, ledger_key, admins)


def read_enrolled_body(body: Any) -> EnrolledFields:
    """Read a `key.enrolled` body; raises StatementError naming the first wrong field."""
    fields = _exact_fields(body, frozenset({"public_key", "roles", "valid_from", "label"}))
    public_key = _text(fields, "public_key", _BASE64_KEY, "base64 of a 32-byte key")
    roles = _text_list(fields, "roles", len(ENROLLABLE_ROLES))
    for number, role in enumerate(roles):
        if role not in ENROLLABLE_ROLES:
            expected = ", ".join(ENROLLABLE_ROLES)
            raise StatementError(
                f"body.roles.{number}: expected one of {expected}, got {role!r:.40}"
            )
    valid_from = _text(fields, "valid_from", TIMESTAMP_PATTERN, "YYYY-MM-DDTHH:MM:SS[.ffffff]Z")
    label = _bounded_text(fields, "label", LABEL_CHARS_MAX)
    return EnrolledFields(public_key, roles, valid_from, label)


def read_revoked_body(body: Any) -> RevokedFields:
    """Read a `key.revoked` body; raises StatementError naming the first wrong field."""
    fields = _exact_fields(body, frozenset({"issuer", "reason"}))
    issuer = _text(fields, "issuer", _ISSUER_HEX, "64 lowercase hex digits")
    reason = _bounded_text(fields, "reason", REASON_CHARS_MAX)
    return RevokedFields(issuer, reason)


def _public_key(text: str, field: str) -> bytes:
    try:
        return decode_public_key(text)
    except LedgerError as error:
        raise StatementError(f"{field}: {error}") from error


@dataclass(frozen=True)
class KeyRecord:
    """One enrolled key, as the `ledger_key` projection holds it."""

    issuer: str
    public_key: str
    roles: tuple[str, ...]
    label: str
    valid_from: str
    enrolled_seq: int
    revoked_seq: int | None = None
    revoked_reason: str | None = None

    @property
    def active(self) -> bool:
        return self.revoked_seq is None


@dataclass
class AuthorityState:
    """The key registry at some point of the ledger, with the rules that change it."""

    origin: str | None = None
    ledger_issuer: str | None = None
    keys: dict[str, KeyRecord] | None = None
    _valid_from: dict[str, datetime] | None = None

    def __post_init__(self) -> None:
        if self.keys is None:
            self.keys = {}
        self._valid_from = {
            issuer: parse_timestamp(record.valid_from) for issuer, record in self.keys.items()
        }

    @property
    def records(self) -> dict[str, KeyRecord]:
        if self.keys is None:
            raise AuthorityError("authority state not initialised")
        return self.keys

    def public_key_of(self, issuer: str) -> str | None:
        record = self.records.get(issuer)
        return record.public_key if record else None

    def check(self, seq: int, statement: SignedStatement) -> None:
        """Raise AuthorityError unless the issuer may issue this statement at `seq`."""
        if seq == 0 or statement.kind == GENESIS_KIND:
            self._check_genesis(seq, statement)
            return
        self.check_issuer(statement.issuer, statement.kind, statement.issued_at)

    def check_issuer(self, issuer: str, kind: str, issued_at: datetime) -> None:
        """Raise AuthorityError unless `issuer` may issue `kind` at `issued_at` (not genesis)."""
        if kind == GENESIS_KIND:
            raise AuthorityError(f"kind {GENESIS_KIND!r} may only stand at seq 0")
        record = self.records.get(issuer)
        if record is None:
            raise AuthorityError(f"issuer {issuer[:16]}... is not an enrolled key")
        if record.revoked_seq is not None:
            raise AuthorityError(f"issuer {record.label!r} was revoked at seq {record.revoked_seq}")
        valid_from = self._valid_from[issuer] if self._valid_from else None
        if valid_from is not None and issued_at < valid_from:
            raise AuthorityError(
                f"issuer {record.label!r} is valid from {record.valid_from}; statement issued"
                f" at {issued_at.isoformat()}"
            )
        allowed = AUTHORITY.get(kind)
        if allowed is None:
            raise AuthorityError(f"kind {kind!r} has no authority rule")
        if not allowed.intersection(record.roles):
            raise AuthorityError(
                f"issuer {record.label!r} has roles {', '.join(record.roles)}; kind {kind!r}"
                f" needs one of {', '.join(sorted(allowed))}"
            )

    def _check_genesis(self, seq: int, statement: SignedStatement) -> None:
        if seq != 0:
            raise AuthorityError(f"kind {GENESIS_KIND!r} may only stand at seq 0")
        if statement.kind != GENESIS_KIND:
            raise AuthorityError(f"seq 0 must be a {GENESIS_KIND!r} statement")
        body = read_genesis_body(statement.body)
        ledger_key = _public_key(body.ledger_key, "body.ledger_key")
        if issuer_id(ledger_key) != statement.issuer:
            raise AuthorityError("genesis must be issued by the ledger key it names")
        if not statement.signature_valid(ledger_key):
            raise AuthorityError("genesis signature does not verify under its ledger key")
        if len(set(body.admins)) != len(body.admins):
            raise StatementError("body.admins: the same key is listed twice")

    def apply(self, seq: int, statement: SignedStatement) -> None:
        """Apply a checked statement's effect on the registry.

        Raises StatementError when the change breaks a rule (enrolling a key twice, revoking
        an unknown or revoked key, revoking the last active admin).
        """
        kind = statement.kind
        if kind == GENESIS_KIND:
            self._apply_genesis(seq, statement)
        elif kind == KEY_ENROLLED:
            self._apply_enrolled(seq, read_enrolled_body(statement.body))
        elif kind == KEY_REVOKED:
            self._apply_revoked(seq, read_revoked_body(statement.body))

    def _put(self, record: KeyRecord) -> None:
        if len(self.records) >= KEYS_MAX and record.issuer not in self.records:
            raise StatementError(f"key registry full ({KEYS_MAX} keys)")
        self.records[record.issuer] = record
        if self._valid_from is not None:
            self._valid_from[record.issuer] = parse_timestamp(record.valid_from)

    def _apply_genesis(self, seq: int, statement: SignedStatement) -> None:
        body = read_genesis_body(statement.body)
        issued_at = statement.statement["issued_at"]
        self.origin = body.origin
        self.ledger_issuer = statement.issuer
        self._put(
            KeyRecord(statement.issuer, body.ledger_key, ("ledger",), "ledger", issued_at, seq)
        )
        for number, admin in enumerate(body.admins):
            issuer = issuer_id(_public_key(admin, f"body.admins.{number}"))
            if issuer in self.records:
                raise StatementError("body.admins: the ledger key cannot also be an admin")
            self._put(KeyRecord(issuer, admin, ("admin",), f"admin-{number}", issued_at, seq))

    def _apply_enrolled(self, seq: int, body: EnrolledFields) -> None:
        issuer = issuer_id(_public_key(body.public_key, "body.public_key"))
        existing = self.records.get(issuer)
        if existing is not None:
            state = "revoked" if existing.revoked_seq is not None else "enrolled"
            raise StatementError(
                f"body.public_key: key already {state} (seq {existing.enrolled_seq});"
                " generate a new key"
            )
        if len(set(body.roles)) != len(body.roles):
            raise StatementError("body.roles: a role is listed twice")
        parse_timestamp(body.valid_from, "body.valid_from")
        self._put(
            KeyRecord(issuer, body.public_key, tuple(body.roles), body.label, body.valid_from, seq)
        )

    def _apply_revoked(self, seq: int, body: RevokedFields) -> None:
        record = self.records.get(body.issuer)
        if record is None:
            raise StatementError(f"body.issuer: no enrolled key {body.issuer[:16]}...")
        if record.revoked_seq is not None:
            raise StatementError(f"body.issuer: key already revoked at seq {record.revoked_seq}")
        if "ledger" in record.roles:
            raise StatementError("body.issuer: the ledger key is not revoked by statement")
        if "admin" in record.roles and self._active_admins() == 1:
            raise StatementError("body.issuer: refusing to revoke the last active admin")
        self._put(replace(record, revoked_seq=seq, revoked_reason=body.reason))

    def _active_admins(self) -> int:
        return sum(1 for r in self.records.values() if r.active and "admin" in r.roles)
