"""The Bitcoin regtest stand-in, driven only as a client would: RawProxy and raw HTTP.

Shapes, types, codes and messages are checked against reference/bitcoin-rpc.md; blocks and
transactions are checked to be real (hashes, merkle roots, proof of work) with
python-bitcoinlib's own deserialisation.
"""

from __future__ import annotations

import base64
import http.client
import json
import re
import threading
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import bitcoin
import bitcoin.rpc
import pytest
from bitcoin.core import CBlock, CTransaction, b2lx

from sequestra_sandbox.bitcoin import StandInOptions, running_bitcoind

P2WPKH_ADDRESS = "bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt080"
P2WPKH_SCRIPT = "0014751e76e8199196d454941c45d1b3a323f1433bd6"
P2TR_KEY = "79be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798"
P2TR_ADDRESS = "bcrt1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vqc8gma6"
GENESIS_HASH = "0f9188f13cb7b2c71f2a335e3a4fc328bf5beb436012afca590b1a11466e2206"
GENESIS_HEADER = (
    "0100000000000000000000000000000000000000000000000000000000000000000000003ba3edfd7a7b"
    "12b27ac72c3e67768f617fc81bc3888a51323a9fb8aa4b1e5e4adae5494dffff7f2002000000"
)
REGTEST_TARGET = int("7fffff" + "0" * 58, 16)
BIP173_V1_MAINNET = "bc1pw508d6qejxtdg4y5r3zarvary0c5xw7kw508d6qejxtdg4y5r3zarvary0c5xw7k7grplx"
BASE58_CHECKSUM_ERROR = "Invalid checksum or length of Base58 address (P2PKH or P2SH)"


@pytest.fixture(autouse=True, scope="module")
def _regtest_params() -> Iterator[None]:
    """Select python-bitcoinlib's regtest parameters (process-wide) and restore them."""
    previous = bitcoin.params.NAME
    bitcoin.SelectParams("regtest")
    yield
    bitcoin.SelectParams(previous)


class Node:
    """A running stand-in seen from outside: URL, cookie and proxies."""

    def __init__(self, url: str, cookie_path: Path) -> None:
        self.url = url
        self.cookie_path = cookie_path
        self.credentials = cookie_path.read_text()
        self.port = int(url.rsplit(":", 1)[1])

    def proxy(self, path: str = "") -> Any:
        """Return a RawProxy on `/` or a wallet endpoint."""
        service_url = self.url.replace("http://", f"http://{self.credentials}@") + path
        return bitcoin.rpc.RawProxy(service_url=service_url, timeout=30)

    def http(
        self,
        body: Any,
        *,
        path: str = "/",
        method: str = "POST",
        credentials: str | None = None,
    ) -> tuple[int, dict[str, str], bytes]:
        """Send one raw HTTP request; return status, headers and body."""
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        headers = {"Content-Type": "application/json"}
        user_password = self.credentials if credentials is None else credentials
        if user_password:
            token = base64.b64encode(user_password.encode()).decode()
            headers["Authorization"] = f"Basic {token}"
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        connection.request(method, path, body=data, headers=headers)
        response = connection.getresponse()
        result = response.status, dict(response.getheaders()), response.read()
        connection.close()
        return result

    def call(self, body: Any, **kwargs: Any) -> tuple[int, Any]:
        """Send a JSON-RPC body; return status and the decoded reply (Decimal numbers)."""
        status, _, raw = self.http(body, **kwargs)
        return status, json.loads(raw, parse_float=Decimal) if raw else None


def _error(call: Any, *args: Any) -> dict[str, Any]:
    """Run a RawProxy call that must fail; return its error object."""
    with pytest.raises(bitcoin.rpc.JSONRPCError) as caught:
        call(*args)
    error: dict[str, Any] = caught.value.error
    return error


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Node]:
    """One stand-in shared by the tests that do not need special start options."""
    with running_bitcoind(tmp_path_factory.mktemp("bitcoind")) as (url, cookie_path):
        yield Node(url, cookie_path)


