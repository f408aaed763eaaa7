"""Valuation runs on both databases with venues that answer what the test says: exact
holding values, idempotence, a venue down, every venue down, no FX, and tampered quotes."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import text

from sequestra.fairvalue import AggregationRules, Quote
from sequestra.ledger.errors import AppendRefused
from sequestra.ledger.keys import SigningKey
from sequestra.ledger.verify import verify_ledger
from sequestra.pricing.fx import FixedRate, FxError, FxRate
from sequestra.pricing.queries import valuation_at
from sequestra.pricing.run import PricingError, Valuer
from sequestra.pricing.venues import VenueError
from tests.composed import RULES
from tests.custody.conftest import ETH_1, Custody, custody  # noqa: F401


@dataclass
class ScriptedVenue:
    venue: str
    prices: dict[str, str]
    down: bool = False
    calls: int = 0
    asked: list[Sequence[str]] = field(default_factory=list)
    now: Any = None

    def fetch_quotes(self, pairs: Sequence[str]) -> list[Quote]:
        self.calls += 1
        self.asked.append(pairs)
        if self.down:
            raise VenueError(self.venue, "ExchangeNotAvailable: 503")
        return [
            Quote(
                self.venue,
                pair,
                *pair.split("/"),
                Decimal(price.split("@")[0]),
                None,
                None,
                Decimal(price.split("@")[1] if "@" in price else 5),
                self.now,
            )
            for pair, price in self.prices.items()
            if pair in pairs
        ]

    def fetch_closes(self, pairs: Sequence[str], cutoff: Any) -> list[Quote]:
        raise AssertionError("not a historical run")


class NoRate:
    name = "none"

    def usd_kzt(self, on: Any) -> FxRate:
        raise FxError("bank down")


@pytest.fixture
def valuer_key(custody: Custody) -> SigningKey:  # noqa: F811
    key = SigningKey.generate()
    custody.append(custody.world.enroll(key, ["valuer"], "valuer"))
    custody.append(custody.seize("150000000"))  # 1.5 BTC
    custody.append(custody.seize("2500000000", wallet=ETH_1, asset="ethereum:USDT"))  # 2,500 USDT
    return key


def venues(custody: Custody) -> list[ScriptedVenue]:  # noqa: F811
    now = custody.world.now
    return [
        # price@volume: binance has BTC's greatest volume, kraken USDT's
        ScriptedVenue("kraken", {"BTC/USD": "95020@40", "USDT/USD": "1.0001@900"}, now=now),
        ScriptedVenue("binance", {"BTC/USDT": "95000@90"}, now=now),
        ScriptedVenue("okx", {"BTC/USDT": "95010@60", "USDT/USD": "0.9999@500"}, now=now),
    ]


def test_a_valuation_values_every_holding_exactly(
    custody: Custody,  # noqa: F811
    valuer_key: SigningKey,
) -> None:
    sources = venues(custody)
    valuer = Valuer(custody.world.engine, RULES, sources, FixedRate(Decimal("512.34")), valuer_key)
    result = valuer.revalue(now_utc=custody.world.now + timedelta(seconds=1))
    prices = {p["asset"]: p["price_usd"] for p in result.body["prices"]}
    # USDT: its principal market, kraken's USDT/USD (volume 900): 1.0001, level 1.
    # BTC: its principal market, binance's BTC/USDT (volume 90): 95000 x 1.0001, level 2.
    assert prices == {"bitcoin:BTC": "95009.5", "ethereum:USDT": "1.0001"}
    btc = next(p for p in result.body["prices"] if p["asset"] == "bitcoin:BTC")
    assert (btc["level"], btc["basis"], btc["market"]["venue"], btc["market"]["pair"]) == (
        2,
        "principal market",
        "binance",
        "BTC/USDT",
    )
    assert btc["median_usd"] == "95019.501" and btc["flagged"] is False  # 95020, 95009.5, 95019.501
    assert [s.calls for s in sources] == [1, 1, 1]
    by_asset = {v.asset_id: v for v in result.values}
    assert by_asset["bitcoin:BTC"].value_usd == Decimal("142514.25")
    assert by_asset["bitcoin:BTC"].value_kzt == Decimal("73015750.84")  # x 512.34, half-even
    assert by_asset["ethereum:USDT"].value_kzt == Decimal("1280978.08")
    assert result.total_usd == Decimal("145014.50")
    custody.append(custody.seize("100000000"))  # after the cutoff: not in that valuation
    again = valuer.revalue(
        cutoff=custody.world.now + timedelta(seconds=1),
        now_utc=custody.world.now + timedelta(seconds=2),
    )
    assert (again.created, again.seq) == (False, result.seq)
    assert (again.total_usd, again.total_kzt) == (result.total_usd, result.total_kzt)
    assert verify_ledger(custody.world.engine, RULES, workers=1).ok


def test_a_venue_down_is_recorded_and_the_others_carry_the_run(
    custody: Custody,  # noqa: F811
    valuer_key: SigningKey,
) -> None:
    sources = venues(custody)
    sources[1].down = True
    result = Valuer(
        custody.world.engine, RULES, sources, FixedRate(Decimal(500)), valuer_key
    ).revalue(now_utc=custody.world.now + timedelta(seconds=1))
    assert result.body["venues_missing"] == [
        {"venue": "binance", "reason": "ExchangeNotAvailable: 503"}
    ]
    assert {p["asset"]: p["confidence"] for p in result.body["prices"]} == {
        "bitcoin:BTC": "low",
        "ethereum:USDT": "low",
    }


@pytest.mark.parametrize("fault", ["all venues down", "no fx", "no price"])
def test_a_run_that_cannot_value_writes_nothing(
    custody: Custody,  # noqa: F811
    valuer_key: SigningKey,
    fault: str,
) -> None:
    sources = venues(custody)
    fx: Any = FixedRate(Decimal(500))
    if fault == "all venues down":
        for source in sources:
            source.down = True
    elif fault == "no fx":
        fx = NoRate()
    else:
        for source in sources:
            source.prices = {}
    size = custody.size()
    with pytest.raises(PricingError, match=r"the last valuation stands|no asset could be priced"):
        Valuer(custody.world.engine, RULES, sources, fx, valuer_key).revalue(
            now_utc=custody.world.now + timedelta(seconds=1)
        )
    assert custody.size() == size


def test_a_second_valuation_of_a_cutoff_is_refused_and_quotes_are_verified(
    custody: Custody,  # noqa: F811
    valuer_key: SigningKey,
) -> None:
    result = Valuer(
        custody.world.engine, RULES, venues(custody), FixedRate(Decimal(500)), valuer_key
    ).revalue(now_utc=custody.world.now + timedelta(seconds=1))
    with custody.world.engine.connect() as connection:
        entry = connection.execute(
            text("SELECT entry FROM ledger_entry WHERE seq = :s"), {"s": result.seq}
        ).scalar_one()
    body = json.loads(bytes(entry))["statement"]["body"]
    with pytest.raises(AppendRefused, match="cutoff: expected a cutoff not valued before"):
        custody.append(custody.sign("valuation.recorded", body, key=valuer_key))
    with custody.world.engine.begin() as connection:
        connection.execute(text("UPDATE valuation_quote SET last = '1' WHERE idx = 0"))
    verdict = verify_ledger(custody.world.engine, RULES, workers=1)
    assert not verdict.ok and "projection pricing differs" in str(verdict.reason)


def _quote_rows(custody: Custody) -> int:  # noqa: F811
    with custody.world.engine.connect() as connection:
        return int(connection.execute(text("SELECT COUNT(*) FROM valuation_quote")).scalar_one())


def test_a_refused_valuation_leaves_no_quote_behind(
    custody: Custody,  # noqa: F811
    valuer_key: SigningKey,
) -> None:
    """The entry and its quotes are one transaction: a refused entry leaves neither."""
    stranger = SigningKey.generate()  # not enrolled: the ledger refuses the entry
    valuer = Valuer(custody.world.engine, RULES, venues(custody), FixedRate(Decimal(500)), stranger)
    size = custody.size()
    with pytest.raises(AppendRefused):
        valuer.revalue(now_utc=custody.world.now + timedelta(seconds=1))
    assert custody.size() == size and _quote_rows(custody) == 0


def test_a_stated_peg_is_recorded_as_such(
    custody: Custody,  # noqa: F811
    valuer_key: SigningKey,
) -> None:
    """No USD market for USDT: with a stated peg the valuation is recorded, the peg labelled
    (no venue, basis and confidence `stated peg`, level 2), and BTC converted through it."""
    now = custody.world.now
    sources = [
        ScriptedVenue("binance", {"BTC/USDT": "95000@90"}, now=now),
        ScriptedVenue("okx", {"BTC/USDT": "95010@60"}, now=now),
    ]
    rules = AggregationRules(pegs={"USDT": Decimal(1)})
    result = Valuer(
        custody.world.engine, RULES, sources, FixedRate(Decimal(500)), valuer_key, rules
    ).revalue(now_utc=now + timedelta(seconds=1))
    prices = {p["asset"]: p for p in result.body["prices"]}
    peg = prices["ethereum:USDT"]
    assert (peg["price_usd"], peg["venues"], peg["basis"], peg["confidence"], peg["level"]) == (
        "1",
        [],
        "stated peg",
        "stated peg",
        2,
    )
    assert "market" not in peg
    assert prices["bitcoin:BTC"]["price_usd"] == "95000" and prices["bitcoin:BTC"]["level"] == 2
    assert verify_ledger(custody.world.engine, RULES, workers=1).ok
    view = valuation_at(custody.world.engine, result.seq)
    assert view is not None and view.price_of("ethereum:USDT") == 1
