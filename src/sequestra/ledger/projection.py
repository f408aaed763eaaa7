"""Projections: read models derived from entries, updated in the append's transaction.

The ledger keeps its own, the key registry (`ledger_key`); the others come in the rule set
(`sequestra.ledger.rules`) the application composes.

A projection loads the state its rules need, stages each new statement (raising
StatementError or AuthorityError to refuse the batch), then writes what changed. `verify`
replays every projection from the entries in memory and compares the rows with the tables.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final, Protocol

from sqlalchemy import Connection, delete, insert, select

from sequestra.ledger.authority import AuthorityState, KeyRecord
from sequestra.ledger.entry import Entry
from sequestra.ledger.kinds import GENESIS_KIND, KEY_ENROLLED, KEY_REVOKED, BodyModel
from sequestra.ledger.statement import SignedStatement
from sequestra.ledger.tables import KEY_TABLE

Row = tuple[Any, ...]
KEYS_PROJECTION_NAME: Final = "ledger_key"


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

    def stage(self, seq: int, statement: SignedStatement, body: BodyModel) -> None:
        """Check a statement against the rules and apply it to the in-memory state.

        `body` is the statement's body as its kind's model read it (the rule set checked it).
        """

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

    name = KEYS_PROJECTION_NAME
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

    def stage(self, seq: int, statement: SignedStatement, body: BodyModel) -> None:
        # The registry reads the raw body with its own checks (the auditor shares them).
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
