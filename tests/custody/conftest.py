"""Custody test fixtures: an initialised ledger with an officer, and statement builders."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from sequestra.ledger.keys import SigningKey
from sequestra.ledger.statement import SignedStatement, sign_statement
from sequestra.ledger.store import Receipt
from sequestra.ledger.tables import ENTRY_TABLE
from sequestra.ledger.timefmt import format_timestamp
from tests.conftest import LedgerWorld

CASE = "AFM-2025-0001"
BTC_1 = "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4"
BTC_2 = "bc1qrp33g0q5c5txsp9arysrx4k6zdkfs4nce4xj0gdcccefvpysxf3qccfmv3"
BTC_3 = "bc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vqzk5jj0"
BTC_OWNER = "1BvBMSEYstWetqTFn5Au4m4GFg7xJaNVN2"
ETH_1 = "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed"
ETH_2 = "0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359"
TX = "ab" * 32
ETH_TX = "0x" + "cd" * 32


@dataclass
class Custody:
    """Builds custody statements signed by the world's officer and appends them."""

    world: LedgerWorld

    @property
    def at(self) -> str:
        return format_timestamp(self.world.now - timedelta(minutes=5))

    def sign(
        self, kind: str, body: dict[str, Any], key: SigningKey | None = None
    ) -> SignedStatement:
        return sign_statement(key or self.world.officer, kind, body, self.world.now)

    def append(self, *statements: SignedStatement) -> list[Receipt]:
        return self.world.ledger.append(list(statements), self.world.now)

    def size(self) -> int:
        with self.world.engine.connect() as connection:
            return int(
                connection.execute(select(func.count()).select_from(ENTRY_TABLE)).scalar_one()
            )

    def case(self, case_id: str = CASE) -> SignedStatement:
        return self.sign(
            "case.opened", {"case": case_id, "agency": "AFM", "legal_basis": "CC RK art. 214"}
        )

    def wallet(
        self, address: str, chain: str = "bitcoin", network: str = "mainnet"
    ) -> SignedStatement:
        body = {
            "address": address,
            "chain": chain,
            "network": network,
            "controller": "Treasury",
            "label": address[-6:],
        }
        return self.sign("wallet.registered", body)

    def seize(
        self, amount_base: str, wallet: str = BTC_1, asset: str = "bitcoin:BTC", case_id: str = CASE
    ) -> SignedStatement:
        body = {
            "case": case_id,
            "asset": asset,
            "amount_base": amount_base,
            "wallet": wallet,
            "seized_at": self.at,
        }
        return self.sign("seizure.recorded", body)

    def transfer(
        self,
        amount_base: str,
        source: str = BTC_1,
        target: str = BTC_2,
        fee_base: str = "0",
        asset: str = "bitcoin:BTC",
        case_id: str | None = CASE,
        tx: str = TX,
    ) -> SignedStatement:
        body: dict[str, Any] = {
            "asset": asset,
            "amount_base": amount_base,
            "from": source,
            "to": target,
            "tx": tx,
            "fee_base": fee_base,
            "transferred_at": self.at,
        }
        if case_id is not None:
            body["case"] = case_id
        return self.sign("custody.transferred", body)

    def forfeit(self, *items: tuple[str, str, str], case_id: str = CASE) -> SignedStatement:
        body = {
            "case": case_id,
            "decision": {
                "authority": "Astana city court",
                "ref": "2-100/2025",
                "date": "2025-06-01",
            },
            "holdings": [
                {"asset": asset, "wallet": wallet, "amount_base": amount}
                for asset, wallet, amount in items
            ],
        }
        return self.sign("forfeiture.ordered", body)

    def release(
        self,
        amount_base: str,
        wallet: str = BTC_1,
        fee_base: str = "0",
        asset: str = "bitcoin:BTC",
        destination: str = BTC_OWNER,
        tx: str = TX,
    ) -> SignedStatement:
        body = {
            "case": CASE,
            "asset": asset,
            "amount_base": amount_base,
            "wallet": wallet,
            "destination": destination,
            "tx": tx,
            "fee_base": fee_base,
            "order": {"authority": "Prosecutor", "ref": "R-7", "date": "2025-07-01"},
            "released_at": self.at,
        }
        return self.sign("release.ordered", body)

    def correct(self, seq: int, reason: str = "recorded in error") -> SignedStatement:
        return self.sign("entry.corrected", {"seq": seq, "reason": reason})

    def close(self, case_id: str = CASE) -> SignedStatement:
        return self.sign("case.closed", {"case": case_id, "reason": "all holdings disposed"})


@pytest.fixture
def custody(world: LedgerWorld) -> Iterator[Custody]:
    helper = Custody(world)
    helper.append(
        helper.case(),
        helper.wallet(BTC_1),
        helper.wallet(BTC_2),
        helper.wallet(ETH_1, "ethereum"),
        helper.wallet(ETH_2, "ethereum"),
    )
    yield helper
