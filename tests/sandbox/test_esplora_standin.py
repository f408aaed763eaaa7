"""The Esplora stand-in, driven as a client would: plain HTTP beside Bitcoin Core's RPC.

Shapes, content types and errors are checked against reference/bitcoin-rpc.md section 5;
every figure is checked against what the JSON-RPC stand-in says about the same chain.
"""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from bitcoin.rpc import RawProxy  # type: ignore[import-untyped]

from sequestra_sandbox.bitcoin import BitcoinSandbox, running_bitcoin_sandbox
from sequestra_sandbox.bitcoin import esplora as esplora_module

GENESIS_HASH = "0f9188f13cb7b2c71f2a335e3a4fc328bf5beb436012afca590b1a11466e2206"
MAINNET_ADDRESS = "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4"
MINER = "miner"
TIMEOUT_S = 10.0
UTXO_KEYS = {"txid", "vout", "status", "value"}
TX_KEYS = {"txid", "version", "locktime", "vin", "vout", "size", "weight", "fee", "status"}
STATUS_KEYS = {"confirmed", "block_height", "block_hash", "block_time"}


class Sandbox:
    """The two stand-ins over one chain, with an RPC proxy and an HTTP client."""

    def __init__(self, started: BitcoinSandbox) -> None:
        self.started = started
        self.credentials = started.cookie_path.read_text()
        self.http = httpx.Client(base_url=started.esplora_url + "/", timeout=TIMEOUT_S)

    def rpc(self, path: str = "/") -> Any:
        url = self.started.rpc_url.replace("://", f"://{self.credentials}@") + path
        return RawProxy(service_url=url, timeout=TIMEOUT_S)

    def get(self, path: str) -> httpx.Response:
        return self.http.get(path)

    def json(self, path: str) -> Any:
        response = self.get(path)
        assert response.status_code == 200, response.text
        assert response.headers["content-type"] == "application/json"
        return response.json()

    def new_address(self) -> str:
        address: str = self.rpc(f"/wallet/{MINER}").getnewaddress()
        return address

    def mine(self, count: int = 1) -> list[str]:
        blocks: list[str] = self.rpc().generatetoaddress(count, self.new_address())
        return blocks


@pytest.fixture
def sandbox(tmp_path: Path) -> Iterator[Sandbox]:
    """Both stand-ins over a fresh chain with a funded wallet `miner` (101 blocks)."""
    with running_bitcoin_sandbox(tmp_path, funded_wallet=MINER) as started:
        yield Sandbox(started)


def _sats(amount: Decimal) -> int:
    return int(amount * 100_000_000)


def test_tip_and_block_heights_are_plain_text_and_match_rpc(sandbox: Sandbox) -> None:
    height = sandbox.get("blocks/tip/height")
    assert (height.status_code, height.headers["content-type"]) == (200, "text/plain")
    assert int(height.text) == sandbox.rpc().getblockcount() == 101
    assert sandbox.get("blocks/tip/hash").text == sandbox.rpc().getbestblockhash()
    assert sandbox.get("block-height/0").text == GENESIS_HASH
    assert sandbox.get("block-height/57").text == sandbox.rpc().getblockhash(57)
    beyond = sandbox.get("block-height/102")
    assert (beyond.status_code, beyond.text) == (404, "Block not found")
    assert sandbox.get("block-height/abc").status_code == 400
    assert sandbox.get("block-height/-1").text == "Invalid number"


def test_a_block_mined_over_rpc_shows_at_once(sandbox: Sandbox) -> None:
    (block_hash,) = sandbox.mine()
    assert sandbox.get("blocks/tip/hash").text == block_hash
    assert sandbox.get("block-height/102").text == block_hash


def test_unspent_outputs_mempool_then_confirmed_then_spent(sandbox: Sandbox) -> None:
    address = sandbox.new_address()
    txid = sandbox.rpc(f"/wallet/{MINER}").sendtoaddress(address, "1.25")
    (unconfirmed,) = sandbox.json(f"address/{address}/utxo")
    assert set(unconfirmed) == UTXO_KEYS
    assert unconfirmed["status"] == {"confirmed": False}
    assert (unconfirmed["txid"], unconfirmed["value"]) == (txid, 125_000_000)
    (block_hash,) = sandbox.mine()
    (confirmed,) = sandbox.json(f"address/{address}/utxo")
    assert set(confirmed["status"]) == STATUS_KEYS
    assert confirmed["status"]["block_height"] == 102
    assert confirmed["status"]["block_hash"] == block_hash
    assert isinstance(confirmed["status"]["block_time"], int)
    _spend(sandbox, confirmed, sandbox.new_address())
    assert sandbox.json(f"address/{address}/utxo") == []  # spent in the mempool: gone


def _spend(sandbox: Sandbox, utxo: dict[str, Any], to_address: str) -> str:
    """Spend one wallet output entirely (less a 1,000 sat fee) to `to_address`."""
    wallet = sandbox.rpc(f"/wallet/{MINER}")
    value = utxo["value"] - 1_000
    amount = f"{value // 100_000_000}.{value % 100_000_000:08d}"
    raw = sandbox.rpc().createrawtransaction(
        [{"txid": utxo["txid"], "vout": utxo["vout"]}], {to_address: amount}
    )
    signed = wallet.signrawtransactionwithwallet(raw)
    txid: str = sandbox.rpc().sendrawtransaction(signed["hex"])
    return txid


