"""Read custody balances from Bitcoin Core's JSON-RPC, spoken by python-bitcoinlib's RawProxy.

Two modes (`BitcoinWatchSettings.mode`):

* `scan`: `scantxoutset "start"` with one `addr(<address>)` descriptor per address, all
  addresses in one scan by default (`scan_chunk_addresses` splits them): each scan is one
  pass over the node's whole UTXO set (minutes on mainnet), which holds confirmed outputs
  only: a payment still in the mempool is invisible and an output spent by a mempool
  transaction still counts until that spend confirms. No wallet is needed. Each answer
  names the block it scanned; when chunks saw different blocks, the earlier chunks are
  brought to the last chunk's block through the blocks between (`getblock` verbosity 3),
  so a block arriving mid-reading costs a few calls, not the reading. A scan already
  running on the node (-8, another client's or ours that outlived `scan_timeout_s`) is
  waited for by polling `scantxoutset "status"` every `progress_poll_s`, at most
  `scan_wait_s_max`.
* `wallet`: a watch-only descriptor wallet (`wallet`, Core v25 or later), created blank
  without private keys when the node has none of that name, loaded when it is not.
  Addresses the wallet does not hold (`listdescriptors`) are imported with
  `importdescriptors` in chunks (timestamp "now" or `wallet_rescan_from_s`), then
  `listunspent` with minconf 0 and the address filter lists confirmed and mempool outputs.
  An output spent by a mempool transaction is no longer listed, so a theft shows as soon
  as it is broadcast. Cheap enough to poll often. An import with a past timestamp blocks
  while Core rescans (hours on mainnet): when the call times out or meets -4 "currently
  rescanning", the reader polls `getwalletinfo` `scanning` every `progress_poll_s` (at most
  `rescan_wait_s_max`) and then counts the chunk imported as soon as `listdescriptors`
  holds it; it never imports (and rescans) again. No listing is taken during a rescan.

A reading is taken at one block: in scan mode the last scan's, in wallet mode the tip
(`getbestblockhash`, `getblockheader`), read again after the listing. When the chain moved
under a reading (wallet mode) or reorganised between two chunks (scan mode), the reading
starts again, at most `tip_attempts_max` times. Outputs with `confirmations_min`
confirmations count in `amount_base`, newer ones (and mempool ones) in `pending_base`.

Movements after `since`: the blocks above `since.height` up to the tip are read with
`getblock <hash> 3` (inputs carry the outputs they spend: no -txindex or wallet needed, but
a pruned node cannot serve old blocks), walking back from the tip by `previousblockhash`,
at most `movement_blocks_max` blocks. Mempool transactions give no movement. A reorg below
`since` is for the caller to notice with `block_hash_at(since.height)`.

Faults: refused connections, timeouts, HTTP 502/503/504 and warm-up (-28) are retried
with exponential backoff, at most `retry_attempts_max` attempts per call; refused
credentials (HTTP 401), a refused address or method (HTTP 403), a wrong path (404), a node
of another network and RPC errors are not. Everything ends as ChainError. `calls` counts
every HTTP request of a reading, retries included. Not thread-safe: one reading at a time.
"""

from __future__ import annotations

import http.client
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any, Final
from urllib.parse import quote, urlsplit, urlunsplit

from bitcoin.rpc import JSONRPCError, RawProxy  # type: ignore[import-untyped]

from sequestra.chains.bitcoin.descriptor import address_descriptor
from sequestra.chains.bitcoin.reading import (
    CHAIN,
    Flow,
    RetryableFault,
    RetryPolicy,
    TransactionFlows,
    UnspentOutput,
    WatchedAddresses,
    bitcoin_asset,
    btc_to_sats,
    check_hash,
    check_height,
    chunked,
    json_array,
    json_object,
    movements_of,
    ordered_movements,
    tally_balances,
    watch_addresses,
    with_retries,
)
from sequestra.chains.observation import (
    BlockRef,
    ChainError,
    ChainReading,
    ObservedMovement,
)
from sequestra.config.bitcoin import BitcoinWatchSettings
from sequestra.custody.assets import Asset

