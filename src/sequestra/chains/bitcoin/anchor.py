"""Anchor a checkpoint on Bitcoin: a transaction with one OP_RETURN output carrying the payload.

The node's wallet builds the transaction through Bitcoin Core's JSON-RPC, spoken by
python-bitcoinlib's `RawProxy`: createrawtransaction with one wallet output (listunspent)
as input and a single `{"data": hex}` output, fundrawtransaction (more inputs if needed,
change and fee from the wallet), signrawtransactionwithwallet and sendrawtransaction.
`anchor_bitcoin` then waits, bounded, until the transaction's block has the configured
confirmations (found by scanning the blocks mined since the send, so no
-txindex is needed), reads the mined transaction back and checks its txid and payload.
`fetch_anchor_bitcoin` returns a transaction's raw bytes for offline checks
(`sequestra.audit.anchor.check_bitcoin_anchor`).

Before building anything it checks the two node settings an anchor needs, and refuses with
BitcoinNodeSettingError (a dependency failure, naming the setting) when one is missing:

1. -datacarriersize: the OP_RETURN output script (about 100 bytes for the anchor payload)
   must fit what the node relays. v30 reports its limit in getmempoolinfo's
   `maxdatacarriersize` (default 100,000 bytes); older nodes do not report it, so their
   version's default is assumed (83 bytes from v0.12 to v29) unless the caller knows better.
2. A fee: estimatesmartfee for FEE_CONFIRMATION_TARGET_BLOCKS, else the wallet's -paytxfee,
   else its -fallbackfee. No RPC shows the fallback fee, so a node with neither estimate nor
   -paytxfee is tried, and fundrawtransaction's -4 "Fee estimation failed. Fallbackfee is
   disabled" becomes the same refusal, before anything is signed or sent.

Credentials come from the URL (`http://user:password@host:port`) or from Bitcoin Core's
cookie file; every call has a timeout and no message quotes them.
"""

from __future__ import annotations

import http.client
import time
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

from bitcoin.rpc import JSONRPCError, RawProxy  # type: ignore[import-untyped]

from sequestra.audit.anchor import (
    AnchorCheckError,
    BitcoinTransaction,
    bitcoin_anchor_data,
    decode_bitcoin_transaction,
)
from sequestra.errors import DependencyUnavailable, SequestraError
from sequestra.ledger.anchor_payload import ANCHOR_PAYLOAD_BYTES_MAX
from sequestra.ledger.anchors import AnchorReceipt

CHAIN = "bitcoin"
REQUEST_TIMEOUT_S = 30.0
POLL_INTERVAL_S = 0.5
CONFIRMATIONS_MAX = 1000
TIMEOUT_S_MAX = 3600.0
FEE_SAT_MAX = 100_000  # refuse to pay more than 0.001 BTC for an anchor
COOKIE_FILE_BYTES_MAX = 1024
BLOCKS_SCANNED_MAX = 10_000  # blocks mined while waiting, beyond which we give up
SATS_PER_BTC = 100_000_000
COIN_MIN_BTC = "0.0001"  # the smallest wallet output worth naming as the anchor's input
COINS_LISTED_MAX = 100
FEE_CONFIRMATION_TARGET_BLOCKS = 6  # Bitcoin Core's -txconfirmtarget default, passed explicitly
DATACARRIER_REPORTED_VERSION_MIN = 300000  # v30: getmempoolinfo reports maxdatacarriersize
DATACARRIER_BYTES_DEFAULT_V30 = 100_000
DATACARRIER_BYTES_DEFAULT_BEFORE_V30 = 83  # v0.12 to v29
OP_PUSHDATA1 = 0x4C
RPC_WALLET_ERROR = -4
RPC_VERIFY_REJECTED = -26
DATACARRIER_REJECTIONS = ("datacarrier", "scriptpubkey")  # reject reasons: v30, v25-v29


class BitcoinAnchorError(SequestraError):
    """Anchoring on Bitcoin failed; the message says what was expected and what came."""


class BitcoinNodeUnreachableError(BitcoinAnchorError, DependencyUnavailable):
    """The node did not answer: connection refused, timeout, HTTP error, bad credentials."""


class BitcoinRpcError(BitcoinAnchorError, DependencyUnavailable):
    """The node answered a call with a JSON-RPC error; `code` is Bitcoin Core's code."""

    def __init__(self, message: str, method: str, code: int, reason: str = "") -> None:
        super().__init__(message)
        self.method = method
        self.code = code
        self.reason = reason  # the node's own message


