"""Bitcoin Core JSON-RPC server of the sandbox, over the in-memory regtest chain.

Speaks the interface of Bitcoin Core 30 as described in reference/bitcoin-rpc.md: HTTP
Basic authentication with a cookie (`<datadir>/regtest/.cookie`, `__cookie__:<hex>`, no
newline) or rpcuser/rpcpassword; 404/405/401/503 before any JSON is read; legacy and
JSON-RPC 2.0 envelopes with their status codes; batches; named and positional parameters
with Core's arity, type and named-parameter errors; amounts written from integer satoshis
as 8-decimal JSON numbers. python-bitcoinlib's `RawProxy` needs no special case for it.

Every call runs under one lock around the node's state, except `scantxoutset start`, which
copies the UTXO set under the lock and scans outside it so that `status` and `abort` from
another connection work, as on a real node.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import hmac
import json
import os
import re
import secrets
import sys
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Final
from urllib.parse import unquote

from bitcoin.core import (  # type: ignore[import-untyped]
    CMutableTransaction,
    CMutableTxIn,
    COutPoint,
    CTransaction,
    CTxOut,
)
from bitcoin.core.script import CScript  # type: ignore[import-untyped]
from bitcoin.core.serialize import SerializationError  # type: ignore[import-untyped]

from sequestra_sandbox.bitcoin.chain import (
    COIN,
    DATACARRIER_BYTES_MAX_DEFAULT,
    INCREMENTAL_RELAY_FEE_SAT_PER_KVB,
    MEMPOOL_HEIGHT,
    MIN_RELAY_FEE_SAT_PER_KVB,
    MONEY_MAX_SATS,
    REGTEST_BITS,
    AddressDecodeError,
    BlockRecord,
    ChainError,
    Coin,
    DatacarrierPolicy,
    FeeTooHigh,
    MissingInputs,
    RegtestChain,
    TransactionRejected,
    classify_script,
    compact_to_target,
    decode_address,
    difficulty,
    dust_threshold_sats,
    hash_to_hex,
    is_unspendable,
    null_data_script,
    script_to_asm,
    transaction_sizes,
    witness_stack,
)
from sequestra_sandbox.bitcoin.wallet import (
    RESCAN_WINDOW_S,
    SIGHASH_TYPES,
    Descriptor,
    DescriptorError,
    Wallet,
    WalletError,
    WalletRegistry,
    descriptor_checksum,
    fund_transaction,
    infer_descriptor,
    parse_descriptor,
    received_by_script_sats,
    sign_transaction,
    wallet_coins,
)

# --- error codes (src/rpc/protocol.h) ---
RPC_INVALID_REQUEST: Final = -32600
RPC_METHOD_NOT_FOUND: Final = -32601
RPC_PARSE_ERROR: Final = -32700
RPC_MISC_ERROR: Final = -1
RPC_TYPE_ERROR: Final = -3
RPC_WALLET_ERROR: Final = -4
RPC_INVALID_ADDRESS_OR_KEY: Final = -5
RPC_WALLET_INSUFFICIENT_FUNDS: Final = -6
RPC_INVALID_PARAMETER: Final = -8
RPC_WALLET_NOT_FOUND: Final = -18
RPC_WALLET_INVALID_LABEL_NAME: Final = -11
RPC_DESERIALIZATION_ERROR: Final = -22
RPC_VERIFY_ERROR: Final = -25
RPC_VERIFY_REJECTED: Final = -26
RPC_VERIFY_ALREADY_IN_UTXO_SET: Final = -27
RPC_IN_WARMUP: Final = -28
RPC_METHOD_DEPRECATED: Final = -32

# --- limits ---
REQUEST_BODY_BYTES_MAX: Final = 8 * 1024 * 1024
REQUEST_TIMEOUT_S: Final = 30.0
BATCH_REQUESTS_MAX: Final = 10_000
WORK_QUEUE_DEPTH: Final = 64  # requests in flight before 503, as Core's -rpcworkqueue
AUTH_FAILURE_DELAY_S: Final = 0.25
SERVE_POLL_INTERVAL_S: Final = 0.05  # how soon stop() is noticed
GENERATE_BLOCKS_MAX: Final = 10_000
DEFAULT_MAX_TRIES: Final = 1_000_000
SCAN_CHUNK_COINS: Final = 1000
DEFAULT_MAX_RAW_FEE_RATE_SAT_PER_KVB: Final = 10_000_000  # 0.10 BTC/kvB
WALLET_MAX_FEE_RATE_SAT_PER_KVB: Final = 10_000_000
LISTUNSPENT_MAXCONF_DEFAULT: Final = 9_999_999
RANGE_SPAN_MAX: Final = 1_000_000
DEFAULT_RPC_PORT: Final = 18443
COOKIE_USER: Final = "__cookie__"
WWW_AUTHENTICATE: Final = 'Basic realm="jsonrpc"'
NODE_VERSION: Final = 300000
NODE_SUBVERSION: Final = "/Satoshi:30.0.0/"
IMMATURE_COINBASE_VERSION_MIN: Final = 250000  # listunspent's include_immature_coinbase
DATACARRIER_AGGREGATE_VERSION_MIN: Final = 300000  # one OP_RETURN budget per transaction
MEMPOOL_POLICY_INFO_VERSION_MIN: Final = 300000  # getmempoolinfo's maxdatacarriersize
FEE_ESTIMATE_TARGET_MAX: Final = 1008  # blocks, Core's longest tracked horizon
MEMPOOL_BYTES_MAX: Final = 300_000_000  # -maxmempool=300 (MB)
FEE_ESTIMATION_FAILED: Final = (
    "Fee estimation failed. Fallbackfee is disabled. Wait a few blocks or enable -fallbackfee."
)


class RpcError(Exception):
    """A JSON-RPC error with Bitcoin Core's code and message."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


# --- JSON in and out -------------------------------------------------------------------------


class JsonObject(dict[str, Any]):
    """A JSON object as read: first value wins; `pairs` keeps every key in order."""

    pairs: list[tuple[str, Any]]


def _object_from_pairs(pairs: list[tuple[str, Any]]) -> JsonObject:
    """Build a JsonObject, keeping duplicates in `pairs` (UniValue keeps them too)."""
    result = JsonObject()
    result.pairs = pairs
    for key, value in pairs:
        result.setdefault(key, value)
    return result


def _reject_constant(name: str) -> Any:
    """Refuse NaN and Infinity, which UniValue does not parse.

    Raises:
        ValueError: always.
    """
    raise ValueError(f"{name} is not JSON")


def parse_json(body: bytes) -> Any:
    """Parse a request body with decimals kept exact.

    Raises:
        RpcError: -32700 "Parse error" for anything UniValue would not read.
    """
    try:
        return json.loads(
            body.decode("utf-8"),
            parse_float=Decimal,
            parse_constant=_reject_constant,
            object_pairs_hook=_object_from_pairs,
        )
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise RpcError(RPC_PARSE_ERROR, "Parse error") from None


@dataclass(frozen=True, slots=True)
class Btc:
    """An amount to write as a JSON number with exactly 8 decimals (Core's ValueFromAmount)."""

    sats: int

    def json(self) -> str:
        """Return the JSON number text, e.g. `50.00000000`, `-0.00000141`."""
        sign = "-" if self.sats < 0 else ""
        whole, fraction = divmod(abs(self.sats), COIN)
        return f"{sign}{whole}.{fraction:08d}"


def dumps(value: Any) -> str:
    """Write JSON as UniValue does: compact, UTF-8, doubles to 16 significant digits."""
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, Btc):
        return value.json()
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return format(value, ".16g")
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, dict):
        items = (f"{json.dumps(str(k), ensure_ascii=False)}:{dumps(v)}" for k, v in value.items())
        return "{" + ",".join(items) + "}"
    if isinstance(value, list | tuple):
        return "[" + ",".join(dumps(item) for item in value) + "]"
    raise TypeError(f"cannot write {type(value).__name__} as JSON")


def json_type_name(value: Any) -> str:
    """Name a JSON value's type as UniValue's uvTypeName does."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | Decimal):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return "unknown"


def _type_error(value: Any, expected: str) -> RpcError:
    """Return UniValue's type error for a value used as another type."""
    return RpcError(
        RPC_TYPE_ERROR,
        f"JSON value of type {json_type_name(value)} is not of expected type {expected}",
    )


def get_int(value: Any, low: int = -(2**63), high: int = 2**63 - 1) -> int:
    """Read an integer as UniValue's getInt does.

    Raises:
        RpcError: -3 if not a number, -1 "JSON integer out of range" if fractional or out of
            [low, high].
    """
    if json_type_name(value) != "number":
        raise _type_error(value, "number")
    if isinstance(value, Decimal) or not low <= value <= high:
        raise RpcError(RPC_MISC_ERROR, "JSON integer out of range")
    return int(value)


def get_bool(value: Any) -> bool:
    """Read a boolean.

    Raises:
        RpcError: -3 if not a boolean.
    """
    if not isinstance(value, bool):
        raise _type_error(value, "bool")
    return value


def get_str(value: Any) -> str:
    """Read a string.

    Raises:
        RpcError: -3 if not a string.
    """
    if not isinstance(value, str):
        raise _type_error(value, "string")
    return value


def get_array(value: Any) -> list[Any]:
    """Read an array.

    Raises:
        RpcError: -3 if not an array.
    """
    if not isinstance(value, list):
        raise _type_error(value, "array")
    return value


def get_object(value: Any) -> dict[str, Any]:
    """Read an object.

    Raises:
        RpcError: -3 if not an object.
    """
    if not isinstance(value, dict):
        raise _type_error(value, "object")
    return value


_NUMBER_TEXT: Final = re.compile(r"-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][-+]?[0-9]+)?")


def parse_amount(value: Any, decimals: int = 8) -> int:
    """Read an amount (number or string) into integer units of 10**-decimals (AmountFromValue).

    Raises:
        RpcError: -3 "Amount is not a number or string", "Invalid amount" (too many decimals,
            bad syntax) or "Amount out of range" (negative or above 21 million BTC).
    """
    if json_type_name(value) not in ("number", "string"):
        raise RpcError(RPC_TYPE_ERROR, "Amount is not a number or string")
    text = value if isinstance(value, str) else str(value)
    if isinstance(value, str) and not _NUMBER_TEXT.fullmatch(text):
        raise RpcError(RPC_TYPE_ERROR, "Invalid amount")
    try:
        number = Decimal(text)
    except InvalidOperation:
        raise RpcError(RPC_TYPE_ERROR, "Invalid amount") from None
    if not number.is_finite() or number.adjusted() > 17:
        raise RpcError(RPC_TYPE_ERROR, "Invalid amount")
    scaled = number.scaleb(decimals)
    if scaled != scaled.to_integral_value() or abs(scaled) >= 10**18:
        raise RpcError(RPC_TYPE_ERROR, "Invalid amount")
    units = int(scaled)
    if not 0 <= units <= MONEY_MAX_SATS:
        raise RpcError(RPC_TYPE_ERROR, "Amount out of range")
    return units


def parse_hash(value: Any, name: str) -> bytes:
    """Read a 64-hex txid or block hash into internal byte order (Core's ParseHashV).

    Raises:
        RpcError: -3 if not a string; -8 for a wrong length or non-hex text.
    """
    text = get_str(value)
    if len(text) != 64:
        raise RpcError(
            RPC_INVALID_PARAMETER,
            f"{name} must be of length 64 (not {len(text)}, for '{text}')",
        )
    try:
        return bytes.fromhex(text)[::-1]
    except ValueError:
        raise RpcError(
            RPC_INVALID_PARAMETER, f"{name} must be hexadecimal string (not '{text}')"
        ) from None


def parse_hex(value: Any, name: str) -> bytes:
    """Read hex data (Core's ParseHexV).

    Raises:
        RpcError: -8 "<name> must be hexadecimal string (not '...')".
    """
    text = value if isinstance(value, str) else dumps(value)
    if not text or len(text) % 2 or not re.fullmatch(r"[0-9a-fA-F]*", text):
        raise RpcError(RPC_INVALID_PARAMETER, f"{name} must be hexadecimal string (not '{text}')")
    return bytes.fromhex(text)


def parse_verbosity(value: Any, default: int) -> int:
    """Read a verbosity that may be a boolean (Core's ParseVerbosity with allow_bool).

    Raises:
        RpcError: -3 for a string or other type, -1 for a fractional number.
    """
    if value is None:
        return default
    if isinstance(value, bool):
        return int(value)
    return get_int(value, -(2**31), 2**31 - 1)


