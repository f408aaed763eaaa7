"""The Ethereum watcher benchmark runs, small, on anvil and reports every figure it promises."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from sequestra_sandbox.anvil import AnvilNotFoundError, find_anvil
from tests.bench.runner import run_bench

ROOT = Path(__file__).resolve().parents[2]
BENCH = ROOT / "bench" / "watch_ethereum_bench.py"
REQUIRE_ANVIL_ENV = "SEQUESTRA_REQUIRE_ANVIL"
TIMEOUT_S = 60


def test_watch_ethereum_bench_runs_small() -> None:
    try:
        find_anvil(ROOT)
    except AnvilNotFoundError as error:
        if os.environ.get(REQUIRE_ANVIL_ENV) == "1":
            pytest.fail(f"{REQUIRE_ANVIL_ENV}=1 but {error}")
        pytest.skip(f"anvil is not installed: {error}")
    report = run_bench(BENCH, "--addresses", "30", timeout_s=TIMEOUT_S, cwd=ROOT)
    assert (report["benchmark"], report["balances"]) == ("watch_ethereum", 60)
    assert report["reader"]["rpc_calls"] == 3  # chain ID, the finalized block, one aggregate3
    assert report["naive"]["rpc_calls"] == 60
    assert report["funding"]["mint_transactions"] == 2
    for side in ("reader", "naive"):
        assert report[side]["wall_s"] > 0 and report[side]["balances_per_s"] > 0
    assert report["ratio"]["rpc_calls_naive_per_reader"] == 20.0
