"""VaR and ES: closed forms of the normal, a hand-computed historical sample, agreement of the
two methods on a large normal sample, the ten-day horizon both ways, refusals."""

from __future__ import annotations

import math
from decimal import Decimal

import numpy as np
import pytest

from sequestra.fund.bounds import ASSETS_MAX, FundInputError
from sequestra.fund.exposure import Position, exposure
from sequestra.fund.risk import (
    HISTORICAL,
    HISTORICAL_OVERLAPPING,
    PARAMETRIC,
    PRIMARY_METHOD,
    historical_var_es,
    overlapping_returns,
    parametric_var_es,
    portfolio_sigma_usd,
    risk_report,
    values_in_order,
)

SIGMA = 0.04  # daily
VALUE_USD = 1_000_000.0
PHI_AT_1_6449 = math.exp(-(1.6448536269514722**2) / 2) / math.sqrt(2 * math.pi)


def test_parametric_var_of_one_asset_is_the_normal_closed_form() -> None:
    sigma_usd = portfolio_sigma_usd(np.array([VALUE_USD]), np.array([[SIGMA**2]]))
    assert sigma_usd == pytest.approx(SIGMA * VALUE_USD)
    var_95, es_95 = parametric_var_es(sigma_usd, 0.95, 1)
    var_99, _ = parametric_var_es(sigma_usd, 0.99, 1)
    assert var_95 == pytest.approx(1.6449 * SIGMA * VALUE_USD, rel=5e-5)
    assert var_99 == pytest.approx(2.3263 * SIGMA * VALUE_USD, rel=5e-5)
    assert es_95 == pytest.approx(PHI_AT_1_6449 / 0.05 * SIGMA * VALUE_USD, rel=1e-9)
    assert es_95 == pytest.approx(2.0627 * SIGMA * VALUE_USD, rel=5e-5)
    var_95_10, es_95_10 = parametric_var_es(sigma_usd, 0.95, 10)
    assert var_95_10 == pytest.approx(var_95 * math.sqrt(10))
    assert es_95_10 == pytest.approx(es_95 * math.sqrt(10))


def test_report_parametric_uses_the_sample_covariance_and_is_in_cents() -> None:
    rng = np.random.default_rng(11)
    returns = rng.normal(0.0, SIGMA, (500, 3))
    values = (Decimal("1000.00"), Decimal("2500.50"), Decimal("0.00"))
    report = risk_report(values, returns)
    floats = np.array([float(v) for v in values])
    sigma_usd = math.sqrt(floats @ np.cov(returns, rowvar=False, ddof=1) @ floats)
    figure = report.figure(PARAMETRIC, 0.99, 10)
    assert float(figure.var_usd) == pytest.approx(2.3263 * sigma_usd * math.sqrt(10), abs=0.5)
    for item in report.figures:
        assert item.var_usd == item.var_usd.quantize(Decimal("0.01"))
        assert item.es_usd == item.es_usd.quantize(Decimal("0.01"))
        assert item.es_usd >= item.var_usd
    assert report.observations == 500
    assert report.primary_method == PRIMARY_METHOD == HISTORICAL


def test_historical_var_and_es_by_hand() -> None:
    # Losses 1..20. The 95% quantile (linear) sits at position 19 x 0.95 = 18.05 of the
    # sorted losses: 19 + 0.05 x (20 - 19) = 19.05. The tail at or beyond it holds 20 only.
    pnl = -np.arange(1.0, 21.0)
    var, es = historical_var_es(pnl, 0.95)
    assert var == pytest.approx(19.05)
    assert es == pytest.approx(20.0)


def test_historical_revalues_in_full_and_scales_ten_days_by_root_ten() -> None:
    # Every day the asset falls 2% (log return ln 0.98): the one-day loss is 2% of the value
    # exactly; ten overlapping days lose 1 - 0.98^10 of it.
    returns = np.full((120, 1), math.log(0.98))
    report = risk_report((Decimal("1000000.00"),), returns)
    one_day = report.figure(HISTORICAL, 0.99, 1)
    assert one_day.var_usd == one_day.es_usd == Decimal("20000.00")
    scaled = report.figure(HISTORICAL, 0.99, 10)
    assert scaled.var_usd == Decimal(str(round(20000 * math.sqrt(10), 2)))
    runs = report.figure(HISTORICAL_OVERLAPPING, 0.95, 10)
    assert runs.var_usd == Decimal(str(round(1_000_000 * (1 - 0.98**10), 2)))


