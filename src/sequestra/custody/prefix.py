"""Custody's read surface restricted to a ledger prefix: what the first `size` entries
recorded, with nothing appended later (a later seizure, forfeiture or correction) showing.

`sequestra.custody.queries` reads the current state; reports must not, or an earlier
report would change as the ledger grows. The statements behind the movements are read
through the ledger's read surface.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from typing import Final

from sqlalchemy import ColumnElement, Connection, and_, or_, select

from sequestra.custody.positions import PREFIX_FUND, fund_account
from sequestra.custody.tables import MOVEMENT_TABLE, POSTING_TABLE
from sequestra.ledger import queries as ledger_queries
from sequestra.ledger.roles import FORFEITURE_ORDERED, SEIZURE_RECORDED
from sequestra.ledger.timefmt import parse_timestamp

VALUATIONS_SCANNED_MAX: Final = 64  # candidates read around a bound (ties within a second)
SEIZURES_READ_MAX: Final = 100_000
FORFEITURES_READ_MAX: Final = 100_000
INDEX_SEIZURES_MAX: Final = 2_000_000  # every seizure a report over a million holdings needs
INDEX_READ_BATCH: Final = 5_000


def _standing(size: int) -> ColumnElement[bool]:
    """Movements recorded before `size` and not reversed by an entry before `size`."""
    return and_(
        MOVEMENT_TABLE.c.seq < size,
        or_(MOVEMENT_TABLE.c.reversed_by.is_(None), MOVEMENT_TABLE.c.reversed_by >= size),
    )


def seizure_dates(
    connection: Connection, size: int, case_ids: list[str], asset_id: str, wallet: str | None
) -> list[datetime]:
    """seized_at of each standing seizure of `asset_id` in these cases (into `wallet` when
    given) among the first `size` entries."""
    if not case_ids:
        return []
    seqs = (
        select(MOVEMENT_TABLE.c.seq)
        .where(
            MOVEMENT_TABLE.c.kind == SEIZURE_RECORDED,
            MOVEMENT_TABLE.c.case_id.in_(case_ids),
            _standing(size),
        )
        .order_by(MOVEMENT_TABLE.c.seq)
        .limit(SEIZURES_READ_MAX)
    )
    found = []
    for _, statement in ledger_queries.stream_statements(connection, seqs):
        body = statement["body"]
        if body["asset"] == asset_id and (wallet is None or body["wallet"] == wallet):
            found.append(parse_timestamp(body["seized_at"], "seized_at"))
    return found


def fund_cases(connection: Connection, size: int, asset_id: str, wallet: str) -> list[str]:
    """Cases whose standing forfeitures among the first `size` entries credited
    `fund/<wallet>` with `asset_id`."""
    return list(
        connection.execute(
            select(MOVEMENT_TABLE.c.case_id)
            .distinct()
            .join(POSTING_TABLE, POSTING_TABLE.c.seq == MOVEMENT_TABLE.c.seq)
            .where(
                POSTING_TABLE.c.account == fund_account(wallet),
                POSTING_TABLE.c.asset_id == asset_id,
                MOVEMENT_TABLE.c.kind == FORFEITURE_ORDERED,
                MOVEMENT_TABLE.c.case_id.is_not(None),
                _standing(size),
            )
            .order_by(MOVEMENT_TABLE.c.case_id)
            .limit(FORFEITURES_READ_MAX)
        ).scalars()
    )


@dataclass
class SeizureIndex:
    """Every standing seizure among the first `size` entries, read once, for reports that
    need the seizure date behind many holdings (`seizure_date` reads per holding)."""

    by_wallet: dict[tuple[str, str, str], list[datetime]]  # (case, asset, wallet)
    by_case: dict[tuple[str, str], list[datetime]]  # (case, asset)
    fund_cases: dict[tuple[str, str], set[str]]  # (Fund wallet, asset) -> forfeited cases

    def date_of(self, case_id: str | None, asset_id: str, wallet: str) -> tuple[str | None, int]:
        """As `seizure_date`: the earliest seizure's date behind a holding, and how many."""
        if case_id is None:
            dates = [
                moment
                for case in sorted(self.fund_cases.get((wallet, asset_id), ()))
                for moment in self.by_case.get((case, asset_id), ())
            ]
        else:
            dates = self.by_wallet.get((case_id, asset_id, wallet), [])
        if not dates:
            return None, 0
        return min(dates).strftime("%Y-%m-%d"), len(dates)


def seizure_index(connection: Connection, size: int) -> SeizureIndex:
    """Read every standing seizure (and forfeiture into the Fund) of the first `size`
    entries. Raises ValueError beyond INDEX_SEIZURES_MAX seizures."""
    index = SeizureIndex(defaultdict(list), defaultdict(list), defaultdict(set))
    seizures = (
        select(MOVEMENT_TABLE.c.seq, MOVEMENT_TABLE.c.case_id)
        .where(MOVEMENT_TABLE.c.kind == SEIZURE_RECORDED, _standing(size))
        .order_by(MOVEMENT_TABLE.c.seq)
        .limit(INDEX_SEIZURES_MAX + 1)
    )
    case_of: dict[int, str] = {seq: case for seq, case in connection.execute(seizures)}
    if len(case_of) > INDEX_SEIZURES_MAX:
        raise ValueError(f"seizures: expected at most {INDEX_SEIZURES_MAX}, got more")
    seqs = select(MOVEMENT_TABLE.c.seq).where(
        MOVEMENT_TABLE.c.kind == SEIZURE_RECORDED, _standing(size)
    )
    for seq, statement in ledger_queries.stream_statements(connection, seqs, INDEX_READ_BATCH):
        case_id = case_of[seq]
        body = statement["body"]
        moment = parse_timestamp(body["seized_at"], "seized_at")
        index.by_wallet[(case_id, body["asset"], body["wallet"])].append(moment)
        index.by_case[(case_id, body["asset"])].append(moment)
    forfeitures = connection.execute(
        select(POSTING_TABLE.c.account, POSTING_TABLE.c.asset_id, MOVEMENT_TABLE.c.case_id)
        .distinct()
        .join(MOVEMENT_TABLE, MOVEMENT_TABLE.c.seq == POSTING_TABLE.c.seq)
        .where(
            POSTING_TABLE.c.account.like(f"{PREFIX_FUND}/%"),
            MOVEMENT_TABLE.c.kind == FORFEITURE_ORDERED,
            MOVEMENT_TABLE.c.case_id.is_not(None),
            _standing(size),
        )
    )
    prefix = len(PREFIX_FUND) + 1
    for account, asset_id, case_id in forfeitures:
        index.fund_cases[(account[prefix:], asset_id)].add(case_id)
    return index


def seizure_date(
    connection: Connection, size: int, case_id: str | None, asset_id: str, wallet: str
) -> tuple[str | None, int]:
    """(date of the earliest seizure behind a holding, number of seizures behind it).

    A case's holding: the seizures of the asset into its wallet in its case. A Fund holding
    (case None): the seizures of the asset in the cases whose forfeitures fed its wallet.
    """
    if case_id is None:
        dates = seizure_dates(
            connection, size, fund_cases(connection, size, asset_id, wallet), asset_id, None
        )
    else:
        dates = seizure_dates(connection, size, [case_id], asset_id, wallet)
    if not dates:
        return None, 0
    return min(dates).strftime("%Y-%m-%d"), len(dates)
