"""Full verification of a ledger: recompute everything and name the first bad entry.

Worker processes, one per core, each read a range of entries straight from the database
and check what needs no context (canonical form, leaf hash, indexed columns, signature);
this process then checks, in order, what does (gapless seq, `prev` links, time order,
authority, nonces) and replays the projections. Nothing the operator stored is trusted:
keys come from the entries themselves (an issuer is the hash of its key).
"""

from __future__ import annotations

import base64
import os
import re
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from multiprocessing import get_context
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy import Connection, Engine, func, select

from sequestra.ledger.authority import AuthorityState
from sequestra.ledger.canonical import is_canonical
from sequestra.ledger.db import create_ledger_engine, read_transaction
from sequestra.ledger.entry import ENTRY_BYTES_MAX, ENTRY_FIELDS, GENESIS_PREV, leaf_hash
from sequestra.ledger.errors import AuthorityError, CanonicalError, LedgerError, StatementError
from sequestra.ledger.keys import decode_public_key, issuer_id
from sequestra.ledger.kinds import GENESIS_KIND, KEY_ENROLLED
from sequestra.ledger.projection import KeysProjection, Projection, extra_projections
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
from sequestra.ledger.tables import ENTRY_TABLE
from sequestra.ledger.timefmt import TIMESTAMP_PATTERN as _TIMESTAMP

CHUNK_ENTRIES = 2_000
PARALLEL_MIN_ENTRIES = 4_000
ProgressCallback = Callable[[int, int], None]

_RECORDED_AT = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z")
_HEX32 = re.compile(r"[0-9a-f]{64}")
_SIGNATURE = re.compile(r"[A-Za-z0-9+/]{86}==")
_STATEMENT_MARK = b',"statement":'
_ENTRY_KEYS = frozenset(ENTRY_FIELDS)

SIGNATURE_OK, SIGNATURE_BAD, SIGNATURE_KEY_UNKNOWN = 1, 0, -1

# What a worker reports of one row, as a plain tuple (cheap to send between processes):
# (stored seq, error | None, leaf hash, seq, prev, recorded_at, issuer, kind, nonce,
#  issued_at, signature status, (statement, signature, statement bytes) | None)
Checked = tuple[Any, ...]
Row = tuple[int, bytes, str, str, str, str, bytes]


@dataclass(frozen=True)
class VerifyResult:
    ok: bool
    size: int
    first_bad_seq: int | None
    reason: str | None

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "size": self.size,
            "first_bad_seq": self.first_bad_seq,
            "reason": self.reason,
        }


class _WorkerContext:
    """Per-process state of a verification worker."""

    engine: Engine | None = None
    keys: dict[str, bytes] = {}  # noqa: RUF012 - replaced whole at initialisation
    loaded: dict[str, Ed25519PublicKey] = {}  # noqa: RUF012
    wanted_kinds: frozenset[str] = frozenset()


def _init_worker(url: str | None, keys: dict[str, bytes], wanted_kinds: frozenset[str]) -> None:
    if url is not None:
        _WorkerContext.engine = create_ledger_engine(url)
    _WorkerContext.keys = keys
    _WorkerContext.loaded = {}
    _WorkerContext.wanted_kinds = wanted_kinds


def _failed(seq_column: int, reason: str) -> Checked:
    return (seq_column, reason)


def check_row(row: Row) -> Checked:
    """Check one stored row on its own: form, canonical bytes, hash, columns, signature."""
    seq_column, leaf_column, recorded_column, issuer_column, kind_column, nonce_column, data = row
    try:
        if len(data) > ENTRY_BYTES_MAX:
            return _failed(seq_column, f"entry is {len(data)} bytes, over {ENTRY_BYTES_MAX}")
        canonical, entry = is_canonical(data)
        if not canonical:
            return _failed(seq_column, "entry bytes are not canonical JSON (RFC 8785)")
        leaf = leaf_hash(data)
        if leaf != leaf_column:
            return _failed(seq_column, "stored leaf hash differs from the hash of the entry")
        error = _entry_form_error(entry)
        if error:
            return _failed(seq_column, error)
        statement = entry["statement"]
        if not _statement_looks_valid(statement):
            check_statement_fields(statement)  # names what is wrong
    except (CanonicalError, StatementError) as error:
        return _failed(seq_column, f"malformed entry: {error}")
    issuer, kind, nonce = statement["issuer"], statement["kind"], statement["nonce"]
    if (entry["recorded_at"], issuer, kind, nonce) != (
        recorded_column,
        issuer_column,
        kind_column,
        nonce_column,
    ):
        return _failed(seq_column, "indexed columns disagree with the entry's bytes")
    statement_bytes = data[data.rindex(_STATEMENT_MARK) + len(_STATEMENT_MARK) : -1]
    signature = _check_signature(issuer, entry["signature"], statement_bytes)
    full = None
    if kind in _WorkerContext.wanted_kinds or signature == SIGNATURE_KEY_UNKNOWN:
        full = (statement, entry["signature"], statement_bytes)
    return (
        seq_column,
        None,
        leaf,
        entry["seq"],
        entry["prev"],
        entry["recorded_at"],
        issuer,
        kind,
        nonce,
        statement["issued_at"],
        signature,
        full,
    )


