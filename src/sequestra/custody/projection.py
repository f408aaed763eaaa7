"""The custody projection: `CustodyState` kept in the custody tables, in the append's
transaction.

On append it loads only what the batch refers to (bulk queries for the cases, wallets and
accounts named in the bodies, then one query per miss), stages each statement through the
rules and writes what changed. On verify and rebuild it replays every entry in memory.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any, Final, Protocol

from sqlalchemy import Connection, Table, bindparam, delete, func, insert, select, update

from sequestra.custody.assets import BTC, ETH, Asset
from sequestra.custody.positions import (
    ACCOUNT_NETWORK_FEES,
    ACCOUNT_RELEASED,
    PREFIX_EXTERNAL,
    Posting,
    case_wallet_account,
    fund_account,
)
from sequestra.custody.state import (
    CUSTODY_KINDS,
    OPERATIONS_ACCOUNT,
    CaseRecord,
    CustodyState,
    MovementRecord,
    PositionRecord,
    WalletRecord,
)
from sequestra.custody.tables import (
    ASSET_TABLE,
    CASE_TABLE,
    MOVEMENT_TABLE,
    POSITION_TABLE,
    POSTING_TABLE,
    TABLES,
    WALLET_TABLE,
)
from sequestra.ledger.authority import AuthorityState
from sequestra.ledger.entry import Entry
from sequestra.ledger.kinds import BodyModel
from sequestra.ledger.projection import Row
from sequestra.ledger.statement import SignedStatement

QUERY_CHUNK: Final = 500  # keys in one IN (...) list
INSERT_CHUNK: Final = 5_000  # rows in one executemany
_NONE: Final = "\x00"  # how a NULL reads in compared rows (no text column holds it)


def case_record(row: Any) -> CaseRecord:
    """A `custody_case` row as the record the rules use."""
    return CaseRecord(
        row.case_id,
        row.agency,
        row.legal_basis,
        row.prosecutor_ref,
        row.court_ref,
        row.description,
        row.opened_seq,
        row.opened_at,
        row.closed_seq,
        row.closed_reason,
        row.holdings_open,
    )


def wallet_record(row: Any) -> WalletRecord:
    """A `custody_wallet` row as the record the rules use."""
    return WalletRecord(
        row.address, row.chain, row.network, row.controller, row.label, row.registered_seq
    )


def _position(row: Any) -> tuple[PositionRecord, int]:
    record = PositionRecord(
        row.asset_id,
        row.account,
        row.holding_id,
        row.case_id,
        row.wallet,
        row.state,
        row.first_seq,
        row.last_seq,
    )
    return record, int(row.amount_base)


def _chunks(items: Sequence[Any], size: int = QUERY_CHUNK) -> Iterable[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


class DatabaseLoader:
    """Reads custody records from the projection's tables, inside the append transaction."""

    def __init__(self, connection: Connection) -> None:
        self.connection = connection

    def case(self, case_id: str) -> CaseRecord | None:
        row = self.connection.execute(
            select(CASE_TABLE).where(CASE_TABLE.c.case_id == case_id)
        ).first()
        return None if row is None else case_record(row)

    def wallet(self, address: str) -> WalletRecord | None:
        row = self.connection.execute(
            select(WALLET_TABLE).where(WALLET_TABLE.c.address == address)
        ).first()
        return None if row is None else wallet_record(row)

    def positions(self, keys: Sequence[tuple[str, str]]) -> list[tuple[PositionRecord, int]]:
        wanted = set(keys)
        accounts = sorted({account for _, account in keys})
        found: list[tuple[PositionRecord, int]] = []
        for chunk in _chunks(accounts):
            rows = self.connection.execute(
                select(POSITION_TABLE).where(POSITION_TABLE.c.account.in_(chunk))
            )
            found.extend(_position(r) for r in rows if (r.asset_id, r.account) in wanted)
        return found

    def movement(self, seq: int) -> MovementRecord | None:
        row = self.connection.execute(
            select(MOVEMENT_TABLE).where(MOVEMENT_TABLE.c.seq == seq)
        ).first()
        if row is None:
            return None
        postings = self.connection.execute(
            select(POSTING_TABLE).where(POSTING_TABLE.c.seq == seq).order_by(POSTING_TABLE.c.idx)
        )
        return MovementRecord(
            row.seq,
            row.kind,
            row.case_id,
            tuple(Posting(p.asset_id, p.account, int(p.amount_base)) for p in postings),
            row.reversed_by,
        )

    def open_holdings(self, case_id: str) -> list[tuple[PositionRecord, int]]:
        rows = self.connection.execute(
            select(POSITION_TABLE).where(POSITION_TABLE.c.case_id == case_id)
        )
        return [item for item in map(_position, rows) if item[1] > 0]

    # --- bulk prefetch ---------------------------------------------------------------------

    def prefetch(self, state: CustodyState, statements: Sequence[SignedStatement]) -> None:
        """Load in bulk the cases, wallets and positions the batch's bodies name."""
        cases: set[str] = set()
        wallets: set[str] = set()
        positions: set[tuple[str, str]] = set()
        for statement in statements:
            if statement.kind in CUSTODY_KINDS:
                _collect(statement.body, cases, wallets, positions)
        for chunk in _chunks(sorted(cases - state.cases.keys())):
            found = {
                row.case_id: case_record(row)
                for row in self.connection.execute(
                    select(CASE_TABLE).where(CASE_TABLE.c.case_id.in_(chunk))
                )
            }
            state.cases.update({case_id: found.get(case_id) for case_id in chunk})
        for chunk in _chunks(sorted(wallets - state.wallets.keys())):
            found_wallets = {
                row.address: wallet_record(row)
                for row in self.connection.execute(
                    select(WALLET_TABLE).where(WALLET_TABLE.c.address.in_(chunk))
                )
            }
            state.wallets.update({address: found_wallets.get(address) for address in chunk})
        for native in (BTC, ETH):  # fees are paid in the chain's native asset
            positions.add((native.asset_id, ACCOUNT_NETWORK_FEES))
            positions.add((native.asset_id, OPERATIONS_ACCOUNT))
        state.load_positions(positions)


