"""Custody's read surface: assets, cases, wallets, holdings, their history and postings, as
frozen views. No module outside `sequestra.custody` reads the custody tables; each view's
`to_json` gives the field names the CLI's `--json`, the API and the pages share.

Every function opens its own read transaction on an `Engine`, or reads inside the caller's
on a `Connection`; none writes.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Any, Final

from sqlalchemy import BigInteger, Connection, Engine, String, case, cast, func, literal, select

from sequestra.custody.amounts import AMOUNT_TEXT_LENGTH, format_base_units
from sequestra.custody.assets import Asset, AssetRegistry
from sequestra.custody.projection import case_record, wallet_record
from sequestra.custody.state import CaseRecord, WalletRecord
from sequestra.custody.tables import (
    ASSET_TABLE,
    CASE_TABLE,
    MOVEMENT_TABLE,
    POSITION_TABLE,
    POSTING_TABLE,
    WALLET_TABLE,
)
from sequestra.ledger import queries as ledger_queries
from sequestra.ledger.db import read_transaction
from sequestra.ledger.roles import SEIZURE_RECORDED

HISTORY_LINES_MAX: Final = 100_000
POSTINGS_BATCH: Final = 10_000


@contextmanager
def _reading(source: Engine | Connection) -> Iterator[Connection]:
    if isinstance(source, Connection):
        yield source
        return
    with read_transaction(source) as connection:
        yield connection


def recorded_assets(source: Engine | Connection) -> list[tuple[Asset, int]]:
    """The assets registered by statement, with the seq that registered each."""
    with _reading(source) as connection:
        rows = connection.execute(select(ASSET_TABLE).order_by(ASSET_TABLE.c.registered_seq))
        return [
            (
                Asset(r.asset_id, r.chain, r.symbol, r.kind, r.contract, r.decimals),
                r.registered_seq,
            )
            for r in rows
        ]


def wallet_networks(source: Engine | Connection) -> dict[str, str]:
    """The network of each chain the ledger has custody wallets on (chain -> network)."""
    table = WALLET_TABLE
    with _reading(source) as connection:
        rows = connection.execute(select(table.c.chain, table.c.network).distinct())
        return {row.chain: row.network for row in rows}


def asset_registry(engine: Engine) -> AssetRegistry:
    """The built-in assets and those the ledger has registered."""
    with read_transaction(engine) as connection:
        recorded = recorded_assets(connection)
    return AssetRegistry.defaults().with_assets(asset for asset, _ in recorded)


@dataclass(frozen=True)
class Holding:
    holding_id: int
    case_id: str | None
    asset: Asset
    wallet: str
    account: str
    amount_base: int
    state: str
    first_seq: int
    last_seq: int

    @property
    def amount(self) -> str:
        return format_base_units(self.amount_base, self.asset.decimals)

    def to_json(self) -> dict[str, Any]:
        return {
            "holding": self.holding_id,
            "case": self.case_id,
            "asset": self.asset.asset_id,
            "symbol": self.asset.symbol,
            "wallet": self.wallet,
            "account": self.account,
            "amount_base": str(self.amount_base),
            "amount": self.amount,
            "state": self.state,
            "first_seq": self.first_seq,
            "last_seq": self.last_seq,
        }


def _holding(row: Any, registry: AssetRegistry) -> Holding:
    return Holding(
        row.holding_id,
        row.case_id,
        registry.get(row.asset_id),
        row.wallet,
        row.account,
        int(row.amount_base),
        row.state,
        row.first_seq,
        row.last_seq,
    )


def list_holdings(
    engine: Engine,
    case_id: str | None = None,
    asset: Asset | None = None,
    include_empty: bool = False,
    fund: bool | None = None,
    offset: int = 0,
    limit: int | None = None,
) -> list[Holding]:
    """Holdings in id order; by default only those holding something.

    `fund` True keeps the State Fund's holdings, False the cases'; None keeps both.
    `offset` and `limit` take a window of them (a page), read as such from the database.
    """
    table = POSITION_TABLE
    query = select(table).where(table.c.holding_id.is_not(None)).order_by(table.c.holding_id)
    if case_id is not None:
        query = query.where(table.c.case_id == case_id)
    if asset is not None:
        query = query.where(table.c.asset_id == asset.asset_id)
    if not include_empty:
        query = query.where(table.c.amount_base != "0")
    if fund is True:
        query = query.where(table.c.case_id.is_(None))
    elif fund is False:
        query = query.where(table.c.case_id.is_not(None))
    if offset or limit is not None:
        query = query.offset(offset).limit(limit)
    with read_transaction(engine) as connection:
        registry = AssetRegistry.defaults().with_assets(a for a, _ in recorded_assets(connection))
        return [_holding(row, registry) for row in connection.execute(query)]


def holdings_before(engine: Engine, seq: int) -> list[Holding]:
    """The holdings that held something just before entry `seq`, from the postings.

    Balances are summed from every posting of an earlier entry; the other fields are the
    holding's current ones (its state may be later than `seq`).
    """
    table = POSITION_TABLE
    with read_transaction(engine) as connection:
        registry = AssetRegistry.defaults().with_assets(a for a, _ in recorded_assets(connection))
        sums: dict[int, int] = {}
        postings = connection.execute(
            select(POSTING_TABLE.c.holding_id, POSTING_TABLE.c.amount_base).where(
                POSTING_TABLE.c.seq < seq, POSTING_TABLE.c.holding_id.is_not(None)
            )
        )
        for holding_id, amount in postings:
            sums[holding_id] = sums.get(holding_id, 0) + int(amount)
        rows = connection.execute(
            select(table).where(table.c.holding_id.is_not(None)).order_by(table.c.holding_id)
        )
        held = []
        for row in rows:
            amount = sums.get(row.holding_id, 0)
            if amount:
                held.append(replace(_holding(row, registry), amount_base=amount))
        return held


def totals_by_asset(holdings: Iterable[Holding]) -> list[tuple[Asset, int]]:
    """The sum of the holdings' amounts per asset, in asset id order."""
    totals: dict[str, tuple[Asset, int]] = {}
    for holding in holdings:
        _, held = totals.get(holding.asset.asset_id, (holding.asset, 0))
        totals[holding.asset.asset_id] = (holding.asset, held + holding.amount_base)
    return [totals[asset_id] for asset_id in sorted(totals)]


