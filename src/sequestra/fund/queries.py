"""The State Fund's read surface: its policy and its sales with their approvals and fills,
as frozen views. No module outside `sequestra.fund` reads the Fund's tables; the statements
and key labels behind a sale come through the ledger's read surface.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, Final

from sqlalchemy import Connection, Engine, select

from sequestra.custody import queries as custody_queries
from sequestra.custody.amounts import format_base_units
from sequestra.custody.assets import Asset, AssetRegistry
from sequestra.custody.service import InputError
from sequestra.fund.sales import OPEN_STATES
from sequestra.fund.tables import APPROVAL_TABLE, EXECUTION_TABLE, POLICY_TABLE, SALE_TABLE
from sequestra.ledger import queries as ledger_queries
from sequestra.ledger.db import read_transaction
from sequestra.ledger.timefmt import parse_timestamp

SALES_LISTED_MAX: Final = 10_000


APPROVALS_READ_MAX: Final = 1_000  # approvals of one sale (each approver approves once)


FILLS_READ_MAX: Final = 100_000  # executions of one sale


STATES: Final = (*OPEN_STATES, "executed", "settled", "rejected", "cancelled")


@dataclass(frozen=True)
class PolicyRecord:
    """The fund policy in force: approval bands, approval validity, licensed venues."""

    seq: int
    recorded_at: str
    bands: tuple[tuple[Decimal, int], ...]  # (up to USD, approvals needed), ascending
    approval_valid_s: int
    venues: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "recorded_at": self.recorded_at,
            "bands": [{"up_to_usd": str(limit), "approvals_min": m} for limit, m in self.bands],
            "approval_valid_s": self.approval_valid_s,
            "venues": list(self.venues),
        }


@dataclass(frozen=True)
class Approval:
    approver: str  # the issuer id of the approver's key
    label: str | None
    seq: int
    issued_at: str

    def valid_until(self, approval_valid_s: int) -> datetime:
        return parse_timestamp(self.issued_at, "issued_at") + timedelta(seconds=approval_valid_s)


@dataclass(frozen=True)
class Fill:
    """One executed tranche of a sale."""

    seq: int
    venue: str
    amount_base: int
    price_usd: Decimal
    fee_usd: Decimal
    executed_at: str
    venue_order_id: str
    deposit_tx: str

    def to_json(self, asset: Asset) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "venue": self.venue,
            "amount_base": str(self.amount_base),
            "amount": format_base_units(self.amount_base, asset.decimals),
            "price_usd": str(self.price_usd),
            "fee_usd": str(self.fee_usd),
            "executed_at": self.executed_at,
            "venue_order_id": self.venue_order_id,
            "deposit_tx": self.deposit_tx,
        }


@dataclass(frozen=True)
class SaleRecord:
    """A sale as the tables hold it, with what its proposal and closing statements said."""

    sale_id: str
    asset: Asset
    wallet: str
    amount_base: int
    venues: tuple[str, ...]
    method: str
    price_floor_usd: Decimal
    approvals_min: int
    proposer: str
    proposer_label: str | None
    proposed_seq: int
    proposed_at: str
    reason: str
    schedule: tuple[tuple[str, int], ...]  # planned tranches (at, amount_base); not enforced
    state: str
    executed_base: int
    closed_seq: int | None
    closing: dict[str, Any] | None  # the body of the statement that closed the sale
    approvals: tuple[Approval, ...] = ()
    fills: tuple[Fill, ...] = ()

    def amount(self, amount_base: int) -> str:
        return format_base_units(amount_base, self.asset.decimals)

    def summary_json(self) -> dict[str, Any]:
        return {
            "sale": self.sale_id,
            "asset": self.asset.asset_id,
            "symbol": self.asset.symbol,
            "wallet": self.wallet,
            "amount_base": str(self.amount_base),
            "amount": self.amount(self.amount_base),
            "executed_base": str(self.executed_base),
            "executed": self.amount(self.executed_base),
            "venues": list(self.venues),
            "method": self.method,
            "price_floor_usd": str(self.price_floor_usd),
            "approvals_min": self.approvals_min,
            "proposer": self.proposer,
            "proposer_label": self.proposer_label,
            "proposed_seq": self.proposed_seq,
            "proposed_at": self.proposed_at,
            "state": self.state,
            "closed_seq": self.closed_seq,
        }


def parse_bands(text: str) -> tuple[tuple[Decimal, int], ...]:
    """The bands as `fund_policy` stores them: "up_to:m,up_to:m"."""
    pairs = (item.split(":") for item in text.split(","))
    return tuple((Decimal(limit), int(m)) for limit, m in pairs)


def current_policy(engine: Engine, size: int | None = None) -> PolicyRecord | None:
    """The fund policy recorded last, or None before the first `fund.policy.recorded`.

    With `size`, the last among the ledger's first `size` entries (seq below `size`): the
    policy in force at the end of that prefix.
    """
    query = select(POLICY_TABLE).order_by(POLICY_TABLE.c.seq.desc()).limit(1)
    if size is not None:
        query = query.where(POLICY_TABLE.c.seq < size)
    with read_transaction(engine) as connection:
        row = connection.execute(query).first()
        if row is None:
            return None
        recorded_at = ledger_queries.recorded_at_of(connection, [row.seq])[row.seq]
    return PolicyRecord(
        row.seq,
        recorded_at,
        parse_bands(row.bands),
        row.approval_valid_s,
        tuple(row.venues.split(",")),
    )


def list_sales(
    engine: Engine, state: str | None = None, *, open_only: bool = False
) -> list[SaleRecord]:
    """Sales in the order they were proposed (at most SALES_LISTED_MAX), without their
    approvals and fills; `state` keeps one state, `open_only` those not closed or executed.

    Raises InputError naming `state` when it is not a sale state.
    """
    query = select(SALE_TABLE).order_by(SALE_TABLE.c.proposed_seq).limit(SALES_LISTED_MAX)
    if state is not None:
        if state not in STATES:
            raise InputError("state", f"one of {', '.join(STATES)}", repr(state)[:80])
        query = query.where(SALE_TABLE.c.state == state)
    if open_only:
        query = query.where(SALE_TABLE.c.state.in_(OPEN_STATES))
    with read_transaction(engine) as connection:
        registry = _registry(connection)
        return [_sale(connection, registry, row) for row in connection.execute(query)]


def get_sale(engine: Engine, sale_id: str) -> SaleRecord | None:
    """One sale with its approvals and fills (oldest first), or None."""
    with read_transaction(engine) as connection:
        row = connection.execute(select(SALE_TABLE).where(SALE_TABLE.c.sale_id == sale_id)).first()
        if row is None:
            return None
        sale = _sale(connection, _registry(connection), row)
        return _with_details(connection, sale)


def _registry(connection: Connection) -> AssetRegistry:
    recorded = custody_queries.recorded_assets(connection)
    return AssetRegistry.defaults().with_assets(asset for asset, _ in recorded)


def _statement(connection: Connection, seq: int | None) -> dict[str, Any] | None:
    """The statement of entry `seq` (kind, issued_at, issuer, body), or None."""
    if seq is None:
        return None
    found = ledger_queries.entry_statements(connection, [seq])
    if seq not in found:
        raise LookupError(f"entry {seq}: not stored")
    return found[seq]


def _labels(connection: Connection, issuers: Sequence[str]) -> dict[str, str]:
    return ledger_queries.key_labels(connection, issuers)


def _sale(connection: Connection, registry: AssetRegistry, row: Any) -> SaleRecord:
    proposal = _statement(connection, row.proposed_seq)
    if proposal is None:  # the proposal's entry is the sale's origin; it cannot be missing
        raise LookupError(f"sale {row.sale_id}: no entry at seq {row.proposed_seq}")
    closing = _statement(connection, row.closed_seq)
    body = proposal["body"]
    return SaleRecord(
        sale_id=row.sale_id,
        asset=registry.get(row.asset_id),
        wallet=row.wallet,
        amount_base=int(row.amount_base),
        venues=tuple(row.venues.split(",")),
        method=row.method,
        price_floor_usd=Decimal(row.price_floor_usd),
        approvals_min=row.approvals_min,
        proposer=row.proposer,
        proposer_label=_labels(connection, [row.proposer]).get(row.proposer),
        proposed_seq=row.proposed_seq,
        proposed_at=proposal["issued_at"],
        reason=body["reason"],
        schedule=tuple((t["at"], int(t["amount_base"])) for t in body.get("schedule", [])),
        state=row.state,
        executed_base=int(row.executed_base),
        closed_seq=row.closed_seq,
        closing=None if closing is None else closing["body"],
    )


def _with_details(connection: Connection, sale: SaleRecord) -> SaleRecord:
    approvals = connection.execute(
        select(APPROVAL_TABLE)
        .where(APPROVAL_TABLE.c.sale_id == sale.sale_id)
        .order_by(APPROVAL_TABLE.c.seq)
        .limit(APPROVALS_READ_MAX)
    ).all()
    labels = _labels(connection, [a.approver for a in approvals])
    fills = connection.execute(
        select(EXECUTION_TABLE)
        .where(EXECUTION_TABLE.c.sale_id == sale.sale_id)
        .order_by(EXECUTION_TABLE.c.seq)
        .limit(FILLS_READ_MAX)
    )
    return replace(
        sale,
        approvals=tuple(
            Approval(a.approver, labels.get(a.approver), a.seq, a.issued_at) for a in approvals
        ),
        fills=tuple(
            Fill(
                f.seq,
                f.venue,
                int(f.amount_base),
                Decimal(f.price_usd),
                Decimal(f.fee_usd),
                f.executed_at,
                f.venue_order_id,
                f.deposit_tx,
            )
            for f in fills
        ),
    )