def _check_signature(issuer: str, signature_b64: str, statement_bytes: bytes) -> int:
    key = _WorkerContext.loaded.get(issuer)
    if key is None:
        raw = _WorkerContext.keys.get(issuer)
        if raw is None:
            return SIGNATURE_KEY_UNKNOWN
        key = _WorkerContext.loaded[issuer] = Ed25519PublicKey.from_public_bytes(raw)
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
        and _TIMESTAMP.fullmatch(statement["issued_at"]) is not None
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


def _as_bytes(value: object) -> bytes:
    """Read a binary column; tampering may leave text (SQLite) or NULL in it."""
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value)
    if isinstance(value, str):
        return value.encode("utf-8", "surrogateescape")
    return b""


_COLUMNS = (
    ENTRY_TABLE.c.seq,
    ENTRY_TABLE.c.leaf_hash,
    ENTRY_TABLE.c.recorded_at,
    ENTRY_TABLE.c.issuer,
    ENTRY_TABLE.c.kind,
    ENTRY_TABLE.c.nonce,
    ENTRY_TABLE.c.entry,
)


def check_range(bounds: tuple[int, int]) -> list[Checked]:
    """Read the stored rows with seq in [start, end) and check each on its own."""
    start, end = bounds
    engine = _WorkerContext.engine
    if engine is None:
        raise LedgerError("verification worker has no database")
    with read_transaction(engine) as connection:
        rows = connection.execute(
            select(*_COLUMNS)
            .where(ENTRY_TABLE.c.seq >= start, ENTRY_TABLE.c.seq < end)
            .order_by(ENTRY_TABLE.c.seq)
        ).all()
    return [
        check_row((r[0], _as_bytes(r[1]), r[2], r[3], r[4], r[5], _as_bytes(r[6]))) for r in rows
    ]


class _Replay:
    """The sequential half of verification, fed checked entries in stored order."""

    def __init__(self, trusted_ledger_key: bytes | None) -> None:
        self.trusted_ledger_key = trusted_ledger_key
        self.authority = AuthorityState()
        keys = KeysProjection()
        keys.authority = self.authority
        self.projections: list[Projection] = [keys, *extra_projections()]
        self.wanted_kinds = frozenset({GENESIS_KIND}).union(
            *(projection.kinds for projection in self.projections)
        )
        self.prev = GENESIS_PREV.hex()
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
                for projection in self.projections:
                    if kind in projection.kinds:
                        projection.stage(seq, statement)
            elif seq == 0:
                return f"seq 0 must be a {GENESIS_KIND!r} statement"
            else:
                self.authority.check_issuer(issuer, kind, _parse_time(issued_at))
        except (AuthorityError, StatementError, LedgerError) as error:
            return str(error)
        except ValueError:
            return f"issued_at: not a valid date and time: {issued_at!r}"
        self.nonces.add((issuer, nonce))
        return None

    def _check_trusted_genesis(self, seq: int, statement: SignedStatement) -> None:
        trusted = self.trusted_ledger_key
        if seq == 0 and trusted is not None and statement.issuer != issuer_id(trusted):
            raise AuthorityError("genesis is not signed by the trusted ledger key")

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


def _parse_time(text: str) -> datetime:
    return datetime.fromisoformat(text[:-1]).replace(tzinfo=UTC)


