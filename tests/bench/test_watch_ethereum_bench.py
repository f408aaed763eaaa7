"""The Ethereum watcher benchmark runs, small, on anvil and reports every figure it promises."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from sequestra.sandbox.anvil import AnvilNotFoundError, find_anvil

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
    finished = subprocess.run(
        [sys.executable, str(BENCH), "--addresses", "30"],
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
        check=False,
        cwd=ROOT,
    )
    assert finished.returncode == 0, finished.stderr[-2000:]
    report = json.loads(finished.stdout)
    assert (report["benchmark"], report["balances"]) == ("watch_ethereum", 60)
    assert report["reader"]["rpc_calls"] == 3  # chain ID, the finalized block, one aggregate3
    assert report["naive"]["rpc_calls"] == 60
    assert report["funding"]["mint_transactions"] == 2
    for side in ("reader", "naive"):
        assert report[side]["wall_s"] > 0 and report[side]["balances_per_s"] > 0
    assert report["ratio"]["rpc_calls_naive_per_reader"] == 20.0
