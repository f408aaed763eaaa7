"""Esplora REST stand-in: the sandbox's regtest chain behind Esplora's HTTP API.

It serves the same `Node` (chain, mempool, lock) as the JSON-RPC stand-in, in the same
process, so a block mined or a transaction sent over RPC shows here at once. Shapes follow
Esplora's API (Blockstream electrs; mempool.space serves the same): amounts are integer
satoshis, scalars are `text/plain`, objects and arrays `application/json`, errors are
plain-text bodies (400 bad input, 404 unknown block or route, 503 while the node warms up).
A `status` is `{"confirmed": true, "block_height", "block_hash", "block_time"}` or just
`{"confirmed": false}`.

Served under `/api` (as the public services are): `blocks/tip/height`, `blocks/tip/hash`,
`block-height/:height`, `address/:address`, `address/:address/utxo` (refused above 500
outputs, as electrs's default `--utxos-limit`), `address/:address/txs` (up to 50 mempool
transactions, then the newest 25 confirmed), `address/:address/txs/chain[/:last_seen_txid]`
(25 confirmed per page, newest first) and `address/:address/txs/mempool`.

Confirmed history is indexed per output script once per tip; the mempool is read per
request. Every request reads the chain under the node's lock.
"""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Final
from urllib.parse import unquote, urlsplit

from sequestra_sandbox.bitcoin.chain import (
    _OPCODE_NAMES,
    AddressDecodeError,
    BlockRecord,
    Coin,
    RegtestChain,
    ScriptParseError,
    classify_script,
    decode_address,
    hash_to_hex,
    parse_script,
    transaction_sizes,
    witness_stack,
)
from sequestra_sandbox.bitcoin.rpc import BitcoindStandIn, Node, StandInOptions

ESPLORA_PATH_PREFIX: Final = "/api"
CHAIN_PAGE_TXS: Final = 25
MEMPOOL_TXS_MAX: Final = 50
UTXOS_LIMIT: Final = 500  # electrs's default --utxos-limit
PATH_LENGTH_MAX: Final = 2048
REQUEST_TIMEOUT_S: Final = 30.0
WORK_QUEUE_DEPTH: Final = 64
SERVE_POLL_INTERVAL_S: Final = 0.05  # how soon stop() is noticed
HASH_HEX_LENGTH: Final = 64
COINBASE_PREVOUT_INDEX: Final = 0xFFFFFFFF
_OP_PUSHDATA1: Final = 0x4C
_OP_PUSHNUM_NEG1: Final = 0x4F
_OP_1: Final = 0x51
_OP_16: Final = 0x60

# Bitcoin Core's output type names (classify_script) as Esplora writes them.
_SCRIPT_TYPES: Final = {
    "pubkey": "p2pk",
    "pubkeyhash": "p2pkh",
    "scripthash": "p2sh",
    "witness_v0_keyhash": "v0_p2wpkh",
    "witness_v0_scripthash": "v0_p2wsh",
    "witness_v1_taproot": "v1_p2tr",
    "nulldata": "op_return",
}

Outpoint = tuple[bytes, int]


class EsploraError(Exception):
    """A request Esplora refuses: the HTTP status and the plain-text body."""

    def __init__(self, status: int, text: str) -> None:
        super().__init__(text)
        self.status = status
        self.text = text


@dataclass(frozen=True, slots=True)
class Answer:
    """One HTTP answer: status, content type and body."""

    status: int
    content_type: str
    body: bytes


# --- the index ---------------------------------------------------------------------------------


class _ScriptIndex:
    """Confirmed transactions and unspent outputs of the active chain, by output script."""

    def __init__(self, chain: RegtestChain) -> None:
        self.tip_hash = chain.tip.block_hash
        self.transactions: dict[bytes, list[tuple[int, int]]] = {}  # (height, position)
        self.coins: dict[bytes, list[tuple[Outpoint, Coin]]] = {}
        for record in chain.active_records():
            self._add_block(record)
        for outpoint, coin in chain.utxo_items():
            self.coins.setdefault(coin.script_pubkey, []).append((outpoint, coin))

    def _add_block(self, record: BlockRecord) -> None:
        """Note every script a block's transactions paid or spent."""
        undo = record.undo or ()
        for position, tx in enumerate(record.block.vtx):
            scripts = {bytes(output.scriptPubKey) for output in tx.vout}
            if position and position - 1 < len(undo):
                scripts.update(coin.script_pubkey for coin in undo[position - 1])
            for script in scripts:
                self.transactions.setdefault(script, []).append((record.height, position))


