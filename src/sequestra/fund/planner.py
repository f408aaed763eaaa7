"""Sale planning: Almgren-Chriss optimal execution, and a TWAP capped by participation.

Split: the model's parameters and the ideal trajectory are float64; the plan handed out is
`Decimal` quantities on the asset's quantity step (holdings rounded ROUND_HALF_EVEN, trades
their differences, so the trades add up to X exactly); the expected cost and its standard
deviation are money, `Decimal` USD quantised to 0.01 with ROUND_HALF_EVEN, computed from the
rounded plan.

Almgren-Chriss (linear impact, arithmetic random walk). Sell X units in N tranches of tau
days (T = N tau). The price diffuses with sigma (USD per unit per sqrt(day)); selling n units
in a tranche lowers the price for good by gamma n (permanent impact, USD per unit per unit)
and concedes epsilon + eta n / tau per unit on that tranche alone (temporary impact: epsilon,
USD per unit, is the fixed cost of each unit sold, half the bid-ask spread plus the venue's
taker fee; eta in USD per unit per unit/day). lambda is the risk aversion (per USD).
    eta_tilde = eta - gamma tau / 2                      (must be above 0)
    cosh(kappa tau) = 1 + lambda sigma^2 tau^2 / (2 eta_tilde)
    x_j = X sinh(kappa (T - t_j)) / sinh(kappa T),  t_j = j tau, j = 0..N   (holdings)
    n_j = x_(j-1) - x_j                                  (trades, j = 1..N)
    E = gamma X^2 / 2 + epsilon X + (eta_tilde / tau) sum n_j^2   (expected cost, USD)
    V = sigma^2 tau sum_(j=1..N) x_j^2                   (its variance, USD^2)
With lambda = 0, kappa = 0 and the limit is linear, x_j = X (1 - j / N) (TWAP), so
E = gamma X^2 / 2 + epsilon X + eta_tilde X^2 / T. A larger lambda sells sooner; epsilon X
is the same for every schedule of a sale, so it moves E and not the trajectory. E is given
whole and in its two parts, the impact (gamma and eta terms) and epsilon X, each in cents;
E is their sum. The sinh ratio is
evaluated as exp(-kappa t_j) expm1(-2 kappa (T - t_j)) / expm1(-2 kappa T), which neither
overflows for a large kappa T nor loses digits for a small one; kappa tau comes from
log1p(y + sqrt(y (y + 2))) = acosh(1 + y) for the same reason.

Participation-capped TWAP: equal tranches of one or more days, none above participation x
ADV x tranche_days, as few tranches as that cap allows.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import ROUND_FLOOR, ROUND_HALF_EVEN, Decimal
from typing import Final

import numpy as np

from sequestra.fund.bounds import (
    QUANTITY_MAX,
    TRANCHES_MAX,
    FundInputError,
    check_count,
    check_decimal,
    check_float,
    exact_context,
    to_usd_cents,
)
from sequestra.fund.series import FloatVector

QUANTITY_STEP_DEFAULT: Final = Decimal("1e-8")
QUANTITY_STEP_MIN: Final = Decimal("1e-18")
TRANCHE_DAYS_MAX: Final = 365.0
PRICE_PARAMETER_MAX: Final = 1e12  # sigma, eta, gamma: USD per unit (per ...)
RISK_AVERSION_MAX: Final = 1.0  # per USD
TWAP_TRANCHE_DAYS_MAX: Final = 30
_ZERO: Final = Decimal(0)


@dataclass(frozen=True, slots=True)
class ImpactModel:
    """Almgren-Chriss market: volatility, temporary and permanent impact, and the fixed cost
    per unit sold, epsilon (half-spread plus taker fee, USD per unit; see the module)."""

    sigma: float
    eta: float
    gamma: float
    epsilon: float = 0.0


@dataclass(frozen=True, slots=True)
class SaleSchedule:
    """Holdings after each tranche (x_0 = X to x_N = 0) and the trades (n_1..n_N)."""

    tranche_days: float
    holdings: tuple[Decimal, ...]
    trades: tuple[Decimal, ...]


@dataclass(frozen=True, slots=True)
class OptimalSale:
    """An Almgren-Chriss plan with its expected cost E, variance V and sqrt(V) in USD.

    E = `impact_cost_usd` + `spread_and_fee_cost_usd` (epsilon X), each in cents.
    """

    schedule: SaleSchedule
    kappa_per_day: float
    expected_cost_usd: Decimal
    cost_variance_usd2: float
    cost_std_usd: Decimal
    impact_cost_usd: Decimal
    spread_and_fee_cost_usd: Decimal


def check_quantity(quantity: object, quantity_step: object) -> tuple[Decimal, Decimal]:
    """Return (quantity, step) once the quantity is above 0 and a whole number of steps.

    Raises:
        FundInputError: a quantity not above 0 or above `QUANTITY_MAX`; a step outside
            [QUANTITY_STEP_MIN, 1]; a quantity that is not a multiple of the step.
    """
    step = check_decimal(
        "quantity_step", quantity_step, minimum=QUANTITY_STEP_MIN, maximum=Decimal(1)
    )
    checked = check_decimal(
        "quantity", quantity, minimum=_ZERO, maximum=QUANTITY_MAX, minimum_open=True
    )
    with exact_context():
        if checked % step != 0:
            raise FundInputError("quantity", f"a multiple of the step {step}", str(checked))
    return checked, step


def check_model(model: ImpactModel, tranche_days: float) -> float:
    """Return eta_tilde = eta - gamma tau / 2 once the model's parameters are in bounds.

    Raises:
        FundInputError: sigma, gamma or epsilon outside [0, PRICE_PARAMETER_MAX]; eta outside
            (0, PRICE_PARAMETER_MAX]; eta_tilde not above 0 (the permanent impact outweighs
            the temporary one at this tranche length).
    """
    if not isinstance(model, ImpactModel):
        raise FundInputError("model", "an ImpactModel", type(model).__name__)
    limit = PRICE_PARAMETER_MAX
    check_float("model.sigma", model.sigma, minimum=0.0, maximum=limit)
    check_float("model.eta", model.eta, minimum=0.0, maximum=limit, minimum_open=True)
    check_float("model.gamma", model.gamma, minimum=0.0, maximum=limit)
    check_float("model.epsilon", model.epsilon, minimum=0.0, maximum=limit)
    eta_tilde = model.eta - model.gamma * tranche_days / 2.0
    if eta_tilde <= 0:
        expected = "eta above gamma x tranche_days / 2 (eta_tilde above 0)"
        got = f"eta {model.eta:g}, gamma {model.gamma:g}, tranche_days {tranche_days:g}"
        raise FundInputError("model", expected, got)
    return eta_tilde


def kappa_per_day(model: ImpactModel, tranche_days: float, risk_aversion: float) -> float:
    """Return kappa, from cosh(kappa tau) = 1 + lambda sigma^2 tau^2 / (2 eta_tilde).

    Raises:
        FundInputError: see `check_model`; tau or lambda out of bounds.
    """
    tau = check_float(
        "tranche_days", tranche_days, minimum=0.0, maximum=TRANCHE_DAYS_MAX, minimum_open=True
    )
    risk_aversion = check_float(
        "risk_aversion", risk_aversion, minimum=0.0, maximum=RISK_AVERSION_MAX
    )
    eta_tilde = check_model(model, tau)
    y = risk_aversion * model.sigma**2 * tau**2 / (2.0 * eta_tilde)
    if not math.isfinite(y):
        raise FundInputError("risk_aversion", "a finite lambda sigma^2 tau^2 / eta", f"{y:g}")
    return math.log1p(y + math.sqrt(y * (y + 2.0))) / tau


def holding_fractions(kappa: float, tranche_days: float, tranches: int) -> FloatVector:
    """Return x_j / X for j = 0..N: sinh(kappa (T - t_j)) / sinh(kappa T), linear if kappa 0."""
    times = np.arange(tranches + 1, dtype=np.float64) * tranche_days
    horizon = tranches * tranche_days
    if kappa == 0.0:
        linear: FloatVector = 1.0 - times / horizon
        return linear
    left = horizon - times
    fractions: FloatVector = (
        np.exp(-kappa * times) * np.expm1(-2.0 * kappa * left) / math.expm1(-2.0 * kappa * horizon)
    )
    return fractions


def _round_holdings(
    quantity: Decimal, step: Decimal, fractions: FloatVector
) -> tuple[Decimal, ...]:
    """Return X x fraction on the step grid, with x_0 = X and x_N = 0 exactly."""
    with exact_context():
        inner = tuple(
            (quantity * Decimal(float(fraction))).quantize(step, rounding=ROUND_HALF_EVEN)
            for fraction in fractions[1:-1]
        )
    return (quantity, *inner, _ZERO)


def _schedule(tranche_days: float, holdings: tuple[Decimal, ...]) -> SaleSchedule:
    with exact_context():
        trades = tuple(holdings[j - 1] - holdings[j] for j in range(1, len(holdings)))
    return SaleSchedule(tranche_days, holdings, trades)


def optimal_sale(
    quantity: Decimal,
    tranches: int,
    tranche_days: float,
    model: ImpactModel,
    risk_aversion: float,
    *,
    quantity_step: Decimal = QUANTITY_STEP_DEFAULT,
) -> OptimalSale:
    """Plan the sale of `quantity` in `tranches` by Almgren-Chriss (see the module).

    Raises:
        FundInputError: see `check_quantity`, `check_model` and `kappa_per_day`; tranches
            outside 1 to `TRANCHES_MAX`; a cost beyond `MONEY_MAX`.
    """
    quantity, step = check_quantity(quantity, quantity_step)
    tranches = check_count("tranches", tranches, minimum=1, maximum=TRANCHES_MAX)
    kappa = kappa_per_day(model, tranche_days, risk_aversion)
    tau = float(tranche_days)
    fractions = holding_fractions(kappa, tau, tranches)
    schedule = _schedule(tau, _round_holdings(quantity, step, fractions))
    holdings = np.array([float(x) for x in schedule.holdings], dtype=np.float64)
    trades = np.array([float(n) for n in schedule.trades], dtype=np.float64)
    eta_tilde = model.eta - model.gamma * tau / 2.0
    quantity_float = float(quantity)
    impact = model.gamma * quantity_float**2 / 2.0 + eta_tilde / tau * float(trades @ trades)
    impact_usd = to_usd_cents(impact, argument="impact_cost_usd")
    fixed_usd = to_usd_cents(model.epsilon * quantity_float, argument="spread_and_fee_cost_usd")
    variance = model.sigma**2 * tau * float(holdings[1:] @ holdings[1:])
    return OptimalSale(
        schedule,
        kappa,
        impact_usd + fixed_usd,
        variance,
        to_usd_cents(math.sqrt(variance), argument="cost_std_usd"),
        impact_usd,
        fixed_usd,
    )


def capped_twap(
    quantity: Decimal,
    adv: Decimal,
    *,
    participation: Decimal,
    tranche_days: int = 1,
    quantity_step: Decimal = QUANTITY_STEP_DEFAULT,
) -> SaleSchedule:
    """Plan equal tranches, each at most participation x ADV x tranche_days, fewest first.

    Tranches differ by at most one step; the larger ones come first.

    Raises:
        FundInputError: see `check_quantity`; ADV not above 0; participation outside
            (0, 1]; a cap below one step; more than `TRANCHES_MAX` tranches needed.
    """
    quantity, step = check_quantity(quantity, quantity_step)
    adv = check_decimal("adv", adv, minimum=_ZERO, maximum=QUANTITY_MAX, minimum_open=True)
    participation = check_decimal(
        "participation", participation, minimum=_ZERO, maximum=Decimal(1), minimum_open=True
    )
    days = check_count("tranche_days", tranche_days, minimum=1, maximum=TWAP_TRANCHE_DAYS_MAX)
    with exact_context():
        cap_steps = int((participation * adv * days / step).to_integral_value(ROUND_FLOOR))
        total_steps = int(quantity / step)
    if cap_steps < 1:
        raise FundInputError("participation", f"a cap per tranche of at least {step}", "0")
    tranches = -(-total_steps // cap_steps)
    if tranches > TRANCHES_MAX:
        expected = f"at most {TRANCHES_MAX} tranches under the cap"
        raise FundInputError("participation", expected, f"{tranches} tranches needed")
    base, larger = divmod(total_steps, tranches)
    trade_steps = [base + 1] * larger + [base] * (tranches - larger)
    holdings = [quantity]
    with exact_context():
        for steps in trade_steps:
            holdings.append(holdings[-1] - steps * step)
    return _schedule(float(days), tuple(holdings))