@pytest.fixture(scope="module")
def funded(node: Node) -> str:
    """A signing wallet `miner` with 101 blocks mined to it; returns its address."""
    node.proxy().createwallet("miner")
    address: str = node.proxy("/wallet/miner").getnewaddress()
    node.proxy().generatetoaddress(101, address)
    return address


# --- transport, authentication, envelopes ---


def test_cookie_file_is_written_in_regtest_folder_and_removed(tmp_path: Path) -> None:
    with running_bitcoind(tmp_path) as (url, cookie_path):
        assert cookie_path == tmp_path / "regtest" / ".cookie"
        content = cookie_path.read_text()
        assert re.fullmatch(r"__cookie__:[0-9a-f]{64}", content)  # no trailing newline
        (tmp_path / "bitcoin.conf").write_text(f"rpcport={url.rsplit(':', 1)[1]}\n")
        proxy = bitcoin.rpc.RawProxy(btc_conf_file=str(tmp_path / "bitcoin.conf"))
        assert proxy.getblockcount() == 0
        assert proxy.getbestblockhash() == GENESIS_HASH
    assert not cookie_path.exists()


def test_rpcuser_and_rpcpassword_replace_the_cookie(tmp_path: Path) -> None:
    options = StandInOptions(port=0, rpc_user="alice", rpc_password="s3cret")
    with running_bitcoind(tmp_path, options) as (url, cookie_path):
        assert not cookie_path.exists()
        proxy = bitcoin.rpc.RawProxy(service_url=url.replace("http://", "http://alice:s3cret@"))
        assert proxy.getblockcount() == 0


def test_http_status_codes_before_json(node: Node) -> None:
    body = {"method": "getblockcount", "id": 1}
    status, headers, raw = node.http(body, credentials="")
    assert (status, raw) == (401, b"")
    assert headers["WWW-Authenticate"] == 'Basic realm="jsonrpc"'
    status, headers, raw = node.http(body, credentials="__cookie__:" + "0" * 64)
    assert (status, raw, headers["WWW-Authenticate"]) == (401, b"", 'Basic realm="jsonrpc"')
    assert node.http(body, credentials="no-colon")[0] == 401
    status, _, raw = node.http(body, method="GET")
    assert (status, raw) == (405, b"JSONRPC server handles only POST requests")
    assert node.http(body, path="/other")[:3:2] == (404, b"")
    wrong = bitcoin.rpc.RawProxy(service_url=node.url.replace("http://", "http://u:p@"))
    error = _error(wrong.getblockcount)
    assert error["code"] == -342 and "401" in error["message"]


def test_legacy_envelope_and_status_codes(node: Node) -> None:
    status, reply = node.call({"method": "getblockcount", "id": "t1"})
    assert status == 200 and list(reply) == ["result", "error", "id"]
    assert reply["error"] is None and reply["id"] == "t1"
    status, reply = node.call({"method": "nosuchmethod", "id": "t1"})
    assert status == 404
    assert reply == {
        "result": None,
        "error": {"code": -32601, "message": "Method not found"},
        "id": "t1",
    }
    status, reply = node.call({"method": "getblockhash", "params": [10**6], "id": 2})
    assert status == 500 and reply["error"] == {"code": -8, "message": "Block height out of range"}
    status, reply = node.call({"id": 3})
    assert status == 400 and reply["error"] == {"code": -32600, "message": "Missing method"}
    status, reply = node.call({"method": "getblockcount", "params": "x", "id": 4})
    assert (status, reply["error"]["message"]) == (400, "Params must be an array or object")
    status, reply = node.call(b"{not json")
    assert status == 500
    assert reply == {
        "result": None,
        "error": {"code": -32700, "message": "Parse error"},
        "id": None,
    }
    status, reply = node.call(b"42")
    assert (status, reply["error"]["message"]) == (500, "Top-level object parse error")


