"""Watch Ethereum custody addresses: balances at one block through Multicall3, Transfer logs.

`EthereumReader` implements `ChainReader` over a JSON-RPC node. A reading:

1. checks the node's chain ID when one is configured (`eth_chainId`; another chain is not
   retryable);
2. resolves the block to read at, number and hash: the `finalized` block by default, or
   `safe`, `latest`, or N blocks below the latest (`eth_getBlockByNumber`, after
   `eth_blockNumber` for a depth);
3. reads every (address, asset) balance at that block number with Multicall3 `aggregate3`
   (`getEthBalance` for ether, the token's `balanceOf` for an ERC-20) in batches of at most
   `batch_calls_max` sub-calls; each batch also returns its block number, which must be the
   one asked for;
4. with `read_pending`, reads the balances again at the latest block: `pending_base` is
   what the latest block has beyond the read block (never negative);
5. when `since` is given, finds ERC-20 `Transfer` logs from or to a watched address in
   blocks `since.height + 1` to the read block (eth_getLogs, bounded block ranges and
   address lists). Ether moved by plain transactions leaves no log and is not reported as a
   movement; the balances show it. A mint has no sender and a burn no recipient (None);
6. unless the block is `finalized`, reads the block's hash again: a reorganisation during
   the reading is an error rather than balances from a block other than the one reported.

Balances come back in the order asked (each address, then each asset), addresses in EIP-55
form. `calls` counts every JSON-RPC request sent, retries included.
"""

from __future__ import annotations

import itertools
import math
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Final

from eth_utils.address import to_checksum_address

from sequestra.addresses import AddressError
from sequestra.addresses.ethereum import ETHEREUM_NETWORKS, validate_ethereum_address
from sequestra.chains.ethereum.multicall import BalanceCall, decode_batch, encode_batch
from sequestra.chains.ethereum.rpc import (
    EthereumRpc,
    Sleep,
    data_bytes,
    hash32,
    quantity,
    quoted,
)
from sequestra.chains.observation import (
    BlockRef,
    ChainError,
    ChainReading,
    ObservedBalance,
    ObservedMovement,
)
from sequestra.config.ethereum import EthereumWatchSettings
from sequestra.custody.assets import NATIVE, Asset

CHAIN: Final = "ethereum"
ADDRESSES_MAX: Final = 100_000  # watched addresses in one reading
ASSETS_MAX: Final = 64  # assets in one reading
# keccak256("Transfer(address,address,uint256)"): topic 0 of every ERC-20 Transfer log.
TRANSFER_TOPIC: Final = "0xddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef"
TRANSFER_TOPICS: Final = 3  # the event signature, then the indexed sender and recipient
ZERO_ADDRESS: Final = "0x" + "00" * 20
_ADDRESS_TOPIC_PAD: Final = "0x" + "00" * 12


@dataclass(frozen=True, slots=True)
class _LogKey:
    """Where a log sits; a transfer between two watched addresses is found twice."""

    block_hash: str
    log_index: int


