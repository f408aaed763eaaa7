"""Projections: read models derived from entries, updated in the append's transaction.

A projection loads the state its rules need, stages each new statement (raising
StatementError or AuthorityError to refuse the batch), then writes what changed. `verify`
replays every projection from the entries in memory and compares the rows with the tables.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any, Protocol

from sqlalchemy import Connection, delete, insert, select

from sequestra.ledger.authority import AuthorityState, KeyRecord
from sequestra.ledger.entry import Entry
from sequestra.ledger.kinds import GENESIS_KIND, KEY_ENROLLED, KEY_REVOKED
from sequestra.ledger.statement import SignedStatement
from sequestra.ledger.tables import KEY_TABLE

Row = tuple[Any, ...]


class Projection(Protocol):
    """A read model maintained from the entries."""

    name: str
    # The statement kinds the projection reads; verify hands it only these.
    kinds: frozenset[str]

    def load(
        self,
        connection: Connection,
        authority: AuthorityState,
        statements: Sequence[SignedStatement],
    ) -> None:
        """Load the state the rules need to stage `statements`, before they are staged.

        A projection may load only what the batch refers to, if it can fetch the rest from
        `connection` while staging.
        """

    def stage(self, seq: int, statement: SignedStatement) -> None:
        """Check a statement against the rules and apply it to the in-memory state."""

    def flush(self, connection: Connection, entries: Sequence[Entry]) -> None:
        """Write what the staged statements changed, in the append's transaction."""

    def rows(self) -> list[Row]:
        """Return the rows the in-memory state implies, sorted (for verify)."""

    def stored_rows(self, connection: Connection) -> list[Row]:
        """Return the rows the tables hold, sorted as `rows` sorts them."""

    def reset(self, connection: Connection) -> None:
        """Empty the projection's tables (for rebuild)."""


def key_row(record: KeyRecord) -> Row:
    return (
        record.issuer,
        record.public_key,
        ",".join(record.roles),
        record.label,
        record.valid_from,
        record.enrolled_seq,
        record.revoked_seq,
        record.revoked_reason,
    )


def load_authority(connection: Connection) -> AuthorityState:
    """Load the key registry from the `ledger_key` projection."""
    keys: dict[str, KeyRecord] = {}
    for row in connection.execute(select(KEY_TABLE)):
        keys[row.issuer] = KeyRecord(
            row.issuer,
            row.public_key,
            tuple(row.roles.split(",")),
            row.label,
            row.valid_from,
            row.enrolled_seq,
            row.revoked_seq,
            row.revoked_reason,
        )
    state = AuthorityState(keys=keys)
    for record in keys.values():
        if "ledger" in record.roles:
            state.ledger_issuer = record.issuer
    return state


class KeysProjection:
    """The `ledger_key` table: the authority state written out."""

    name = "ledger_key"
    kinds = frozenset({GENESIS_KIND, KEY_ENROLLED, KEY_REVOKED})

    def __init__(self) -> None:
        self.authority = AuthorityState()
        self._before: dict[str, KeyRecord] = {}

    def load(
        self,
        connection: Connection,
        authority: AuthorityState,
        statements: Sequence[SignedStatement],
    ) -> None:
        self.authority = authority
        self._before = dict(authority.records)

    def stage(self, seq: int, statement: SignedStatement) -> None:
        self.authority.apply(seq, statement)

    def flush(self, connection: Connection, entries: Sequence[Entry]) -> None:
        changed = [r for i, r in self.authority.records.items() if self._before.get(i) != r]
        if not changed:
            return
        issuers = [record.issuer for record in changed]
        connection.execute(delete(KEY_TABLE).where(KEY_TABLE.c.issuer.in_(issuers)))
        columns = [column.name for column in KEY_TABLE.columns]
        connection.execute(
            insert(KEY_TABLE), [dict(zip(columns, key_row(r), strict=True)) for r in changed]
        )
        self._before = dict(self.authority.records)

    def rows(self) -> list[Row]:
        return sorted(key_row(record) for record in self.authority.records.values())

    def stored_rows(self, connection: Connection) -> list[Row]:
        return sorted(tuple(row) for row in connection.execute(select(KEY_TABLE)))

    def reset(self, connection: Connection) -> None:
        connection.execute(delete(KEY_TABLE))


# Factories of the projections beyond the key registry; later layers register theirs.
_FACTORIES: list[Callable[[], Projection]] = []


def register_projection(factory: Callable[[], Projection]) -> None:
    """Register a projection factory; every append and verify will maintain it."""
    if factory not in _FACTORIES:
        _FACTORIES.append(factory)


def extra_projections() -> Iterable[Projection]:
    return [factory() for factory in _FACTORIES]
