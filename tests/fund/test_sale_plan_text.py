"""What `sale plan` prints: quantities in fixed notation, and why its schedule has its shape."""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal

from sequestra.custody.assets import BTC
from sequestra.fund.costs import TradingCosts
from sequestra.fund.planner import ImpactModel, capped_twap, optimal_sale
from sequestra.fund.planning import MarketInputs, SalePlan
from sequestra.fund.report import VolumeVenues

STEP = Decimal("0.00000001")


def _plan(quantity: Decimal, risk_aversion: float, tranches: int = 10) -> SalePlan:
    # lambda sigma^2 / (2 eta) = 8 at lambda 1: cosh(kappa) = 9, kappa T about 29.
    model = ImpactModel(sigma=4.0, eta=1.0, gamma=0.0, epsilon=0.0)
    return SalePlan(
        BTC,
        quantity,
        Decimal("60000"),
        7,
        "2025-06-01T00:00:00Z",
        MarketInputs(0.03, Decimal("1E+3"), date(2025, 3, 1), date(2025, 5, 31)),
        VolumeVenues(("kraken",), None, False, "no Fund policy recorded"),
        TradingCosts(Decimal("0.0005"), "default", Decimal("0.001"), "default"),
        model,
        optimal_sale(quantity, tranches, 1.0, model, risk_aversion, quantity_step=STEP),
        capped_twap(quantity, Decimal(1000), participation=Decimal("0.1"), quantity_step=STEP),
        optimal_sale(quantity, tranches, 1.0, model, 0.0, quantity_step=STEP),
    )


def test_small_trades_are_in_fixed_notation_never_an_exponent() -> None:
    body = _plan(Decimal("0.0000079"), 0.0).to_json()
    text = json.dumps(body)
    assert "E-" not in text and "e-" not in text
    assert body["almgren_chriss"]["trades"] == ["0.00000079"] * 10
    assert body["twap"]["trades"] == ["0.0000079"]
    assert body["quantity"] == "0.0000079" and body["adv_units"] == "1000"


def test_a_front_loaded_plan_says_why_and_shows_the_equal_alternative() -> None:
    body = _plan(Decimal("10"), 1.0).to_json()
    ac = body["almgren_chriss"]
    first = Decimal(ac["trades"][0])
    assert first > Decimal("8")  # most of it on day 1
    assert ac["kappa_horizon"] > 3 and ac["first_tranche_share"] == round(float(first / 10), 4)
    assert "kappa T = " in ac["rationale"] and "sells most at once" in ac["rationale"]
    assert "--risk-aversion" in ac["rationale"]
    assert body["even"]["trades"] == ["1"] * 10
    assert Decimal(body["even"]["cost_std_usd"]) > Decimal(ac["cost_std_usd"])


def test_an_even_plan_says_its_tranches_are_near_equal() -> None:
    ac = _plan(Decimal("10"), 0.0).to_json()["almgren_chriss"]
    assert ac["kappa_horizon"] == 0 and "near-equal" in ac["rationale"]
    assert "10%" in ac["rationale"]
