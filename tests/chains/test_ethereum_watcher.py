"""The Ethereum watcher against a real anvil node, and against a node that misbehaves."""

from __future__ import annotations

import dataclasses
import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from eth_abi.abi import encode
from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_utils.crypto import keccak

from sequestra.chains.ethereum.rpc import EthereumRpc
from sequestra.chains.ethereum.watcher import EthereumReader
from sequestra.chains.observation import BlockRef, ChainError, ChainReader, ChainReading
from sequestra.config.ethereum import CANONICAL_MULTICALL3_ADDRESS, EthereumWatchSettings
from sequestra.custody.assets import BTC, ETH, USDT, Asset
from sequestra_sandbox.anvil import ANVIL_CHAIN_ID, AnvilNode, rpc_call, running_anvil
from sequestra_sandbox.ethereum import SandboxEthereum, token_asset

WATCHED_COUNT = 10
FINALITY_DEPTH_BLOCKS = 64  # anvil: finalized = latest - 64, safe = latest - 32
SAFE_DEPTH_BLOCKS = 32
OUTSIDER = "0x000000000000000000000000000000000000dEaD"
ETHER_WEI = 10**18
SERVER_POLL_S = 0.02  # how soon the fake node notices it should stop


def watched_account(index: int) -> LocalAccount:
    account: LocalAccount = Account.from_key(keccak(text=f"sequestra/test/watched/{index}"))
    return account


def closed_port_url() -> str:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}"


@dataclass
class World:
    """One anvil with a Multicall3, two tokens and ten funded watched addresses."""

    node: AnvilNode
    sandbox: SandboxEthereum
    multicall: str
    susd: Asset
    seur: Asset
    watched: tuple[str, ...]
    minted: dict[tuple[str, str], int]  # (address, asset id) -> base units
    funded: BlockRef  # the finalized block once everything above was mined

    def reader(self, **overrides: object) -> ChainReader:
        values: dict[str, object] = {
            "rpc_url": self.node.rpc_url,
            "chain_id": ANVIL_CHAIN_ID,
            "multicall_address": self.multicall,
            "retry_attempts_max": 1,
        }
        return EthereumReader(
            EthereumWatchSettings.model_validate({**values, **overrides}), "local"
        )

    def block(self, tag: str) -> BlockRef:
        block = rpc_call(self.node.rpc_url, "eth_getBlockByNumber", [tag, False], 5)
        assert isinstance(block, dict)
        return BlockRef(int(block["number"], 16), block["hash"])


@pytest.fixture(scope="module")
def world(anvil_binary: Path) -> Iterator[World]:
    with running_anvil(binary=anvil_binary) as node:
        sandbox = SandboxEthereum(node.rpc_url, node.private_keys[0])
        multicall = sandbox.deploy_multicall()
        susd = token_asset("ethereum:SUSD", "SUSD", sandbox.deploy_token("Sandbox USD", "SUSD"))
        seur = token_asset("ethereum:SEUR", "SEUR", sandbox.deploy_token("Sandbox EUR", "SEUR"))
        watched = tuple(watched_account(index).address for index in range(WATCHED_COUNT))
        minted: dict[tuple[str, str], int] = {}
        for index, address in enumerate(watched):
            minted[(address, ETH.asset_id)] = (index + 1) * ETHER_WEI
            minted[(address, susd.asset_id)] = 1_000_000 * (index + 1) + index
            minted[(address, seur.asset_id)] = 0 if index == 3 else 7 * index + 5
            sandbox.set_balance(address, minted[(address, ETH.asset_id)])
        for asset in (susd, seur):
            amounts = [minted[(address, asset.asset_id)] for address in watched]
            sandbox.mint_many(str(asset.contract), watched, amounts)
        sandbox.mine(FINALITY_DEPTH_BLOCKS)
        built = World(node, sandbox, multicall, susd, seur, watched, minted, BlockRef(0, ""))
        yield dataclasses.replace(built, funded=built.block("finalized"))


@pytest.fixture
def chain(world: World) -> Iterator[World]:
    """The world, put back as it was after the test (anvil's evm_snapshot / evm_revert)."""
    snapshot = rpc_call(world.node.rpc_url, "evm_snapshot", [], 5)
    yield world
    assert rpc_call(world.node.rpc_url, "evm_revert", [snapshot], 5) is True