def _collect(
    body: Any, cases: set[str], wallets: set[str], positions: set[tuple[str, str]]
) -> None:
    """Gather the keys a (not yet validated) body names; anything odd is left to the rules."""
    if not isinstance(body, dict):
        return
    case, asset = body.get("case"), body.get("asset")
    if isinstance(case, str):
        cases.add(case)
        if isinstance(asset, str):
            positions.add((asset, f"{PREFIX_EXTERNAL}/seized/{case}"))
    if isinstance(asset, str):
        positions.add((asset, ACCOUNT_RELEASED))
        positions.add((asset, ACCOUNT_NETWORK_FEES))
    for field in ("wallet", "address", "from", "to"):
        wallet = body.get(field)
        if isinstance(wallet, str):
            wallets.add(wallet)
            if isinstance(case, str) and isinstance(asset, str) and field != "address":
                try:
                    positions.add((asset, case_wallet_account(case, wallet)))
                except ValueError:
                    continue
    items = body.get("holdings")
    if isinstance(case, str) and isinstance(items, list):
        for item in items:
            if isinstance(item, dict) and isinstance(item.get("wallet"), str):
                wallet, asset = item["wallet"], item.get("asset")
                wallets.add(wallet)
                if isinstance(asset, str):
                    try:
                        positions.add((asset, case_wallet_account(case, wallet)))
                        positions.add((asset, fund_account(wallet)))
                    except ValueError:
                        continue


# --- rows, as verify compares them -----------------------------------------------------------


def _text(value: Any) -> str:
    return _NONE if value is None else str(value)


def _tagged(table: Table, values: Sequence[Any]) -> Row:
    return (table.name, *map(_text, values))


def _asset_values(asset: Asset, seq: int) -> dict[str, Any]:
    return {
        "asset_id": asset.asset_id,
        "chain": asset.chain,
        "symbol": asset.symbol,
        "kind": asset.kind,
        "contract": asset.contract,
        "decimals": asset.decimals,
        "registered_seq": seq,
    }


def _case_values(case: CaseRecord) -> dict[str, Any]:
    return {
        "case_id": case.case_id,
        "agency": case.agency,
        "legal_basis": case.legal_basis,
        "prosecutor_ref": case.prosecutor_ref,
        "court_ref": case.court_ref,
        "description": case.description,
        "opened_seq": case.opened_seq,
        "opened_at": case.opened_at,
        "closed_seq": case.closed_seq,
        "closed_reason": case.closed_reason,
        "holdings_open": case.holdings_open,
    }


