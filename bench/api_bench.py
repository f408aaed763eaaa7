"""HTTP API read benchmark: requests per second and p50/p99 latency per endpoint.

Builds a ledger of --holdings holdings (as bench/revalue_bench.py does) with a signed
checkpoint, serves `create_app` with uvicorn in a child process (one worker, as
`sequestra serve` does), and drives it from this process with --concurrency threads, each
with its own keep-alive httpx client, for --seconds per endpoint. As the physical
reference, the same load generator drives a bare ASGI app (one fixed 200 answer) served by
uvicorn in another child process; each endpoint's ratio to it is printed. The load
generator is Python too: the reference shows its ceiling on this machine.

Prints one JSON document. Not a test: figures depend on the machine; compare the ratios.

    python bench/api_bench.py [--holdings 10000] [--database sqlite|postgresql] [--output FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

sys.path.insert(0, str(Path(__file__).resolve().parent))

import httpx
from ledger_bench import Database
from revalue_bench import WALLETS_PER_CHAIN, Keys, bench_assets, build_ledger

from sequestra.composition import application
from sequestra.ledger.checkpoints import create_checkpoint
from sequestra.ledger.db import create_ledger_engine
from sequestra.ledger.signer import CheckpointSigner, SignerStore
from sequestra.service.access.tokens import create_token

APPLICATION = application()

HOLDINGS_DEFAULT: Final = 10_000
HOLDINGS_MAX: Final = 100_000
CASES_MIN: Final = 100
ASSETS: Final = 4  # the built-in ones
SECONDS_DEFAULT: Final = 5.0
SECONDS_MAX: Final = 600.0
CONCURRENCY_DEFAULT: Final = 8
CONCURRENCY_MAX: Final = 64
REQUEST_TIMEOUT_S: Final = 30.0
STARTUP_TIMEOUT_S: Final = 60.0
STOP_TIMEOUT_S: Final = 10.0
HOST: Final = "127.0.0.1"
ENDPOINTS: Final = (
    "/api/v1/cases",
    "/api/v1/holdings?limit=100",
    "/api/v1/entries?limit=100",
    "/api/v1/checkpoints/latest",
    "/health",
)
SERVE_API: Final = (
    "import sys, uvicorn\n"
    "from sequestra.ledger.db import create_ledger_engine\n"
    "from sequestra.composition import application\n"
    "from sequestra.service.app import create_app\n"
    "app = create_app(create_ledger_engine(sys.argv[1]), application())\n"
    "uvicorn.run(app, host=sys.argv[2], port=int(sys.argv[3]), workers=1,"
    " log_level='warning', access_log=False)\n"
)
SERVE_BARE: Final = (
    "import sys, uvicorn\n"
    "async def app(scope, receive, send):\n"
    "    if scope['type'] != 'http':\n"
    "        return\n"
    "    await send({'type': 'http.response.start', 'status': 200,"
    " 'headers': [(b'content-type', b'application/json')]})\n"
    "    await send({'type': 'http.response.body', 'body': b'{\"status\":\"ok\"}'})\n"
    "uvicorn.run(app, host=sys.argv[1], port=int(sys.argv[2]), workers=1,"
    " log_level='warning', access_log=False)\n"
)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((HOST, 0))
        port: int = probe.getsockname()[1]
        return port


def start_server(code: str, *arguments: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-c", code, *arguments])


def wait_ready(base_url: str, server: subprocess.Popen[bytes]) -> None:
    """Wait until the server answers; raises RuntimeError when it exits or never answers."""
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"server: exited with {server.returncode} before answering")
        try:
            httpx.get(base_url + "/health", timeout=1.0)
            return
        except httpx.TransportError:
            time.sleep(0.1)
    raise RuntimeError(f"server: no answer within {STARTUP_TIMEOUT_S} s")


def stop_server(server: subprocess.Popen[bytes]) -> None:
    server.terminate()
    try:
        server.wait(STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait(STOP_TIMEOUT_S)


def _drive(url: str, headers: dict[str, str], until: float) -> tuple[list[float], int]:
    """One thread's loop: latencies (s) of 200 answers, and how many answers were not 200."""
    latencies: list[float] = []
    failures = 0
    with httpx.Client(headers=headers, timeout=REQUEST_TIMEOUT_S) as client:
        # At least one request, however late the thread starts: a loaded machine may start it
        # after `until`, and a run without an answer measures nothing.
        while True:
            started = time.perf_counter()
            response = client.get(url)
            elapsed = time.perf_counter() - started
            if response.status_code == 200:
                latencies.append(elapsed)
            else:
                failures += 1
            if time.monotonic() >= until:
                return latencies, failures


