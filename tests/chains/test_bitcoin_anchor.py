"""Anchoring checkpoints on Bitcoin against the regtest stand-in; checking anchors offline."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import typer
from bitcoin.rpc import RawProxy  # type: ignore[import-untyped]
from tests.conftest import LedgerWorld
from typer.testing import CliRunner

from sequestra.audit.anchor import (
    AnchorCheckError,
    check_bitcoin_anchor,
    decode_bitcoin_transaction,
    op_return_data,
)
from sequestra.audit.cli import main as audit_main
from sequestra.chains.bitcoin.anchor import (
    BitcoinAnchorError,
    BitcoinAnchorTimeoutError,
    BitcoinNodeSettingError,
    BitcoinNodeUnreachableError,
    BitcoinRpcError,
    anchor_bitcoin,
    fetch_anchor_bitcoin,
)
from sequestra.cli import anchor_commands
from sequestra.cli.common import AppState
from sequestra.errors import EXIT_UNAVAILABLE, DependencyUnavailable, exit_code
from sequestra.ledger.anchor_payload import format_anchor_payload
from sequestra.ledger.anchors import list_anchors, record_anchor
from sequestra.ledger.checkpoint import Checkpoint
from sequestra.ledger.checkpoints import create_checkpoint
from sequestra.ledger.keys import SigningKey
from sequestra.ledger.note import Ed25519Signer
from sequestra_sandbox.bitcoin import running_bitcoind

ORIGIN = "test.sequestra.example/log"  # the origin of the `world` fixture's ledger
WALLET = "anchors"
TIMEOUT_S = 15.0
POLL_S = 0.05
ROOT = bytes(range(32))


@dataclass(frozen=True)
class Node:
    """The session's stand-in node: URL without credentials, cookie file, wallet endpoint."""

    url: str
    cookie: Path

    def proxy(self, wallet: str | None = WALLET) -> Any:
        credentials = self.cookie.read_text().strip()
        path = f"/wallet/{wallet}" if wallet else "/"
        return RawProxy(
            service_url=self.url.replace("://", f"://{credentials}@") + path, timeout=10
        )

    def url_with_credentials(self) -> str:
        return self.url.replace("://", f"://{self.cookie.read_text().strip()}@")


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Node]:
    datadir = tmp_path_factory.mktemp("bitcoind")
    with running_bitcoind(datadir, funded_wallet=WALLET) as (url, cookie):
        started = Node(url, cookie)
        assert int(started.proxy().getblockcount()) >= 101  # the first coinbase is mature
        yield started


