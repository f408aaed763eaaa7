"""Watching Bitcoin custody addresses: Bitcoin Core (scan and wallet modes) and Esplora.

Against the regtest stand-ins (both over one chain) the readers must agree on balances,
respect confirmations, see a theft and a reorg, and make exactly the calls they promise.
Faults come from the stand-in itself (warm-up, a scan already running, a wrong cookie) or
from a scripted local server (garbage, slowness, busy answers, refusals).
"""

from __future__ import annotations

import hashlib
import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from bitcoin.rpc import RawProxy  # type: ignore[import-untyped]

from sequestra.chains.bitcoin.core_reader import BitcoinCoreReader
from sequestra.chains.bitcoin.esplora import EsploraReader
from sequestra.chains.bitcoin.readers import open_bitcoin_reader
from sequestra.chains.observation import BlockRef, ChainError, ChainReader, ChainReading
from sequestra.config.bitcoin import BitcoinCoreMode, BitcoinWatchSettings
from sequestra.custody.assets import Asset
from sequestra_sandbox.bitcoin import BitcoinSandbox, running_bitcoin_sandbox
from sequestra_sandbox.bitcoin.chain import encode_segwit_address

BTC = Asset("bitcoin:BTC", "bitcoin", "BTC", "native", None, 8)
MINER = "miner"
CUSTODY = "custody"
WATCHED_COUNT = 40
FUNDED_COUNT = 30
FEE_SATS = 1_000
TIMEOUT_S = 10.0
REGTEST_GENESIS = "0f9188f13cb7b2c71f2a335e3a4fc328bf5beb436012afca590b1a11466e2206"
MAINNET_GENESIS = "000000000019d6689c085ae165831e934ff763ae46a2a6c172b3f1b60a8ce26f"
SCRIPTED_TIP = BlockRef(5, "5a" * 32)


def made_up_addresses(count: int, seed: str) -> list[str]:
    """Regtest P2WPKH addresses nobody holds the keys of (cheaper than a wallet's)."""
    return [
        encode_segwit_address(0, hashlib.sha256(f"{seed}/{n}".encode()).digest()[:20])
        for n in range(count)
    ]


def _btc(sats: int) -> str:
    return f"{sats // 100_000_000}.{sats % 100_000_000:08d}"


class Chain:
    """The sandbox seen from a test: RPC proxies, a funded miner, a custody wallet."""

    def __init__(self, sandbox: BitcoinSandbox) -> None:
        self.sandbox = sandbox
        self.credentials = sandbox.cookie_path.read_text()
        self.rpc().createwallet(CUSTODY)

    def rpc(self, wallet: str | None = None) -> Any:
        path = f"/wallet/{wallet}" if wallet else "/"
        url = self.sandbox.rpc_url.replace("://", f"://{self.credentials}@") + path
        return RawProxy(service_url=url, timeout=TIMEOUT_S)

    def new_addresses(self, count: int, wallet: str = CUSTODY) -> list[str]:
        proxy = self.rpc(wallet)
        return [proxy.getnewaddress() for _ in range(count)]

    def mine(self, count: int = 1) -> list[str]:
        (address,) = self.new_addresses(1, MINER)
        blocks: list[str] = self.rpc().generatetoaddress(count, address)
        return blocks

    def pay(self, amounts: dict[str, int]) -> str:
        """Pay every address its amount (sats) in one transaction from the miner."""
        miner = self.rpc(MINER)
        coins = miner.listunspent(0)
        coin = max(coins, key=lambda item: item["amount"])
        outputs = {address: _btc(sats) for address, sats in amounts.items()}
        raw = self.rpc().createrawtransaction(
            [{"txid": coin["txid"], "vout": coin["vout"]}], outputs
        )
        funded = miner.fundrawtransaction(raw)
        signed = miner.signrawtransactionwithwallet(funded["hex"])
        txid: str = self.rpc().sendrawtransaction(signed["hex"])
        return txid

    def steal(self, address: str, thief: str) -> tuple[str, int]:
        """Spend every output of a custody address to `thief`; return (txid, sats taken)."""
        custody = self.rpc(CUSTODY)
        coins = custody.listunspent(0, 9_999_999, [address])
        total = sum(int(coin["amount"] * 100_000_000) for coin in coins)
        inputs = [{"txid": coin["txid"], "vout": coin["vout"]} for coin in coins]
        raw = self.rpc().createrawtransaction(inputs, {thief: _btc(total - FEE_SATS)})
        signed = custody.signrawtransactionwithwallet(raw)
        txid: str = self.rpc().sendrawtransaction(signed["hex"])
        return txid, total