def load(url: str, headers: dict[str, str], seconds: float, concurrency: int) -> dict[str, Any]:
    """Drive `url` from `concurrency` threads for `seconds`; requests/s and latency in ms."""
    started = time.monotonic()
    until = started + seconds
    with ThreadPoolExecutor(concurrency) as pool:
        results = list(pool.map(lambda _: _drive(url, headers, until), range(concurrency)))
    wall_s = time.monotonic() - started
    latencies = sorted(x for thread, _ in results for x in thread)
    failures = sum(f for _, f in results)
    if not latencies:
        raise RuntimeError(f"{url}: no 200 answer in {seconds} s ({failures} others)")
    # quantiles needs two points; a single answer is its own p50 and p99.
    points = latencies if len(latencies) > 1 else latencies * 2
    percentiles = statistics.quantiles(points, n=100, method="inclusive")
    return {
        "requests": len(latencies),
        "non_200": failures,
        "requests_per_s": round(len(latencies) / wall_s, 1),
        "latency_ms_p50": round(percentiles[49] * 1_000, 3),
        "latency_ms_p99": round(percentiles[98] * 1_000, 3),
    }


def case_count(holdings: int) -> int:
    """Enough cases that every holding is its own (case, wallet, asset) position."""
    return max(CASES_MIN, -(-holdings // (ASSETS * WALLETS_PER_CHAIN)))


def build(url: str, holdings: int) -> str:
    """The bench ledger at `url`, with a checkpoint; returns an auditor's token."""
    engine = create_ledger_engine(url)
    try:
        keys = Keys.generate()
        build_ledger(engine, keys, bench_assets(ASSETS), holdings, case_count(holdings))
        with tempfile.TemporaryDirectory() as record:
            signer = CheckpointSigner(keys.ledger, SignerStore(Path(record) / "signer.json"))
            create_checkpoint(engine, signer)
        token, _ = create_token(engine, "auditor", "api bench", datetime.now(UTC))
    finally:
        engine.dispose()
    return token


def bench(url: str, holdings: int, seconds: float, concurrency: int) -> dict[str, Any]:
    started = time.monotonic()
    token = build(url, holdings)
    build_s = round(time.monotonic() - started, 2)
    api_port, bare_port = free_port(), free_port()
    api = start_server(SERVE_API, url, HOST, str(api_port))
    bare = start_server(SERVE_BARE, HOST, str(bare_port))
    try:
        api_url, bare_url = f"http://{HOST}:{api_port}", f"http://{HOST}:{bare_port}"
        wait_ready(api_url, api)
        wait_ready(bare_url, bare)
        reference = load(bare_url + "/", {}, seconds, concurrency)
        headers = {"Authorization": f"Bearer {token}"}
        endpoints = {}
        for path in ENDPOINTS:
            figures = load(api_url + path, headers, seconds, concurrency)
            ratio = figures["requests_per_s"] / reference["requests_per_s"]
            endpoints[path] = {**figures, "ratio_to_bare_asgi": round(ratio, 4)}
    finally:
        stop_server(api)
        stop_server(bare)
    return {"build_s": build_s, "bare_asgi": reference, "endpoints": endpoints}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--holdings", type=int, default=HOLDINGS_DEFAULT)
    parser.add_argument("--seconds", type=float, default=SECONDS_DEFAULT, help="per endpoint")
    parser.add_argument("--concurrency", type=int, default=CONCURRENCY_DEFAULT)
    parser.add_argument(
        "--database",
        choices=("sqlite", "postgresql"),
        default="sqlite",
        help="a fresh SQLite file, or a fresh schema of the local PostgreSQL (dropped after)",
    )
    parser.add_argument("--output", default="", help="also write the JSON here")
    args = parser.parse_args()
    if not 1 <= args.holdings <= HOLDINGS_MAX:
        parser.error(f"--holdings: expected 1 to {HOLDINGS_MAX}, got {args.holdings}")
    if not 0 < args.seconds <= SECONDS_MAX:
        parser.error(f"--seconds: expected above 0 and at most {SECONDS_MAX}, got {args.seconds}")
    if not 1 <= args.concurrency <= CONCURRENCY_MAX:
        parser.error(f"--concurrency: expected 1 to {CONCURRENCY_MAX}, got {args.concurrency}")
    database = args.database
    with tempfile.TemporaryDirectory() as directory:
        fresh = Database(database, Path(directory))
        print(f"benchmarking the API on {database}...", file=sys.stderr)
        try:
            figures = bench(fresh.url, args.holdings, args.seconds, args.concurrency)
        finally:
            fresh.drop()
    report = {
        "benchmark": "api",
        "database": database,
        "holdings": args.holdings,
        "cases": case_count(args.holdings),
        "seconds_per_endpoint": args.seconds,
        "concurrency": args.concurrency,
        "cores": os.cpu_count(),
        "server": "uvicorn, one worker",
        **figures,
    }
    document = json.dumps(report, indent=2)
    print(document)
    if args.output:
        Path(args.output).parent.mkdir(parents=True, exist_ok=True)
        Path(args.output).write_text(document + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