class BitcoinNodeSettingError(BitcoinAnchorError, DependencyUnavailable):
    """The node is configured so that it cannot take the anchor; `setting` names the node
    option to change (`-datacarriersize`, `-fallbackfee`). Nothing was sent."""

    def __init__(self, message: str, setting: str) -> None:
        super().__init__(message)
        self.setting = setting


class BitcoinAnchorUnconfirmedError(BitcoinAnchorError, DependencyUnavailable):
    """The transaction was (or may have been) sent but is not confirmed; see `txid`.

    Look the txid up before anchoring again: the transaction may still confirm.
    """

    def __init__(self, message: str, txid: str) -> None:
        super().__init__(message)
        self.txid = txid

    @property
    def tx_hash(self) -> str:
        """The txid, under the name the Ethereum adapter's errors use."""
        return self.txid


class BitcoinAnchorTimeoutError(BitcoinAnchorUnconfirmedError):
    """The transaction was sent but not confirmed within the timeout."""


def anchor_bitcoin(
    rpc_url: str,
    wallet: str | None,
    payload: bytes,
    confirmations: int,
    timeout_s: float,
    *,
    cookie_file: Path | None = None,
    fee_sat_max: int = FEE_SAT_MAX,
    poll_interval_s: float = POLL_INTERVAL_S,
    datacarrier_bytes_max: int | None = None,
) -> AnchorReceipt:
    """Send `payload` in an OP_RETURN output funded by `wallet` and wait for confirmations.

    `rpc_url` is the node's `http://` URL, with credentials or with `cookie_file`; `wallet`
    names the wallet (None: the node's only loaded wallet). `confirmations` counts the
    transaction's own block (1 = mined). Returns AnchorReceipt(chain "bitcoin", txid, block
    height, block hash, payload). Raises BitcoinAnchorError for bad arguments, a fee above
    `fee_sat_max` or a transaction that is not what was asked, BitcoinRpcError when the node
    refuses a call, BitcoinNodeUnreachableError when it does not answer before the send,
    BitcoinAnchorTimeoutError when the transaction is not confirmed in `timeout_s`, and
    BitcoinAnchorUnconfirmedError when the node stops answering after the send (both carry
    `txid`). BitcoinNodeSettingError, before anything is sent, when the OP_RETURN output is
    larger than the node relays or the node has no fee to use; `datacarrier_bytes_max` is
    the node's -datacarriersize when it is older than v30 (which do not report it) and set
    above its version's default of 83.
    """
    _check_arguments(payload, confirmations, timeout_s, poll_interval_s)
    if datacarrier_bytes_max is not None and datacarrier_bytes_max < 0:
        raise BitcoinAnchorError(
            f"datacarrier_bytes_max: expected >= 0, got {datacarrier_bytes_max}"
        )
    deadline = time.monotonic() + timeout_s
    node = _Node(rpc_url, wallet, cookie_file, min(REQUEST_TIMEOUT_S, timeout_s))
    _check_datacarrier(node, payload, datacarrier_bytes_max)
    fee_source = _fee_source(node)
    coin = _pick_coin(node)
    unsigned = node.call("createrawtransaction", [coin], [{"data": payload.hex()}])
    funded = _fund(node, _hex_text(unsigned), fee_source)
    fee_sat = _fee_sat(funded)
    if fee_sat > fee_sat_max:
        raise BitcoinAnchorError(
            f"fee: expected at most {fee_sat_max} sat, the wallet asks {fee_sat}"
        )
    signed = node.call("signrawtransactionwithwallet", _text(funded, "hex"))
    if not isinstance(signed, dict) or signed.get("complete") is not True:
        errors = signed.get("errors") if isinstance(signed, dict) else None
        raise BitcoinAnchorError(f"sign: expected a complete signature, got errors {errors!r}")
    raw_hex = _text(signed, "hex")
    transaction = _anchor_transaction(bytes.fromhex(raw_hex), payload)
    txid = transaction.txid
    start_height = int(node.call("getblockcount"))
    try:
        sent = node.call("sendrawtransaction", raw_hex)
    except BitcoinNodeUnreachableError as error:  # the node may have taken the transaction
        raise BitcoinAnchorUnconfirmedError(
            f"transaction {txid}: sent, but the node stopped answering: {error}", txid
        ) from error
    except BitcoinRpcError as error:
        if error.code == RPC_VERIFY_REJECTED and error.reason in DATACARRIER_REJECTIONS:
            raise _datacarrier_refused(node, len(_op_return_script(payload))) from error
        raise
    if sent != txid:
        raise BitcoinAnchorError(f"send: expected the node to return {txid}, got {sent!r}")
    try:
        height, block_hash = _await_confirmations(
            node, txid, start_height, confirmations, deadline, timeout_s, poll_interval_s
        )
        mined = bytes.fromhex(_hex_text(node.call("getrawtransaction", txid, False, block_hash)))
    except BitcoinNodeUnreachableError as error:
        raise BitcoinAnchorUnconfirmedError(
            f"transaction {txid}: expected a confirmation, the node stopped answering: {error}",
            txid,
        ) from error
    if _anchor_transaction(mined, payload).txid != txid:
        raise BitcoinAnchorError(f"transaction {txid}: the mined bytes hash to another txid")
    return AnchorReceipt(CHAIN, txid, height, block_hash, payload)