def test_json_rpc_2_envelope_notifications_and_batches(node: Node) -> None:
    status, reply = node.call({"jsonrpc": "2.0", "method": "getblockcount", "id": 7})
    assert status == 200 and list(reply) == ["jsonrpc", "result", "id"]
    status, reply = node.call({"jsonrpc": "2.0", "method": "nosuchmethod", "id": 8})
    assert status == 200
    assert reply == {
        "jsonrpc": "2.0",
        "error": {"code": -32601, "message": "Method not found"},
        "id": 8,
    }
    status, _, raw = node.http({"jsonrpc": "2.0", "method": "getblockcount"})
    assert (status, raw) == (204, b"")
    status, reply = node.call({"jsonrpc": "3.0", "method": "getblockcount", "id": 9})
    assert (status, reply["error"]["message"]) == (400, "JSON-RPC version not supported")
    batch = [
        {"method": "getblockcount", "id": 1},
        {"jsonrpc": "2.0", "method": "getbestblockhash", "id": 2},
        {"jsonrpc": "2.0", "method": "getblockcount"},
        {"method": "nosuchmethod", "id": 3},
    ]
    status, reply = node.call(batch)
    assert status == 200 and len(reply) == 3
    assert reply[0]["error"] is None and reply[1]["jsonrpc"] == "2.0"
    assert reply[2] == {
        "result": None,
        "error": {"code": -32601, "message": "Method not found"},
        "id": 3,
    }
    assert node.call([]) == (200, [])
    assert node.http([{"jsonrpc": "2.0", "method": "getblockcount"}])[:3:2] == (204, b"")
    raw_batch = node.proxy()._batch([{"version": "1.1", "method": "getblockcount", "id": 1}])
    assert raw_batch[0]["error"] is None


def test_named_parameters(node: Node) -> None:
    body = {"jsonrpc": "2.0", "method": "getblockhash", "params": {"height": 0}, "id": 1}
    assert node.call(body)[1]["result"] == GENESIS_HASH
    body["params"] = {"heigth": 0}
    assert node.call(body)[1]["error"] == {"code": -8, "message": "Unknown named parameter heigth"}
    body["params"] = {"args": [0], "height": 0}
    message = "Parameter height specified twice both as positional and named argument"
    assert node.call(body)[1]["error"] == {"code": -8, "message": message}
    raw = b'{"jsonrpc":"2.0","method":"getblockhash","params":{"height":0,"height":1},"id":1}'
    assert node.call(raw)[1]["error"]["message"] == "Parameter height specified multiple times"
    body = {
        "jsonrpc": "2.0",
        "method": "getblock",
        "params": {"blockhash": GENESIS_HASH, "verbose": 0},
        "id": 1,
    }
    assert node.call(body)[1]["result"].startswith(GENESIS_HEADER)


# --- argument errors ---


def test_documented_argument_errors(node: Node) -> None:
    proxy = node.proxy()
    error = _error(proxy.getblockhash, "x")
    assert error["code"] == -3
    assert error["message"] == (
        'Wrong type passed:\n{\n    "Position 1 (height)": '
        '"JSON value of type string is not of expected type number"\n}'
    )
    error = _error(proxy.getblockheader, "nonsense")
    assert error == {"code": -8, "message": "hash must be of length 64 (not 8, for 'nonsense')"}
    error = _error(proxy.getblock, "Z" * 64)
    assert error == {
        "code": -8,
        "message": f"blockhash must be hexadecimal string (not '{'Z' * 64}')",
    }
    assert _error(proxy.getblock, "00" * 32) == {"code": -5, "message": "Block not found"}
    assert _error(proxy.getblock, GENESIS_HASH, "2")["code"] == -3
    error = _error(proxy.scantxoutset)
    assert error["code"] == -1 and error["message"].startswith(
        'scantxoutset "action" ( [scanobjects,...] )'
    )
    error = _error(proxy.scantxoutset, "start")
    assert error == {"code": -1, "message": "scanobjects argument is required for the start action"}
    assert _error(proxy.scantxoutset, "bogus", []) == {
        "code": -8,
        "message": "Invalid action 'bogus'",
    }
    assert _error(proxy.scantxoutset, "start", [5])["message"] == (
        "Scan object needs to be either a string or an object"
    )
    assert (
        _error(proxy.scantxoutset, "start", [{"desc": f"addr({P2WPKH_ADDRESS})", "range": [2, 1]}])[
            "message"
        ]
        == "Range specified as [begin,end] must not have begin after end"
    )
    assert _error(proxy.scantxoutset, "start", ["addr(notanaddress)"]) == {
        "code": -5,
        "message": "Address is not valid",
    }
    assert _error(proxy.getblockcount, 1)["code"] == -1
    assert _error(proxy.nosuchmethod) == {"code": -32601, "message": "Method not found"}
    assert _error(proxy.sendrawtransaction, "zz")["code"] == -22
    assert _error(proxy.generatetoaddress, 1, "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4") == {
        "code": -5,
        "message": "Error: Invalid address",
    }
    assert proxy.gettxout("00" * 32, 0) is None


