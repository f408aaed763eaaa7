"""The API benchmark runs, small, and reports every figure it promises."""

from __future__ import annotations

from pathlib import Path

from tests.bench.runner import run_bench

BENCH = Path(__file__).resolve().parents[2] / "bench" / "api_bench.py"
TIMEOUT_S = 120


def test_api_bench_runs_small_on_sqlite() -> None:
    arguments = ["--holdings", "40", "--seconds", "0.2", "--concurrency", "2"]
    report = run_bench(BENCH, *arguments, timeout_s=TIMEOUT_S)
    assert (report["benchmark"], report["database"], report["holdings"]) == ("api", "sqlite", 40)
    assert report["bare_asgi"]["requests_per_s"] > 0
    assert set(report["endpoints"]) == {
        "/api/v1/cases",
        "/api/v1/holdings?limit=100",
        "/api/v1/entries?limit=100",
        "/api/v1/checkpoints/latest",
        "/health",
    }
    for path, figures in report["endpoints"].items():
        assert figures["non_200"] == 0, path
        for name in ("requests_per_s", "latency_ms_p50", "latency_ms_p99", "ratio_to_bare_asgi"):
            assert figures[name] > 0, (path, name)
        assert figures["latency_ms_p50"] <= figures["latency_ms_p99"], path