@contextmanager
def mining(node: Node, interval_s: float = 0.1) -> Iterator[None]:
    """Mine a block every `interval_s` while the block runs."""
    stop = threading.Event()
    proxy = node.proxy()
    address = proxy.getnewaddress()

    def mine() -> None:
        while not stop.wait(interval_s):
            proxy.generatetoaddress(1, address)

    thread = threading.Thread(target=mine, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(10)


def vkey(key: SigningKey, name: str = ORIGIN) -> str:
    return Ed25519Signer(name, key.private_key).verifier().verifier_key


def closed_port_url() -> str:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://user:SECRET-PASSWORD@127.0.0.1:{port}"


def anchor(node: Node, payload: bytes, confirmations: int = 1) -> str:
    with mining(node):
        receipt = anchor_bitcoin(
            node.url, WALLET, payload, confirmations, TIMEOUT_S,
            cookie_file=node.cookie, poll_interval_s=POLL_S,
        )  # fmt: skip
    return receipt.tx_hash


# --- the whole path, on SQLite and PostgreSQL -----------------------------------------------


def test_anchor_record_fetch_and_check_offline(
    world: LedgerWorld, node: Node, tmp_path: Path
) -> None:
    world.ledger.append([world.note("seized 1.5 BTC, case 2026/17")], world.now)
    stored, _ = create_checkpoint(world.engine, world.signer)
    payload = format_anchor_payload(Checkpoint(ORIGIN, stored.size, stored.root_hash))

    with mining(node):
        receipt = anchor_bitcoin(
            node.url, WALLET, payload, 2, TIMEOUT_S,
            cookie_file=node.cookie, poll_interval_s=POLL_S,
        )  # fmt: skip
    assert (receipt.chain, receipt.data) == ("bitcoin", payload)
    assert len(receipt.tx_hash) == 64 and len(receipt.block_hash) == 64
    header = node.proxy().getblockheader(receipt.block_hash)
    assert header["height"] == receipt.block_number and header["confirmations"] >= 2
    recorded = record_anchor(world.engine, receipt, stored.size)
    assert (recorded.chain, recorded.tx_hash, recorded.payload) == (
        "bitcoin",
        receipt.tx_hash,
        payload,
    )
    assert list_anchors(world.engine, "bitcoin", stored.size) == [recorded]

    raw = fetch_anchor_bitcoin(
        node.url, receipt.tx_hash, block_hash=receipt.block_hash, cookie_file=node.cookie
    )
    verdict = check_bitcoin_anchor(
        raw, stored.note, vkey(world.ledger_key), expected_txid=receipt.tx_hash
    )
    assert verdict.ok, verdict.reason
    assert (verdict.origin, verdict.size, verdict.root_hash) == (ORIGIN, 3, stored.root_hash)
    assert verdict.tx_hash == receipt.tx_hash
    assert decode_bitcoin_transaction(raw).segwit  # the wallet spends segwit outputs

    raw_file, note_file = tmp_path / "tx.hex", tmp_path / "checkpoint"
    raw_file.write_text(raw.hex() + "\n")
    note_file.write_bytes(stored.note)
    args = ["anchor", "--chain", "bitcoin", str(raw_file), str(note_file)]
    args += ["--vkey", vkey(world.ledger_key)]
    assert audit_main([*args, "--txid", receipt.tx_hash]) == 0
    assert audit_main([*args, "--txid", "00" * 32]) == 1
    assert audit_main([*args, "--tx-hash", "0x" + "00" * 32]) == 2  # an Ethereum flag
    raw_file.write_bytes(raw)
    assert audit_main([*args, "--json"]) == 0


# --- offline checks: everything wrong is rejected with a reason -----------------------------


@dataclass(frozen=True)
class Anchored:
    """A synthetic checkpoint signed by a ledger key and anchored on the stand-in."""

    signer: Ed25519Signer
    checkpoint: Checkpoint
    note: bytes
    vkey: str
    raw: bytes
    txid: str


@pytest.fixture(scope="module")
def anchored(node: Node) -> Anchored:
    signer = Ed25519Signer.generate(ORIGIN)
    checkpoint = Checkpoint(ORIGIN, 12, ROOT)
    txid = anchor(node, format_anchor_payload(checkpoint))
    raw = bytes.fromhex(node.proxy().getrawtransaction(txid, False, _block_of(node, txid)))
    note = checkpoint.sign([signer])
    return Anchored(signer, checkpoint, note, signer.verifier().verifier_key, raw, txid)


def _block_of(node: Node, txid: str) -> str:
    proxy = node.proxy()
    for height in range(int(proxy.getblockcount()), 100, -1):
        block_hash = proxy.getblockhash(height)
        if txid in proxy.getblock(block_hash, 1)["tx"]:
            return str(block_hash)
    raise AssertionError(f"{txid} not mined")


def test_the_genuine_anchor_passes(anchored: Anchored) -> None:
    verdict = check_bitcoin_anchor(
        anchored.raw, anchored.note, anchored.vkey, expected_txid=anchored.txid.upper()
    )
    assert verdict.ok and verdict.reason is None and verdict.tx_hash == anchored.txid
    assert verdict.to_json()["root"] == ROOT.hex()
    hex_text = ("0x" + anchored.raw.hex() + "\n").encode()
    assert check_bitcoin_anchor(hex_text, anchored.note, anchored.vkey).ok


@pytest.mark.parametrize(
    ("checkpoint", "reason"),
    [
        (Checkpoint(ORIGIN, 12, bytes(32)), "root: the checkpoint names 00"),
        (Checkpoint(ORIGIN, 13, ROOT), "size: the checkpoint names 13, the anchor 12"),
        (Checkpoint("other.example/log", 12, ROOT), "origin: the checkpoint names 'other"),
    ],
)
def test_another_checkpoint_is_rejected(
    anchored: Anchored, checkpoint: Checkpoint, reason: str
) -> None:
    note = checkpoint.sign([anchored.signer])  # genuinely signed, but not what was anchored
    verdict = check_bitcoin_anchor(anchored.raw, note, anchored.vkey)
    assert not verdict.ok
    assert verdict.reason is not None and verdict.reason.startswith(reason)
    assert verdict.tx_hash == anchored.txid


def test_a_checkpoint_signed_by_another_key_is_rejected(anchored: Anchored) -> None:
    impostor = Ed25519Signer.generate(ORIGIN)
    verdict = check_bitcoin_anchor(
        anchored.raw, anchored.checkpoint.sign([impostor]), anchored.vkey
    )
    assert not verdict.ok and "not verified under the ledger key" in str(verdict.reason)
    forged = anchored.note.replace(b"\n12\n", b"\n13\n")
    verdict = check_bitcoin_anchor(anchored.raw, forged, anchored.vkey)
    assert not verdict.ok and "checkpoint note" in str(verdict.reason)
    with pytest.raises(ValueError, match="verifier key"):
        check_bitcoin_anchor(anchored.raw, anchored.note, "not a key")


def test_a_transaction_without_the_payload_is_rejected(anchored: Anchored, node: Node) -> None:
    proxy = node.proxy()
    txid = proxy.sendtoaddress(proxy.getnewaddress(), 0.001)  # no OP_RETURN output
    raw = fetch_anchor_bitcoin(node.url, txid, cookie_file=node.cookie)  # from the mempool
    verdict = check_bitcoin_anchor(raw, anchored.note, anchored.vkey, expected_txid=txid)
    assert not verdict.ok
    assert verdict.reason == "OP_RETURN: expected exactly one OP_RETURN output, got 0"

    other = anchor(node, b"hello, not an anchor\n")
    raw = fetch_anchor_bitcoin(
        node.url, other, block_hash=_block_of(node, other), cookie_file=node.cookie
    )
    verdict = check_bitcoin_anchor(raw, anchored.note, anchored.vkey)
    assert not verdict.ok
    assert str(verdict.reason).startswith("OP_RETURN data is not a sequestra anchor payload")


def test_a_tampered_transaction_is_rejected(anchored: Anchored) -> None:
    raw = anchored.raw
    cases = {
        "truncated": raw[:-1],
        "one byte appended": raw + b"\x00",
        "half": raw[: len(raw) // 2],
        "empty": b"",
        "not hex": b"zz",
        "odd hex": b"0x123",
    }
    for name, tampered in cases.items():
        verdict = check_bitcoin_anchor(tampered, anchored.note, anchored.vkey)
        assert not verdict.ok, name
        assert str(verdict.reason).startswith("transaction:"), (name, verdict.reason)

    payload = format_anchor_payload(anchored.checkpoint)
    root_at = raw.index(payload) + payload.index(b"\n12\n") + 4
    swapped = bytearray(raw)
    swapped[root_at] = ord("B") if raw[root_at] != ord("B") else ord("C")
    verdict = check_bitcoin_anchor(bytes(swapped), anchored.note, anchored.vkey)
    assert not verdict.ok and str(verdict.reason).startswith("root:"), verdict.reason
    verdict = check_bitcoin_anchor(
        bytes(swapped), anchored.note, anchored.vkey, expected_txid=anchored.txid
    )
    assert not verdict.ok and str(verdict.reason).startswith("txid: expected")

    witness_start = 4 + 2 + len(_strip_witness(raw)) - 8  # after marker, inputs and outputs
    for position in range(0, len(raw), 5):
        flipped = bytearray(raw)
        flipped[position] ^= 0x01
        verdict = check_bitcoin_anchor(
            bytes(flipped), anchored.note, anchored.vkey, expected_txid=anchored.txid
        )
        in_witness = witness_start <= position < len(raw) - 4
        if verdict.ok:  # only witness bytes are outside the txid
            assert in_witness, position


def _strip_witness(raw: bytes) -> bytes:
    from sequestra.audit.anchor import _Reader

    reader = _Reader(raw)
    reader.take(6, "head")
    start = reader.position
    for _ in range(reader.count(41, "inputs")):
        reader.take(36, "outpoint")
        reader.take(reader.count(1, "script"), "script")
        reader.take(4, "sequence")
    for _ in range(reader.count(9, "outputs")):
        reader.take(8, "value")
        reader.take(reader.count(1, "script"), "script")
    return raw[:4] + raw[start : reader.position] + raw[-4:]


def test_a_wrong_expected_txid_is_rejected(anchored: Anchored) -> None:
    verdict = check_bitcoin_anchor(
        anchored.raw, anchored.note, anchored.vkey, expected_txid="ab" * 32
    )
    assert not verdict.ok
    assert verdict.reason == f"txid: expected {'ab' * 32}, the bytes hash to {anchored.txid}"


# --- the decoder on synthetic transactions --------------------------------------------------


def _tx(outputs: list[bytes], *, witness: bytes | None = None, count: bytes = b"") -> bytes:
    version = (2).to_bytes(4, "little")
    inputs = (count or b"\x01") + b"\x11" * 36 + b"\x00" + b"\xff" * 4
    body = inputs + bytes([len(outputs)])
    for script in outputs:
        body += (0).to_bytes(8, "little") + bytes([len(script)]) + script
    locktime = b"\x00" * 4
    if witness is None:
        return version + body + locktime
    return version + b"\x00\x01" + body + witness + locktime


def test_decoder_is_strict_and_computes_the_txid(anchored: Anchored) -> None:
    import hashlib

    legacy = _tx([b"\x6a\x03abc"])
    expected = hashlib.sha256(hashlib.sha256(legacy).digest()).digest()[::-1].hex()
    assert decode_bitcoin_transaction(legacy).txid == expected
    segwit = _tx([b"\x6a\x03abc"], witness=b"\x01\x02\xaa\xbb")
    assert decode_bitcoin_transaction(segwit).txid == expected  # the witness is not hashed
    assert decode_bitcoin_transaction(segwit).segwit

    bad = {
        "empty witness with marker": _tx([b"\x6a"], witness=b"\x00"),
        "flag 0x02": legacy[:4] + b"\x00\x02" + legacy[4:],
        "non-canonical count": _tx([b"\x6a"], count=b"\xfd\x01\x00"),
        "count beyond the data": _tx([b"\x6a"], count=b"\xfe\xff\xff\x00\x00"),
        "no outputs": legacy[:4] + legacy[4:46] + b"\x00" + b"\x00" * 4,
    }
    for name, raw in bad.items():
        with pytest.raises(AnchorCheckError):
            decode_bitcoin_transaction(raw)
        assert not check_bitcoin_anchor(raw, anchored.note, anchored.vkey).ok, name

    payload = format_anchor_payload(anchored.checkpoint)
    pushes = [
        b"\x6a\x4c" + bytes([len(payload)]) + payload,
        b"\x6a\x4d" + len(payload).to_bytes(2, "little") + payload,
        b"\x6a\x4e" + len(payload).to_bytes(4, "little") + payload,
    ]
    for script in pushes:
        assert op_return_data(script) == payload
        assert check_bitcoin_anchor(_tx([script]), anchored.note, anchored.vkey).ok
    two = _tx([pushes[0], pushes[0]])
    verdict = check_bitcoin_anchor(two, anchored.note, anchored.vkey)
    assert verdict.reason == "OP_RETURN: expected exactly one OP_RETURN output, got 2"
    for script in (
        b"\x6a",
        b"\x6a\x00",
        b"\x6a\x05abc",
        b"\x6a\x02abc",
        b"\x6a\x4d\x01",
        b"\x6a\x51",
    ):
        with pytest.raises(AnchorCheckError):
            op_return_data(script)


# --- the node side: errors are typed and bounded -------------------------------------------


def test_node_unreachable_and_refusals(node: Node) -> None:
    started = time.monotonic()
    with pytest.raises(BitcoinNodeUnreachableError) as caught:
        anchor_bitcoin(closed_port_url(), WALLET, b"x\n", 1, 5.0)
    assert "SECRET" not in str(caught.value)
    with pytest.raises(BitcoinAnchorError):
        fetch_anchor_bitcoin(closed_port_url(), "00" * 32, timeout_s=5.0)
    assert time.monotonic() - started < 5

    wrong = node.url.replace("://", "://__cookie__:SECRET-WRONG@")
    with pytest.raises(BitcoinNodeUnreachableError) as caught:
        anchor_bitcoin(wrong, WALLET, b"x\n", 1, 5.0)
    assert "SECRET" not in str(caught.value)
    with pytest.raises(BitcoinAnchorError, match="credentials"):
        anchor_bitcoin(node.url, WALLET, b"x\n", 1, 5.0)
    with pytest.raises(BitcoinRpcError) as refused:
        anchor_bitcoin(node.url_with_credentials(), "no-such-wallet", b"x\n", 1, 5.0)
    assert refused.value.code == -18
    with pytest.raises(BitcoinRpcError) as unknown:
        fetch_anchor_bitcoin(node.url, "00" * 32, cookie_file=node.cookie)
    assert unknown.value.code == -5
    for payload, confirmations, timeout_s in ((b"", 1, 5.0), (b"x", 0, 5.0), (b"x", 1, 0.0)):
        with pytest.raises(BitcoinAnchorError):
            anchor_bitcoin(
                node.url, WALLET, payload, confirmations, timeout_s, cookie_file=node.cookie
            )
    with pytest.raises(BitcoinAnchorError, match="fee"):
        anchor_bitcoin(node.url, WALLET, b"x\n", 1, 5.0, cookie_file=node.cookie, fee_sat_max=1)


def test_confirmations_not_reached_in_time(node: Node) -> None:
    started = time.monotonic()
    with pytest.raises(BitcoinAnchorTimeoutError, match="expected 3 confirmation") as caught:
        anchor_bitcoin(
            node.url, WALLET, b"timeout\n", 3, 1.0, cookie_file=node.cookie, poll_interval_s=0.1
        )
    assert len(caught.value.txid) == 64 and caught.value.txid in str(caught.value)
    assert time.monotonic() - started < 3
    with mining(node):  # let the pending transaction confirm so later wallet spends are clean
        time.sleep(0.3)


# --- the node's settings: -datacarriersize and -fallbackfee, checked before sending ----------

PAYLOAD = format_anchor_payload(Checkpoint(ORIGIN, 12345, ROOT))  # 98 bytes: a 101-byte script


@contextmanager
def configured_node(tmp_path: Path, **options: Any) -> Iterator[Node]:
    """A stand-in with a funded wallet, configured like a production node by `options`."""
    with running_bitcoind(tmp_path / "bitcoind", funded_wallet=WALLET, **options) as started:
        yield Node(*started)


def _anchor_on(node: Node, payload: bytes = PAYLOAD, **options: Any) -> str:
    with mining(node):
        receipt = anchor_bitcoin(
            node.url, WALLET, payload, 1, TIMEOUT_S,
            cookie_file=node.cookie, poll_interval_s=POLL_S, **options,
        )  # fmt: skip
    return receipt.tx_hash


def _refused(node: Node, setting: str, **options: Any) -> BitcoinNodeSettingError:
    """Anchor on `node`, which must refuse naming `setting`; check nothing was sent or locked."""
    coins_before = node.proxy().listunspent()
    with pytest.raises(BitcoinNodeSettingError) as caught:
        anchor_bitcoin(node.url, WALLET, PAYLOAD, 1, TIMEOUT_S, cookie_file=node.cookie, **options)
    error = caught.value
    assert error.setting == setting and setting in str(error) and "nothing was" in str(error)
    assert isinstance(error, DependencyUnavailable) and exit_code(error) == EXIT_UNAVAILABLE
    assert node.proxy(None).getrawmempool() == []
    assert node.proxy().listunspent() == coins_before
    return error


def test_a_v29_node_at_its_default_datacarriersize_is_refused_before_sending(
    tmp_path: Path,
) -> None:
    with configured_node(tmp_path, node_version=290100, datacarrier_bytes_max=83) as node:
        error = _refused(node, "-datacarriersize")
        assert "at most 83 bytes" in str(error) and "the anchor needs 101" in str(error)
        assert "default of v29.1" in str(error) and "-datacarriersize=101" in str(error)
        assert len(_anchor_on(node, b"x" * 80)) == 64  # an 83-byte script is relayed


def test_a_v30_node_reporting_a_lower_datacarriersize_is_refused(tmp_path: Path) -> None:
    with configured_node(tmp_path, datacarrier_bytes_max=100) as node:
        error = _refused(node, "-datacarriersize")
        assert "maxdatacarriersize" in str(error) and "at most 100 bytes" in str(error)


def test_a_declared_datacarriersize_is_used_and_a_wrong_one_is_caught(tmp_path: Path) -> None:
    with configured_node(tmp_path, node_version=290100, datacarrier_bytes_max=120) as node:
        assert len(_anchor_on(node, datacarrier_bytes_max=120)) == 64  # v29 does not report it
    # Declared 120 while the node relays 83: the check passes, the node's -26 is named.
    with configured_node(tmp_path / "old", node_version=290100, datacarrier_bytes_max=83) as node:
        error = _refused(node, "-datacarriersize", datacarrier_bytes_max=120)
        assert "refused the anchor's 101-byte OP_RETURN script" in str(error)
        assert isinstance(error.__cause__, BitcoinRpcError) and error.__cause__.code == -26


def test_a_node_without_fee_estimates_or_fallback_fee_is_refused(tmp_path: Path) -> None:
    with configured_node(tmp_path, fallback_fee_sat_per_kvb=0) as node:
        error = _refused(node, "-fallbackfee")
        assert "within 6 blocks" in str(error) and "Fee estimation failed" in str(error)
        assert isinstance(error.__cause__, BitcoinRpcError) and error.__cause__.code == -4


def test_a_node_with_fee_estimates_needs_no_fallback_fee(tmp_path: Path) -> None:
    options = {"fallback_fee_sat_per_kvb": 0, "fee_estimate_sat_per_kvb": 2_000}
    with configured_node(tmp_path, **options) as node:
        txid = _anchor_on(node)
        mined = node.proxy(None).getrawtransaction(txid, True, _block_of(node, txid))
        assert mined["vout"][0]["scriptPubKey"]["hex"] == "6a4c62" + PAYLOAD.hex()


# --- the CLI --------------------------------------------------------------------------------


def test_cli_anchor_command(
    world: LedgerWorld, node: Node, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SEQUESTRA_CONFIG", raising=False)
    monkeypatch.setenv("SEQUESTRA_ANCHOR__BITCOIN_RPC_URL", node.url)
    monkeypatch.setenv("SEQUESTRA_ANCHOR__BITCOIN_WALLET", WALLET)
    monkeypatch.setenv("SEQUESTRA_ANCHOR__BITCOIN_COOKIE_FILE", str(node.cookie))
    monkeypatch.setenv("SEQUESTRA_ANCHOR__BITCOIN_CONFIRMATIONS", "1")
    monkeypatch.setenv("SEQUESTRA_ANCHOR__TIMEOUT_S", str(TIMEOUT_S))
    app = typer.Typer()
    app.command(name="anchor")(anchor_commands.anchor)
    app.command(name="anchors")(anchor_commands.anchors)
    runner = CliRunner()

    def run(*args: str) -> tuple[int, str]:
        result = runner.invoke(app, list(args), obj=AppState(database_url=world.url))
        return result.exit_code, result.output

    stored, _ = create_checkpoint(world.engine, world.signer)
    with mining(node):
        code, output = run("anchor", "--chain", "bitcoin", "--json")
    assert code == 0, output
    first = json.loads(output)
    assert first["created"] is True and first["size"] == stored.size
    assert first["chain"] == "bitcoin" and len(first["tx_hash"]) == 64
    assert node.cookie.read_text().split(":")[1] not in output
    code, output = run("anchor", "--chain", "bitcoin", "--json")
    assert code == 0 and json.loads(output) == {**first, "created": False}
    code, output = run("anchors", "--chain", "bitcoin", "--json")
    assert [item["tx_hash"] for item in json.loads(output)] == [first["tx_hash"]]

    monkeypatch.setenv("SEQUESTRA_ANCHOR__BITCOIN_WALLET", "no-such-wallet")
    world.ledger.append([world.note("another")], world.now)
    create_checkpoint(world.engine, world.signer)
    code, output = run("anchor", "--chain", "bitcoin")
    assert code == EXIT_UNAVAILABLE and "code -18" in output


def test_the_auditor_imports_no_bitcoin_library() -> None:
    code = (
        "import sys, sequestra.audit.anchor, sequestra.audit.cli\n"
        "print(sorted({name.split('.')[0] for name in sys.modules} & {'bitcoin', 'web3'}))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert result.stdout.strip() == "[]"
