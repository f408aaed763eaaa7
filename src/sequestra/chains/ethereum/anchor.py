"""Anchor a checkpoint on Ethereum: a transaction to self whose calldata is the payload.

The service account sends a value-0 transaction to its own address carrying the anchor
payload (`sequestra.ledger.anchor_payload`) as calldata: EIP-1559 (type 2) fees from the
node's fee history when the chain has a base fee, a legacy EIP-155 gas price otherwise, and
an estimated gas limit. `anchor_ethereum` waits, bounded, for the receipt (status 1) and the
configured confirmations, then reads the transaction back and checks it carries the payload.
`fetch_anchor_ethereum` returns a mined anchor's raw signed transaction for offline checks.

Every call has a timeout; the private key never appears in a message or a log.
"""

from __future__ import annotations

import re
import statistics
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import requests
import rlp  # type: ignore[import-untyped]
from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_typing import HexStr
from eth_utils.crypto import keccak
from web3 import Web3
from web3.exceptions import (
    ContractLogicError,
    MethodUnavailable,
    TransactionIndexingInProgress,
    TransactionNotFound,
    Web3Exception,
    Web3RPCError,
)

from sequestra.errors import Conflict, DependencyUnavailable, InputRefused, SequestraError
from sequestra.ledger.anchor_payload import ANCHOR_PAYLOAD_BYTES_MAX
from sequestra.ledger.anchors import AnchorReceipt

CHAIN = "ethereum"
REQUEST_TIMEOUT_S = 30.0
POLL_INTERVAL_S = 0.2
CONFIRMATIONS_MAX = 1000
TIMEOUT_S_MAX = 3600.0
FEE_HISTORY_BLOCKS = 10
FEE_REWARD_PERCENTILE = 50.0
PRIORITY_FEE_WEI_MIN = 100_000_000  # 0.1 gwei: a tip miners accept even on a quiet chain
FEE_PER_GAS_WEI_MAX = 500_000_000_000  # 500 gwei: refuse to pay more per gas than this
GAS_MARGIN_PERCENT = 10  # headroom over the estimate; unused gas is not charged
GAS_LIMIT_MAX = 1_000_000  # a self-send with 1 KiB of calldata needs well under 100,000
KEY_FILE_BYTES_MAX = 1024

_KEY_HEX = re.compile(r"(0x)?([0-9a-fA-F]{64})")
_TX_HASH = re.compile(r"0x[0-9a-f]{64}")


class AnchorError(SequestraError):
    """Anchoring failed; the message says what was expected and what came."""


class NodeUnreachableError(AnchorError, DependencyUnavailable):
    """The Ethereum node did not answer (connection refused, timeout, HTTP error)."""


class TransactionRevertedError(AnchorError, Conflict):
    """The anchor transaction reverted (in the gas estimate, or mined with status 0)."""


class AnchorUnconfirmedError(AnchorError, DependencyUnavailable):
    """The transaction was (or may have been) sent but is not confirmed; see `tx_hash`.

    Look the hash up before anchoring again: the transaction may still confirm.
    """

    def __init__(self, message: str, tx_hash: str) -> None:
        super().__init__(message)
        self.tx_hash = tx_hash


class AnchorTimeoutError(AnchorUnconfirmedError):
    """The transaction was sent but not confirmed within the timeout."""


class AccountKeyError(AnchorError, InputRefused):
    """The service account's key (file) is missing or malformed."""


@dataclass(frozen=True)
class FetchedAnchor:
    """A mined transaction read back from a node: raw signed bytes and where it sits."""

    raw_transaction: bytes
    receipt: AnchorReceipt
    status: int
    confirmations: int

    def to_json(self) -> dict[str, object]:
        return {
            **self.receipt.to_json(),
            "raw_transaction": "0x" + self.raw_transaction.hex(),
            "status": self.status,
            "confirmations": self.confirmations,
        }