def test_getrawtransaction_errors(node: Node) -> None:
    proxy = node.proxy()
    genesis_coinbase = "4a5e1e4baab89f3a32518a88c31bc87f618f76673e2cc77ab2127b7afdeda33b"
    assert _error(proxy.getrawtransaction, genesis_coinbase) == {
        "code": -5,
        "message": "The genesis block coinbase is not considered an ordinary transaction and "
        "cannot be retrieved",
    }
    assert _error(proxy.getrawtransaction, "11" * 32) == {
        "code": -5,
        "message": "No such mempool transaction. Use -txindex or provide a block hash to enable "
        "blockchain transaction queries. Use gettransaction for wallet transactions.",
    }
    assert _error(proxy.getrawtransaction, "11" * 32, 0, "22" * 32) == {
        "code": -5,
        "message": "Block hash not found",
    }
    assert _error(proxy.getrawtransaction, "11" * 32, 0, GENESIS_HASH)["message"] == (
        "No such transaction found in the provided block. Use gettransaction for wallet "
        "transactions."
    )
    assert _error(proxy.getrawtransaction, "xx")["message"].startswith(
        "parameter 1 must be of length 64"
    )


# --- chain data ---


def test_genesis_and_blockchain_info(node: Node) -> None:
    proxy = node.proxy()
    assert proxy.getblockheader(GENESIS_HASH, False) == GENESIS_HEADER
    info = proxy.getblockchaininfo()
    assert set(info) == {
        "bestblockhash", "bits", "blocks", "chain", "chainwork", "difficulty", "headers",
        "initialblockdownload", "mediantime", "pruned", "size_on_disk", "target", "time",
        "verificationprogress", "warnings",
    }  # fmt: skip
    assert info["chain"] == "regtest" and info["bits"] == "207fffff"
    assert info["target"] == "7fffff" + "0" * 58
    assert info["difficulty"] == Decimal("4.656542373906925E-10")
    assert info["chainwork"] == f"{2 * (info['blocks'] + 1):064x}"
    assert info["warnings"] == [] and isinstance(info["size_on_disk"], int)


def test_mined_blocks_are_real(node: Node, funded: str) -> None:
    proxy = node.proxy()
    block_hash = proxy.getblockhash(101)
    raw = proxy.getblock(block_hash, 0)
    block = CBlock.deserialize(bytes.fromhex(raw))
    assert b2lx(block.GetHash()) == block_hash
    assert block.calc_merkle_root() == block.hashMerkleRoot
    assert int.from_bytes(block.GetHash(), "little") <= REGTEST_TARGET
    assert proxy.getblockheader(block_hash, False) == raw[:160]
    coinbase = block.vtx[0]
    assert coinbase.is_coinbase() and bytes(coinbase.vin[0].scriptSig)[:2] == b"\x01\x65"
    assert coinbase.vout[1].scriptPubKey[:6] == bytes.fromhex("6a24aa21a9ed")
    header = proxy.getblockheader(block_hash)
    assert header["height"] == 101 and header["versionHex"] == "20000000"
    assert header["previousblockhash"] == proxy.getblockhash(100)
    assert header["chainwork"] == f"{2 * 102:064x}"
    verbose = proxy.getblock(block_hash)
    assert verbose["tx"] == [b2lx(coinbase.GetTxid())]
    assert verbose["weight"] == block.GetWeight() and verbose["size"] == len(bytes.fromhex(raw))
    detailed = proxy.getblock(block_hash, 2)
    assert detailed["tx"][0]["vout"][0]["value"] == Decimal("50.00000000")
    assert detailed["tx"][0]["vout"][0]["scriptPubKey"]["address"] == funded
    assert proxy.getblockheader(proxy.getblockhash(1))["confirmations"] == proxy.getblockcount()