class EthereumReader:
    """A `ChainReader` for Ethereum over one JSON-RPC node; see the module for the steps."""

    chain: str = CHAIN

    def __init__(
        self,
        settings: EthereumWatchSettings,
        network: str = "mainnet",
        *,
        sleep: Sleep = time.sleep,
    ) -> None:
        """Configure the reader; it sends nothing until asked.

        `network` is the name readings carry (mainnet, sepolia, holesky, hoodi, local);
        `sleep` waits between retries (tests pass one that does not wait).

        Raises ValueError for an unknown network.
        """
        if network not in ETHEREUM_NETWORKS:
            raise ValueError(
                f"network: expected one of {', '.join(ETHEREUM_NETWORKS)}, got {network!r}"
            )
        self.network = network
        self.settings = settings
        self._rpc = EthereumRpc(settings, sleep)

    def __repr__(self) -> str:  # the RPC URL may hold an API key
        return f"EthereumReader(node={self._rpc.node!r}, network={self.network!r})"

    def read_balances(
        self, addresses: Sequence[str], assets: Sequence[Asset], since: BlockRef | None
    ) -> ChainReading:
        """Read every (address, asset) balance at one block, and Transfer logs after `since`.

        Raises ChainError (not retryable) for an invalid or duplicated address, an asset of
        another chain or too many pairs, and as the module describes when the node cannot
        give a complete answer.
        """
        sent_before = self._rpc.requests_sent
        calls = _balance_calls(addresses, assets, self._pairs_max())
        self._check_chain_id()
        block = self._resolve_block()
        amounts = self._read_amounts(calls, hex(block.height), block.height)
        pending = self._read_pending(calls, amounts)
        balances = tuple(
            ObservedBalance(call.address, call.asset.asset_id, amount, extra)
            for call, amount, extra in zip(calls, amounts, pending, strict=True)
        )
        movements: tuple[ObservedMovement, ...] = ()
        if since is not None:
            watched = tuple(dict.fromkeys(call.address for call in calls))
            movements = self._read_movements(watched, assets, since, block)
        if self.settings.block != "finalized":
            self._check_still_canonical(block)
        return ChainReading(
            CHAIN,
            self.network,
            block,
            balances,
            movements,
            self._rpc.requests_sent - sent_before,
        )

    def block_hash_at(self, height: int) -> str | None:
        """The hash of the block at `height` on the node's chain, None when it is not that tall.

        Raises ChainError for a negative height or when the node cannot answer.
        """
        if isinstance(height, bool) or not isinstance(height, int) or height < 0:
            raise ChainError(f"height: expected an integer >= 0, got {height!r}", retryable=False)
        self._check_chain_id()
        return self._hash_at(height)

    # --- the block ------------------------------------------------------------------------

    def _pairs_max(self) -> int:
        return self.settings.batch_calls_max * self.settings.batches_max

    def _check_chain_id(self) -> None:
        expected = self.settings.chain_id
        if expected is None:
            return
        got = quantity(self._rpc.request("eth_chainId", []), "eth_chainId")
        if got != expected:
            raise ChainError(
                f"ethereum node {self._rpc.node}: chain ID: expected {expected}, the node"
                f" reports {got}",
                retryable=False,
            )

    def _resolve_block(self) -> BlockRef:
        """The block to read at, per `settings.block`."""
        mode = self.settings.block
        if isinstance(mode, str):
            block = self._rpc.request("eth_getBlockByNumber", [mode, False])
            if block is None:
                raise ChainError(
                    f"ethereum node {self._rpc.node}: expected a {mode} block, the node has"
                    " none (a chain without proof-of-stake finality?)",
                    retryable=False,
                )
            return _block_ref(block, f"the {mode} block")
        latest = quantity(self._rpc.request("eth_blockNumber", []), "eth_blockNumber")
        if latest < mode:
            raise ChainError(
                f"ethereum node {self._rpc.node}: expected a chain of at least {mode} blocks"
                f" (the configured depth), the latest is {latest}"
            )
        height = latest - mode
        block = self._rpc.request("eth_getBlockByNumber", [hex(height), False])
        if block is None:
            raise ChainError(f"block {height}: expected a block below the latest, got none")
        resolved = _block_ref(block, f"block {height}")
        _check_height(resolved, height, f"block {height}")
        return resolved

    def _hash_at(self, height: int) -> str | None:
        block = self._rpc.request("eth_getBlockByNumber", [hex(height), False])
        if block is None:
            return None
        resolved = _block_ref(block, f"block {height}")
        _check_height(resolved, height, f"block {height}")
        return resolved.block_hash

    def _check_still_canonical(self, block: BlockRef) -> None:
        """Refuse a reading whose block was replaced while it was being read."""
        again = self._hash_at(block.height)
        if again != block.block_hash:
            raise ChainError(
                f"block {block.height}: expected hash {block.block_hash} to stay, the node now"
                f" has {again} (a reorganisation during the reading; read again)"
            )

    # --- balances -------------------------------------------------------------------------

    def _read_amounts(
        self, calls: Sequence[BalanceCall], block_id: str, height: int | None
    ) -> list[int]:
        """Every call's amount at `block_id`; each batch must report `height` (if given)."""
        amounts: list[int] = []
        size = self.settings.batch_calls_max
        multicall = self.settings.multicall_address
        batches = math.ceil(len(calls) / size)
        for index in range(batches):
            batch = calls[index * size : (index + 1) * size]
            where = f"aggregate3 batch {index + 1}/{batches} at block {block_id}"
            data = "0x" + encode_batch(multicall, batch).hex()
            answer = self._rpc.request("eth_call", [{"to": multicall, "data": data}, block_id])
            number, balances = decode_batch(data_bytes(answer, where), batch, where)
            if height is not None and number != height:
                raise ChainError(
                    f"{where}: expected the node to execute at block {height}, it executed at"
                    f" {number}"
                )
            amounts.extend(balances)
        return amounts

    def _read_pending(self, calls: Sequence[BalanceCall], amounts: Sequence[int]) -> list[int]:
        """What the latest block holds beyond `amounts` (zeros unless `read_pending`)."""
        if not self.settings.read_pending or self.settings.block in ("latest", 0) or not calls:
            return [0] * len(calls)
        latest = self._read_amounts(calls, "latest", None)
        return [max(0, newer - read) for newer, read in zip(latest, amounts, strict=True)]

    # --- movements ------------------------------------------------------------------------

    def _read_movements(
        self,
        watched: Sequence[str],
        assets: Sequence[Asset],
        since: BlockRef,
        block: BlockRef,
    ) -> tuple[ObservedMovement, ...]:
        """ERC-20 Transfer logs from or to `watched` in blocks (since.height, block.height]."""
        tokens = {str(asset.contract).lower(): asset for asset in assets if asset.kind != NATIVE}
        start = since.height + 1
        if not tokens or not watched or start > block.height:
            return ()
        contracts = [asset.contract for asset in tokens.values()]
        watched_lower = frozenset(address.lower() for address in watched)
        found: dict[_LogKey, ObservedMovement] = {}
        for log_filter in self._log_queries(watched, start, block.height):
            logs = self._rpc.request("eth_getLogs", [{**log_filter, "address": contracts}])
            if not isinstance(logs, list):
                raise ChainError(f"eth_getLogs: expected a list of logs, got {quoted(logs)}")
            for log in logs:
                parsed = _transfer(log, tokens, watched_lower, start, block)
                if parsed is not None:
                    found[parsed[0]] = parsed[1]
        ordered = sorted(found.items(), key=lambda item: (item[1].block.height, item[0].log_index))
        return tuple(movement for _, movement in ordered)

    def _log_queries(self, watched: Sequence[str], start: int, end: int) -> list[dict[str, object]]:
        """The eth_getLogs filters (without `address`) covering the range, within the bound."""
        span = self.settings.log_range_blocks_max
        per_query = self.settings.log_addresses_max
        ranges = math.ceil((end - start + 1) / span)
        groups = math.ceil(len(watched) / per_query)
        needed = ranges * groups * 2  # one query for senders, one for recipients
        if needed > self.settings.log_queries_max:
            raise ChainError(
                f"movements since block {start - 1}: expected at most log_queries_max"
                f" ({self.settings.log_queries_max}) eth_getLogs queries, {needed} needed"
                f" for {end - start + 1} blocks and {len(watched)} addresses",
                retryable=False,
            )
        queries: list[dict[str, object]] = []
        for range_index, group_index in itertools.product(range(ranges), range(groups)):
            low = start + range_index * span
            high = min(end, low + span - 1)
            group = watched[group_index * per_query : (group_index + 1) * per_query]
            topics = [_ADDRESS_TOPIC_PAD + address[2:].lower() for address in group]
            for position_topics in ([TRANSFER_TOPIC, topics], [TRANSFER_TOPIC, None, topics]):
                queries.append(
                    {"fromBlock": hex(low), "toBlock": hex(high), "topics": position_topics}
                )
        return queries


