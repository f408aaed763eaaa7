"""Bitcoin watching benchmark: one reading of many custody addresses on the regtest stand-in.

Every address is watched; one in `--funded-every` is paid (in transactions of up to
PAYMENTS_PER_TX outputs, then mined). Each way of reading is timed from outside and its
HTTP requests counted, beside the naive way that asks once per address, measured in the
same run against the same chain:

* scan: `scantxoutset` with chunks of addr() descriptors, against one scantxoutset per address;
* wallet: a watch-only wallet's `listunspent` in chunks (after its one-off imports), against
  one listunspent per address (timed on `--naive-wallet-addresses` of them and scaled: the
  stand-in's wallet is slow per call when it watches thousands of scripts);
* esplora: one `/utxo` per address by nature, with bounded concurrency against one at a time.

Every way must find the same balances. Prints one JSON document. Not a test: figures
depend on the machine (and on the stand-in, which is slower per call than Bitcoin Core and
whose UTXO set is small); compare the ratios.

    python bench/watch_bitcoin_bench.py [--addresses 10000] [--funded-every 10]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import tempfile
import time
from collections.abc import Callable
from decimal import Decimal
from functools import partial
from pathlib import Path
from typing import Any, Final

from bitcoin.rpc import RawProxy  # type: ignore[import-untyped]

from sequestra.chains.bitcoin.core_reader import BitcoinCoreReader
from sequestra.chains.bitcoin.esplora import EsploraReader
from sequestra.chains.observation import ChainReading
from sequestra.config.bitcoin import BitcoinWatchSettings
from sequestra.custody.assets import Asset
from sequestra_sandbox.bitcoin import BitcoinSandbox, running_bitcoin_sandbox
from sequestra_sandbox.bitcoin.chain import encode_segwit_address

ADDRESSES_MAX: Final = 100_000
PAYMENTS_PER_TX: Final = 500
PAYMENT_SATS_BASE: Final = 10_000
SCAN_CHUNK_ADDRESSES: Final = 500
WALLET_CHUNK_ADDRESSES: Final = 1_000
ESPLORA_CONCURRENCY: Final = 8
NAIVE_WALLET_ADDRESSES: Final = 1_000
TIMEOUT_S: Final = 600.0
MINER: Final = "miner"
BTC: Final = Asset("bitcoin:BTC", "bitcoin", "BTC", "native", None, 8)
SATS_PER_BTC: Final = 100_000_000


def watched_addresses(count: int) -> list[str]:
    """Regtest P2WPKH addresses derived from a counter (nobody holds their keys)."""
    return [
        encode_segwit_address(0, hashlib.sha256(f"custody/{n}".encode()).digest()[:20])
        for n in range(count)
    ]


def _proxy(sandbox: BitcoinSandbox, path: str = "/") -> Any:
    credentials = sandbox.cookie_path.read_text()
    url = sandbox.rpc_url.replace("://", f"://{credentials}@") + path
    return RawProxy(service_url=url, timeout=TIMEOUT_S)


def fund(sandbox: BitcoinSandbox, addresses: list[str]) -> dict[str, int]:
    """Pay every address a distinct amount, PAYMENTS_PER_TX outputs per transaction; mine."""
    node, miner = _proxy(sandbox), _proxy(sandbox, f"/wallet/{MINER}")
    paid: dict[str, int] = {}
    for start in range(0, len(addresses), PAYMENTS_PER_TX):
        batch = addresses[start : start + PAYMENTS_PER_TX]
        amounts = {a: PAYMENT_SATS_BASE + start + n for n, a in enumerate(batch)}
        coin = max(miner.listunspent(0), key=lambda item: item["amount"])
        outputs = {a: str(Decimal(sats) / SATS_PER_BTC) for a, sats in amounts.items()}
        raw = node.createrawtransaction([{"txid": coin["txid"], "vout": coin["vout"]}], outputs)
        signed = miner.signrawtransactionwithwallet(miner.fundrawtransaction(raw)["hex"])
        node.sendrawtransaction(signed["hex"])
        paid.update(amounts)
    node.generatetoaddress(1, miner.getnewaddress())
    return paid


def _timed(read: Callable[[], tuple[dict[str, int], int]]) -> tuple[dict[str, int], dict[str, Any]]:
    """Run one reading; return its balances and {calls, wall_s}."""
    started = time.perf_counter()
    balances, calls = read()
    return balances, {"calls": calls, "wall_s": round(time.perf_counter() - started, 3)}


def _read_all(reader: EsploraReader, addresses: list[str]) -> tuple[dict[str, int], int]:
    return _reading(reader.read_balances(addresses, [BTC], None))


def _reading(reading: ChainReading) -> tuple[dict[str, int], int]:
    return {b.address: b.amount_base for b in reading.balances if b.amount_base}, reading.calls


def naive_scan(sandbox: BitcoinSandbox, addresses: list[str]) -> tuple[dict[str, int], int]:
    """The tip, then one scantxoutset per address."""
    node = _proxy(sandbox)
    node.getblockheader(node.getbestblockhash())
    balances: dict[str, int] = {}
    for address in addresses:
        found = node.scantxoutset("start", [f"addr({address})"])
        sats = sum(int(u["amount"] * SATS_PER_BTC) for u in found["unspents"])
        if sats:
            balances[address] = sats
    return balances, 2 + len(addresses)


def naive_wallet(
    sandbox: BitcoinSandbox, addresses: list[str], wallet: str
) -> tuple[dict[str, int], int]:
    """The tip, then one listunspent per address (the wallet already imported them)."""
    node, watch = _proxy(sandbox), _proxy(sandbox, f"/wallet/{wallet}")
    node.getblockheader(node.getbestblockhash())
    balances: dict[str, int] = {}
    for address in addresses:
        found = watch.listunspent(1, 9_999_999, [address])
        sats = sum(int(u["amount"] * SATS_PER_BTC) for u in found)
        if sats:
            balances[address] = sats
    return balances, 2 + len(addresses)


def _core(sandbox: BitcoinSandbox, mode: str) -> BitcoinCoreReader:
    settings = BitcoinWatchSettings.model_validate(
        {
            "rpc_url": sandbox.rpc_url,
            "cookie_file": sandbox.cookie_path,
            "mode": mode,
            "scan_chunk_addresses": SCAN_CHUNK_ADDRESSES,
            "wallet_chunk_addresses": WALLET_CHUNK_ADDRESSES,
            "timeout_s": TIMEOUT_S,
            "scan_timeout_s": TIMEOUT_S,
        }
    )
    return BitcoinCoreReader(settings, "regtest")


def _esplora(sandbox: BitcoinSandbox, concurrency: int) -> EsploraReader:
    settings = BitcoinWatchSettings(
        backend="esplora",
        esplora_url=sandbox.esplora_url,
        esplora_concurrency=concurrency,
        timeout_s=TIMEOUT_S,
    )
    return EsploraReader(settings, "regtest")


def _ratio(naive: dict[str, Any], batched: dict[str, Any]) -> dict[str, float]:
    return {
        "calls": round(naive["calls"] / batched["calls"], 1),
        "wall": round(naive["wall_s"] / max(batched["wall_s"], 1e-6), 1),
    }


def bench(
    addresses: list[str], funded_every: int, naive_wallet_addresses: int, skip: set[str]
) -> dict[str, Any]:
    """Run every way of reading on one chain; return the report."""
    report: dict[str, Any] = {}
    covered: dict[str, set[str]] = {}  # ways that read only some addresses
    with (
        tempfile.TemporaryDirectory() as directory,
        running_bitcoin_sandbox(Path(directory), funded_wallet=MINER) as sandbox,
    ):
        expected = fund(sandbox, addresses[::funded_every])
        report["funded"] = len(expected)
        report["utxo_set"] = _proxy(sandbox).scantxoutset("start", [])["txouts"]
        found: dict[str, dict[str, int]] = {}
        scan = _core(sandbox, "scan")
        scan.read_balances([], [BTC], None)  # the one-off network check
        found["scan"], report["scan"] = _timed(
            lambda: _reading(scan.read_balances(addresses, [BTC], None))
        )
        found["naive_scan"], report["naive_scan"] = _timed(lambda: naive_scan(sandbox, addresses))
        report["scan_ratio"] = _ratio(report["naive_scan"], report["scan"])
        if "wallet" not in skip:
            report.update(_bench_wallet(sandbox, addresses, naive_wallet_addresses, found, covered))
        if "esplora" not in skip:
            report.update(_bench_esplora(sandbox, addresses, found))
    report["balances_agree"] = all(
        balances == {a: sats for a, sats in expected.items() if a in covered.get(name, expected)}
        for name, balances in found.items()
    )
    return report


def _bench_wallet(
    sandbox: BitcoinSandbox,
    addresses: list[str],
    naive_wallet_addresses: int,
    found: dict[str, dict[str, int]],
    covered: dict[str, set[str]],
) -> dict[str, Any]:
    """The wallet mode: first reading (imports), a steady one, and naive listunspent.

    The naive way runs on the first `naive_wallet_addresses` addresses (the stand-in's
    listunspent is slow with a large wallet); its wall time is scaled to all of them.
    """
    report: dict[str, Any] = {}
    wallet = _core(sandbox, "wallet")
    wallet.read_balances([], [BTC], None)
    _, report["wallet_first_reading"] = _timed(
        lambda: _reading(wallet.read_balances(addresses, [BTC], None))
    )
    found["wallet"], report["wallet"] = _timed(
        lambda: _reading(wallet.read_balances(addresses, [BTC], None))
    )
    name = BitcoinWatchSettings(rpc_url=sandbox.rpc_url).wallet
    sample = addresses[:naive_wallet_addresses]
    balances, measured = _timed(lambda: naive_wallet(sandbox, sample, name))
    found["naive_wallet"] = balances
    covered["naive_wallet"] = set(sample)
    scale = (2 + len(addresses)) / measured["calls"]
    report["naive_wallet"] = {
        "calls": 2 + len(addresses),
        "wall_s": round(measured["wall_s"] * scale, 3),
        "measured_addresses": len(sample),
        "measured_wall_s": measured["wall_s"],
        "wall_s_extrapolated": len(sample) < len(addresses),
    }
    report["wallet_ratio"] = _ratio(report["naive_wallet"], report["wallet"])
    return report


def _bench_esplora(
    sandbox: BitcoinSandbox, addresses: list[str], found: dict[str, dict[str, int]]
) -> dict[str, Any]:
    """Esplora: per address by nature; concurrent against one request at a time."""
    report: dict[str, Any] = {}
    for key, concurrency in (("esplora", ESPLORA_CONCURRENCY), ("esplora_sequential", 1)):
        reader = _esplora(sandbox, concurrency)
        reader.read_balances([], [BTC], None)
        found[key], report[key] = _timed(partial(_read_all, reader, addresses))
        report[key]["concurrency"] = concurrency
        reader.close()
    report["esplora_ratio"] = _ratio(report["esplora_sequential"], report["esplora"])
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--addresses", type=int, default=10_000)
    parser.add_argument("--funded-every", type=int, default=10)
    parser.add_argument(
        "--naive-wallet-addresses",
        type=int,
        default=NAIVE_WALLET_ADDRESSES,
        help="addresses the naive listunspent loop reads (its time is scaled to all)",
    )
    parser.add_argument("--skip", default="", help="comma-separated: wallet, esplora")
    args = parser.parse_args()
    if not 1 <= args.addresses <= ADDRESSES_MAX:
        parser.error(f"--addresses: expected 1 to {ADDRESSES_MAX}, got {args.addresses}")
    if not 1 <= args.funded_every <= args.addresses:
        parser.error(f"--funded-every: expected 1 to {args.addresses}, got {args.funded_every}")
    skip = {name for name in args.skip.split(",") if name}
    print(f"benchmarking {args.addresses} addresses...", file=sys.stderr)
    report: dict[str, Any] = {
        "benchmark": "watch_bitcoin",
        "addresses": args.addresses,
        "cores": os.cpu_count(),
        "scan_chunk_addresses": SCAN_CHUNK_ADDRESSES,
        "wallet_chunk_addresses": WALLET_CHUNK_ADDRESSES,
    }
    naive_wallet_addresses = min(max(args.naive_wallet_addresses, 1), args.addresses)
    addresses = watched_addresses(args.addresses)
    report.update(bench(addresses, args.funded_every, naive_wallet_addresses, skip))
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