def parse_range(value: Any) -> tuple[int, int]:
    """Read a descriptor range: `n` (0..n) or `[begin, end]` (Core's ParseDescriptorRange).

    Raises:
        RpcError: -8 with Core's range messages.
    """
    if json_type_name(value) == "number":
        low, high = 0, get_int(value)
    elif (
        isinstance(value, list)
        and len(value) == 2
        and all(json_type_name(item) == "number" for item in value)
    ):
        low, high = get_int(value[0]), get_int(value[1])
        if low > high:
            raise RpcError(
                RPC_INVALID_PARAMETER,
                "Range specified as [begin,end] must not have begin after end",
            )
    else:
        raise RpcError(RPC_INVALID_PARAMETER, "Range must be specified as end or as [begin,end]")
    if low < 0:
        raise RpcError(RPC_INVALID_PARAMETER, "Range should be greater or equal than 0")
    if high >> 31:
        raise RpcError(RPC_INVALID_PARAMETER, "End of range is too high")
    if high >= low + RANGE_SPAN_MAX:
        raise RpcError(RPC_INVALID_PARAMETER, "Range is too large")
    return low, high


def decode_transaction(value: Any) -> Any:
    """Decode a hex transaction (Core's DecodeHexTx).

    Raises:
        RpcError: -22 "TX decode failed. Make sure the tx has at least one input.".
    """
    message = "TX decode failed. Make sure the tx has at least one input."
    text = get_str(value)
    try:
        return CTransaction.deserialize(bytes.fromhex(text))
    except (ValueError, SerializationError, struct_error_types()):
        raise RpcError(RPC_DESERIALIZATION_ERROR, message) from None


def struct_error_types() -> type[Exception]:
    """Return the exception python-bitcoinlib raises on truncated input (struct.error)."""
    import struct

    return struct.error


def address_script(text: str, message: str) -> bytes:
    """Decode an address or raise -5 with `message`.

    Raises:
        RpcError: -5.
    """
    try:
        return decode_address(text)
    except AddressDecodeError:
        raise RpcError(RPC_INVALID_ADDRESS_OR_KEY, message) from None


# --- method table ---

STR: Final = "string"
HEX: Final = "string"
NUM: Final = "number"
BOOL: Final = "bool"
OBJ: Final = "object"
ARR: Final = "array"
AMOUNT: Final = ""  # number or string, checked by parse_amount
RANGE: Final = ""  # number or array, checked by parse_range
ANY: Final = ""


@dataclass(frozen=True, slots=True)
class Arg:
    """One documented argument: `names` ("verbosity|verbose"), JSON type, required."""

    names: str
    json_type: str
    required: bool = False


@dataclass(frozen=True, slots=True)
class Call:
    """One call: positional values (None for absent), their count, the wallet endpoint."""

    values: tuple[Any, ...]
    count: int
    wallet_name: str | None

    def value(self, index: int) -> Any:
        """Return argument `index`, or None when absent or null."""
        return self.values[index] if index < len(self.values) else None


Handler = Callable[["Node", Call], Any]


@dataclass(frozen=True, slots=True)
class Method:
    """A supported RPC method: usage line, summary, arguments and handler."""

    name: str
    usage: str
    summary: str
    args: tuple[Arg, ...]
    handler: Handler
    mutates: bool = False
    locked: bool = True

    def help_text(self) -> str:
        """Return the help text Core throws for a wrong number of arguments."""
        return f"{self.usage}\n\n{self.summary}\n"


METHODS: dict[str, Method] = {}


def rpc_method(
    usage: str, summary: str, *args: Arg, mutates: bool = False, locked: bool = True
) -> Callable[[Handler], Handler]:
    """Register a handler under the first word of its usage line."""

    def register(handler: Handler) -> Handler:
        name = usage.split()[0]
        METHODS[name] = Method(name, usage, summary, args, handler, mutates, locked)
        return handler

    return register


def transform_named(method: Method, params: JsonObject) -> list[Any]:
    """Turn named parameters into positional ones (Core's transformNamedArguments).

    Raises:
        RpcError: -8 for duplicated, unknown, or doubly given parameters.
    """
    for position, (key, _) in enumerate(params.pairs):
        if any(other == key for other, _ in params.pairs[:position]):
            raise RpcError(RPC_INVALID_PARAMETER, f"Parameter {key} specified multiple times")
    remaining = dict(params)
    out: list[Any] = []
    hole = 0
    initial_hole = 0
    initial_param: str | None = None
    for arg in method.args:
        found = next((name for name in arg.names.split("|") if name in remaining), None)
        if found is None:
            hole += 1
            if not out:
                initial_hole = hole
            continue
        out.extend([None] * hole)
        hole = 0
        initial_param = initial_param or arg.names
        out.append(remaining.pop(found))
    positional = remaining.pop("args", None)
    if isinstance(positional, list):
        if initial_hole < len(positional) and initial_param is not None:
            raise RpcError(
                RPC_INVALID_PARAMETER,
                f"Parameter {initial_param} specified twice both as positional and named argument",
            )
        out = [*positional, *out[len(positional) :]]
    if remaining:
        raise RpcError(RPC_INVALID_PARAMETER, f"Unknown named parameter {next(iter(remaining))}")
    return out


def check_arguments(method: Method, values: list[Any]) -> None:
    """Check arity and JSON types as RPCHelpMan::HandleRequest does.

    Raises:
        RpcError: -1 with the help text for a wrong count; -3 "Wrong type passed" listing
            every mismatching position.
    """
    required = max((index + 1 for index, arg in enumerate(method.args) if arg.required), default=0)
    if not required <= len(values) <= len(method.args):
        raise RpcError(RPC_MISC_ERROR, method.help_text())
    mismatches: list[str] = []
    for index, arg in enumerate(method.args):
        value = values[index] if index < len(values) else None
        if not arg.json_type or (value is None and not arg.required):
            continue
        if json_type_name(value) != arg.json_type:
            mismatches.append(
                f'    "Position {index + 1} ({arg.names})": "JSON value of type '
                f'{json_type_name(value)} is not of expected type {arg.json_type}"'
            )
    if mismatches:
        raise RpcError(RPC_TYPE_ERROR, "Wrong type passed:\n{\n" + ",\n".join(mismatches) + "\n}")


# --- the node ---


@dataclass(frozen=True, slots=True)
class StandInOptions:
    """How to run the stand-in; defaults match a plain `bitcoind -regtest`.

    `warmup_s` answers every call with -28 for that long after start; `scan_delay_s` makes
    each scantxoutset take at least that long (to exercise status, abort and the one-scan
    rule); `snapshot_path` keeps the state in a JSON file across restarts;
    `funded_wallet` creates a signing wallet of that name and mines 101 blocks to it.
    `fallback_fee_sat_per_kvb` is the wallet fee rate when there is no estimate (as
    `-fallbackfee=0.0002`); 0 disables it, as mainnet's default `-fallbackfee=0`: funding a
    transaction without an explicit fee rate then fails with -4 "Fee estimation failed...".
    `fee_estimate_sat_per_kvb` is what estimatesmartfee answers for every target, and the
    rate the wallet then uses; None (the default) is a node that has seen too few blocks to
    estimate, as every regtest node. `datacarrier_bytes_max` is `-datacarriersize`: the bytes
    of OP_RETURN output script sendrawtransaction accepts (-26 "datacarrier" from v30, which
    counts all such outputs together and reports it in getmempoolinfo; -26 "scriptpubkey"
    per output before; v25-v29 default to 83).

    To behave like a particular production node: `node_version` is Core's version number
    (`getnetworkinfo`; 240000 is v24, whose listunspent knows no include_immature_coinbase);
    `legacy_wallets` names legacy (BDB) wallets on disk, which v30 refuses to load (-18)
    and cannot create over; `rpc_whitelist` lets every user call only these methods, others
    answer HTTP 403 as with `-rpcwhitelist`.
    """

    host: str = "127.0.0.1"
    port: int = DEFAULT_RPC_PORT
    rpc_user: str | None = None
    rpc_password: str | None = None
    txindex: bool = False
    warmup_s: float = 0.0
    warmup_message: str = "Loading block index\u2026"
    scan_delay_s: float = 0.0
    snapshot_path: Path | None = None
    funded_wallet: str | None = None
    fallback_fee_sat_per_kvb: int = 20_000
    fee_estimate_sat_per_kvb: int | None = None
    datacarrier_bytes_max: int = DATACARRIER_BYTES_MAX_DEFAULT
    request_body_bytes_max: int = REQUEST_BODY_BYTES_MAX
    node_version: int = NODE_VERSION
    legacy_wallets: tuple[str, ...] = ()
    rpc_whitelist: tuple[str, ...] | None = None


@dataclass(slots=True)
class ScanState:
    """The one running scantxoutset: progress in percent and the abort flag."""

    progress: int = 0
    abort: bool = False


@dataclass
class Node:
    """The state behind the RPC interface: chain, wallets, lock, scan and warm-up."""

    datadir: Path
    options: StandInOptions
    chain: RegtestChain = field(init=False)
    wallets: WalletRegistry = field(init=False)
    lock: threading.RLock = field(default_factory=threading.RLock)
    scan_lock: threading.Lock = field(default_factory=threading.Lock)
    scan: ScanState | None = None
    # Called by every scantxoutset start once its answer is ready, while the scan still
    # counts as running: a test mines a block between two scans, or holds a scan open to
    # stand for one that takes minutes on mainnet, without depending on the clock.
    scan_finished_hook: Callable[[ScanState], object] | None = None
    # Wallets rescanning after importdescriptors (name -> progress), under scan_lock; the
    # hook runs during each rescan, outside the node's lock, so a test can hold one open
    # as long as a mainnet rescan takes and watch the -4 and getwalletinfo it causes.
    rescans: dict[str, ScanState] = field(default_factory=dict)
    rescan_hook: Callable[[str], object] | None = None
    started_monotonic: float = field(default_factory=time.monotonic)
    stop_requested: threading.Event = field(default_factory=threading.Event)

    def __post_init__(self) -> None:
        """Create the chain and wallets, restoring the snapshot when there is one."""
        aggregate = self.options.node_version >= DATACARRIER_AGGREGATE_VERSION_MIN
        datacarrier = DatacarrierPolicy(self.options.datacarrier_bytes_max, aggregate)
        self.chain = RegtestChain(txindex=self.options.txindex, datacarrier=datacarrier)
        self.wallets = WalletRegistry(str(self.datadir / "regtest" / "wallets"))
        path = self.options.snapshot_path
        if path is not None and path.exists():
            data = json.loads(path.read_text(encoding="utf-8"))
            self.chain.restore(data.get("chain", {}))
            self.wallets.restore(data.get("wallets", {}))

    def warmup_message(self) -> str | None:
        """Return the init message while warming up, else None."""
        if time.monotonic() - self.started_monotonic < self.options.warmup_s:
            return self.options.warmup_message
        return None

    def persist(self) -> None:
        """Write the snapshot file atomically, if one is configured."""
        path = self.options.snapshot_path
        if path is None:
            return
        data = {"format": 1, "chain": self.chain.snapshot(), "wallets": self.wallets.snapshot()}
        temporary = path.with_name(path.name + ".tmp")
        temporary.write_text(json.dumps(data), encoding="utf-8")
        os.replace(temporary, path)

    def fund_wallet(self, name: str) -> None:
        """Create signing wallet `name` (unless known) and mine 101 blocks to a new address."""
        with self.lock:
            if name in self.wallets.loaded_names():
                return
            if name in self.wallets.known_names():
                self.wallets.load(name)
                return
            wallet = self.wallets.create(name, False, False, self.chain.now_s())
            key = wallet.new_key("bech32", internal=False)
            wallet.labels[classify_script(key.script_pubkey).address or ""] = ""
            self.chain.mine(key.script_pubkey, 101, DEFAULT_MAX_TRIES)
            self.persist()


def execute(node: Node, name: str, params: Any, wallet_name: str | None) -> Any:
    """Run one RPC method with Core's checks in Core's order.

    Raises:
        RpcError: for every failure, with Bitcoin Core's code and message.
    """
    warming = node.warmup_message()
    if warming is not None:
        raise RpcError(RPC_IN_WARMUP, warming)
    method = METHODS.get(name)
    if method is None:
        raise RpcError(RPC_METHOD_NOT_FOUND, "Method not found")
    values = transform_named(method, params) if isinstance(params, JsonObject) else list(params)
    check_arguments(method, values)
    call = Call(tuple(values), len(values), wallet_name)
    try:
        if not method.locked:
            return method.handler(node, call)
        with node.lock:
            result = method.handler(node, call)
            if method.mutates:
                node.persist()
            return result
    except RpcError:
        raise
    except WalletError as error:
        raise RpcError(error.code, error.message) from error
    except DescriptorError as error:
        raise RpcError(RPC_INVALID_ADDRESS_OR_KEY, str(error)) from error
    except TransactionRejected as error:
        raise RpcError(RPC_VERIFY_REJECTED, error.reason) from error
    except (MissingInputs, FeeTooHigh) as error:
        raise RpcError(RPC_VERIFY_ERROR, error.reason) from error
    except ChainError as error:
        raise RpcError(RPC_MISC_ERROR, error.reason) from error
    except Exception as error:  # a bug: answer as Core does for std::exception, and log it
        traceback.print_exc(file=sys.stderr)
        raise RpcError(RPC_MISC_ERROR, str(error) or type(error).__name__) from error