def read_account_key_file(path: Path) -> str:
    """Return the hex private key (0x-prefixed) held in `path`.

    Raises AccountKeyError when the file cannot be read or does not hold exactly 64 hex
    digits (an optional 0x prefix and surrounding white space allowed). The message never
    quotes the file's content.
    """
    try:
        with path.open("rb") as handle:
            data = handle.read(KEY_FILE_BYTES_MAX + 1)
    except OSError as error:
        raise AccountKeyError(f"ethereum key file {path}: {error.strerror}") from error
    match = _KEY_HEX.fullmatch(data.decode("ascii", errors="replace").strip())
    if len(data) > KEY_FILE_BYTES_MAX or match is None:
        raise AccountKeyError(
            f"ethereum key file {path}: expected 64 hex digits (optionally 0x-prefixed)"
        )
    return "0x" + match.group(2).lower()


def anchor_ethereum(
    rpc_url: str,
    account_key: str | bytes,
    payload: bytes,
    confirmations: int,
    timeout_s: float,
    *,
    chain_id_expected: int | None = None,
    fee_per_gas_wei_max: int = FEE_PER_GAS_WEI_MAX,
    poll_interval_s: float = POLL_INTERVAL_S,
) -> AnchorReceipt:
    """Send `payload` as calldata from the account to itself and wait for confirmations.

    `confirmations` counts the transaction's own block (1 = mined). Raises AccountKeyError
    for a malformed key, AnchorError for bad arguments, a node on another chain than
    `chain_id_expected`, fees above `fee_per_gas_wei_max`, too little balance or a refusal
    by the node, NodeUnreachableError when the node does not answer before the transaction is
    sent, TransactionRevertedError when it reverts, AnchorTimeoutError when it is not
    confirmed in `timeout_s`, AnchorUnconfirmedError when the node stops answering after the
    transaction was sent (both carry `tx_hash`).
    """
    _check_arguments(payload, confirmations, timeout_s, poll_interval_s)
    deadline = time.monotonic() + timeout_s
    account = _account(account_key)
    web3 = _connect(rpc_url, min(REQUEST_TIMEOUT_S, timeout_s))
    with _node_errors(rpc_url):
        chain_id = _chain_id(web3, chain_id_expected)
        transaction = _build_transaction(web3, account, payload, chain_id, fee_per_gas_wei_max)
    signed = account.sign_transaction(transaction)
    tx_hash = "0x" + bytes(signed.hash).hex()
    try:
        with _node_errors(rpc_url):
            sent = web3.eth.send_raw_transaction(bytes(signed.raw_transaction))
            if bytes(sent) != bytes(signed.hash):
                raise AnchorError(f"send: expected the node to return {tx_hash}, got {sent.hex()}")
            receipt = _await_confirmations(
                web3, tx_hash, confirmations, deadline, timeout_s, poll_interval_s
            )
            mined = web3.eth.get_transaction(HexStr(tx_hash))
    except NodeUnreachableError as error:  # the node may have taken the transaction
        raise AnchorUnconfirmedError(
            f"transaction {tx_hash}: expected a confirmation, the node stopped answering: {error}",
            tx_hash,
        ) from error
    data = bytes(mined["input"])
    if data != payload:
        raise AnchorError(f"transaction {tx_hash}: expected the anchor payload as calldata")
    return AnchorReceipt(
        CHAIN, tx_hash, int(receipt["blockNumber"]), _hex(receipt["blockHash"]), data
    )


