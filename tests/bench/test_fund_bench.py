"""The State Fund risk benchmark runs, small, and reports every figure it promises."""

from __future__ import annotations

import json
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

from tests.bench.runner import run_bench

BENCH = Path(__file__).resolve().parents[2] / "bench" / "fund_bench.py"
TIMEOUT_S = 30
STAGES = (
    "exposure_s",
    "align_s",
    "log_returns_s",
    "volatility_s",
    "correlation_s",
    "var_es_s",
    "stress_s",
    "total_s",
)


def test_fund_bench_runs_small(tmp_path: Path) -> None:
    output = tmp_path / "fund.json"
    arguments = ["--assets", "12", "--days", "200", "--runs", "2", "--output", str(output)]
    report = run_bench(BENCH, *arguments, timeout_s=TIMEOUT_S)
    assert json.loads(output.read_text()) == report
    assert (report["benchmark"], report["assets"], report["days"]) == ("fund", 12, 200)
    assert report["dates_dropped"] > 0 and report["return_days"] == 199 - report["dates_dropped"]
    assert report["wall_s"] > 0 and report["target_s"] == 1.0
    assert set(report["stages_s"]) == set(STAGES)
    methods = {(f["method"], f["level"], f["horizon_days"]) for f in report["figures"]}
    for level in (0.95, 0.99):
        for horizon in (1, 10):
            assert ("historical", level, horizon) in methods
            assert ("parametric-normal", level, horizon) in methods
        assert ("historical-overlapping", level, 10) in methods
    for figure in report["figures"]:
        assert Decimal(figure["var_usd"]) > 0
        assert Decimal(figure["es_usd"]) >= Decimal(figure["var_usd"])


def test_fund_bench_refuses_too_few_days() -> None:
    finished = subprocess.run(
        [sys.executable, str(BENCH), "--days", "50", "--output", ""],
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
        check=False,
    )
    assert finished.returncode == 2
    assert "--days: expected 120 to 4000, got 50" in finished.stderr