# --- the answers -------------------------------------------------------------------------------


class EsploraApi:
    """Answers Esplora GET routes from a node's chain; one index per tip."""

    def __init__(self, node: Node, path_prefix: str = ESPLORA_PATH_PREFIX) -> None:
        self.node = node
        self.path_prefix = path_prefix.rstrip("/")
        self._index: _ScriptIndex | None = None

    def answer(self, method: str, target: str) -> Answer:
        """Answer one request (method and request target), errors included."""
        try:
            if method != "GET":
                raise EsploraError(404, f'endpoint does not exist "{target}"')
            return self._route(target)
        except EsploraError as error:
            return Answer(error.status, "text/plain", error.text.encode())

    def _route(self, target: str) -> Answer:
        """Find the route of a path and answer it under the node's lock."""
        path = unquote(urlsplit(target).path)
        if len(path) > PATH_LENGTH_MAX or not path.startswith(self.path_prefix + "/"):
            raise EsploraError(404, f'endpoint does not exist "{path[:PATH_LENGTH_MAX]}"')
        parts = path[len(self.path_prefix) + 1 :].split("/")
        warming = self.node.warmup_message()
        if warming is not None:
            raise EsploraError(503, warming)
        with self.node.lock:
            if parts[:1] == ["address"] and len(parts) >= 2:
                return self._address_route(parts[1], parts[2:], path)
            return self._block_route(parts, path)

    def _block_route(self, parts: list[str], path: str) -> Answer:
        """Answer the tip and block-height routes."""
        chain = self.node.chain
        if parts == ["blocks", "tip", "height"]:
            return _text(str(chain.height))
        if parts == ["blocks", "tip", "hash"]:
            return _text(hash_to_hex(chain.tip.block_hash))
        if len(parts) == 2 and parts[0] == "block-height":
            height = _number(parts[1])
            if height > chain.height:
                raise EsploraError(404, "Block not found")
            return _text(hash_to_hex(chain.record_at(height).block_hash))
        raise EsploraError(404, f'endpoint does not exist "{path}"')

    def _address_route(self, address: str, rest: list[str], path: str) -> Answer:
        """Answer the address routes."""
        try:
            script = decode_address(address)
        except AddressDecodeError as error:
            raise EsploraError(400, str(error)) from None
        if not rest:
            return _json(self._address_stats(address, script))
        if rest == ["utxo"]:
            return _json(self._unspent(script))
        if rest == ["txs"]:
            mempool = self._mempool_transactions(script)[:MEMPOOL_TXS_MAX]
            return _json(mempool + self._chain_transactions(script, None))
        if rest == ["txs", "mempool"]:
            return _json(self._mempool_transactions(script)[:MEMPOOL_TXS_MAX])
        if rest[:2] == ["txs", "chain"] and len(rest) <= 3:
            last_seen = _txid(rest[2]) if len(rest) == 3 else None
            return _json(self._chain_transactions(script, last_seen))
        raise EsploraError(404, f'endpoint does not exist "{path}"')

    # -- address data --

    def _current_index(self) -> _ScriptIndex:
        """Return the index of the current tip, rebuilding it when the tip moved."""
        chain = self.node.chain
        if self._index is None or self._index.tip_hash != chain.tip.block_hash:
            self._index = _ScriptIndex(chain)
        return self._index

    def _unspent(self, script: bytes) -> list[dict[str, Any]]:
        """List a script's unspent outputs: confirmed minus mempool spends, plus mempool."""
        chain = self.node.chain
        found: list[dict[str, Any]] = []
        for outpoint, coin in self._current_index().coins.get(script, []):
            if chain.mempool_spender(outpoint) is None:
                status = _block_status(chain.record_at(coin.height))
                found.append(_utxo_json(outpoint, coin.value_sats, status))
        for entry in chain.mempool_entries():
            for index, output in enumerate(entry.tx.vout):
                outpoint = (entry.txid, index)
                if bytes(output.scriptPubKey) == script and chain.mempool_spender(outpoint) is None:
                    found.append(_utxo_json(outpoint, output.nValue, {"confirmed": False}))
        if len(found) > UTXOS_LIMIT:
            raise EsploraError(
                400,
                f"Too many unspent transaction outputs (>{UTXOS_LIMIT}). "
                "Contact support to raise limits.",
            )
        return found

    def _chain_transactions(self, script: bytes, last_seen: bytes | None) -> list[dict[str, Any]]:
        """Return one page of confirmed transactions, newest first, after `last_seen`."""
        chain = self.node.chain
        places = list(reversed(self._current_index().transactions.get(script, [])))
        start = 0
        if last_seen is not None:
            txids = [bytes(chain.record_at(h).block.vtx[p].GetTxid()) for h, p in places]
            if last_seen not in txids:
                return []
            start = txids.index(last_seen) + 1
        page: list[dict[str, Any]] = []
        for height, position in places[start : start + CHAIN_PAGE_TXS]:
            record = chain.record_at(height)
            tx = record.block.vtx[position]
            undo = record.undo or ()
            spent = list(undo[position - 1]) if position and position - 1 < len(undo) else []
            page.append(_tx_json(tx, spent, _block_status(record)))
        return page

    def _mempool_transactions(self, script: bytes) -> list[dict[str, Any]]:
        """Return the mempool transactions paying or spending a script, newest first."""
        chain = self.node.chain
        found: list[dict[str, Any]] = []
        for entry in reversed(chain.mempool_entries()):
            spent = [
                chain.available_coin((bytes(txin.prevout.hash), txin.prevout.n))
                for txin in entry.tx.vin
            ]
            coins = [coin for coin in spent if coin is not None]
            paid = any(bytes(output.scriptPubKey) == script for output in entry.tx.vout)
            if paid or any(coin.script_pubkey == script for coin in coins):
                found.append(_tx_json(entry.tx, coins, {"confirmed": False}))
        return found

    def _address_stats(self, address: str, script: bytes) -> dict[str, Any]:
        """Return `{address, chain_stats, mempool_stats}` as funded/spent sums and counts."""
        chain = self.node.chain
        funded_count = funded_sum = spent_count = spent_sum = 0
        places = self._current_index().transactions.get(script, [])
        for height, position in places:
            record = chain.record_at(height)
            undo = record.undo or ()
            for output in record.block.vtx[position].vout:
                if bytes(output.scriptPubKey) == script:
                    funded_count, funded_sum = funded_count + 1, funded_sum + output.nValue
            for coin in undo[position - 1] if position and position - 1 < len(undo) else ():
                if coin.script_pubkey == script:
                    spent_count, spent_sum = spent_count + 1, spent_sum + coin.value_sats
        chain_stats = _stats(funded_count, funded_sum, spent_count, spent_sum, len(places))
        mempool = self._mempool_transactions(script)
        mempool_stats = _mempool_stats(mempool, script.hex())
        return {"address": address, "chain_stats": chain_stats, "mempool_stats": mempool_stats}


