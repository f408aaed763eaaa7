"""Read custody balances from an Esplora REST server (the API mempool.space and Blockstream
serve), over httpx with explicit timeouts and connection limits.

A reading: the tip (`/blocks/tip/height`, then `/block-height/:height` for its hash); per
address `/address/:address/utxo` (confirmed outputs carry `status.block_height`; mempool
ones are `confirmed: false`, and outputs spent in the mempool are already gone, so a theft
shows as soon as it is broadcast); then `/blocks/tip/hash` once more. When the tip moved
during the reading it starts again, at most `tip_attempts_max` times. Addresses are read
`esplora_concurrency` at a time. Outputs with `confirmations_min` confirmations count in
`amount_base`, newer and mempool ones in `pending_base`.

Movements after `since`: per address, confirmed history pages `/address/:address/txs/chain`
and `/address/:address/txs/chain/:last_seen_txid` (newest first, at least 25 per page) until
a page reaches `since.height`, at most `esplora_pages_max` pages; a longer history since
`since` is refused rather than reported in part. A transaction touching several watched
addresses is counted once.

Once per reader the server's genesis block (`/block-height/0`) is checked against the
network. Faults: timeouts, refused connections, HTTP 429 and 5xx are retried with
exponential backoff (at most `retry_attempts_max` attempts per request); 400 (an address
the server refuses, or more unspent outputs than it lists), 401/403 and other statuses are
not. Everything ends as ChainError. `calls` counts every HTTP request, retries included.
One reading at a time per reader.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, Final, TypeVar
from urllib.parse import quote

import httpx

from sequestra.chains.bitcoin.reading import (
    CHAIN,
    Flow,
    RetryableFault,
    RetryPolicy,
    TransactionFlows,
    UnspentOutput,
    WatchedAddresses,
    bitcoin_asset,
    check_hash,
    check_height,
    check_sats,
    json_array,
    json_object,
    movements_of,
    ordered_movements,
    tally_balances,
    watch_addresses,
    with_retries,
)
from sequestra.chains.observation import BlockRef, ChainError, ChainReading
from sequestra.config.bitcoin import BitcoinWatchSettings
from sequestra.custody.assets import Asset

# Genesis block hashes; testnet3 and testnet4 share address formats, so both are "testnet".
GENESIS_HASHES: Final = {
    "mainnet": ("000000000019d6689c085ae165831e934ff763ae46a2a6c172b3f1b60a8ce26f",),
    "testnet": (
        "000000000933ea01ad0ee984209779baaec3ced90fa3f408719526f8d77f4943",
        "00000000da84f2bafbbc53dee25a72ae507ff4914b867c565be350b0da8bf043",
    ),
    "signet": ("00000008819873e925422c1ff0f99f7cc9bbb232af63a077a480a3633bee1ef6",),
    "regtest": ("0f9188f13cb7b2c71f2a335e3a4fc328bf5beb436012afca590b1a11466e2206",),
}
CHAIN_PAGE_TXS_MIN: Final = 25  # a shorter confirmed-history page is the last one
RESPONSE_BYTES_MAX: Final = 16 * 1024 * 1024
MESSAGE_CHARS_MAX: Final = 200
RETRYABLE_STATUSES: Final = (429, 500, 502, 503, 504)
AUTH_STATUSES: Final = (401, 403)
HTTP_OK: Final = 200
HTTP_NOT_FOUND: Final = 404

T = TypeVar("T")
R = TypeVar("R")


class EsploraReader:
    """A `ChainReader` over Esplora REST (see the module)."""

    chain: str = CHAIN

    def __init__(
        self,
        settings: BitcoinWatchSettings,
        network: str,
        *,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        """Prepare a reader and its HTTP client (no request yet).

        Raises:
            ValueError: the settings are not for Esplora, or `network` is unknown.
        """
        if settings.backend != "esplora" or settings.esplora_url is None:
            raise ValueError("settings: expected backend 'esplora' with an esplora_url")
        if network not in GENESIS_HASHES:
            raise ValueError(
                f"network: expected one of {', '.join(GENESIS_HASHES)}, got {network!r}"
            )
        self.network = network
        self._settings = settings
        self._base_url = settings.esplora_url.rstrip("/")
        self._retry = RetryPolicy(
            settings.retry_attempts_max,
            settings.retry_backoff_s,
            settings.retry_backoff_s_max,
            sleep,
        )
        connections = settings.esplora_concurrency
        self._client = httpx.Client(
            timeout=httpx.Timeout(settings.timeout_s),
            limits=httpx.Limits(max_connections=connections, max_keepalive_connections=connections),
            follow_redirects=False,
            trust_env=False,
        )
        self._calls_lock = threading.Lock()
        self._calls = 0
        self._network_checked = False

    def close(self) -> None:
        """Close the HTTP connections."""
        self._client.close()

    # --- the ChainReader interface -------------------------------------------------------------

    def read_balances(
        self, addresses: Sequence[str], assets: Sequence[Asset], since: BlockRef | None
    ) -> ChainReading:
        """Read every address's BTC balance at the tip, and movements after `since`.

        Raises:
            ChainError: an address or asset is not acceptable, or the server could not
                give a complete answer.
        """
        watched = watch_addresses(addresses, self.network, self._settings.addresses_max)
        asset = bitcoin_asset(assets)
        calls_before = self._calls
        self._check_network()
        wanted = watched if asset is not None else None
        for _ in range(self._settings.tip_attempts_max):
            tip = self._tip()
            outputs, flows = self._read_addresses(wanted, tip, since)
            if self._text("/blocks/tip/hash") == tip.block_hash:
                break
        else:
            raise ChainError(
                f"esplora {self._base_url}: expected the tip to stay put for one reading, it "
                f"moved during each of {self._settings.tip_attempts_max} attempts"
            )
        calls = self._calls - calls_before
        if asset is None:
            return ChainReading(CHAIN, self.network, tip, (), (), calls)
        balances = tally_balances(
            watched, outputs, self._settings.confirmations_min, asset.asset_id
        )
        movements = ordered_movements(
            m for f in flows for m in movements_of(f, watched, asset.asset_id)
        )
        return ChainReading(CHAIN, self.network, tip, balances, movements, calls)

    def block_hash_at(self, height: int) -> str | None:
        """Return the best chain's block hash at `height`, None above the tip.

        Raises:
            ValueError: a negative height.
            ChainError: the server could not answer.
        """
        if height < 0:
            raise ValueError(f"height: expected at least 0, got {height}")
        answer = self._get(f"/block-height/{height}", missing_ok=True)
        return None if answer is None else check_hash(answer.decode("ascii", "replace"), "hash")

    # --- reading -------------------------------------------------------------------------------

    def _check_network(self) -> None:
        """Once per reader: refuse a server of another network than the addresses'.

        Raises:
            ChainError (not retryable): the genesis block is another network's.
        """
        if self._network_checked:
            return
        genesis = self.block_hash_at(0)
        if genesis not in GENESIS_HASHES[self.network]:
            raise ChainError(
                f"esplora {self._base_url}: expected a {self.network} server, its genesis "
                f"block is {genesis}",
                retryable=False,
            )
        self._network_checked = True

    def _tip(self) -> BlockRef:
        """Return the tip: its height, then the hash at that height."""
        height = _integer(self._text("/blocks/tip/height"), "/blocks/tip/height")
        block_hash = self.block_hash_at(height)
        if block_hash is None:
            raise ChainError(f"esplora {self._base_url}: no block at the tip height {height}")
        return BlockRef(height, block_hash)

    def _read_addresses(
        self, watched: WatchedAddresses | None, tip: BlockRef, since: BlockRef | None
    ) -> tuple[list[UnspentOutput], list[TransactionFlows]]:
        """Read every address's outputs (and history after `since`), a few at a time."""
        if watched is None:
            return [], []
        pairs = list(zip(watched.normalised, watched.scripts, strict=True))
        unspent = self._each(pairs, lambda pair: self._unspent(pair[0], pair[1], tip))
        outputs = [output for found in unspent for output in found]
        if since is None or since.height >= tip.height:
            return outputs, []
        histories = self._each(pairs, lambda pair: self._history(pair[0], tip, since))
        flows: dict[str, TransactionFlows] = {}
        for history in histories:
            for item in history:
                flows.setdefault(item.txid, item)
        return outputs, list(flows.values())

    def _unspent(self, address: str, script_hex: str, tip: BlockRef) -> list[UnspentOutput]:
        """Read one address's unspent outputs (`script_hex`: its scriptPubKey)."""
        items = _array(self._json(f"/address/{quote(address, safe='')}/utxo"), "utxo")
        return [_unspent_output(_object(item, "utxo"), script_hex, tip) for item in items]

    def _history(self, address: str, tip: BlockRef, since: BlockRef) -> list[TransactionFlows]:
        """Read one address's confirmed transactions in blocks above `since`, up to `tip`.

        Raises:
            ChainError (not retryable): the history since `since` is longer than
                `esplora_pages_max` pages.
        """
        path = f"/address/{quote(address, safe='')}/txs/chain"
        found: list[TransactionFlows] = []
        last_seen: str | None = None
        for _ in range(self._settings.esplora_pages_max):
            page = _array(self._json(path if last_seen is None else f"{path}/{last_seen}"), "txs")
            reached_since = False
            for item in page:
                flows = _esplora_flows(_object(item, "tx"))
                if flows.block.height <= since.height:
                    reached_since = True
                elif flows.block.height <= tip.height:
                    found.append(flows)
            if reached_since or len(page) < CHAIN_PAGE_TXS_MIN:
                return found
            last_seen = check_hash(_object(page[-1], "tx").get("txid"), "txid")
        raise ChainError(
            f"movements of {address}: expected at most {self._settings.esplora_pages_max} "
            f"history pages since block {since.height}, there are more",
            retryable=False,
        )

    def _each(self, items: Sequence[T], read: Callable[[T], R]) -> list[R]:
        """Run `read` on every item, `esplora_concurrency` at a time; results in order.

        Raises:
            ChainError: the first failure; the reads not started are cancelled.
        """
        workers = self._settings.esplora_concurrency
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="esplora") as pool:
            futures: list[Future[R]] = [pool.submit(read, item) for item in items]
            try:
                return [future.result() for future in futures]
            finally:
                for future in futures:
                    future.cancel()

    # --- HTTP ----------------------------------------------------------------------------------

    def _text(self, path: str) -> str:
        """GET a plain-text value."""
        body = self._get(path, missing_ok=False)
        return (body or b"").decode("ascii", "replace").strip()

    def _json(self, path: str) -> Any:
        """GET a JSON value.

        Raises:
            ChainError: the body is not JSON.
        """
        body = self._get(path, missing_ok=False) or b""
        try:
            return json.loads(body)
        except ValueError:
            raise ChainError(
                f"esplora {self._base_url}{path}: expected JSON, got {body[:40]!r}"
            ) from None

    def _get(self, path: str, missing_ok: bool) -> bytes | None:
        """GET `path` with bounded retries; None for a 404 when `missing_ok`.

        Raises:
            ChainError: see the module (retries exhausted is retryable).
        """
        url = self._base_url + path

        def attempt() -> bytes | None:
            with self._calls_lock:
                self._calls += 1
            return self._get_once(url, missing_ok)

        return with_retries(self._retry, f"esplora {url}", attempt)

    def _get_once(self, url: str, missing_ok: bool) -> bytes | None:
        """Make one GET and classify its outcome."""
        try:
            with self._client.stream("GET", url) as response:
                body = _read_bounded(response)
        except httpx.TransportError as error:  # timeouts, refused, reset, protocol errors
            raise RetryableFault(f"{type(error).__name__}: {error}"[:MESSAGE_CHARS_MAX]) from None
        except httpx.DecodingError:
            raise ChainError(f"esplora {url}: expected a readable body, got bad encoding") from None
        status = response.status_code
        if status == HTTP_OK:
            return body
        text = body[:MESSAGE_CHARS_MAX].decode("utf-8", "replace")
        if status == HTTP_NOT_FOUND and missing_ok:
            return None
        if status in RETRYABLE_STATUSES:
            raise RetryableFault(f"HTTP {status}: {text}")
        if status in AUTH_STATUSES:
            raise ChainError(f"esplora {url}: access refused (HTTP {status})", retryable=False)
        raise ChainError(f"esplora {url}: expected HTTP 200, got {status}: {text}", retryable=False)


