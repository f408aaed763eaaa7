"""The revaluation benchmark runs, small, and reports every figure it promises."""

from __future__ import annotations

import json
from pathlib import Path

from tests.bench.runner import run_bench

BENCH = Path(__file__).resolve().parents[2] / "bench" / "revalue_bench.py"
TIMEOUT_S = 60
VENUES = ("binance", "kraken", "okx")
PHASES = (
    "holdings_read_s",
    "fetch_quotes_s",
    "aggregation_s",
    "fx_s",
    "recording_s",
    "valuing_holdings_s",
    "other_s",
)


def test_revalue_bench_runs_small_on_sqlite(tmp_path: Path) -> None:
    output = tmp_path / "revalue.json"
    arguments = ["--holdings", "300", "--assets", "20", "--database", "sqlite"]
    arguments += ["--warm-runs", "3", "--raw-runs", "2", "--output", str(output)]
    report = run_bench(BENCH, *arguments, timeout_s=TIMEOUT_S)
    assert json.loads(output.read_text()) == report
    assert (report["benchmark"], report["holdings"], report["assets"]) == ("revalue", 300, 20)
    assert "postgresql" not in report
    figures = report["sqlite"]
    assert 0 < figures["valuation_entry_bytes"] <= figures["valuation_entry_bytes_max"]
    first, warm = figures["first_run"], figures["warm_run_median"]
    for run in (first, warm):
        assert (run["holdings_valued"], run["prices"]) == (300, 20)
        assert run["wall_s"] > 0 and set(run["phases_s"]) == set(PHASES)
        assert [run["requests"][venue]["tickers"] for venue in VENUES] == [1, 1, 1]
    assert all(first["requests"][venue]["markets"] == 1 for venue in VENUES)
    # Kraken's tickers carry no time: each pair's latest trade dates it (one request a pair)
    assert all(set(warm["requests"][venue]) == {"tickers"} for venue in ("binance", "okx"))
    assert set(warm["requests"]["kraken"]) == {"tickers", "trades"}
    assert len(figures["warm_runs_wall_s"]) == 3
    raw = figures["raw_fetch_tickers"]
    assert raw["wall_s"] > 0 and set(raw["per_venue_s"]) == set(VENUES)
    assert raw["pairs"] == {"binance": 21, "kraken": 23, "okx": 21}
    assert figures["raw_ratio_to_warm_revalue"] > 0
    assert figures["raw_ratio_to_warm_fetch_quotes"] > 0
