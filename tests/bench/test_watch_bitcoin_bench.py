"""The Bitcoin watching benchmark runs, tiny, and reports every figure it promises."""

from __future__ import annotations

from pathlib import Path

from tests.bench.runner import run_bench

BENCH = Path(__file__).resolve().parents[2] / "bench" / "watch_bitcoin_bench.py"
TIMEOUT_S = 900  # generous: a loaded machine is slow, never wrong


def test_watch_bitcoin_bench_runs_tiny() -> None:
    report = run_bench(BENCH, "--addresses", "30", "--funded-every", "3", timeout_s=TIMEOUT_S)
    assert (report["benchmark"], report["addresses"], report["funded"]) == ("watch_bitcoin", 30, 10)
    assert report["balances_agree"] is True
    assert report["scan"]["calls"] == 1  # one scantxoutset for every address: its block is the tip
    assert report["naive_scan"]["calls"] == 2 + 30
    assert report["wallet"]["calls"] == 5  # a reading after the first: no import, no rescan
    assert report["esplora"]["calls"] == report["esplora_sequential"]["calls"] == 2 + 30 + 1
    for name in ("scan", "naive_scan", "wallet", "naive_wallet", "esplora", "esplora_sequential"):
        assert report[name]["wall_s"] > 0, name
    for name in ("scan_ratio", "wallet_ratio", "esplora_ratio"):
        assert report[name]["calls"] > 0 and report[name]["wall"] > 0, name
