"""The State Fund part of `sequestra-sandbox demo`: part of a forfeited holding sold through the
sale workflow, with the same service functions the `sale` and `fund policy` commands use.

The admin records a fund policy; the treasury officer proposes selling a quarter of the
Fund's most valuable holding (valued with high confidence by the demo's latest valuation),
with a floor a few percent under that valuation's price; the example approver approves; the
officer records two tranches on licensed venues at prices near the valuation and settles the
net proceeds to a budget account at the valuation's (stated sandbox) USD/KZT rate. Venue
orders and deposit transactions are sandbox references: nothing is sold anywhere.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_DOWN, Decimal
from typing import Any, Final

from sqlalchemy import Engine

from sequestra.cli.common import console
from sequestra.composition import application
from sequestra.custody import queries as custody_queries
from sequestra.custody import service as custody
from sequestra.custody.amounts import format_base_units
from sequestra.custody.assets import Asset
from sequestra.custody.queries import Holding
from sequestra.fund import service
from sequestra.fund.bounds import FundInputError
from sequestra.fund.planning import plan_sale
from sequestra.fund.report import FundReportError
from sequestra.ledger.keys import SigningKey
from sequestra.ledger.roles import (
    FUND_POLICY_RECORDED,
    SALE_APPROVED,
    SALE_EXECUTED,
    SALE_PROPOSED,
    SALE_SETTLED,
)
from sequestra.pricing.run import ValuationResult

RULES = application().rules

SALE_ID: Final = "SF-DEMO-001"
BANDS: Final = ("250000:1", "10000000:2")  # USD at the floor: one approver, then two
SINGLE_APPROVAL_USD_MAX: Final = Decimal(250_000)
APPROVAL_VALID_S: Final = 86_400
VENUES: Final = ("binance", "kraken")
SALE_SHARE: Final = Decimal("0.25")  # of the chosen holding, rounded down to
AMOUNT_DECIMALS: Final = 2  # 0.01 of the asset's unit
FLOOR_DISCOUNT: Final = Decimal("0.05")  # the floor: 5% under the valuation's price
# (share of the sale, None for the rest; venue; price as a multiple of the valuation's)
TRANCHES: Final = (
    (Decimal("0.6"), "binance", Decimal("1.0025")),
    (None, "kraken", Decimal("0.998")),
)
FEE_RATE: Final = Decimal("0.001")  # the venue's fee, of a tranche's value
BUDGET_ACCOUNT: Final = "KZ00 0000 0000 0000 0000 (sandbox budget account)"
PAYMENT_REF: Final = "PP-DEMO-001"


class FundDemoError(RuntimeError):
    """The demo's ledger holds nothing the Fund could sell at a recorded price."""


@dataclass(frozen=True)
class FundDemo:
    policy_seq: int
    seqs: dict[str, int]
    shown: dict[str, Any]  # as `sale show --json` prints it
    plan: dict[str, Any]  # as `sale plan --json` prints it, or why there is none

    def to_json(self) -> dict[str, Any]:
        return {
            "policy_seq": self.policy_seq,
            "seqs": self.seqs,
            "sale": self.shown,
            "plan": self.plan,
        }


def run_fund_demo(
    engine: Engine,
    admin: SigningKey,
    officer: SigningKey,
    approver: SigningKey,
    valuation: ValuationResult,
    now: datetime,
) -> FundDemo:
    """Record the policy and one sale from proposal to settlement; return what it shows.

    Precondition: `valuation` is the demo's latest, recorded before `now`; the keys are
    enrolled as admin, treasury-officer and approver.
    Raises FundDemoError when no Fund holding has a high-confidence price, AppendRefused
    when the ledger refuses a statement.
    """
    holding, price = _choose(engine, valuation)
    asset = holding.asset
    floor = (price * (1 - FLOOR_DISCOUNT)).quantize(Decimal("0.01"), ROUND_DOWN)
    cap_base = int(SINGLE_APPROVAL_USD_MAX / floor * 10**asset.decimals)
    step_base = 10 ** max(asset.decimals - AMOUNT_DECIMALS, 0)  # a round amount to sell
    amount_base = min(int(holding.amount_base * SALE_SHARE), cap_base) // step_base * step_base
    plan = _plan(engine, asset, amount_base)
    policy = service.policy_body(BANDS, APPROVAL_VALID_S, VENUES)
    (policy_receipt,) = custody.record(engine, RULES, admin, [(FUND_POLICY_RECORDED, policy)], now)
    proposal = service.ProposalInput(
        sale_id=SALE_ID,
        asset=asset.asset_id,
        amount=format_base_units(amount_base, asset.decimals),
        wallet=holding.wallet,
        venues=VENUES,
        method="exchange",
        price_floor_usd=str(floor),
        reason="Sandbox: part of a forfeited holding sold under the fund policy.",
    )
    (proposed,) = custody.record(
        engine, RULES, officer, [(SALE_PROPOSED, service.proposal_body(engine, proposal))], now
    )
    note = service.decision_body(SALE_ID, "Within the band; floor checked against the valuation.")
    (approved,) = custody.record(engine, RULES, approver, [(SALE_APPROVED, note)], now)
    executions = _tranches(engine, amount_base, price, now)
    fills = custody.record(engine, RULES, officer, executions, now)
    sale = service.require_sale(engine, SALE_ID)
    net_usd = service.proceeds(sale.fills, asset.decimals).net_proceeds_usd
    rate = Decimal(valuation.body["fx"]["rate"])
    proceeds_kzt = str(service.to_cents(net_usd * rate))
    settlement = service.settlement_body(SALE_ID, proceeds_kzt, BUDGET_ACCOUNT, PAYMENT_REF, now)
    (settled,) = custody.record(engine, RULES, officer, [(SALE_SETTLED, settlement)], now)
    sale = service.require_sale(engine, SALE_ID)
    shown = {
        **sale.summary_json(),
        "fills": [fill.to_json(asset) for fill in sale.fills],
        "approvers": [a.label or a.approver for a in sale.approvals],
        "result": service.realised_result(engine, sale).to_json(),
    }
    seqs: dict[str, Any] = {
        "proposed": proposed.seq,
        "approved": approved.seq,
        "executed": [receipt.seq for receipt in fills],
        "settled": settled.seq,
    }
    return FundDemo(policy_receipt.seq, seqs, shown, plan)