@pytest.fixture
def chain(tmp_path: Path) -> Iterator[Chain]:
    """Both stand-ins over a fresh chain, a funded `miner` and an empty `custody` wallet."""
    with running_bitcoin_sandbox(tmp_path, funded_wallet=MINER) as sandbox:
        yield Chain(sandbox)


def core_reader(chain: Chain, mode: BitcoinCoreMode, **overrides: Any) -> BitcoinCoreReader:
    settings = BitcoinWatchSettings(
        rpc_url=chain.sandbox.rpc_url,
        cookie_file=chain.sandbox.cookie_path,
        mode=mode,
        **overrides,
    )
    return BitcoinCoreReader(settings, "regtest", sleep=_no_sleep)


def esplora_reader(url: str, **overrides: Any) -> EsploraReader:
    settings = BitcoinWatchSettings(backend="esplora", esplora_url=url, **overrides)
    return EsploraReader(settings, "regtest", sleep=_no_sleep)


def _no_sleep(seconds: float) -> None:
    """Retries in tests do not wait."""


def _amounts(reading: ChainReading) -> dict[str, tuple[int, int]]:
    return {b.address: (b.amount_base, b.pending_base) for b in reading.balances}


def _readers(chain: Chain, **overrides: Any) -> dict[str, ChainReader]:
    return {
        "scan": core_reader(chain, "scan", **overrides),
        "wallet": core_reader(chain, "wallet", **overrides),
        "esplora": esplora_reader(chain.sandbox.esplora_url, **overrides),
    }


# --- balances ------------------------------------------------------------------------------------


def test_readers_and_modes_agree_on_many_addresses_with_exact_calls(chain: Chain) -> None:
    watched = made_up_addresses(WATCHED_COUNT, "agree")
    amounts = {address: 10_000 * (n + 1) for n, address in enumerate(watched[:FUNDED_COUNT])}
    chain.pay(amounts)
    chain.mine()
    chain.rpc().generatetoaddress(1, watched[-1])  # an immature coinbase counts too
    expected = {address: (amounts.get(address, 0), 0) for address in watched}
    expected[watched[-1]] = (50 * 100_000_000, 0)
    scan = core_reader(chain, "scan", scan_chunk_addresses=7)
    wallet = core_reader(chain, "wallet", wallet_chunk_addresses=9)
    esplora = esplora_reader(chain.sandbox.esplora_url)
    readings = {
        name: r.read_balances(watched, [BTC], None)
        for name, r in (("scan", scan), ("wallet", wallet), ("esplora", esplora))
    }
    for name, reading in readings.items():
        assert _amounts(reading) == expected, name
        assert reading.block == readings["scan"].block
        assert (reading.chain, reading.network, reading.movements) == ("bitcoin", "regtest", ())
    # network check once; 40 addresses in chunks of 7 = 6 scans (each names its block)
    assert readings["scan"].calls == 1 + 6
    # + getnetworkinfo, listwallets, loadwallet (missing), createwallet, listdescriptors;
    # getwalletinfo (no rescan running); 5 imports; tip; 5 listings; tip again
    assert readings["wallet"].calls == 1 + 5 + 1 + 5 + 2 + 5 + 1
    # genesis once; tip 2; one /utxo per address; tip hash again
    assert readings["esplora"].calls == 1 + 2 + WATCHED_COUNT + 1
    assert scan.read_balances(watched, [BTC], None).calls == 6
    assert wallet.read_balances(watched, [BTC], None).calls == 1 + 2 + 5 + 1
    assert esplora.read_balances(watched, [BTC], None).calls == 2 + WATCHED_COUNT + 1


def test_scan_calls_grow_with_chunks_not_addresses(chain: Chain) -> None:
    reader = core_reader(chain, "scan", scan_chunk_addresses=500)
    reader.read_balances([], [BTC], None)  # the one-off network check
    for count in (1, 40, 500):
        addresses = made_up_addresses(count, "chunks")
        assert reader.read_balances(addresses, [BTC], None).calls == 1
    assert reader.read_balances(made_up_addresses(501, "chunks"), [BTC], None).calls == 2
    assert reader.read_balances(made_up_addresses(3, "chunks"), [], None).balances == ()