def fetch_anchor_bitcoin(
    rpc_url: str,
    txid: str,
    *,
    block_hash: str | None = None,
    cookie_file: Path | None = None,
    timeout_s: float = REQUEST_TIMEOUT_S,
) -> bytes:
    """Return the raw bytes of transaction `txid` (in `block_hash`, the mempool or -txindex).

    Without -txindex a node finds a mined transaction only with its `block_hash` (recorded
    in the anchor). Raises BitcoinAnchorError for a malformed txid or bytes that do not hash
    to it, BitcoinRpcError when the node does not know the transaction (code -5),
    BitcoinNodeUnreachableError when it does not answer.
    """
    txid = txid.strip().lower()
    if len(txid) != 64 or not _is_hex(txid):
        raise BitcoinAnchorError(f"txid: expected 64 hex digits, got {txid!r}")
    if not 0 < timeout_s <= TIMEOUT_S_MAX:
        raise BitcoinAnchorError(f"timeout_s: expected (0, {TIMEOUT_S_MAX}], got {timeout_s}")
    node = _Node(rpc_url, None, cookie_file, timeout_s)
    params: list[Any] = [txid, False] + ([block_hash] if block_hash is not None else [])
    raw = bytes.fromhex(_hex_text(node.call("getrawtransaction", *params)))
    try:
        decoded = decode_bitcoin_transaction(raw)
    except AnchorCheckError as error:
        raise BitcoinAnchorError(f"transaction {txid}: the node's bytes: {error}") from error
    if decoded.txid != txid:
        raise BitcoinAnchorError(f"transaction {txid}: the node's bytes hash to {decoded.txid}")
    return raw


def block_confirmations(
    rpc_url: str,
    block_hash: str,
    *,
    cookie_file: Path | None = None,
    timeout_s: float = REQUEST_TIMEOUT_S,
) -> int:
    """How many confirmations block `block_hash` has in the node's best chain (0 when the
    block was reorganised away: Bitcoin Core reports -1 for a block off the best chain).
    Raises BitcoinAnchorError for a malformed hash, BitcoinRpcError for an unknown block."""
    block_hash = block_hash.strip().lower()
    if len(block_hash) != 64 or not _is_hex(block_hash):
        raise BitcoinAnchorError(f"block hash: expected 64 hex digits, got {block_hash!r}")
    node = _Node(rpc_url, None, cookie_file, timeout_s)
    header = node.call("getblockheader", block_hash)
    confirmations = header.get("confirmations") if isinstance(header, dict) else None
    if not isinstance(confirmations, int):
        raise BitcoinAnchorError(f"block {block_hash}: the node's header has no confirmations")
    return max(0, confirmations)


# --- the node --------------------------------------------------------------------------------