# --- reading answers ---------------------------------------------------------------------------


def _read_bounded(response: httpx.Response) -> bytes:
    """Read a body of at most RESPONSE_BYTES_MAX bytes.

    Raises:
        ChainError: the body is longer.
    """
    chunks: list[bytes] = []
    size = 0
    for chunk in response.iter_bytes():
        size += len(chunk)
        if size > RESPONSE_BYTES_MAX:
            raise ChainError(f"esplora {response.url}: a body above {RESPONSE_BYTES_MAX} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def _integer(text: str, what: str) -> int:
    """Read a non-negative decimal integer."""
    if not text.isascii() or not text.isdigit():
        raise ChainError(f"{what}: expected a decimal number, got {text[:40]!r}")
    return int(text)


def _object(value: Any, what: str) -> dict[str, Any]:
    return json_object(value, f"esplora {what}")


def _array(value: Any, what: str) -> list[Any]:
    return json_array(value, f"esplora {what}")


def _confirmed_height(status: Any, what: str) -> int | None:
    """Return the block height of a status object, None when unconfirmed."""
    item = _object(status, f"{what} status")
    confirmed = item.get("confirmed")
    if confirmed is False:
        return None
    if confirmed is not True:
        raise ChainError(f"esplora {what}: expected status.confirmed true or false")
    return check_height(item.get("block_height"), f"{what} block_height")


def _unspent_output(item: dict[str, Any], script_hex: str, tip: BlockRef) -> UnspentOutput:
    """Turn one `/utxo` element into an UnspentOutput (mempool: 0 confirmations)."""
    height = _confirmed_height(item.get("status"), "utxo")
    # An output mined above the reading's tip arrived during it: the tip check repeats it.
    confirmations = 0 if height is None else max(tip.height - height + 1, 0)
    vout = item.get("vout")
    if isinstance(vout, bool) or not isinstance(vout, int) or vout < 0:
        raise ChainError(f"esplora utxo: expected an output index, got {vout!r:.40}")
    return UnspentOutput(
        txid=check_hash(item.get("txid"), "utxo txid"),
        vout=vout,
        script_hex=script_hex,
        amount_sats=check_sats(item.get("value"), "utxo value"),
        confirmations=confirmations,
    )


def _esplora_flows(item: dict[str, Any]) -> TransactionFlows:
    """Read a confirmed Esplora transaction as flows."""
    status = _object(item.get("status"), "tx status")
    height = _confirmed_height(status, "tx")
    if height is None:
        raise ChainError("esplora txs/chain: expected confirmed transactions only")
    block = BlockRef(height, check_hash(status.get("block_hash"), "tx block_hash"))
    inputs: list[Flow] = []
    for entry in _array(item.get("vin"), "vin"):
        spent = _object(entry, "vin")
        if spent.get("is_coinbase") is not True:
            inputs.append(_esplora_flow(_object(spent.get("prevout"), "prevout")))
    outputs = [_esplora_flow(_object(entry, "vout")) for entry in _array(item.get("vout"), "vout")]
    return TransactionFlows(
        check_hash(item.get("txid"), "tx txid"), block, tuple(inputs), tuple(outputs)
    )


def _esplora_flow(item: dict[str, Any]) -> Flow:
    """Read an output (`vout[]` or an input's `prevout`) as a Flow."""
    script = item.get("scriptpubkey")
    if not isinstance(script, str):
        raise ChainError("esplora output: expected a scriptpubkey in hex")
    address = item.get("scriptpubkey_address")
    return Flow(
        script_hex=script.lower(),
        address=address if isinstance(address, str) else None,
        amount_sats=check_sats(item.get("value"), "output value"),
    )
