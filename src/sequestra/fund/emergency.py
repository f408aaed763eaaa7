"""The emergency-sale rule: a Fund holding whose price has fallen past a threshold (by
default 10%) since the first valuation after it entered the Fund raises an alert
(`fund.emergency.raised`, signed by the valuer), once per holding and reference valuation,
pushed to the same webhooks as the watcher's alerts.

The fall is measured on the asset's USD price between two recorded valuations, so it can
be derived again from the ledger alone: the reference (the valuation with the earliest
cutoff at or after the holding entered the Fund) and the current one (the latest cutoff). A
valuation recorded later for an earlier cutoff is neither, so it never raises an alert.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any, Final

from sqlalchemy import Engine, select

from sequestra.custody.queries import list_holdings
from sequestra.fund.report import latest_valuation
from sequestra.fund.tables import EMERGENCY_TABLE
from sequestra.ledger.db import read_transaction
from sequestra.ledger.keys import SigningKey
from sequestra.ledger.queries import recorded_at_of
from sequestra.ledger.roles import FUND_EMERGENCY_RAISED
from sequestra.ledger.rules import RuleSet
from sequestra.ledger.store import AppendRules, Ledger
from sequestra.ledger.timefmt import parse_timestamp
from sequestra.pricing.queries import reference_price

THRESHOLD_DEFAULT: Final = Decimal("0.10")
DROP_PLACES: Final = Decimal("0.000001")

AlertSink = Callable[[list[dict[str, Any]]], None]


def _reference(engine: Engine, after_seq: int, asset_id: str) -> tuple[int, Decimal] | None:
    """The valuation the holding entered the Fund at (entry `after_seq`): (seq, price)."""
    entered = recorded_at_of(engine, [after_seq]).get(after_seq)
    if entered is None:
        return None
    return reference_price(engine, asset_id, after_seq, parse_timestamp(entered, "recorded_at"))


def _alerted(engine: Engine) -> set[tuple[str, str, int]]:
    with read_transaction(engine) as connection:
        rows = connection.execute(
            select(
                EMERGENCY_TABLE.c.asset_id,
                EMERGENCY_TABLE.c.wallet,
                EMERGENCY_TABLE.c.reference_seq,
            )
        )
        return {(r.asset_id, r.wallet, int(r.reference_seq)) for r in rows}


def emergency_bodies(
    engine: Engine, threshold: Decimal = THRESHOLD_DEFAULT
) -> list[dict[str, Any]]:
    """The alerts the latest valuation calls for and that were not raised before."""
    if not Decimal(0) < threshold < Decimal(1):
        raise ValueError(f"threshold: expected a fraction between 0 and 1, got {threshold}")
    valuation = latest_valuation(engine)
    seq, prices = valuation.seq, valuation.prices_usd()
    done = _alerted(engine)
    bodies = []
    for holding in list_holdings(engine, fund=True):
        asset_id, price = holding.asset.asset_id, prices.get(holding.asset.asset_id)
        reference = _reference(engine, holding.first_seq, asset_id)
        if price is None or reference is None or reference[0] == seq:
            continue
        drop = (1 - price / reference[1]).quantize(DROP_PLACES, ROUND_HALF_EVEN)
        if drop < threshold or (asset_id, holding.wallet, reference[0]) in done:
            continue
        bodies.append(
            {
                "asset": asset_id,
                "wallet": holding.wallet,
                "reference_seq": reference[0],
                "reference_price_usd": str(reference[1]),
                "valuation_seq": seq,
                "price_usd": str(price),
                "drop": format(drop.normalize(), "f"),
                "threshold": str(threshold),
                "message": (
                    f"{holding.asset.symbol} in the Fund's {holding.wallet} fell {drop:.2%} since"
                    f" valuation {reference[0]} (USD {reference[1]} -> {price}): the emergency-sale"
                    f" rule ({threshold:.0%}) applies"
                ),
            }
        )
    return bodies


def raise_emergencies(
    engine: Engine,
    rule_set: RuleSet,
    key: SigningKey,
    threshold: Decimal = THRESHOLD_DEFAULT,
    rules: AppendRules | None = None,
    sinks: Sequence[AlertSink] = (),
) -> list[dict[str, Any]]:
    """Record the alerts the latest valuation calls for (all or none) and push them."""
    bodies = emergency_bodies(engine, threshold)
    if not bodies:
        return []
    now = datetime.now(UTC)
    signed = [rule_set.sign(key, FUND_EMERGENCY_RAISED, body, now) for body in bodies]
    with Ledger(engine, rule_set, rules) as ledger:
        receipts = ledger.append(signed, now)
    alerts = [{**body, "seq": r.seq} for body, r in zip(bodies, receipts, strict=True)]
    for sink in sinks:
        sink(alerts)
    return alerts
