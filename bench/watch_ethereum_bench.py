"""Ethereum watcher benchmark: 10,000 ERC-20 balances read on anvil, beside the naive way.

Funds 5,000 addresses with two sandbox tokens (mintBatch), mines them into the finalized
block, then reads every balance twice at that block: with `EthereumReader` (Multicall3
aggregate3 in batches) and one `balanceOf` eth_call per (address, token), both through the
same web3 HTTP transport. Reports the JSON-RPC requests and wall time of each and their
ratios, and checks both ways read the same balances. Prints one JSON document.

    python bench/watch_ethereum_bench.py [--addresses 5000] [--tokens 2]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from typing import Any

from eth_utils.address import to_checksum_address
from eth_utils.crypto import keccak
from web3 import HTTPProvider
from web3.types import RPCEndpoint

from sequestra.chains.ethereum.multicall import BALANCE_OF_SELECTOR
from sequestra.chains.ethereum.watcher import EthereumReader
from sequestra.config.ethereum import EthereumWatchSettings
from sequestra.custody.assets import Asset
from sequestra_sandbox.anvil import ANVIL_CHAIN_ID, AnvilNode, running_anvil
from sequestra_sandbox.ethereum import SandboxEthereum, token_asset

ADDRESSES_DEFAULT = 5_000
ADDRESSES_MAX = 50_000
TOKENS_DEFAULT = 2
TOKENS_MAX = 8
FINALITY_DEPTH_BLOCKS = 64  # anvil's finalized block is 64 below the latest
REQUEST_TIMEOUT_S = 30.0
RPC_CALLS_TARGET = 10  # the reader's budget for 10,000 balances


def addresses(count: int) -> list[str]:
    """`count` distinct, seeded addresses (nobody holds their keys)."""
    return [to_checksum_address(keccak(text=f"bench/watched/{i}")[12:]) for i in range(count)]


def fund(node: AnvilNode, watched: list[str], tokens: int) -> tuple[list[Asset], dict[str, Any]]:
    """Deploy the Multicall3 and the tokens, mint to every address, mine to finality."""
    started = time.perf_counter()
    sandbox = SandboxEthereum(node.rpc_url, node.private_keys[0])
    multicall = sandbox.deploy_multicall()
    assets: list[Asset] = []
    transactions = 0
    for index in range(tokens):
        symbol = f"BT{index}"
        asset = token_asset(f"ethereum:{symbol}", symbol, sandbox.deploy_token(symbol, symbol))
        amounts = [1_000_000 * (index + 1) + position for position in range(len(watched))]
        transactions += sandbox.mint_many(str(asset.contract), watched, amounts)
        assets.append(asset)
    sandbox.mine(FINALITY_DEPTH_BLOCKS)
    figures = {
        "multicall": multicall,
        "mint_transactions": transactions,
        "wall_s": round(time.perf_counter() - started, 3),
    }
    return assets, figures


def read_with_reader(
    node: AnvilNode, multicall: str, watched: list[str], assets: list[Asset]
) -> tuple[dict[tuple[str, str], int], int, dict[str, Any]]:
    settings = EthereumWatchSettings(
        rpc_url=node.rpc_url,
        chain_id=ANVIL_CHAIN_ID,
        multicall_address=multicall,
        block="finalized",
        timeout_s=REQUEST_TIMEOUT_S,
    )
    reader = EthereumReader(settings, "local")
    started = time.perf_counter()
    reading = reader.read_balances(watched, assets, None)
    wall_s = time.perf_counter() - started
    balances = {(item.address, item.asset_id): item.amount_base for item in reading.balances}
    figures = {
        "rpc_calls": reading.calls,
        "rpc_calls_target_max": RPC_CALLS_TARGET,
        "batch_calls_max": settings.batch_calls_max,
        "wall_s": round(wall_s, 3),
        "balances_per_s": round(len(balances) / wall_s),
    }
    return balances, reading.block.height, figures


def read_naively(
    node: AnvilNode, height: int, watched: list[str], assets: list[Asset]
) -> tuple[dict[tuple[str, str], int], dict[str, Any]]:
    """One balanceOf eth_call per (address, token) at `height`, over the same transport."""
    provider = HTTPProvider(
        node.rpc_url,
        request_kwargs={"timeout": REQUEST_TIMEOUT_S},
        exception_retry_configuration=None,
        cache_allowed_requests=False,
    )
    balances: dict[tuple[str, str], int] = {}
    started = time.perf_counter()
    for address in watched:
        data = "0x" + BALANCE_OF_SELECTOR.hex() + "00" * 12 + address[2:].lower()
        for asset in assets:
            call = {"to": asset.contract, "data": data}
            response = provider.make_request(RPCEndpoint("eth_call"), [call, hex(height)])
            balances[(address, asset.asset_id)] = int(response["result"], 16)
    wall_s = time.perf_counter() - started
    figures = {
        "rpc_calls": len(balances),
        "wall_s": round(wall_s, 3),
        "balances_per_s": round(len(balances) / wall_s),
    }
    return balances, figures


def run(address_count: int, tokens: int) -> dict[str, Any]:
    watched = addresses(address_count)
    report: dict[str, Any] = {
        "benchmark": "watch_ethereum",
        "addresses": address_count,
        "tokens": tokens,
        "balances": address_count * tokens,
        "cores": os.cpu_count(),
        "machine": platform.machine(),
    }
    with running_anvil() as node:
        print(f"funding {address_count} addresses with {tokens} tokens...", file=sys.stderr)
        assets, report["funding"] = fund(node, watched, tokens)
        multicall = report["funding"].pop("multicall")
        print("reading with the watcher...", file=sys.stderr)
        by_reader, height, report["reader"] = read_with_reader(node, multicall, watched, assets)
        print("reading one eth_call at a time...", file=sys.stderr)
        by_call, report["naive"] = read_naively(node, height, watched, assets)
    if by_reader != by_call:
        raise SystemExit("the watcher and the naive reads disagree: the benchmark is void")
    report["block"] = height
    report["ratio"] = {
        "rpc_calls_naive_per_reader": round(
            report["naive"]["rpc_calls"] / report["reader"]["rpc_calls"], 1
        ),
        "wall_naive_per_reader": round(report["naive"]["wall_s"] / report["reader"]["wall_s"], 1),
    }
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--addresses", type=int, default=ADDRESSES_DEFAULT)
    parser.add_argument("--tokens", type=int, default=TOKENS_DEFAULT)
    args = parser.parse_args()
    if not 1 <= args.addresses <= ADDRESSES_MAX:
        parser.error(f"--addresses: expected 1 to {ADDRESSES_MAX}, got {args.addresses}")
    if not 1 <= args.tokens <= TOKENS_MAX:
        parser.error(f"--tokens: expected 1 to {TOKENS_MAX}, got {args.tokens}")
    print(json.dumps(run(args.addresses, args.tokens), indent=2))


if __name__ == "__main__":
    main()
