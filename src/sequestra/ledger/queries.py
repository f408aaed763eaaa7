"""The ledger's read surface: what other layers may read of the ledger's tables, as frozen,
typed views. No module outside `sequestra.ledger` touches the ledger's tables (the import
contracts in `make lint` hold it); they call these instead.

Every function takes an `Engine` (one read transaction of its own) or a `Connection` (to read
inside the caller's transaction); none writes.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Final

import orjson
from sqlalchemy import Connection, Engine, Select, case, func, inspect, select

from sequestra.ledger.authority import AuthorityState
from sequestra.ledger.canonical import parse_json
from sequestra.ledger.checkpoints import (
    StoredCheckpoint,
    get_checkpoint,
    list_checkpoints,
    list_checkpoints_newest,
    recent_checkpoints,
)
from sequestra.ledger.db import column_bytes, read_transaction
from sequestra.ledger.entry import GENESIS_PREV
from sequestra.ledger.errors import LedgerStateError
from sequestra.ledger.projection import load_authority
from sequestra.ledger.tables import ENTRY_TABLE, KEY_TABLE
from sequestra.ledger.tree import consistency_proof, inclusion_proof, root_at

__all__ = [
    "Head",
    "KeyView",
    "StoredCheckpoint",
    "StoredEntry",
    "checkpoint_page",
    "consistency_proof",
    "entries",
    "entry_count",
    "entry_statements",
    "get_checkpoint",
    "has_ledger",
    "head",
    "inclusion_proof",
    "key_labels",
    "keys_enrolled_before",
    "kind_counts",
    "list_checkpoints",
    "read_authority",
    "recent_checkpoints",
    "recorded_at_of",
    "require_initialised",
    "root_at",
    "stream_statements",
]

READ_LIMIT_MAX: Final = 10_000
STREAM_BATCH: Final = 5_000
SEQS_CHUNK: Final = 500  # seqs in one IN (...) list


@dataclass(frozen=True)
class Head:
    """The ledger's size and its last entry's leaf hash and time."""

    size: int
    leaf_hash: bytes
    recorded_at: str | None


@dataclass(frozen=True)
class StoredEntry:
    seq: int
    recorded_at: str
    kind: str
    issuer: str
    leaf_hash: bytes
    entry: bytes

    def to_json(self) -> dict[str, Any]:
        """The entry as the ledger holds it (seq, recorded_at, statement, signature, prev)."""
        value: dict[str, Any] = parse_json(self.entry)
        return value

    def view_json(self) -> dict[str, Any]:
        """What `sequestra log --json` and `GET /api/v1/entries` give of an entry: its
        indexed fields, its leaf hash (hex) and the entry itself."""
        return {
            "seq": self.seq,
            "recorded_at": self.recorded_at,
            "kind": self.kind,
            "issuer": self.issuer,
            "leaf_hash": self.leaf_hash.hex(),
            "entry": self.to_json(),
        }


@dataclass(frozen=True)
class KeyView:
    """An enrolled key as the registry holds it."""

    issuer: str
    public_key: str
    roles: tuple[str, ...]
    label: str
    valid_from: str
    enrolled_seq: int
    revoked_seq: int | None
    revoked_reason: str | None


@contextmanager
def _reading(source: Engine | Connection) -> Iterator[Connection]:
    if isinstance(source, Connection):
        yield source
        return
    with read_transaction(source) as connection:
        yield connection


def has_ledger(engine: Engine) -> bool:
    """Whether the database holds the ledger's tables (a schema was created)."""
    with engine.connect() as connection:
        return inspect(connection).has_table(ENTRY_TABLE.name)


def head(source: Engine | Connection) -> Head:
    """The ledger's size, last leaf hash and last recorded time (size 0: empty)."""
    with _reading(source) as connection:
        row = connection.execute(
            select(ENTRY_TABLE.c.seq, ENTRY_TABLE.c.leaf_hash, ENTRY_TABLE.c.recorded_at)
            .order_by(ENTRY_TABLE.c.seq.desc())
            .limit(1)
        ).first()
    if row is None:
        return Head(0, GENESIS_PREV, None)
    return Head(row.seq + 1, bytes(row.leaf_hash), row.recorded_at)


def require_initialised(source: Engine | Connection) -> Head:
    """The head; raises LedgerStateError when the ledger has no genesis entry."""
    found = head(source)
    if found.size == 0:
        raise LedgerStateError("the ledger has no genesis entry; run `sequestra init` first")
    return found


def entry_count(source: Engine | Connection) -> int:
    """How many entries are stored (the size, if none is missing)."""
    with _reading(source) as connection:
        return int(connection.execute(select(func.count()).select_from(ENTRY_TABLE)).scalar_one())


def entries(source: Engine | Connection, from_seq: int = 0, limit: int = 100) -> list[StoredEntry]:
    """Up to `limit` entries from `from_seq`, in order.

    Raises ValueError for a limit outside 1..READ_LIMIT_MAX or a negative seq.
    """
    if limit < 1 or limit > READ_LIMIT_MAX:
        raise ValueError(f"limit: expected 1 to {READ_LIMIT_MAX}, got {limit}")
    if from_seq < 0:
        raise ValueError(f"from: expected a seq >= 0, got {from_seq}")
    with _reading(source) as connection:
        rows = connection.execute(
            select(ENTRY_TABLE)
            .where(ENTRY_TABLE.c.seq >= from_seq)
            .order_by(ENTRY_TABLE.c.seq)
            .limit(limit)
        ).all()
    return [
        StoredEntry(
            r.seq, r.recorded_at, r.kind, r.issuer, column_bytes(r.leaf_hash), column_bytes(r.entry)
        )
        for r in rows
    ]