def test_confirmations_min_keeps_new_outputs_pending(chain: Chain) -> None:
    watched = made_up_addresses(5, "confirmations")
    amounts = {address: 1_000_000 + n for n, address in enumerate(watched)}
    chain.pay(amounts)
    readers = _readers(chain, confirmations_min=3)
    in_mempool = {
        name: _amounts(r.read_balances(watched, [BTC], None)) for name, r in readers.items()
    }
    assert in_mempool["scan"] == dict.fromkeys(watched, (0, 0))  # the UTXO set has no mempool
    for name in ("wallet", "esplora"):
        assert in_mempool[name] == {a: (0, sats) for a, sats in amounts.items()}, name
    for blocks, expected in ((1, lambda s: (0, s)), (1, lambda s: (0, s)), (1, lambda s: (s, 0))):
        chain.mine(blocks)
        for name, reader in readers.items():
            reading = reader.read_balances(watched, [BTC], None)
            assert _amounts(reading) == {a: expected(s) for a, s in amounts.items()}, name


# --- theft, reorg ----------------------------------------------------------------------------


def test_a_theft_lowers_the_balance_and_shows_as_a_movement(chain: Chain) -> None:
    watched = chain.new_addresses(6)
    amounts = {address: 2_000_000 * (n + 1) for n, address in enumerate(watched)}
    chain.pay(amounts)
    chain.mine()
    readers = _readers(chain)
    before = {name: r.read_balances(watched, [BTC], None) for name, r in readers.items()}
    (thief,) = chain.new_addresses(1, MINER)
    txid, taken = chain.steal(watched[2], thief)
    assert taken == amounts[watched[2]]
    unconfirmed = {n: _amounts(r.read_balances(watched, [BTC], None)) for n, r in readers.items()}
    assert unconfirmed["scan"][watched[2]] == (taken, 0)  # seen only once the spend confirms
    assert unconfirmed["wallet"][watched[2]] == unconfirmed["esplora"][watched[2]] == (0, 0)
    (block_hash,) = chain.mine()
    for name, reader in readers.items():
        reading = reader.read_balances(watched, [BTC], before[name].block)
        assert _amounts(reading)[watched[2]] == (0, 0), name
        assert sum(b.amount_base for b in reading.balances) == sum(amounts.values()) - taken
        (movement,) = reading.movements
        assert (movement.tx, movement.block) == (txid, BlockRef(reading.block.height, block_hash))
        assert (movement.from_address, movement.to_address) == (watched[2], thief)
        assert (movement.asset_id, movement.amount_base) == ("bitcoin:BTC", taken)


def test_movements_cover_every_block_since_and_no_more(chain: Chain) -> None:
    watched = made_up_addresses(3, "movements")
    readers = _readers(chain)
    since = readers["scan"].read_balances(watched, [BTC], None).block
    first = chain.pay({watched[0]: 50_000})
    chain.mine()
    second = chain.pay({watched[1]: 70_000, watched[2]: 80_000})
    chain.mine(2)
    for name, reader in readers.items():
        reading = reader.read_balances(watched, [BTC], since)
        moved = [(m.block.height, m.tx, m.to_address, m.amount_base) for m in reading.movements]
        assert moved == sorted(  # the readers' one order: height, txid, addresses
            [
                (since.height + 1, first, watched[0], 50_000),
                (since.height + 2, second, watched[1], 70_000),
                (since.height + 2, second, watched[2], 80_000),
            ]
        ), name
        assert reader.read_balances(watched, [BTC], reading.block).movements == ()


def test_a_reorg_changes_block_hash_at_and_unconfirms_outputs(chain: Chain) -> None:
    (address,) = made_up_addresses(1, "reorg")
    chain.pay({address: 300_000})
    (mined,) = chain.mine()
    readers = _readers(chain)
    height = readers["scan"].read_balances([address], [BTC], None).block.height
    for reader in readers.values():
        assert reader.block_hash_at(height) == mined
        assert reader.block_hash_at(0) == REGTEST_GENESIS
        assert reader.block_hash_at(height + 1) is None
    chain.rpc().invalidateblock(mined)
    for name, reader in readers.items():
        assert reader.block_hash_at(height) is None, name
        reading = reader.read_balances([address], [BTC], None)
        assert reading.block.height == height - 1
        pending = 0 if name == "scan" else 300_000  # back in the mempool
        assert _amounts(reading) == {address: (0, pending)}, name
    (replacement,) = chain.mine()
    for reader in readers.values():
        assert reader.block_hash_at(height) == replacement != mined
        assert reader.read_balances([address], [BTC], None).balances[0].amount_base == 300_000


def test_a_movement_gap_beyond_the_bound_is_refused(chain: Chain) -> None:
    (address,) = made_up_addresses(1, "gap")
    scan = core_reader(chain, "scan", movement_blocks_max=2)
    since = scan.read_balances([address], [BTC], None).block
    chain.mine(3)
    with pytest.raises(ChainError, match="at most 2 blocks since block") as caught:
        scan.read_balances([address], [BTC], since)
    assert caught.value.retryable is False
    esplora = esplora_reader(chain.sandbox.esplora_url, esplora_pages_max=1)
    miner = chain.rpc(MINER)
    for _ in range(26):
        miner.sendtoaddress(address, "0.001")
    chain.mine()
    with pytest.raises(ChainError, match="at most 1 history pages") as caught:
        esplora.read_balances([address], [BTC], since)
    assert caught.value.retryable is False


