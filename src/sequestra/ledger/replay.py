"""The ledger's verification rules, on entry bytes alone: the one core `verify` and the
offline auditor share.

Verification has two halves. `EntryChecker.check` looks at one entry's bytes on its own: the
size, the canonical form (RFC 8785), the entry and statement fields, the leaf hash and the
signature under the issuer's key when that key is known. It returns a compact tuple (cheap
to send between processes), so `verify` runs it on every core. `Replay.feed` then takes those
tuples in `seq` order and checks what needs context: the gapless `seq`, the `prev` links, the
`recorded_at` order, the signature of issuers whose key was not known, the trusted ledger key
at seq 0, the authority rules and nonce uniqueness. A hook stages the statements a caller
wants to see in order (`verify` replays its database projections with it).

Only the standard library and `cryptography` are used: the offline auditor imports this.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from sequestra.ledger.authority import AuthorityState
from sequestra.ledger.canonical import is_canonical
from sequestra.ledger.entry import ENTRY_BYTES_MAX, ENTRY_FIELDS, GENESIS_PREV, leaf_hash
from sequestra.ledger.errors import AuthorityError, CanonicalError, LedgerError, StatementError
from sequestra.ledger.keys import decode_public_key, issuer_id
from sequestra.ledger.roles import GENESIS_KIND, KEY_ENROLLED, REGISTRY_KINDS
from sequestra.ledger.statement import (
    ISSUER_PATTERN,
    KIND_PATTERN,
    NONCE_PATTERN,
    SIGNING_DOMAIN,
    STATEMENT_FIELDS,
    STATEMENT_VERSION,
    SignedStatement,
    check_statement_fields,
)
from sequestra.ledger.timefmt import TIMESTAMP_PATTERN

SIGNATURE_OK, SIGNATURE_BAD, SIGNATURE_KEY_UNKNOWN = 1, 0, -1
# How far a statement may be issued after the entry's recording time: the append path
# accepts statements issued up to this far in the future (its clock skew).
CLOCK_SKEW_S_DEFAULT = 300
CLOCK_SKEW_S_MAX = 86_400
# Bounds the sequential convenience loop; a ledger this large is verified by `verify`.
ENTRIES_MAX = 1 << 40

# What the checker reports of one entry, as a plain tuple (cheap to send between processes):
# (position, error | None, leaf hash, seq, prev, recorded_at, issuer, kind, nonce,
#  issued_at, signature status, (statement, signature, statement bytes) | None)
# A failed check is the pair (position, reason).
Checked = tuple[Any, ...]
StageCallback = Callable[[int, SignedStatement], None]

_RECORDED_AT = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z")
_HEX32 = re.compile(r"[0-9a-f]{64}")
_SIGNATURE = re.compile(r"[A-Za-z0-9+/]{86}==")
# JCS puts the statement last; every value before it is fixed-form ASCII (checked first),
# so the first occurrence of this mark is the one before the statement.
_STATEMENT_MARK = b',"statement":'
_ENTRY_KEYS = frozenset(ENTRY_FIELDS)


def failed(position: int, reason: str) -> Checked:
    """Return the Checked tuple of an entry that fails on its own."""
    return (position, reason)


class EntryChecker:
    """Checks entries' bytes one at a time, each on its own (no context).

    `keys` maps issuer ids to raw public keys; it may be shared and grow while checking (the
    auditor passes `Replay.enrolled_keys`). A key is only ever used for the issuer whose id is
    its hash, so no key in it can be wrong, only missing: a missing key yields
    SIGNATURE_KEY_UNKNOWN and the replay checks that signature itself. `wanted_kinds` are the
    kinds whose full statement the tuple carries (the replay needs the registry kinds).
    """

    def __init__(
        self,
        keys: Mapping[str, bytes] | None = None,
        wanted_kinds: frozenset[str] = REGISTRY_KINDS,
    ) -> None:
        self.keys: Mapping[str, bytes] = keys if keys is not None else {}
        self.wanted_kinds = wanted_kinds | REGISTRY_KINDS
        self._loaded: dict[str, Ed25519PublicKey] = {}

    def check(self, position: int, data: bytes, leaf_expected: bytes | None = None) -> Checked:
        """Check the entry stored at `position`: size, form, canonical bytes, signature.

        `leaf_expected` is a leaf hash stored beside the bytes, if any, to compare with.
        Returns the Checked tuple; never raises for malformed bytes.
        """
        try:
            if len(data) > ENTRY_BYTES_MAX:
                return failed(position, f"entry is {len(data)} bytes, over {ENTRY_BYTES_MAX}")
            canonical, entry = is_canonical(data)
            if not canonical:
                return failed(position, "entry bytes are not canonical JSON (RFC 8785)")
            leaf = leaf_hash(data)
            if leaf_expected is not None and leaf != leaf_expected:
                return failed(position, "stored leaf hash differs from the hash of the entry")
            error = _entry_form_error(entry)
            if error:
                return failed(position, error)
            statement = entry["statement"]
            if not _statement_looks_valid(statement):
                check_statement_fields(statement)  # names what is wrong
        except (CanonicalError, StatementError) as error:
            return failed(position, f"malformed entry: {error}")
        issuer, kind = statement["issuer"], statement["kind"]
        statement_bytes = data[data.index(_STATEMENT_MARK) + len(_STATEMENT_MARK) : -1]
        signature = self._check_signature(issuer, entry["signature"], statement_bytes)
        full = None
        if kind in self.wanted_kinds or signature == SIGNATURE_KEY_UNKNOWN:
            full = (statement, entry["signature"], statement_bytes)
        return (
            position,
            None,
            leaf,
            entry["seq"],
            entry["prev"],
            entry["recorded_at"],
            issuer,
            kind,
            statement["nonce"],
            statement["issued_at"],
            signature,
            full,
        )

    def _check_signature(self, issuer: str, signature_b64: str, statement_bytes: bytes) -> int:
        key = self._loaded.get(issuer)
        if key is None:
            raw = self.keys.get(issuer)
            if raw is None:
                return SIGNATURE_KEY_UNKNOWN
            key = self._loaded[issuer] = Ed25519PublicKey.from_public_bytes(raw)
        try:
            key.verify(base64.b64decode(signature_b64), SIGNING_DOMAIN + statement_bytes)
        except InvalidSignature:
            return SIGNATURE_BAD
        return SIGNATURE_OK


def _statement_looks_valid(statement: Any) -> bool:
    """A fast check of the statement's fields; check_statement_fields explains a failure.

    Dates that match the pattern but do not exist (February 30) are caught when the
    replay parses issued_at.
    """
    return (
        isinstance(statement, dict)
        and statement.keys() == STATEMENT_FIELDS
        and type(statement["v"]) is int
        and statement["v"] == STATEMENT_VERSION
        and isinstance(statement["kind"], str)
        and KIND_PATTERN.fullmatch(statement["kind"]) is not None
        and isinstance(statement["issued_at"], str)
        and TIMESTAMP_PATTERN.fullmatch(statement["issued_at"]) is not None
        and isinstance(statement["issuer"], str)
        and ISSUER_PATTERN.fullmatch(statement["issuer"]) is not None
        and isinstance(statement["nonce"], str)
        and NONCE_PATTERN.fullmatch(statement["nonce"]) is not None
        and isinstance(statement["body"], dict)
    )


def _entry_form_error(entry: Any) -> str | None:
    if not isinstance(entry, dict) or entry.keys() != _ENTRY_KEYS:
        return f"entry: expected exactly the fields {', '.join(ENTRY_FIELDS)}"
    if type(entry["seq"]) is not int or entry["seq"] < 0:
        return "entry.seq: expected an integer >= 0"
    if not isinstance(entry["prev"], str) or not _HEX32.fullmatch(entry["prev"]):
        return "entry.prev: expected 64 lowercase hex digits"
    recorded_at = entry["recorded_at"]
    if not isinstance(recorded_at, str) or not _RECORDED_AT.fullmatch(recorded_at):
        return "entry.recorded_at: expected YYYY-MM-DDTHH:MM:SS.ffffffZ"
    if not isinstance(entry["signature"], str) or not _SIGNATURE.fullmatch(entry["signature"]):
        return "entry.signature: expected base64 of 64 bytes"
    return None


class Replay:
    """The sequential half of verification, fed Checked tuples in stored order.

    `trusted_ledger_key` (raw 32 bytes) pins the genesis to the key the verifier trusts.
    `stage` is called, in order, with every statement of `stage_kinds` (and of the registry
    kinds) once its authority is checked and the registry updated; it may raise
    StatementError or AuthorityError to fail the entry. `authority` is the key registry the
    entries build; `enrolled_keys` holds their raw keys by issuer, for a sequential
    EntryChecker to use.
    """

    def __init__(
        self,
        trusted_ledger_key: bytes | None = None,
        stage: StageCallback | None = None,
        stage_kinds: frozenset[str] = frozenset(),
        clock_skew_s: int = CLOCK_SKEW_S_DEFAULT,
    ) -> None:
        if not 0 <= clock_skew_s <= CLOCK_SKEW_S_MAX:
            raise ValueError(f"clock_skew_s: expected 0 to {CLOCK_SKEW_S_MAX}, got {clock_skew_s}")
        self.clock_skew_s = clock_skew_s
        self.trusted_ledger_key = trusted_ledger_key
        self.stage = stage
        self.wanted_kinds = REGISTRY_KINDS | stage_kinds
        self.authority = AuthorityState()
        self.enrolled_keys: dict[str, bytes] = {}
        self.prev = GENESIS_PREV.hex()
        self.last_leaf_hash = GENESIS_PREV
        self.recorded_at = ""
        self.nonces: set[tuple[str, str]] = set()
        self.count = 0

    def feed(self, checked: Checked) -> str | None:
        """Check one entry in order; return the reason it fails, or None."""
        position = self.count
        self.count += 1
        if checked[0] != position:
            return f"entry {position} is missing: the next stored entry has seq {checked[0]}"
        if checked[1] is not None:
            return str(checked[1])
        _, _, leaf, seq, prev, recorded_at, issuer, kind, nonce, issued_at, signature, full = (
            checked
        )
        if seq != position:
            return f"entry at position {position} says seq {seq} (reordered or moved)"
        if prev != self.prev:
            return "prev is not the leaf hash of the entry before it (chain broken)"
        if recorded_at < self.recorded_at:
            return f"recorded_at {recorded_at} is earlier than the entry before it"
        if _recorded_too_early(recorded_at, issued_at, self.clock_skew_s):
            return (
                f"recorded_at {recorded_at} is before the statement was issued ({issued_at})"
                f" by more than the clock skew of {self.clock_skew_s} s"
            )
        try:
            statement = None if full is None else _statement(full, issued_at)
        except ValueError:
            return f"issued_at: not a valid date and time: {issued_at!r}"
        error = self._signature_error(position, issuer, signature, statement)
        if error:
            return error
        error = self._authority_error(position, issuer, kind, nonce, issued_at, statement)
        if error:
            return error
        self.prev = leaf.hex()
        self.last_leaf_hash = leaf
        self.recorded_at = recorded_at
        return None

    def _authority_error(
        self,
        seq: int,
        issuer: str,
        kind: str,
        nonce: str,
        issued_at: str,
        statement: SignedStatement | None,
    ) -> str | None:
        if (issuer, nonce) in self.nonces:
            return "nonce already used by this issuer (replayed statement)"
        try:
            if statement is not None:
                self._check_trusted_genesis(seq, statement)
                self.authority.check(seq, statement)
                if kind in REGISTRY_KINDS:
                    self.authority.apply(seq, statement)
                    self._learn_keys(statement)
                if self.stage is not None:
                    self.stage(seq, statement)
            elif seq == 0:
                return f"seq 0 must be a {GENESIS_KIND!r} statement"
            else:
                self.authority.check_issuer(issuer, kind, _parse_time(issued_at))
        except LedgerError as error:  # AuthorityError, StatementError and the others
            return str(error)
        except ValueError:
            return f"issued_at: not a valid date and time: {issued_at!r}"
        self.nonces.add((issuer, nonce))
        return None

    def _check_trusted_genesis(self, seq: int, statement: SignedStatement) -> None:
        trusted = self.trusted_ledger_key
        if seq == 0 and trusted is not None and statement.issuer != issuer_id(trusted):
            raise AuthorityError("genesis is not signed by the trusted ledger key")

    def _learn_keys(self, statement: SignedStatement) -> None:
        """Remember the raw keys a registry statement (already applied, so valid) names."""
        body = statement.body
        if statement.kind == GENESIS_KIND:
            texts = [body["ledger_key"], *body["admins"]]
        elif statement.kind == KEY_ENROLLED:
            texts = [body["public_key"]]
        else:
            return
        for text in texts:
            raw = decode_public_key(text)
            self.enrolled_keys[issuer_id(raw)] = raw

    def _signature_error(
        self, seq: int, issuer: str, signature: int, statement: SignedStatement | None
    ) -> str | None:
        if signature == SIGNATURE_OK or seq == 0:  # authority.check verifies the genesis
            return None
        if signature == SIGNATURE_BAD or statement is None:
            return "signature does not verify under the issuer's key"
        public_key = self.authority.public_key_of(issuer)
        if public_key is None:
            return f"issuer {issuer[:16]}... is not an enrolled key"
        if not statement.signature_valid(decode_public_key(public_key)):
            return "signature does not verify under the issuer's key"
        return None


def _recorded_too_early(recorded_at: str, issued_at: str, skew_s: int) -> bool:
    """Whether the entry says it was recorded earlier than its statement was issued, beyond
    the skew the ledger allows a signer's clock at append. Malformed times are caught by the
    form checks; a date that does not exist is reported by the authority check."""
    try:
        recorded, issued = _parse_time(recorded_at), _parse_time(issued_at)
    except ValueError:
        return False
    return (issued - recorded).total_seconds() > skew_s


def _parse_time(text: str) -> datetime:
    return datetime.fromisoformat(text[:-1]).replace(tzinfo=UTC)


def _statement(full: tuple[dict[str, Any], str, bytes], issued_at: str) -> SignedStatement:
    statement, signature, statement_bytes = full
    return SignedStatement(statement, signature, statement_bytes, _parse_time(issued_at))


@dataclass(frozen=True)
class ReplayResult:
    """The verdict of a sequential replay of entry bytes.

    `entries_ok` counts the entries that passed (all of them when `ok`); `leaf_hashes`
    holds their leaf hashes and `authority` the key registry they built.
    """

    ok: bool
    entries_ok: int
    first_bad_seq: int | None
    reason: str | None
    leaf_hashes: tuple[bytes, ...]
    authority: AuthorityState


def replay_entries(
    entries: Iterable[bytes],
    trusted_ledger_key: bytes | None = None,
    entries_max: int = ENTRIES_MAX,
) -> ReplayResult:
    """Check entries' bytes in order, in this process; name the first bad one and why.

    Meant for tests and small ledgers (the leaf hashes are kept); the auditor streams with
    EntryChecker and Replay directly. Raises ValueError when more than `entries_max` come.
    """
    replay = Replay(trusted_ledger_key)
    checker = EntryChecker(replay.enrolled_keys, replay.wanted_kinds)
    leaves: list[bytes] = []
    for position, data in enumerate(entries):
        if position >= entries_max:
            raise ValueError(f"more than {entries_max} entries")
        reason = replay.feed(checker.check(position, data))
        if reason is not None:
            return ReplayResult(False, position, position, reason, tuple(leaves), replay.authority)
        leaves.append(replay.last_leaf_hash)
    if not leaves:
        return ReplayResult(False, 0, None, "no entries: no genesis", (), replay.authority)
    return ReplayResult(True, len(leaves), None, None, tuple(leaves), replay.authority)