# Bitcoin Core's getblockchaininfo "chain" for each network of the address validator.
NODE_CHAINS: Final = {
    "mainnet": ("main",),
    "testnet": ("test", "testnet4"),
    "signet": ("signet",),
    "regtest": ("regtest",),
}
RPC_WALLET_ERROR: Final = -4
RPC_INVALID_PARAMETER: Final = -8
RPC_WALLET_NOT_FOUND: Final = -18
RPC_IN_WARMUP: Final = -28
RPC_WALLET_ALREADY_LOADED: Final = -35
NO_JSON_CODES: Final = (-342, -343, -344, -345)  # python-bitcoinlib: no usable JSON-RPC answer
RETRYABLE_HTTP_STATUSES: Final = (502, 503, 504)
WALLET_VERSION_MIN: Final = 250000  # listunspent's include_immature_coinbase (Core v25)
LEGACY_WALLET_TEXT: Final = "legacy wallet"
RESCANNING_TEXT: Final = "currently rescanning"
SCAN_IN_PROGRESS_TEXT: Final = "already in progress"
LISTUNSPENT_MAXCONF: Final = 9_999_999
COOKIE_FILE_BYTES_MAX: Final = 1024
MESSAGE_CHARS_MAX: Final = 200
CORE_MESSAGE_CHARS_MAX: Final = 4000
SCAN_STARTS_MAX: Final = 10  # starts of one chunk's scan that found another scan running
PROGRESS_POLLS_MAX: Final = 100_000  # polls of one wait, whatever the settings say
IMPORTED_ADDRESSES_MAX: Final = 1_000_000  # beyond this the wallet is asked again


class CoreRpcError(ChainError):
    """Bitcoin Core answered a call with a JSON-RPC error; `code` is Core's error code.

    `core_message` is Core's own message, longer than the shown one (to classify it).
    """

    def __init__(
        self, message: str, method: str, code: int, retryable: bool = False, core_message: str = ""
    ) -> None:
        super().__init__(message, retryable=retryable)
        self.method = method
        self.code = code
        self.core_message = core_message


class ScanInProgress(CoreRpcError):
    """`scantxoutset start` met another scan running (-8): wait for it, do not just retry."""


class _StatusConnection(http.client.HTTPConnection):
    """An HTTP connection that remembers its last response status (RawProxy ignores it)."""

    last_status: int | None = None

    def getresponse(self) -> http.client.HTTPResponse:
        """Return the response, noting its status."""
        response = super().getresponse()
        self.last_status = response.status
        return response


class _Endpoint:
    """One JSON-RPC endpoint (`/` or `/wallet/<name>`): its connection, timeout, proxy."""

    def __init__(self, host: str, port: int, credentials: str, path: str, timeout_s: float) -> None:
        netloc = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        self.where = netloc + path
        self._connection = _StatusConnection(host, port, timeout=timeout_s)
        service_url = urlunsplit(("http", f"{credentials}@{netloc}", path, "", ""))
        self._proxy = RawProxy(
            service_url=service_url, timeout=timeout_s, connection=self._connection
        )

    def close(self) -> None:
        """Close the connection (the next call opens a fresh one)."""
        self._connection.close()

    def call_once(self, method: str, params: Sequence[Any]) -> Any:
        """Make one call.

        Raises:
            RetryableFault: no answer (refused, timeout, reset) or the node is busy.
            ChainError: refused credentials, garbage, or an RPC error (CoreRpcError).
        """
        self._connection.last_status = None
        try:
            return getattr(self._proxy, method)(*params)
        except JSONRPCError as error:
            raise self._refusal(method, error) from None
        except (OSError, http.client.HTTPException) as error:
            self._connection.close()
            raise RetryableFault(f"{type(error).__name__}: {error}"[:MESSAGE_CHARS_MAX]) from None
        except (ValueError, AttributeError, TypeError) as error:  # not UTF-8, not an object
            self._connection.close()
            raise ChainError(
                f"bitcoin node {self.where}: {method}: expected a JSON-RPC answer, "
                f"got an unreadable body ({type(error).__name__})"
            ) from None

    def _refusal(self, method: str, error: JSONRPCError) -> Exception:
        """Classify a JSONRPCError: retry, credentials, garbage or Core's own refusal."""
        detail = error.error if isinstance(error.error, dict) else {}
        code = detail.get("code")
        message = str(detail.get("message", ""))[:MESSAGE_CHARS_MAX]
        if code in NO_JSON_CODES:
            return self._no_json(method, message)
        if code == RPC_IN_WARMUP:
            return RetryableFault(f"the node is warming up ({message})")
        if code == RPC_INVALID_PARAMETER and SCAN_IN_PROGRESS_TEXT in message:
            return ScanInProgress(
                f"bitcoin node {self.where}: another scan is running ({message})",
                method,
                code,
                retryable=True,
            )
        if not isinstance(code, int) or isinstance(code, bool):
            return ChainError(f"bitcoin node {self.where}: {method}: an error without a code")
        return CoreRpcError(
            f"bitcoin node {self.where}: {method} refused (code {code}): {message}",
            method,
            code,
            core_message=str(detail.get("message", ""))[:CORE_MESSAGE_CHARS_MAX],
        )

    def _no_json(self, method: str, message: str) -> Exception:
        """Classify an answer that held no JSON-RPC reply, by its HTTP status."""
        status = self._connection.last_status
        self._connection.close()
        if status == http.HTTPStatus.UNAUTHORIZED:
            return ChainError(
                f"bitcoin node {self.where}: credentials refused (HTTP 401); expected "
                "the node's current cookie file or its rpc user and password",
                retryable=False,
            )
        if status == http.HTTPStatus.FORBIDDEN:
            return ChainError(
                f"bitcoin node {self.where}: {method} forbidden (HTTP 403): the node does not "
                "allow this address (-rpcallowip) or this user this method (-rpcwhitelist); "
                "the credentials were not the problem",
                retryable=False,
            )
        if status == http.HTTPStatus.NOT_FOUND:
            return ChainError(
                f"bitcoin node {self.where}: expected a JSON-RPC endpoint at this path, "
                "got HTTP 404 (a wallet name or URL path is wrong)",
                retryable=False,
            )
        if status is None or status in RETRYABLE_HTTP_STATUSES:
            return RetryableFault(f"HTTP {status}: {message}")
        return ChainError(
            f"bitcoin node {self.where}: {method}: expected a JSON-RPC answer, "
            f"got HTTP {status}: {message}"
        )