def test_settings_choose_the_reader(chain: Chain) -> None:
    core = BitcoinWatchSettings(
        rpc_url=chain.sandbox.rpc_url, cookie_file=chain.sandbox.cookie_path
    )
    assert isinstance(open_bitcoin_reader(core, "regtest"), BitcoinCoreReader)
    esplora = BitcoinWatchSettings(backend="esplora", esplora_url=chain.sandbox.esplora_url)
    assert isinstance(open_bitcoin_reader(esplora, "regtest"), EsploraReader)
    with pytest.raises(ValueError, match="network"):
        open_bitcoin_reader(core, "testnet4")


# --- faults: the stand-in ----------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def test_a_node_that_is_down_fails_after_bounded_retries(tmp_path: Path) -> None:
    port = _free_port()
    cookie = tmp_path / ".cookie"
    cookie.write_text("__cookie__:" + "ab" * 32)
    for backend, settings in (
        ("core", BitcoinWatchSettings(rpc_url=f"http://127.0.0.1:{port}", cookie_file=cookie)),
        (
            "esplora",
            BitcoinWatchSettings(backend="esplora", esplora_url=f"http://127.0.0.1:{port}"),
        ),
    ):
        pauses: list[float] = []
        reader = open_bitcoin_reader(
            settings.model_copy(update={"retry_attempts_max": 3}), "regtest", sleep=pauses.append
        )
        with pytest.raises(ChainError, match="within 3 attempt") as caught:
            reader.read_balances([], [BTC], None)
        assert caught.value.retryable is True, backend
        assert pauses == [0.5, 1.0], backend


def test_a_wrong_cookie_is_refused_at_once(chain: Chain, tmp_path: Path) -> None:
    secret = "cd" * 32
    cookie = tmp_path / ".cookie"
    cookie.write_text(f"__cookie__:{secret}")
    pauses: list[float] = []
    settings = BitcoinWatchSettings(rpc_url=chain.sandbox.rpc_url, cookie_file=cookie)
    reader = BitcoinCoreReader(settings, "regtest", sleep=pauses.append)
    with pytest.raises(ChainError, match=r"credentials refused \(HTTP 401\)") as caught:
        reader.read_balances([], [BTC], None)
    assert (caught.value.retryable, pauses) == (False, [])
    assert secret not in str(caught.value)
    cookie.write_text(chain.sandbox.cookie_path.read_text())  # the cookie is read per reading
    assert reader.read_balances([], [BTC], None).block.height == 101


def test_a_node_of_another_network_is_refused(chain: Chain) -> None:
    core = BitcoinWatchSettings(
        rpc_url=chain.sandbox.rpc_url, cookie_file=chain.sandbox.cookie_path
    )
    with pytest.raises(ChainError, match="expected a mainnet node") as caught:
        BitcoinCoreReader(core, "mainnet").read_balances([], [BTC], None)
    assert caught.value.retryable is False
    esplora = BitcoinWatchSettings(backend="esplora", esplora_url=chain.sandbox.esplora_url)
    with pytest.raises(ChainError, match="expected a signet server") as caught:
        EsploraReader(esplora, "signet").read_balances([], [BTC], None)
    assert caught.value.retryable is False


def _recording_sleep(pauses: list[float]) -> Callable[[float], None]:
    def sleep(seconds: float) -> None:
        pauses.append(seconds)
        time.sleep(seconds)

    return sleep


def test_warm_up_is_waited_out(tmp_path: Path) -> None:
    with running_bitcoin_sandbox(tmp_path, warmup_s=0.5) as sandbox:
        pauses: list[float] = []
        for settings in (
            BitcoinWatchSettings(rpc_url=sandbox.rpc_url, cookie_file=sandbox.cookie_path),
            BitcoinWatchSettings(backend="esplora", esplora_url=sandbox.esplora_url),
        ):
            tuned = settings.model_copy(
                update={
                    "retry_attempts_max": 10,
                    "retry_backoff_s": 0.1,
                    "retry_backoff_s_max": 0.2,
                }
            )
            reader = open_bitcoin_reader(tuned, "regtest", sleep=_recording_sleep(pauses))
            assert reader.read_balances([], [BTC], None).block.height == 0
        assert pauses  # the first reader met -28 (Core) before the node was up