def _wallet_values(wallet: WalletRecord) -> dict[str, Any]:
    return {
        "address": wallet.address,
        "chain": wallet.chain,
        "network": wallet.network,
        "controller": wallet.controller,
        "label": wallet.label,
        "registered_seq": wallet.registered_seq,
    }


def _position_values(record: PositionRecord, amount_base: int) -> dict[str, Any]:
    return {
        "asset_id": record.asset_id,
        "account": record.account,
        "amount_base": str(amount_base),
        "holding_id": record.holding_id,
        "case_id": record.case_id,
        "wallet": record.wallet,
        "state": record.state,
        "first_seq": record.first_seq,
        "last_seq": record.last_seq,
    }


def _movement_values(movement: MovementRecord) -> dict[str, Any]:
    return {
        "seq": movement.seq,
        "kind": movement.kind,
        "case_id": movement.case_id,
        "reversed_by": movement.reversed_by,
    }


def _ordered(table: Table, values: dict[str, Any]) -> Row:
    return _tagged(table, [values[column.name] for column in table.columns])


class Extension(Protocol):
    """Rules and tables that build on the custody state (the State Fund's sales).

    An extension stages its own kinds after the custody rules have seen the statement, with
    the custody state at hand (balances, `move`), and keeps its own tables. `connection` is
    None when everything is replayed in memory (verify, rebuild).
    """

    name: str
    kinds: frozenset[str]

    def load(self, connection: Connection | None) -> None: ...

    def stage(
        self, seq: int, statement: SignedStatement, body: BodyModel, state: CustodyState
    ) -> None: ...

    def flush(self, connection: Connection) -> None: ...

    def rows(self) -> list[Row]: ...

    def stored_rows(self, connection: Connection) -> list[Row]: ...

    def reset(self, connection: Connection) -> None: ...


ExtensionFactory = Callable[[], Extension]


