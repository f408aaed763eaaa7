"""The custody benchmark runs, small, and reports every figure it promises."""

from __future__ import annotations

from pathlib import Path

from tests.bench.runner import run_bench

BENCH = Path(__file__).resolve().parents[2] / "bench" / "custody_bench.py"
TIMEOUT_S = 120


def test_custody_bench_runs_small_on_sqlite() -> None:
    arguments = ["--rows", "200", "--databases", "sqlite", "--raw-seconds", "0.2", "--no-startup"]
    report = run_bench(BENCH, *arguments, timeout_s=TIMEOUT_S)
    assert (report["benchmark"], report["rows"]) == ("custody", 200)
    figures = report["sqlite"]
    assert figures["raw_ed25519_sign_one_core_per_s"] > 0
    assert (figures["cases"], figures["wallets"]) == (2, 100)
    imported = figures["import"]
    assert imported["rows"] == 200
    for name in ("check_s", "sign_s", "append_s", "wall_s", "peak_rss_mib"):
        assert imported[name] > 0, name
    for name in ("rows_per_s", "sign_ratio_to_raw_one_core", "import_ratio_to_raw_one_core"):
        assert imported[name] > 0, name
    holdings = figures["holdings"]
    assert holdings["holdings"] == 200
    assert holdings["wall_s"] > 0 and holdings["peak_rss_mib"] > 0
    assert holdings["raw_select_s"] >= 0 and "raw_select_ratio_to_cli" in holdings