def case_json(case: CaseRecord) -> dict[str, Any]:
    return {
        "case": case.case_id,
        "agency": case.agency,
        "legal_basis": case.legal_basis,
        "prosecutor_ref": case.prosecutor_ref,
        "court_ref": case.court_ref,
        "description": case.description,
        "opened_seq": case.opened_seq,
        "opened_at": case.opened_at,
        "status": "open" if case.closed_seq is None else "closed",
        "closed_seq": case.closed_seq,
        "closed_reason": case.closed_reason,
        "holdings_open": case.holdings_open,
    }


def list_cases(
    engine: Engine, open_only: bool = False, offset: int = 0, limit: int | None = None
) -> list[CaseRecord]:
    """Cases in the order they were opened; `offset` and `limit` take a window of them."""
    query = select(CASE_TABLE).order_by(CASE_TABLE.c.opened_seq)
    if open_only:
        query = query.where(CASE_TABLE.c.closed_seq.is_(None))
    if offset or limit is not None:
        query = query.offset(offset).limit(limit)
    with read_transaction(engine) as connection:
        return [case_record(row) for row in connection.execute(query)]


def get_case(engine: Engine, case_id: str) -> CaseRecord | None:
    with read_transaction(engine) as connection:
        row = connection.execute(select(CASE_TABLE).where(CASE_TABLE.c.case_id == case_id)).first()
    return None if row is None else case_record(row)


def wallet_json(wallet: WalletRecord) -> dict[str, Any]:
    return {
        "address": wallet.address,
        "chain": wallet.chain,
        "network": wallet.network,
        "controller": wallet.controller,
        "label": wallet.label,
        "registered_seq": wallet.registered_seq,
    }


def list_wallets(engine: Engine, chain: str | None = None) -> list[WalletRecord]:
    query = select(WALLET_TABLE).order_by(WALLET_TABLE.c.registered_seq)
    if chain is not None:
        query = query.where(WALLET_TABLE.c.chain == chain)
    with read_transaction(engine) as connection:
        return [wallet_record(row) for row in connection.execute(query)]


@dataclass(frozen=True)
class HistoryLine:
    seq: int
    recorded_at: str
    kind: str
    change_base: int
    balance_base: int
    reversed_by: int | None

    def to_json(self, asset: Asset) -> dict[str, Any]:
        sign = "-" if self.change_base < 0 else ""
        return {
            "seq": self.seq,
            "recorded_at": self.recorded_at,
            "kind": self.kind,
            "change_base": str(self.change_base),
            "change": sign + format_base_units(abs(self.change_base), asset.decimals),
            "balance_base": str(self.balance_base),
            "balance": format_base_units(self.balance_base, asset.decimals),
            "reversed_by": self.reversed_by,
        }