def test_transactions_have_esplora_shapes_and_fees(sandbox: Sandbox) -> None:
    address = sandbox.new_address()
    wallet = sandbox.rpc(f"/wallet/{MINER}")
    first = wallet.sendtoaddress(address, "0.5")
    sandbox.mine()
    second = wallet.sendtoaddress(address, "0.25")
    transactions = sandbox.json(f"address/{address}/txs")
    assert [tx["txid"] for tx in transactions] == [second, first]  # mempool first
    for tx in transactions:
        assert set(tx) == TX_KEYS
        paid = sum(output["value"] for output in tx["vout"])
        spent = sum(entry["prevout"]["value"] for entry in tx["vin"])
        assert tx["fee"] == spent - paid > 0
        raw = sandbox.rpc().getrawtransaction(tx["txid"], True, tx["status"].get("block_hash"))
        assert _sats(raw["vout"][0]["value"]) == tx["vout"][0]["value"]
    assert transactions[0]["status"] == {"confirmed": False}
    output = next(o for o in transactions[1]["vout"] if o.get("scriptpubkey_address") == address)
    assert output["scriptpubkey_type"] == "v0_p2wpkh"
    assert output["scriptpubkey_asm"].startswith("OP_0 OP_PUSHBYTES_20 ")
    assert sandbox.json(f"address/{address}/txs/mempool")[0]["txid"] == second
    assert [tx["txid"] for tx in sandbox.json(f"address/{address}/txs/chain")] == [first]


def test_coinbase_input_shape(sandbox: Sandbox) -> None:
    address = sandbox.new_address()
    sandbox.rpc().generatetoaddress(1, address)
    (coinbase,) = sandbox.json(f"address/{address}/txs/chain")
    (entry,) = coinbase["vin"]
    assert entry["is_coinbase"] is True and entry["prevout"] is None
    assert (entry["txid"], entry["vout"]) == ("0" * 64, 0xFFFFFFFF)
    assert coinbase["fee"] == 0


def test_confirmed_history_pages_by_last_seen_txid(sandbox: Sandbox) -> None:
    address = sandbox.new_address()
    wallet = sandbox.rpc(f"/wallet/{MINER}")
    sent = [wallet.sendtoaddress(address, "0.001") for _ in range(27)]
    sandbox.mine()
    first = sandbox.json(f"address/{address}/txs/chain")
    assert len(first) == 25
    second = sandbox.json(f"address/{address}/txs/chain/{first[-1]['txid']}")
    assert len(second) == 2
    assert {tx["txid"] for tx in first + second} == set(sent)
    assert sandbox.json(f"address/{address}/txs/chain/{'ab' * 32}") == []
    assert sandbox.get(f"address/{address}/txs/chain/nothex").status_code == 400


def test_address_stats_sum_funded_and_spent(sandbox: Sandbox) -> None:
    address = sandbox.new_address()
    sandbox.rpc(f"/wallet/{MINER}").sendtoaddress(address, "2")
    sandbox.mine()
    (utxo,) = sandbox.json(f"address/{address}/utxo")
    _spend(sandbox, utxo, sandbox.new_address())
    stats = sandbox.json(f"address/{address}")
    assert stats["address"] == address
    assert stats["chain_stats"] == {
        "funded_txo_count": 1,
        "funded_txo_sum": 200_000_000,
        "spent_txo_count": 0,
        "spent_txo_sum": 0,
        "tx_count": 1,
    }
    assert stats["mempool_stats"]["spent_txo_sum"] == 200_000_000
    assert sandbox.json(f"address/{sandbox.new_address()}")["chain_stats"]["tx_count"] == 0


def test_errors_are_plain_text(sandbox: Sandbox) -> None:
    for path, status in (
        (f"address/{MAINNET_ADDRESS}/utxo", 400),
        ("address/notanaddress/utxo", 400),
        ("blocks/tip", 404),
        ("nothing/here", 404),
    ):
        response = sandbox.get(path)
        assert (response.status_code, response.headers["content-type"]) == (status, "text/plain")
        assert response.text
    assert 'endpoint does not exist "/api/nothing/here"' in sandbox.get("nothing/here").text
    assert sandbox.http.post("blocks/tip/height").status_code == 404


def test_too_many_unspent_outputs_are_refused(
    sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(esplora_module, "UTXOS_LIMIT", 2)
    address = sandbox.new_address()
    for _ in range(3):
        sandbox.rpc(f"/wallet/{MINER}").sendtoaddress(address, "0.01")
    response = sandbox.get(f"address/{address}/utxo")
    assert response.status_code == 400
    assert response.text.startswith("Too many unspent transaction outputs (>2)")


def test_reorg_shows_the_new_best_chain(sandbox: Sandbox) -> None:
    address = sandbox.new_address()
    sandbox.rpc(f"/wallet/{MINER}").sendtoaddress(address, "3")
    (block_hash,) = sandbox.mine()
    assert sandbox.json(f"address/{address}/utxo")[0]["status"]["confirmed"] is True
    sandbox.rpc().invalidateblock(block_hash)
    assert sandbox.get("blocks/tip/height").text == "101"
    assert sandbox.get("block-height/102").status_code == 404
    assert sandbox.json(f"address/{address}/utxo")[0]["status"] == {"confirmed": False}
    (replacement,) = sandbox.mine()
    assert replacement != block_hash
    assert sandbox.get("block-height/102").text == replacement


def test_warming_up_answers_503(tmp_path: Path) -> None:
    with running_bitcoin_sandbox(tmp_path, warmup_s=30.0) as started:
        response = httpx.get(started.esplora_url + "/blocks/tip/height", timeout=TIMEOUT_S)
    assert (response.status_code, response.text) == (503, "Loading block index\u2026")
