"""The State Fund's sale workflow: its rules at append, its tables, its replay.

A custody extension (see `sequestra.custody.projection.Extension`): it sees the custody
state, so a sale is checked against the Fund's real balance, and an execution is a custody
movement (`fund/<wallet>` -> `sold`). Refused with the numbers: selling more than the Fund's
free quantity (its balance minus what open sales still may sell), a fill beyond the approved
quantity, a price under the floor, a venue not licensed (by the policy in force at the
execution) or not named by the sale, an execution without enough valid approvals, an
approval by the proposer or twice by one approver.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal, localcontext
from functools import partial
from typing import Any, Final

from sqlalchemy import Connection, delete, insert, select

from sequestra.custody.kinds import CustodyTransferredBody
from sequestra.custody.positions import ACCOUNT_SOLD, Posting, fund_account
from sequestra.custody.state import CustodyState
from sequestra.fund import kinds as schemas
from sequestra.fund.kinds import BODY_SCHEMAS
from sequestra.fund.tables import (
    APPROVAL_TABLE,
    EMERGENCY_TABLE,
    EXECUTION_TABLE,
    POLICY_TABLE,
    SALE_TABLE,
    TABLES,
)
from sequestra.ledger.errors import StatementError
from sequestra.ledger.kinds import BodyModel, body_as
from sequestra.ledger.projection import Row
from sequestra.ledger.roles import (
    CUSTODY_TRANSFERRED,
    FUND_EMERGENCY_RAISED,
    FUND_POLICY_RECORDED,
    SALE_APPROVED,
    SALE_CANCELLED,
    SALE_EXECUTED,
    SALE_PROPOSED,
    SALE_REJECTED,
    SALE_SETTLED,
)
from sequestra.ledger.statement import SignedStatement
from sequestra.ledger.timefmt import format_timestamp, parse_timestamp

FUND_KINDS: Final = frozenset(BODY_SCHEMAS)
OPEN_STATES: Final = ("proposed", "approved", "executing")
EXACT_DIGITS: Final = 160
_NONE: Final = "\x00"


@dataclass(frozen=True)
class Policy:
    seq: int
    bands: tuple[tuple[Decimal, int], ...]  # (up to USD, approvals needed), ascending
    approval_valid_s: int
    venues: tuple[str, ...]

    def approvals_for(self, value_usd: Decimal) -> int | None:
        return next((m for limit, m in self.bands if value_usd <= limit), None)


@dataclass
class Sale:
    sale_id: str
    asset_id: str
    wallet: str
    amount_base: int
    venues: tuple[str, ...]
    method: str
    price_floor_usd: Decimal
    approvals_min: int
    proposer: str
    proposed_seq: int
    state: str = "proposed"
    executed_base: int = 0
    proceeds_usd: Decimal = Decimal(0)
    fees_usd: Decimal = Decimal(0)
    closed_seq: int | None = None
    proceeds_kzt: str | None = None
    payment_ref: str | None = None
    approvals: dict[str, tuple[int, str]] = field(default_factory=dict)  # issuer: (seq, at)

    def values(self) -> dict[str, Any]:
        return {
            "sale_id": self.sale_id,
            "asset_id": self.asset_id,
            "wallet": self.wallet,
            "amount_base": str(self.amount_base),
            "venues": ",".join(self.venues),
            "method": self.method,
            "price_floor_usd": str(self.price_floor_usd),
            "approvals_min": self.approvals_min,
            "proposer": self.proposer,
            "proposed_seq": self.proposed_seq,
            "state": self.state,
            "executed_base": str(self.executed_base),
            "proceeds_usd": str(self.proceeds_usd),
            "fees_usd": str(self.fees_usd),
            "closed_seq": self.closed_seq,
            "proceeds_kzt": self.proceeds_kzt,
            "payment_ref": self.payment_ref,
        }


def _refuse(field_name: str, expected: str, got: str) -> StatementError:
    return StatementError(f"{field_name}: expected {expected}, got {got}")


def _text(value: Any) -> str:
    return _NONE if value is None else str(value)


class SalesExtension:
    """The sale workflow over the custody state."""

    name = "fund"
    # A Fund transfer is watched too: it may not take what open sales have reserved.
    kinds = FUND_KINDS | {CUSTODY_TRANSFERRED}

    def __init__(self) -> None:
        self.load(None)

    def load(self, connection: Connection | None) -> None:
        self.connection = connection
        self.policy: Policy | None = None
        self.policies: list[dict[str, Any]] = []
        self.sales: dict[str, Sale | None] = {}
        self.dirty: set[str] = set()
        self.new_approvals: list[dict[str, Any]] = []
        self.executions: list[dict[str, Any]] = []
        self.all_approvals: list[dict[str, Any]] = []  # replay only (verify, rebuild)
        self.emergencies: list[dict[str, Any]] = []
        self.emergency_keys: set[tuple[str, str, int]] = set()
        if connection is not None:
            row = connection.execute(
                select(POLICY_TABLE).order_by(POLICY_TABLE.c.seq.desc()).limit(1)
            ).first()
            if row is not None:
                self.policy = _policy_from_row(row)

    # --- lookups ------------------------------------------------------------------------

    def _sale(self, sale_id: str) -> Sale | None:
        if sale_id not in self.sales and self.connection is not None:
            self.sales[sale_id] = _read_sale(self.connection, sale_id)
        return self.sales.get(sale_id)

    def _open_sales(self, asset_id: str, wallet: str) -> list[Sale]:
        if self.connection is not None:
            ids = self.connection.execute(
                select(SALE_TABLE.c.sale_id).where(
                    SALE_TABLE.c.asset_id == asset_id,
                    SALE_TABLE.c.wallet == wallet,
                    SALE_TABLE.c.state.in_(OPEN_STATES),
                )
            ).scalars()
            for sale_id in ids:
                self._sale(sale_id)
        return [
            s
            for s in self.sales.values()
            if s and (s.asset_id, s.wallet) == (asset_id, wallet) and s.state in OPEN_STATES
        ]

    # --- rules ----------------------------------------------------------------------------

    def stage(
        self, seq: int, statement: SignedStatement, body: BodyModel, state: CustodyState
    ) -> None:
        kind = statement.kind
        if kind == CUSTODY_TRANSFERRED:
            moved = body_as(kind, body, CustodyTransferredBody)
            if moved.case is None:  # a move between the Fund's wallets, already applied
                self._guard_reserved(moved.asset, moved.from_wallet, state)
            return
        if kind == FUND_POLICY_RECORDED:
            self._policy(seq, body_as(kind, body, schemas.FundPolicyBody))
        elif kind == SALE_PROPOSED:
            proposed = body_as(kind, body, schemas.SaleProposedBody)
            self._proposed(seq, statement.issuer, proposed, state)
        elif kind == SALE_APPROVED:
            self._approved(seq, statement, body_as(kind, body, schemas.SaleDecisionBody))
        elif kind in (SALE_REJECTED, SALE_CANCELLED):
            self._closed(seq, kind, body_as(kind, body, schemas.SaleDecisionBody))
        elif kind == SALE_EXECUTED:
            executed = body_as(kind, body, schemas.SaleExecutedBody)
            self._executed(seq, statement, executed, state)
        elif kind == SALE_SETTLED:
            self._settled(seq, statement, body_as(kind, body, schemas.SaleSettledBody))
        elif kind == FUND_EMERGENCY_RAISED:
            self._emergency(seq, body_as(kind, body, schemas.EmergencyRaisedBody))

    def _emergency(self, seq: int, body: schemas.EmergencyRaisedBody) -> None:
        key = (body.asset, body.wallet, body.reference_seq)
        known = key in self.emergency_keys
        if not known and self.connection is not None:
            known = (
                self.connection.execute(
                    select(EMERGENCY_TABLE.c.seq).where(
                        EMERGENCY_TABLE.c.asset_id == body.asset,
                        EMERGENCY_TABLE.c.wallet == body.wallet,
                        EMERGENCY_TABLE.c.reference_seq == body.reference_seq,
                    )
                ).first()
                is not None
            )
        if known:
            raise _refuse(
                "reference_seq",
                "a holding and reference valuation not alerted before",
                f"{body.asset} in {body.wallet} from seq {body.reference_seq}",
            )
        if Decimal(body.drop) < Decimal(body.threshold):
            raise _refuse("drop", f"at least the threshold {body.threshold}", body.drop)
        self.emergency_keys.add(key)
        self.emergencies.append(
            {
                "seq": seq,
                "asset_id": body.asset,
                "wallet": body.wallet,
                "reference_seq": body.reference_seq,
                "valuation_seq": body.valuation_seq,
                "drop": body.drop,
                "message": body.message,
            }
        )

    def _guard_reserved(self, asset_id: str, wallet: str, state: CustodyState) -> None:
        """Refuse a Fund transfer that leaves less in a wallet than its open sales may sell."""
        reserved = sum(s.amount_base - s.executed_base for s in self._open_sales(asset_id, wallet))
        left = state.book.balance(asset_id, fund_account(wallet))
        if left < reserved:
            raise _refuse(
                "amount_base",
                f"a transfer leaving at least {state.display(asset_id, reserved)} in {wallet}"
                " (what its open sales may still sell)",
                f"{state.display(asset_id, left)} left",
            )

    def _policy(self, seq: int, body: schemas.FundPolicyBody) -> None:
        bands = tuple((Decimal(b.up_to_usd), b.approvals_min) for b in body.bands)
        if list(bands) != sorted(bands) or len({limit for limit, _ in bands}) != len(bands):
            raise _refuse("bands", "ascending, distinct up_to_usd limits", str(body.bands)[:200])
        needed = [m for _, m in bands]
        if needed != sorted(needed):
            raise _refuse(
                "bands", "at least as many approvals for a larger band", str(needed)[:200]
            )
        self.policy = Policy(seq, bands, body.approval_valid_s, tuple(body.venues))
        self.policies.append(_policy_values(self.policy))

    def _proposed(
        self, seq: int, issuer: str, body: schemas.SaleProposedBody, state: CustodyState
    ) -> None:
        if self._sale(body.sale) is not None:
            raise _refuse("sale", "a sale id not used before", repr(body.sale))
        policy = self.policy
        if policy is None:
            raise _refuse("sale", "a fund policy recorded first (fund.policy.recorded)", "none")
        for index, venue in enumerate(body.venues):
            if venue not in policy.venues:
                raise _refuse(
                    f"venues[{index}]", f"a licensed venue ({', '.join(policy.venues)})", venue
                )
        asset = state.asset(body.asset)
        amount = int(body.amount_base)
        if amount <= 0:
            raise _refuse("amount_base", "an amount greater than zero", body.amount_base)
        account = fund_account(body.wallet)
        state.load_positions([(asset.asset_id, account)])
        held = state.book.balance(asset.asset_id, account)
        pending = sum(
            s.amount_base - s.executed_base for s in self._open_sales(asset.asset_id, body.wallet)
        )
        if amount > held - pending:
            raise _refuse(
                "amount_base",
                f"at most {state.display(asset.asset_id, max(held - pending, 0))} (the Fund holds"
                f" {state.display(asset.asset_id, held)} in {body.wallet}, open sales may still"
                f" sell {state.display(asset.asset_id, pending)})",
                f"{state.display(asset.asset_id, amount)} ({amount} base units)",
            )
        floor = Decimal(body.price_floor_usd)
        with localcontext() as context:
            context.prec = EXACT_DIGITS  # a uint256 times a price, exactly
            value = Decimal(amount).scaleb(-asset.decimals) * floor
        needed = policy.approvals_for(value)
        if needed is None:
            raise _refuse(
                "amount_base",
                f"a sale worth at most USD {policy.bands[-1][0]} at the floor (the largest band)",
                f"USD {value}",
            )
        sale = Sale(
            body.sale,
            asset.asset_id,
            body.wallet,
            amount,
            tuple(body.venues),
            body.method,
            floor,
            needed,
            issuer,
            seq,
        )
        self.sales[sale.sale_id] = sale
        self.dirty.add(sale.sale_id)

    def _require(self, sale_id: str, states: Sequence[str]) -> Sale:
        sale = self._sale(sale_id)
        if sale is None:
            raise _refuse("sale", "a proposed sale", repr(sale_id))
        if sale.state not in states:
            raise _refuse(
                "sale", f"a sale that is {' or '.join(states)}", f"{sale_id!r}, {sale.state}"
            )
        return sale

    def _approved(
        self, seq: int, statement: SignedStatement, body: schemas.SaleDecisionBody
    ) -> None:
        sale = self._require(body.sale, ("proposed", "approved", "executing"))
        issuer = statement.issuer
        if issuer == sale.proposer:
            raise _refuse("issuer", "an approver other than the proposer", "the proposer")
        if issuer in sale.approvals:
            raise _refuse(
                "issuer",
                "an approver who has not approved this sale",
                f"an approval already at seq {sale.approvals[issuer][0]}",
            )
        at = format_timestamp(statement.issued_at)
        sale.approvals[issuer] = (seq, at)
        record = {"sale_id": sale.sale_id, "approver": issuer, "seq": seq, "issued_at": at}
        self.new_approvals.append(record)
        self.all_approvals.append(record)
        if sale.state == "proposed" and len(sale.approvals) >= sale.approvals_min:
            sale.state = "approved"
        self.dirty.add(sale.sale_id)

    def _closed(self, seq: int, kind: str, body: schemas.SaleDecisionBody) -> None:
        allowed = ("proposed", "approved") if kind == SALE_REJECTED else OPEN_STATES
        sale = self._require(body.sale, allowed)
        sale.state = "rejected" if kind == SALE_REJECTED else "cancelled"
        sale.closed_seq = seq
        self.dirty.add(sale.sale_id)

    def _valid_approvals(self, sale: Sale, at: datetime) -> int:
        if self.policy is None:
            return 0
        window = timedelta(seconds=self.policy.approval_valid_s)
        return sum(
            1 for _, issued in sale.approvals.values() if parse_timestamp(issued) + window >= at
        )

    def _executed(
        self,
        seq: int,
        statement: SignedStatement,
        body: schemas.SaleExecutedBody,
        state: CustodyState,
    ) -> None:
        sale = self._require(body.sale, ("approved", "executing"))
        if parse_timestamp(body.executed_at, "executed_at") > statement.issued_at:
            raise _refuse(
                "executed_at", "a time no later than the statement's issued_at", body.executed_at
            )
        valid = self._valid_approvals(sale, statement.issued_at)
        if valid < sale.approvals_min:
            raise _refuse(
                "sale",
                f"{sale.approvals_min} valid approval(s) (valid"
                f" {self.policy.approval_valid_s if self.policy else 0} s)",
                f"{valid} of {len(sale.approvals)} still valid",
            )
        licensed = self.policy.venues if self.policy else ()
        if body.venue not in licensed or body.venue not in sale.venues:
            raise _refuse(
                "venue",
                f"a venue both licensed now ({', '.join(licensed)}) and named by the"
                f" sale ({', '.join(sale.venues)})",
                body.venue,
            )
        price = Decimal(body.price_usd)
        if price < sale.price_floor_usd:
            raise _refuse(
                "price_usd", f"at least the floor USD {sale.price_floor_usd}", f"USD {price}"
            )
        amount = int(body.amount_base)
        if amount <= 0 or sale.executed_base + amount > sale.amount_base:
            left = sale.amount_base - sale.executed_base
            shown = partial(state.display, sale.asset_id)
            raise _refuse(
                "amount_base",
                f"at most {shown(left)}, what is left of the sale (approved"
                f" {shown(sale.amount_base)}, sold {shown(sale.executed_base)})",
                f"{shown(amount)} ({amount} base units)",
            )
        postings = [
            Posting(sale.asset_id, fund_account(sale.wallet), -amount),
            Posting(sale.asset_id, ACCOUNT_SOLD, amount),
        ]
        state.move(seq, SALE_EXECUTED, None, postings, "amount_base")
        decimals = state.asset(sale.asset_id).decimals
        sale.executed_base += amount
        with localcontext() as context:
            context.prec = EXACT_DIGITS
            sale.proceeds_usd += Decimal(amount).scaleb(-decimals) * price
        sale.fees_usd += Decimal(body.fee_usd)
        sale.state = "executed" if sale.executed_base == sale.amount_base else "executing"
        self.dirty.add(sale.sale_id)
        self.executions.append(
            {
                "seq": seq,
                "sale_id": sale.sale_id,
                "venue": body.venue,
                "amount_base": str(amount),
                "price_usd": body.price_usd,
                "fee_usd": body.fee_usd,
                "executed_at": body.executed_at,
                "venue_order_id": body.venue_order_id,
                "deposit_tx": body.deposit_tx,
            }
        )

    def _settled(self, seq: int, statement: SignedStatement, body: schemas.SaleSettledBody) -> None:
        if parse_timestamp(body.settled_at, "settled_at") > statement.issued_at:
            raise _refuse(
                "settled_at", "a time no later than the statement's issued_at", body.settled_at
            )
        sale = self._require(body.sale, ("executed", "cancelled"))
        if sale.executed_base == 0:
            raise _refuse("sale", "a sale with at least one execution", f"{sale.sale_id!r}, none")
        sale.state = "settled"
        sale.closed_seq = seq
        sale.proceeds_kzt = body.proceeds_kzt
        sale.payment_ref = body.payment_ref
        self.dirty.add(sale.sale_id)

    # --- tables ---------------------------------------------------------------------------

    def flush(self, connection: Connection) -> None:
        if self.policies:
            connection.execute(insert(POLICY_TABLE), self.policies)
        sales = [s for sale_id in sorted(self.dirty) if (s := self.sales.get(sale_id))]
        if sales:
            connection.execute(
                delete(SALE_TABLE).where(SALE_TABLE.c.sale_id.in_([s.sale_id for s in sales]))
            )
            connection.execute(insert(SALE_TABLE), [s.values() for s in sales])
        if self.new_approvals:
            connection.execute(insert(APPROVAL_TABLE), self.new_approvals)
        if self.executions:
            connection.execute(insert(EXECUTION_TABLE), self.executions)
        if self.emergencies:
            connection.execute(insert(EMERGENCY_TABLE), self.emergencies)

    def rows(self) -> list[Row]:
        rows: list[Row] = [("fund_policy", *map(_text, p.values())) for p in self.policies]
        rows += [("fund_sale", *map(_text, s.values().values())) for s in self.sales.values() if s]
        rows += [("fund_approval", *map(_text, a.values())) for a in self.all_approvals]
        rows += [("fund_execution", *map(_text, e.values())) for e in self.executions]
        rows += [("fund_emergency", *map(_text, e.values())) for e in self.emergencies]
        return rows

    def stored_rows(self, connection: Connection) -> list[Row]:
        rows: list[Row] = []
        for table in TABLES:
            rows.extend((table.name, *map(_text, r)) for r in connection.execute(select(table)))
        return rows

    def reset(self, connection: Connection) -> None:
        for table in reversed(TABLES):
            connection.execute(delete(table))


def _policy_values(policy: Policy) -> dict[str, Any]:
    return {
        "seq": policy.seq,
        "bands": ",".join(f"{limit}:{m}" for limit, m in policy.bands),
        "approval_valid_s": policy.approval_valid_s,
        "venues": ",".join(policy.venues),
    }


def _policy_from_row(row: Any) -> Policy:
    bands = tuple(
        (Decimal(limit), int(m)) for limit, m in (item.split(":") for item in row.bands.split(","))
    )
    return Policy(row.seq, bands, row.approval_valid_s, tuple(row.venues.split(",")))


def _read_sale(connection: Connection, sale_id: str) -> Sale | None:
    row = connection.execute(select(SALE_TABLE).where(SALE_TABLE.c.sale_id == sale_id)).first()
    if row is None:
        return None
    approvals = {
        a.approver: (a.seq, a.issued_at)
        for a in connection.execute(
            select(APPROVAL_TABLE).where(APPROVAL_TABLE.c.sale_id == sale_id)
        )
    }
    return Sale(
        row.sale_id,
        row.asset_id,
        row.wallet,
        int(row.amount_base),
        tuple(row.venues.split(",")),
        row.method,
        Decimal(row.price_floor_usd),
        row.approvals_min,
        row.proposer,
        row.proposed_seq,
        row.state,
        int(row.executed_base),
        Decimal(row.proceeds_usd),
        Decimal(row.fees_usd),
        row.closed_seq,
        row.proceeds_kzt,
        row.payment_ref,
        approvals,
    )