def holding_history(engine: Engine, holding_id: int) -> tuple[Holding, list[HistoryLine]] | None:
    """A holding and every posting to it (at most HISTORY_LINES_MAX), oldest first, with
    the balance after each."""
    found = holding_history_page(engine, holding_id, 0, HISTORY_LINES_MAX)
    return None if found is None else (found[0], found[1])


def holding_history_page(
    engine: Engine, holding_id: int, offset: int, limit: int
) -> tuple[Holding, list[HistoryLine], bool] | None:
    """A holding, the `limit` postings to it from `offset` (oldest first) with the balance
    after each, and whether more follow; None when there is no such holding.

    Reads the page's rows only: the balance before the page is one aggregate over the
    postings before it (none for the first page). Raises ValueError on a negative offset
    or a limit outside 1..HISTORY_LINES_MAX.
    """
    if offset < 0 or not 1 <= limit <= HISTORY_LINES_MAX:
        raise ValueError(
            f"history page: expected offset >= 0 and 1 <= limit, got {offset}, {limit}"
        )
    with read_transaction(engine) as connection:
        registry = AssetRegistry.defaults().with_assets(a for a, _ in recorded_assets(connection))
        row = connection.execute(
            select(POSITION_TABLE).where(POSITION_TABLE.c.holding_id == holding_id)
        ).first()
        if row is None:
            return None
        holding = _holding(row, registry)
        rows = connection.execute(
            select(
                POSTING_TABLE.c.seq,
                POSTING_TABLE.c.amount_base,
                MOVEMENT_TABLE.c.kind,
                MOVEMENT_TABLE.c.reversed_by,
            )
            .join(MOVEMENT_TABLE, MOVEMENT_TABLE.c.seq == POSTING_TABLE.c.seq)
            .where(POSTING_TABLE.c.holding_id == holding_id)
            .order_by(POSTING_TABLE.c.seq, POSTING_TABLE.c.idx)
            .offset(offset)
            .limit(limit + 1)
        ).all()
        balance = 0 if offset == 0 or not rows else _balance_before(connection, holding_id, offset)
        shown = rows[:limit]
        recorded = ledger_queries.recorded_at_of(connection, [r.seq for r in shown])
    lines = []
    for r in shown:
        balance += int(r.amount_base)
        lines.append(
            HistoryLine(r.seq, recorded[r.seq], r.kind, int(r.amount_base), balance, r.reversed_by)
        )
    return holding, lines, len(rows) > limit