class BitcoinCoreReader:
    """A `ChainReader` over Bitcoin Core's JSON-RPC (scan or wallet mode, see the module)."""

    chain: str = CHAIN

    def __init__(
        self,
        settings: BitcoinWatchSettings,
        network: str,
        *,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """Prepare a reader; it connects on first use.

        `sleep` pauses between retries and progress polls, `clock` measures the waits for a
        running scan or rescan (tests pass ones that do not wait).

        Raises:
            ValueError: the settings are not for Bitcoin Core, or `network` is unknown.
        """
        if settings.backend != "core" or settings.rpc_url is None:
            raise ValueError("settings: expected backend 'core' with an rpc_url")
        if network not in NODE_CHAINS:
            raise ValueError(f"network: expected one of {', '.join(NODE_CHAINS)}, got {network!r}")
        self.network = network
        self._settings = settings
        self._retry = RetryPolicy(
            settings.retry_attempts_max,
            settings.retry_backoff_s,
            settings.retry_backoff_s_max,
            sleep,
        )
        self._sleep = sleep
        self._clock = clock
        self._credentials: str | None = None
        self._endpoints: dict[str, _Endpoint] = {}
        self._network_checked = False
        self._wallet_ready = False
        self._imported: set[str] = set()
        self._calls = 0

    # --- the ChainReader interface -------------------------------------------------------------

    def read_balances(
        self, addresses: Sequence[str], assets: Sequence[Asset], since: BlockRef | None
    ) -> ChainReading:
        """Read every address's BTC balance at the tip, and movements after `since`.

        Raises:
            ChainError: an address or asset is not acceptable, or the node could not give
                a complete answer (see the module for which faults are retried).
        """
        watched = watch_addresses(addresses, self.network, self._settings.addresses_max)
        asset = bitcoin_asset(assets)
        calls_before = self._calls
        self._connect()
        self._check_network()
        wanted = watched if asset is not None and watched.asked else None
        if wanted is not None and self._settings.mode == "wallet":
            self._prepare_wallet(wanted)
        tip, outputs = self._read_at_tip(wanted)
        if asset is None:
            return ChainReading(CHAIN, self.network, tip, (), (), self._calls - calls_before)
        balances = tally_balances(
            watched, outputs, self._settings.confirmations_min, asset.asset_id
        )
        movements = self._movements(watched, tip, since, asset.asset_id)
        return ChainReading(
            CHAIN, self.network, tip, balances, movements, self._calls - calls_before
        )

    def block_hash_at(self, height: int) -> str | None:
        """Return the best chain's block hash at `height`, None above the tip.

        Raises:
            ValueError: a negative height.
            ChainError: the node could not answer.
        """
        if height < 0:
            raise ValueError(f"height: expected at least 0, got {height}")
        self._connect()
        try:
            answer = self._call("node", "getblockhash", height)
        except CoreRpcError as error:
            if error.code == RPC_INVALID_PARAMETER:  # "Block height out of range"
                return None
            raise
        return check_hash(answer, "getblockhash")

    # --- connection ----------------------------------------------------------------------------

    def _connect(self) -> None:
        """(Re)build the endpoints when the credentials changed (a node restart renews the
        cookie).

        Raises:
            ChainError: no credentials, or an unreadable cookie file.
        """
        settings = self._settings
        parts = urlsplit(settings.rpc_url or "")
        if settings.cookie_file is not None:
            credentials = _read_cookie(settings.cookie_file)
        elif parts.username and parts.password is not None:
            credentials = f"{parts.username}:{parts.password}"
        else:
            raise ChainError(
                "bitcoin rpc_url: expected credentials in the URL or a cookie_file",
                retryable=False,
            )
        if credentials == self._credentials and self._endpoints:
            return
        for endpoint in self._endpoints.values():
            endpoint.close()
        host, port = parts.hostname or "", parts.port or 80
        wallet_path = "/wallet/" + quote(settings.wallet, safe="")
        self._endpoints = {
            "node": _Endpoint(host, port, credentials, "/", settings.timeout_s),
            "scan": _Endpoint(host, port, credentials, "/", settings.scan_timeout_s),
            "wallet": _Endpoint(host, port, credentials, wallet_path, settings.timeout_s),
        }
        self._credentials = credentials

    def _call(self, endpoint_name: str, method: str, *params: Any) -> Any:
        """Call `method` on an endpoint with bounded retries, counting every attempt.

        Raises:
            ChainError: see `_Endpoint.call_once`; retries exhausted is retryable.
        """
        endpoint = self._endpoints[endpoint_name]

        def attempt() -> Any:
            self._calls += 1
            return endpoint.call_once(method, params)

        return with_retries(self._retry, f"bitcoin node {endpoint.where}: {method}", attempt)

    def _check_network(self) -> None:
        """Once per reader: refuse a node of another network than the addresses'.

        Raises:
            ChainError (not retryable): the node runs another chain.
        """
        if self._network_checked:
            return
        info = json_object(self._call("node", "getblockchaininfo"), "getblockchaininfo")
        chain = info.get("chain")
        if chain not in NODE_CHAINS[self.network]:
            raise ChainError(
                f"bitcoin node {self._endpoints['node'].where}: expected a {self.network} "
                f"node (chain {' or '.join(NODE_CHAINS[self.network])}), got chain {chain!r:.40}",
                retryable=False,
            )
        self._network_checked = True

    # --- balances ------------------------------------------------------------------------------

    def _read_at_tip(
        self, watched: WatchedAddresses | None
    ) -> tuple[BlockRef, list[UnspentOutput]]:
        """Read the outputs at one block; start again when the chain moved under the reading.

        Raises:
            ChainError: the chain moved during every one of `tip_attempts_max` attempts.
        """
        for _ in range(self._settings.tip_attempts_max):
            if watched is None:
                return self._tip(), []
            if self._settings.mode == "scan":
                read = self._scan(watched)
            else:
                tip = self._tip()
                outputs = self._list(watched, tip)
                read = None if outputs is None else (tip, outputs)
            if read is not None:
                return read
        raise ChainError(
            f"bitcoin node {self._endpoints['node'].where}: expected the chain to stay put for "
            f"one reading, it moved during each of {self._settings.tip_attempts_max} attempts"
        )

    def _tip(self) -> BlockRef:
        """Return the best block: getbestblockhash, then its header for the height."""
        block_hash = check_hash(self._call("node", "getbestblockhash"), "getbestblockhash")
        header = json_object(
            self._call("node", "getblockheader", block_hash, True), "getblockheader"
        )
        if header.get("hash") != block_hash:
            raise ChainError(f"getblockheader: expected block {block_hash}, got another")
        return BlockRef(check_height(header.get("height"), "getblockheader height"), block_hash)

    def _scan(self, watched: WatchedAddresses) -> tuple[BlockRef, list[UnspentOutput]] | None:
        """Scan the UTXO set chunk by chunk and bring every chunk to the last chunk's block.

        Each answer names the block it scanned; a chunk scanned below the last one is rolled
        forward through the blocks between (`_roll_forward`). None when a reorganisation
        left an earlier chunk's block off the chain (the reading starts again).

        Raises:
            ChainError: a scan was aborted (by another client) or answered garbage, or the
                chunks lie more than `movement_blocks_max` blocks apart.
        """
        scans: list[tuple[BlockRef, frozenset[str], list[UnspentOutput]]] = []
        size = self._settings.scan_chunk_addresses
        for chunk, chunk_scripts in zip(
            chunked(watched.normalised, size), chunked(watched.scripts, size), strict=True
        ):
            answer = self._start_scan([f"addr({address})" for address in chunk])
            if answer.get("success") is not True:
                raise ChainError("scantxoutset: expected a complete scan, it was aborted")
            block = BlockRef(
                check_height(answer.get("height"), "scantxoutset height"),
                check_hash(answer.get("bestblock"), "scantxoutset bestblock"),
            )
            outputs = [
                _scanned_output(json_object(item, "scantxoutset unspent"), block)
                for item in json_array(answer.get("unspents"), "scantxoutset unspents")
            ]
            scans.append((block, frozenset(chunk_scripts), outputs))
        tip = scans[-1][0]
        blocks = self._blocks_down_to(tip, min(block.height for block, _, _ in scans))
        if blocks is None:
            return None
        reconciled: list[UnspentOutput] = []
        for block, scripts, outputs in scans:
            rolled = _roll_forward(outputs, scripts, block, tip, blocks)
            if rolled is None:
                return None
            reconciled.extend(rolled)
        return tip, reconciled

    def _start_scan(self, descriptors: list[str]) -> dict[str, Any]:
        """Run one `scantxoutset start`, first waiting out a scan already running.

        Raises:
            ChainError: the other scan outlasted `scan_wait_s_max`, or the node failed.
        """
        deadline = self._clock() + self._settings.scan_wait_s_max
        for _ in range(SCAN_STARTS_MAX):
            try:
                answer = self._call("scan", "scantxoutset", "start", descriptors)
            except ScanInProgress:
                self._await_scan(deadline)
                continue
            return json_object(answer, "scantxoutset")
        raise ChainError(
            f"scantxoutset: expected to start a scan, another one was running at each of "
            f"{SCAN_STARTS_MAX} tries",
        )

    def _await_scan(self, deadline: float) -> None:
        """Poll `scantxoutset status` every `progress_poll_s` until no scan runs.

        Raises:
            ChainError (retryable): a scan still runs at `deadline`.
        """
        progress: object = None
        for _ in range(_polls_max(self._settings.scan_wait_s_max, self._settings)):
            status = self._call("node", "scantxoutset", "status")
            if status is None:
                return
            progress = json_object(status, "scantxoutset status").get("progress")
            if self._clock() >= deadline:
                break
            self._sleep(self._settings.progress_poll_s)
        raise ChainError(
            f"bitcoin node {self._endpoints['node'].where}: expected the node's running "
            f"scantxoutset to end within scan_wait_s_max = {self._settings.scan_wait_s_max:g} "
            f"s, it is still running (progress {progress!r:.20} %); another client scans, or "
            "an earlier scan of ours that timed out (scan_timeout_s) is still walking",
            retryable=True,
        )

    def _blocks_down_to(self, tip: BlockRef, height: int) -> dict[int, dict[str, Any]] | None:
        """Read the blocks above `height` up to `tip` (getblock verbosity 3), by height.

        The block at `height` itself is not read; its hash is kept under key `height` as
        {"hash": ...} so that a chunk's block can be checked against the chain.

        Raises:
            ChainError: more than `movement_blocks_max` blocks, or a block is not the one
                expected.
        """
        if tip.height - height > self._settings.movement_blocks_max:
            raise ChainError(
                f"scantxoutset: expected the chunks' blocks within movement_blocks_max = "
                f"{self._settings.movement_blocks_max} blocks, they span "
                f"{tip.height - height}"
            )
        blocks: dict[int, dict[str, Any]] = {}
        block_hash = tip.block_hash
        for at in range(tip.height, height, -1):
            block = json_object(self._call("node", "getblock", block_hash, 3), "getblock")
            if block.get("hash") != block_hash or block.get("height") != at:
                return None  # the chain changed while it was read
            blocks[at] = block
            block_hash = check_hash(block.get("previousblockhash"), "previousblockhash")
        blocks[height] = {"hash": block_hash}
        return blocks

    def _list(self, watched: WatchedAddresses, tip: BlockRef) -> list[UnspentOutput] | None:
        """List the wallet's outputs of the watched addresses; None when the tip moved.

        Raises:
            ChainError: the wallet is not loaded any more, or the answer is garbage.
        """
        outputs: list[UnspentOutput] = []
        options = {"include_immature_coinbase": True}  # as scantxoutset, which sees them
        for chunk in chunked(watched.normalised, self._settings.wallet_chunk_addresses):
            answer = self._wallet_call(
                "listunspent", 0, LISTUNSPENT_MAXCONF, list(chunk), True, options
            )
            for item in json_array(answer, "listunspent"):
                outputs.append(_listed_output(json_object(item, "listunspent item")))
        after = check_hash(self._call("node", "getbestblockhash"), "getbestblockhash")
        return outputs if after == tip.block_hash else None

    # --- the watch-only wallet -----------------------------------------------------------------

    def _prepare_wallet(self, watched: WatchedAddresses) -> None:
        """Open the wallet once, wait out a rescan, import the addresses it does not hold.

        Raises:
            ChainError: the wallet cannot be opened, a rescan outlasts `rescan_wait_s_max`,
                or an import is refused.
        """
        if not self._wallet_ready:
            self._check_version()
            self._open_wallet()
            self._imported = self._held_addresses()
            self._wallet_ready = True
        if self._await_rescan():
            self._imported = self._held_addresses()
        if len(self._imported) > IMPORTED_ADDRESSES_MAX:
            self._imported = self._held_addresses()
        fresh = [address for address in watched.normalised if address not in self._imported]
        for chunk in chunked(fresh, self._settings.wallet_chunk_addresses):
            self._import(chunk)

    def _import(self, chunk: Sequence[str]) -> None:
        """Import one chunk; when its rescan outlives the call, wait and resume, not restart.

        Core adds the descriptors before it rescans, so after a timeout or a -4 "Wallet is
        currently rescanning" the chunk counts as imported once `listdescriptors` holds it.

        Raises:
            ChainError: an import is refused, or the rescan outlasts `rescan_wait_s_max`.
        """
        rescan_from_s = self._settings.wallet_rescan_from_s
        timestamp: int | str = "now" if rescan_from_s is None else rescan_from_s
        requests = [
            {
                "desc": address_descriptor(address),
                "timestamp": timestamp,
                "active": False,
                "internal": False,
            }
            for address in chunk
        ]
        try:
            results = json_array(self._wallet_call("importdescriptors", requests), "import")
        except CoreRpcError as error:
            if error.code != RPC_WALLET_ERROR or RESCANNING_TEXT not in error.core_message:
                raise
        except ChainError as error:
            if not error.retryable:
                raise
        else:
            _check_imports(chunk, results)
            self._imported.update(chunk)
            return
        self._await_rescan()
        self._imported = self._held_addresses()
        missing = [address for address in chunk if address not in self._imported]
        if missing:
            raise ChainError(
                f"importdescriptors: expected the wallet to hold every address of the chunk "
                f"after its rescan, {len(missing)} missing (first {missing[0]}); the next "
                "reading imports them",
                retryable=True,
            )

    def _await_rescan(self) -> bool:
        """Poll `getwalletinfo` every `progress_poll_s` while the wallet rescans.

        Returns whether a rescan was running (its listing was incomplete until it ended).

        Raises:
            ChainError (retryable): the rescan still runs after `rescan_wait_s_max`.
        """
        deadline = self._clock() + self._settings.rescan_wait_s_max
        progress: object = None
        for poll in range(_polls_max(self._settings.rescan_wait_s_max, self._settings)):
            info = json_object(self._wallet_call("getwalletinfo"), "getwalletinfo")
            scanning = info.get("scanning", False)
            if scanning is False:
                return poll > 0
            progress = json_object(scanning, "getwalletinfo scanning").get("progress")
            if self._clock() >= deadline:
                break
            self._sleep(self._settings.progress_poll_s)
        raise ChainError(
            f"bitcoin wallet {self._settings.wallet}: expected its rescan to end within "
            f"rescan_wait_s_max = {self._settings.rescan_wait_s_max:g} s, it is still running "
            f"(progress {progress!r:.20}); the next reading waits for it, no import starts over",
            retryable=True,
        )

    def _held_addresses(self) -> set[str]:
        """Return the addresses whose `addr()` descriptors the wallet holds (listdescriptors).

        Raises:
            ChainError: the answer is garbage.
        """
        answer = json_object(self._wallet_call("listdescriptors"), "listdescriptors")
        held: set[str] = set()
        for item in json_array(answer.get("descriptors"), "listdescriptors descriptors"):
            text = json_object(item, "listdescriptors item").get("desc")
            if isinstance(text, str) and text.startswith("addr(") and ")#" in text:
                held.add(text[len("addr(") : text.index(")#")])
        return held

    def _check_version(self) -> None:
        """Refuse a node older than v25, whose listunspent lacks include_immature_coinbase.

        Raises:
            ChainError (not retryable): the node is older, or does not say its version.
        """
        info = json_object(self._call("node", "getnetworkinfo"), "getnetworkinfo")
        version = info.get("version")
        if isinstance(version, bool) or not isinstance(version, int):
            raise ChainError(f"getnetworkinfo: expected a version number, got {version!r:.40}")
        if version < WALLET_VERSION_MIN:
            raise ChainError(
                f"bitcoin node {self._endpoints['node'].where}: wallet mode needs Bitcoin Core "
                f"v25 or later (listunspent include_immature_coinbase), the node runs "
                f"{str(info.get('subversion'))[:40]} (version {version}); upgrade the node "
                'or use mode = "scan"',
                retryable=False,
            )

    def _open_wallet(self) -> None:
        """Load the watch-only wallet, or create it (blank, no private keys) when missing.

        Raises:
            ChainError (not retryable): a legacy wallet holds the name (Core v30 loads none).
            ChainError: the node refused otherwise.
        """
        name = self._settings.wallet
        if name in json_array(self._call("node", "listwallets"), "listwallets"):
            return
        try:
            self._call("node", "loadwallet", name, True)
        except CoreRpcError as error:
            if error.code == RPC_WALLET_ALREADY_LOADED:
                return
            if error.code != RPC_WALLET_NOT_FOUND:
                raise
            if LEGACY_WALLET_TEXT in error.core_message.lower():
                raise ChainError(
                    f"bitcoin wallet {name}: the node holds a legacy wallet of this name, which "
                    "Bitcoin Core v30 no longer loads; migrate it (bitcoin-cli migratewallet "
                    f"{name}) or set another wallet name; the node says: {error}",
                    retryable=False,
                ) from None
            self._create_wallet(name, error)

    def _create_wallet(self, name: str, load_error: CoreRpcError) -> None:
        """Create the blank watch-only descriptor wallet the node could not load.

        Raises:
            ChainError: the node refused; the load's refusal is named too.
        """
        try:
            # name, disable_private_keys, blank, passphrase, avoid_reuse, descriptors,
            # load_on_startup
            self._call("node", "createwallet", name, True, True, "", False, True, True)
        except CoreRpcError as error:
            raise ChainError(
                f"bitcoin wallet {name}: expected to load or create it; loading: {load_error}; "
                f"creating: {error}",
                retryable=False,
            ) from None

    def _wallet_call(self, method: str, *params: Any) -> Any:
        """Call a wallet method; a wallet gone (node restarted) is reopened next reading.

        Raises:
            ChainError: as `_call`; retryable when the wallet was not loaded.
        """
        try:
            return self._call("wallet", method, *params)
        except CoreRpcError as error:
            if error.code != RPC_WALLET_NOT_FOUND:
                raise
            self._wallet_ready = False
            self._imported.clear()
            raise ChainError(
                f"bitcoin wallet {self._settings.wallet}: expected it loaded, the node says "
                f"{error}; the next reading loads it",
                retryable=True,
            ) from None

    # --- movements -----------------------------------------------------------------------------

    def _movements(
        self, watched: WatchedAddresses, tip: BlockRef, since: BlockRef | None, asset_id: str
    ) -> tuple[ObservedMovement, ...]:
        """Read the blocks above `since` up to `tip`; return their movements (ordered_movements).

        Raises:
            ChainError (not retryable): more than `movement_blocks_max` blocks to read.
            ChainError: a block cannot be read or is not the one expected.
        """
        if since is None or since.height >= tip.height or not watched.asked:
            return ()
        gap = tip.height - since.height
        if gap > self._settings.movement_blocks_max:
            raise ChainError(
                f"movements: expected at most {self._settings.movement_blocks_max} blocks "
                f"since block {since.height}, the tip is {gap} blocks above it",
                retryable=False,
            )
        found: list[ObservedMovement] = []
        block_hash = tip.block_hash
        for height in range(tip.height, since.height, -1):
            block = json_object(self._call("node", "getblock", block_hash, 3), "getblock")
            if block.get("hash") != block_hash or block.get("height") != height:
                raise ChainError(f"getblock: expected block {block_hash} at height {height}")
            where = BlockRef(height, block_hash)
            for tx in json_array(block.get("tx"), "getblock tx"):
                found.extend(
                    movements_of(_core_flows(json_object(tx, "tx"), where), watched, asset_id)
                )
            block_hash = check_hash(block.get("previousblockhash"), "previousblockhash")
        return ordered_movements(found)


def _polls_max(wait_s_max: float, settings: BitcoinWatchSettings) -> int:
    """Return how many progress polls fit in `wait_s_max` (at least 1, at most a bound)."""
    return min(PROGRESS_POLLS_MAX, math.ceil(wait_s_max / settings.progress_poll_s) + 1)


def _roll_forward(
    outputs: list[UnspentOutput],
    scripts: frozenset[str],
    block: BlockRef,
    tip: BlockRef,
    blocks: dict[int, dict[str, Any]],
) -> list[UnspentOutput] | None:
    """Bring a chunk's outputs, scanned at `block`, to `tip` through the blocks between.

    An output spent in those blocks leaves, an output they pay to one of the chunk's
    `scripts` comes; confirmations count from `tip`. None when `block` is not on the chain
    `blocks` was read from (a reorganisation between two chunks).

    Raises:
        ChainError: a block holds garbage.
    """
    seen = blocks.get(block.height)
    if seen is None or seen.get("hash") != block.block_hash:
        return None
    distance = tip.height - block.height
    held = {(o.txid, o.vout): replace(o, confirmations=o.confirmations + distance) for o in outputs}
    for height in range(block.height + 1, tip.height + 1):
        for entry in json_array(blocks[height].get("tx"), "getblock tx"):
            tx = json_object(entry, "tx")
            for spent in json_array(tx.get("vin"), "tx vin"):
                item = json_object(spent, "tx input")
                if "coinbase" not in item:
                    held.pop((str(item.get("txid")), _vout(item.get("vout"), "vin vout")), None)
            txid = check_hash(tx.get("txid"), "tx txid")
            for paid in json_array(tx.get("vout"), "tx vout"):
                item = json_object(paid, "tx output")
                script = json_object(item.get("scriptPubKey"), "vout scriptPubKey")
                script_hex = _script_hex(script.get("hex"), "vout script")
                if script_hex not in scripts:
                    continue
                vout = _vout(item.get("n"), "vout n")
                held[(txid, vout)] = UnspentOutput(
                    txid=txid,
                    vout=vout,
                    script_hex=script_hex,
                    amount_sats=btc_to_sats(item.get("value"), "vout value"),
                    confirmations=tip.height - height + 1,
                )
    return list(held.values())


# --- reading answers ---------------------------------------------------------------------------


def _vout(value: Any, what: str) -> int:
    """Check an output index."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ChainError(f"{what}: expected an output index, got {value!r:.40}")
    return value


def _script_hex(value: Any, what: str) -> str:
    """Check a scriptPubKey in hex (lower case, even length)."""
    if not isinstance(value, str) or len(value) % 2:
        raise ChainError(f"{what}: expected a script in hex, got {value!r:.40}")
    try:
        bytes.fromhex(value)
    except ValueError:
        raise ChainError(f"{what}: expected a script in hex, got {value!r:.40}") from None
    return value.lower()


def _scanned_output(item: dict[str, Any], tip: BlockRef) -> UnspentOutput:
    """Turn one scantxoutset unspent into an UnspentOutput (confirmations from heights)."""
    height = check_height(item.get("height"), "scantxoutset unspent height")
    if height > tip.height:
        raise ChainError(f"scantxoutset: an output at height {height}, above the tip {tip.height}")
    return UnspentOutput(
        txid=check_hash(item.get("txid"), "scantxoutset txid"),
        vout=_vout(item.get("vout"), "scantxoutset vout"),
        script_hex=_script_hex(item.get("scriptPubKey"), "scantxoutset scriptPubKey"),
        amount_sats=btc_to_sats(item.get("amount"), "scantxoutset amount"),
        confirmations=tip.height - height + 1,
    )


def _listed_output(item: dict[str, Any]) -> UnspentOutput:
    """Turn one listunspent item into an UnspentOutput."""
    confirmations = item.get("confirmations")
    if isinstance(confirmations, bool) or not isinstance(confirmations, int) or confirmations < 0:
        raise ChainError(f"listunspent: expected confirmations >= 0, got {confirmations!r:.40}")
    return UnspentOutput(
        txid=check_hash(item.get("txid"), "listunspent txid"),
        vout=_vout(item.get("vout"), "listunspent vout"),
        script_hex=_script_hex(item.get("scriptPubKey"), "listunspent scriptPubKey"),
        amount_sats=btc_to_sats(item.get("amount"), "listunspent amount"),
        confirmations=confirmations,
    )


def _check_imports(addresses: Sequence[str], results: list[Any]) -> None:
    """Require one successful result per imported address.

    Raises:
        ChainError (not retryable): a result is missing or reports a failure.
    """
    if len(results) != len(addresses):
        raise ChainError(
            f"importdescriptors: expected {len(addresses)} results, got {len(results)}"
        )
    for address, result in zip(addresses, results, strict=True):
        item = json_object(result, "importdescriptors result")
        if item.get("success") is not True:
            error = item.get("error")
            message = error.get("message") if isinstance(error, dict) else error
            raise ChainError(
                f"importdescriptors {address}: expected success, got {message!r:.200}",
                retryable=False,
            )


def _core_flows(tx: dict[str, Any], block: BlockRef) -> TransactionFlows:
    """Read a getblock verbosity-3 transaction as flows (coinbase inputs have none)."""
    inputs: list[Flow] = []
    for entry in json_array(tx.get("vin"), "tx vin"):
        item = json_object(entry, "tx input")
        if "coinbase" in item:
            continue
        prevout = item.get("prevout")
        if not isinstance(prevout, dict):
            raise ChainError("getblock: expected inputs with prevout (verbosity 3, undo data)")
        inputs.append(_core_flow(prevout, "prevout"))
    outputs = [
        _core_flow(json_object(entry, "tx output"), "vout")
        for entry in json_array(tx.get("vout"), "tx vout")
    ]
    return TransactionFlows(
        check_hash(tx.get("txid"), "tx txid"), block, tuple(inputs), tuple(outputs)
    )


def _core_flow(item: dict[str, Any], what: str) -> Flow:
    """Read an output (`vout[]` or an input's `prevout`) as a Flow."""
    script = json_object(item.get("scriptPubKey"), f"{what} scriptPubKey")
    address = script.get("address")
    return Flow(
        script_hex=_script_hex(script.get("hex"), f"{what} script"),
        address=address if isinstance(address, str) else None,
        amount_sats=btc_to_sats(item.get("value"), f"{what} value"),
    )


def _read_cookie(path: Path) -> str:
    """Return `user:password` from Bitcoin Core's cookie file; never quote its content.

    Raises:
        ChainError: unreadable (retryable: the node may be restarting) or malformed.
    """
    try:
        with path.open("rb") as handle:
            data = handle.read(COOKIE_FILE_BYTES_MAX + 1)
    except OSError as error:
        raise ChainError(
            f"bitcoin cookie file {path}: expected a readable file (is the node running?), "
            f"got {error.strerror}"
        ) from None
    text = data.decode("ascii", errors="replace").strip()
    user, separator, password = text.partition(":")
    if len(data) > COOKIE_FILE_BYTES_MAX or not separator or not user or not password:
        raise ChainError(f"bitcoin cookie file {path}: expected user:password", retryable=False)
    if any(character in text for character in "@/?#\\ \n"):
        raise ChainError(f"bitcoin cookie file {path}: unexpected characters", retryable=False)
    return text