# --- pure helpers ----------------------------------------------------------------------------


def _balance_calls(
    addresses: Sequence[str], assets: Sequence[Asset], pairs_max: int
) -> list[BalanceCall]:
    """One call per (address, asset), addresses EIP-55; refuses bad or duplicated input."""
    if len(addresses) > ADDRESSES_MAX or len(assets) > ASSETS_MAX:
        raise ChainError(
            f"expected at most {ADDRESSES_MAX} addresses and {ASSETS_MAX} assets, got"
            f" {len(addresses)} and {len(assets)}",
            retryable=False,
        )
    if len(addresses) * len(assets) > pairs_max:
        raise ChainError(
            f"expected at most {pairs_max} (address, asset) pairs (batch_calls_max x"
            f" batches_max), got {len(addresses) * len(assets)}",
            retryable=False,
        )
    checked = _checked_addresses(addresses)
    _check_assets(assets)
    return [BalanceCall(address, asset) for address in checked for asset in assets]


def _checked_addresses(addresses: Iterable[str]) -> list[str]:
    checked: list[str] = []
    seen: set[str] = set()
    for index, address in enumerate(addresses):
        try:
            valid = validate_ethereum_address(address)
        except AddressError as error:
            raise ChainError(f"addresses[{index}]: {error}", retryable=False) from None
        if valid in seen:
            raise ChainError(f"addresses[{index}]: {valid} is listed twice", retryable=False)
        seen.add(valid)
        checked.append(valid)
    return checked