class _Node:
    """A RawProxy on the wallet's endpoint whose failures are BitcoinAnchorError subclasses."""

    def __init__(
        self, rpc_url: str, wallet: str | None, cookie_file: Path | None, timeout_s: float
    ) -> None:
        parts = urlsplit(rpc_url)
        if parts.scheme != "http" or not parts.hostname:
            raise BitcoinAnchorError("bitcoin RPC URL: expected http://host:port")
        try:
            port = parts.port
        except ValueError:
            raise BitcoinAnchorError("bitcoin RPC URL: the port is not a number") from None
        host = parts.hostname if ":" not in parts.hostname else f"[{parts.hostname}]"
        where = f"{host}:{port}" if port is not None else host
        if cookie_file is not None:
            credentials = _read_cookie(cookie_file)
        elif parts.username is not None and parts.password is not None:
            credentials = f"{parts.username}:{parts.password}"
        else:
            raise BitcoinAnchorError(
                f"bitcoin node {where}: expected credentials in the URL or a cookie file"
            )
        path = "/" if wallet is None else "/wallet/" + quote(wallet, safe="")
        self.where = where + path
        service_url = urlunsplit(("http", f"{credentials}@{where}", path, "", ""))
        self._proxy = RawProxy(service_url=service_url, timeout=timeout_s)

    def call(self, method: str, *params: Any) -> Any:
        """Call `method`; raise BitcoinRpcError or BitcoinNodeUnreachableError on failure."""
        try:
            return getattr(self._proxy, method)(*params)
        except JSONRPCError as error:
            code = int(error.error.get("code", 0)) if isinstance(error.error, dict) else 0
            message = str(error.error.get("message", "")) if isinstance(error.error, dict) else ""
            if code in (-342, -343, -344):  # python-bitcoinlib: no JSON-RPC answer at all
                raise BitcoinNodeUnreachableError(
                    f"bitcoin node {self.where}: expected a JSON-RPC answer to {method},"
                    f" got {message[:80]}"
                ) from None
            raise BitcoinRpcError(
                f"bitcoin node {self.where}: {method} refused (code {code}): {message[:500]}",
                method,
                code,
                message[:500],
            ) from None
        except (OSError, http.client.HTTPException) as error:
            self._proxy.close()  # the next call opens a fresh connection
            raise BitcoinNodeUnreachableError(
                f"bitcoin node {self.where}: expected a JSON-RPC answer to {method},"
                f" got {type(error).__name__}"
            ) from None


def _read_cookie(path: Path) -> str:
    """Return `user:password` from Bitcoin Core's cookie file; never quote its content."""
    try:
        with path.open("rb") as handle:
            data = handle.read(COOKIE_FILE_BYTES_MAX + 1)
    except OSError as error:
        raise BitcoinAnchorError(f"bitcoin cookie file {path}: {error.strerror}") from None
    text = data.decode("ascii", errors="replace").strip()
    user, separator, password = text.partition(":")
    if len(data) > COOKIE_FILE_BYTES_MAX or not separator or not user or not password:
        raise BitcoinAnchorError(f"bitcoin cookie file {path}: expected user:password")
    if any(char in text for char in "@/?#\\ \n"):
        raise BitcoinAnchorError(f"bitcoin cookie file {path}: unexpected characters")
    return text


def _pick_coin(node: _Node) -> dict[str, Any]:
    """Return the largest confirmed, safe, spendable wallet output as {"txid", "vout"}.

    The anchor transaction names one input itself, and fundrawtransaction adds more when
    needed and the change: an input-less transaction's serialisation (0x00 input count, then
    0x01 output count) reads like a segwit marker and flag, which some decoders then refuse.
    """
    options = {"minimumAmount": COIN_MIN_BTC, "maximumCount": COINS_LISTED_MAX}
    unspent = node.call("listunspent", 1, 9_999_999, [], False, options)
    best: tuple[Decimal, str, int] | None = None
    for item in unspent if isinstance(unspent, list) else []:
        if not isinstance(item, dict) or item.get("spendable") is False:
            continue
        try:
            amount, txid, vout = Decimal(str(item["amount"])), str(item["txid"]), int(item["vout"])
        except (KeyError, TypeError, ValueError, InvalidOperation):
            continue
        if best is None or amount > best[0]:
            best = (amount, txid, vout)
    if best is None:
        raise BitcoinAnchorError(
            f"wallet {node.where}: expected a confirmed spendable output of at least"
            f" {COIN_MIN_BTC} BTC, got none"
        )
    return {"txid": best[1], "vout": best[2]}


# --- the node's settings --------------------------------------------------------------------


