"""The API benchmark runs, small, and reports every figure it promises."""

from __future__ import annotations

from pathlib import Path

from tests.bench.runner import run_bench

BENCH = Path(__file__).resolve().parents[2] / "bench" / "api_bench.py"
# Generous: the run must pass on a loaded machine; its figures are checked, not its speed.
TIMEOUT_S = 900


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


def test_a_late_start_still_measures_one_answer_per_thread() -> None:
    """A loaded machine may start the load threads after the window closed: each still makes
    one request, so the figures never depend on how fast the machine is."""
    import http.server
    import importlib.util
    import threading

    spec = importlib.util.spec_from_file_location("api_bench_under_test", BENCH)
    assert spec is not None and spec.loader is not None
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)

    class Answer(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *_: object) -> None:
            return

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Answer)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/"
        figures = bench.load(url, {}, seconds=0.0, concurrency=1)  # the window is already over
    finally:
        server.shutdown()
        server.server_close()
    assert figures["requests"] == 1 and figures["non_200"] == 0
    assert figures["latency_ms_p50"] == figures["latency_ms_p99"] > 0
