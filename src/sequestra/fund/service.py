"""State Fund sales for the CLI and the HTTP API: reading the sale tables, building bodies
from what people type, and the realised result of a sale.

Bodies are built from display amounts converted exactly to base units, money as decimal
strings exactly as typed (never rounded), the Fund's wallet normalised as the custody
service does it. Whether a sale may be proposed, approved, executed or settled is left to
the rules at append (`sequestra.fund.sales`), which refuse with the numbers.

The realised result is computed in `Decimal` at a precision that keeps every product exact;
each money figure is quantised once to 0.01 with ROUND_HALF_EVEN, and differences are taken
between quantised figures so they add up as printed.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from decimal import ROUND_HALF_EVEN, Context, Decimal, localcontext
from typing import Any, Final

from sqlalchemy import Connection, Engine, func, select

from sequestra.custody import service as custody
from sequestra.custody.amounts import format_base_units
from sequestra.custody.assets import Asset, AssetRegistry
from sequestra.custody.positions import fund_account
from sequestra.custody.service import InputError
from sequestra.custody.tables import MOVEMENT_TABLE, POSTING_TABLE
from sequestra.fund.sales import OPEN_STATES
from sequestra.fund.tables import APPROVAL_TABLE, EXECUTION_TABLE, POLICY_TABLE, SALE_TABLE
from sequestra.ledger.canonical import parse_json
from sequestra.ledger.db import read_transaction
from sequestra.ledger.roles import FORFEITURE_ORDERED
from sequestra.ledger.tables import ENTRY_TABLE, KEY_TABLE
from sequestra.ledger.timefmt import format_timestamp, parse_timestamp
from sequestra.pricing.tables import PRICE_TABLE, VALUATION_TABLE

SALES_LISTED_MAX: Final = 10_000
APPROVALS_READ_MAX: Final = 1_000  # approvals of one sale (each approver approves once)
FILLS_READ_MAX: Final = 100_000  # executions of one sale
VALUATIONS_SCANNED_MAX: Final = 64  # candidates read around a bound (ties within a second)
FORFEITURES_READ_MAX: Final = 100_000  # forfeitures that fed one Fund wallet
CENT: Final = Decimal("0.01")
EXACT: Final = Context(prec=200, rounding=ROUND_HALF_EVEN)  # products of bounded figures
MONEY_DECIMALS_MAX: Final = 12
BAND_APPROVALS_MAX: Final = 16
METHODS: Final = ("exchange", "otc", "auction")
STATES: Final = (*OPEN_STATES, "executed", "settled", "rejected", "cancelled")
NOT_VALUED: Final = "not valued"
_MONEY_PATTERN: Final = re.compile(r"(0|[1-9][0-9]{0,20})(\.[0-9]{1,12})?")
_VENUE_PATTERN: Final = re.compile(r"[a-z0-9_-]{1,32}")
_BAND_PATTERN: Final = re.compile(r"([^:]+):([0-9]{1,2})")


# --- records ---------------------------------------------------------------------------------


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


# --- reading ---------------------------------------------------------------------------------


def parse_bands(text: str) -> tuple[tuple[Decimal, int], ...]:
    """The bands as `fund_policy` stores them: "up_to:m,up_to:m"."""
    pairs = (item.split(":") for item in text.split(","))
    return tuple((Decimal(limit), int(m)) for limit, m in pairs)


def current_policy(engine: Engine) -> PolicyRecord | None:
    """The fund policy recorded last, or None before the first `fund.policy.recorded`."""
    with read_transaction(engine) as connection:
        row = connection.execute(
            select(POLICY_TABLE, ENTRY_TABLE.c.recorded_at)
            .join(ENTRY_TABLE, ENTRY_TABLE.c.seq == POLICY_TABLE.c.seq)
            .order_by(POLICY_TABLE.c.seq.desc())
            .limit(1)
        ).first()
    if row is None:
        return None
    return PolicyRecord(
        row.seq,
        row.recorded_at,
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


def require_sale(engine: Engine, sale_id: str, field: str = "sale") -> SaleRecord:
    """The sale with this id; raises InputError naming `field` when there is none."""
    sale = get_sale(engine, sale_id)
    if sale is None:
        raise InputError(field, "a sale proposed with `sequestra sale propose`", repr(sale_id)[:80])
    return sale


def _registry(connection: Connection) -> AssetRegistry:
    recorded = custody.recorded_assets(connection)
    return AssetRegistry.defaults().with_assets(asset for asset, _ in recorded)


def _statement(connection: Connection, seq: int | None) -> dict[str, Any] | None:
    """The statement of entry `seq` (kind, issued_at, issuer, body), or None."""
    if seq is None:
        return None
    entry = connection.execute(
        select(ENTRY_TABLE.c.entry).where(ENTRY_TABLE.c.seq == seq)
    ).scalar_one()
    statement: dict[str, Any] = parse_json(bytes(entry))["statement"]
    return statement


def _labels(connection: Connection, issuers: Sequence[str]) -> dict[str, str]:
    rows = connection.execute(
        select(KEY_TABLE.c.issuer, KEY_TABLE.c.label).where(KEY_TABLE.c.issuer.in_(issuers))
    )
    return {row.issuer: row.label for row in rows}


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


# --- approvals -------------------------------------------------------------------------------


@dataclass(frozen=True)
class ApprovalStatus:
    approval: Approval
    valid_until: datetime
    valid_now: bool

    def to_json(self) -> dict[str, Any]:
        return {
            "approver": self.approval.approver,
            "label": self.approval.label,
            "seq": self.approval.seq,
            "issued_at": self.approval.issued_at,
            "valid_until": format_timestamp(self.valid_until),
            "valid_now": self.valid_now,
        }


def approval_statuses(
    sale: SaleRecord, policy: PolicyRecord | None, now_utc: datetime
) -> list[ApprovalStatus]:
    """Each approval with the end of its validity under the policy in force.

    An execution counts the approvals still valid at its own time (see the rules); without
    a policy nothing is valid.
    """
    valid_s = 0 if policy is None else policy.approval_valid_s
    statuses = []
    for approval in sale.approvals:
        until = approval.valid_until(valid_s)
        statuses.append(ApprovalStatus(approval, until, policy is not None and until >= now_utc))
    return statuses


# --- the realised result ---------------------------------------------------------------------


def to_cents(value: Decimal) -> Decimal:
    """Quantise money to 0.01, ROUND_HALF_EVEN (the one rounding of a sale's figures)."""
    with localcontext(EXACT):
        return value.quantize(CENT, rounding=ROUND_HALF_EVEN)


@dataclass(frozen=True)
class Benchmark:
    """The sold quantity valued at the price of one recorded valuation."""

    seq: int
    cutoff: str
    price_usd: Decimal
    value_usd: Decimal
    difference_usd: Decimal  # proceeds_usd - value_usd
    net_difference_usd: Decimal  # net_proceeds_usd - value_usd

    def to_json(self) -> dict[str, Any]:
        return {
            "status": "valued",
            "seq": self.seq,
            "cutoff": self.cutoff,
            "price_usd": str(self.price_usd),
            "value_usd": str(self.value_usd),
            "difference_usd": str(self.difference_usd),
            "net_difference_usd": str(self.net_difference_usd),
        }


@dataclass(frozen=True)
class RealisedResult:
    """What a sale's fills brought, against the value of the same quantity at the last
    valuation before its last fill and at the date of the seizure behind the holding."""

    sold_base: int
    sold: str
    proceeds_usd: Decimal  # sum of amount x price over the fills
    fees_usd: Decimal
    net_proceeds_usd: Decimal  # proceeds_usd - fees_usd
    average_price_usd: Decimal | None  # proceeds / quantity; None before the first fill
    proceeds_kzt: str | None  # as settled to the budget
    last_valuation: Benchmark | None
    seizure_date: str | None  # the earliest seizure's date (UTC) among those behind it
    seizures: int
    at_seizure: Benchmark | None

    def to_json(self) -> dict[str, Any]:
        not_valued = {"status": NOT_VALUED}
        average = self.average_price_usd
        return {
            "sold_base": str(self.sold_base),
            "sold": self.sold,
            "proceeds_usd": str(self.proceeds_usd),
            "fees_usd": str(self.fees_usd),
            "net_proceeds_usd": str(self.net_proceeds_usd),
            "average_price_usd": None if average is None else str(average),
            "proceeds_kzt": self.proceeds_kzt,
            "last_valuation": self.last_valuation.to_json() if self.last_valuation else not_valued,
            "at_seizure": {
                "date": self.seizure_date,
                "seizures": self.seizures,
                **(self.at_seizure.to_json() if self.at_seizure else not_valued),
            },
        }


@dataclass(frozen=True)
class Proceeds:
    """A sale's fills summed, in cents: proceeds, fees, net, and the average price."""

    sold_base: int
    proceeds_usd: Decimal
    fees_usd: Decimal
    net_proceeds_usd: Decimal
    average_price_usd: Decimal | None


def proceeds(fills: Sequence[Fill], decimals: int) -> Proceeds:
    """Sum the fills exactly, then quantise each figure once (see `to_cents`)."""
    with localcontext(EXACT):
        sold_base = sum(fill.amount_base for fill in fills)
        gross = sum(
            (Decimal(f.amount_base).scaleb(-decimals) * f.price_usd for f in fills), Decimal(0)
        )
        fees = sum((fill.fee_usd for fill in fills), Decimal(0))
        average = None if sold_base == 0 else gross / Decimal(sold_base).scaleb(-decimals)
    proceeds_usd, fees_usd = to_cents(gross), to_cents(fees)
    return Proceeds(
        sold_base,
        proceeds_usd,
        fees_usd,
        proceeds_usd - fees_usd,
        None if average is None else to_cents(average),
    )


def benchmark(
    figures: Proceeds, decimals: int, seq: int, cutoff: str, price_usd: Decimal
) -> Benchmark:
    """The sold quantity at `price_usd`, and what the sale brought beyond it."""
    with localcontext(EXACT):
        value = to_cents(Decimal(figures.sold_base).scaleb(-decimals) * price_usd)
    return Benchmark(
        seq,
        cutoff,
        price_usd,
        value,
        figures.proceeds_usd - value,
        figures.net_proceeds_usd - value,
    )


def realised_result(engine: Engine, sale: SaleRecord) -> RealisedResult:
    """The sale's realised result (from `get_sale`, fills included).

    Last fair value: the valuation with the latest cutoff at or before the sale's last fill
    (any cutoff before the first fill) that priced the asset; a figure of a settled sale does
    not move with later valuations. Seizure-date value: the latest valuation whose cutoff
    falls on the date of the earliest seizure of the asset in the cases whose forfeitures fed
    the sale's Fund wallet. Either is None ("not valued") when no such valuation exists.
    """
    decimals = sale.asset.decimals
    figures = proceeds(sale.fills, decimals)
    last_fill = max((parse_timestamp(f.executed_at) for f in sale.fills), default=None)
    seizure_date, seizures = seizure_date_of(engine, sale.asset.asset_id, sale.wallet)
    with read_transaction(engine) as connection:
        last = valuation_price(connection, sale.asset.asset_id, at_most=last_fill)
        at_seizure = (
            None
            if seizure_date is None
            else valuation_price(connection, sale.asset.asset_id, on_date=seizure_date)
        )
    settled = sale.closing if sale.state == "settled" else None
    return RealisedResult(
        sold_base=figures.sold_base,
        sold=sale.amount(figures.sold_base),
        proceeds_usd=figures.proceeds_usd,
        fees_usd=figures.fees_usd,
        net_proceeds_usd=figures.net_proceeds_usd,
        average_price_usd=figures.average_price_usd,
        proceeds_kzt=None if settled is None else settled["proceeds_kzt"],
        last_valuation=None if last is None else benchmark(figures, decimals, *last),
        seizure_date=seizure_date,
        seizures=seizures,
        at_seizure=None if at_seizure is None else benchmark(figures, decimals, *at_seizure),
    )


def valuation_price(
    connection: Connection,
    asset_id: str,
    at_most: datetime | None = None,
    on_date: str | None = None,
    size: int | None = None,
) -> tuple[int, str, Decimal] | None:
    """(seq, cutoff, price) of the valuation with the latest cutoff that priced the asset,
    at or before `at_most` and on `on_date` (YYYY-MM-DD) when given, among the ledger's
    first `size` entries when given (a report of a prefix).

    Cutoffs are compared as instants: text order is right to the second only (a fraction is
    optional), so the candidates of the latest second are read and compared parsed.
    """
    cutoff = VALUATION_TABLE.c.cutoff
    query = (
        select(PRICE_TABLE.c.seq, cutoff, PRICE_TABLE.c.price_usd)
        .join(VALUATION_TABLE, VALUATION_TABLE.c.seq == PRICE_TABLE.c.seq)
        .where(PRICE_TABLE.c.asset_id == asset_id)
        .order_by(cutoff.desc(), PRICE_TABLE.c.seq.desc())
        .limit(VALUATIONS_SCANNED_MAX)
    )
    if size is not None:
        query = query.where(PRICE_TABLE.c.seq < size)
    if at_most is not None:
        query = query.where(func.substr(cutoff, 1, 19) <= at_most.strftime("%Y-%m-%dT%H:%M:%S"))
    if on_date is not None:
        query = query.where(func.substr(cutoff, 1, 10) == on_date)
    candidates = [
        (parse_timestamp(row.cutoff, "cutoff"), row.seq, row.cutoff, Decimal(row.price_usd))
        for row in connection.execute(query)
    ]
    eligible = [c for c in candidates if at_most is None or c[0] <= at_most]
    if not eligible:
        return None
    _, seq, text, price = max(eligible)
    return seq, text, price


def seizure_date_of(engine: Engine, asset_id: str, wallet: str) -> tuple[str | None, int]:
    """The date (UTC) of the earliest seizure behind a Fund wallet's holding of an asset, and
    how many seizures lie behind it.

    Behind it: the seizures of the asset, not reversed, in the cases whose forfeitures (not
    reversed) credited `fund/<wallet>`. A holding that came by a transfer between Fund
    wallets has none: (None, 0).
    """
    with read_transaction(engine) as connection:
        case_ids = (
            connection.execute(
                select(MOVEMENT_TABLE.c.case_id)
                .distinct()
                .join(POSTING_TABLE, POSTING_TABLE.c.seq == MOVEMENT_TABLE.c.seq)
                .where(
                    POSTING_TABLE.c.account == fund_account(wallet),
                    POSTING_TABLE.c.asset_id == asset_id,
                    MOVEMENT_TABLE.c.kind == FORFEITURE_ORDERED,
                    MOVEMENT_TABLE.c.reversed_by.is_(None),
                    MOVEMENT_TABLE.c.case_id.is_not(None),
                )
                .limit(FORFEITURES_READ_MAX)
            )
            .scalars()
            .all()
        )
    seized = [
        parse_timestamp(body["seized_at"], "seized_at")
        for _, body in custody.seizures_of_cases(engine, case_ids)
        if body["asset"] == asset_id
    ]
    if not seized:
        return None, 0
    return min(seized).strftime("%Y-%m-%d"), len(seized)


def sale_json(
    sale: SaleRecord,
    result: RealisedResult,
    statuses: list[ApprovalStatus],
) -> dict[str, Any]:
    """A sale as `sale show --json` and the API give it: the sale, its approvals with their
    validity, its fills and its realised result."""
    return {
        **sale.summary_json(),
        "reason": sale.reason,
        "schedule": [
            {"at": at, "amount_base": str(base), "amount": sale.amount(base)}
            for at, base in sale.schedule
        ],
        "closing": sale.closing,
        "approvals": [status.to_json() for status in statuses],
        "approvals_valid_now": sum(1 for status in statuses if status.valid_now),
        "fills": [fill.to_json(sale.asset) for fill in sale.fills],
        "result": result.to_json(),
    }


def sale_detail_json(engine: Engine, sale: SaleRecord, now_utc: datetime) -> dict[str, Any]:
    """`sale_json` of a sale (from `get_sale`), its approvals judged at `now_utc` under the
    policy in force."""
    statuses = approval_statuses(sale, current_policy(engine), now_utc)
    return sale_json(sale, realised_result(engine, sale), statuses)


# --- building bodies from what people type ---------------------------------------------------


def money(text: str, field: str) -> str:
    """A money figure as typed (60000, 12.50): digits, at most 12 decimals, kept as typed.

    Raises InputError naming `field` for a sign, a separator, an exponent or more decimals.
    """
    if not isinstance(text, str) or not _MONEY_PATTERN.fullmatch(text):
        raise InputError(
            field,
            f"a decimal figure such as 60000 or 12.50 (digits, at most {MONEY_DECIMALS_MAX}"
            " decimals, no sign or separators)",
            repr(text)[:80],
        )
    return text


def venue(text: str, field: str) -> str:
    """A venue id (binance, kraken): lower case letters, digits, _ and -."""
    lowered = text.lower() if isinstance(text, str) else text
    if not isinstance(lowered, str) or not _VENUE_PATTERN.fullmatch(lowered):
        raise InputError(field, "a venue id such as binance (a-z, 0-9, _, -)", repr(text)[:80])
    return lowered


def band(text: str, field: str) -> dict[str, Any]:
    """An approval band as typed, UP_TO_USD:APPROVALS (100000:1)."""
    match = _BAND_PATTERN.fullmatch(text)
    if match is None or not 1 <= int(match.group(2)) <= BAND_APPROVALS_MAX:
        raise InputError(
            field,
            f"UP_TO_USD:APPROVALS such as 100000:1 (1 to {BAND_APPROVALS_MAX} approvals)",
            repr(text)[:80],
        )
    return {"up_to_usd": money(match.group(1), field), "approvals_min": int(match.group(2))}


def policy_body(
    bands: Sequence[str], approval_valid_s: int, venues: Sequence[str]
) -> dict[str, Any]:
    """A `fund.policy.recorded` body; bands ascending is a rule checked at append."""
    return {
        "bands": [band(text, f"bands[{index}]") for index, text in enumerate(bands)],
        "approval_valid_s": approval_valid_s,
        "venues": [venue(text, f"venues[{index}]") for index, text in enumerate(venues)],
    }


@dataclass(frozen=True)
class ProposalInput:
    """A sale proposal as typed; the amount in the asset's unit, the floor in USD."""

    sale_id: str
    asset: str
    amount: str
    wallet: str
    venues: tuple[str, ...]
    method: str
    price_floor_usd: str
    reason: str
    schedule: tuple[tuple[datetime, str], ...] = ()  # planned tranches (at, amount)


def proposal_body(engine: Engine, proposal: ProposalInput) -> dict[str, Any]:
    """A `sale.proposed` body. Raises InputError naming the field typed wrong."""
    asset = custody.resolve_asset(custody.asset_registry(engine), proposal.asset)
    wallet = custody.find_wallet(engine, proposal.wallet, "wallet")
    if wallet.chain != asset.chain:
        raise InputError(
            "wallet", f"a {asset.chain} custody wallet for {asset.symbol}", wallet.address
        )
    if proposal.method not in METHODS:
        raise InputError("method", f"one of {', '.join(METHODS)}", repr(proposal.method)[:80])
    body: dict[str, Any] = {
        "sale": proposal.sale_id,
        "asset": asset.asset_id,
        "wallet": wallet.address,
        "amount_base": str(custody.amount_base(asset, proposal.amount)),
        "venues": [venue(text, f"venues[{i}]") for i, text in enumerate(proposal.venues)],
        "method": proposal.method,
        "price_floor_usd": money(proposal.price_floor_usd, "price_floor_usd"),
        "reason": proposal.reason,
    }
    if proposal.schedule:
        body["schedule"] = [
            {
                "at": format_timestamp(at),
                "amount_base": str(custody.amount_base(asset, amount, f"schedule[{i}]")),
            }
            for i, (at, amount) in enumerate(proposal.schedule)
        ]
    return body


def decision_body(sale_id: str, note: str) -> dict[str, Any]:
    """A `sale.approved`, `sale.rejected` or `sale.cancelled` body."""
    return {"sale": sale_id, "note": note}


@dataclass(frozen=True)
class ExecutionInput:
    """One tranche as typed: the amount in the sale's asset unit, price and fee in USD."""

    sale_id: str
    venue: str
    amount: str
    price_usd: str
    fee_usd: str
    executed_at: datetime
    venue_order_id: str
    deposit_tx: str


def execution_body(engine: Engine, execution: ExecutionInput) -> dict[str, Any]:
    """A `sale.executed` body; the sale names the asset. Raises InputError naming the field."""
    sale = require_sale(engine, execution.sale_id)
    asset = sale.asset
    return {
        "sale": sale.sale_id,
        "venue": venue(execution.venue, "venue"),
        "amount_base": str(custody.amount_base(asset, execution.amount)),
        "price_usd": money(execution.price_usd, "price_usd"),
        "fee_usd": money(execution.fee_usd, "fee_usd"),
        "executed_at": format_timestamp(execution.executed_at),
        "venue_order_id": execution.venue_order_id,
        "deposit_tx": custody.tx_hash(asset.chain, execution.deposit_tx, "deposit_tx"),
    }


def settlement_body(
    sale_id: str, proceeds_kzt: str, budget_account: str, payment_ref: str, settled_at: datetime
) -> dict[str, Any]:
    """A `sale.settled` body: the proceeds paid to the budget account, by payment order."""
    return {
        "sale": sale_id,
        "proceeds_kzt": money(proceeds_kzt, "proceeds_kzt"),
        "budget_account": budget_account,
        "payment_ref": payment_ref,
        "settled_at": format_timestamp(settled_at),
    }