# --- the main scenario: pay, scan, confirm, reorganise ---


def test_payments_scan_confirmations_and_reorg(node: Node, funded: str) -> None:
    proxy = node.proxy()
    wallet = node.proxy("/wallet/miner")
    assert wallet.getbalance() == Decimal("50.00000000")
    to_wpkh = wallet.sendtoaddress(P2WPKH_ADDRESS, "0.12345678")
    to_taproot = wallet.sendtoaddress(P2TR_ADDRESS, "1.00000001")
    assert set(proxy.getrawmempool()) == {to_wpkh, to_taproot}
    scan_objects = [f"addr({P2WPKH_ADDRESS})", {"desc": f"addr({P2TR_ADDRESS})"}]
    unconfirmed = proxy.scantxoutset("start", scan_objects)
    assert unconfirmed["unspents"] == [] and unconfirmed["total_amount"] == Decimal(0)
    block_hash = proxy.generatetoaddress(1, funded)[0]
    assert proxy.getbestblockhash() == block_hash and proxy.getrawmempool() == []

    scan = proxy.scantxoutset("start", scan_objects)
    assert scan["success"] is True and scan["height"] == 102 and scan["bestblock"] == block_hash
    found = {item["txid"]: item for item in scan["unspents"]}
    assert set(found) == {to_wpkh, to_taproot}
    assert found[to_wpkh]["amount"] == Decimal("0.12345678")
    assert found[to_taproot]["amount"] == Decimal("1.00000001")
    assert scan["total_amount"] == Decimal("1.12345679")
    assert found[to_wpkh]["desc"] == "addr(bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt080)#8pk5s7ya"
    assert found[to_taproot]["desc"] == proxy.getdescriptorinfo(f"rawtr({P2TR_KEY})")["descriptor"]
    for item in found.values():
        assert item["height"] == 102 and item["confirmations"] == 1
        assert item["blockhash"] == block_hash and item["coinbase"] is False
    assert found[to_wpkh]["scriptPubKey"] == P2WPKH_SCRIPT

    _, _, body = node.http({"method": "scantxoutset", "params": ["start", scan_objects], "id": 1})
    assert b'"amount":0.12345678,' in body and b'"total_amount":1.12345679}' in body

    proxy.generatetoaddress(2, funded)
    vout = next(
        out["n"]
        for out in proxy.getrawtransaction(to_wpkh, 1, block_hash)["vout"]
        if out["scriptPubKey"]["address"] == P2WPKH_ADDRESS
    )
    txout = proxy.gettxout(to_wpkh, vout)
    assert txout["confirmations"] == 3 and txout["value"] == Decimal("0.12345678")
    assert txout["scriptPubKey"]["type"] == "witness_v0_keyhash"

    proxy.invalidateblock(block_hash)
    assert proxy.getblockcount() == 101
    assert proxy.getbestblockhash() == proxy.getblockhash(101) != block_hash
    assert proxy.scantxoutset("start", scan_objects)["unspents"] == []
    assert set(proxy.getrawmempool()) == {to_wpkh, to_taproot}
    assert proxy.gettxout(to_wpkh, vout)["confirmations"] == 0
    assert proxy.gettxout(to_wpkh, vout, False) is None
    assert proxy.getblockheader(block_hash)["confirmations"] == -1

    new_hash = proxy.generatetoaddress(1, funded)[0]
    again = proxy.scantxoutset("start", scan_objects)
    assert {item["txid"] for item in again["unspents"]} == {to_wpkh, to_taproot}
    assert {item["blockhash"] for item in again["unspents"]} == {new_hash}


