"""Sale planner: Almgren-Chriss against its formulas, and the participation-capped TWAP."""

from __future__ import annotations

import math
from decimal import Decimal

import pytest

from sequestra.fund.bounds import TRANCHES_MAX, FundInputError
from sequestra.fund.planner import (
    ImpactModel,
    capped_twap,
    holding_fractions,
    kappa_per_day,
    optimal_sale,
)

MODEL = ImpactModel(sigma=2.0, eta=0.01, gamma=0.001)
ONE = Decimal(1)


def test_without_risk_aversion_the_schedule_is_linear_and_e_is_the_twap_formula() -> None:
    plan = optimal_sale(Decimal(1000), 10, 1.0, MODEL, 0.0, quantity_step=ONE)
    assert plan.kappa_per_day == 0.0
    assert plan.schedule.trades == (Decimal(100),) * 10
    assert plan.schedule.holdings == tuple(Decimal(1000 - 100 * j) for j in range(11))
    # eta_tilde = 0.01 - 0.001 x 1 / 2 = 0.0095; E = gamma X^2 / 2 + eta_tilde X^2 / T
    #           = 0.001 x 10^6 / 2 + 0.0095 x 10^6 / 10 = 500 + 950.
    assert plan.expected_cost_usd == Decimal("1450.00")
    # V = sigma^2 tau sum x_j^2 = 4 x 100^2 x (9^2 + ... + 1^2) = 4 x 10^4 x 285.
    assert plan.cost_variance_usd2 == pytest.approx(11_400_000.0)
    assert plan.cost_std_usd == Decimal(str(round(math.sqrt(11_400_000), 2)))


def test_every_unit_sold_pays_epsilon_half_spread_and_fee() -> None:
    """E = gamma X^2 / 2 + epsilon X + eta_tilde X^2 / T: with epsilon = 0.15 USD a unit (a
    price of 100, half a 10 bp spread and a 10 bp fee), 1,000 units pay 150 more, whatever
    the schedule, and the trajectory does not move."""
    costly = ImpactModel(sigma=2.0, eta=0.01, gamma=0.001, epsilon=100 * 0.0015)
    plan = optimal_sale(Decimal(1000), 10, 1.0, costly, 0.0, quantity_step=ONE)
    assert (plan.impact_cost_usd, plan.spread_and_fee_cost_usd) == (
        Decimal("1450.00"),
        Decimal("150.00"),
    )
    assert plan.expected_cost_usd == Decimal("1600.00")
    eager = optimal_sale(Decimal(1000), 10, 1.0, costly, 1e-2, quantity_step=ONE)
    plain = optimal_sale(Decimal(1000), 10, 1.0, MODEL, 1e-2, quantity_step=ONE)
    assert eager.schedule == plain.schedule
    assert eager.spread_and_fee_cost_usd == Decimal("150.00")
    assert eager.expected_cost_usd == plain.expected_cost_usd + Decimal("150.00")


def test_kappa_solves_the_cosh_equation_and_holdings_follow_the_sinh_formula() -> None:
    tau, risk_aversion = 0.5, 2e-3
    kappa = kappa_per_day(MODEL, tau, risk_aversion)
    eta_tilde = MODEL.eta - MODEL.gamma * tau / 2
    assert math.cosh(kappa * tau) == pytest.approx(
        1 + risk_aversion * MODEL.sigma**2 * tau**2 / (2 * eta_tilde), rel=1e-12
    )
    fractions = holding_fractions(kappa, tau, 8)
    horizon = 8 * tau
    expected = [
        math.sinh(kappa * (horizon - j * tau)) / math.sinh(kappa * horizon) for j in range(9)
    ]
    assert fractions.tolist() == pytest.approx(expected, rel=1e-12, abs=1e-15)


def test_larger_risk_aversion_sells_sooner() -> None:
    firsts = []
    for risk_aversion in (0.0, 1e-5, 1e-4, 1e-3):
        plan = optimal_sale(Decimal(1000), 10, 1.0, MODEL, risk_aversion, quantity_step=ONE)
        firsts.append(plan.schedule.trades[0])
        trades = plan.schedule.trades
        assert all(trades[j] >= trades[j + 1] for j in range(len(trades) - 1))
    assert firsts == sorted(firsts) and len(set(firsts)) == 4
    assert firsts[1] > Decimal(100)


