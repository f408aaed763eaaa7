"""State Fund risk benchmark: exposure, volatility, correlations, VaR/ES and stress, in memory.

Builds seeded synthetic data: daily Decimal closes for `--assets` assets over `--days` days
(BTC, ETH, USDT and USDC, then tokens TKN0004...), driven by one market factor plus each
asset's own noise, a few assets missing a day or two so that alignment drops dates; and one
position per asset at its last close, worth 10,000 to 1,000,000 USD. Then times, as the
fund's maths would run them: exposure (USD and KZT); aligning the closes on common dates;
log returns; realised volatility over 30 and 90 days; the correlation matrix; VaR and ES
(historical and parametric, 95% and 99%, 1 and 10 days, with the overlapping ten-day runs);
the default stress scenarios. The whole run is repeated (`--runs`) and the median run is
reported, with each stage's time. Target: the whole run under 1 second for 200 assets over
three years.

Prints one JSON document and writes it to bench/results/fund.json (see --output). Not a
test: figures depend on the machine.

    python bench/fund_bench.py [--assets 200] [--days 1096] [--runs 5] [--seed 2026]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, Final, TypeVar

import numpy as np

from sequestra.fund.bounds import ASSETS_MAX, DAYS_MAX
from sequestra.fund.exposure import Exposure, Position, exposure
from sequestra.fund.risk import PRIMARY_METHOD, RiskReport, risk_report, values_in_order
from sequestra.fund.series import (
    VOLATILITY_WINDOWS_DAYS,
    CloseSeries,
    align_closes,
    correlation_matrix,
    log_returns,
    realised_volatility,
)
from sequestra.fund.stress import DEFAULT_SCENARIOS, stress_all

RESULT_PATH: Final = Path(__file__).resolve().parent / "results" / "fund.json"
ASSETS_DEFAULT: Final = 200
DAYS_DEFAULT: Final = 1_096  # three years of calendar days
DAYS_MIN: Final = 120  # 99% VaR needs 100 daily returns after the dropped dates
RUNS_DEFAULT: Final = 5
RUNS_MAX: Final = 100
SEED_DEFAULT: Final = 2026
TARGET_S: Final = 1.0
FIRST_DAY: Final = date(2023, 1, 1)
USD_KZT: Final = Decimal("512.35")  # a stated rate for the synthetic run
NAMED: Final = ("bitcoin:BTC", "ethereum:ETH", "ethereum:USDT", "ethereum:USDC")
STARTING_PRICES: Final = (30_000.0, 2_000.0, 1.0, 1.0)
STABLECOINS: Final = frozenset({"ethereum:USDT", "ethereum:USDC"})
ASSETS_WITH_GAPS: Final = 5  # each misses one or two days
T = TypeVar("T")


@dataclass(frozen=True)
class Market:
    series: tuple[CloseSeries, ...]
    positions: tuple[Position, ...]


def asset_ids(assets: int) -> tuple[str, ...]:
    named = NAMED[:assets]
    return named + tuple(f"ethereum:TKN{index:04d}" for index in range(len(named), assets))


def synthetic_market(assets: int, days: int, seed: int) -> Market:
    """Seeded closes (one market factor plus own noise) and a position at each last close."""
    rng = np.random.default_rng(seed)
    ids = asset_ids(assets)
    factor = rng.normal(0.0, 0.03, days)
    beta = rng.uniform(0.5, 1.5, assets)
    own_sigma = rng.uniform(0.01, 0.06, assets)
    returns = factor[:, None] * beta + rng.normal(0.0, 1.0, (days, assets)) * own_sigma
    for column, asset_id in enumerate(ids):
        if asset_id in STABLECOINS:
            returns[:, column] = rng.normal(0.0, 0.0005, days)
    starts = np.array(
        [STARTING_PRICES[i] if i < len(NAMED) else rng.uniform(0.01, 100.0) for i in range(assets)]
    )
    closes = starts * np.exp(np.cumsum(returns, axis=0))
    dates = tuple(FIRST_DAY + timedelta(days=offset) for offset in range(days))
    series = []
    for column, asset_id in enumerate(ids):
        texts = [f"{close:.8f}" for close in closes[:, column]]
        keep = list(range(days))
        if column < ASSETS_WITH_GAPS and days > 10:
            for missing in sorted(rng.choice(range(1, days - 1), size=2, replace=False))[::-1]:
                keep.pop(int(missing))
        series.append(
            CloseSeries(
                asset_id,
                tuple(dates[i] for i in keep),
                tuple(Decimal(texts[i]) for i in keep),
            )
        )
    values_usd = rng.uniform(10_000.0, 1_000_000.0, assets)
    positions = tuple(
        Position(
            item.asset_id, Decimal(f"{value / float(item.closes_usd[-1]):.8f}"), item.closes_usd[-1]
        )
        for item, value in zip(series, values_usd, strict=True)
    )
    return Market(tuple(series), positions)


def timed(stages: dict[str, float], name: str, work: Callable[[], T]) -> T:
    started = time.perf_counter()
    result = work()
    stages[name] = time.perf_counter() - started
    return result


def one_run(market: Market) -> tuple[dict[str, float], Exposure, RiskReport, int]:
    """Run every stage once; return the stage times, the exposure, the risk report, drops."""
    stages: dict[str, float] = {}
    started = time.perf_counter()
    held = timed(stages, "exposure_s", lambda: exposure(market.positions, usd_kzt=USD_KZT))
    aligned = timed(stages, "align_s", lambda: align_closes(market.series))
    returns = timed(stages, "log_returns_s", lambda: log_returns(aligned.closes_usd))
    timed(
        stages,
        "volatility_s",
        lambda: [realised_volatility(returns, window) for window in VOLATILITY_WINDOWS_DAYS],
    )
    timed(stages, "correlation_s", lambda: correlation_matrix(returns))
    values = values_in_order(held, aligned.asset_ids)
    report = timed(stages, "var_es_s", lambda: risk_report(values, returns))
    values_usd = {line.asset_id: line.value_usd for line in held.assets}
    timed(stages, "stress_s", lambda: stress_all(DEFAULT_SCENARIOS, values_usd))
    stages["total_s"] = time.perf_counter() - started
    return stages, held, report, aligned.dates_dropped


def benchmark(assets: int, days: int, runs: int, seed: int) -> dict[str, Any]:
    market = synthetic_market(assets, days, seed)
    results = [one_run(market) for _ in range(runs)]
    totals = [stages["total_s"] for stages, _, _, _ in results]
    median_index = totals.index(statistics.median_low(totals))
    stages, held, report, dropped = results[median_index]
    return {
        "benchmark": "fund",
        "assets": assets,
        "days": days,
        "runs": runs,
        "seed": seed,
        "dates_dropped": dropped,
        "return_days": report.observations,
        "wall_s": round(stages["total_s"], 6),
        "wall_s_min": round(min(totals), 6),
        "target_s": TARGET_S,
        "within_target": stages["total_s"] < TARGET_S,
        "stages_s": {name: round(value, 6) for name, value in stages.items()},
        "total_usd": str(held.total_usd),
        "effective_assets": round(held.effective_assets, 3),
        "primary_method": PRIMARY_METHOD,
        "figures": [
            {
                "method": figure.method,
                "level": figure.level,
                "horizon_days": figure.horizon_days,
                "var_usd": str(figure.var_usd),
                "es_usd": str(figure.es_usd),
            }
            for figure in report.figures
        ],
    }


def parse_arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--assets", type=int, default=ASSETS_DEFAULT)
    parser.add_argument("--days", type=int, default=DAYS_DEFAULT)
    parser.add_argument("--runs", type=int, default=RUNS_DEFAULT)
    parser.add_argument("--seed", type=int, default=SEED_DEFAULT)
    parser.add_argument("--output", default=str(RESULT_PATH), help="'' to print only")
    args = parser.parse_args(argv)
    if not 1 <= args.assets <= ASSETS_MAX:
        parser.error(f"--assets: expected 1 to {ASSETS_MAX}, got {args.assets}")
    if not DAYS_MIN <= args.days <= DAYS_MAX:
        parser.error(f"--days: expected {DAYS_MIN} to {DAYS_MAX}, got {args.days}")
    if not 1 <= args.runs <= RUNS_MAX:
        parser.error(f"--runs: expected 1 to {RUNS_MAX}, got {args.runs}")
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_arguments(argv)
    document = json.dumps(benchmark(args.assets, args.days, args.runs, args.seed), indent=2)
    print(document)
    if args.output:
        Path(args.output).parent.mkdir(parents=True, exist_ok=True)
        Path(args.output).write_text(document + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