class CustodyProjection:
    """Cases, wallets, assets, positions (holdings), movements and postings, and the
    extensions that build on them (the composition passes the State Fund's sales)."""

    name = "custody"

    def __init__(self, extensions: Sequence[ExtensionFactory] = ()) -> None:
        self.state = CustodyState()
        self.extensions = [factory() for factory in extensions]
        self.kinds = CUSTODY_KINDS.union(*(extension.kinds for extension in self.extensions))
        for extension in self.extensions:
            extension.load(None)

    def load(
        self,
        connection: Connection,
        authority: AuthorityState,
        statements: Sequence[SignedStatement],
    ) -> None:
        if not any(statement.kind in self.kinds for statement in statements):
            self.state = CustodyState()
            return
        assets = [
            (Asset(r.asset_id, r.chain, r.symbol, r.kind, r.contract, r.decimals), r.registered_seq)
            for r in connection.execute(select(ASSET_TABLE).order_by(ASSET_TABLE.c.registered_seq))
        ]
        networks = {
            row.chain: row.network
            for row in connection.execute(
                select(WALLET_TABLE.c.chain, WALLET_TABLE.c.network).distinct()
            )
        }
        last_id = connection.execute(select(func.max(POSITION_TABLE.c.holding_id))).scalar()
        loader = DatabaseLoader(connection)
        self.state = CustodyState(loader, assets, networks, (last_id or 0) + 1)
        loader.prefetch(self.state, statements)
        for extension in self.extensions:
            extension.load(connection)

    def stage(self, seq: int, statement: SignedStatement, body: BodyModel) -> None:
        self.state.apply(seq, statement, body)
        for extension in self.extensions:
            if statement.kind in extension.kinds:
                extension.stage(seq, statement, body, self.state)

    def flush(self, connection: Connection, entries: Sequence[Entry]) -> None:
        state = self.state
        _insert(
            connection,
            ASSET_TABLE,
            [_asset_values(*state.registered[asset_id]) for asset_id in state.new_assets],
        )
        _insert(
            connection,
            WALLET_TABLE,
            [_wallet_values(w) for address in state.new_wallets if (w := state.wallets[address])],
        )
        cases = [c for case_id in sorted(state.dirty_cases) if (c := state.cases[case_id])]
        stored_cases = _existing(connection, CASE_TABLE, "case_id", [c.case_id for c in cases])
        _upsert(
            connection, CASE_TABLE, ("case_id",), stored_cases, [_case_values(c) for c in cases]
        )
        positions = [state.positions[key] for key in sorted(state.dirty_positions)]
        _upsert(
            connection,
            POSITION_TABLE,
            ("asset_id", "account"),
            state.stored_positions,
            [_position_values(r, state.book.balance(r.asset_id, r.account)) for r in positions],
        )
        movements = [m for seq in sorted(state.dirty_movements) if (m := state.movements[seq])]
        stored_movements = _existing(connection, MOVEMENT_TABLE, "seq", [m.seq for m in movements])
        _upsert(
            connection,
            MOVEMENT_TABLE,
            ("seq",),
            stored_movements,
            [_movement_values(m) for m in movements],
        )
        _insert(
            connection,
            POSTING_TABLE,
            [
                {
                    "seq": p.seq,
                    "idx": p.idx,
                    "asset_id": p.asset_id,
                    "account": p.account,
                    "amount_base": str(p.amount_base),
                    "holding_id": p.holding_id,
                }
                for p in state.postings
            ],
        )
        for extension in self.extensions:
            extension.flush(connection)

    def rows(self) -> list[Row]:
        state = self.state
        rows = [_ordered(ASSET_TABLE, _asset_values(a, s)) for a, s in state.registered.values()]
        rows += [_ordered(CASE_TABLE, _case_values(c)) for c in state.cases.values() if c]
        rows += [_ordered(WALLET_TABLE, _wallet_values(w)) for w in state.wallets.values() if w]
        rows += [
            _ordered(POSITION_TABLE, _position_values(r, a)) for r, a in state.iter_positions()
        ]
        rows += [
            _ordered(MOVEMENT_TABLE, _movement_values(m)) for m in state.movements.values() if m
        ]
        rows += [
            _tagged(
                POSTING_TABLE, (p.seq, p.idx, p.asset_id, p.account, p.amount_base, p.holding_id)
            )
            for p in state.postings
        ]
        for extension in self.extensions:
            rows += extension.rows()
        return sorted(rows)

    def stored_rows(self, connection: Connection) -> list[Row]:
        rows: list[Row] = []
        for table in TABLES:
            rows.extend(_tagged(table, tuple(row)) for row in connection.execute(select(table)))
        for extension in self.extensions:
            rows += extension.stored_rows(connection)
        return sorted(rows)

    def reset(self, connection: Connection) -> None:
        for extension in self.extensions:
            extension.reset(connection)
        for table in reversed(TABLES):
            connection.execute(delete(table))


def _existing(connection: Connection, table: Table, column: str, keys: Sequence[Any]) -> set[Any]:
    found: set[Any] = set()
    for chunk in _chunks(list(keys)):
        found.update(
            connection.execute(select(table.c[column]).where(table.c[column].in_(chunk))).scalars()
        )
    return found


def _insert(connection: Connection, table: Table, rows: Sequence[dict[str, Any]]) -> None:
    for chunk in _chunks(rows, INSERT_CHUNK):
        connection.execute(insert(table), list(chunk))


def _upsert(
    connection: Connection,
    table: Table,
    key: tuple[str, ...],
    stored: set[Any],
    rows: Sequence[dict[str, Any]],
) -> None:
    """Insert the rows whose key is not in `stored`; update the others in place."""

    def key_of(row: dict[str, Any]) -> Any:
        return row[key[0]] if len(key) == 1 else tuple(row[name] for name in key)

    new = [row for row in rows if key_of(row) not in stored]
    changed = [row for row in rows if key_of(row) in stored]
    _insert(connection, table, new)
    if changed:
        condition = [table.c[name] == bindparam(f"k_{name}") for name in key]
        statement = (
            update(table)
            .where(*condition)
            .values({name: bindparam(f"v_{name}") for name in changed[0] if name not in key})
        )
        params = [
            {
                **{f"k_{n}": row[n] for n in key},
                **{f"v_{n}": v for n, v in row.items() if n not in key},
            }
            for row in changed
        ]
        for chunk in _chunks(params, INSERT_CHUNK):
            connection.execute(statement, list(chunk))