def test_every_es_states_the_losses_it_rests_on() -> None:
    """200 days: the 99% quantile sits at 199 x 0.99 = 197.01 of the sorted losses, so the
    tail holds the 2 largest; at 95%, 189.05: the 10 largest. The scaled ten-day figure rests
    on the one-day tail; the overlapping one on its own runs; the normal ES on none."""
    rng = np.random.default_rng(7)
    returns = rng.normal(0.0, 0.03, (200, 2))
    report = risk_report((Decimal("1000.00"), Decimal("500.00")), returns)
    assert report.figure(HISTORICAL, 0.99, 1).es_observations == 2
    assert report.figure(HISTORICAL, 0.99, 10).es_observations == 2
    assert report.figure(HISTORICAL, 0.95, 1).es_observations == 10
    assert report.figure(HISTORICAL, 0.99, 1).observations == 200
    runs = report.figure(HISTORICAL_OVERLAPPING, 0.99, 10)
    assert (runs.observations, runs.es_observations) == (191, 2)  # 190 x 0.99 = 188.1
    normal = report.figure(PARAMETRIC, 0.99, 1)
    assert (normal.observations, normal.es_observations) == (200, None)
    for figure in report.figures:
        if figure.es_observations is not None:
            losses = figure.es_observations
            assert 1 <= losses <= figure.observations


def test_an_overlapping_figure_above_the_scaled_one_is_flagged() -> None:
    """A fall that unfolds over ten days: each day alone is small, the run is not. The
    overlapping ten-day VaR exceeds sqrt(10) x the one-day one, and says so."""
    quiet = np.tile([0.001, -0.001], 100)
    trend = quiet.copy()
    trend[100:110] = -0.02  # ten days of -2%
    report = risk_report((Decimal("1000000.00"),), trend.reshape(-1, 1))
    runs = report.figure(HISTORICAL_OVERLAPPING, 0.99, 10)
    scaled = report.figure(HISTORICAL, 0.99, 10)
    assert runs.var_usd > scaled.var_usd
    assert runs.exceeds_scaled is True and runs.note is not None
    assert str(runs.var_usd) in runs.note and str(scaled.var_usd) in runs.note
    assert "prudent" in runs.note and runs.note in report.notes
    assert scaled.exceeds_scaled is None and scaled.note is None
    calm = risk_report((Decimal("1000000.00"),), quiet.reshape(-1, 1))
    calm_runs = calm.figure(HISTORICAL_OVERLAPPING, 0.99, 10)
    assert calm_runs.var_usd < calm.figure(HISTORICAL, 0.99, 10).var_usd
    assert calm_runs.exceeds_scaled is False and calm_runs.note is None
    assert calm.notes == ()


def test_overlapping_returns_sum_each_run() -> None:
    returns = np.arange(1.0, 6.0).reshape(5, 1)
    assert overlapping_returns(returns, 2)[:, 0].tolist() == [3.0, 5.0, 7.0, 9.0]
    assert overlapping_returns(returns, 5)[:, 0].tolist() == [15.0]


# On n = 3,999 normal daily returns the empirical 95% quantile has a standard error of
# sqrt(0.95 x 0.05 / n) / phi(1.6449) = 0.033 sigma (2.0% of VaR); at 99%, 0.059 sigma
# (2.5%). Full revaluation makes a loss about z sigma / 2 smaller than the linear one
# (0.8% and 1.2% at sigma 1%). Tolerances: 8% for VaR at 95% and 10% at 99% (four standard
# errors plus the bias); ES, whose estimate is noisier, 10% and 15%.
TOLERANCE = {
    (0.95, "var"): Decimal("0.08"),
    (0.99, "var"): Decimal("0.10"),
    (0.95, "es"): Decimal("0.10"),
    (0.99, "es"): Decimal("0.15"),
}