# --- JSON shapes -------------------------------------------------------------------------------


def script_json(script: bytes, include_hex: bool = True) -> dict[str, Any]:
    """Describe an output script (Core's ScriptToUniv with address)."""
    info = classify_script(script)
    result: dict[str, Any] = {"asm": script_to_asm(script), "desc": infer_descriptor(script)}
    if include_hex:
        result["hex"] = script.hex()
    if info.address is not None:
        result["address"] = info.address
    result["type"] = info.kind
    return result


def tx_json(
    tx: Any, undo: tuple[Coin, ...] | None, verbosity: int, include_hex: bool
) -> dict[str, Any]:
    """Describe a transaction (Core's TxToUniv); `undo` adds fee, verbosity 3 prevouts."""
    size, _, weight = transaction_sizes(tx)
    result: dict[str, Any] = {
        "txid": hash_to_hex(bytes(tx.GetTxid())),
        "hash": hash_to_hex(bytes(tx.GetHash())),
        "version": tx.nVersion,
        "size": size,
        "vsize": (weight + 3) // 4,
        "weight": weight,
        "locktime": tx.nLockTime,
    }
    inputs: list[dict[str, Any]] = []
    for index, txin in enumerate(tx.vin):
        entry: dict[str, Any]
        script_sig = bytes(txin.scriptSig)
        if tx.is_coinbase():
            entry = {"coinbase": script_sig.hex()}
        else:
            entry = {
                "txid": hash_to_hex(bytes(txin.prevout.hash)),
                "vout": txin.prevout.n,
                "scriptSig": {"asm": script_to_asm(script_sig, True), "hex": script_sig.hex()},
            }
        stack = witness_stack(tx, index)
        if stack:
            entry["txinwitness"] = [item.hex() for item in stack]
        if undo is not None and verbosity >= 3:
            coin = undo[index]
            entry["prevout"] = {
                "generated": coin.coinbase,
                "height": coin.height,
                "value": Btc(coin.value_sats),
                "scriptPubKey": script_json(coin.script_pubkey),
            }
        entry["sequence"] = txin.nSequence
        inputs.append(entry)
    result["vin"] = inputs
    result["vout"] = [
        {"value": Btc(out.nValue), "n": n, "scriptPubKey": script_json(bytes(out.scriptPubKey))}
        for n, out in enumerate(tx.vout)
    ]
    if undo is not None and not tx.is_coinbase():
        value_in = sum(coin.value_sats for coin in undo)
        result["fee"] = Btc(value_in - sum(out.nValue for out in tx.vout))
    if include_hex:
        result["hex"] = tx.serialize().hex()
    return result


def header_json(chain: RegtestChain, record: BlockRecord) -> dict[str, Any]:
    """Describe a block header (Core's blockheaderToJSON)."""
    block = record.block
    active = chain.is_active(record)
    result: dict[str, Any] = {
        "hash": hash_to_hex(record.block_hash),
        "confirmations": chain.height - record.height + 1 if active else -1,
        "height": record.height,
        "version": block.nVersion,
        "versionHex": f"{block.nVersion & 0xFFFFFFFF:08x}",
        "merkleroot": hash_to_hex(bytes(block.hashMerkleRoot)),
        "time": block.nTime,
        "mediantime": chain.median_time_past(record),
        "nonce": block.nNonce,
        "bits": f"{block.nBits:08x}",
        "target": f"{compact_to_target(block.nBits):064x}",
        "difficulty": difficulty(block.nBits),
        "chainwork": f"{record.chainwork:064x}",
        "nTx": len(block.vtx),
    }
    if record.height > 0:
        result["previousblockhash"] = hash_to_hex(record.parent_hash)
    following = chain.next_active(record)
    if following is not None:
        result["nextblockhash"] = hash_to_hex(following.block_hash)
    return result


def block_json(chain: RegtestChain, record: BlockRecord, verbosity: int) -> dict[str, Any]:
    """Describe a block at verbosity 1, 2 or 3 (Core's blockToJSON)."""
    result = header_json(chain, record)
    result["strippedsize"] = record.stripped_size
    result["size"] = record.size
    result["weight"] = record.weight
    if verbosity == 1:
        result["tx"] = [hash_to_hex(bytes(tx.GetTxid())) for tx in record.block.vtx]
        return result
    undo = record.undo
    result["tx"] = [
        tx_json(tx, undo[position - 1] if undo is not None and position else None, verbosity, True)
        for position, tx in enumerate(record.block.vtx)
    ]
    return result


def _lookup_block(node: Node, value: Any, name: str) -> BlockRecord:
    """Find a block by hash argument.

    Raises:
        RpcError: -8 for a malformed hash, -5 "Block not found".
    """
    record = node.chain.record(parse_hash(value, name))
    if record is None:
        raise RpcError(RPC_INVALID_ADDRESS_OR_KEY, "Block not found")
    return record


# --- blockchain methods ---


@rpc_method(
    "getblockchaininfo",
    "Returns an object containing various state info regarding blockchain processing.",
)
def _getblockchaininfo(node: Node, call: Call) -> Any:
    chain = node.chain
    tip = chain.tip
    return {
        "chain": "regtest",
        "blocks": chain.height,
        "headers": chain.height,
        "bestblockhash": hash_to_hex(tip.block_hash),
        "bits": f"{REGTEST_BITS:08x}",
        "target": f"{compact_to_target(REGTEST_BITS):064x}",
        "difficulty": difficulty(tip.block.nBits),
        "time": tip.block.nTime,
        "mediantime": chain.median_time_past(tip),
        "verificationprogress": 1.0,
        "initialblockdownload": chain.is_initial_block_download(),
        "chainwork": f"{tip.chainwork:064x}",
        "size_on_disk": chain.size_on_disk(),
        "pruned": False,
        "warnings": [],
    }


@rpc_method("getblockcount", "Returns the height of the most-work fully-validated chain.")
def _getblockcount(node: Node, call: Call) -> Any:
    return node.chain.height


@rpc_method(
    "getbestblockhash",
    "Returns the hash of the best (tip) block in the most-work fully-validated chain.",
)
def _getbestblockhash(node: Node, call: Call) -> Any:
    return hash_to_hex(node.chain.tip.block_hash)


@rpc_method(
    "getblockhash height",
    "Returns hash of block in best-block-chain at height provided.",
    Arg("height", NUM, True),
)
def _getblockhash(node: Node, call: Call) -> Any:
    height = get_int(call.value(0), -(2**31), 2**31 - 1)
    if not 0 <= height <= node.chain.height:
        raise RpcError(RPC_INVALID_PARAMETER, "Block height out of range")
    return hash_to_hex(node.chain.record_at(height).block_hash)


@rpc_method(
    'getblockheader "blockhash" ( verbose )',
    "If verbose is false, returns a string that is serialized, hex-encoded data for "
    "blockheader 'hash'.\n"
    "If verbose is true, returns an Object with information about blockheader <hash>.",
    Arg("blockhash", HEX, True),
    Arg("verbose", BOOL),
)
def _getblockheader(node: Node, call: Call) -> Any:
    record = _lookup_block(node, call.value(0), "hash")
    if call.value(1) is False:
        return record.block.get_header().serialize().hex()
    return header_json(node.chain, record)


@rpc_method(
    'getblock "blockhash" ( verbosity )',
    "If verbosity is 0, returns a string that is serialized, hex-encoded data for block 'hash'.\n"
    "If verbosity is 1, returns an Object with information about block <hash>.\n"
    "If verbosity is 2, returns an Object with information about block <hash> and information "
    "about each transaction.\n"
    "If verbosity is 3, returns an Object with information about block <hash> and information "
    "about each transaction, including prevout information for inputs.",
    Arg("blockhash", HEX, True),
    Arg("verbosity|verbose", ANY),
)
def _getblock(node: Node, call: Call) -> Any:
    record = _lookup_block(node, call.value(0), "blockhash")
    verbosity = parse_verbosity(call.value(1), 1)
    if verbosity <= 0:
        return record.block.serialize().hex()
    return block_json(node.chain, record, min(verbosity, 3))


@rpc_method(
    'getrawtransaction "txid" ( verbosity "blockhash" )',
    "By default, this call only returns a transaction if it is in the mempool. If -txindex is "
    "enabled and no blockhash argument is passed, it will return the transaction if it is in "
    "the mempool or any block.",
    Arg("txid", HEX, True),
    Arg("verbosity|verbose", ANY),
    Arg("blockhash", HEX),
)
def _getrawtransaction(node: Node, call: Call) -> Any:
    chain = node.chain
    txid = parse_hash(call.value(0), "parameter 1")
    if txid == bytes(chain.record_at(0).block.hashMerkleRoot):
        raise RpcError(
            RPC_INVALID_ADDRESS_OR_KEY,
            "The genesis block coinbase is not considered an ordinary transaction and cannot be "
            "retrieved",
        )
    verbosity = parse_verbosity(call.value(1), 0)
    record: BlockRecord | None = None
    if call.value(2) is not None:
        record = chain.record(parse_hash(call.value(2), "parameter 3"))
        if record is None:
            raise RpcError(RPC_INVALID_ADDRESS_OR_KEY, "Block hash not found")
    tx, record, position = _find_transaction(node, txid, record, call.value(2) is not None)
    if verbosity <= 0:
        return tx.serialize().hex()
    result: dict[str, Any] = {}
    if call.value(2) is not None and record is not None:
        result["in_active_chain"] = chain.is_active(record)
    undo = None
    if verbosity >= 2 and record is not None and position and record.undo is not None:
        undo = record.undo[position - 1]
    result.update(tx_json(tx, undo, 3 if undo is not None else 1, True))
    if record is not None:
        result["blockhash"] = hash_to_hex(record.block_hash)
        if chain.is_active(record):
            result["confirmations"] = chain.height - record.height + 1
            result["time"] = record.block.nTime
            result["blocktime"] = record.block.nTime
        else:
            result["confirmations"] = 0
    return result


def _find_transaction(
    node: Node, txid: bytes, record: BlockRecord | None, block_given: bool
) -> tuple[Any, BlockRecord | None, int | None]:
    """Find a transaction as Core's GetTransaction does: in one block, or mempool then index.

    Raises:
        RpcError: -5 with Core's three "No such ..." messages.
    """
    chain = node.chain
    suffix = ". Use gettransaction for wallet transactions."
    if block_given and record is not None:
        position = chain.find_in_block(record, txid)
        if position is None:
            raise RpcError(
                RPC_INVALID_ADDRESS_OR_KEY,
                "No such transaction found in the provided block" + suffix,
            )
        return record.block.vtx[position], record, position
    entry = chain.mempool_entry(txid)
    if entry is not None:
        return entry.tx, None, None
    block_hash = chain.indexed_block_hash(txid)
    if block_hash is not None:
        found = chain.record(block_hash)
        if found is not None:
            position = chain.find_in_block(found, txid)
            if position is not None:
                return found.block.vtx[position], found, position
    if not chain.txindex:
        message = (
            "No such mempool transaction. Use -txindex or provide a block hash to enable "
            "blockchain transaction queries"
        )
    else:
        message = "No such mempool or blockchain transaction"
    raise RpcError(RPC_INVALID_ADDRESS_OR_KEY, message + suffix)


@rpc_method(
    'decoderawtransaction "hexstring" ( iswitness )',
    "Return a JSON object representing the serialized, hex-encoded transaction.",
    Arg("hexstring", HEX, True),
    Arg("iswitness", BOOL),
)
def _decoderawtransaction(node: Node, call: Call) -> Any:
    try:
        tx = decode_transaction(call.value(0))
    except RpcError:
        raise RpcError(RPC_DESERIALIZATION_ERROR, "TX decode failed") from None
    return tx_json(tx, None, 1, False)