def fetch_anchor_ethereum(
    rpc_url: str, tx_hash: str, timeout_s: float = REQUEST_TIMEOUT_S
) -> FetchedAnchor:
    """Read a mined transaction back: its raw signed bytes, receipt, block and confirmations.

    Uses eth_getRawTransactionByHash, or rebuilds the bytes from eth_getTransactionByHash
    when the node lacks it; either way keccak(raw) must equal `tx_hash`. Raises AnchorError
    for a malformed hash, a transaction that is unknown, not yet mined, or whose bytes do not
    hash to `tx_hash`, NodeUnreachableError when the node does not answer.
    """
    tx_hash = tx_hash.lower()
    if not _TX_HASH.fullmatch(tx_hash):
        raise AnchorError(f"tx hash: expected 0x and 64 hex digits, got {tx_hash!r}")
    web3 = _connect(rpc_url, min(REQUEST_TIMEOUT_S, timeout_s))
    with _node_errors(rpc_url):
        try:
            transaction = web3.eth.get_transaction(HexStr(tx_hash))
        except TransactionNotFound:
            raise AnchorError(
                f"transaction {tx_hash}: expected a known transaction, got none"
            ) from None
        receipt = _receipt_or_none(web3, tx_hash)
        if receipt is None:
            raise AnchorError(f"transaction {tx_hash}: expected a mined transaction, it is pending")
        raw = _raw_transaction(web3, tx_hash, transaction)
        head = int(web3.eth.block_number)
        block = web3.eth.get_block(int(receipt["blockNumber"]))
    if "0x" + keccak(raw).hex() != tx_hash:
        raise AnchorError(f"transaction {tx_hash}: the node's raw bytes hash to another value")
    block_number = int(receipt["blockNumber"])
    if _hex(block["hash"]) != _hex(receipt["blockHash"]):
        raise AnchorError(f"transaction {tx_hash}: its block {block_number} was reorganised away")
    anchor = AnchorReceipt(
        CHAIN, tx_hash, block_number, _hex(receipt["blockHash"]), bytes(transaction["input"])
    )
    return FetchedAnchor(raw, anchor, int(receipt["status"]), max(0, head - block_number + 1))


def rebuild_raw_transaction(transaction: Mapping[str, Any]) -> bytes:
    """Re-encode a signed transaction (as eth_getTransactionByHash returns it) to its bytes.

    Supports legacy, EIP-2930 (type 1) and EIP-1559 (type 2) transactions. Raises AnchorError
    for another type, a contract creation or a missing field.
    """
    try:
        kind = _int(transaction.get("type", 0))
        to = bytes.fromhex(_hex(transaction["to"])[2:]) if transaction.get("to") else b""
        if len(to) != 20:
            raise AnchorError("rebuild: expected a transaction to an address, got a creation")
        common = [_int(transaction["nonce"])]
        tail = [
            _int(transaction["gas"]),
            to,
            _int(transaction["value"]),
            _bytes(transaction["input"]),
        ]
        signature = [_int(transaction["r"]), _int(transaction["s"])]
        if kind == 0:
            fields = [*common, _int(transaction["gasPrice"]), *tail, _int(transaction["v"])]
            return bytes(rlp.encode([*fields, *signature]))
        access_list = _access_list(transaction.get("accessList", []))
        parity = _int(transaction.get("yParity", transaction["v"]))
        chain_id = _int(transaction["chainId"])
        if kind == 1:
            fees = [_int(transaction["gasPrice"])]
        elif kind == 2:
            fees = [_int(transaction["maxPriorityFeePerGas"]), _int(transaction["maxFeePerGas"])]
        else:
            raise AnchorError(f"rebuild: expected a transaction of type 0, 1 or 2, got {kind}")
        fields = [chain_id, *common, *fees, *tail, access_list, parity, *signature]
        return bytes([kind]) + bytes(rlp.encode(fields))
    except (KeyError, TypeError, ValueError) as error:
        raise AnchorError(f"rebuild: a field is missing or malformed: {error}") from error


# --- building and sending ------------------------------------------------------------------


def _check_arguments(
    payload: bytes, confirmations: int, timeout_s: float, poll_interval_s: float
) -> None:
    if not payload or len(payload) > ANCHOR_PAYLOAD_BYTES_MAX:
        raise AnchorError(f"payload: expected 1..{ANCHOR_PAYLOAD_BYTES_MAX} bytes")
    if not 1 <= confirmations <= CONFIRMATIONS_MAX:
        raise AnchorError(f"confirmations: expected 1..{CONFIRMATIONS_MAX}, got {confirmations}")
    if not 0 < timeout_s <= TIMEOUT_S_MAX:
        raise AnchorError(f"timeout_s: expected (0, {TIMEOUT_S_MAX}], got {timeout_s}")
    if not 0 < poll_interval_s <= timeout_s:
        raise AnchorError(f"poll_interval_s: expected (0, timeout_s], got {poll_interval_s}")