def _check_datacarrier(node: _Node, payload: bytes, bytes_max_declared: int | None) -> None:
    """Refuse, naming -datacarriersize, an OP_RETURN script larger than the node relays.

    The limit is getmempoolinfo's `maxdatacarriersize` (v30 on), else `bytes_max_declared`,
    else the default of the node's version.
    """
    version = _node_version(node)
    mempool = node.call("getmempoolinfo")
    reported = mempool.get("maxdatacarriersize") if isinstance(mempool, dict) else None
    if isinstance(reported, int) and not isinstance(reported, bool) and reported >= 0:
        bytes_max, source = reported, "its getmempoolinfo maxdatacarriersize"
    elif bytes_max_declared is not None:
        bytes_max, source = bytes_max_declared, "as declared for it"
    elif version >= DATACARRIER_REPORTED_VERSION_MIN:
        bytes_max, source = DATACARRIER_BYTES_DEFAULT_V30, "the v30 default"
    else:
        bytes_max = DATACARRIER_BYTES_DEFAULT_BEFORE_V30
        source = f"the default of v{_version_text(version)}, which does not report it"
    script_bytes = len(_op_return_script(payload))
    if script_bytes > bytes_max:
        raise BitcoinNodeSettingError(
            f"bitcoin node {node.where}: relays at most {bytes_max} bytes of OP_RETURN script"
            f" ({source}), the anchor needs {script_bytes}: start the node with"
            f" -datacarriersize={max(script_bytes, DATACARRIER_BYTES_DEFAULT_BEFORE_V30)}"
            " or more (v30's default is 100000); nothing was sent",
            "-datacarriersize",
        )


def _datacarrier_refused(node: _Node, script_bytes: int) -> BitcoinNodeSettingError:
    """The error for a node that refused the OP_RETURN output on sendrawtransaction."""
    return BitcoinNodeSettingError(
        f"bitcoin node {node.where}: refused the anchor's {script_bytes}-byte OP_RETURN script"
        f" as non-standard: start the node with -datacarriersize={script_bytes} or more"
        " (and without -datacarrier=0); the node refused it, so nothing was relayed",
        "-datacarriersize",
    )


def _fee_source(node: _Node) -> str | None:
    """Name what the wallet will take its fee rate from: the node's estimate for
    FEE_CONFIRMATION_TARGET_BLOCKS or the wallet's -paytxfee; None when neither, so only the
    fallback fee is left, which no RPC shows (its absence is fundrawtransaction's -4)."""
    estimate = node.call("estimatesmartfee", FEE_CONFIRMATION_TARGET_BLOCKS)
    if isinstance(estimate, dict) and _positive_amount(estimate.get("feerate")):
        return f"estimatesmartfee: {estimate['feerate']} BTC/kvB"
    wallet = node.call("getwalletinfo")
    if isinstance(wallet, dict) and _positive_amount(wallet.get("paytxfee")):
        return f"-paytxfee: {wallet['paytxfee']} BTC/kvB"
    return None


def _fund(node: _Node, unsigned_hex: str, fee_source: str | None) -> Any:
    """fundrawtransaction at the anchoring's confirmation target; a -4 for want of a fee
    rate becomes BitcoinNodeSettingError naming -fallbackfee. Nothing is locked or sent."""
    options = {"conf_target": FEE_CONFIRMATION_TARGET_BLOCKS}
    try:
        return node.call("fundrawtransaction", unsigned_hex, options, False)
    except BitcoinRpcError as error:
        if error.code != RPC_WALLET_ERROR or "fallbackfee" not in error.reason.lower():
            raise
        found = "" if fee_source is None else f" (though {fee_source})"
        raise BitcoinNodeSettingError(
            f"bitcoin node {node.where}: no fee estimate for confirmation within"
            f" {FEE_CONFIRMATION_TARGET_BLOCKS} blocks, no -paytxfee and no fallback fee{found};"
            f" the node says: {error.reason[:200]} Set -fallbackfee in the node's configuration"
            " (for example -fallbackfee=0.0002, in BTC/kvB) or wait until it has seen enough"
            " blocks to estimate fees; nothing was sent",
            "-fallbackfee",
        ) from error


def _node_version(node: _Node) -> int:
    info = node.call("getnetworkinfo")
    version = info.get("version") if isinstance(info, dict) else None
    if not isinstance(version, int) or isinstance(version, bool) or version <= 0:
        raise BitcoinAnchorError(f"bitcoin node {node.where}: getnetworkinfo has no version")
    return version


def _version_text(version: int) -> str:
    """290100 -> "29.1" (Core's CLIENT_VERSION as major * 10000 + minor * 100 + build)."""
    return f"{version // 10_000}.{version // 100 % 100}"


def _positive_amount(value: Any) -> bool:
    try:
        return value is not None and Decimal(str(value)) > 0
    except InvalidOperation:
        return False


