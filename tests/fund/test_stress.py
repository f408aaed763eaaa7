"""Stress scenarios: hand-computed losses per asset and in total, defaults, refusals."""

from __future__ import annotations

from decimal import Decimal

import pytest

from sequestra.fund.bounds import FundInputError
from sequestra.fund.stress import (
    DEFAULT_SCENARIOS,
    StressScenario,
    check_scenario,
    stress,
    stress_all,
)

VALUES = {
    "bitcoin:BTC": Decimal("1000000.00"),
    "ethereum:ETH": Decimal("400000.00"),
    "ethereum:USDT": Decimal("250000.00"),
    "ethereum:PEPE": Decimal("3333.33"),
}


def test_crash_losses_by_hand() -> None:
    result = stress(DEFAULT_SCENARIOS[0], VALUES)
    assert result.scenario == "crypto-crash"
    losses = {loss.asset_id: loss.loss_usd for loss in result.losses}
    assert losses == {
        "bitcoin:BTC": Decimal("500000.00"),  # -50%
        "ethereum:ETH": Decimal("240000.00"),  # -60%
        "ethereum:USDT": Decimal("25000.00"),  # at 0.90
        "ethereum:PEPE": Decimal("2333.33"),  # others -70%: 2333.331 -> 2333.33
    }
    assert result.total_loss_usd == Decimal("767333.33")
    assert result.value_after_usd == Decimal("1653333.33") - Decimal("767333.33")


def test_half_cent_losses_round_half_even_and_a_rise_is_a_negative_loss() -> None:
    scenario = StressScenario(
        "mixed", (("a", Decimal("-0.5")), ("b", Decimal("-0.5"))), others=Decimal("0.25")
    )
    result = stress(scenario, {"a": Decimal("0.05"), "b": Decimal("0.07"), "c": Decimal("4.00")})
    assert [loss.loss_usd for loss in result.losses] == [
        Decimal("0.02"),  # 0.025 -> 0.02
        Decimal("0.04"),  # 0.035 -> 0.04
        Decimal("-1.00"),
    ]
    assert result.total_loss_usd == Decimal("-0.94")


def test_every_default_scenario_is_well_formed_and_applies_to_any_holding() -> None:
    results = stress_all(DEFAULT_SCENARIOS, {"ethereum:OTHER": Decimal("100.00")})
    assert [r.total_loss_usd for r in results] == [
        Decimal("70.00"),
        Decimal("20.00"),
        Decimal("10.00"),
    ]
    for scenario in DEFAULT_SCENARIOS:
        check_scenario(scenario)
        assert scenario.description


def test_a_scenario_without_others_must_name_every_held_asset() -> None:
    scenario = StressScenario("named", (("a", Decimal("-0.1")),), others=None)
    assert stress(scenario, {"a": Decimal("10.00")}).total_loss_usd == Decimal("1.00")
    with pytest.raises(FundInputError, match=r"^scenario 'named': expected a shock for every"):
        stress(scenario, {"a": Decimal("10.00"), "b": Decimal("1.00")})


@pytest.mark.parametrize(
    ("scenario", "values", "argument"),
    [
        (
            StressScenario("x", (("a", Decimal("-1.5")),), None),
            {"a": Decimal(1)},
            "scenario.shocks[0]",
        ),
        (StressScenario("x", (("a", -0.5),), None), {"a": Decimal(1)}, "scenario.shocks[0]"),  # type: ignore[arg-type]
        (StressScenario("x", (), Decimal("11")), {"a": Decimal(1)}, "scenario.others"),
        (StressScenario("", (), Decimal("-0.1")), {"a": Decimal(1)}, "scenario.name"),
        (
            StressScenario("x", (("a", Decimal("-0.1")), ("a", Decimal("-0.2"))), None),
            {"a": Decimal(1)},
            "scenario.shocks",
        ),
        (DEFAULT_SCENARIOS[0], {"a": Decimal("-1")}, "values_usd[a]"),
        (DEFAULT_SCENARIOS[0], {}, "values_usd"),
        (DEFAULT_SCENARIOS[0], {f"a{i}": Decimal(1) for i in range(1001)}, "values_usd"),
    ],
)
def test_refuses_bad_input_naming_the_argument(
    scenario: StressScenario, values: dict[str, Decimal], argument: str
) -> None:
    with pytest.raises(FundInputError) as raised:
        stress(scenario, values)
    assert raised.value.argument == argument


def test_refuses_two_scenarios_of_one_name() -> None:
    with pytest.raises(FundInputError, match=r"^scenarios: expected each scenario name once"):
        stress_all([DEFAULT_SCENARIOS[0]] * 2, VALUES)