def _account(account_key: str | bytes) -> LocalAccount:
    try:
        account: LocalAccount = Account.from_key(account_key)
    except (ValueError, TypeError):  # the library's message may quote the key
        raise AccountKeyError("ethereum account key: expected a 32-byte secp256k1 key") from None
    return account


def _connect(rpc_url: str, request_timeout_s: float) -> Web3:
    provider = Web3.HTTPProvider(
        rpc_url,
        request_kwargs={"timeout": request_timeout_s},
        exception_retry_configuration=None,  # our loops bound the retries
    )
    return Web3(provider)


@contextmanager
def _node_errors(rpc_url: str) -> Iterator[None]:
    """Turn transport and node errors into AnchorError subclasses naming the node."""
    where = _redacted(rpc_url)
    try:
        yield
    except requests.RequestException as error:
        raise NodeUnreachableError(
            f"ethereum node {where}: expected a JSON-RPC answer, got {type(error).__name__}"
        ) from error
    except ContractLogicError as error:
        raise TransactionRevertedError(
            f"ethereum node {where}: expected the anchor transaction to execute, it reverts:"
            f" {error}"
        ) from error
    except Web3RPCError as error:
        raise AnchorError(f"ethereum node {where}: refused: {error.message}") from error
    except Web3Exception as error:
        raise AnchorError(f"ethereum node {where}: {error}") from error


def _chain_id(web3: Web3, expected: int | None) -> int:
    chain_id = int(web3.eth.chain_id)
    if expected is not None and chain_id != expected:
        raise AnchorError(f"chain ID: expected {expected}, the node reports {chain_id}")
    return chain_id


def _build_transaction(
    web3: Web3, account: LocalAccount, payload: bytes, chain_id: int, fee_per_gas_wei_max: int
) -> dict[str, Any]:
    address = account.address
    fees = _fees(web3, fee_per_gas_wei_max)
    call = {"from": address, "to": address, "value": 0, "data": payload}
    estimate = int(web3.eth.estimate_gas(call))  # type: ignore[arg-type]
    gas = estimate + estimate * GAS_MARGIN_PERCENT // 100
    if gas > GAS_LIMIT_MAX:
        raise AnchorError(f"gas: expected at most {GAS_LIMIT_MAX}, the estimate is {estimate}")
    fee_per_gas = int(fees.get("maxFeePerGas", fees.get("gasPrice", 0)))
    balance = int(web3.eth.get_balance(address))
    if balance < gas * fee_per_gas:
        raise AnchorError(
            f"account {address}: expected a balance of at least {gas * fee_per_gas} wei,"
            f" got {balance} wei"
        )
    nonce = int(web3.eth.get_transaction_count(address, "pending"))
    return {
        "chainId": chain_id,
        "nonce": nonce,
        "to": address,
        "value": 0,
        "data": payload,
        "gas": gas,
        **fees,
    }


def _fees(web3: Web3, fee_per_gas_wei_max: int) -> dict[str, Any]:
    """EIP-1559 fees from the fee history when blocks have a base fee, else a gas price."""
    latest = web3.eth.get_block("latest")
    if latest.get("baseFeePerGas") is None:
        gas_price = int(web3.eth.gas_price)
        _check_fee("gas price", gas_price, fee_per_gas_wei_max)
        return {"gasPrice": gas_price}
    history = web3.eth.fee_history(FEE_HISTORY_BLOCKS, "latest", [FEE_REWARD_PERCENTILE])
    next_base_fee = int(history["baseFeePerGas"][-1])
    rewards = [int(reward[0]) for reward in history.get("reward", []) if reward]
    priority_fee = max(int(statistics.median(rewards)) if rewards else 0, PRIORITY_FEE_WEI_MIN)
    _check_fee("base fee + priority fee", next_base_fee + priority_fee, fee_per_gas_wei_max)
    # Twice the next base fee rides out six full blocks of base-fee rises; never above the cap.
    max_fee = min(2 * next_base_fee + priority_fee, fee_per_gas_wei_max)
    return {"type": 2, "maxFeePerGas": max_fee, "maxPriorityFeePerGas": priority_fee}


