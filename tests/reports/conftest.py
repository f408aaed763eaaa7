"""A ledger for the reports: custody holdings, a State Fund holding two assets, a valuation,
and a sale with an approval and a fill (both databases)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

import pytest
import typer

from sequestra.cli.common import state
from sequestra.cli.report_commands import report_app
from sequestra.ledger.keys import SigningKey
from sequestra.pricing.fx import FixedRate
from sequestra.pricing.run import ValuationResult, Valuer
from tests.composed import RULES
from tests.custody.conftest import ETH_1, Custody, custody  # noqa: F401
from tests.fund.test_sales import BTC, Fund
from tests.pricing.test_run import valuer_key, venues  # noqa: F401

USDT = "ethereum:USDT"


@dataclass
class Books:
    custody: Custody
    fund: Fund
    valuer_key: SigningKey

    def revalue(self, seconds: int, btc: str = "95010") -> ValuationResult:
        sources = venues(self.custody)
        for source in sources:
            # BTC at `btc`; kraken's BTC/USD has the greatest volume, so it is the principal
            # market and BTC's fair value is `btc` exactly (level 1)
            source.prices = {
                p: (f"{btc}@999" if p == "BTC/USD" else f"{btc}@5") if p.startswith("BTC/") else v
                for p, v in source.prices.items()
            }
        valuer = Valuer(
            self.custody.world.engine, RULES, sources, FixedRate(Decimal("512.34")), self.valuer_key
        )
        now = self.custody.world.now
        return valuer.revalue(
            cutoff=now + timedelta(seconds=seconds),
            now_utc=now + timedelta(seconds=seconds + 1),
        )


@pytest.fixture
def books(custody: Custody, valuer_key: SigningKey) -> Books:  # noqa: F811
    """1.5 BTC and 2,500 USDT seized; 2 BTC seized and forfeited into the Fund, 1,000 USDT too."""
    fund = Fund(custody)
    custody.append(custody.forfeit((USDT, ETH_1, "1000000000")))
    return Books(custody, fund, valuer_key)


def cli() -> typer.Typer:
    root = typer.Typer()

    @root.callback()
    def main(context: typer.Context, database_url: str = typer.Option(...)) -> None:
        state(context).database_url = database_url

    root.add_typer(report_app, name="report")
    return root


__all__ = ["BTC", "USDT", "Books", "cli"]