def test_raw_transaction_with_op_return(node: Node, funded: str) -> None:
    proxy = node.proxy()
    wallet = node.proxy("/wallet/miner")
    raw = proxy.createrawtransaction([], [{"data": "deadbeef"}, {P2WPKH_ADDRESS: "0.001"}])
    funded_tx = wallet.fundrawtransaction(raw)
    assert isinstance(funded_tx["fee"], Decimal) and funded_tx["changepos"] == 2
    signed = wallet.signrawtransactionwithwallet(funded_tx["hex"])
    assert signed["complete"] is True and "errors" not in signed
    txid = proxy.sendrawtransaction(signed["hex"])
    assert b2lx(CTransaction.deserialize(bytes.fromhex(signed["hex"])).GetTxid()) == txid
    assert proxy.sendrawtransaction(signed["hex"]) == txid  # already in the mempool: accepted
    decoded = proxy.getrawtransaction(txid, True)
    assert decoded["vout"][0]["value"] == Decimal("0E-8")
    assert decoded["vout"][0]["scriptPubKey"] == {
        "asm": "OP_RETURN -1874767326",  # a push of at most 4 bytes reads as a number
        "desc": proxy.getdescriptorinfo("raw(6a04deadbeef)")["descriptor"],
        "hex": "6a04deadbeef",
        "type": "nulldata",
    }
    assert "blockhash" not in decoded and decoded["vin"][0]["txinwitness"]
    proxy.generatetoaddress(1, funded)
    assert _error(proxy.sendrawtransaction, signed["hex"]) == {
        "code": -27,
        "message": "Transaction outputs already in utxo set",
    }
    block = proxy.getblock(proxy.getbestblockhash(), 3)
    spent = next(tx for tx in block["tx"] if tx["txid"] == txid)
    assert spent["fee"] == funded_tx["fee"] and "prevout" in spent["vin"][0]
    unsigned = proxy.createrawtransaction([{"txid": txid, "vout": 1}], {P2WPKH_ADDRESS: "0.0009"})
    error = _error(proxy.sendrawtransaction, unsigned)
    assert error["code"] == -26 and error["message"].startswith(
        "mandatory-script-verify-flag-failed"
    )


# --- descriptors and addresses ---


def test_descriptor_checksums(node: Node) -> None:
    proxy = node.proxy()
    for text in (
        "raw(76a91411b366edfc0a8b66feebae5c2e25a7b6a5d1cf3188ac)#fm24fxxy",
        "addr(bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt080)#8pk5s7ya",
        "addr(mipcBbFg9gMiCh81Kj8tqqdgoZub1ZJRfn)#eccnnjdy",
    ):
        info = proxy.getdescriptorinfo(text.split("#")[0])
        assert info["descriptor"] == text and info["checksum"] == text[-8:]
        assert info["isrange"] is False and info["hasprivatekeys"] is False
    key = "0279be667ef9dcbbac55a06295Ce870b07029Bfcdb2dce28d959f2815b16f81798"
    info = proxy.getdescriptorinfo(f"wpkh([d34db33f/84h/0h/0h]{key})")
    assert info["checksum"] == "qwlqgth7" and info["issolvable"] is True
    assert info["descriptor"] == f"wpkh([d34db33f/84h/0h/0h]{key.lower()})#5fp02c75"
    info = proxy.getdescriptorinfo(f"wpkh([d34db33f/84'/0'/0']{key})")
    assert info["descriptor"].endswith("#n9g43y4k")
    assert (
        _error(proxy.getdescriptorinfo, "addr(mipcBbFg9gMiCh81Kj8tqqdgoZub1ZJRfn)#00000000")[
            "message"
        ]
        == "Provided checksum '00000000' does not match computed checksum 'eccnnjdy'"
    )
    pkh = "pkh(02e96fe52ef0e22d2f131dd425ce1893073a3c6ad20e8cac36726393dfb4856a4c)#62k9sn4x"
    assert proxy.deriveaddresses(pkh) == ["mrkwtj5xpYQjHeJe5wsweNjVeTKkvR5fCr"]
    assert _error(proxy.deriveaddresses, pkh, [0, 1]) == {
        "code": -8,
        "message": "Range should not be specified for an un-ranged descriptor",
    }
    assert _error(proxy.deriveaddresses, f"addr({P2WPKH_ADDRESS})") == {
        "code": -5,
        "message": "Missing checksum",
    }
    assert proxy.deriveaddresses(f"addr({P2WPKH_ADDRESS})#8pk5s7ya") == [P2WPKH_ADDRESS]