class FakeTime:
    """A clock that moves only when the reader sleeps; `on_sleep` runs after each pause."""

    def __init__(self, on_sleep: Callable[[int], None] | None = None) -> None:
        self.now_s = 0.0
        self.pauses: list[float] = []
        self.on_sleep = on_sleep

    def sleep(self, seconds: float) -> None:
        self.pauses.append(seconds)
        self.now_s += seconds
        if self.on_sleep is not None:
            self.on_sleep(len(self.pauses))

    def clock(self) -> float:
        return self.now_s


def _timed_core_reader(sandbox: BitcoinSandbox, time_: FakeTime, **overrides: Any) -> Any:
    settings = BitcoinWatchSettings(
        rpc_url=sandbox.rpc_url, cookie_file=sandbox.cookie_path, **overrides
    )
    return BitcoinCoreReader(settings, "regtest", sleep=time_.sleep, clock=time_.clock)


@contextmanager
def another_scan_held(sandbox: BitcoinSandbox) -> Iterator[Callable[[], None]]:
    """Start another client's scan and hold it open (a mainnet scan takes minutes).

    Yields `finish`, which lets that scan end and waits until the node has no scan.
    """
    chain = Chain(sandbox)
    node = sandbox.standin.node
    release = threading.Event()
    node.scan_finished_hook = lambda scan: release.wait(TIMEOUT_S)
    other = threading.Thread(target=lambda: chain.rpc().scantxoutset("start", []))
    other.start()
    deadline = time.monotonic() + TIMEOUT_S
    while chain.rpc().scantxoutset("status") is None and time.monotonic() < deadline:
        time.sleep(0.01)
    node.scan_finished_hook = None  # only the other scan is held

    def finish() -> None:
        release.set()
        other.join(TIMEOUT_S)

    try:
        yield finish
    finally:
        finish()


def test_a_long_scan_of_another_client_is_waited_for_by_its_progress(tmp_path: Path) -> None:
    with running_bitcoin_sandbox(tmp_path) as sandbox, another_scan_held(sandbox) as finish:
        time_ = FakeTime(lambda pauses: finish() if pauses == 20 else None)
        reader = _timed_core_reader(sandbox, time_, progress_poll_s=30, retry_attempts_max=2)
        reading = reader.read_balances([WATCHED], [BTC], None)
    # 20 polls of `scantxoutset status` 30 s apart (ten minutes), not a few quick retries
    assert time_.pauses == [30] * 20
    assert reading.calls == 1 + 1 + 21 + 1  # network; busy start; status polls; the scan


def test_a_scan_running_beyond_scan_wait_s_max_fails_with_its_progress(tmp_path: Path) -> None:
    with running_bitcoin_sandbox(tmp_path) as sandbox, another_scan_held(sandbox):
        time_ = FakeTime()
        reader = _timed_core_reader(sandbox, time_, progress_poll_s=60, scan_wait_s_max=300)
        with pytest.raises(ChainError, match=r"scan_wait_s_max = 300 s.*progress 0 %") as caught:
            reader.read_balances([WATCHED], [BTC], None)
    assert caught.value.retryable is True
    assert time_.pauses == [60] * 5


def test_blocks_mined_between_chunks_are_reconciled_at_the_last_chunks_block(
    chain: Chain,
) -> None:
    custody = chain.new_addresses(2)
    watched = [*custody, *made_up_addresses(19, "between")]  # chunks of 7: three scans
    chain.pay({custody[0]: 400_000, custody[1]: 500_000, watched[12]: 600_000})
    chain.mine()
    (thief,) = chain.new_addresses(1, MINER)
    scans: list[int] = []

    def between_chunks(scan: Any) -> None:
        scans.append(1)
        if len(scans) == 1:  # after the first chunk: a theft from it and payments to all
            chain.steal(custody[0], thief)
            chain.pay({watched[3]: 70_000, watched[10]: 80_000, watched[20]: 90_000})
            chain.mine()
        elif len(scans) == 2:  # after the second: a payment to the first chunk
            chain.pay({watched[5]: 110_000})
            chain.mine()

    chain.sandbox.standin.node.scan_finished_hook = between_chunks
    scan = core_reader(chain, "scan", scan_chunk_addresses=7, tip_attempts_max=1)
    reading = scan.read_balances(watched, [BTC], None)
    chain.sandbox.standin.node.scan_finished_hook = None
    assert len(scans) == 3
    expected = esplora_reader(chain.sandbox.esplora_url).read_balances(watched, [BTC], None)
    assert reading.block == expected.block
    assert _amounts(reading) == _amounts(expected)
    assert _amounts(reading)[custody[0]] == (0, 0)
    assert _amounts(reading)[watched[5]] == (110_000, 0)
    # confirmations count from the reading's block: the last payment has one
    assert _amounts(
        core_reader(chain, "scan", scan_chunk_addresses=7, confirmations_min=2).read_balances(
            watched, [BTC], None
        )
    )[watched[5]] == (0, 110_000)