class MethodLog:
    """Records the JSON-RPC methods a reader sends (wraps EthereumRpc.request)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.methods: list[str] = []
        original = EthereumRpc.request

        def request(rpc: EthereumRpc, method: str, params: list[object]) -> object:
            self.methods.append(method)
            return original(rpc, method, params)

        monkeypatch.setattr(EthereumRpc, "request", request)


def amounts(reading: ChainReading) -> dict[tuple[str, str], int]:
    return {(item.address, item.asset_id): item.amount_base for item in reading.balances}


# --- balances -------------------------------------------------------------------------------


def test_balances_match_what_was_minted_in_one_aggregate3_call(
    chain: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    log = MethodLog(monkeypatch)
    assets = [ETH, chain.susd, chain.seur]
    reading = chain.reader().read_balances(chain.watched, assets, None)
    assert (reading.chain, reading.network) == ("ethereum", "local")
    assert reading.block == chain.block("finalized") == chain.funded
    assert amounts(reading) == chain.minted
    assert [(item.address, item.asset_id) for item in reading.balances] == [
        (address, asset.asset_id) for address in chain.watched for asset in assets
    ]
    assert all(item.pending_base == 0 for item in reading.balances)
    assert log.methods == ["eth_chainId", "eth_getBlockByNumber", "eth_call"]
    assert reading.calls == 3 and reading.movements == ()


def test_batches_are_bounded_and_counted(chain: World, monkeypatch: pytest.MonkeyPatch) -> None:
    log = MethodLog(monkeypatch)
    reader = chain.reader(batch_calls_max=7, chain_id=None)
    reading = reader.read_balances(chain.watched, [ETH, chain.susd, chain.seur], None)
    assert amounts(reading) == chain.minted
    assert log.methods == ["eth_getBlockByNumber"] + ["eth_call"] * 5  # 30 reads, 7 a batch
    assert reading.calls == 6
    with pytest.raises(ChainError, match=r"at most 14 \(address, asset\) pairs") as caught:
        chain.reader(batch_calls_max=7, batches_max=2).read_balances(
            chain.watched, [ETH, chain.susd], None
        )
    assert not caught.value.retryable


def test_block_modes_and_pending(chain: World, monkeypatch: pytest.MonkeyPatch) -> None:
    receiver, extra = chain.watched[0], 500
    chain.sandbox.mint(str(chain.susd.contract), receiver, extra)  # in the latest block only
    before = chain.minted[(receiver, chain.susd.asset_id)]
    latest = chain.block("latest")

    def read(block: str | int, read_pending: bool = False) -> ChainReading:
        reader = chain.reader(block=block, read_pending=read_pending)
        return reader.read_balances([receiver], [chain.susd], None)

    pending = read("finalized", read_pending=True)
    assert pending.block == chain.block("finalized")
    assert pending.balances[0].amount_base == before
    assert pending.balances[0].pending_base == extra
    assert pending.calls == 4  # chain ID, block, aggregate3 at the block, then at the latest
    for block in ("latest", 0):
        reading = read(block, read_pending=True)
        assert reading.block == latest
        assert (reading.balances[0].amount_base, reading.balances[0].pending_base) == (
            before + extra,
            0,
        )
    assert read(1).block == chain.block(hex(latest.height - 1))
    assert read(1).balances[0].amount_base == before
    safe = read("safe")
    assert safe.block == chain.block("safe")
    assert safe.block.height == latest.height - SAFE_DEPTH_BLOCKS
    log = MethodLog(monkeypatch)
    assert read(5).calls == 5  # chain ID, latest number, block, aggregate3, the block again
    assert log.methods == [
        "eth_chainId",
        "eth_blockNumber",
        "eth_getBlockByNumber",
        "eth_call",
        "eth_getBlockByNumber",
    ]
    with pytest.raises(ChainError, match="at least 10000 blocks"):
        read(10_000)


def test_an_outflow_shows_only_in_balances_not_as_pending(chain: World) -> None:
    thief = watched_account(4)
    SandboxEthereum(chain.node.rpc_url, thief.key.hex()).transfer(
        str(chain.seur.contract), OUTSIDER, 10
    )
    reader = chain.reader(read_pending=True)
    reading = reader.read_balances([thief.address], [chain.seur], None)
    assert reading.balances[0].amount_base == chain.minted[(thief.address, chain.seur.asset_id)]
    assert reading.balances[0].pending_base == 0


def test_block_hash_at(chain: World) -> None:
    reader = chain.reader()
    funded = chain.funded
    assert reader.block_hash_at(funded.height) == funded.block_hash
    assert reader.block_hash_at(chain.block("latest").height + 1) is None
    with pytest.raises(ChainError, match="expected an integer >= 0"):
        reader.block_hash_at(-1)


def test_mainnet_configuration_works_on_the_sandbox(chain: World) -> None:
    """Tokens and Multicall3 placed at their mainnet addresses: the default settings read."""
    chain.sandbox.place_multicall(CANONICAL_MULTICALL3_ADDRESS)
    usdt = chain.sandbox.place_token(str(USDT.contract), "Tether USD", "USDT")
    assert usdt == USDT.contract
    chain.sandbox.mint(usdt, chain.watched[1], 42_000_000)
    settings = EthereumWatchSettings(rpc_url=chain.node.rpc_url, block="latest")
    reading = EthereumReader(settings, "local").read_balances(chain.watched[1:2], [USDT], None)
    assert reading.balances[0].amount_base == 42_000_000


# --- movements ------------------------------------------------------------------------------


def test_a_theft_like_transfer_is_a_movement(chain: World) -> None:
    thief = watched_account(2)
    amount = chain.minted[(thief.address, chain.susd.asset_id)]
    tx_hash = SandboxEthereum(chain.node.rpc_url, thief.key.hex()).transfer(
        str(chain.susd.contract), OUTSIDER, amount
    )
    inbound = chain.sandbox.mint(str(chain.seur.contract), chain.watched[7], 9)
    reader = chain.reader(block="latest")
    reading = reader.read_balances(chain.watched, [ETH, chain.susd, chain.seur], chain.funded)
    assert amounts(reading)[(thief.address, chain.susd.asset_id)] == 0
    assert [movement.tx for movement in reading.movements] == [tx_hash, inbound]
    theft = reading.movements[0]
    assert (theft.asset_id, theft.from_address, theft.to_address, theft.amount_base) == (
        chain.susd.asset_id,
        thief.address,
        OUTSIDER,
        amount,
    )
    receipt = rpc_call(chain.node.rpc_url, "eth_getTransactionReceipt", [tx_hash], 5)
    assert isinstance(receipt, dict)
    assert theft.block == BlockRef(int(receipt["blockNumber"], 16), receipt["blockHash"])
    minted = reading.movements[1]
    assert (minted.from_address, minted.to_address, minted.amount_base) == (
        None,
        chain.watched[7],
        9,
    )
    # chain ID, block, aggregate3, the block again, then senders and recipients
    assert reading.calls == 6


def test_movements_in_bounded_ranges_and_address_groups(
    chain: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    whole = chain.reader(block="latest").read_balances(
        chain.watched, [chain.susd, chain.seur], BlockRef(0, "0x" + "00" * 32)
    )
    mints = [movement for movement in whole.movements if movement.from_address is None]
    assert len(mints) == len(whole.movements) == 2 * WATCHED_COUNT  # a mint of 0 is one too
    between = chain.watched[1]
    SandboxEthereum(chain.node.rpc_url, watched_account(0).key.hex()).transfer(
        str(chain.susd.contract), between, 3
    )
    latest = chain.block("latest")
    since = BlockRef(latest.height - 30, "0x" + "00" * 32)
    log = MethodLog(monkeypatch)
    reader = chain.reader(block="latest", log_range_blocks_max=7, log_addresses_max=3)
    reading = reader.read_balances(chain.watched, [chain.susd], since)
    queries = log.methods.count("eth_getLogs")
    assert queries == 5 * 4 * 2  # 30 blocks in ranges of 7, 10 addresses in groups of 3
    assert len(reading.movements) == 1  # between two watched addresses: found twice, kept once
    assert (reading.movements[0].from_address, reading.movements[0].to_address) == (
        chain.watched[0],
        between,
    )
    with pytest.raises(ChainError, match="log_queries_max") as caught:
        chain.reader(block="latest", log_range_blocks_max=1, log_queries_max=50).read_balances(
            chain.watched, [chain.susd], since
        )
    assert not caught.value.retryable


def test_no_movements_without_since_or_tokens(chain: World) -> None:
    reader = chain.reader()
    assert reader.read_balances(chain.watched, [ETH], BlockRef(0, "")).calls == 3
    later = BlockRef(chain.funded.height + 5, "0x" + "11" * 32)
    assert reader.read_balances(chain.watched, [chain.susd], later).movements == ()


# --- refusals -------------------------------------------------------------------------------


def test_bad_requests_are_refused_before_any_call(world: World) -> None:
    reader = world.reader(rpc_url=closed_port_url())
    cases: list[tuple[list[str], list[Asset], str]] = [
        ([world.watched[0], world.watched[0].lower()], [ETH], "listed twice"),
        (["0x1234"], [ETH], r"addresses\[0\]"),
        ([world.watched[0]], [BTC], "expected an Ethereum asset"),
        ([world.watched[0]], [ETH, ETH], "listed twice"),
    ]
    for addresses, assets, message in cases:
        with pytest.raises(ChainError, match=message) as caught:
            reader.read_balances(addresses, assets, None)
        assert not caught.value.retryable


def test_wrong_chain_is_not_retryable(world: World) -> None:
    reader = world.reader(chain_id=1, retry_attempts_max=3)
    with pytest.raises(ChainError, match="chain ID: expected 1, the node reports 31337") as caught:
        reader.read_balances(world.watched, [ETH], None)
    assert not caught.value.retryable
    with pytest.raises(ChainError, match="chain ID"):
        reader.block_hash_at(0)


def test_a_token_without_code_or_balance_of_is_an_error(world: World) -> None:
    no_code = token_asset("ethereum:GHOST", "GHOST", "0x" + "42" * 20)
    with pytest.raises(ChainError, match=r"expected 32 bytes \(one uint256\), got 0") as caught:
        world.reader().read_balances(world.watched, [ETH, no_code], None)
    assert not caught.value.retryable
    not_a_token = token_asset("ethereum:MC", "MC", world.multicall)  # no balanceOf: reverts
    with pytest.raises(ChainError, match=r"balanceOf.* it reverted"):
        world.reader().read_balances(world.watched, [not_a_token], None)


# --- a node that is down, slow, or says nonsense --------------------------------------------


def test_node_down_fails_after_the_bounded_retries() -> None:
    sleeps: list[float] = []
    url = closed_port_url() + "/v3/SECRET-KEY"
    settings = EthereumWatchSettings(rpc_url=url, retry_attempts_max=5, retry_delay_s_max=1.0)
    reader = EthereumReader(settings, "mainnet", sleep=sleeps.append)
    started = time.monotonic()
    with pytest.raises(
        ChainError, match="within 5 attempts, the last failed: ConnectionError"
    ) as caught:
        reader.read_balances([OUTSIDER], [ETH], None)
    assert caught.value.retryable and "SECRET" not in str(caught.value)
    assert sleeps == [0.25, 0.5, 1.0, 1.0]
    assert time.monotonic() - started < 5


Answer = tuple[int, bytes, float]  # HTTP status, body, delay before answering (s)


@dataclass
class FakeNode:
    """A local HTTP server answering JSON-RPC from a table: method -> answer function."""

    url: str
    answers: dict[str, Callable[[list[object]], Answer]] = field(default_factory=dict)
    methods: list[str] = field(default_factory=list)


def result(value: object) -> Callable[[list[object]], Answer]:
    body = json.dumps({"jsonrpc": "2.0", "id": 0, "result": value}).encode()
    return lambda params: (200, body, 0.0)


def raw(status: int, body: bytes, delay_s: float = 0.0) -> Callable[[list[object]], Answer]:
    return lambda params: (status, body, delay_s)


@pytest.fixture
def fake_node() -> Iterator[FakeNode]:
    node = FakeNode("")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            request = json.loads(self.rfile.read(length))
            node.methods.append(request["method"])
            answer = node.answers.get(request["method"], raw(404, b"no such method"))
            status, body, delay_s = answer(request["params"])
            time.sleep(delay_s)
            try:
                self.send_response(status)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up first (the timeout tests)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, args=(SERVER_POLL_S,), daemon=True)
    thread.start()
    node.url = f"http://127.0.0.1:{server.server_address[1]}"
    yield node
    server.shutdown()
    server.server_close()
    thread.join(5)


def fake_reader(node: FakeNode, sleeps: list[float], **overrides: object) -> EthereumReader:
    values: dict[str, object] = {
        "rpc_url": node.url,
        "multicall_address": CANONICAL_MULTICALL3_ADDRESS,
        "block": "latest",
        "timeout_s": 0.5,
        "retry_attempts_max": 3,
    }
    settings = EthereumWatchSettings.model_validate({**values, **overrides})
    return EthereumReader(settings, "mainnet", sleep=sleeps.append)


BLOCK_7 = {"number": "0x7", "hash": "0x" + "ab" * 32}


def aggregate3_answer(block_number: int, returns: list[tuple[bool, bytes]]) -> str:
    results = [(True, block_number.to_bytes(32, "big")), *returns]
    return "0x" + encode(["(bool,bytes)[]"], [results]).hex()


def test_fake_node_answers_are_read(fake_node: FakeNode) -> None:
    fake_node.answers["eth_getBlockByNumber"] = result(BLOCK_7)
    fake_node.answers["eth_call"] = result(aggregate3_answer(7, [(True, (5).to_bytes(32, "big"))]))
    reading = fake_reader(fake_node, []).read_balances([OUTSIDER], [ETH], None)
    assert reading.block == BlockRef(7, "0x" + "ab" * 32)
    assert reading.balances[0].amount_base == 5


@pytest.mark.parametrize(
    ("method", "answer", "message"),
    [
        ("eth_getBlockByNumber", raw(200, b"<html>not json"), "expected a JSON body"),
        ("eth_getBlockByNumber", raw(200, b"\xff\xfe"), "expected a JSON body"),
        ("eth_getBlockByNumber", result({"number": 7, "hash": BLOCK_7["hash"]}), "hex quantity"),
        ("eth_getBlockByNumber", result({"number": "0x7", "hash": "0x12"}), "32-byte hash"),
        ("eth_getBlockByNumber", result([1, 2]), "expected a block object"),
        ("eth_getBlockByNumber", result(None), "expected a latest block"),
        ("eth_getBlockByNumber", raw(200, b'{"jsonrpc":"2.0","id":0}'), "a `result` or an"),
        ("eth_getBlockByNumber", raw(200, b"[]"), "a JSON-RPC response object"),
        ("eth_call", result("0x1234"), "do not decode"),
        ("eth_call", result("0xzz"), "hex data"),
        ("eth_call", result(12), "hex data"),
        ("eth_call", result(aggregate3_answer(7, [])), "expected 2 aggregate3 results, got 1"),
        ("eth_call", result(aggregate3_answer(7, [(False, b"")])), "it reverted"),
        ("eth_call", result(aggregate3_answer(7, [(True, b"\x01" * 31)])), "got 31"),
        ("eth_call", result(aggregate3_answer(6, [(True, b"\x01" * 32)])), "executed at 6"),
    ],
)
def test_garbage_is_an_error_without_retry(
    fake_node: FakeNode, method: str, answer: Callable[[list[object]], Answer], message: str
) -> None:
    fake_node.answers["eth_getBlockByNumber"] = result(BLOCK_7)
    fake_node.answers["eth_call"] = result(aggregate3_answer(7, [(True, b"\x00" * 32)]))
    fake_node.answers[method] = answer
    sleeps: list[float] = []
    with pytest.raises(ChainError, match=message):
        fake_reader(fake_node, sleeps).read_balances([OUTSIDER], [ETH], None)
    assert sleeps == [] and fake_node.methods.count(method) == 1


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        (
            raw(200, b'{"jsonrpc":"2.0","id":0,"error":{"code":-32000,"message":"busy"}}'),
            "JSON-RPC error -32000: 'busy'",
        ),
        (raw(503, b"overloaded"), "HTTP 503"),
        (raw(429, b"slow down"), "HTTP 429"),
        (raw(200, b"{}", delay_s=1.0), "ReadTimeout"),
    ],
)
def test_node_errors_are_retried_then_reported(
    fake_node: FakeNode, answer: Callable[[list[object]], Answer], message: str
) -> None:
    fake_node.answers["eth_getBlockByNumber"] = answer
    sleeps: list[float] = []
    started = time.monotonic()
    with pytest.raises(
        ChainError, match=f"within 3 attempts, the last failed: {message}"
    ) as caught:
        fake_reader(fake_node, sleeps, timeout_s=0.2).read_balances([OUTSIDER], [ETH], None)
    assert caught.value.retryable
    assert fake_node.methods == ["eth_getBlockByNumber"] * 3 and sleeps == [0.25, 0.5]
    assert time.monotonic() - started < 3


def test_refusals_are_not_retried(fake_node: FakeNode) -> None:
    fake_node.answers["eth_getBlockByNumber"] = raw(401, b"unauthorized")
    sleeps: list[float] = []
    with pytest.raises(ChainError, match="expected HTTP 200, got HTTP 401") as caught:
        fake_reader(fake_node, sleeps).read_balances([OUTSIDER], [ETH], None)
    assert not caught.value.retryable and sleeps == []
    fake_node.methods.clear()
    fake_node.answers["eth_getBlockByNumber"] = result(BLOCK_7)
    fake_node.answers["eth_call"] = raw(
        200, b'{"jsonrpc":"2.0","id":0,"error":{"code":3,"message":"execution reverted"}}'
    )
    with pytest.raises(ChainError, match="it reverted: 'execution reverted'") as caught:
        fake_reader(fake_node, sleeps).read_balances([OUTSIDER], [ETH], None)
    assert not caught.value.retryable and fake_node.methods.count("eth_call") == 1


def test_a_recovering_node_is_read_after_a_retry(fake_node: FakeNode) -> None:
    answers = iter([raw(502, b"bad gateway"), result(BLOCK_7)])
    fake_node.answers["eth_getBlockByNumber"] = lambda params: next(answers)(params)
    fake_node.answers["eth_call"] = result(aggregate3_answer(7, [(True, b"\x00" * 32)]))
    sleeps: list[float] = []
    reading = fake_reader(fake_node, sleeps, block="finalized").read_balances(
        [OUTSIDER], [ETH], None
    )
    assert reading.calls == 3 and sleeps == [0.25]


@pytest.mark.parametrize(
    ("log_change", "message"),
    [
        ({"topics": ["0x" + "00" * 32]}, "3 Transfer topics"),
        ({"address": OUTSIDER}, "a log of a watched token"),
        ({"data": "0x01"}, "32-byte amount"),
        ({"blockNumber": "0x99"}, "expected blocks 1..7, got 153"),
        ({"blockHash": "0x" + "cd" * 32}, "changed during the reading"),
        ({"transactionHash": None}, "transactionHash"),
    ],
)
def test_malformed_logs_are_errors(
    fake_node: FakeNode, log_change: dict[str, object], message: str
) -> None:
    token = token_asset("ethereum:SUSD", "SUSD", "0x" + "77" * 20)
    watched = "0x" + "00" * 12 + OUTSIDER[2:].lower()
    log = {
        "address": token.contract,
        "topics": [
            "0xddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef",
            watched,
            "0x" + "00" * 32,
        ],
        "data": "0x" + "00" * 31 + "05",
        "blockNumber": "0x7",
        "blockHash": BLOCK_7["hash"],
        "transactionHash": "0x" + "ef" * 32,
        "logIndex": "0x0",
        "removed": False,
    }
    fake_node.answers["eth_getBlockByNumber"] = result(BLOCK_7)
    fake_node.answers["eth_call"] = result(aggregate3_answer(7, [(True, b"\x00" * 32)]))
    fake_node.answers["eth_getLogs"] = result([log])
    reader = fake_reader(fake_node, [])
    movements = reader.read_balances([OUTSIDER], [token], BlockRef(0, "0x")).movements
    assert [(m.from_address, m.to_address, m.amount_base) for m in movements] == [
        (OUTSIDER, None, 5)
    ]
    fake_node.answers["eth_getLogs"] = result([{**log, **log_change}])
    with pytest.raises(ChainError, match=message):
        reader.read_balances([OUTSIDER], [token], BlockRef(0, "0x"))


def test_a_reorganisation_during_the_reading_is_an_error(fake_node: FakeNode) -> None:
    replaced = {"number": "0x7", "hash": "0x" + "cd" * 32}
    answers = iter([result(BLOCK_7), result(replaced)])
    fake_node.answers["eth_getBlockByNumber"] = lambda params: next(answers)(params)
    fake_node.answers["eth_call"] = result(aggregate3_answer(7, [(True, b"\x00" * 32)]))
    with pytest.raises(ChainError, match="a reorganisation during the reading") as caught:
        fake_reader(fake_node, []).read_balances([OUTSIDER], [ETH], None)
    assert caught.value.retryable