def _chunks(seqs: Iterable[int]) -> Iterator[list[int]]:
    ordered = sorted(set(seqs))
    for start in range(0, len(ordered), SEQS_CHUNK):
        yield ordered[start : start + SEQS_CHUNK]


def recorded_at_of(source: Engine | Connection, seqs: Iterable[int]) -> dict[int, str]:
    """When each entry of `seqs` was recorded (seqs not stored are left out)."""
    found: dict[int, str] = {}
    with _reading(source) as connection:
        for chunk in _chunks(seqs):
            rows = connection.execute(
                select(ENTRY_TABLE.c.seq, ENTRY_TABLE.c.recorded_at).where(
                    ENTRY_TABLE.c.seq.in_(chunk)
                )
            )
            found.update((row.seq, row.recorded_at) for row in rows)
    return found


def entry_statements(source: Engine | Connection, seqs: Iterable[int]) -> dict[int, dict[str, Any]]:
    """The statement (parsed JSON) of each entry of `seqs`, by seq (those not stored left
    out). The bytes were checked when appended; `verify` checks them again."""
    found: dict[int, dict[str, Any]] = {}
    with _reading(source) as connection:
        for chunk in _chunks(seqs):
            rows = connection.execute(
                select(ENTRY_TABLE.c.seq, ENTRY_TABLE.c.entry).where(ENTRY_TABLE.c.seq.in_(chunk))
            )
            for row in rows:
                found[row.seq] = parse_json(bytes(row.entry))["statement"]
    return found


def stream_statements(
    connection: Connection, seqs: Select[Any], batch: int = STREAM_BATCH
) -> Iterator[tuple[int, dict[str, Any]]]:
    """(seq, statement) of each entry whose seq `seqs` selects (a query of one seq column,
    from the caller's own tables), in seq order, read `batch` rows at a time."""
    selected = seqs.subquery()
    key = next(iter(selected.c))
    query = (
        select(ENTRY_TABLE.c.seq, ENTRY_TABLE.c.entry)
        .join(selected, key == ENTRY_TABLE.c.seq)
        .order_by(ENTRY_TABLE.c.seq)
    )
    for seq, data in connection.execution_options(yield_per=batch).execute(query):
        yield seq, orjson.loads(column_bytes(data))["statement"]


def kind_counts(source: Engine | Connection, size: int) -> dict[str, int]:
    """How many of the first `size` entries are of each kind."""
    with _reading(source) as connection:
        rows = connection.execute(
            select(ENTRY_TABLE.c.kind, func.count())
            .where(ENTRY_TABLE.c.seq < size)
            .group_by(ENTRY_TABLE.c.kind)
        )
        return {row[0]: int(row[1]) for row in rows}


def _key_view(row: Any) -> KeyView:
    return KeyView(
        row.issuer,
        row.public_key,
        tuple(row.roles.split(",")),
        row.label,
        row.valid_from,
        row.enrolled_seq,
        row.revoked_seq,
        row.revoked_reason,
    )


def keys_enrolled_before(
    source: Engine | Connection, size: int | None = None, limit: int = READ_LIMIT_MAX
) -> list[KeyView]:
    """Keys enrolled among the first `size` entries (all: None), in enrolment order."""
    # The genesis enrols the ledger key and the admins at seq 0: the ledger key first.
    ledger_first = case((KEY_TABLE.c.roles == "ledger", 0), else_=1)
    query = (
        select(KEY_TABLE)
        .order_by(KEY_TABLE.c.enrolled_seq, ledger_first, KEY_TABLE.c.label, KEY_TABLE.c.issuer)
        .limit(limit)
    )
    if size is not None:
        query = query.where(KEY_TABLE.c.enrolled_seq < size)
    with _reading(source) as connection:
        return [_key_view(row) for row in connection.execute(query)]


def key_labels(source: Engine | Connection, issuers: Sequence[str]) -> dict[str, str]:
    """The label of each enrolled issuer among `issuers`."""
    found: dict[str, str] = {}
    with _reading(source) as connection:
        for start in range(0, len(issuers), SEQS_CHUNK):
            chunk = list(issuers[start : start + SEQS_CHUNK])
            rows = connection.execute(
                select(KEY_TABLE.c.issuer, KEY_TABLE.c.label).where(KEY_TABLE.c.issuer.in_(chunk))
            )
            found.update((row.issuer, row.label) for row in rows)
    return found


def read_authority(source: Engine | Connection) -> AuthorityState:
    """The key registry as the `ledger_key` projection holds it."""
    with _reading(source) as connection:
        return load_authority(connection)


def checkpoint_page(source: Engine | Connection, offset: int, limit: int) -> list[StoredCheckpoint]:
    """Signed checkpoints newest first, each with the cosignature lines stored beside it
    (untrusted: judge them with the trust policy before showing any as a cosignature).

    Raises ValueError for a window outside 0.. and 1..READ_LIMIT_MAX.
    """
    if offset < 0 or not 1 <= limit <= READ_LIMIT_MAX:
        raise ValueError(f"window: expected offset >= 0 and 1..{READ_LIMIT_MAX}, got {offset}")
    with _reading(source) as connection:
        return list_checkpoints_newest(connection, offset, limit)
