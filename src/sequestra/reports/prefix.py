"""Read models restricted to a ledger prefix: what the first `size` entries recorded, with
nothing appended later (a later valuation, seizure, forfeiture or correction) showing.

The service functions read the current state; reports must not, or an earlier report
would change as the ledger grows.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_HALF_EVEN, Context, Decimal, localcontext
from typing import Final

import orjson
from sqlalchemy import ColumnElement, Connection, and_, or_, select

from sequestra.custody.positions import PREFIX_FUND, fund_account
from sequestra.custody.tables import MOVEMENT_TABLE, POSTING_TABLE
from sequestra.ledger.canonical import parse_json
from sequestra.ledger.roles import FORFEITURE_ORDERED, SEIZURE_RECORDED
from sequestra.ledger.tables import ENTRY_TABLE
from sequestra.ledger.timefmt import parse_timestamp

CENT: Final = Decimal("0.01")
EXACT: Final = Context(prec=200, rounding=ROUND_HALF_EVEN)
VALUATIONS_SCANNED_MAX: Final = 64  # candidates read around a bound (ties within a second)
SEIZURES_READ_MAX: Final = 100_000
FORFEITURES_READ_MAX: Final = 100_000
INDEX_SEIZURES_MAX: Final = 2_000_000  # every seizure a report over a million holdings needs
INDEX_READ_BATCH: Final = 5_000


def value_cents(quantity: Decimal, price_usd: Decimal) -> Decimal:
    """quantity x price, exact, quantised once to 0.01 ROUND_HALF_EVEN."""
    with localcontext(EXACT):
        return (quantity * price_usd).quantize(CENT, rounding=ROUND_HALF_EVEN)


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
    rows = connection.execute(
        select(ENTRY_TABLE.c.entry)
        .join(MOVEMENT_TABLE, MOVEMENT_TABLE.c.seq == ENTRY_TABLE.c.seq)
        .where(
            MOVEMENT_TABLE.c.kind == SEIZURE_RECORDED,
            MOVEMENT_TABLE.c.case_id.in_(case_ids),
            _standing(size),
        )
        .order_by(ENTRY_TABLE.c.seq)
        .limit(SEIZURES_READ_MAX)
    )
    found = []
    for (data,) in rows:
        body = parse_json(bytes(data))["statement"]["body"]
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
    rows = connection.execution_options(yield_per=INDEX_READ_BATCH).execute(
        select(MOVEMENT_TABLE.c.case_id, ENTRY_TABLE.c.entry)
        .join(ENTRY_TABLE, ENTRY_TABLE.c.seq == MOVEMENT_TABLE.c.seq)
        .where(MOVEMENT_TABLE.c.kind == SEIZURE_RECORDED, _standing(size))
        .order_by(MOVEMENT_TABLE.c.seq)
        .limit(INDEX_SEIZURES_MAX + 1)
    )
    for count, (case_id, data) in enumerate(rows, 1):
        if count > INDEX_SEIZURES_MAX:
            raise ValueError(f"seizures: expected at most {INDEX_SEIZURES_MAX}, got more")
        body = orjson.loads(bytes(data))["statement"]["body"]
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
