"""Stress scenarios: configured price shocks per asset, and the loss they would cause.

All in `Decimal`: a shock is a relative price change (-0.50: the price halves; a stablecoin
at 0.90 is -0.10); an asset's loss is -(value x change), quantised to 0.01 USD with
ROUND_HALF_EVEN; the total is the sum of the quantised losses. A loss is positive when the
value falls; a rise shows as a negative loss.

A scenario names shocks by asset id; `others` is the change for every asset it does not
name (None: every held asset must be named). The default scenarios name assets by the
custody's default ids (`<chain>:<symbol>`) and give every other asset a shock too, so they
apply to any holdings; an unnamed stablecoin falls with `others`, on the prudent side.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Final

from sequestra.fund.bounds import (
    ASSETS_MAX,
    MONEY_MAX,
    SCENARIOS_MAX,
    FundInputError,
    check_asset_id,
    check_decimal,
    check_size,
    check_unique,
    describe,
    multiply_exact,
    to_usd_cents,
)

CHANGE_MIN: Final = Decimal(-1)  # the price goes to zero: nothing more can be lost
CHANGE_MAX: Final = Decimal(10)  # a rise of 1,000%
NAME_LENGTH_MAX: Final = 64


@dataclass(frozen=True, slots=True)
class StressScenario:
    """Relative price changes by asset id, and the change for assets not named."""

    name: str
    shocks: tuple[tuple[str, Decimal], ...]
    others: Decimal | None
    description: str = ""


@dataclass(frozen=True, slots=True)
class StressLoss:
    """One asset under a scenario: its value, the change applied and the loss in USD."""

    asset_id: str
    value_usd: Decimal
    change: Decimal
    loss_usd: Decimal


@dataclass(frozen=True, slots=True)
class StressResult:
    """A scenario's losses per asset (in the order of the values), their total, what is left."""

    scenario: str
    losses: tuple[StressLoss, ...]
    total_loss_usd: Decimal
    value_after_usd: Decimal


DEFAULT_SCENARIOS: Final = (
    StressScenario(
        "crypto-crash",
        (
            ("bitcoin:BTC", Decimal("-0.50")),
            ("ethereum:ETH", Decimal("-0.60")),
            ("ethereum:USDT", Decimal("-0.10")),
            ("ethereum:USDC", Decimal("-0.05")),
        ),
        others=Decimal("-0.70"),
        description="A market-wide crash: BTC halves, ETH -60%, USDT at 0.90, others -70%.",
    ),
    StressScenario(
        "stablecoin-depeg",
        (
            ("bitcoin:BTC", Decimal("-0.10")),
            ("ethereum:ETH", Decimal("-0.15")),
            ("ethereum:USDT", Decimal("-0.10")),
            ("ethereum:USDC", Decimal("-0.02")),
        ),
        others=Decimal("-0.20"),
        description="USDT loses its peg (0.90) and drags the rest of the market down a little.",
    ),
    StressScenario(
        "emergency-threshold",
        (),
        others=Decimal("-0.10"),
        description="Every asset 10% down: the fall at which an emergency sale is considered.",
    ),
)


def check_scenario(scenario: StressScenario, argument: str = "scenario") -> dict[str, Decimal]:
    """Return the scenario's shocks by asset id once the scenario is well formed.

    Raises:
        FundInputError: not a scenario; a bad name; more than `ASSETS_MAX` shocks; an asset
            named twice; a change outside [CHANGE_MIN, CHANGE_MAX].
    """
    if not isinstance(scenario, StressScenario):
        raise FundInputError(argument, "a StressScenario", describe(scenario))
    if not isinstance(scenario.name, str) or not 0 < len(scenario.name) <= NAME_LENGTH_MAX:
        expected = f"a name of 1 to {NAME_LENGTH_MAX} characters"
        raise FundInputError(f"{argument}.name", expected, describe(scenario.name))
    shocks = scenario.shocks
    check_size(f"{argument}.shocks", len(shocks), minimum=0, maximum=ASSETS_MAX, unit="shocks")
    for index, (asset_id, change) in enumerate(shocks):
        check_asset_id(f"{argument}.shocks[{index}]", asset_id)
        _check_change(f"{argument}.shocks[{index}]", change)
    check_unique(f"{argument}.shocks", tuple(asset_id for asset_id, _ in shocks))
    if scenario.others is not None:
        _check_change(f"{argument}.others", scenario.others)
    return dict(shocks)


def _check_change(argument: str, change: object) -> Decimal:
    return check_decimal(argument, change, minimum=CHANGE_MIN, maximum=CHANGE_MAX)


def check_values(values_usd: Mapping[str, Decimal]) -> None:
    """Refuse holdings values that are not 1 to `ASSETS_MAX` Decimals in [0, MONEY_MAX].

    Raises:
        FundInputError: naming the asset whose value is bad.
    """
    if not isinstance(values_usd, Mapping):
        raise FundInputError("values_usd", "a mapping of asset id to USD value", "another type")
    check_size("values_usd", len(values_usd), minimum=1, maximum=ASSETS_MAX, unit="assets")
    for asset_id, value in values_usd.items():
        check_asset_id("values_usd", asset_id)
        check_decimal(f"values_usd[{asset_id}]", value, minimum=Decimal(0), maximum=MONEY_MAX)


def stress(scenario: StressScenario, values_usd: Mapping[str, Decimal]) -> StressResult:
    """Apply a scenario to the holdings' USD values (asset id -> value, e.g. from exposure).

    Raises:
        FundInputError: see `check_scenario` and `check_values`; a held asset the scenario
            does not name when it has no `others` change.
    """
    shocks = check_scenario(scenario)
    check_values(values_usd)
    losses = []
    for asset_id, value in values_usd.items():
        change = shocks.get(asset_id, scenario.others)
        if change is None:
            expected = "a shock for every held asset (or an `others` change)"
            raise FundInputError(f"scenario {scenario.name!r}", expected, f"none for {asset_id}")
        loss = to_usd_cents(-multiply_exact(value, change), argument=f"loss of {asset_id}")
        losses.append(StressLoss(asset_id, value, change, loss))
    total = sum((loss.loss_usd for loss in losses), Decimal(0))
    value_before = sum(values_usd.values(), Decimal(0))
    return StressResult(scenario.name, tuple(losses), total, value_before - total)


def stress_all(
    scenarios: Sequence[StressScenario], values_usd: Mapping[str, Decimal]
) -> tuple[StressResult, ...]:
    """Apply each scenario in turn (at most `SCENARIOS_MAX`).

    Raises:
        FundInputError: as `stress`, or too many or duplicate scenario names.
    """
    check_size("scenarios", len(scenarios), minimum=1, maximum=SCENARIOS_MAX, unit="scenarios")
    names = tuple(getattr(item, "name", "") for item in scenarios)
    check_unique("scenarios", names, expected="each scenario name once")
    return tuple(stress(scenario, values_usd) for scenario in scenarios)