def _check_fee(what: str, fee_wei: int, fee_per_gas_wei_max: int) -> None:
    if fee_wei > fee_per_gas_wei_max:
        raise AnchorError(
            f"{what}: expected at most {fee_per_gas_wei_max} wei per gas, got {fee_wei}"
        )


def _await_confirmations(
    web3: Web3,
    tx_hash: str,
    confirmations: int,
    deadline: float,
    timeout_s: float,
    poll_interval_s: float,
) -> Mapping[str, Any]:
    """Poll for the receipt and `confirmations` blocks on its block; bounded by the deadline."""
    seen = 0
    polls_max = int(timeout_s / poll_interval_s) + 2
    for _ in range(polls_max):
        try:
            receipt = _receipt_or_none(web3, tx_hash)
        except requests.RequestException:  # a node that blinks: ask again until the deadline
            receipt = None
        if receipt is not None:
            if int(receipt["status"]) != 1:
                raise TransactionRevertedError(
                    f"transaction {tx_hash}: expected status 1, got {receipt['status']}"
                    f" in block {receipt['blockNumber']}"
                )
            block_number = int(receipt["blockNumber"])
            seen = int(web3.eth.block_number) - block_number + 1
            if seen >= confirmations and _is_canonical(web3, block_number, receipt["blockHash"]):
                return receipt
        remaining_s = deadline - time.monotonic()
        if remaining_s <= 0:
            break
        time.sleep(min(poll_interval_s, remaining_s))
    raise AnchorTimeoutError(
        f"transaction {tx_hash}: expected {confirmations} confirmation(s) within {timeout_s} s,"
        f" got {max(seen, 0)}; it may still confirm",
        tx_hash,
    )


def _receipt_or_none(web3: Web3, tx_hash: str) -> Mapping[str, Any] | None:
    try:
        receipt: Mapping[str, Any] = web3.eth.get_transaction_receipt(HexStr(tx_hash))
    except (TransactionNotFound, TransactionIndexingInProgress):
        return None
    return receipt


def _is_canonical(web3: Web3, block_number: int, block_hash: object) -> bool:
    """Whether the receipt's block is still the chain's block at that height (no reorg)."""
    return _hex(web3.eth.get_block(block_number)["hash"]) == _hex(block_hash)


def _raw_transaction(web3: Web3, tx_hash: str, transaction: Mapping[str, Any]) -> bytes:
    try:
        return bytes(web3.eth.get_raw_transaction(HexStr(tx_hash)))
    except MethodUnavailable:
        return rebuild_raw_transaction(transaction)


def _access_list(entries: Sequence[Any]) -> list[list[Any]]:
    return [
        [bytes.fromhex(_hex(entry["address"])[2:]), [_bytes32(key) for key in entry["storageKeys"]]]
        for entry in entries
    ]


def _int(value: object) -> int:
    """An integer from an int, big-endian bytes (HexBytes) or a 0x hex string."""
    if isinstance(value, bytes | bytearray):
        return int.from_bytes(value, "big")
    if isinstance(value, str):
        return int(value, 16)
    if isinstance(value, int):
        return value
    raise ValueError(f"expected an integer, got {type(value).__name__}")


def _bytes(value: object) -> bytes:
    """Bytes from bytes (HexBytes) or a 0x hex string."""
    return bytes(value) if isinstance(value, bytes | bytearray) else bytes.fromhex(_hex(value)[2:])


def _bytes32(value: object) -> bytes:
    return bytes.fromhex(_hex(value)[2:].rjust(64, "0"))


def _hex(value: object) -> str:
    """0x-prefixed lowercase hex of bytes (HexBytes) or a hex string."""
    if isinstance(value, bytes | bytearray):
        return "0x" + bytes(value).hex()
    text = str(value).lower()
    return text if text.startswith("0x") else "0x" + text


def _redacted(rpc_url: str) -> str:
    """The node's scheme, host and port only: RPC URLs often embed an API key."""
    try:
        parts = urlsplit(rpc_url)
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return "(malformed URL)"
    return f"{parts.scheme}://{parts.hostname or '?'}{port}"
