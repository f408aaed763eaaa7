"""Run the sandbox venues: `python -m sequestra_sandbox.venues --port N`.

Binance, Kraken and OKX listen on ports N, N+1 and N+2 (in the order of --venues) until
SIGINT or SIGTERM. The scenario's clock is frozen at --now (default: the current second);
prints each venue's base URL and how to point ccxt at it.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
import time
from datetime import datetime
from types import FrameType
from typing import Final

from sequestra_sandbox.venues.scenario import EXTRA_ASSETS_MAX, VENUE_IDS, Scenario
from sequestra_sandbox.venues.server import start_venues

DEFAULT_PORT: Final = 18_100
STOP_POLL_INTERVAL_S: Final = 0.5


def _now_ms(text: str | None) -> int:
    """Parse --now: ISO 8601 with a zone, or milliseconds; None is the current second."""
    if text is None:
        return int(time.time()) * 1000
    if text.isdigit():
        return int(text)
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        raise argparse.ArgumentTypeError(f"expected a time zone in --now, got {text!r}")
    return int(moment.timestamp() * 1000)


def _parser() -> argparse.ArgumentParser:
    """Build the command-line parser."""
    parser = argparse.ArgumentParser(
        prog="python -m sequestra_sandbox.venues",
        description="Local Binance, Kraken and OKX public market data for ccxt.",
    )
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help="first port (18100)")
    parser.add_argument("--bind", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--venues", nargs="+", default=list(VENUE_IDS), choices=VENUE_IDS)
    parser.add_argument("--seed", type=int, default=0, help="seed of the price paths")
    parser.add_argument("--now", default=None, help="the venues' clock (ISO 8601 or ms)")
    parser.add_argument(
        "--extra-assets",
        type=int,
        default=0,
        help=f"synthetic assets TKN001.. (<= {EXTRA_ASSETS_MAX})",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    """Serve until SIGINT or SIGTERM; return the process exit status."""
    arguments = _parser().parse_args(argv)
    scenario = Scenario.starting(_now_ms(arguments.now), arguments.seed, arguments.extra_assets)
    running = start_venues(scenario, tuple(arguments.venues), arguments.bind, arguments.port)
    stop = threading.Event()

    def _on_signal(number: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGINT, _on_signal)
    signal.signal(signal.SIGTERM, _on_signal)
    for venue, url in running.urls.items():
        print(f"{venue} {url}", flush=True)
    print(
        "ccxt: from sequestra_sandbox.venues import sandbox_exchange; "
        "exchange = sandbox_exchange('binance', '<url>')",
        file=sys.stderr,
        flush=True,
    )
    try:
        while not stop.wait(STOP_POLL_INTERVAL_S):
            pass
    finally:
        running.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