@pytest.mark.parametrize(
    ("quantity", "tranches", "tau", "risk_aversion", "step"),
    [
        (Decimal("1000000"), 5, 1.0, 2e-6, ONE),
        (Decimal("12.34567891"), 7, 0.25, 1e-2, Decimal("1e-8")),
        (Decimal("49858"), 20, 1.0, 1e-6, Decimal("1e-8")),
        (Decimal("3"), 1000, 0.1, 0.5, Decimal("1e-18")),
        (Decimal("500"), 30, 1.0, 1.0, ONE),  # kappa T far beyond what sinh can hold
    ],
)
def test_trades_add_up_to_the_quantity_and_the_variance_is_not_negative(
    quantity: Decimal, tranches: int, tau: float, risk_aversion: float, step: Decimal
) -> None:
    model = ImpactModel(sigma=50.0, eta=0.05, gamma=0.001)
    plan = optimal_sale(quantity, tranches, tau, model, risk_aversion, quantity_step=step)
    trades = plan.schedule.trades
    assert len(trades) == tranches and len(plan.schedule.holdings) == tranches + 1
    assert sum(trades, Decimal(0)) == quantity
    assert all(trade >= 0 and trade % step == 0 for trade in trades)
    assert plan.schedule.holdings[0] == quantity and plan.schedule.holdings[-1] == 0
    assert plan.cost_variance_usd2 >= 0 and plan.cost_std_usd >= 0
    assert plan.expected_cost_usd > 0


def test_capped_twap_respects_the_participation_cap() -> None:
    # Cap: 10% of 3,000 a day = 300; 1,000 needs 4 tranches of 250.
    plan = capped_twap(Decimal(1000), Decimal(3000), participation=Decimal("0.10"))
    assert plan.trades == (Decimal(250),) * 4
    odd = capped_twap(
        Decimal("1000.00000002"), Decimal(3000), participation=Decimal("0.10"), tranche_days=1
    )
    assert odd.trades == (
        Decimal("250.00000001"),
        Decimal("250.00000001"),
        Decimal("250.00000000"),
        Decimal("250.00000000"),
    )
    exact_cap = capped_twap(Decimal(900), Decimal(3000), participation=Decimal("0.10"))
    assert exact_cap.trades == (Decimal(300),) * 3
    weekly = capped_twap(
        Decimal(49858), Decimal(31000), participation=Decimal("0.01"), tranche_days=7
    )
    cap = Decimal("0.01") * 31000 * 7
    assert all(trade <= cap for trade in weekly.trades)
    assert sum(weekly.trades, Decimal(0)) == Decimal(49858)
    assert len(weekly.trades) == math.ceil(49858 / 2170)


@pytest.mark.parametrize(
    ("call", "argument"),
    [
        (lambda: optimal_sale(Decimal(-5), 5, 1.0, MODEL, 0.0), "quantity"),
        (lambda: optimal_sale(Decimal("1.5"), 5, 1.0, MODEL, 0.0, quantity_step=ONE), "quantity"),
        (lambda: optimal_sale(Decimal(5), 0, 1.0, MODEL, 0.0), "tranches"),
        (lambda: optimal_sale(Decimal(5), TRANCHES_MAX + 1, 1.0, MODEL, 0.0), "tranches"),
        (lambda: optimal_sale(Decimal(5), 5, 0.0, MODEL, 0.0), "tranche_days"),
        (lambda: optimal_sale(Decimal(5), 5, 1.0, MODEL, -1.0), "risk_aversion"),
        (lambda: optimal_sale(Decimal(5), 5, 1.0, ImpactModel(1.0, 0.001, 0.01), 0.0), "model"),
        (lambda: optimal_sale(Decimal(5), 5, 1.0, ImpactModel(-1.0, 0.1, 0.0), 0.0), "model.sigma"),
        (lambda: optimal_sale(Decimal(5), 5, 1.0, ImpactModel(1.0, 0.0, 0.0), 0.0), "model.eta"),
        (lambda: capped_twap(Decimal(-1), Decimal(1), participation=Decimal("0.1")), "quantity"),
        (lambda: capped_twap(Decimal(1), Decimal(0), participation=Decimal("0.1")), "adv"),
        (lambda: capped_twap(Decimal(1), Decimal(1), participation=Decimal(0)), "participation"),
        (
            lambda: capped_twap(Decimal(10**6), Decimal(10), participation=Decimal("0.1")),
            "participation",
        ),
        (
            lambda: capped_twap(Decimal(1), Decimal(1), participation=ONE, tranche_days=0),
            "tranche_days",
        ),
    ],
)
def test_refuses_bad_input_naming_the_argument(call: object, argument: str) -> None:
    assert callable(call)
    with pytest.raises(FundInputError) as raised:
        call()
    assert raised.value.argument == argument
    assert str(raised.value).startswith(f"{argument}: expected ")