def _plan(engine: Engine, asset: Asset, amount_base: int) -> dict[str, Any]:
    """The Almgren-Chriss and capped-TWAP plan of the sale, from the stored market data."""
    quantity = Decimal(amount_base).scaleb(-asset.decimals)
    try:
        plan = plan_sale(engine, asset, quantity, 4, 1.0, 1e-6, Decimal("0.10"))
    except (FundReportError, FundInputError) as error:
        return {"error": str(error)}
    return plan.to_json()


def _choose(engine: Engine, valuation: ValuationResult) -> tuple[Holding, Decimal]:
    """The Fund holding of highest value among those priced with high confidence."""
    prices = {
        p["asset"]: Decimal(p["price_usd"])
        for p in valuation.body["prices"]
        if p["confidence"] == "high"
    }
    priced = [
        (Decimal(h.amount_base).scaleb(-h.asset.decimals) * prices[h.asset.asset_id], h)
        for h in custody_queries.list_holdings(engine, fund=True)
        if h.asset.asset_id in prices
    ]
    if not priced:
        raise FundDemoError(
            f"a State Fund holding priced with high confidence by the valuation of seq"
            f" {valuation.seq}; the Fund holds none"
        )
    _, holding = max(priced, key=lambda item: (item[0], -item[1].holding_id))
    return holding, prices[holding.asset.asset_id]


def _tranches(
    engine: Engine, amount_base: int, price: Decimal, now: datetime
) -> list[tuple[str, dict[str, Any]]]:
    """Two tranches on licensed venues at prices near the valuation's; the last sells the
    rest. Order ids and deposit transactions are sandbox references."""
    sale = service.require_sale(engine, SALE_ID)
    asset = sale.asset
    statements = []
    left = amount_base
    for index, (share, venue, factor) in enumerate(TRANCHES, start=1):
        tranche = left if share is None else int(amount_base * share)
        left -= tranche
        tranche_price = service.to_cents(price * factor)
        fee = service.to_cents(Decimal(tranche).scaleb(-asset.decimals) * tranche_price * FEE_RATE)
        deposit = hashlib.sha256(f"{SALE_ID}/deposit/{index}".encode()).hexdigest()
        typed = service.ExecutionInput(
            sale_id=SALE_ID,
            venue=venue,
            amount=format_base_units(tranche, asset.decimals),
            price_usd=str(tranche_price),
            fee_usd=str(fee),
            executed_at=now,
            venue_order_id=f"SANDBOX-{venue.upper()}-{index}",
            deposit_tx=deposit if asset.chain == "bitcoin" else "0x" + deposit,
        )
        statements.append((SALE_EXECUTED, service.execution_body(engine, typed)))
    return statements


# --- printing --------------------------------------------------------------------------------


def print_fund(fund: dict[str, Any]) -> None:
    """The State Fund part of the demo's summary (from `FundDemo.to_json`)."""
    from sequestra.cli.fund_commands import describe_result

    sale, seqs = fund["sale"], fund["seqs"]
    symbol = sale["symbol"]
    venues = ", ".join(
        f"{f['amount']} {symbol} on {f['venue']} at USD {f['price_usd']}" for f in sale["fills"]
    )
    plan = fund.get("plan") or {}
    if "almgren_chriss" in plan:
        ac = plan["almgren_chriss"]
        console.print(
            f"sale plan: Almgren-Chriss in {len(ac['trades'])} daily tranches"
            f" ({', '.join(ac['trades'])}), expected cost USD {ac['expected_cost_usd']}"
            f" (std {ac['cost_std_usd']}); capped TWAP in {len(plan['twap']['trades'])} tranche(s)",
            markup=False,
            highlight=False,
        )
    console.print(
        f"State Fund: policy recorded at seq {fund['policy_seq']}; sale {sale['sale']} of"
        f" {sale['amount']} {symbol} from fund/{sale['wallet']} (floor USD"
        f" {sale['price_floor_usd']}) proposed at seq {seqs['proposed']}, approved by"
        f" {', '.join(sale['approvers'])} at seq {seqs['approved']}, executed in"
        f" {len(sale['fills'])} tranches ({venues}), settled at seq {seqs['settled']}\n"
        + describe_result(sale["result"], symbol),
        markup=False,
        highlight=False,
    )
