"""Multicall3 and ERC-20 calls as bytes: encode a batch of balance reads, decode the answers.

A batch is one `aggregate3` call: first `getBlockNumber()` on the Multicall3 itself (so the
reader can check the node executed the batch at the block it asked for), then one sub-call
per (address, asset) pair: `getEthBalance(address)` on the Multicall3 for the native asset,
`balanceOf(address)` on the token contract for an ERC-20. Every sub-call allows failure, so
a failure comes back named in the results instead of reverting the whole batch; the decoder
then refuses it: a reading is complete or it is an error.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from eth_abi.abi import decode, encode
from eth_abi.exceptions import DecodingError

from sequestra.chains.observation import ChainError
from sequestra.custody.assets import NATIVE, Asset

# Function selectors: the first 4 bytes of keccak256 of the signature.
AGGREGATE3_SELECTOR: Final = bytes.fromhex("82ad56cb")  # aggregate3((address,bool,bytes)[])
GET_ETH_BALANCE_SELECTOR: Final = bytes.fromhex("4d2301cc")  # getEthBalance(address)
GET_BLOCK_NUMBER_SELECTOR: Final = bytes.fromhex("42cbb15c")  # getBlockNumber()
BALANCE_OF_SELECTOR: Final = bytes.fromhex("70a08231")  # balanceOf(address)
CALLS_TYPE: Final = "(address,bool,bytes)[]"
RESULTS_TYPE: Final = "(bool,bytes)[]"
UINT256_BYTES: Final = 32


@dataclass(frozen=True, slots=True)
class BalanceCall:
    """One balance read: `address`'s balance of `asset` (both as the caller gave them)."""

    address: str
    asset: Asset


def encode_batch(multicall: str, calls: Sequence[BalanceCall]) -> bytes:
    """The calldata of `aggregate3`: getBlockNumber() on `multicall`, then each balance read.

    Addresses must already be valid EIP-55 (or one-case) Ethereum addresses.
    """
    entries: list[tuple[str, bool, bytes]] = [(multicall, True, GET_BLOCK_NUMBER_SELECTOR)]
    for call in calls:
        argument = encode(["address"], [call.address])
        if call.asset.kind == NATIVE:
            entries.append((multicall, True, GET_ETH_BALANCE_SELECTOR + argument))
        else:
            entries.append((str(call.asset.contract), True, BALANCE_OF_SELECTOR + argument))
    return AGGREGATE3_SELECTOR + encode([CALLS_TYPE], [entries])


def decode_batch(data: bytes, calls: Sequence[BalanceCall], where: str) -> tuple[int, list[int]]:
    """Decode `aggregate3`'s answer to `encode_batch(calls)`: (block number, balances).

    `where` names the batch in messages. Raises ChainError (not retryable) when the data is
    not `(bool,bytes)[]` of one result per sub-call, a sub-call failed, or a result is not
    exactly one uint256.
    """
    try:
        (results,) = decode([RESULTS_TYPE], data, strict=True)
    except (DecodingError, OverflowError, ValueError) as error:
        raise ChainError(
            f"{where}: expected aggregate3 results ((bool,bytes)[]), got {len(data)} bytes"
            f" that do not decode: {type(error).__name__}",
            retryable=False,
        ) from error
    if len(results) != len(calls) + 1:
        raise ChainError(
            f"{where}: expected {len(calls) + 1} aggregate3 results, got {len(results)}",
            retryable=False,
        )
    block_number = _uint256(results[0], f"{where}: getBlockNumber()")
    balances = [
        _uint256(result, f"{where}: {_describe(call)}")
        for result, call in zip(results[1:], calls, strict=True)
    ]
    return block_number, balances


def _uint256(result: tuple[bool, bytes], what: str) -> int:
    success, returned = result
    if not success:
        raise ChainError(f"{what}: expected the call to succeed, it reverted", retryable=False)
    if len(returned) != UINT256_BYTES:
        raise ChainError(
            f"{what}: expected {UINT256_BYTES} bytes (one uint256), got {len(returned)}"
            " (is the contract deployed at this block?)",
            retryable=False,
        )
    return int.from_bytes(returned, "big")


def _describe(call: BalanceCall) -> str:
    if call.asset.kind == NATIVE:
        return f"getEthBalance({call.address})"
    return f"balanceOf({call.address}) on {call.asset.asset_id} ({call.asset.contract})"
