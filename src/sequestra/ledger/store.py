"""The ledger store: registers signed statements as entries, atomically and in order.

An append checks every statement (signature, issuer authority, nonce, time window, size,
the projections' rules), then writes the entries and the projections in one transaction
under the append lock. Any refusal rolls the whole batch back: nothing is written.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from multiprocessing import get_context
from typing import Any

from sqlalchemy import Connection, Engine, insert, select
from sqlalchemy.exc import IntegrityError

from sequestra.ledger import queries
from sequestra.ledger.authority import AuthorityState
from sequestra.ledger.db import read_transaction, write_transaction
from sequestra.ledger.entry import ENTRY_BYTES_MAX, Entry
from sequestra.ledger.errors import (
    AppendForbidden,
    AppendRefused,
    AuthorityError,
    SignatureError,
    StatementError,
)
from sequestra.ledger.keys import decode_public_key, verify_signature
from sequestra.ledger.kinds import BodyModel
from sequestra.ledger.projection import KeysProjection, Projection, load_authority
from sequestra.ledger.queries import Head, StoredEntry
from sequestra.ledger.rules import RuleSet, stage_all
from sequestra.ledger.statement import SignedStatement, check_texts
from sequestra.ledger.tables import ENTRY_TABLE, KEY_TABLE
from sequestra.ledger.timefmt import format_timestamp, parse_timestamp
from sequestra.ledger.tree import append_tree_nodes
from sequestra.ledger.workers import watch_parent

BATCH_STATEMENTS_MAX = 10_000
# A bulk append (an import) is still one transaction: all of it or none. The bound keeps its
# memory (about 2 KiB a statement while it is prepared) within a few hundred MiB.
BULK_STATEMENTS_MAX = 200_000
PARALLEL_VERIFY_MIN = 256
NONCE_QUERY_CHUNK = 500
READ_LIMIT_MAX = 10_000


@dataclass(frozen=True)
class AppendRules:
    """Time rules for statements at append: how far in the future, how old."""

    clock_skew_s_max: int = 300
    statement_age_s_max: int = 7 * 24 * 3600


@dataclass(frozen=True)
class Receipt:
    seq: int
    leaf_hash: bytes

    def to_json(self) -> dict[str, Any]:
        return {"seq": self.seq, "leaf_hash": self.leaf_hash.hex()}


def _verify_chunk(items: Sequence[tuple[bytes, bytes, bytes]]) -> list[bool]:
    return [verify_signature(key, signature, message) for key, signature, message in items]


class _Signatures:
    """Signature checks of a batch, done or under way in worker processes."""

    def __init__(self, indexes: list[int], parts: Sequence[list[bool] | Future[list[bool]]]):
        self.indexes = indexes
        self.parts = parts
        self.covered = frozenset(indexes)

    def wait(self) -> None:
        """Raise AppendRefused for the first statement whose signature does not verify."""
        results: list[bool] = []
        for part in self.parts:
            results.extend(part if isinstance(part, list) else part.result())
        for index, ok in zip(self.indexes, results, strict=True):
            if not ok:
                raise AppendRefused("signature does not verify under the issuer's key", index)


class Ledger:
    """Append to and read from the ledger in one database, under one rule set."""

    def __init__(self, engine: Engine, rule_set: RuleSet, rules: AppendRules | None = None) -> None:
        if not isinstance(rule_set, RuleSet):
            raise TypeError(f"rule_set: expected a RuleSet, got {type(rule_set).__name__}")
        self.engine = engine
        self.rule_set = rule_set
        self.rules = rules or AppendRules()
        self._pool: ProcessPoolExecutor | None = None
        self._workers = os.cpu_count() or 1

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    def __enter__(self) -> Ledger:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    # --- reading -------------------------------------------------------------------------

    def head(self, connection: Connection | None = None) -> Head:
        return queries.head(self.engine if connection is None else connection)

    def size(self) -> int:
        return queries.entry_count(self.engine)

    def read(self, from_seq: int = 0, limit: int = 100) -> list[StoredEntry]:
        """Return up to `limit` entries from `from_seq` in order (see `queries.entries`)."""
        return queries.entries(self.engine, from_seq, limit)

    def authority(self) -> AuthorityState:
        return queries.read_authority(self.engine)

    # --- appending -----------------------------------------------------------------------

    def append(
        self,
        statements: Sequence[SignedStatement],
        now_utc: datetime | None = None,
        *,
        bulk: bool = False,
        also: Callable[[Connection], None] | None = None,
    ) -> list[Receipt]:
        """Register `statements` as consecutive entries, all or none.

        A batch holds at most BATCH_STATEMENTS_MAX statements, or BULK_STATEMENTS_MAX with
        `bulk` (imports: one transaction that holds the append lock for its whole length).
        `also` writes what belongs with the entries (a valuation's quotes) in the same
        transaction: both are written, or neither.
        Raises AppendRefused naming the statement and the reason; nothing is then written.
        """
        if not statements:
            return []
        limit = BULK_STATEMENTS_MAX if bulk else BATCH_STATEMENTS_MAX
        if len(statements) > limit:
            raise AppendRefused(f"batch of {len(statements)} exceeds {limit}")
        now = now_utc or datetime.now(UTC)
        self._check_batch_nonces(statements)
        self._check_times(statements, now)
        bodies = self._check_bodies(statements)
        pending = self._start_signature_checks(statements)
        try:
            with write_transaction(self.engine) as connection:
                receipts = self._append_locked(connection, statements, bodies, pending.covered, now)
                pending.wait()  # inside the transaction: a bad signature rolls it all back
                if also is not None:
                    also(connection)
                return receipts
        except IntegrityError as error:
            # The unique index on (issuer, nonce) refuses replays without a query per batch;
            # find the statement to name only when it fires.
            with read_transaction(self.engine) as connection:
                self._check_stored_nonces(connection, statements)
            raise AppendRefused(f"the database refused the batch: {error.orig}") from error

    def _check_batch_nonces(self, statements: Sequence[SignedStatement]) -> None:
        seen: set[tuple[str, str]] = set()
        for index, statement in enumerate(statements):
            pair = (statement.issuer, statement.nonce)
            if pair in seen:
                raise AppendRefused("nonce repeats one earlier in the same batch", index)
            seen.add(pair)

    def _check_bodies(self, statements: Sequence[SignedStatement]) -> list[BodyModel]:
        """Each statement's body read by its kind's model, before the lock is taken; no text
        may hold a NUL (`check_texts`), on any database."""
        bodies = []
        for index, statement in enumerate(statements):
            try:
                check_texts(statement.statement)
                bodies.append(self.rule_set.check(statement))
            except (StatementError, SignatureError) as error:
                raise AppendRefused(str(error), index) from error
        return bodies

    def _check_times(self, statements: Sequence[SignedStatement], now: datetime) -> None:
        latest = now + timedelta(seconds=self.rules.clock_skew_s_max)
        earliest = now - timedelta(seconds=self.rules.statement_age_s_max)
        for index, statement in enumerate(statements):
            issued = statement.statement["issued_at"]
            if statement.issued_at > latest:
                raise AppendRefused(
                    f"issued_at {issued} is more than {self.rules.clock_skew_s_max} s in the"
                    f" future (now {format_timestamp(now)})",
                    index,
                )
            if statement.issued_at < earliest:
                raise AppendRefused(
                    f"issued_at {issued} is older than {self.rules.statement_age_s_max} s"
                    f" (now {format_timestamp(now)})",
                    index,
                )

    def _start_signature_checks(self, statements: Sequence[SignedStatement]) -> _Signatures:
        """Start verifying the signatures of already-enrolled issuers, on every core.

        The issuer names its key by hash, so a key found now is the key forever; the checks
        run while the append is prepared under the lock. Statements of issuers enrolled in
        this very batch are checked in order under the lock instead.
        """
        issuers = sorted({statement.issuer for statement in statements})
        keys: dict[str, bytes] = {}
        with read_transaction(self.engine) as connection:
            for start in range(0, len(issuers), NONCE_QUERY_CHUNK):
                rows = connection.execute(
                    select(KEY_TABLE.c.issuer, KEY_TABLE.c.public_key).where(
                        KEY_TABLE.c.issuer.in_(issuers[start : start + NONCE_QUERY_CHUNK])
                    )
                )
                keys.update((row.issuer, decode_public_key(row.public_key)) for row in rows)
        todo = [i for i, s in enumerate(statements) if s.issuer in keys]
        items = [
            (keys[statements[i].issuer], statements[i].signature, statements[i].signing_message())
            for i in todo
        ]
        if len(items) < PARALLEL_VERIFY_MIN or self._workers < 2:
            pending = _Signatures(todo, [_verify_chunk(items)])
            pending.wait()  # small batch: refuse before taking the lock
            return pending
        pool = self._worker_pool()
        size = -(-len(items) // self._workers)
        chunks = [items[start : start + size] for start in range(0, len(items), size)]
        return _Signatures(todo, [pool.submit(_verify_chunk, chunk) for chunk in chunks])

    def _worker_pool(self) -> ProcessPoolExecutor:
        """The signature checkers' pool, started on first use and kept for the next batch."""
        if self._pool is None:
            # spawn, not fork: a forked worker would inherit open database sockets and keep a
            # dead writer's transaction (and its append lock) alive on the server. Each
            # worker ends when this process does (a killed append leaves none behind).
            self._pool = ProcessPoolExecutor(
                self._workers,
                mp_context=get_context("spawn"),
                initializer=watch_parent,
                initargs=(os.getpid(),),
            )
        return self._pool

    def _append_locked(
        self,
        connection: Connection,
        statements: Sequence[SignedStatement],
        bodies: Sequence[BodyModel],
        verified: frozenset[int],
        now: datetime,
    ) -> list[Receipt]:
        head = self.head(connection)
        authority = load_authority(connection)
        keys_projection = KeysProjection()
        projections: list[Projection] = [keys_projection, *self.rule_set.new_projections()]
        for projection in projections:
            projection.load(connection, authority, statements)
        recorded = now
        if head.recorded_at is not None:
            recorded = max(now, parse_timestamp(head.recorded_at))
        recorded_at = format_timestamp(recorded)
        entries: list[Entry] = []
        prev = head.leaf_hash
        for index, statement in enumerate(statements):
            seq = head.size + index
            try:
                self._admit(authority, seq, statement, index in verified)
                stage_all(projections, seq, statement, bodies[index])
            except AuthorityError as error:
                raise AppendForbidden(str(error), index) from error
            except (StatementError, SignatureError) as error:
                raise AppendRefused(str(error), index) from error
            entry = Entry.build(seq, recorded_at, statement, prev)
            if len(entry.canonical) > ENTRY_BYTES_MAX:
                raise AppendRefused(
                    f"entry is {len(entry.canonical)} bytes; the limit is {ENTRY_BYTES_MAX}", index
                )
            entries.append(entry)
            prev = entry.leaf_hash
        connection.execute(insert(ENTRY_TABLE), [_entry_row(entry) for entry in entries])
        append_tree_nodes(connection, head.size, [entry.leaf_hash for entry in entries])
        for projection in projections:
            projection.flush(connection, entries)
        return [Receipt(entry.seq, entry.leaf_hash) for entry in entries]

    def _admit(
        self, authority: AuthorityState, seq: int, statement: SignedStatement, verified: bool
    ) -> None:
        if not verified and seq != 0:  # the genesis check verifies its own signature
            public_key = authority.public_key_of(statement.issuer)
            if public_key is None:
                raise AuthorityError(f"issuer {statement.issuer[:16]}... is not an enrolled key")
            if not statement.signature_valid(decode_public_key(public_key)):
                raise SignatureError("signature does not verify under the issuer's key")
        authority.check(seq, statement)

    def _check_stored_nonces(
        self, connection: Connection, statements: Sequence[SignedStatement]
    ) -> None:
        """Refuse a nonce its issuer already used; one indexed query per issuer and chunk."""
        by_issuer: dict[str, dict[str, int]] = {}
        for index, statement in enumerate(statements):
            by_issuer.setdefault(statement.issuer, {})[statement.nonce] = index
        for issuer, indexes in by_issuer.items():
            nonces = sorted(indexes)
            for start in range(0, len(nonces), NONCE_QUERY_CHUNK):
                chunk = nonces[start : start + NONCE_QUERY_CHUNK]
                row = connection.execute(
                    select(ENTRY_TABLE.c.seq, ENTRY_TABLE.c.nonce).where(
                        ENTRY_TABLE.c.issuer == issuer, ENTRY_TABLE.c.nonce.in_(chunk)
                    )
                ).first()
                if row is not None:
                    raise AppendRefused(
                        f"nonce already used by this issuer at seq {row.seq} (a replay?)",
                        indexes[row.nonce],
                    )

    def require_initialised(self) -> Head:
        return queries.require_initialised(self.engine)


def _entry_row(entry: Entry) -> dict[str, Any]:
    return {
        "seq": entry.seq,
        "recorded_at": entry.recorded_at,
        "leaf_hash": entry.leaf_hash,
        "issuer": entry.statement.issuer,
        "kind": entry.statement.kind,
        "nonce": entry.statement.nonce,
        "entry": entry.canonical,
    }
