"""Full verification of a ledger: recompute everything and name the first bad entry.

Per-entry work (canonical form, leaf hash, signature, schema) runs on every core; the
sequential rules (gapless seq, `prev` links, time order, authority, nonces) and the
projection replay run in order in this process. Nothing the operator stored is trusted:
keys come from the entries themselves (an issuer is the hash of its key).
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from multiprocessing import get_context
from typing import Any

from sqlalchemy import Connection, Engine, select

from sequestra.ledger.authority import AuthorityState
from sequestra.ledger.canonical import is_canonical
from sequestra.ledger.db import read_transaction
from sequestra.ledger.entry import ENTRY_BYTES_MAX, ENTRY_FIELDS, GENESIS_PREV, leaf_hash
from sequestra.ledger.errors import AuthorityError, CanonicalError, LedgerError, StatementError
from sequestra.ledger.keys import decode_public_key, issuer_id, verify_signature
from sequestra.ledger.kinds import GENESIS_KIND, KEY_ENROLLED, validate_body
from sequestra.ledger.projection import KeysProjection, Projection, extra_projections
from sequestra.ledger.statement import SIGNING_DOMAIN, SignedStatement, check_statement_fields
from sequestra.ledger.tables import ENTRY_TABLE

CHUNK_ENTRIES = 2_000
PARALLEL_MIN_ENTRIES = 4_000
ProgressCallback = Callable[[int, int], None]

_RECORDED_AT = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z")
_HEX32 = re.compile(r"[0-9a-f]{64}")
_SIGNATURE = re.compile(r"[A-Za-z0-9+/]{86}==")
_STATEMENT_MARK = b',"statement":'

SIGNATURE_OK, SIGNATURE_BAD, SIGNATURE_KEY_UNKNOWN = 1, 0, -1


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


@dataclass(frozen=True)
class Checked:
    """What a worker learnt of one stored row."""

    position_seq: int
    error: str | None
    leaf: bytes = b""
    seq: int = -1
    prev: bytes = b""
    recorded_at: str = ""
    statement: SignedStatement | None = None
    signature: int = SIGNATURE_BAD


_KEYS: dict[str, bytes] = {}


def _init_worker(keys: dict[str, bytes]) -> None:
    _KEYS.clear()
    _KEYS.update(keys)


Row = tuple[int, bytes, str, str, str, str, bytes]


def check_row(row: Row) -> Checked:
    """Check one stored row on its own: form, canonical bytes, hash, columns, signature."""
    seq_column, leaf_column, recorded_column, issuer_column, kind_column, nonce_column, data = row
    try:
        if len(data) > ENTRY_BYTES_MAX:
            return Checked(seq_column, f"entry is {len(data)} bytes, over {ENTRY_BYTES_MAX}")
        canonical, entry = is_canonical(data)
        if not canonical:
            return Checked(seq_column, "entry bytes are not canonical JSON (RFC 8785)")
        leaf = leaf_hash(data)
        if leaf != leaf_column:
            return Checked(seq_column, "stored leaf hash differs from the hash of the entry")
        error = _entry_form_error(entry)
        if error:
            return Checked(seq_column, error)
        statement_dict = entry["statement"]
        issued_at = check_statement_fields(statement_dict)
        validate_body(statement_dict["kind"], statement_dict["body"])
    except (CanonicalError, StatementError) as error:
        return Checked(seq_column, f"malformed entry: {error}")
    columns = (entry["recorded_at"], statement_dict["issuer"], statement_dict["kind"])
    if (*columns, statement_dict["nonce"]) != (
        recorded_column,
        issuer_column,
        kind_column,
        nonce_column,
    ):
        return Checked(seq_column, "indexed columns disagree with the entry's bytes")
    statement_bytes = data[data.rindex(_STATEMENT_MARK) + len(_STATEMENT_MARK) : -1]
    statement = SignedStatement(statement_dict, entry["signature"], statement_bytes, issued_at)
    key = _KEYS.get(statement.issuer)
    if key is None:
        signature = SIGNATURE_KEY_UNKNOWN
    else:
        valid = verify_signature(key, statement.signature, SIGNING_DOMAIN + statement_bytes)
        signature = SIGNATURE_OK if valid else SIGNATURE_BAD
    return Checked(
        seq_column,
        None,
        leaf,
        entry["seq"],
        bytes.fromhex(entry["prev"]),
        entry["recorded_at"],
        statement,
        signature,
    )


def _entry_form_error(entry: Any) -> str | None:
    if not isinstance(entry, dict) or tuple(sorted(entry)) != ENTRY_FIELDS:
        return f"entry: expected exactly the fields {', '.join(ENTRY_FIELDS)}"
    if type(entry["seq"]) is not int or entry["seq"] < 0:
        return "entry.seq: expected an integer >= 0"
    if not isinstance(entry["prev"], str) or not _HEX32.fullmatch(entry["prev"]):
        return "entry.prev: expected 64 lowercase hex digits"
    if not isinstance(entry["recorded_at"], str) or not _RECORDED_AT.fullmatch(
        entry["recorded_at"]
    ):
        return "entry.recorded_at: expected YYYY-MM-DDTHH:MM:SS.ffffffZ"
    if not isinstance(entry["signature"], str) or not _SIGNATURE.fullmatch(entry["signature"]):
        return "entry.signature: expected base64 of 64 bytes"
    return None


def check_rows(rows: Sequence[Row]) -> list[Checked]:
    return [check_row(row) for row in rows]


class _Replay:
    """The sequential half of verification, fed entries in stored order."""

    def __init__(self, trusted_ledger_key: bytes | None) -> None:
        self.trusted_ledger_key = trusted_ledger_key
        self.authority = AuthorityState()
        self.keys = KeysProjection()
        self.keys.authority = self.authority
        self.projections: list[Projection] = [self.keys, *extra_projections()]
        self.prev = GENESIS_PREV
        self.recorded_at = ""
        self.nonces: set[tuple[str, str]] = set()
        self.count = 0

    def feed(self, checked: Checked) -> str | None:
        """Check one entry in order; return the reason it fails, or None."""
        position = self.count
        self.count += 1
        if checked.position_seq != position:
            return (
                f"entry {position} is missing: the next stored entry has seq {checked.position_seq}"
            )
        if checked.error is not None:
            return checked.error
        statement = checked.statement
        if statement is None:
            return "entry could not be read"
        if checked.seq != position:
            return f"entry at position {position} says seq {checked.seq} (reordered or moved)"
        if checked.prev != self.prev:
            return "prev is not the leaf hash of the entry before it (chain broken)"
        if checked.recorded_at < self.recorded_at:
            return f"recorded_at {checked.recorded_at} is earlier than the entry before it"
        return self._feed_statement(position, checked, statement)

    def _feed_statement(self, seq: int, checked: Checked, statement: SignedStatement) -> str | None:
        trusted = self.trusted_ledger_key
        if (
            seq == 0
            and trusted is not None
            and (statement.kind != GENESIS_KIND or statement.issuer != issuer_id(trusted))
        ):
            return "genesis is not signed by the trusted ledger key"
        error = self._signature_error(seq, checked, statement)
        if error:
            return error
        pair = (statement.issuer, statement.nonce)
        if pair in self.nonces:
            return "nonce already used by this issuer (replayed statement)"
        try:
            self.authority.check(seq, statement)
            for projection in self.projections:
                projection.stage(seq, statement)
        except (AuthorityError, StatementError, LedgerError) as error:
            return str(error)
        self.nonces.add(pair)
        self.prev = checked.leaf
        self.recorded_at = checked.recorded_at
        return None

    def _signature_error(
        self, seq: int, checked: Checked, statement: SignedStatement
    ) -> str | None:
        if checked.signature == SIGNATURE_OK or seq == 0:  # authority.check verifies genesis
            return None
        if checked.signature == SIGNATURE_BAD:
            return "signature does not verify under the issuer's key"
        public_key = self.authority.public_key_of(statement.issuer)
        if public_key is None:
            return f"issuer {statement.issuer[:16]}... is not an enrolled key"
        if not statement.signature_valid(decode_public_key(public_key)):
            return "signature does not verify under the issuer's key"
        return None


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


def _read_rows(connection: Connection) -> Iterator[list[Row]]:
    start = 0
    columns = (
        ENTRY_TABLE.c.seq,
        ENTRY_TABLE.c.leaf_hash,
        ENTRY_TABLE.c.recorded_at,
        ENTRY_TABLE.c.issuer,
        ENTRY_TABLE.c.kind,
        ENTRY_TABLE.c.nonce,
        ENTRY_TABLE.c.entry,
    )
    while True:
        rows = connection.execute(
            select(*columns)
            .where(ENTRY_TABLE.c.seq >= start)
            .order_by(ENTRY_TABLE.c.seq)
            .limit(CHUNK_ENTRIES)
        ).all()
        if not rows:
            return
        yield [(r[0], _as_bytes(r[1]), r[2], r[3], r[4], r[5], _as_bytes(r[6])) for r in rows]
        start = rows[-1][0] + 1


def _as_bytes(value: object) -> bytes:
    """Read a binary column; tampering may leave text (SQLite) or NULL in it."""
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value)
    if isinstance(value, str):
        return value.encode("utf-8", "surrogateescape")
    return b""


def _count(connection: Connection) -> int:
    from sqlalchemy import func

    return int(connection.execute(select(func.count()).select_from(ENTRY_TABLE)).scalar_one())


def verify_ledger(
    engine: Engine,
    trusted_ledger_key: bytes | None = None,
    progress: ProgressCallback | None = None,
    workers: int | None = None,
) -> VerifyResult:
    """Verify the whole ledger in one consistent snapshot; name the first bad seq and why."""
    workers = workers or os.cpu_count() or 1
    with read_transaction(engine) as connection:
        total = _count(connection)
        if total == 0:
            return VerifyResult(False, 0, None, "the ledger is empty: no genesis entry")
        keys = _known_keys(connection)
        replay = _Replay(trusted_ledger_key)
        chunks = _read_rows(connection)
        if total < PARALLEL_MIN_ENTRIES or workers < 2:
            _init_worker(keys)
            results: Iterator[list[Checked]] = map(check_rows, chunks)
            failure = _run(replay, results, total, progress)
        else:
            with ProcessPoolExecutor(
                workers, mp_context=get_context("spawn"), initializer=_init_worker, initargs=(keys,)
            ) as pool:
                failure = _run(replay, pool.map(check_rows, chunks), total, progress)
        if failure is not None:
            return VerifyResult(False, total, failure[0], failure[1])
        if replay.count != total:
            return VerifyResult(False, total, replay.count, "entries changed during verification")
        mismatch = _compare_projections(connection, replay.projections)
    if mismatch:
        return VerifyResult(False, total, None, mismatch)
    return VerifyResult(True, total, None, None)


def _run(
    replay: _Replay,
    results: Iterator[list[Checked]],
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