# Amounts are decimal text (wei exceed 64 bits): the sum is taken in chunks of
# SUM_CHUNK_DIGITS digits, each summed as a 64-bit integer (exact for up to 10**6 postings;
# SQLite raises on overflow rather than round) and joined in Python.
SUM_CHUNK_DIGITS: Final = 12
SUM_WIDTH_DIGITS: Final = -(-AMOUNT_TEXT_LENGTH // SUM_CHUNK_DIGITS) * SUM_CHUNK_DIGITS


def _balance_before(connection: Connection, holding_id: int, count: int) -> int:
    """The exact sum of the holding's first `count` postings, in one aggregate query."""
    earlier = (
        select(POSTING_TABLE.c.amount_base.label("amount"))
        .where(POSTING_TABLE.c.holding_id == holding_id)
        .order_by(POSTING_TABLE.c.seq, POSTING_TABLE.c.idx)
        .limit(count)
        .subquery()
    )
    digits = func.ltrim(earlier.c.amount, "-")
    zeros = literal("0" * SUM_WIDTH_DIGITS, String)
    padded = func.substr(zeros + digits, func.length(digits) + 1, SUM_WIDTH_DIGITS)
    sign = case((func.substr(earlier.c.amount, 1, 1) == "-", -1), else_=1)
    chunks = SUM_WIDTH_DIGITS // SUM_CHUNK_DIGITS
    sums = connection.execute(
        select(
            *(
                func.coalesce(
                    func.sum(
                        sign
                        * cast(
                            func.substr(padded, 1 + k * SUM_CHUNK_DIGITS, SUM_CHUNK_DIGITS),
                            BigInteger,
                        )
                    ),
                    0,
                )
                for k in range(chunks)
            )
        )
    ).one()
    return sum(
        int(total) * 10 ** (SUM_CHUNK_DIGITS * (chunks - 1 - k)) for k, total in enumerate(sums)
    )


LOOKUP_CHUNK: Final = 500  # keys in one IN (...) list


def _chunks(keys: Iterable[str]) -> Iterator[list[str]]:
    ordered = sorted(set(keys))
    for start in range(0, len(ordered), LOOKUP_CHUNK):
        yield ordered[start : start + LOOKUP_CHUNK]


def cases_among(engine: Engine, case_ids: Iterable[str]) -> dict[str, CaseRecord]:
    """The stored cases whose ids are among `case_ids`, by id (unknown ids are absent)."""
    found: dict[str, CaseRecord] = {}
    with read_transaction(engine) as connection:
        for chunk in _chunks(case_ids):
            rows = connection.execute(select(CASE_TABLE).where(CASE_TABLE.c.case_id.in_(chunk)))
            found.update((row.case_id, case_record(row)) for row in rows)
    return found


def wallets_among(engine: Engine, addresses: Iterable[str]) -> dict[str, WalletRecord]:
    """The registered wallets whose (normalised) addresses are among `addresses`."""
    found: dict[str, WalletRecord] = {}
    with read_transaction(engine) as connection:
        for chunk in _chunks(addresses):
            rows = connection.execute(select(WALLET_TABLE).where(WALLET_TABLE.c.address.in_(chunk)))
            found.update((row.address, wallet_record(row)) for row in rows)
    return found


def seizures_of_cases(engine: Engine, case_ids: Iterable[str]) -> Iterator[tuple[int, Any]]:
    """(seq, body) of each seizure of these cases that no correction reversed.

    Reads LOOKUP_CHUNK cases at a time, so memory holds one chunk's seizures.
    """
    for chunk in _chunks(case_ids):
        with read_transaction(engine) as connection:
            seqs = connection.execute(
                select(MOVEMENT_TABLE.c.seq)
                .where(
                    MOVEMENT_TABLE.c.kind == SEIZURE_RECORDED,
                    MOVEMENT_TABLE.c.case_id.in_(chunk),
                    MOVEMENT_TABLE.c.reversed_by.is_(None),
                )
                .order_by(MOVEMENT_TABLE.c.seq)
            ).scalars()
            statements = ledger_queries.entry_statements(connection, list(seqs))
        for seq in sorted(statements):
            yield seq, statements[seq]["body"]


def custody_balances(source: Engine | Connection) -> dict[tuple[str, str], int]:
    """What the ledger says each custody address holds now, per (address, asset id): the
    holdings of cases and of the State Fund summed."""
    table = POSITION_TABLE
    query = select(table.c.wallet, table.c.asset_id, table.c.amount_base).where(
        table.c.holding_id.is_not(None), table.c.amount_base != "0"
    )
    totals: dict[tuple[str, str], int] = {}
    with _reading(source) as connection:
        for wallet, asset_id, amount in connection.execute(query):
            totals[(wallet, asset_id)] = totals.get((wallet, asset_id), 0) + int(amount)
    return totals


def held_asset_ids(source: Engine | Connection) -> set[str]:
    """Every asset the ledger has ever held in custody (a holding of it exists)."""
    query = select(POSITION_TABLE.c.asset_id).where(POSITION_TABLE.c.holding_id.is_not(None))
    with _reading(source) as connection:
        return set(connection.execute(query.distinct()).scalars())


def holding_postings(
    source: Engine | Connection, before_seq: int, batch: int = POSTINGS_BATCH
) -> Iterator[tuple[int, str, int]]:
    """(seq, asset id, amount in base units) of every posting to a holding (case and Fund
    wallets) of an entry before `before_seq`, in ledger order, read `batch` at a time."""
    query = (
        select(POSTING_TABLE.c.seq, POSTING_TABLE.c.asset_id, POSTING_TABLE.c.amount_base)
        .where(POSTING_TABLE.c.holding_id.is_not(None), POSTING_TABLE.c.seq < before_seq)
        .order_by(POSTING_TABLE.c.seq, POSTING_TABLE.c.idx)
    )
    with _reading(source) as connection:
        result = connection.execution_options(yield_per=batch).execute(query)
        for seq, asset_id, amount_base in result:
            yield seq, asset_id, int(amount_base)