def _stats(
    funded_count: int, funded_sum: int, spent_count: int, spent_sum: int, tx_count: int
) -> dict[str, int]:
    """Build a chain_stats / mempool_stats object."""
    return {
        "funded_txo_count": funded_count,
        "funded_txo_sum": funded_sum,
        "spent_txo_count": spent_count,
        "spent_txo_sum": spent_sum,
        "tx_count": tx_count,
    }


def _mempool_stats(transactions: list[dict[str, Any]], script_hex: str) -> dict[str, int]:
    """Sum a script's funded and spent outputs over mempool transactions (Esplora JSON)."""
    funded = [
        o["value"] for t in transactions for o in t["vout"] if o["scriptpubkey"] == script_hex
    ]
    spent = [
        i["prevout"]["value"]
        for t in transactions
        for i in t["vin"]
        if i["prevout"] is not None and i["prevout"]["scriptpubkey"] == script_hex
    ]
    return _stats(len(funded), sum(funded), len(spent), sum(spent), len(transactions))


# --- JSON shapes -------------------------------------------------------------------------------


def _block_status(record: BlockRecord) -> dict[str, Any]:
    """Return a confirmed status object for a block."""
    return {
        "confirmed": True,
        "block_height": record.height,
        "block_hash": hash_to_hex(record.block_hash),
        "block_time": record.block.nTime,
    }