@pytest.mark.parametrize(
    ("address", "message", "locations"),
    [
        (
            "bcrt1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vqdmchcc",
            "Version 1+ witness address must use Bech32m checksum",
            [],
        ),
        (
            "bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7k35mrzd",
            "Version 0 witness address must use Bech32 checksum",
            [],
        ),
        ("bcrt1q049edschfnwystcqnsvyfpj23mpsg3jcedq9xv", "Invalid Bech32 checksum", [9]),
        ("bcrt1qax9suht3qv95sw33xavx8crpxduefdrsvgsklu", "Invalid Bech32 checksum", [22, 43]),
        ("bcrt1q04oldschfnwystcqnsvyfpj23mpsg3jcedq9xv", "Invalid Base 32 character", [8]),
        (
            "17VZNX1SN5NtKa8UQFxwQbFeFc3iqRYhem",
            "Invalid or unsupported Base58-encoded address.",
            [],
        ),
        ("mipcBbFg9gMiCh81Kj8tqqdgoZub1ZJJfn", BASE58_CHECKSUM_ERROR, []),
        (BIP173_V1_MAINNET, "Invalid or unsupported Segwit (Bech32) or Base58 encoding.", []),
    ],
)
def test_validateaddress_invalid(
    node: Node, address: str, message: str, locations: list[int]
) -> None:
    result = node.proxy().validateaddress(address)
    assert result == {"isvalid": False, "error_locations": locations, "error": message}


def test_validateaddress_valid(node: Node) -> None:
    proxy = node.proxy()
    assert proxy.validateaddress(P2WPKH_ADDRESS) == {
        "isvalid": True,
        "address": P2WPKH_ADDRESS,
        "scriptPubKey": P2WPKH_SCRIPT,
        "isscript": False,
        "iswitness": True,
        "witness_version": 0,
        "witness_program": P2WPKH_SCRIPT[4:],
    }
    taproot = proxy.validateaddress(P2TR_ADDRESS)
    assert (taproot["isscript"], taproot["witness_version"]) == (True, 1)
    unknown = proxy.validateaddress("bcrt1p424qxxyd0r")
    assert "isscript" not in unknown and unknown["iswitness"] is True
    upper = proxy.validateaddress("BCRT1QPLMTZKC2XHARPPZDLNPAQL78RSHJ68U33RAH7R")
    assert upper["address"] == "bcrt1qplmtzkc2xharppzdlnpaql78rshj68u33rah7r"


# --- wallets ---


def test_wallet_selection_and_watch_only_import(tmp_path: Path) -> None:
    with running_bitcoind(tmp_path) as (url, cookie_path):
        node = Node(url, cookie_path)
        proxy = node.proxy()
        error = _error(proxy.listunspent)
        assert error["code"] == -18 and error["message"].startswith("No wallet is loaded.")
        proxy.createwallet("payer")
        payer = node.proxy("/wallet/payer")
        payer_address = payer.getnewaddress()
        proxy.generatetoaddress(101, payer_address)
        watch = proxy.createwallet("watch", True)
        assert watch == {"name": "watch"}
        assert _error(proxy.getbalance) == {
            "code": -19,
            "message": "Wallet file not specified (must request wallet RPC through "
            "/wallet/<filename> uri-path).",
        }
        assert _error(node.proxy("/wallet/nope").getbalance) == {
            "code": -18,
            "message": "Requested wallet does not exist or is not loaded",
        }
        assert _error(proxy.createwallet, "payer")["code"] == -4
        txid = payer.sendtoaddress(P2TR_ADDRESS, "0.5")
        proxy.generatetoaddress(1, payer_address)
        watcher = node.proxy("/wallet/watch")
        checksum = proxy.getdescriptorinfo(f"addr({P2TR_ADDRESS})")["checksum"]
        result = watcher.importdescriptors(
            [
                {"desc": f"addr({P2TR_ADDRESS})#{checksum}", "timestamp": 0},
                {"desc": f"addr({P2WPKH_ADDRESS})", "timestamp": "now"},
            ]
        )
        assert result[0] == {"success": True}
        assert result[1] == {"success": False, "error": {"code": -5, "message": "Missing checksum"}}
        error = _error(watcher.importdescriptors, [{"desc": f"addr({P2TR_ADDRESS})#{checksum}"}])
        assert error == {"code": -3, "message": "Missing required timestamp field for key"}
        unspent = watcher.listunspent()
        assert len(unspent) == 1 and unspent[0]["txid"] == txid
        assert unspent[0]["amount"] == Decimal("0.50000000") and unspent[0]["confirmations"] == 1
        assert unspent[0]["address"] == P2TR_ADDRESS and unspent[0]["solvable"] is False
        assert watcher.listunspent(1, 9999999, []) == unspent
        assert watcher.listunspent(1, 9999999, [P2WPKH_ADDRESS]) == []
        assert _error(watcher.listunspent, 1, 9, [P2TR_ADDRESS, P2TR_ADDRESS])["code"] == -8
        assert watcher.getreceivedbyaddress(P2TR_ADDRESS) == Decimal("0.50000000")
        assert watcher.getbalance() == Decimal("0.50000000")
        assert _error(watcher.getreceivedbyaddress, P2WPKH_ADDRESS) == {
            "code": -4,
            "message": "Address not found in wallet",
        }
        assert (
            _error(watcher.getnewaddress)["message"] == "Error: This wallet has no available keys"
        )
        assert _error(payer.sendtoaddress, P2WPKH_ADDRESS, "1000")["code"] == -6
        assert proxy.listwallets() == ["payer", "watch"]