def _op_return_script(payload: bytes) -> bytes:
    """`OP_RETURN <payload>` as Bitcoin Core's createrawtransaction writes it (one push)."""
    size = len(payload)
    if size < OP_PUSHDATA1:
        push = bytes([size])
    elif size <= 0xFF:
        push = bytes([OP_PUSHDATA1, size])
    else:
        push = b"\x4d" + size.to_bytes(2, "little")  # OP_PUSHDATA2; payloads stay below 64 KiB
    return b"\x6a" + push + payload


# --- waiting -----------------------------------------------------------------------------------


def _await_confirmations(
    node: _Node,
    txid: str,
    start_height: int,
    confirmations: int,
    deadline: float,
    timeout_s: float,
    poll_interval_s: float,
) -> tuple[int, str]:
    """Scan blocks mined after `start_height` for `txid`; return its (height, block hash).

    Rescans when a block it found or scanned is reorganised away. Raises
    BitcoinAnchorTimeoutError at the deadline.
    """
    next_height = start_height + 1
    last_scanned: tuple[int, str] | None = None
    found: tuple[int, str] | None = None
    while True:
        tip = int(node.call("getblockcount"))
        if (
            last_scanned is not None
            and node.call("getblockhash", last_scanned[0]) != (last_scanned[1])
        ):
            next_height, last_scanned, found = start_height + 1, None, None  # a reorg: rescan
        if found is None:
            if tip - start_height > BLOCKS_SCANNED_MAX:
                raise BitcoinAnchorTimeoutError(
                    f"transaction {txid}: not found in {BLOCKS_SCANNED_MAX} blocks", txid
                )
            while found is None and next_height <= tip and time.monotonic() < deadline:
                block_hash = str(node.call("getblockhash", next_height))
                block = node.call("getblock", block_hash, 1)
                if isinstance(block, dict) and txid in block.get("tx", ()):
                    found = (next_height, block_hash)
                last_scanned = (next_height, block_hash)
                next_height += 1
        if found is not None and tip - found[0] + 1 >= confirmations:
            return found
        if time.monotonic() + poll_interval_s > deadline:
            got = 0 if found is None else tip - found[0] + 1
            raise BitcoinAnchorTimeoutError(
                f"transaction {txid}: expected {confirmations} confirmation(s) within"
                f" {timeout_s} s, got {got}",
                txid,
            )
        time.sleep(poll_interval_s)


# --- checks ------------------------------------------------------------------------------------


def _check_arguments(
    payload: bytes, confirmations: int, timeout_s: float, poll_interval_s: float
) -> None:
    if not payload or len(payload) > ANCHOR_PAYLOAD_BYTES_MAX:
        raise BitcoinAnchorError(f"payload: expected 1..{ANCHOR_PAYLOAD_BYTES_MAX} bytes")
    if not 1 <= confirmations <= CONFIRMATIONS_MAX:
        raise BitcoinAnchorError(
            f"confirmations: expected 1..{CONFIRMATIONS_MAX}, got {confirmations}"
        )
    if not 0 < timeout_s <= TIMEOUT_S_MAX:
        raise BitcoinAnchorError(f"timeout_s: expected (0, {TIMEOUT_S_MAX}], got {timeout_s}")
    if not 0 < poll_interval_s <= timeout_s:
        raise BitcoinAnchorError(f"poll_interval_s: expected (0, timeout_s], got {poll_interval_s}")


def _anchor_transaction(raw: bytes, payload: bytes) -> BitcoinTransaction:
    """Decode `raw` and check that its one OP_RETURN output carries `payload`."""
    try:
        transaction = decode_bitcoin_transaction(raw)
        data = bitcoin_anchor_data(transaction)
    except AnchorCheckError as error:
        raise BitcoinAnchorError(f"transaction: {error}") from error
    if data != payload:
        raise BitcoinAnchorError(f"transaction {transaction.txid}: expected the anchor payload")
    return transaction


def _fee_sat(funded: Any) -> int:
    try:
        fee = Decimal(str(funded["fee"]))
        return int(fee * SATS_PER_BTC)
    except (KeyError, TypeError, InvalidOperation) as error:
        raise BitcoinAnchorError("fundrawtransaction: expected a fee in the answer") from error


def _text(answer: Any, key: str) -> str:
    value = answer.get(key) if isinstance(answer, dict) else None
    return _hex_text(value)


def _hex_text(value: Any) -> str:
    if not isinstance(value, str) or len(value) % 2 or not _is_hex(value):
        raise BitcoinAnchorError("node: expected a hex string in the answer")
    return value


def _is_hex(text: str) -> bool:
    return all(char in "0123456789abcdefABCDEF" for char in text)