def _utxo_json(outpoint: Outpoint, value_sats: int, status: dict[str, Any]) -> dict[str, Any]:
    """Return one element of `/address/:address/utxo`."""
    return {
        "txid": hash_to_hex(outpoint[0]),
        "vout": outpoint[1],
        "status": status,
        "value": value_sats,
    }


def _output_json(script: bytes, value_sats: int) -> dict[str, Any]:
    """Return an output (`vout[]` or an input's `prevout`)."""
    info = classify_script(script)
    result: dict[str, Any] = {
        "scriptpubkey": script.hex(),
        "scriptpubkey_asm": _asm(script),
        "scriptpubkey_type": "empty" if not script else _SCRIPT_TYPES.get(info.kind, "unknown"),
    }
    if info.address is not None:
        result["scriptpubkey_address"] = info.address
    result["value"] = value_sats
    return result


def _tx_json(tx: Any, spent: list[Coin], status: dict[str, Any]) -> dict[str, Any]:
    """Return a transaction object; `spent` holds the coins its inputs spend, in order."""
    coinbase = bool(tx.is_coinbase())
    inputs: list[dict[str, Any]] = []
    for index, txin in enumerate(tx.vin):
        script_sig = bytes(txin.scriptSig)
        coin = None if coinbase or index >= len(spent) else spent[index]
        entry: dict[str, Any] = {
            "txid": "00" * 32 if coinbase else hash_to_hex(bytes(txin.prevout.hash)),
            "vout": COINBASE_PREVOUT_INDEX if coinbase else txin.prevout.n,
            "prevout": None if coin is None else _output_json(coin.script_pubkey, coin.value_sats),
            "scriptsig": script_sig.hex(),
            "scriptsig_asm": _asm(script_sig),
        }
        stack = witness_stack(tx, index)
        if stack:
            entry["witness"] = [item.hex() for item in stack]
        entry["is_coinbase"] = coinbase
        entry["sequence"] = txin.nSequence
        inputs.append(entry)
    paid = sum(output.nValue for output in tx.vout)
    size, _, weight = transaction_sizes(tx)
    return {
        "txid": hash_to_hex(bytes(tx.GetTxid())),
        "version": tx.nVersion,
        "locktime": tx.nLockTime,
        "vin": inputs,
        "vout": [_output_json(bytes(o.scriptPubKey), o.nValue) for o in tx.vout],
        "size": size,
        "weight": weight,
        "fee": 0 if coinbase else sum(coin.value_sats for coin in spent) - paid,
        "status": status,
    }


def _asm(script: bytes) -> str:
    """Write a script the way Esplora does (OP_0, OP_PUSHBYTES_20 <hex>, OP_PUSHNUM_1)."""
    try:
        ops = parse_script(script)
    except ScriptParseError:
        return "OP_INVALIDOPCODE"
    words: list[str] = []
    for op in ops:
        if op.data is not None:
            if op.opcode == 0:
                words.append("OP_0")
                continue
            name = f"OP_PUSHBYTES_{op.opcode}" if op.opcode < _OP_PUSHDATA1 else None
            words.append(f"{name or _OPCODE_NAMES[op.opcode]} {op.data.hex()}")
        elif op.opcode == _OP_PUSHNUM_NEG1:
            words.append("OP_PUSHNUM_NEG1")
        elif _OP_1 <= op.opcode <= _OP_16:
            words.append(f"OP_PUSHNUM_{op.opcode - _OP_1 + 1}")
        else:
            words.append(_OPCODE_NAMES.get(op.opcode, f"OP_UNKNOWN_{op.opcode}"))
    return " ".join(words)


def _text(value: str) -> Answer:
    """A 200 plain-text answer."""
    return Answer(200, "text/plain", value.encode())


def _json(value: Any) -> Answer:
    """A 200 JSON answer."""
    return Answer(200, "application/json", json.dumps(value, separators=(",", ":")).encode())


def _number(text: str) -> int:
    """Read a block height path segment (decimal digits only)."""
    if not text.isascii() or not text.isdigit() or len(text) > 10:
        raise EsploraError(400, "Invalid number")
    return int(text)


def _txid(text: str) -> bytes:
    """Read a txid path segment (64 hex digits, display order)."""
    if len(text) != HASH_HEX_LENGTH:
        raise EsploraError(400, "Invalid hex string")
    try:
        return bytes.fromhex(text)[::-1]
    except ValueError:
        raise EsploraError(400, "Invalid hex string") from None