@pytest.mark.parametrize("level", [0.95, 0.99])
def test_historical_is_close_to_parametric_on_a_large_normal_sample(level: float) -> None:
    rng = np.random.default_rng(20260101)
    covariance = 0.01**2 * np.array([[1.0, 0.6, 0.2], [0.6, 1.0, 0.4], [0.2, 0.4, 1.0]])
    returns = rng.multivariate_normal(np.zeros(3), covariance, size=3_999)
    values = (Decimal("5000000.00"), Decimal("3000000.00"), Decimal("2000000.00"))
    report = risk_report(values, returns, levels=(level,))
    for horizon in (1, 10):
        historical = report.figure(HISTORICAL, level, horizon)
        parametric = report.figure(PARAMETRIC, level, horizon)
        assert historical.var_usd == pytest.approx(
            parametric.var_usd, rel=TOLERANCE[(level, "var")]
        )
        assert historical.es_usd == pytest.approx(parametric.es_usd, rel=TOLERANCE[(level, "es")])


def test_values_in_order_follows_the_series_and_refuses_a_position_without_one() -> None:
    held = exposure(
        [
            Position("b", Decimal(1), Decimal("2.50")),
            Position("a", Decimal(2), Decimal("1.25")),
        ]
    )
    assert values_in_order(held, ("a", "c", "b")) == (
        Decimal("2.50"),
        Decimal(0),
        Decimal("2.50"),
    )
    with pytest.raises(FundInputError, match=r"^asset_ids: expected a price series for every"):
        values_in_order(held, ("a",))


GOOD_RETURNS = np.zeros((200, 1))


@pytest.mark.parametrize(
    ("call", "argument"),
    [
        (lambda: risk_report((Decimal("-1"),), GOOD_RETURNS), "values_usd[0]"),
        (lambda: risk_report((1.0,), GOOD_RETURNS), "values_usd[0]"),  # type: ignore[arg-type]
        (lambda: risk_report((Decimal(1), Decimal(1)), GOOD_RETURNS), "values_usd"),
        (lambda: risk_report((Decimal(1),), np.zeros((0, 1))), "returns"),
        (lambda: risk_report((Decimal(1),), np.zeros(200)), "returns"),
        (lambda: risk_report((Decimal(1),), np.zeros((50, 1))), "returns"),  # 99% needs 100
        (lambda: risk_report((Decimal(1),), GOOD_RETURNS, levels=(1.5,)), "level"),
        (lambda: risk_report((Decimal(1),), GOOD_RETURNS, levels=()), "levels"),
        (lambda: risk_report((Decimal(1),), GOOD_RETURNS, horizons_days=(0,)), "horizons_days"),
        (
            lambda: risk_report((Decimal(1),) * 1001, np.zeros((200, ASSETS_MAX + 1))),
            "returns",
        ),
        (lambda: parametric_var_es(-1.0, 0.95, 1), "sigma_usd"),
        (lambda: historical_var_es(np.zeros(10), 0.99), "pnl_usd"),
        (lambda: portfolio_sigma_usd(np.ones(2), np.eye(3)), "covariance"),
        (lambda: portfolio_sigma_usd(np.ones(2), -np.eye(2)), "covariance"),
    ],
)
def test_refuses_bad_input_naming_the_argument(call: object, argument: str) -> None:
    assert callable(call)
    with pytest.raises(FundInputError) as raised:
        call()
    assert raised.value.argument == argument
    assert str(raised.value).startswith(f"{argument}: expected ")


def test_levels_given_as_decimals_are_reported_as_floats() -> None:
    report = risk_report((Decimal("100.00"),), np.full((40, 1), -0.01), levels=(Decimal("0.95"),))
    assert report.figure(HISTORICAL, 0.95, 1).var_usd == Decimal("1.00")
    with pytest.raises(KeyError):
        report.figure(HISTORICAL, 0.99, 1)
