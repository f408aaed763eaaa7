"""The Bitcoin regtest stand-in and an Esplora server over its chain, as one background process.

    python -m sequestra_sandbox.bitcoin_process --datadir DIR --ready-file FILE
        [--rpc-port N] [--esplora-port N]

Both servers listen on 127.0.0.1, on the ports given (0, the default: any free port;
`sequestra-sandbox up` gives its fixed ones). A port that is taken ends the process with
"Address already in use" on stderr, never a move to another port. Once both serve, the
process writes FILE (JSON: `rpc_url`, `cookie_path`, `esplora_url`, `pid`) through a
temporary file and a rename, so whoever started it learns where they listen and never reads
half a file. SIGTERM or SIGINT stops both servers and deletes the cookie.
`sequestra-sandbox up` starts it this way.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
from pathlib import Path
from types import FrameType
from typing import Final

from sequestra_sandbox.bitcoin import BitcoindStandIn, EsploraStandIn, StandInOptions

LOOPBACK: Final = "127.0.0.1"
FUNDED_WALLET_DEFAULT: Final = "sandbox"  # created at start, 101 blocks mined to it
PORT_MAX: Final = 65535


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m sequestra_sandbox.bitcoin_process",
        description="The Bitcoin regtest stand-in and its Esplora server, until SIGTERM.",
    )
    parser.add_argument("--datadir", type=Path, required=True, help="data directory (cookie)")
    parser.add_argument("--ready-file", type=Path, required=True, help="JSON written when ready")
    parser.add_argument(
        "--funded-wallet",
        default=FUNDED_WALLET_DEFAULT,
        help="signing wallet created at start, with 101 blocks mined to it",
    )
    parser.add_argument("--rpc-port", type=_port, default=0, help="RPC port (0: any free)")
    parser.add_argument("--esplora-port", type=_port, default=0, help="Esplora port (0: any free)")
    return parser


def _port(text: str) -> int:
    port = int(text)
    if not 0 <= port <= PORT_MAX:
        raise argparse.ArgumentTypeError(f"expected 0..{PORT_MAX}, got {port}")
    return port


def write_ready_file(path: Path, document: dict[str, object]) -> None:
    """Write `document` to `path` atomically (a temporary file, then a rename)."""
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(json.dumps(document, sort_keys=True), encoding="utf-8")
    os.replace(temporary, path)


def main(argv: list[str] | None = None) -> int:
    """Serve until SIGTERM or SIGINT; return the exit status.

    Raises OSError when a port cannot be bound or the data directory written.
    """
    arguments = _parser().parse_args(argv)
    options = StandInOptions(
        host=LOOPBACK, port=arguments.rpc_port, funded_wallet=arguments.funded_wallet
    )
    standin = BitcoindStandIn(arguments.datadir, options)
    standin.start()
    esplora = EsploraStandIn(standin.node, LOOPBACK, arguments.esplora_port)
    try:
        esplora.start()

        def _on_signal(number: int, frame: FrameType | None) -> None:
            standin.request_stop()

        signal.signal(signal.SIGINT, _on_signal)
        signal.signal(signal.SIGTERM, _on_signal)
        ready = {
            "rpc_url": standin.url,
            "cookie_path": str(standin.cookie_path.resolve()),
            "esplora_url": esplora.url,
            "pid": os.getpid(),
        }
        write_ready_file(arguments.ready_file, ready)
        print(f"bitcoind stand-in {standin.url}, Esplora {esplora.url}", file=sys.stderr)
        standin.wait()
    finally:
        esplora.stop()
        standin.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