# --- the HTTP server ---------------------------------------------------------------------------


class _EsploraServer(ThreadingHTTPServer):
    """The HTTP server holding the API and the work-queue bound."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], api: EsploraApi) -> None:
        super().__init__(address, _EsploraHandler)
        self.api = api
        self.in_flight = threading.BoundedSemaphore(WORK_QUEUE_DEPTH)


class _EsploraHandler(BaseHTTPRequestHandler):
    """One HTTP connection: keep-alive, exact lengths, Esplora's plain-text errors."""

    protocol_version = "HTTP/1.1"
    timeout = REQUEST_TIMEOUT_S
    disable_nagle_algorithm = True  # headers and body are two writes (see rpc._Handler)
    server: _EsploraServer

    def do_GET(self) -> None:
        """Serve a request (any method; only GET routes exist)."""
        if not self.server.in_flight.acquire(blocking=False):
            self._send(Answer(503, "text/plain", b"Work queue depth exceeded"))
            return
        try:
            self._send(self.server.api.answer(self.command, self.path))
        finally:
            self.server.in_flight.release()

    do_POST = do_PUT = do_DELETE = do_HEAD = do_GET

    def log_message(self, format: str, *args: Any) -> None:
        """Stay quiet: tests and demos read stdout."""

    def _send(self, answer: Answer) -> None:
        """Write an answer with an exact Content-Length (keep-alive safe)."""
        self.send_response(answer.status)
        self.send_header("Content-Type", answer.content_type)
        self.send_header("Content-Length", str(len(answer.body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(answer.body)


class EsploraStandIn:
    """A running Esplora server over a node (usually a `BitcoindStandIn`'s)."""

    def __init__(
        self,
        node: Node,
        host: str = "127.0.0.1",
        port: int = 0,
        path_prefix: str = ESPLORA_PATH_PREFIX,
    ) -> None:
        """Prepare (not start) a server answering from `node`."""
        self.api = EsploraApi(node, path_prefix)
        self.host = host
        self.port = port
        self._server: _EsploraServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """Return the base URL, `http://host:port/api`."""
        if self._server is None:
            raise RuntimeError("the Esplora stand-in is not running")
        return f"http://{self.host}:{self._server.server_port}{self.api.path_prefix}"

    def start(self) -> None:
        """Bind and serve in a daemon thread.

        Raises:
            OSError: the port cannot be bound.
        """
        self._server = _EsploraServer((self.host, self.port), self.api)
        server = self._server
        self._thread = threading.Thread(
            target=lambda: server.serve_forever(poll_interval=SERVE_POLL_INTERVAL_S),
            name="esplora-standin",
            daemon=True,
        )
        self._thread.start()

    def stop(self) -> None:
        """Stop serving."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=REQUEST_TIMEOUT_S)
            self._thread = None


@contextlib.contextmanager
def running_esplora(node: Node, host: str = "127.0.0.1", port: int = 0) -> Iterator[str]:
    """Serve Esplora over `node` for the duration of a `with` block; yield its base URL.

    Raises:
        OSError: the server cannot bind.
    """
    server = EsploraStandIn(node, host, port)
    server.start()
    try:
        yield server.url
    finally:
        server.stop()


@dataclass(frozen=True, slots=True)
class BitcoinSandbox:
    """Both stand-ins over one chain: JSON-RPC URL, its cookie, the Esplora base URL."""

    rpc_url: str
    cookie_path: Path
    esplora_url: str
    standin: BitcoindStandIn


@contextlib.contextmanager
def running_bitcoin_sandbox(
    datadir: Path | str, options: StandInOptions | None = None, **overrides: Any
) -> Iterator[BitcoinSandbox]:
    """Run the JSON-RPC stand-in and an Esplora server over the same chain.

    Options and keyword overrides are as for `running_bitcoind` (port 0: any free port).

    Raises:
        OSError: a server cannot bind or the cookie cannot be written.
    """
    base = replace(options or StandInOptions(port=0), **overrides)
    standin = BitcoindStandIn(Path(datadir), base)
    standin.start()
    try:
        with running_esplora(standin.node, base.host) as esplora_url:
            yield BitcoinSandbox(standin.url, standin.cookie_path, esplora_url, standin)
    finally:
        standin.stop()
