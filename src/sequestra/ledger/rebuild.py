"""Rebuild: empty every projection and replay it from the entries.

Projections are read models; the entries are the record. A rebuild runs under the append
lock, in one transaction: appends wait for it, and a failure leaves the old tables as they
were. It trusts the stored entries (run `verify` for that) but applies every projection rule
again, so an entry the rules refuse is named by its seq.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, select

from sequestra.errors import IntegrityFailure
from sequestra.ledger.authority import AuthorityState
from sequestra.ledger.canonical import parse_json
from sequestra.ledger.db import write_transaction
from sequestra.ledger.errors import AuthorityError, LedgerStateError, StatementError
from sequestra.ledger.projection import KeysProjection, Projection
from sequestra.ledger.rules import RuleSet, stage_all
from sequestra.ledger.statement import parse_signed_statement
from sequestra.ledger.tables import ENTRY_TABLE

READ_CHUNK = 5_000  # entries read per query

ProgressCallback = Callable[[int, int], None]


@dataclass(frozen=True)
class RebuildResult:
    entries: int
    projections: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        return {"entries": self.entries, "projections": list(self.projections)}


class RebuildError(LedgerStateError, IntegrityFailure):
    """An entry cannot be replayed into the projections (the message names its seq)."""


def rebuild_projections(
    engine: Engine, rule_set: RuleSet, progress: ProgressCallback | None = None
) -> RebuildResult:
    """Empty every projection of `rule_set` and replay all entries into it, in one
    transaction.

    Raises RebuildError naming the first entry a projection refuses; nothing is changed then.
    """
    if not isinstance(rule_set, RuleSet):
        raise TypeError(f"rule_set: expected a RuleSet, got {type(rule_set).__name__}")
    keys = KeysProjection()
    keys.authority = AuthorityState()
    projections: list[Projection] = [keys, *rule_set.new_projections()]
    with write_transaction(engine) as connection:
        total = connection.execute(select(ENTRY_TABLE.c.seq).order_by(ENTRY_TABLE.c.seq.desc()))
        last = total.first()
        size = 0 if last is None else last.seq + 1
        if size == 0:
            raise LedgerStateError("the ledger has no entries; nothing to rebuild")
        seq = 0
        while seq < size:
            rows = connection.execute(
                select(ENTRY_TABLE.c.seq, ENTRY_TABLE.c.entry)
                .where(ENTRY_TABLE.c.seq >= seq, ENTRY_TABLE.c.seq < seq + READ_CHUNK)
                .order_by(ENTRY_TABLE.c.seq)
            ).all()
            for row in rows:
                if row.seq != seq:
                    raise RebuildError(f"entry {seq} is missing (next stored: {row.seq})")
                _stage(rule_set, projections, seq, bytes(row.entry))
                seq += 1
            if progress is not None:
                progress(seq, size)
        for projection in projections:
            projection.reset(connection)
        for projection in projections:
            projection.flush(connection, [])
    return RebuildResult(size, tuple(projection.name for projection in projections))


def _stage(rule_set: RuleSet, projections: list[Projection], seq: int, data: bytes) -> None:
    try:
        entry = parse_json(data)
        statement = parse_signed_statement(
            {"statement": entry["statement"], "signature": entry["signature"]}
        )
        stage_all(projections, seq, statement, rule_set.check(statement))
    except (StatementError, AuthorityError, KeyError, TypeError) as error:
        raise RebuildError(f"seq {seq}: {error}") from error