# --- start options: scans in progress, warm-up, snapshots ---


def test_scan_in_progress_status_and_abort(tmp_path: Path) -> None:
    with running_bitcoind(tmp_path, scan_delay_s=3.0) as (url, cookie_path):
        node = Node(url, cookie_path)
        proxy = node.proxy()
        assert proxy.scantxoutset("status") is None
        assert proxy.scantxoutset("abort") is False
        results: list[Any] = []
        scanner = threading.Thread(
            target=lambda: results.append(
                node.proxy().scantxoutset("start", [f"addr({P2WPKH_ADDRESS})"])
            )
        )
        scanner.start()
        deadline = time.monotonic() + 2.0
        while proxy.scantxoutset("status") is None and time.monotonic() < deadline:
            time.sleep(0.02)
        assert proxy.scantxoutset("status") == {"progress": 0}
        assert _error(proxy.scantxoutset, "start", []) == {
            "code": -8,
            "message": 'Scan already in progress, use action "abort" or "status"',
        }
        assert proxy.scantxoutset("abort") is True
        scanner.join(timeout=5)
        assert results[0]["success"] is False and results[0]["unspents"] == []
        assert proxy.scantxoutset("status") is None


def test_warmup_answers_minus_28(tmp_path: Path) -> None:
    with running_bitcoind(tmp_path, warmup_s=0.5) as (url, cookie_path):
        node = Node(url, cookie_path)
        status, reply = node.call({"method": "getblockcount", "id": 1})
        assert status == 500
        assert reply["error"] == {"code": -28, "message": "Loading block index\u2026"}
        error = _error(node.proxy().getblockcount)
        assert error["code"] == -28
        time.sleep(0.6)
        assert node.proxy().getblockcount() == 0


def test_snapshot_survives_restart(tmp_path: Path) -> None:
    snapshot = tmp_path / "state.json"
    with running_bitcoind(tmp_path, snapshot_path=snapshot) as (url, cookie_path):
        proxy = Node(url, cookie_path).proxy()
        proxy.createwallet("keep")
        address = Node(url, cookie_path).proxy("/wallet/keep").getnewaddress()
        hashes = proxy.generatetoaddress(102, address)
        proxy.invalidateblock(hashes[-1])
    with running_bitcoind(tmp_path, snapshot_path=snapshot) as (url, cookie_path):
        node = Node(url, cookie_path)
        assert node.proxy().getblockcount() == 101
        assert node.proxy().getbestblockhash() == hashes[-2]
        assert node.proxy("/wallet/keep").getbalance() == Decimal("50.00000000")
