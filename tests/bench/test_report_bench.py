"""The report benchmark runs, small, and reports every figure it promises."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.bench.runner import run_bench

BENCH = Path(__file__).resolve().parents[2] / "bench" / "report_bench.py"
TIMEOUT_S = 90
FORMATS = ("json", "csv", "xlsx", "pdf")


def test_report_bench_runs_small_on_sqlite(tmp_path: Path) -> None:
    output = tmp_path / "report.json"
    arguments = ["--holdings", "200", "--assets", "8", "--cases", "10", "--output", str(output)]
    report = run_bench(BENCH, *arguments, timeout_s=TIMEOUT_S)
    assert json.loads(output.read_text()) == report
    assert (report["benchmark"], report["holdings"], report["assets"]) == ("report", 200, 8)
    figures = report["sqlite"]
    assert set(figures["formats"]) == set(FORMATS)
    for name in FORMATS:
        assert figures["formats"][name]["wall_s"] > 0 and figures["formats"][name]["bytes"] > 0
    assert figures["compute_s"] > 0 and figures["raw_select_positions_s"] > 0
    assert figures["ratio_raw_csv_to_csv_report"] > 0


def test_report_bench_refuses_a_size_beyond_its_bound() -> None:
    finished = subprocess.run(
        [sys.executable, str(BENCH), "--holdings", "100001", "--output", ""],
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
        check=False,
    )
    assert finished.returncode == 2 and "--holdings: expected 1 to 100000" in finished.stderr