def _check_assets(assets: Iterable[Asset]) -> None:
    seen: set[str] = set()
    for index, asset in enumerate(assets):
        if not isinstance(asset, Asset) or asset.chain != CHAIN:
            raise ChainError(
                f"assets[{index}]: expected an Ethereum asset, got {asset!r}", retryable=False
            )
        if asset.asset_id in seen:
            raise ChainError(f"assets[{index}]: {asset.asset_id} is listed twice", retryable=False)
        seen.add(asset.asset_id)


def _block_ref(block: object, what: str) -> BlockRef:
    """A block object's number and hash."""
    if not isinstance(block, dict):
        raise ChainError(f"{what}: expected a block object, got {quoted(block)}")
    return BlockRef(
        quantity(block.get("number"), f"{what}: number"),
        hash32(block.get("hash"), f"{what}: hash"),
    )


def _check_height(block: BlockRef, height: int, what: str) -> None:
    if block.height != height:
        raise ChainError(f"{what}: expected block number {height}, got {block.height}")


def _transfer(
    log: object,
    tokens: dict[str, Asset],
    watched: frozenset[str],
    start: int,
    block: BlockRef,
) -> tuple[_LogKey, ObservedMovement] | None:
    """One Transfer log as a movement; None for a log the node marks removed (reorganised).

    Raises ChainError for a log that is malformed, from an unasked contract, outside the
    asked blocks, touching no watched address, or in another block at the read height.
    """
    if not isinstance(log, dict):
        raise ChainError(f"eth_getLogs: expected a log object, got {quoted(log)}")
    if log.get("removed") is True:
        return None
    contract = log.get("address")
    asset = tokens.get(contract.lower()) if isinstance(contract, str) else None
    if asset is None:
        raise ChainError(f"eth_getLogs: expected a log of a watched token, got {quoted(contract)}")
    topics = log.get("topics")
    if not isinstance(topics, list) or len(topics) != TRANSFER_TOPICS:
        raise ChainError(f"eth_getLogs: expected 3 Transfer topics, got {quoted(topics)}")
    if hash32(topics[0], "eth_getLogs: topic 0") != TRANSFER_TOPIC:
        raise ChainError(f"eth_getLogs: expected the Transfer topic, got {quoted(topics[0])}")
    sender, recipient = (_topic_address(topic) for topic in topics[1:])
    if sender.lower() not in watched and recipient.lower() not in watched:
        raise ChainError(
            f"eth_getLogs: expected a watched sender or recipient, got {sender} to {recipient}"
        )
    at = BlockRef(
        quantity(log.get("blockNumber"), "eth_getLogs: blockNumber"),
        hash32(log.get("blockHash"), "eth_getLogs: blockHash"),
    )
    if not start <= at.height <= block.height:
        raise ChainError(f"eth_getLogs: expected blocks {start}..{block.height}, got {at.height}")
    if at.height == block.height and at.block_hash != block.block_hash:
        raise ChainError(f"eth_getLogs: block {at.height} changed during the reading; read again")
    amount = data_bytes(log.get("data"), "eth_getLogs: data")
    if len(amount) != 32:
        raise ChainError(f"eth_getLogs: expected a 32-byte amount, got {len(amount)} bytes")
    movement = ObservedMovement(
        asset.asset_id,
        hash32(log.get("transactionHash"), "eth_getLogs: transactionHash"),
        at,
        None if sender == ZERO_ADDRESS else to_checksum_address(sender),
        None if recipient == ZERO_ADDRESS else to_checksum_address(recipient),
        int.from_bytes(amount, "big"),
    )
    key = _LogKey(at.block_hash, quantity(log.get("logIndex"), "eth_getLogs: logIndex"))
    return key, movement


def _topic_address(topic: object) -> str:
    """The address in an indexed address topic (12 zero bytes, then 20 bytes), lower case."""
    value = hash32(topic, "eth_getLogs: address topic")
    if not value.startswith(_ADDRESS_TOPIC_PAD):
        raise ChainError(f"eth_getLogs: expected an address topic, got {quoted(topic)}")
    return "0x" + value[len(_ADDRESS_TOPIC_PAD) :]
