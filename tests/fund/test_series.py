"""Close series: alignment on common dates, log returns, volatility, correlation, refusals."""

from __future__ import annotations

import math
from datetime import date, timedelta
from decimal import Decimal

import numpy as np
import pytest

from sequestra.fund.bounds import ASSETS_MAX, DAYS_MAX, FundInputError
from sequestra.fund.series import (
    CloseSeries,
    align_closes,
    correlation_matrix,
    covariance_matrix,
    daily_volatility,
    log_returns,
    realised_volatility,
)

START = date(2025, 1, 1)


def days(count: int, start: date = START) -> tuple[date, ...]:
    return tuple(start + timedelta(days=index) for index in range(count))


def series(asset_id: str, closes: list[str], dates: tuple[date, ...] | None = None) -> CloseSeries:
    return CloseSeries(asset_id, dates or days(len(closes)), tuple(Decimal(c) for c in closes))


def test_align_keeps_common_dates_and_counts_the_dropped() -> None:
    full = days(5)
    first = series("a", ["1", "2", "3", "4", "5"], full)
    second = series("b", ["10", "30", "50"], (full[0], full[2], full[4]))
    aligned = align_closes([first, second])
    assert aligned.asset_ids == ("a", "b")
    assert aligned.dates == (full[0], full[2], full[4])
    assert aligned.dates_dropped == 2
    assert aligned.closes_usd.tolist() == [[1, 10], [3, 30], [5, 50]]


def test_align_refuses_a_gap_longer_than_allowed() -> None:
    first = series("a", ["1", "2"], (START, START + timedelta(days=10)))
    with pytest.raises(FundInputError, match=r"^series: expected common dates at most 5 days"):
        align_closes([first])
    assert align_closes([first], gap_days_max=10).dates_dropped == 0


def test_log_returns_by_hand() -> None:
    aligned = align_closes([series("a", ["100", "110", "99"])])
    returns = log_returns(aligned.closes_usd)
    assert returns[:, 0] == pytest.approx([math.log(1.1), math.log(0.9)])


def test_volatility_of_constant_returns_is_zero() -> None:
    closes = [str(Decimal(100) * Decimal("1.01") ** k) for k in range(40)]
    returns = log_returns(align_closes([series("a", closes)]).closes_usd)
    assert realised_volatility(returns, 30)[0] == pytest.approx(0.0, abs=1e-12)


def test_volatility_of_a_hand_made_series() -> None:
    # Returns ln 1.1, ln 0.9, ln 1.1: mean m, sample variance sum (r - m)^2 / 2.
    closes = ["100", "110", "99", "108.9"]
    returns = log_returns(align_closes([series("a", closes)]).closes_usd)
    r = [math.log(1.1), math.log(0.9), math.log(1.1)]
    mean = sum(r) / 3
    sample_sd = math.sqrt(sum((x - mean) ** 2 for x in r) / 2)
    assert daily_volatility(returns, 3)[0] == pytest.approx(sample_sd)
    assert realised_volatility(returns, 3)[0] == pytest.approx(sample_sd * math.sqrt(365))
    # A window of 2 takes the last two returns only: ln 0.9 and ln 1.1.
    last_two = abs(math.log(1.1) - math.log(0.9)) / math.sqrt(2)
    assert daily_volatility(returns, 2)[0] == pytest.approx(last_two)


def test_correlation_with_itself_is_one_and_with_its_negation_minus_one() -> None:
    rng = np.random.default_rng(7)
    x = rng.normal(0.0, 0.03, 500)
    returns = np.column_stack([x, x, -x])
    correlation = correlation_matrix(returns)
    assert correlation[0, 1] == pytest.approx(1.0)
    assert correlation[0, 2] == pytest.approx(-1.0)
    assert np.diag(correlation).tolist() == [1.0, 1.0, 1.0]
    assert np.allclose(correlation, correlation.T)


def test_correlation_of_a_flat_series_is_zero_with_others() -> None:
    rng = np.random.default_rng(8)
    returns = np.column_stack([rng.normal(0.0, 0.02, 100), np.zeros(100)])
    correlation = correlation_matrix(returns)
    assert correlation.tolist() == [[1.0, 0.0], [0.0, 1.0]]


def test_covariance_matches_numpy() -> None:
    rng = np.random.default_rng(9)
    returns = rng.normal(0.0, 0.02, (250, 4))
    assert np.allclose(covariance_matrix(returns), np.cov(returns, rowvar=False, ddof=1))


@pytest.mark.parametrize(
    ("bad", "argument"),
    [
        (CloseSeries("a", (), ()), "series[0].dates"),
        (CloseSeries("a", days(1), (Decimal(1),)), "series[0].dates"),
        (CloseSeries("a", days(3), (Decimal(1), Decimal(2))), "series[0].closes_usd"),
        (CloseSeries("a", (START, START), (Decimal(1), Decimal(2))), "series[0].dates"),
        (CloseSeries("a", days(2), (Decimal(1), Decimal(0))), "series[0].closes_usd"),
        (CloseSeries("a", days(2), (Decimal(1), Decimal(-3))), "series[0].closes_usd"),
        (CloseSeries("a", days(2), (Decimal(1), 2.0)), "series[0].closes_usd"),  # type: ignore[arg-type]
        (CloseSeries("", days(2), (Decimal(1), Decimal(2))), "series[0].asset_id"),
    ],
)
def test_align_refuses_bad_series_naming_the_argument(bad: CloseSeries, argument: str) -> None:
    with pytest.raises(FundInputError) as raised:
        align_closes([bad])
    assert raised.value.argument == argument


def test_align_refuses_no_series_too_many_and_twice_the_same() -> None:
    with pytest.raises(FundInputError, match=r"^series: expected from 1 to 1000 series"):
        align_closes([])
    many = [series(f"a{i}", ["1", "2"]) for i in range(ASSETS_MAX + 1)]
    with pytest.raises(FundInputError, match=r"^series: expected from 1 to 1000 series"):
        align_closes(many)
    with pytest.raises(FundInputError, match=r"^series: expected each asset once"):
        align_closes([series("a", ["1", "2"]), series("a", ["1", "2"])])


def test_align_refuses_series_without_two_common_dates() -> None:
    first = series("a", ["1", "2"], days(2))
    second = series("b", ["1", "2"], days(2, START + timedelta(days=1)))
    with pytest.raises(FundInputError, match=r"^series: expected at least 2 dates common"):
        align_closes([first, second])


def test_statistics_refuse_bad_arrays_naming_the_argument() -> None:
    with pytest.raises(FundInputError, match=r"^returns: expected a 2-D float64 array"):
        realised_volatility(np.zeros(10), 5)
    with pytest.raises(FundInputError, match=r"^returns: expected from 30 to"):
        realised_volatility(np.zeros((10, 1)), 30)
    with pytest.raises(FundInputError, match=r"^window_days: expected an integer from 2"):
        realised_volatility(np.zeros((10, 1)), 1)
    with pytest.raises(FundInputError, match=r"^returns: expected finite numbers"):
        correlation_matrix(np.array([[0.1], [math.nan]]))
    with pytest.raises(FundInputError, match=r"^closes_usd: expected positive closes"):
        log_returns(np.array([[1.0], [0.0]]))
    with pytest.raises(FundInputError, match=r"^closes_usd: expected from 2 to"):
        log_returns(np.ones((DAYS_MAX + 1, 1)))
    with pytest.raises(FundInputError, match=r"^returns: expected from 1 to 1000 assets"):
        correlation_matrix(np.zeros((5, ASSETS_MAX + 1)))
