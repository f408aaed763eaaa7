"""State Fund sales for the CLI and the HTTP API: building bodies from what people type, and
the realised result of a sale (reads: `sequestra.fund.queries`).

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
from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_HALF_EVEN, Context, Decimal, localcontext
from typing import Any, Final

from sqlalchemy import Engine

from sequestra.custody import queries as custody_queries
from sequestra.custody import service as custody
from sequestra.custody.prefix import seizure_date
from sequestra.custody.service import InputError
from sequestra.fund.queries import (
    Approval,
    Fill,
    PolicyRecord,
    SaleRecord,
    current_policy,
    get_sale,
)
from sequestra.ledger import queries as ledger_queries
from sequestra.ledger.db import read_transaction
from sequestra.ledger.timefmt import format_timestamp, parse_timestamp
from sequestra.pricing.queries import price_at

VALUATIONS_SCANNED_MAX: Final = 64  # candidates read around a bound (ties within a second)
FORFEITURES_READ_MAX: Final = 100_000  # forfeitures that fed one Fund wallet
CENT: Final = Decimal("0.01")
EXACT: Final = Context(prec=200, rounding=ROUND_HALF_EVEN)  # products of bounded figures
MONEY_DECIMALS_MAX: Final = 12
BAND_APPROVALS_MAX: Final = 16
METHODS: Final = ("exchange", "otc", "auction")
NOT_VALUED: Final = "not valued"
_MONEY_PATTERN: Final = re.compile(r"(0|[1-9][0-9]{0,20})(\.[0-9]{1,12})?")
_VENUE_PATTERN: Final = re.compile(r"[a-z0-9_-]{1,32}")
_BAND_PATTERN: Final = re.compile(r"([^:]+):([0-9]{1,2})")


# --- records ---------------------------------------------------------------------------------


# --- reading ---------------------------------------------------------------------------------


def require_sale(engine: Engine, sale_id: str, field: str = "sale") -> SaleRecord:
    """The sale with this id; raises InputError naming `field` when there is none."""
    sale = get_sale(engine, sale_id)
    if sale is None:
        raise InputError(field, "a sale proposed with `sequestra sale propose`", repr(sale_id)[:80])
    return sale


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
        last = price_at(connection, sale.asset.asset_id, at_most=last_fill)
        at_seizure = (
            None
            if seizure_date is None
            else price_at(connection, sale.asset.asset_id, on_date=seizure_date)
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


def seizure_date_of(engine: Engine, asset_id: str, wallet: str) -> tuple[str | None, int]:
    """The date (UTC) of the earliest seizure behind a Fund wallet's holding of an asset, and
    how many seizures lie behind it (`custody.prefix.seizure_date` over the whole ledger).

    Behind it: the seizures of the asset, not reversed, in the cases whose forfeitures (not
    reversed) credited `fund/<wallet>`. A holding that came by a transfer between Fund
    wallets has none: (None, 0).
    """
    with read_transaction(engine) as connection:
        size = ledger_queries.head(connection).size
        return seizure_date(connection, size, None, asset_id, wallet)


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
    asset = custody.resolve_asset(custody_queries.asset_registry(engine), proposal.asset)
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