def test_one_scan_reads_every_address_by_default(chain: Chain) -> None:
    reader = core_reader(chain, "scan")
    addresses = made_up_addresses(2_000, "one-scan")
    assert reader.read_balances(addresses, [BTC], None).calls == 1 + 1


def test_http_403_names_the_nodes_allow_lists_not_the_credentials(tmp_path: Path) -> None:
    with running_bitcoin_sandbox(tmp_path, rpc_whitelist=("getblockchaininfo",)) as sandbox:
        settings = BitcoinWatchSettings(rpc_url=sandbox.rpc_url, cookie_file=sandbox.cookie_path)
        reader = BitcoinCoreReader(settings, "regtest", sleep=_no_sleep)
        with pytest.raises(ChainError, match=r"scantxoutset forbidden \(HTTP 403\)") as caught:
            reader.read_balances([WATCHED], [BTC], None)
    assert "-rpcwhitelist" in str(caught.value) and "-rpcallowip" in str(caught.value)
    assert "credentials refused" not in str(caught.value)
    assert caught.value.retryable is False


def test_a_legacy_wallet_of_the_watch_wallets_name_asks_for_migration(tmp_path: Path) -> None:
    with running_bitcoin_sandbox(tmp_path, legacy_wallets=("sequestra-watch",)) as sandbox:
        reader = core_reader(Chain(sandbox), "wallet")
        with pytest.raises(ChainError, match="migratewallet sequestra-watch") as caught:
            reader.read_balances([WATCHED], [BTC], None)
    assert "Database already exists" not in str(caught.value)
    assert caught.value.retryable is False


def test_wallet_mode_refuses_a_node_older_than_v25_at_start(tmp_path: Path) -> None:
    with running_bitcoin_sandbox(tmp_path, node_version=240100) as sandbox:
        chain = Chain(sandbox)
        with pytest.raises(ChainError, match=r"v25 or later.*Satoshi:24\.1\.0") as caught:
            core_reader(chain, "wallet").read_balances([WATCHED], [BTC], None)
        assert caught.value.retryable is False
        assert "sequestra-watch" not in chain.rpc().listwallets()  # refused before creating
        assert core_reader(chain, "scan").read_balances([WATCHED], [BTC], None).balances


def test_a_wallet_rescan_outliving_the_import_call_is_waited_for_and_resumed(
    tmp_path: Path,
) -> None:
    with running_bitcoin_sandbox(tmp_path, funded_wallet=MINER) as sandbox:
        chain = Chain(sandbox)
        watched = chain.new_addresses(3)
        chain.pay({watched[0]: 700_000, watched[2]: 900_000})
        chain.mine()
        node = sandbox.standin.node
        release = threading.Event()
        rescans: list[str] = []

        def hold(name: str) -> None:  # a mainnet rescan takes hours: held until released
            rescans.append(name)
            release.wait(TIMEOUT_S)

        def finish_after_two_polls(pauses: int) -> None:
            if time_.pauses[-1] == 60 and time_.pauses.count(60) == 2:
                release.set()
                deadline = time.monotonic() + TIMEOUT_S
                while node.rescans and time.monotonic() < deadline:
                    time.sleep(0.01)

        node.rescan_hook = hold
        time_ = FakeTime(finish_after_two_polls)
        overrides = {"mode": "wallet", "wallet_rescan_from_s": 1, "progress_poll_s": 60}
        # the import call times out while the node rescans; its retry meets -4
        reader = _timed_core_reader(sandbox, time_, timeout_s=2.0, **overrides)
        reading = reader.read_balances(watched, [BTC], None)
        assert _amounts(reading) == {
            watched[0]: (700_000, 0),
            watched[1]: (0, 0),
            watched[2]: (900_000, 0),
        }
        assert time_.pauses.count(60) == 2  # getwalletinfo polls while the rescan ran
        assert reader.read_balances(watched, [BTC], None).balances == reading.balances
        restarted = _timed_core_reader(sandbox, FakeTime(), **overrides)
        assert restarted.read_balances(watched, [BTC], None).balances == reading.balances
        assert rescans == ["sequestra-watch"]  # one rescan: never started over