@rpc_method(
    'gettxout "txid" n ( include_mempool )',
    "Returns details about an unspent transaction output.",
    Arg("txid", HEX, True),
    Arg("n", NUM, True),
    Arg("include_mempool", BOOL),
)
def _gettxout(node: Node, call: Call) -> Any:
    chain = node.chain
    txid = parse_hash(call.value(0), "txid")
    index = get_int(call.value(1), 0, 2**32 - 1)
    include_mempool = call.value(2) is not False
    coin = chain.unspent_coin((txid, index), include_mempool)
    if coin is None:
        return None
    confirmations = 0 if coin.height == MEMPOOL_HEIGHT else chain.height - coin.height + 1
    return {
        "bestblock": hash_to_hex(chain.tip.block_hash),
        "confirmations": confirmations,
        "value": Btc(coin.value_sats),
        "scriptPubKey": script_json(coin.script_pubkey),
        "coinbase": coin.coinbase,
    }


@rpc_method("getmempoolinfo", "Returns details on the active state of the TX memory pool.")
def _getmempoolinfo(node: Node, call: Call) -> Any:
    entries = node.chain.mempool_entries()
    result: dict[str, Any] = {
        "loaded": True,
        "size": len(entries),
        "bytes": sum(entry.vsize for entry in entries),
        "usage": sum(entry.weight for entry in entries),  # a stand-in for memory in use
        "total_fee": Btc(sum(entry.fee_sats for entry in entries)),
        "maxmempool": MEMPOOL_BYTES_MAX,
        "mempoolminfee": Btc(MIN_RELAY_FEE_SAT_PER_KVB),
        "minrelaytxfee": Btc(MIN_RELAY_FEE_SAT_PER_KVB),
        "incrementalrelayfee": Btc(INCREMENTAL_RELAY_FEE_SAT_PER_KVB),
        "unbroadcastcount": 0,
        "fullrbf": True,
    }
    if node.options.node_version >= MEMPOOL_POLICY_INFO_VERSION_MIN:
        result["permitbaremultisig"] = True
        result["maxdatacarriersize"] = node.options.datacarrier_bytes_max
    return result


@rpc_method(
    'estimatesmartfee conf_target ( "estimate_mode" )',
    "Estimates the approximate fee per kilobyte needed for a transaction to begin "
    "confirmation within conf_target blocks if possible.",
    Arg("conf_target", NUM, True),
    Arg("estimate_mode", STR),
)
def _estimatesmartfee(node: Node, call: Call) -> Any:
    target = get_int(call.value(0), -(2**31), 2**31 - 1)
    if not 1 <= target <= FEE_ESTIMATE_TARGET_MAX:
        raise RpcError(
            RPC_INVALID_PARAMETER,
            f"Invalid conf_target, must be between 1 and {FEE_ESTIMATE_TARGET_MAX}",
        )
    mode = "unset" if call.value(1) is None else get_str(call.value(1)).lower()
    if mode not in ("unset", "economical", "conservative"):
        raise RpcError(
            RPC_INVALID_PARAMETER,
            'Invalid estimate_mode parameter, must be one of: "unset", "economical", '
            '"conservative"',
        )
    rate = node.options.fee_estimate_sat_per_kvb
    if rate is None:
        return {"errors": ["Insufficient data or no feerate found"], "blocks": 0}
    return {"feerate": Btc(max(rate, MIN_RELAY_FEE_SAT_PER_KVB)), "blocks": target}


@rpc_method(
    "getrawmempool ( verbose mempool_sequence )",
    "Returns all transaction ids in memory pool as a json array of string transaction ids.",
    Arg("verbose", BOOL),
    Arg("mempool_sequence", BOOL),
)
def _getrawmempool(node: Node, call: Call) -> Any:
    entries = node.chain.mempool_entries()
    if call.value(0) is not True:
        return [hash_to_hex(entry.txid) for entry in entries]
    return {
        hash_to_hex(entry.txid): {
            "vsize": entry.vsize,
            "weight": entry.weight,
            "time": entry.time_s,
            "height": node.chain.height,
            "wtxid": hash_to_hex(entry.wtxid),
            "fees": {"base": Btc(entry.fee_sats)},
        }
        for entry in entries
    }


@rpc_method(
    'generatetoaddress nblocks "address" ( maxtries )',
    "Mine blocks immediately to a specified address (before the RPC call returns)",
    Arg("nblocks", NUM, True),
    Arg("address", STR, True),
    Arg("maxtries", NUM),
    mutates=True,
)
def _generatetoaddress(node: Node, call: Call) -> Any:
    count = get_int(call.value(0), -(2**31), 2**31 - 1)
    tries = (
        DEFAULT_MAX_TRIES if call.value(2) is None else get_int(call.value(2), -(2**31), 2**31 - 1)
    )
    script = address_script(get_str(call.value(1)), "Error: Invalid address")
    if count > GENERATE_BLOCKS_MAX:
        raise RpcError(
            RPC_INVALID_PARAMETER,
            f"the sandbox stand-in mines at most {GENERATE_BLOCKS_MAX} blocks per call",
        )
    tries = tries if tries >= 0 else 2**64 + tries
    return [hash_to_hex(block) for block in node.chain.mine(script, max(count, 0), tries)]


@rpc_method(
    'invalidateblock "blockhash"',
    "Permanently marks a block as invalid, as if it violated a consensus rule.",
    Arg("blockhash", HEX, True),
    mutates=True,
)
def _invalidateblock(node: Node, call: Call) -> Any:
    record = _lookup_block(node, call.value(0), "blockhash")
    node.chain.invalidate_block(record.block_hash)
    return None


@rpc_method(
    'reconsiderblock "blockhash"',
    "Removes invalidity status of a block, its ancestors and its descendants, reconsider them "
    "for activation.",
    Arg("blockhash", HEX, True),
    mutates=True,
)
def _reconsiderblock(node: Node, call: Call) -> Any:
    record = _lookup_block(node, call.value(0), "blockhash")
    node.chain.reconsider_block(record.block_hash)
    return None


@rpc_method(
    "setmocktime timestamp",
    "Set the local time to given timestamp (-regtest only)",
    Arg("timestamp", NUM, True),
    mutates=True,
)
def _setmocktime(node: Node, call: Call) -> Any:
    timestamp = get_int(call.value(0))
    if timestamp < 0:
        raise RpcError(RPC_INVALID_PARAMETER, f"Mocktime cannot be negative: {timestamp}.")
    node.chain.mock_time_s = timestamp
    return None


# --- descriptors, addresses, scans ---


@rpc_method(
    'validateaddress "address"',
    "Return information about the given bitcoin address.",
    Arg("address", STR, True),
)
def _validateaddress(node: Node, call: Call) -> Any:
    text = get_str(call.value(0))
    try:
        script = decode_address(text)
    except AddressDecodeError as error:
        return {"isvalid": False, "error_locations": list(error.locations), "error": error.message}
    info = classify_script(script)
    result: dict[str, Any] = {
        "isvalid": True,
        "address": info.address,
        "scriptPubKey": script.hex(),
    }
    flags = {
        "pubkeyhash": (False, False),
        "scripthash": (True, False),
        "witness_v0_keyhash": (False, True),
        "witness_v0_scripthash": (True, True),
        "witness_v1_taproot": (True, True),
        "anchor": (True, True),
    }
    if info.kind in flags:
        result["isscript"], result["iswitness"] = flags[info.kind]
    else:
        result["iswitness"] = True
    if info.witness_version is not None and info.kind != "anchor":
        result["witness_version"] = info.witness_version
        result["witness_program"] = info.program.hex()
    return result


@rpc_method(
    'getdescriptorinfo "descriptor"',
    "Analyses a descriptor.",
    Arg("descriptor", STR, True),
)
def _getdescriptorinfo(node: Node, call: Call) -> Any:
    text = get_str(call.value(0))
    descriptor = parse_descriptor(text, require_checksum=False)
    return {
        "descriptor": descriptor.with_checksum,
        "checksum": descriptor_checksum(text.split("#")[0]),
        "isrange": False,
        "issolvable": descriptor.solvable,
        "hasprivatekeys": False,
    }


@rpc_method(
    'deriveaddresses "descriptor" ( range )',
    "Derives one or more addresses corresponding to an output descriptor.",
    Arg("descriptor", STR, True),
    Arg("range", RANGE),
)
def _deriveaddresses(node: Node, call: Call) -> Any:
    text = get_str(call.value(0))
    if call.value(1) is not None:
        parse_range(call.value(1))
    descriptor = parse_descriptor(text, require_checksum=True)
    if call.count > 1:
        raise RpcError(
            RPC_INVALID_PARAMETER, "Range should not be specified for an un-ranged descriptor"
        )
    address = classify_script(descriptor.script_pubkey).address
    if address is None:
        raise RpcError(
            RPC_INVALID_ADDRESS_OR_KEY, "Descriptor does not have a corresponding address"
        )
    return [address]


def _scan_needles(objects: list[Any]) -> dict[bytes, str]:
    """Parse scantxoutset's scan objects into script -> reported descriptor.

    Raises:
        RpcError: -8 for malformed objects and ranges, -5 for descriptors that do not parse.
    """
    needles: dict[bytes, str] = {}
    for item in objects:  # Core sets no count; the request body's size bounds it
        if isinstance(item, str):
            text = item
        elif isinstance(item, dict):
            if item.get("desc") is None:
                raise RpcError(
                    RPC_INVALID_PARAMETER, "Descriptor needs to be provided in scan object"
                )
            text = get_str(item["desc"])
            if item.get("range") is not None:
                parse_range(item["range"])
        else:
            raise RpcError(
                RPC_INVALID_PARAMETER, "Scan object needs to be either a string or an object"
            )
        descriptor = parse_descriptor(text, require_checksum=False)
        needles[descriptor.script_pubkey] = _reported_descriptor(descriptor)
    return needles


def _reported_descriptor(descriptor: Descriptor) -> str:
    """Return what Core's InferDescriptor reports for a matched script of a scan descriptor."""
    if descriptor.public_key is not None:
        return descriptor.with_checksum
    return infer_descriptor(descriptor.script_pubkey)


@rpc_method(
    'scantxoutset "action" ( [scanobjects,...] )',
    "Scans the unspent transaction output set for entries that match certain output descriptors.",
    Arg("action", STR, True),
    Arg("scanobjects", ARR),
    locked=False,
)
def _scantxoutset(node: Node, call: Call) -> Any:
    action = get_str(call.value(0))
    if action == "status":
        with node.scan_lock:
            return None if node.scan is None else {"progress": node.scan.progress}
    if action == "abort":
        with node.scan_lock:
            if node.scan is None:
                return False
            node.scan.abort = True
            return True
    if action != "start":
        raise RpcError(RPC_INVALID_PARAMETER, f"Invalid action '{action}'")
    with node.scan_lock:
        if node.scan is not None:
            raise RpcError(
                RPC_INVALID_PARAMETER, 'Scan already in progress, use action "abort" or "status"'
            )
        scan = node.scan = ScanState()
    try:
        if call.count < 2:
            raise RpcError(RPC_MISC_ERROR, "scanobjects argument is required for the start action")
        try:
            needles = _scan_needles(get_array(call.value(1)))
        except DescriptorError as error:
            raise RpcError(RPC_INVALID_ADDRESS_OR_KEY, str(error)) from error
        return _run_scan(node, scan, needles)
    finally:
        with node.scan_lock:
            node.scan = None


