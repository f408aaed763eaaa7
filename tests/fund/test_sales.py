"""The State Fund's sale workflow at append, on SQLite and PostgreSQL: the whole path from
proposal to settlement, and every rule refused with the numbers."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import text
from tests.composed import RULES
from tests.custody.conftest import BTC_1, BTC_2, Custody, custody  # noqa: F401

from sequestra.custody import queries as custody_queries
from sequestra.ledger.errors import AppendRefused
from sequestra.ledger.keys import SigningKey
from sequestra.ledger.rebuild import rebuild_projections
from sequestra.ledger.statement import SignedStatement, sign_statement
from sequestra.ledger.timefmt import format_timestamp
from sequestra.ledger.verify import verify_ledger

BTC = "bitcoin:BTC"


class Fund:
    def __init__(self, custody: Custody) -> None:  # noqa: F811
        self.custody = custody
        world = custody.world
        self.approvers = [SigningKey.generate(), SigningKey.generate()]
        valid_from = format_timestamp(world.now - timedelta(hours=3))  # older approvals too
        custody.append(
            *(
                sign_statement(
                    world.admin,
                    "key.enrolled",
                    {
                        "public_key": k.public_key_b64,
                        "roles": ["approver"],
                        "valid_from": valid_from,
                        "label": f"approver {i}",
                    },
                    world.now,
                )
                for i, k in enumerate(self.approvers)
            )
        )
        self.policy()
        custody.append(custody.seize("200000000"))  # 2 BTC
        custody.append(custody.forfeit((BTC, BTC_1, "200000000")))

    def sign(
        self,
        kind: str,
        body: dict[str, Any],
        key: SigningKey | None = None,
        at: datetime | None = None,
    ) -> SignedStatement:
        world = self.custody.world
        return sign_statement(key or world.officer, kind, body, at or world.now)

    def append(self, *statements: SignedStatement) -> None:
        self.custody.append(*statements)

    def refused(self, statement: SignedStatement, match: str) -> None:
        size = self.custody.size()
        with pytest.raises(AppendRefused, match=match):
            self.append(statement)
        assert self.custody.size() == size

    def policy(self, venues: tuple[str, ...] = ("binance", "kraken")) -> None:
        body = {
            "bands": [
                {"up_to_usd": "100000", "approvals_min": 1},
                {"up_to_usd": "10000000", "approvals_min": 2},
            ],
            "approval_valid_s": 3600,
            "venues": list(venues),
        }
        self.append(self.sign("fund.policy.recorded", body, self.custody.world.admin))

    def propose(self, sale: str, amount: str, floor: str = "50000") -> SignedStatement:
        body = {
            "sale": sale,
            "asset": BTC,
            "wallet": BTC_1,
            "amount_base": amount,
            "venues": ["binance", "kraken"],
            "method": "exchange",
            "price_floor_usd": floor,
            "reason": "forfeited holdings, emergency-sale rule",
        }
        return self.sign("sale.proposed", body)

    def approve(self, sale: str, index: int = 0, at: datetime | None = None) -> SignedStatement:
        return self.sign("sale.approved", {"sale": sale, "note": "ok"}, self.approvers[index], at)

    def execute(
        self, sale: str, amount: str, price: str = "60000", venue: str = "binance"
    ) -> SignedStatement:
        body = {
            "sale": sale,
            "venue": venue,
            "amount_base": amount,
            "price_usd": price,
            "fee_usd": "12.5",
            "executed_at": self.custody.at,
            "venue_order_id": "ord-1",
            "deposit_tx": "ab" * 32,
        }
        return self.sign("sale.executed", body)


@pytest.fixture
def fund(custody: Custody) -> Fund:  # noqa: F811
    return Fund(custody)


def _sale(fund: Fund, sale_id: str) -> dict[str, Any]:
    with fund.custody.world.engine.connect() as connection:
        row = connection.execute(text("SELECT * FROM fund_sale WHERE sale_id = :s"), {"s": sale_id})
        return dict(row.one()._mapping)


def test_from_proposal_to_settlement(fund: Fund) -> None:
    fund.append(fund.propose("S-1", "150000000"))
    assert _sale(fund, "S-1")["state"] == "proposed"
    fund.append(fund.approve("S-1"))
    fund.append(fund.execute("S-1", "50000000"))
    assert _sale(fund, "S-1")["state"] == "executing"
    fund.append(fund.execute("S-1", "100000000", price="61000"))
    sale = _sale(fund, "S-1")
    assert sale["state"] == "executed" and sale["proceeds_usd"] == "91000.00000000"
    settle = {
        "sale": "S-1",
        "proceeds_kzt": "46592000",
        "budget_account": "KZ00 budget",
        "payment_ref": "PP-7",
        "settled_at": fund.custody.at,
    }
    fund.append(fund.sign("sale.settled", settle))
    assert _sale(fund, "S-1")["state"] == "settled"
    holdings = {
        h.account: h
        for h in custody_queries.list_holdings(fund.custody.world.engine, include_empty=True)
    }
    assert holdings[f"fund/{BTC_1}"].amount_base == 50_000_000
    engine = fund.custody.world.engine
    assert verify_ledger(engine, RULES, workers=1).ok
    rebuild_projections(engine, RULES)
    assert verify_ledger(engine, RULES, workers=1).ok and _sale(fund, "S-1")["state"] == "settled"


def test_selling_more_than_the_free_quantity_is_refused(fund: Fund) -> None:
    fund.append(fund.propose("S-1", "150000000"))
    fund.refused(
        fund.propose("S-2", "100000000"),
        r"amount_base: expected at most 0\.5 BTC \(the Fund holds 2 BTC .* open sales may still"
        r" sell 1\.5 BTC\), got 1 BTC",
    )


def test_approvals_fills_floors_and_venues(fund: Fund) -> None:
    fund.append(fund.propose("S-1", "150000000"))
    fund.refused(fund.execute("S-1", "10"), r"sale: expected a sale that is approved or executing")
    fund.refused(fund.sign("sale.approved", {"sale": "S-1", "note": "mine"}), r"role|may not issue")
    fund.append(fund.approve("S-1"))
    fund.refused(fund.approve("S-1"), r"issuer: expected an approver who has not approved")
    fund.refused(
        fund.execute("S-1", "10", price="49999.99"), r"price_usd: expected at least the floor"
    )
    fund.refused(fund.execute("S-1", "10", venue="okx"), r"venue: expected a venue both licensed")
    fund.refused(
        fund.execute("S-1", "150000001"),
        r"amount_base: expected at most 1\.5 BTC, what is left of the sale \(approved 1\.5 BTC,"
        r" sold 0 BTC\), got 1\.50000001 BTC \(150000001 base units\)",
    )
    fund.policy(venues=("kraken",))  # binance loses its licence
    fund.refused(
        fund.execute("S-1", "10", venue="binance"),
        r"venue: expected a venue both licensed now \(kraken\)",
    )


def test_large_sales_need_two_fresh_approvals(fund: Fund) -> None:
    fund.append(fund.propose("BIG", "200000000"))  # 2 BTC at 50,000 = USD 100,000: one band
    fund.append(fund.sign("sale.cancelled", {"sale": "BIG", "note": "re-plan"}))
    fund.append(fund.propose("BIG-2", "200000000", floor="60000"))  # USD 120,000: two needed
    old = fund.custody.world.now - timedelta(hours=2)
    fund.append(fund.approve("BIG-2", 0, at=old))
    fund.append(fund.approve("BIG-2", 1))
    fund.refused(
        fund.execute("BIG-2", "10", price="60000"),
        r"sale: expected 2 valid approval\(s\).* got 1 of 2",
    )


def test_times_after_signing_and_bands_that_need_fewer_approvals_are_refused(fund: Fund) -> None:
    fund.append(fund.propose("S-1", "100000000"))
    fund.append(fund.approve("S-1"))
    late = fund.execute("S-1", "10")
    body = {**late.body, "executed_at": "2999-01-01T00:00:00Z"}
    fund.refused(fund.sign("sale.executed", body), r"executed_at: expected a time no later")
    bands = {
        "bands": [
            {"up_to_usd": "100000", "approvals_min": 3},
            {"up_to_usd": "1000000", "approvals_min": 1},
        ],
        "approval_valid_s": 3600,
        "venues": ["kraken"],
    }
    fund.refused(
        fund.sign("fund.policy.recorded", bands, fund.custody.world.admin),
        r"bands: expected at least as many approvals for a larger band",
    )


def test_a_fund_transfer_cannot_take_what_open_sales_reserved(fund: Fund) -> None:
    fund.append(fund.propose("S-1", "150000000"))
    fund.refused(
        fund.custody.transfer("100000000", BTC_1, BTC_2, case_id=None),
        r"amount_base: expected a transfer leaving at least 1\.5 BTC .* got 1 BTC left",
    )
    fund.append(fund.custody.transfer("50000000", BTC_1, BTC_2, case_id=None))
