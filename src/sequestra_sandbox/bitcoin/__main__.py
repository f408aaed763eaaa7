"""Run the Bitcoin regtest stand-in: `python -m sequestra_sandbox.bitcoin --datadir DIR`.

It writes `<datadir>/regtest/.cookie` (unless --rpcpassword is given), serves Bitcoin
Core's JSON-RPC on --bind:--port (and Esplora's REST API under /api on --esplora-port, if
given) until SIGINT, SIGTERM or the `stop` RPC, then deletes the cookie (and writes
--snapshot, if given).
"""

from __future__ import annotations

import argparse
import signal
import sys
from pathlib import Path
from types import FrameType

from sequestra_sandbox.bitcoin.chain import DATACARRIER_BYTES_MAX_DEFAULT
from sequestra_sandbox.bitcoin.esplora import EsploraStandIn
from sequestra_sandbox.bitcoin.rpc import DEFAULT_RPC_PORT, BitcoindStandIn, StandInOptions


def _parser() -> argparse.ArgumentParser:
    """Build the command-line parser."""
    parser = argparse.ArgumentParser(
        prog="python -m sequestra_sandbox.bitcoin",
        description="Regtest stand-in speaking Bitcoin Core's JSON-RPC.",
    )
    parser.add_argument("--datadir", type=Path, required=True, help="data directory")
    parser.add_argument("--port", type=int, default=DEFAULT_RPC_PORT, help="RPC port (18443)")
    parser.add_argument("--bind", default="127.0.0.1", help="address to listen on")
    parser.add_argument(
        "--esplora-port", type=int, default=None, help="also serve Esplora REST on this port"
    )
    parser.add_argument("--rpcuser", default=None, help="user for --rpcpassword")
    parser.add_argument("--rpcpassword", default=None, help="password (disables the cookie)")
    parser.add_argument("--txindex", action="store_true", help="index every transaction")
    parser.add_argument("--warmup-s", type=float, default=0.0, help="answer -28 this long")
    parser.add_argument("--scan-delay-s", type=float, default=0.0, help="slow scantxoutset")
    parser.add_argument("--snapshot", type=Path, default=None, help="JSON state file")
    parser.add_argument(
        "--funded-wallet", default=None, help="create this signing wallet and mine 101 blocks"
    )
    parser.add_argument(
        "--fallback-fee-sat-per-kvb",
        type=int,
        default=20_000,
        help="wallet fee rate without an estimate; 0 disables it, as -fallbackfee=0",
    )
    parser.add_argument(
        "--fee-estimate-sat-per-kvb",
        type=int,
        default=None,
        help="what estimatesmartfee answers (default: no estimate, as on regtest)",
    )
    parser.add_argument(
        "--datacarrier-bytes-max",
        type=int,
        default=DATACARRIER_BYTES_MAX_DEFAULT,
        help="bytes of OP_RETURN script relayed, as -datacarriersize (100000)",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run until stopped; return the process exit status."""
    arguments = _parser().parse_args(argv)
    options = StandInOptions(
        host=arguments.bind,
        port=arguments.port,
        rpc_user=arguments.rpcuser,
        rpc_password=arguments.rpcpassword,
        txindex=arguments.txindex,
        warmup_s=arguments.warmup_s,
        scan_delay_s=arguments.scan_delay_s,
        snapshot_path=arguments.snapshot,
        funded_wallet=arguments.funded_wallet,
        fallback_fee_sat_per_kvb=arguments.fallback_fee_sat_per_kvb,
        fee_estimate_sat_per_kvb=arguments.fee_estimate_sat_per_kvb,
        datacarrier_bytes_max=arguments.datacarrier_bytes_max,
    )
    standin = BitcoindStandIn(arguments.datadir, options)
    standin.start()
    esplora: EsploraStandIn | None = None
    if arguments.esplora_port is not None:
        esplora = EsploraStandIn(standin.node, arguments.bind, arguments.esplora_port)
        esplora.start()
        print(f"esplora stand-in listening on {esplora.url}", file=sys.stderr, flush=True)

    def _on_signal(number: int, frame: FrameType | None) -> None:
        standin.request_stop()

    signal.signal(signal.SIGINT, _on_signal)
    signal.signal(signal.SIGTERM, _on_signal)
    print(f"bitcoind stand-in listening on {standin.url}", file=sys.stderr, flush=True)
    standin.wait()
    if esplora is not None:
        esplora.stop()
    standin.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