def _run_scan(node: Node, scan: ScanState, needles: dict[bytes, str]) -> Any:
    """Walk a copy of the UTXO set in Core's key order, honouring abort and the delay."""
    with node.lock:
        coins = sorted(node.chain.utxo_items(), key=lambda item: (item[0][0], item[0][1]))
        height = node.chain.height
        tip_hash = node.chain.tip.block_hash
        block_hashes = {h: node.chain.record_at(h).block_hash for h in range(height + 1)}
    chunks = max(1, -(-len(coins) // SCAN_CHUNK_COINS))
    delay_s = node.options.scan_delay_s / chunks
    unspents: list[dict[str, Any]] = []
    examined = 0
    success = True
    for chunk in range(chunks):
        if not _scan_wait(node, scan, delay_s):
            success = False
            break
        for outpoint, coin in coins[chunk * SCAN_CHUNK_COINS : (chunk + 1) * SCAN_CHUNK_COINS]:
            examined += 1
            descriptor = needles.get(coin.script_pubkey)
            if descriptor is None:
                continue
            unspents.append(
                {
                    "txid": hash_to_hex(outpoint[0]),
                    "vout": outpoint[1],
                    "scriptPubKey": coin.script_pubkey.hex(),
                    "desc": descriptor,
                    "amount": Btc(coin.value_sats),
                    "coinbase": coin.coinbase,
                    "height": coin.height,
                    "blockhash": hash_to_hex(block_hashes[coin.height]),
                    "confirmations": height - coin.height + 1,
                }
            )
        with node.scan_lock:
            scan.progress = examined * 100 // max(len(coins), 1)
    total = sum(item["amount"].sats for item in unspents)
    hook = node.scan_finished_hook
    if hook is not None:
        hook(scan)
    return {
        "success": success,
        "txouts": examined,
        "height": height,
        "bestblock": hash_to_hex(tip_hash),
        "unspents": unspents,
        "total_amount": Btc(total),
    }


def _scan_wait(node: Node, scan: ScanState, delay_s: float) -> bool:
    """Sleep `delay_s` in short steps; return False as soon as an abort is requested."""
    deadline = time.monotonic() + delay_s
    for _ in range(int(delay_s / 0.01) + 2):
        with node.scan_lock:
            if scan.abort:
                return False
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return True
        time.sleep(min(0.01, remaining))
    return True


# --- raw transactions ---


@rpc_method(
    'sendrawtransaction "hexstring" ( maxfeerate maxburnamount )',
    "Submit a raw transaction (serialized, hex-encoded) to local node and network.",
    Arg("hexstring", HEX, True),
    Arg("maxfeerate", AMOUNT),
    Arg("maxburnamount", AMOUNT),
    mutates=True,
)
def _sendrawtransaction(node: Node, call: Call) -> Any:
    tx = decode_transaction(call.value(0))
    fee_rate_max = DEFAULT_MAX_RAW_FEE_RATE_SAT_PER_KVB
    if call.value(1) is not None:
        fee_rate_max = parse_amount(call.value(1))
        if fee_rate_max >= COIN:
            raise RpcError(
                RPC_INVALID_PARAMETER, "Fee rates larger than or equal to 1BTC/kvB are not accepted"
            )
    burn_max = 0 if call.value(2) is None else parse_amount(call.value(2))
    for output in tx.vout:
        if is_unspendable(bytes(output.scriptPubKey)) and output.nValue > burn_max:
            raise RpcError(
                RPC_VERIFY_ERROR,
                "Unspendable output exceeds maximum configured by user (maxburnamount)",
            )
    return _broadcast(node, tx, fee_rate_max)


def _broadcast(node: Node, tx: Any, fee_rate_max_sat_per_kvb: int) -> str:
    """Submit to the mempool as Core's BroadcastTransaction does; return the txid.

    Raises:
        RpcError: -27 already confirmed, -25 missing inputs or fee too high, -26 rejected.
    """
    if node.chain.outputs_confirmed(tx):
        raise RpcError(RPC_VERIFY_ALREADY_IN_UTXO_SET, "Transaction outputs already in utxo set")
    node.chain.accept_transaction(tx, fee_rate_max_sat_per_kvb)
    return hash_to_hex(bytes(tx.GetTxid()))


def _parse_inputs(values: Any, replaceable: bool | None, locktime: int) -> list[Any]:
    """Build inputs for createrawtransaction (Core's AddInputs).

    Raises:
        RpcError: -3 or -8 with Core's messages.
    """
    inputs: list[Any] = []
    for item in get_array(values) if values is not None else []:
        entry = get_object(item)
        txid = parse_hash(entry.get("txid"), "txid")
        vout = entry.get("vout")
        if json_type_name(vout) != "number":
            raise RpcError(RPC_INVALID_PARAMETER, "Invalid parameter, missing vout key")
        index = get_int(vout, -(2**31), 2**31 - 1)
        if index < 0:
            raise RpcError(RPC_INVALID_PARAMETER, "Invalid parameter, vout cannot be negative")
        if replaceable is None or replaceable:
            sequence = 0xFFFFFFFD
        else:
            sequence = 0xFFFFFFFE if locktime else 0xFFFFFFFF
        if json_type_name(entry.get("sequence")) == "number":
            sequence = get_int(entry["sequence"])
            if not 0 <= sequence <= 0xFFFFFFFF:
                raise RpcError(
                    RPC_INVALID_PARAMETER, "Invalid parameter, sequence number is out of range"
                )
        inputs.append(CMutableTxIn(COutPoint(txid, index), CScript(), sequence))
    return inputs


def _parse_outputs(values: Any) -> list[Any]:
    """Build outputs for createrawtransaction (Core's NormalizeOutputs and ParseOutputs).

    Raises:
        RpcError: -3, -5 or -8 with Core's messages.
    """
    if values is None:
        raise RpcError(RPC_INVALID_PARAMETER, "Invalid parameter, output argument must be non-null")
    pairs: list[tuple[str, Any]] = []
    if isinstance(values, JsonObject):
        pairs = list(values.pairs)
    else:
        for item in get_array(values):
            if not isinstance(item, JsonObject):
                raise RpcError(
                    RPC_INVALID_PARAMETER,
                    "Invalid parameter, key-value pair not an object as expected",
                )
            if len(item.pairs) != 1:
                raise RpcError(
                    RPC_INVALID_PARAMETER,
                    "Invalid parameter, key-value pair must contain exactly one key",
                )
            pairs.extend(item.pairs)
    outputs: list[Any] = []
    seen: set[bytes] = set()
    has_data = False
    for key, value in pairs:
        if key == "data":
            if has_data:
                raise RpcError(RPC_INVALID_PARAMETER, "Invalid parameter, duplicate key: data")
            has_data = True
            outputs.append(CTxOut(0, CScript(null_data_script(parse_hex(value, "Data")))))
            continue
        amount = parse_amount(value)
        script = address_script(key, f"Invalid Bitcoin address: {key}")
        if script in seen:
            raise RpcError(RPC_INVALID_PARAMETER, f"Invalid parameter, duplicated address: {key}")
        seen.add(script)
        outputs.append(CTxOut(amount, CScript(script)))
    return outputs


@rpc_method(
    'createrawtransaction [{"txid":"hex","vout":n,"sequence":n},...] '
    '[{"address":amount,...},{"data":"hex"},...] ( locktime replaceable version )',
    "Create a transaction spending the given inputs and creating new outputs.",
    Arg("inputs", ARR, True),
    Arg("outputs", ANY, True),
    Arg("locktime", NUM),
    Arg("replaceable", BOOL),
    Arg("version", NUM),
)
def _createrawtransaction(node: Node, call: Call) -> Any:
    locktime = 0
    if call.value(2) is not None:
        locktime = get_int(call.value(2))
        if not 0 <= locktime <= 0xFFFFFFFF:
            raise RpcError(RPC_INVALID_PARAMETER, "Invalid parameter, locktime out of range")
    version = 2 if call.value(4) is None else get_int(call.value(4), 0, 2**32 - 1)
    if not 1 <= version <= 3:
        raise RpcError(RPC_INVALID_PARAMETER, "Invalid parameter, version out of range(1~3)")
    replaceable = None if call.value(3) is None else bool(call.value(3))
    inputs = _parse_inputs(call.value(0), replaceable, locktime)
    outputs = _parse_outputs(call.value(1))
    if replaceable and inputs and not any(txin.nSequence < 0xFFFFFFFE for txin in inputs):
        raise RpcError(
            RPC_INVALID_PARAMETER,
            "Invalid parameter combination: Sequence number(s) contradict replaceable option",
        )
    tx = CMutableTransaction(inputs, outputs, locktime, version)
    return CTransaction.from_tx(tx).serialize().hex()


# --- wallets ---


def _wallet_path(node: Node, name: str) -> Path:
    """Return where Core keeps wallet `name` (a directory under the wallets directory)."""
    return node.datadir / "regtest" / "wallets" / name


def _wallet(node: Node, call: Call) -> Wallet:
    """Select the wallet of a request (-18/-19 rules)."""
    return node.wallets.select(call.wallet_name)


def _label(value: Any) -> str:
    """Read a label (Core's LabelFromValue).

    Raises:
        RpcError: -3 for a non-string, -11 for "*".
    """
    if value is None:
        return ""
    label = get_str(value)
    if label == "*":
        raise RpcError(RPC_WALLET_INVALID_LABEL_NAME, "Invalid label name")
    return label


@rpc_method(
    'createwallet "wallet_name" ( disable_private_keys blank "passphrase" avoid_reuse '
    "descriptors load_on_startup external_signer )",
    "Creates and loads a new wallet.",
    Arg("wallet_name", STR, True),
    Arg("disable_private_keys", BOOL),
    Arg("blank", BOOL),
    Arg("passphrase", STR),
    Arg("avoid_reuse", BOOL),
    Arg("descriptors", BOOL),
    Arg("load_on_startup", BOOL),
    Arg("external_signer", BOOL),
    mutates=True,
)
def _createwallet(node: Node, call: Call) -> Any:
    name = get_str(call.value(0))
    disable_private_keys = call.value(1) is True
    warnings: list[str] = []
    passphrase = call.value(3)
    if passphrase == "":
        warnings.append("Empty string given as passphrase, wallet will not be encrypted.")
    if call.value(5) is False:
        raise RpcError(
            RPC_WALLET_ERROR,
            'descriptors argument must be set to "true"; it is no longer possible to create a '
            "legacy wallet.",
        )
    if call.value(7) is True:
        raise RpcError(
            RPC_WALLET_ERROR,
            "Compiled without external signing support (required for external signing)",
        )
    if passphrase and disable_private_keys:
        raise RpcError(
            RPC_WALLET_ERROR,
            "Passphrase provided but private keys are disabled. A passphrase is only used to "
            "encrypt private keys, so cannot be used for wallets with private keys disabled.",
        )
    if passphrase:
        raise RpcError(RPC_WALLET_ERROR, "the sandbox stand-in does not encrypt wallets")
    if name in node.options.legacy_wallets:
        raise RpcError(
            RPC_WALLET_ERROR,
            f"Wallet file verification failed. Failed to create database path "
            f"'{_wallet_path(node, name)}'. Database already exists.",
        )
    node.wallets.create(name, disable_private_keys, call.value(2) is True, node.chain.now_s())
    result: dict[str, Any] = {"name": name}
    if warnings:
        result["warnings"] = warnings
    return result


@rpc_method(
    'loadwallet "filename" ( load_on_startup )',
    "Loads a wallet from a wallet file or directory.",
    Arg("filename", STR, True),
    Arg("load_on_startup", BOOL),
    mutates=True,
)
def _loadwallet(node: Node, call: Call) -> Any:
    name = get_str(call.value(0))
    if name in node.options.legacy_wallets:
        raise RpcError(
            RPC_WALLET_NOT_FOUND,
            f"Wallet file verification failed. Failed to open database path "
            f"'{_wallet_path(node, name)}'. The wallet appears to be a Legacy wallet, please "
            "use the wallet migration tool (migratewallet RPC or the GUI option).",
        )
    node.wallets.load(name)
    return {"name": name}


@rpc_method(
    'unloadwallet ( "wallet_name" load_on_startup )',
    "Unloads the wallet referenced by the request endpoint or the wallet_name argument.",
    Arg("wallet_name", STR),
    Arg("load_on_startup", BOOL),
    mutates=True,
)
def _unloadwallet(node: Node, call: Call) -> Any:
    name = call.value(0)
    if call.wallet_name is not None:
        if name is not None and name != call.wallet_name:
            raise RpcError(
                RPC_INVALID_PARAMETER,
                "RPC endpoint wallet and wallet_name parameter specify different wallets",
            )
        name = call.wallet_name
    if name is None:
        name = _wallet(node, call).name
    node.wallets.unload(name)
    return {}


@rpc_method("listwallets", "Returns a list of currently loaded wallets.")
def _listwallets(node: Node, call: Call) -> Any:
    return node.wallets.loaded_names()


def _import_timestamp(request: Any, now_s: int) -> int:
    """Read an import request's timestamp (Core's GetImportTimestamp).

    Raises:
        RpcError: -3 when missing or neither a number nor "now".
    """
    if not isinstance(request, dict) or "timestamp" not in request:
        raise RpcError(RPC_TYPE_ERROR, "Missing required timestamp field for key")
    value = request["timestamp"]
    if json_type_name(value) == "number":
        return get_int(value)
    if value == "now":
        return now_s
    raise RpcError(
        RPC_TYPE_ERROR,
        f'Expected number or "now" timestamp value for key. got type {json_type_name(value)}',
    )


def _import_one(wallet: Wallet, request: dict[str, Any], timestamp: int) -> dict[str, Any]:
    """Import one descriptor (Core's ProcessDescriptorImport); errors go into the result."""
    try:
        if "desc" not in request:
            raise RpcError(RPC_INVALID_PARAMETER, "Descriptor not found.")
        text = get_str(request["desc"])
        active = get_bool(request["active"]) if "active" in request else False
        internal = get_bool(request["internal"]) if "internal" in request else False
        label = _label(request.get("label"))
        try:
            descriptor = parse_descriptor(text, require_checksum=True)
        except DescriptorError as error:
            raise RpcError(RPC_INVALID_ADDRESS_OR_KEY, str(error)) from error
        if "range" in request:
            raise RpcError(
                RPC_INVALID_PARAMETER, "Range should not be specified for an un-ranged descriptor"
            )
        if active:
            raise RpcError(RPC_INVALID_PARAMETER, "Active descriptors must be ranged")
        if internal and "label" in request:
            raise RpcError(RPC_INVALID_PARAMETER, "Internal addresses should not have a label")
        if wallet.private_keys_enabled:
            raise RpcError(
                RPC_WALLET_ERROR,
                "Cannot import descriptor without private keys to a wallet with private keys "
                "enabled",
            )
        wallet.import_descriptor(descriptor, timestamp, internal, label)
    except RpcError as error:
        return {"success": False, "error": {"code": error.code, "message": error.message}}
    return {"success": True}


@rpc_method(
    'importdescriptors "requests"',
    "Import descriptors. This will trigger a rescan of the blockchain based on the earliest "
    "timestamp of all descriptors being imported.",
    Arg("requests", ARR, True),
    locked=False,
)
def _importdescriptors(node: Node, call: Call) -> Any:
    """Import under the node's lock, then rescan outside it, blocking like Core's RPC.

    Core adds the descriptors to the wallet first and rescans from the earliest timestamp
    afterwards (more than TIMESTAMP_WINDOW before the tip's median time past); a second
    import meanwhile is refused with -4, and getwalletinfo shows `scanning`.
    """
    with node.lock:
        wallet = _wallet(node, call)
        with node.scan_lock:
            if wallet.name in node.rescans:
                raise RpcError(
                    RPC_WALLET_ERROR,
                    "Wallet is currently rescanning. Abort existing rescan or wait.",
                )
        now_s = node.chain.median_time_past(node.chain.tip)
        results: list[dict[str, Any]] = []
        timestamps: list[int] = []
        for request in get_array(call.value(0)):
            timestamp = max(_import_timestamp(request, now_s), 1)
            timestamps.append(timestamp)
            results.append(_import_one(wallet, request, timestamp))
        node.persist()
        if not timestamps or min(timestamps) >= now_s - RESCAN_WINDOW_S:
            return results
        with node.scan_lock:
            node.rescans[wallet.name] = ScanState()
    try:
        hook = node.rescan_hook
        if hook is not None:
            hook(wallet.name)
    finally:
        with node.scan_lock:
            node.rescans.pop(wallet.name, None)
    return results


@rpc_method("getwalletinfo", "Returns an object containing various wallet state info.")
def _getwalletinfo(node: Node, call: Call) -> Any:
    wallet = _wallet(node, call)
    with node.scan_lock:
        rescan = node.rescans.get(wallet.name)
        scanning: Any = (
            False if rescan is None else {"duration": 0, "progress": Decimal(rescan.progress) / 100}
        )
    return {
        "walletname": wallet.name,
        "walletversion": 169900,
        "format": "sqlite",
        "txcount": 0,
        "keypoolsize": 0,
        "unlocked_until": 0,
        "paytxfee": Btc(0),
        "private_keys_enabled": wallet.private_keys_enabled,
        "avoid_reuse": False,
        "scanning": scanning,
        "descriptors": True,
        "external_signer": False,
        "blank": wallet.blank,
        "birthtime": wallet.created_s,
        "lastprocessedblock": {
            "hash": hash_to_hex(node.chain.tip.block_hash),
            "height": node.chain.height,
        },
    }


@rpc_method(
    "listdescriptors ( private )",
    "List descriptors imported into a descriptor-enabled wallet.",
    Arg("private", BOOL),
)
def _listdescriptors(node: Node, call: Call) -> Any:
    wallet = _wallet(node, call)
    if call.value(0) is True:
        raise RpcError(RPC_WALLET_ERROR, "Can't get descriptor string.")
    descriptors = [
        {
            "desc": watched.descriptor,
            "timestamp": watched.birth_s,
            "active": False,
            "internal": watched.internal,
        }
        for watched in sorted(wallet.watched.values(), key=lambda w: w.descriptor)
    ]
    return {"wallet_name": wallet.name, "descriptors": descriptors}


def _address_filter(values: Any) -> set[bytes] | None:
    """Read listunspent's address filter; None when there is none.

    Raises:
        RpcError: -5 invalid address, -8 duplicated address.
    """
    if values is None:
        return None
    scripts: set[bytes] = set()
    if not get_array(values):
        return None  # an empty list means no filter
    for item in get_array(values):
        text = get_str(item)
        script = address_script(text, f"Invalid Bitcoin address: {text}")
        if script in scripts:
            raise RpcError(RPC_INVALID_PARAMETER, f"Invalid parameter, duplicated address: {text}")
        scripts.add(script)
    return scripts


_QUERY_OPTION_TYPES: Final = {
    "minimumAmount": "",
    "maximumAmount": "",
    "minimumSumAmount": "",
    "maximumCount": NUM,
    "include_immature_coinbase": BOOL,
}


def _check_object_keys(options: dict[str, Any], types: dict[str, str]) -> None:
    """Check an options object strictly (Core's RPCTypeCheckObj with fStrict).

    Raises:
        RpcError: -3 for a wrong type or an unexpected key.
    """
    for key, expected in types.items():
        value = options.get(key)
        if expected and value is not None and json_type_name(value) != expected:
            raise RpcError(
                RPC_TYPE_ERROR,
                f"JSON value of type {json_type_name(value)} for field {key} is not of expected "
                f"type {expected}",
            )
    for key in options:
        if key not in types:
            raise RpcError(RPC_TYPE_ERROR, f"Unexpected key {key}")


@rpc_method(
    'listunspent ( minconf maxconf ["address",...] include_unsafe query_options )',
    "Returns array of unspent transaction outputs with between minconf and maxconf (inclusive) "
    "confirmations.",
    Arg("minconf", NUM),
    Arg("maxconf", NUM),
    Arg("addresses", ARR),
    Arg("include_unsafe", BOOL),
    Arg("query_options", OBJ),
)
def _listunspent(node: Node, call: Call) -> Any:
    wallet = _wallet(node, call)
    minconf = 1 if call.value(0) is None else get_int(call.value(0), -(2**31), 2**31 - 1)
    maxconf = LISTUNSPENT_MAXCONF_DEFAULT if call.value(1) is None else get_int(call.value(1))
    scripts = _address_filter(call.value(2))
    include_unsafe = call.value(3) is not False
    options = call.value(4) or {}
    known = _QUERY_OPTION_TYPES
    if node.options.node_version < IMMATURE_COINBASE_VERSION_MIN:
        known = {k: v for k, v in known.items() if k != "include_immature_coinbase"}
    _check_object_keys(options, known)
    amount_min = parse_amount(options["minimumAmount"]) if "minimumAmount" in options else 0
    amount_max = (
        parse_amount(options["maximumAmount"]) if "maximumAmount" in options else MONEY_MAX_SATS
    )
    sum_min = (
        parse_amount(options["minimumSumAmount"])
        if "minimumSumAmount" in options
        else MONEY_MAX_SATS
    )
    count_max = get_int(options["maximumCount"]) if "maximumCount" in options else 0
    immature = options.get("include_immature_coinbase") is True
    results: list[dict[str, Any]] = []
    total = 0
    for item in wallet_coins(wallet, node.chain, immature):
        if (
            not minconf <= item.confirmations <= maxconf
            or not amount_min <= item.coin.value_sats <= amount_max
        ):
            continue
        if scripts is not None and item.coin.script_pubkey not in scripts:
            continue
        if not include_unsafe and not item.safe:
            continue
        results.append(_unspent_json(node, item))
        total += item.coin.value_sats
        if (count_max and len(results) >= count_max) or total >= sum_min:
            break
    return results


def _unspent_json(node: Node, item: Any) -> dict[str, Any]:
    """Describe one wallet output as listunspent does."""
    result: dict[str, Any] = {"txid": hash_to_hex(item.outpoint[0]), "vout": item.outpoint[1]}
    if item.address is not None:
        result["address"] = item.address
        if item.label is not None:
            result["label"] = item.label
    result["scriptPubKey"] = item.coin.script_pubkey.hex()
    result["amount"] = Btc(item.coin.value_sats)
    result["confirmations"] = item.confirmations
    if item.confirmations == 0:
        ancestors = node.chain.mempool_ancestors(item.outpoint[0])
        result["ancestorcount"] = len(ancestors)
        result["ancestorsize"] = sum(entry.vsize for entry in ancestors)
        result["ancestorfees"] = sum(entry.fee_sats for entry in ancestors)
    result["spendable"] = True
    result["solvable"] = item.solvable
    if item.descriptor is not None:
        result["desc"] = item.descriptor
    result["parent_descs"] = list(item.parent_descriptors)
    result["safe"] = item.safe
    return result


@rpc_method(
    'getreceivedbyaddress "address" ( minconf include_immature_coinbase )',
    "Returns the total amount received by the given address in transactions with at least "
    "minconf confirmations.",
    Arg("address", STR, True),
    Arg("minconf", NUM),
    Arg("include_immature_coinbase", BOOL),
)
def _getreceivedbyaddress(node: Node, call: Call) -> Any:
    wallet = _wallet(node, call)
    script = address_script(get_str(call.value(0)), "Invalid Bitcoin address")
    if not wallet.owns(script):
        raise RpcError(RPC_WALLET_ERROR, "Address not found in wallet")
    minconf = 1 if call.value(1) is None else get_int(call.value(1), -(2**31), 2**31 - 1)
    immature = call.value(2) is True
    return Btc(received_by_script_sats(wallet, node.chain, script, minconf, immature))


@rpc_method(
    'getbalance ( "dummy" minconf include_watchonly avoid_reuse )',
    "Returns the total available balance.",
    Arg("dummy", STR),
    Arg("minconf", NUM),
    Arg("include_watchonly", BOOL),
    Arg("avoid_reuse", BOOL),
)
def _getbalance(node: Node, call: Call) -> Any:
    wallet = _wallet(node, call)
    if call.value(0) is not None and call.value(0) != "*":
        raise RpcError(
            RPC_METHOD_DEPRECATED, 'dummy first argument must be excluded or set to "*".'
        )
    minconf = 0 if call.value(1) is None else get_int(call.value(1), -(2**31), 2**31 - 1)
    coins = wallet_coins(wallet, node.chain)
    return Btc(sum(c.coin.value_sats for c in coins if c.safe and c.confirmations >= minconf))


def _address_type(value: Any) -> str:
    """Read an address type.

    Raises:
        RpcError: -5 for an unknown type, -8 for types the sandbox cannot derive.
    """
    name = "bech32" if value is None else get_str(value)
    if name in ("p2sh-segwit", "bech32m"):
        raise RpcError(
            RPC_INVALID_PARAMETER,
            f"the sandbox stand-in derives only bech32 and legacy, not {name}",
        )
    if name not in ("bech32", "legacy"):
        raise RpcError(RPC_INVALID_ADDRESS_OR_KEY, f"Unknown address type '{name}'")
    return name


@rpc_method(
    'getnewaddress ( "label" "address_type" )',
    "Returns a new Bitcoin address for receiving payments.",
    Arg("label", STR),
    Arg("address_type", STR),
    mutates=True,
)
def _getnewaddress(node: Node, call: Call) -> Any:
    wallet = _wallet(node, call)
    if not wallet.has_keys:
        raise RpcError(RPC_WALLET_ERROR, "Error: This wallet has no available keys")
    label = _label(call.value(0))
    key = wallet.new_key(_address_type(call.value(1)), internal=False)
    address = classify_script(key.script_pubkey).address or ""
    wallet.labels[address] = label
    return address


@rpc_method(
    'getrawchangeaddress ( "address_type" )',
    "Returns a new Bitcoin address, for receiving change.",
    Arg("address_type", STR),
    mutates=True,
)
def _getrawchangeaddress(node: Node, call: Call) -> Any:
    wallet = _wallet(node, call)
    if not wallet.has_keys:
        raise RpcError(RPC_WALLET_ERROR, "Error: This wallet has no available keys")
    key = wallet.new_key(_address_type(call.value(0)), internal=True)
    return classify_script(key.script_pubkey).address


def _fee_rate_option(
    node: Node, sat_per_vb: Any, btc_per_kvb: Any, failure_code: int = RPC_WALLET_ERROR
) -> int:
    """Read a fee rate given in sat/vB or BTC/kvB; default to the estimate, else the fallback
    fee (Core's GetMinimumFeeRate without -paytxfee).

    Raises:
        RpcError: -3 for bad amounts, -8 when both forms are given, `failure_code` with
            "Fee estimation failed..." when there is no estimate and no fallback fee.
    """
    if sat_per_vb is not None and btc_per_kvb is not None:
        raise RpcError(
            RPC_INVALID_PARAMETER, "Cannot specify both fee_rate (sat/vB) and feeRate (BTC/kvB)"
        )
    if sat_per_vb is not None:
        return parse_amount(sat_per_vb, decimals=3)
    if btc_per_kvb is not None:
        return parse_amount(btc_per_kvb)
    if node.options.fee_estimate_sat_per_kvb is not None:
        return node.options.fee_estimate_sat_per_kvb
    if node.options.fallback_fee_sat_per_kvb == 0:
        raise RpcError(failure_code, FEE_ESTIMATION_FAILED)
    return node.options.fallback_fee_sat_per_kvb


@rpc_method(
    'sendtoaddress "address" amount ( "comment" "comment_to" subtractfeefromamount '
    'replaceable conf_target "estimate_mode" avoid_reuse fee_rate verbose )',
    "Send an amount to a given address.",
    Arg("address", STR, True),
    Arg("amount", AMOUNT, True),
    Arg("comment", STR),
    Arg("comment_to", STR),
    Arg("subtractfeefromamount", BOOL),
    Arg("replaceable", BOOL),
    Arg("conf_target", NUM),
    Arg("estimate_mode", STR),
    Arg("avoid_reuse", BOOL),
    Arg("fee_rate", AMOUNT),
    Arg("verbose", BOOL),
    mutates=True,
)
def _sendtoaddress(node: Node, call: Call) -> Any:
    wallet = _wallet(node, call)
    text = get_str(call.value(0))
    amount = parse_amount(call.value(1))
    script = address_script(text, f"Invalid Bitcoin address: {text}")
    if not wallet.private_keys_enabled:
        raise RpcError(RPC_WALLET_ERROR, "Error: Private keys are disabled for this wallet")
    if call.value(6) is not None and call.value(9) is not None:
        raise RpcError(
            RPC_INVALID_PARAMETER,
            "Cannot specify both conf_target and fee_rate. Please provide either a confirmation "
            "target in blocks for automatic fee estimation, or an explicit fee rate.",
        )
    rate = _fee_rate_option(node, call.value(9), None, RPC_WALLET_INSUFFICIENT_FUNDS)
    subtract = (0,) if call.value(4) is True else ()
    if amount == 0 or (not subtract and amount < dust_threshold_sats(script)):
        raise RpcError(RPC_WALLET_INSUFFICIENT_FUNDS, "Transaction amount too small")
    sequence = 0xFFFFFFFE if call.value(5) is False else 0xFFFFFFFD
    draft = CMutableTransaction([], [CTxOut(amount, CScript(script))], node.chain.height, 2)
    try:
        funded = fund_transaction(wallet, node.chain, draft, rate, subtract_fee_from=subtract)
    except WalletError as error:
        raise RpcError(RPC_WALLET_INSUFFICIENT_FUNDS, error.message) from error
    unsigned = CMutableTransaction.from_tx(funded.tx)
    for txin in unsigned.vin:
        txin.nSequence = sequence
    signed = sign_transaction(wallet, node.chain, CTransaction.from_tx(unsigned), {}, 0x01)
    if not signed.complete:
        raise RpcError(RPC_WALLET_INSUFFICIENT_FUNDS, "Signing transaction failed")
    txid = _broadcast(node, signed.tx, WALLET_MAX_FEE_RATE_SAT_PER_KVB)
    if call.value(10) is True:
        return {"txid": txid, "fee_reason": "Fallback fee"}
    return txid


_FUND_OPTION_TYPES: Final = {
    "add_inputs": BOOL,
    "include_unsafe": BOOL,
    "minconf": NUM,
    "maxconf": NUM,
    "changeAddress": STR,
    "changePosition": NUM,
    "change_type": STR,
    "includeWatching": BOOL,
    "lockUnspents": BOOL,
    "fee_rate": "",
    "feeRate": "",
    "subtractFeeFromOutputs": ARR,
    "replaceable": BOOL,
    "conf_target": NUM,
    "estimate_mode": STR,
}


def _subtract_positions(values: Any, output_count: int) -> tuple[int, ...]:
    """Read subtractFeeFromOutputs.

    Raises:
        RpcError: -8 for out-of-range or duplicated positions.
    """
    positions: list[int] = []
    for value in get_array(values or []):
        position = get_int(value, -(2**31), 2**31 - 1)
        if position in positions:
            raise RpcError(
                RPC_INVALID_PARAMETER, f"Invalid parameter, duplicated position: {position}"
            )
        if not 0 <= position < output_count:
            raise RpcError(RPC_INVALID_PARAMETER, "Invalid parameter, value out of range")
        positions.append(position)
    return tuple(positions)


@rpc_method(
    'fundrawtransaction "hexstring" ( options iswitness )',
    "If the transaction has no inputs, they will be automatically selected to meet its out "
    "value. It will add at most one change output to the outputs.",
    Arg("hexstring", HEX, True),
    Arg("options", ANY),
    Arg("iswitness", BOOL),
    mutates=True,
)
def _fundrawtransaction(node: Node, call: Call) -> Any:
    wallet = _wallet(node, call)
    tx = decode_transaction(call.value(0))
    if not tx.vout:
        raise RpcError(RPC_INVALID_PARAMETER, "TX must have at least one output")
    options = call.value(1)
    if options is None or isinstance(options, bool):
        options = {}
    _check_object_keys(get_object(options), _FUND_OPTION_TYPES)
    rate = _fee_rate_option(node, options.get("fee_rate"), options.get("feeRate"))
    position = options.get("changePosition")
    if position is not None:
        position = get_int(position, -(2**31), 2**31 - 1)
        if not 0 <= position <= len(tx.vout):
            raise RpcError(RPC_INVALID_PARAMETER, "changePosition out of bounds")
    subtract = _subtract_positions(options.get("subtractFeeFromOutputs"), len(tx.vout))
    funded = fund_transaction(
        wallet,
        node.chain,
        tx,
        rate,
        change_position=position,
        subtract_fee_from=subtract,
        add_inputs=options.get("add_inputs") is not False,
    )
    result_tx = funded.tx
    if options.get("changeAddress") is not None and funded.change_position >= 0:
        change_text = get_str(options["changeAddress"])
        change = address_script(change_text, "Change address must be a valid bitcoin address")
        mutable = CMutableTransaction.from_tx(result_tx)
        old = mutable.vout[funded.change_position]
        mutable.vout[funded.change_position] = CTxOut(old.nValue, CScript(change))
        result_tx = CTransaction.from_tx(mutable)
    return {
        "hex": result_tx.serialize().hex(),
        "fee": Btc(funded.fee_sats),
        "changepos": funded.change_position,
    }


def _prevtx_coins(node: Node, values: Any) -> dict[tuple[bytes, int], Coin]:
    """Read signrawtransactionwithwallet's prevtxs (Core's ParsePrevouts).

    Raises:
        RpcError: -22, -3 or -8 with Core's messages.
    """
    coins: dict[tuple[bytes, int], Coin] = {}
    for item in get_array(values or []):
        if not isinstance(item, dict):
            raise RpcError(
                RPC_DESERIALIZATION_ERROR, 'expected object with {"txid\'","vout","scriptPubKey"}'
            )
        for key, expected in (("txid", STR), ("vout", NUM), ("scriptPubKey", STR)):
            if key not in item:
                raise RpcError(RPC_TYPE_ERROR, f"Missing {key}")
            if json_type_name(item[key]) != expected:
                raise RpcError(
                    RPC_TYPE_ERROR,
                    f"JSON value of type {json_type_name(item[key])} for field {key} is not of "
                    f"expected type {expected}",
                )
        txid = parse_hash(item["txid"], "txid")
        index = get_int(item["vout"], -(2**31), 2**31 - 1)
        if index < 0:
            raise RpcError(RPC_DESERIALIZATION_ERROR, "vout cannot be negative")
        script = parse_hex(item["scriptPubKey"], "scriptPubKey")
        existing = node.chain.available_coin((txid, index))
        if existing is not None and existing.script_pubkey != script:
            raise RpcError(
                RPC_DESERIALIZATION_ERROR,
                "Previous output scriptPubKey mismatch:\n"
                f"{script_to_asm(existing.script_pubkey)}\nvs:\n{script_to_asm(script)}",
            )
        amount = parse_amount(item["amount"]) if "amount" in item else MONEY_MAX_SATS
        coins[(txid, index)] = Coin(amount, script, 1, False)
    return coins


@rpc_method(
    'signrawtransactionwithwallet "hexstring" ( [{"txid":"hex","vout":n,"scriptPubKey":"hex",'
    '"redeemScript":"hex","witnessScript":"hex","amount":amount},...] "sighashtype" )',
    "Sign inputs for raw transaction (serialized, hex-encoded).",
    Arg("hexstring", HEX, True),
    Arg("prevtxs", ARR),
    Arg("sighashtype", STR),
)
def _signrawtransactionwithwallet(node: Node, call: Call) -> Any:
    wallet = _wallet(node, call)
    tx = decode_transaction(call.value(0))
    extra = _prevtx_coins(node, call.value(1))
    name = "DEFAULT" if call.value(2) is None else get_str(call.value(2))
    if name not in SIGHASH_TYPES:
        raise RpcError(RPC_INVALID_PARAMETER, f"'{name}' is not a valid sighash parameter.")
    signed = sign_transaction(wallet, node.chain, tx, extra, SIGHASH_TYPES[name])
    result: dict[str, Any] = {"hex": signed.tx.serialize().hex(), "complete": signed.complete}
    if signed.errors:
        result["errors"] = [
            {
                "txid": hash_to_hex(bytes(signed.tx.vin[error.index].prevout.hash)),
                "vout": signed.tx.vin[error.index].prevout.n,
                "witness": [item.hex() for item in witness_stack(signed.tx, error.index)],
                "scriptSig": bytes(signed.tx.vin[error.index].scriptSig).hex(),
                "sequence": signed.tx.vin[error.index].nSequence,
                "error": error.message,
            }
            for error in signed.errors
        ]
    return result


# --- control ---


@rpc_method(
    'help ( "command" )',
    "List all commands, or get help for a specified command.",
    Arg("command", STR),
)
def _help(node: Node, call: Call) -> Any:
    if call.value(0) is None:
        return "\n".join(sorted(method.usage for method in METHODS.values()))
    method = METHODS.get(get_str(call.value(0)))
    if method is None:
        return f"help: unknown command: {call.value(0)}"
    return method.help_text()


@rpc_method("stop", "Request a graceful shutdown of Bitcoin Core.")
def _stop(node: Node, call: Call) -> Any:
    node.stop_requested.set()
    return "Bitcoin Core stopping"


@rpc_method("uptime", "Returns the total uptime of the server.")
def _uptime(node: Node, call: Call) -> Any:
    return int(time.monotonic() - node.started_monotonic)


def _subversion(version: int) -> str:
    """Return Core's user agent for a version number (300000 -> /Satoshi:30.0.0/)."""
    major, minor, patch = version // 10_000, version // 100 % 100, version % 100
    return f"/Satoshi:{major}.{minor}.{patch}/"


@rpc_method(
    "getnetworkinfo", "Returns an object containing various state info regarding P2P networking."
)
def _getnetworkinfo(node: Node, call: Call) -> Any:
    return {
        "version": node.options.node_version,
        "subversion": _subversion(node.options.node_version),
        "protocolversion": 70016,
        "localservices": "0000000000000c09",
        "localservicesnames": ["NETWORK", "WITNESS", "NETWORK_LIMITED", "P2P_V2"],
        "localrelay": True,
        "timeoffset": 0,
        "networkactive": True,
        "connections": 0,
        "connections_in": 0,
        "connections_out": 0,
        "networks": [],
        "relayfee": Btc(100),
        "incrementalfee": Btc(100),
        "localaddresses": [],
        "warnings": [],
    }


# --- JSON-RPC envelope ---------------------------------------------------------------------------

_ABSENT: Final = object()


@dataclass(slots=True)
class _RequestState:
    """What Core's JSONRPCRequest remembers while parsing: id and protocol version.

    It is reused across the elements of a batch, as Core reuses its request object.
    """

    id: Any = None
    v2: bool = False
    method: str = ""
    params: Any = field(default_factory=list)

    @property
    def notification(self) -> bool:
        """Tell whether the request is a JSON-RPC 2.0 notification (no id)."""
        return self.v2 and self.id is _ABSENT


def _parse_request(value: Any, state: _RequestState) -> None:
    """Read a request object into `state` (Core's JSONRPCRequest::parse).

    Raises:
        RpcError: -32600 with Core's messages; id and version read so far stay in `state`.
    """
    if not isinstance(value, dict):
        raise RpcError(RPC_INVALID_REQUEST, "Invalid Request object")
    state.id = value.get("id", _ABSENT)
    state.v2 = False
    version = value.get("jsonrpc")
    if version is not None:
        if not isinstance(version, str):
            raise RpcError(RPC_INVALID_REQUEST, "jsonrpc field must be a string")
        if version == "2.0":
            state.v2 = True
        elif version != "1.0":
            raise RpcError(RPC_INVALID_REQUEST, "JSON-RPC version not supported")
    method = value.get("method")
    if method is None:
        raise RpcError(RPC_INVALID_REQUEST, "Missing method")
    if not isinstance(method, str):
        raise RpcError(RPC_INVALID_REQUEST, "Method must be a string")
    params = value.get("params")
    if params is None:
        params = []
    if not isinstance(params, list | dict):
        raise RpcError(RPC_INVALID_REQUEST, "Params must be an array or object")
    state.method = method
    state.params = params


def _reply(result: Any, error: RpcError | None, state: _RequestState) -> dict[str, Any]:
    """Build a reply object (Core's JSONRPCReplyObj)."""
    reply: dict[str, Any] = {}
    if state.v2:
        reply["jsonrpc"] = "2.0"
    if error is None:
        reply["result"] = result
        if not state.v2:
            reply["error"] = None
    else:
        if not state.v2:
            reply["result"] = None
        reply["error"] = {"code": error.code, "message": error.message}
    if state.id is not _ABSENT:
        reply["id"] = state.id
    return reply


def _execute_one(
    node: Node, state: _RequestState, wallet_name: str | None, catch_errors: bool
) -> dict[str, Any]:
    """Execute a parsed request; legacy single requests let the error escape (HTTP status)."""
    try:
        result = execute(node, state.method, state.params, wallet_name)
    except RpcError as error:
        if not catch_errors:
            raise
        return _reply(None, error, state)
    return _reply(result, None, state)


def handle_body(node: Node, body: bytes, wallet_name: str | None) -> tuple[int, bytes | None]:
    """Answer a request body as Core's HTTPReq_JSONRPC: (HTTP status, body or None for 204)."""
    state = _RequestState()
    try:
        value = parse_json(body)
        if isinstance(value, dict):
            _parse_request(value, state)
            reply: Any = _execute_one(node, state, wallet_name, catch_errors=state.v2)
            if state.notification:
                return 204, None
        elif isinstance(value, list):
            if len(value) > BATCH_REQUESTS_MAX:
                raise RpcError(
                    RPC_INVALID_REQUEST, f"batch larger than {BATCH_REQUESTS_MAX} requests"
                )
            replies: list[Any] = []
            for element in value:
                try:
                    _parse_request(element, state)
                    response = _execute_one(node, state, wallet_name, catch_errors=True)
                except RpcError as error:
                    response = _reply(None, error, state)
                if not state.notification:
                    replies.append(response)
            if not replies and value:
                return 204, None
            reply = replies
        else:
            raise RpcError(RPC_PARSE_ERROR, "Top-level object parse error")
        return 200, (dumps(reply) + "\n").encode("utf-8")
    except RpcError as error:
        status = {RPC_INVALID_REQUEST: 400, RPC_METHOD_NOT_FOUND: 404}.get(error.code, 500)
        return status, (dumps(_reply(None, error, state)) + "\n").encode("utf-8")


# --- HTTP ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Credential:
    """One accepted user: password kept as a salted HMAC, as Core keeps rpcauth entries."""

    user: str
    salt: str
    digest: str

    @classmethod
    def from_password(cls, user: str, password: str) -> Credential:
        """Salt and hash a plain password."""
        salt = secrets.token_hex(16)
        return cls(user, salt, _password_digest(salt, password))

    def matches(self, user: str, password: str) -> bool:
        """Compare in constant time."""
        same_user = hmac.compare_digest(self.user.encode(), user.encode())
        same_password = hmac.compare_digest(self.digest, _password_digest(self.salt, password))
        return same_user and same_password


def _password_digest(salt: str, password: str) -> str:
    """Return HMAC-SHA256(salt, password) in hex (share/rpcauth/rpcauth.py)."""
    return hmac.new(salt.encode(), password.encode(), hashlib.sha256).hexdigest()


class _Server(ThreadingHTTPServer):
    """The HTTP server with the node, credentials and the work-queue bound."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], node: Node, credentials: list[Credential]) -> None:
        super().__init__(address, _Handler)
        self.node = node
        self.credentials = credentials
        self.in_flight = threading.BoundedSemaphore(WORK_QUEUE_DEPTH)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that hung up before its answer (a timeout) is not an error of the node."""
        if isinstance(sys.exc_info()[1], (BrokenPipeError, ConnectionResetError)):
            return
        super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    """One HTTP connection: keep-alive, bounded bodies, Core's status codes."""

    protocol_version = "HTTP/1.1"
    timeout = REQUEST_TIMEOUT_S
    # Headers and body go out in two writes: without TCP_NODELAY the body waits for the
    # client's delayed ACK (about 40 ms a call).
    disable_nagle_algorithm = True
    server: _Server

    def do_POST(self) -> None:
        """Serve a POST."""
        self._serve()

    do_GET = do_PUT = do_DELETE = do_HEAD = do_PATCH = do_OPTIONS = do_POST

    def log_message(self, format: str, *args: Any) -> None:
        """Stay quiet: tests and demos read stdout."""

    def _serve(self) -> None:
        """Route, authenticate and answer one request."""
        body = self._read_body()
        if body is None:
            return
        wallet_name: str | None = None
        if self.path.startswith("/wallet/"):
            wallet_name = unquote(self.path[len("/wallet/") :])
        elif self.path != "/":
            self._send(404)
            return
        if not self.server.in_flight.acquire(blocking=False):
            self._send(503, b"Work queue depth exceeded", "text/plain")
            return
        try:
            self._serve_rpc(body, wallet_name)
        finally:
            self.server.in_flight.release()

    def _serve_rpc(self, body: bytes, wallet_name: str | None) -> None:
        """Check method and credentials, then run the JSON-RPC body."""
        if self.command != "POST":
            self._send(405, b"JSONRPC server handles only POST requests", "text/plain")
            return
        header = self.headers.get("Authorization")
        if header is None:
            self._send(401, extra=[("WWW-Authenticate", WWW_AUTHENTICATE)])
            return
        if not self._authorized(header):
            time.sleep(AUTH_FAILURE_DELAY_S)  # Core slows down password guessing
            self._send(401, extra=[("WWW-Authenticate", WWW_AUTHENTICATE)])
            return
        if not _whitelisted(self.server.node.options.rpc_whitelist, body):
            self._send(403)  # Core: empty body, as for -rpcallowip
            return
        status, reply = handle_body(self.server.node, body, wallet_name)
        if reply is None:
            self._send(status)
        else:
            self._send(status, reply, "application/json")
        if self.server.node.stop_requested.is_set():
            _shutdown_soon(self.server)

    def _read_body(self) -> bytes | None:
        """Read the body within the size bound; answer 411/413 and return None otherwise."""
        if self.headers.get("Transfer-Encoding"):
            self.close_connection = True
            self._send(411, b"Content-Length required", "text/plain")
            return None
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = -1
        if not 0 <= length <= self.server.node.options.request_body_bytes_max:
            self.close_connection = True
            self._send(413, b"Request body too large", "text/plain")
            return None
        return self.rfile.read(length) if length else b""

    def _authorized(self, header: str) -> bool:
        """Check a Basic credential against the cookie and configured users."""
        if not header.startswith("Basic "):
            return False
        try:
            decoded = base64.b64decode(header[6:].strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return False
        if ":" not in decoded:
            return False
        user, password = decoded.split(":", 1)
        return any(credential.matches(user, password) for credential in self.server.credentials)

    def _send(
        self,
        status: int,
        body: bytes = b"",
        content_type: str | None = None,
        extra: list[tuple[str, str]] | None = None,
    ) -> None:
        """Write a response with an exact Content-Length (keep-alive safe)."""
        self.send_response(status)
        for name, value in extra or []:
            self.send_header(name, value)
        if content_type is not None:
            self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if body and self.command != "HEAD":
            self.wfile.write(body)


def _whitelisted(whitelist: tuple[str, ...] | None, body: bytes) -> bool:
    """Return whether every method of a request is in the whitelist (None: no whitelist).

    A body that does not parse passes: the JSON-RPC layer answers it with its own error.
    """
    if whitelist is None:
        return True
    try:
        value = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return True
    requests = value if isinstance(value, list) else [value]
    return all(not isinstance(item, dict) or item.get("method") in whitelist for item in requests)


def _shutdown_soon(server: _Server) -> None:
    """Stop `serve_forever` from another thread (it must not run on the serving thread)."""
    threading.Thread(target=server.shutdown, name="bitcoind-standin-stop", daemon=True).start()


# --- running it ---


class BitcoindStandIn:
    """A running regtest stand-in: node state, HTTP server thread and cookie file."""

    def __init__(self, datadir: Path, options: StandInOptions | None = None) -> None:
        """Prepare (not start) a stand-in keeping its cookie under `datadir/regtest`."""
        self.datadir = Path(datadir)
        self.options = options or StandInOptions()
        self.cookie_path = self.datadir / "regtest" / ".cookie"
        self.node = Node(self.datadir, self.options)
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._cookie_written = False

    @property
    def url(self) -> str:
        """Return `http://host:port` of the running server (no credentials)."""
        if self._server is None:
            raise RuntimeError("the stand-in is not running")
        return f"http://{self.options.host}:{self._server.server_port}"

    def start(self) -> None:
        """Write the cookie, bind the port and serve in a daemon thread.

        Raises:
            OSError: the port cannot be bound or the data directory written.
        """
        credentials: list[Credential] = []
        if self.options.rpc_password is not None:
            user = self.options.rpc_user or ""
            credentials.append(Credential.from_password(user, self.options.rpc_password))
        else:
            credentials.append(Credential.from_password(COOKIE_USER, self._write_cookie()))
        self._server = _Server((self.options.host, self.options.port), self.node, credentials)
        if self.options.funded_wallet:
            self.node.fund_wallet(self.options.funded_wallet)
        self.node.started_monotonic = time.monotonic()
        server = self._server
        self._thread = threading.Thread(
            target=lambda: server.serve_forever(poll_interval=SERVE_POLL_INTERVAL_S),
            name="bitcoind-standin",
            daemon=True,
        )
        self._thread.start()

    def _write_cookie(self) -> str:
        """Write `__cookie__:<64 hex>` (no newline) via a temporary file; return the secret."""
        secret = secrets.token_hex(32)
        self.cookie_path.parent.mkdir(parents=True, exist_ok=True)
        temporary = self.cookie_path.with_name(".cookie.tmp")
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w", encoding="ascii") as handle:
            handle.write(f"{COOKIE_USER}:{secret}")
        os.replace(temporary, self.cookie_path)
        self._cookie_written = True
        return secret

    def request_stop(self) -> None:
        """Ask the server to stop, as the `stop` RPC does; safe from a signal handler."""
        self.node.stop_requested.set()
        if self._server is not None:
            _shutdown_soon(self._server)

    def wait(self) -> None:
        """Block until the server stops (the `stop` RPC or `stop()`)."""
        if self._thread is not None:
            self._thread.join()

    def stop(self) -> None:
        """Stop serving, persist the snapshot and delete the cookie this process wrote."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=REQUEST_TIMEOUT_S)
            self._thread = None
        with self.node.lock:
            self.node.persist()
        if self._cookie_written:
            with contextlib.suppress(FileNotFoundError):
                self.cookie_path.unlink()
            self._cookie_written = False


@contextlib.contextmanager
def running_bitcoind(
    datadir: Path | str, options: StandInOptions | None = None, **overrides: Any
) -> Iterator[tuple[str, Path]]:
    """Run a stand-in on a free local port for the duration of a `with` block.

    Yields `(url, cookie_path)`: `url` is `http://127.0.0.1:<port>` without credentials,
    `cookie_path` is `<datadir>/regtest/.cookie` (absent when rpc_password is set).
    Keyword overrides are StandInOptions fields; the port defaults to 0 (any free port).

    Raises:
        OSError: the server cannot bind or write its cookie.
    """
    base = options or StandInOptions(port=0)
    if overrides:
        base = StandInOptions(**{**_options_dict(base), **overrides})
    standin = BitcoindStandIn(Path(datadir), base)
    standin.start()
    try:
        yield standin.url, standin.cookie_path
    finally:
        standin.stop()


def _options_dict(options: StandInOptions) -> dict[str, Any]:
    """Return the fields of options as a dict."""
    return {name: getattr(options, name) for name in StandInOptions.__dataclass_fields__}