def _statement(full: tuple[dict[str, Any], str, bytes], issued_at: str) -> SignedStatement:
    statement, signature, statement_bytes = full
    return SignedStatement(statement, signature, statement_bytes, _parse_time(issued_at))


def _known_keys(connection: Connection) -> dict[str, bytes]:
    """Collect every public key named by a key-bearing entry, indexed by its issuer hash.

    Self-authenticating: a key is used only for the issuer whose id is its hash.
    """
    keys: dict[str, bytes] = {}
    query = select(ENTRY_TABLE.c.entry).where(ENTRY_TABLE.c.kind.in_([GENESIS_KIND, KEY_ENROLLED]))
    for (data,) in connection.execute(query):
        try:
            body = is_canonical(_as_bytes(data))[1]["statement"]["body"]
            texts = [body.get("public_key"), body.get("ledger_key"), *body.get("admins", [])]
            for text in texts:
                if isinstance(text, str):
                    raw = decode_public_key(text)
                    keys[issuer_id(raw)] = raw
        except (LedgerError, KeyError, TypeError, AttributeError):
            continue  # a malformed entry is reported when the replay reaches it
    return keys


def _ranges(total: int) -> list[tuple[int, int]]:
    return [(start, min(start + CHUNK_ENTRIES, total)) for start in range(0, total, CHUNK_ENTRIES)]


def verify_ledger(
    engine: Engine,
    trusted_ledger_key: bytes | None = None,
    progress: ProgressCallback | None = None,
    workers: int | None = None,
) -> VerifyResult:
    """Verify the whole ledger; name the first bad seq and why.

    Entries below the size counted at the start never change (the table is append-only),
    so the workers' separate reads see one consistent prefix; appends during the run are
    left for the next verification.
    """
    workers = workers or os.cpu_count() or 1
    with read_transaction(engine) as connection:
        total = int(connection.execute(select(func.count()).select_from(ENTRY_TABLE)).scalar_one())
        if total == 0:
            return VerifyResult(False, 0, None, "the ledger is empty: no genesis entry")
        keys = _known_keys(connection)
    replay = _Replay(trusted_ledger_key)
    context = (keys, replay.wanted_kinds)
    if total < PARALLEL_MIN_ENTRIES or workers < 2:
        _WorkerContext.engine = engine
        _init_worker(None, *context)
        failure = _run(replay, map(check_range, _ranges(total)), total, progress)
    else:
        url = engine.url.render_as_string(hide_password=False)
        with ProcessPoolExecutor(
            workers,
            mp_context=get_context("spawn"),
            initializer=_init_worker,
            initargs=(url, *context),
        ) as pool:
            failure = _run(replay, pool.map(check_range, _ranges(total)), total, progress)
    if failure is None and replay.count < total:
        failure = (replay.count, _missing_reason(engine, replay.count))
    if failure is not None:
        return VerifyResult(False, total, failure[0], failure[1])
    with read_transaction(engine) as connection:
        mismatch = _compare_projections(connection, replay.projections)
    if mismatch:
        return VerifyResult(False, total, None, mismatch)
    return VerifyResult(True, total, None, None)


def _missing_reason(engine: Engine, position: int) -> str:
    with read_transaction(engine) as connection:
        found = connection.execute(
            select(func.min(ENTRY_TABLE.c.seq)).where(ENTRY_TABLE.c.seq >= position)
        ).scalar_one()
    return f"entry {position} is missing: the next stored entry has seq {found}"


def _run(
    replay: _Replay,
    results: Iterable[list[Checked]],
    total: int,
    progress: ProgressCallback | None,
) -> tuple[int, str] | None:
    for chunk in results:
        for checked in chunk:
            position = replay.count
            reason = replay.feed(checked)
            if reason is not None:
                return position, reason
        if progress is not None:
            progress(replay.count, total)
    return None


def _compare_projections(connection: Connection, projections: Sequence[Projection]) -> str | None:
    for projection in projections:
        expected, stored = projection.rows(), projection.stored_rows(connection)
        if expected == stored:
            continue
        missing = [row for row in expected if row not in stored]
        extra = [row for row in stored if row not in expected]
        sample = (missing or extra)[0]
        return (
            f"projection {projection.name} differs from a replay of the entries:"
            f" {len(missing)} row(s) missing or changed, {len(extra)} unexpected;"
            f" first: {sample[0]!r}"
        )
    return None
