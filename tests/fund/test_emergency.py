"""The emergency-sale rule on both databases: a Fund holding whose price falls past the
threshold since the valuation after its forfeiture raises one alert, once."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from tests.composed import RULES
from tests.custody.conftest import BTC_1, Custody, custody  # noqa: F401
from tests.pricing.test_run import ScriptedVenue

import sequestra.fund.sales
import sequestra.pricing  # noqa: F401  (valuation.recorded)
from sequestra.fund.emergency import emergency_bodies, raise_emergencies
from sequestra.ledger.errors import AppendRefused
from sequestra.ledger.keys import SigningKey
from sequestra.ledger.statement import sign_statement
from sequestra.ledger.verify import verify_ledger
from sequestra.pricing.fx import FixedRate
from sequestra.pricing.run import Valuer


def _revalue(custody: Custody, key: SigningKey, btc: str, seconds: int) -> None:  # noqa: F811
    now = custody.world.now + timedelta(seconds=seconds)
    venues = [
        ScriptedVenue(name, {"BTC/USD": btc}, now=now) for name in ("kraken", "okx", "bitstamp")
    ]
    Valuer(custody.world.engine, RULES, venues, FixedRate(Decimal(500)), key).revalue(now_utc=now)


def test_a_fall_past_the_threshold_raises_one_alert(custody: Custody) -> None:  # noqa: F811
    valuer = SigningKey.generate()
    custody.append(custody.world.enroll(valuer, ["valuer"], "valuer"))
    custody.append(custody.seize("100000000"))
    custody.append(custody.forfeit(("bitcoin:BTC", BTC_1, "100000000")))
    engine = custody.world.engine
    _revalue(custody, valuer, "100000", 1)
    assert emergency_bodies(engine) == []  # the reference itself
    _revalue(custody, valuer, "95000", 2)
    assert emergency_bodies(engine) == []  # -5%: under the 10% threshold
    _revalue(custody, valuer, "85000", 3)
    pushed: list[list[dict[str, object]]] = []
    (alert,) = raise_emergencies(engine, RULES, valuer, sinks=[pushed.append])
    assert (alert["drop"], alert["reference_price_usd"], alert["price_usd"]) == (
        "0.15",
        "100000",
        "85000",
    )
    assert "fell 15.00%" in str(alert["message"]) and pushed == [[alert]]
    assert raise_emergencies(engine, RULES, valuer) == []  # raised once
    again = {k: v for k, v in alert.items() if k != "seq"}
    with pytest.raises(AppendRefused, match="reference_seq: expected a holding and reference"):
        custody.append(sign_statement(valuer, "fund.emergency.raised", again, custody.world.now))
    assert verify_ledger(engine, RULES, workers=1).ok