def test_a_wallet_rescan_beyond_rescan_wait_s_max_fails_and_is_not_restarted(
    tmp_path: Path,
) -> None:
    with running_bitcoin_sandbox(tmp_path) as sandbox:
        node = sandbox.standin.node
        release = threading.Event()
        node.rescan_hook = lambda name: release.wait(TIMEOUT_S)
        overrides = {
            "mode": "wallet",
            "wallet_rescan_from_s": 1,
            "progress_poll_s": 60,
            "rescan_wait_s_max": 120,
        }
        reader = _timed_core_reader(sandbox, FakeTime(), timeout_s=1.0, **overrides)
        try:
            with pytest.raises(ChainError, match=r"rescan_wait_s_max = 120 s") as caught:
                reader.read_balances([WATCHED], [BTC], None)
            assert caught.value.retryable is True
            # the next reading waits again; it does not import (and rescan) again
            with pytest.raises(ChainError, match=r"rescan_wait_s_max = 120 s"):
                reader.read_balances([WATCHED], [BTC], None)
        finally:
            release.set()


# --- faults: a scripted server -----------------------------------------------------------------


class _QuietServer(ThreadingHTTPServer):
    """A test server whose clients may hang up early (timeouts) without noise."""

    daemon_threads = True
    block_on_close = False

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that timed out closed its end: nothing to report."""


Answer = tuple[int, str, bytes, float]  # status, content type, body, delay before answering
Respond = Callable[[str, bytes], Answer]  # (path, request body) -> answer


@contextmanager
def scripted_server(respond: Respond) -> Iterator[tuple[str, list[str]]]:
    """Serve every request with `respond(path, body)`; yield the URL and the paths asked."""
    asked: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            request = self.rfile.read(length)
            asked.append(self.path)
            status, content_type, body, delay_s = respond(self.path, request)
            time.sleep(delay_s)
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_POST = do_GET

        def log_message(self, format: str, *args: Any) -> None:
            """Quiet."""

    server = _QuietServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=lambda: server.serve_forever(poll_interval=0.05))
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}", asked
    finally:
        server.shutdown()
        server.server_close()
        thread.join(TIMEOUT_S)


def _core_settings(url: str, **overrides: Any) -> BitcoinWatchSettings:
    return BitcoinWatchSettings(rpc_url=url.replace("://", "://user:password@"), **overrides)


def _constant(answer: Answer) -> Respond:
    return lambda path, request: answer


def test_core_garbage_is_a_chain_error_without_retries() -> None:
    for body in (b"<html>not json</html>", b"\xff\xfe\x00", b"[1, 2]", b'{"result": "main"}'):
        with scripted_server(_constant((200, "text/html", body, 0.0))) as (url, asked):
            reader = BitcoinCoreReader(_core_settings(url), "regtest", sleep=_no_sleep)
            with pytest.raises(ChainError, match="getblockchaininfo"):
                reader.read_balances([], [BTC], None)
            assert len(asked) == 1, body


def test_core_slow_answers_time_out_and_are_retried_a_bounded_number_of_times() -> None:
    with scripted_server(_constant((200, "application/json", b"{}", 1.0))) as (url, asked):
        settings = _core_settings(url, timeout_s=0.2, retry_attempts_max=2)
        reader = BitcoinCoreReader(settings, "regtest", sleep=_no_sleep)
        started = time.monotonic()
        with pytest.raises(ChainError, match=r"within 2 attempt.*TimeoutError") as caught:
            reader.read_balances([], [BTC], None)
        assert time.monotonic() - started < 1.0
        assert caught.value.retryable is True
        assert len(asked) == 2


def _core_answers(path: str, request: bytes) -> Answer:
    """Answer a reading of no address, as a regtest node at SCRIPTED_TIP would."""
    method = json.loads(request)["method"]
    results = {
        "getblockchaininfo": {"chain": "regtest"},
        "getbestblockhash": SCRIPTED_TIP.block_hash,
        "getblockheader": {"hash": SCRIPTED_TIP.block_hash, "height": SCRIPTED_TIP.height},
    }
    body = json.dumps({"result": results[method], "error": None, "id": 1}).encode()
    return 200, "application/json", body, 0.0


def test_core_busy_then_ok() -> None:
    failures = iter([(503, "text/plain", b"Work queue depth exceeded", 0.0)] * 2)
    with scripted_server(
        lambda path, request: next(failures, None) or _core_answers(path, request)
    ) as (
        url,
        asked,
    ):
        pauses: list[float] = []
        reader = BitcoinCoreReader(_core_settings(url), "regtest", sleep=pauses.append)
        reading = reader.read_balances([], [BTC], None)
    assert (reading.block, reading.calls, len(asked)) == (SCRIPTED_TIP, 5, 5)
    assert pauses == [0.5, 1.0]


def _esplora_answers(utxo_body: bytes) -> Respond:
    def respond(path: str, request: bytes) -> Answer:
        if path.endswith("/block-height/0"):
            return 200, "text/plain", REGTEST_GENESIS.encode(), 0.0
        if path.endswith("/blocks/tip/height"):
            return 200, "text/plain", b"5", 0.0
        if path.endswith("/block-height/5") or path.endswith("/blocks/tip/hash"):
            return 200, "text/plain", SCRIPTED_TIP.block_hash.encode(), 0.0
        if path.endswith("/utxo"):
            return 200, "application/json", utxo_body, 0.0
        return 404, "text/plain", b"endpoint does not exist", 0.0

    return respond


SCRIPTED_UTXOS = json.dumps(
    [
        {
            "txid": "11" * 32,
            "vout": 0,
            "status": {
                "confirmed": True,
                "block_height": 5,
                "block_hash": "5a" * 32,
                "block_time": 1,
            },
            "value": 1234,
        },
        {"txid": "22" * 32, "vout": 1, "status": {"confirmed": False}, "value": 66},
    ]
).encode()
WATCHED = "bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt080"
BAD_TXID_UTXOS = b'[{"txid": "zz", "vout": 0, "status": {"confirmed": false}, "value": 1}]'


@pytest.mark.parametrize(
    "failure",
    [
        (503, "text/plain", b"Loading block index", 0.0),
        (429, "text/html", b"<html><body>429 Too Many Requests</body></html>", 0.0),
        (502, "text/plain", b"", 0.0),
    ],
)
def test_esplora_busy_twice_then_ok(failure: Answer) -> None:
    failures = iter([failure, failure])
    happy = _esplora_answers(SCRIPTED_UTXOS)
    with scripted_server(lambda path, request: next(failures, None) or happy(path, request)) as (
        url,
        asked,
    ):
        pauses: list[float] = []
        settings = BitcoinWatchSettings(backend="esplora", esplora_url=url)
        reading = EsploraReader(settings, "regtest", sleep=pauses.append).read_balances(
            [WATCHED], [BTC], None
        )
    assert pauses == [0.5, 1.0]
    assert reading.block == SCRIPTED_TIP
    assert _amounts(reading) == {WATCHED: (1234, 66)}
    assert reading.calls == len(asked) == 2 + 1 + 2 + 1 + 1


@pytest.mark.parametrize(
    ("answer", "message", "retryable"),
    [
        (
            (400, "text/plain", b"Too many unspent transaction outputs (>500).", 0.0),
            "Too many unspent",
            False,
        ),
        ((401, "text/plain", b"", 0.0), r"access refused \(HTTP 401\)", False),
        ((200, "application/json", b"<html>", 0.0), "expected JSON", True),
        ((200, "application/json", b'{"not": "a list"}', 0.0), "expected a JSON array", True),
        ((200, "application/json", BAD_TXID_UTXOS, 0.0), "64 lower-case hex", True),
    ],
)
def test_esplora_refusals_and_garbage_are_chain_errors(
    answer: Answer, message: str, retryable: bool
) -> None:
    happy = _esplora_answers(SCRIPTED_UTXOS)

    def respond(path: str, request: bytes) -> Answer:
        return answer if path.endswith("/utxo") else happy(path, request)

    with scripted_server(respond) as (url, asked):
        settings = BitcoinWatchSettings(backend="esplora", esplora_url=url)
        reader = EsploraReader(settings, "regtest", sleep=_no_sleep)
        with pytest.raises(ChainError, match=message) as caught:
            reader.read_balances([WATCHED], [BTC], None)
    assert caught.value.retryable is retryable
    assert sum(path.endswith("/utxo") for path in asked) == 1


def test_esplora_slow_answers_time_out() -> None:
    with scripted_server(_constant((200, "text/plain", b"0", 1.0))) as (url, asked):
        settings = BitcoinWatchSettings(
            backend="esplora", esplora_url=url, timeout_s=0.2, retry_attempts_max=2
        )
        started = time.monotonic()
        with pytest.raises(ChainError, match=r"within 2 attempt.*Timeout"):
            EsploraReader(settings, "regtest", sleep=_no_sleep).read_balances([], [BTC], None)
        assert time.monotonic() - started < 1.0
        assert len(asked) == 2


def test_esplora_of_another_network_is_refused() -> None:
    with scripted_server(_constant((200, "text/plain", MAINNET_GENESIS.encode(), 0.0))) as (
        url,
        _,
    ):
        settings = BitcoinWatchSettings(backend="esplora", esplora_url=url)
        with pytest.raises(ChainError, match="expected a regtest server") as caught:
            EsploraReader(settings, "regtest").read_balances([], [BTC], None)
    assert caught.value.retryable is False
