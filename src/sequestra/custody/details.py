"""When custody movements happened and the evidence they name, read from their statements.

A movement's entry is recorded when it is appended; the statement's body says when the
movement itself happened (a seizure's `seized_at`, a transfer's `transferred_at`, a
forfeiture's court decision date) and which evidence documents (by SHA-256) back it. These
views put the two times side by side for the CLI, the API and the pages.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Final

from sqlalchemy import Connection, Engine, select

from sequestra.custody.amounts import format_base_units
from sequestra.custody.assets import AssetRegistry
from sequestra.custody.queries import HistoryLine, Holding, recorded_assets
from sequestra.custody.tables import MOVEMENT_TABLE
from sequestra.ledger import queries as ledger_queries
from sequestra.ledger.db import read_transaction
from sequestra.ledger.roles import SEIZURE_RECORDED

# The field of each movement's body that says when it happened (as against when its entry
# was recorded): a seizure's seized_at, a transfer's transferred_at, and so on. A forfeiture
# names the date of the court's decision.
HAPPENED_AT_FIELDS: Final = (
    "seized_at",
    "transferred_at",
    "released_at",
    "executed_at",
    "settled_at",
)
SEIZURES_SHOWN_MAX: Final = 1_000  # seizures of one case listed beside it


@dataclass(frozen=True)
class MovementDetail:
    """What a movement's statement says beyond its postings: when it happened (the body's
    own time, `happened_field` names which) and the evidence documents it names."""

    seq: int
    happened_at: str | None
    happened_field: str | None
    evidence: tuple[dict[str, str], ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "happened_at": self.happened_at,
            "happened_field": self.happened_field,
            "evidence": [dict(item) for item in self.evidence],
        }


def _detail(seq: int, body: dict[str, Any]) -> MovementDetail:
    happened_at = happened_field = None
    for name in HAPPENED_AT_FIELDS:
        if isinstance(body.get(name), str):
            happened_at, happened_field = body[name], name
            break
    else:
        order = body.get("order")
        if isinstance(order, dict) and isinstance(order.get("date"), str):
            happened_at, happened_field = order["date"], "order.date"
    evidence = tuple(
        {"sha256": str(item.get("sha256", "")), "name": str(item.get("name", ""))}
        for item in body.get("evidence") or ()
        if isinstance(item, dict)
    )
    return MovementDetail(seq, happened_at, happened_field, evidence)


def movement_details(source: Engine | Connection, seqs: Iterable[int]) -> dict[int, MovementDetail]:
    """When each movement of `seqs` happened and the evidence it names, read from its
    statement's body; entries not stored are left out. Reads the statements of `seqs` only
    (the caller bounds them: a page of history)."""
    statements = ledger_queries.entry_statements(source, seqs)
    return {seq: _detail(seq, statement["body"]) for seq, statement in statements.items()}


@dataclass(frozen=True)
class SeizureLine:
    """One seizure of a case: when it happened, when it was recorded, what and its evidence."""

    seq: int
    seized_at: str
    recorded_at: str
    asset_id: str
    amount: str
    wallet: str
    evidence: tuple[dict[str, str], ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "seized_at": self.seized_at,
            "recorded_at": self.recorded_at,
            "asset": self.asset_id,
            "amount": self.amount,
            "wallet": self.wallet,
            "evidence": [dict(item) for item in self.evidence],
        }


def case_seizures(engine: Engine, case_id: str) -> list[SeizureLine]:
    """The case's seizures no correction reversed (the first SEIZURES_SHOWN_MAX), in seq order,
    each with the time it happened beside the time its entry was recorded."""
    with read_transaction(engine) as connection:
        registry = AssetRegistry.defaults().with_assets(a for a, _ in recorded_assets(connection))
        seqs = list(
            connection.execute(
                select(MOVEMENT_TABLE.c.seq)
                .where(
                    MOVEMENT_TABLE.c.kind == SEIZURE_RECORDED,
                    MOVEMENT_TABLE.c.case_id == case_id,
                    MOVEMENT_TABLE.c.reversed_by.is_(None),
                )
                .order_by(MOVEMENT_TABLE.c.seq)
                .limit(SEIZURES_SHOWN_MAX)
            ).scalars()
        )
        statements = ledger_queries.entry_statements(connection, seqs)
        recorded = ledger_queries.recorded_at_of(connection, seqs)
    lines = []
    for seq in seqs:
        body = statements[seq]["body"]
        asset = registry.get(body["asset"])
        lines.append(
            SeizureLine(
                seq,
                body["seized_at"],
                recorded[seq],
                asset.asset_id,
                format_base_units(int(body["amount_base"]), asset.decimals),
                body["wallet"],
                _detail(seq, body).evidence,
            )
        )
    return lines


def history_json(
    source: Engine | Connection, holding: Holding, lines: Sequence[HistoryLine]
) -> list[dict[str, Any]]:
    """A page of a holding's history as the CLI's `--json`, the API and the pages show it:
    each posting with when its movement happened and the evidence it names."""
    details = movement_details(source, {line.seq for line in lines})
    empty = MovementDetail(0, None, None, ())
    return [
        {**line.to_json(holding.asset), **details.get(line.seq, empty).to_json()} for line in lines
    ]
