"""Anchoring checkpoints on Ethereum, for real, against anvil; and checking anchors offline."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import typer
from eth_account import Account
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from tests.conftest import LedgerWorld
from typer.testing import CliRunner

from sequestra.audit.anchor import (
    AnchorCheckError,
    RlpItem,
    check_ethereum_anchor,
    decode_ethereum_transaction,
    parse_raw_transaction_hex,
    rlp_decode,
    rlp_encode,
)
from sequestra.chains.ethereum.anchor import (
    AccountKeyError,
    AnchorError,
    AnchorTimeoutError,
    AnchorUnconfirmedError,
    NodeUnreachableError,
    TransactionRevertedError,
    anchor_ethereum,
    fetch_anchor_ethereum,
    read_account_key_file,
    rebuild_raw_transaction,
)
from sequestra.cli import anchor_commands
from sequestra.cli.common import AppState
from sequestra.ledger.anchor_payload import format_anchor_payload
from sequestra.ledger.anchors import AnchorReceipt, list_anchors, record_anchor
from sequestra.ledger.checkpoint import Checkpoint
from sequestra.ledger.checkpoints import create_checkpoint
from sequestra.ledger.errors import LedgerStateError
from sequestra.ledger.keys import SigningKey
from sequestra.ledger.note import Ed25519Signer
from sequestra_sandbox.anvil import (
    ANVIL_CHAIN_ID,
    ANVIL_DEV_PRIVATE_KEYS,
    AnvilNode,
    AnvilNotFoundError,
    find_anvil,
    rpc_call,
    running_anvil,
)

ORIGIN = "test.sequestra.example/log"  # the origin of the `world` fixture's ledger
TIMEOUT_S = 20.0
ROOT = bytes(range(32))


def vkey(key: SigningKey, name: str = ORIGIN) -> str:
    return Ed25519Signer(name, key.private_key).verifier().verifier_key


def address(private_key: str) -> str:
    return str(Account.from_key(private_key).address).lower()


def closed_port_url() -> str:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}"


# --- the whole path, on SQLite and PostgreSQL -----------------------------------------------


def test_anchor_record_fetch_and_check_offline(world: LedgerWorld, anvil_node: AnvilNode) -> None:
    world.ledger.append([world.note("seized 1.5 BTC, case 2026/17")], world.now)
    stored, _ = create_checkpoint(world.engine, world.signer)
    payload = format_anchor_payload(Checkpoint(ORIGIN, stored.size, stored.root_hash))
    key = anvil_node.private_keys[0]

    receipt = anchor_ethereum(
        anvil_node.rpc_url, key, payload, 1, TIMEOUT_S, chain_id_expected=ANVIL_CHAIN_ID
    )
    assert (receipt.chain, receipt.data) == ("ethereum", payload)
    assert receipt.tx_hash.startswith("0x") and len(receipt.tx_hash) == 66
    recorded = record_anchor(world.engine, receipt, stored.size)
    assert (recorded.size, recorded.tx_hash, recorded.payload) == (3, receipt.tx_hash, payload)
    assert record_anchor(world.engine, receipt, stored.size) == recorded  # idempotent
    assert list_anchors(world.engine) == [recorded]
    assert list_anchors(world.engine, "ethereum", stored.size) == [recorded]
    assert list_anchors(world.engine, "bitcoin") == []

    fetched = fetch_anchor_ethereum(anvil_node.rpc_url, receipt.tx_hash)
    assert fetched.receipt == receipt
    assert fetched.status == 1 and fetched.confirmations >= 1
    verdict = check_ethereum_anchor(
        fetched.raw_transaction,
        stored.note,
        vkey(world.ledger_key),
        expected_tx_hash=receipt.tx_hash,
        expected_sender=address(key),
        expected_chain_id=ANVIL_CHAIN_ID,
    )
    assert verdict.ok, verdict.reason
    assert (verdict.origin, verdict.size, verdict.root_hash) == (ORIGIN, 3, stored.root_hash)
    assert (verdict.tx_type, verdict.chain_id, verdict.sender) == (2, 31337, address(key))
    assert verdict.to == address(key)  # a transaction to self
    hex_file = ("0x" + fetched.raw_transaction.hex() + "\n").encode()
    assert check_ethereum_anchor(hex_file, stored.note, vkey(world.ledger_key)).ok


def test_record_anchor_checks_the_payload_against_the_checkpoint(world: LedgerWorld) -> None:
    stored, _ = create_checkpoint(world.engine, world.signer)

    def receipt(payload: bytes, tx: str = "0x" + "ab" * 32) -> AnchorReceipt:
        return AnchorReceipt("ethereum", tx, 7, "0x" + "cd" * 32, payload)

    def payload_of(origin: str, size: int, root: bytes) -> bytes:
        return format_anchor_payload(Checkpoint(origin, size, root))

    good = payload_of(ORIGIN, stored.size, stored.root_hash)
    refusals = [
        (receipt(payload_of(ORIGIN, stored.size, ROOT)), stored.size, "expected the payload"),
        (receipt(payload_of("other/log", stored.size, stored.root_hash)), stored.size, "other"),
        (receipt(payload_of(ORIGIN, stored.size + 1, stored.root_hash)), stored.size, "expected"),
        (receipt(good), stored.size + 1, "no signed checkpoint"),
        (receipt(b"not a payload"), stored.size, "newline"),
        (AnchorReceipt("", "0x" + "ab" * 32, 7, "0x01", good), stored.size, "chain name"),
        (AnchorReceipt("ethereum", "0x" + "ab" * 32, -1, "0x01", good), stored.size, "block"),
    ]
    for bad, size, reason in refusals:
        with pytest.raises(LedgerStateError, match=reason):
            record_anchor(world.engine, bad, size)
    assert list_anchors(world.engine) == []

    record_anchor(world.engine, receipt(good), stored.size)
    moved = AnchorReceipt("ethereum", "0x" + "ab" * 32, 8, "0x" + "ef" * 32, good)
    with pytest.raises(LedgerStateError, match="already recorded"):
        record_anchor(world.engine, moved, stored.size)


def test_ledger_anchor_is_append_only(world: LedgerWorld) -> None:
    stored, _ = create_checkpoint(world.engine, world.signer)
    payload = format_anchor_payload(Checkpoint(ORIGIN, stored.size, stored.root_hash))
    record_anchor(world.engine, AnchorReceipt("ethereum", "0x01", 1, "0x02", payload), stored.size)
    for statement in (
        "UPDATE ledger_anchor SET block_number = 2",
        "DELETE FROM ledger_anchor",
    ):
        with pytest.raises(DBAPIError, match="append-only"), world.engine.begin() as connection:
            connection.execute(text(statement))
    assert len(list_anchors(world.engine)) == 1


# --- offline checks: everything wrong is rejected with a reason -----------------------------


@dataclass(frozen=True)
class Anchored:
    """A synthetic checkpoint signed by a ledger key and anchored on the session's anvil."""

    signer: Ed25519Signer
    checkpoint: Checkpoint
    note: bytes
    vkey: str
    raw: bytes
    tx_hash: str
    sender: str


@pytest.fixture(scope="module")
def anchored(anvil_node: AnvilNode) -> Anchored:
    signer = Ed25519Signer.generate(ORIGIN)
    checkpoint = Checkpoint(ORIGIN, 12, ROOT)
    key = anvil_node.private_keys[1]
    payload = format_anchor_payload(checkpoint)
    receipt = anchor_ethereum(anvil_node.rpc_url, key, payload, 1, TIMEOUT_S)
    raw = fetch_anchor_ethereum(anvil_node.rpc_url, receipt.tx_hash).raw_transaction
    return Anchored(
        signer,
        checkpoint,
        checkpoint.sign([signer]),
        signer.verifier().verifier_key,
        raw,
        receipt.tx_hash,
        address(key),
    )


def test_the_genuine_anchor_passes(anchored: Anchored) -> None:
    verdict = check_ethereum_anchor(
        anchored.raw,
        anchored.note,
        anchored.vkey,
        expected_tx_hash=anchored.tx_hash,
        expected_sender=anchored.sender,
        expected_chain_id=ANVIL_CHAIN_ID,
    )
    assert verdict.ok and verdict.reason is None
    assert verdict.to_json()["root"] == ROOT.hex()


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
    verdict = check_ethereum_anchor(anchored.raw, note, anchored.vkey)
    assert not verdict.ok
    assert verdict.reason is not None and verdict.reason.startswith(reason)
    assert verdict.tx_hash == anchored.tx_hash  # the verdict still names the transaction


def test_a_checkpoint_signed_by_another_key_is_rejected(anchored: Anchored) -> None:
    impostor = Ed25519Signer.generate(ORIGIN)  # same name, another key
    verdict = check_ethereum_anchor(
        anchored.raw, anchored.checkpoint.sign([impostor]), anchored.vkey
    )
    assert not verdict.ok
    assert "not verified under the ledger key" in str(verdict.reason)
    forged = anchored.note.replace(b"\n12\n", b"\n13\n")  # the text changed under the signature
    verdict = check_ethereum_anchor(anchored.raw, forged, anchored.vkey)
    assert not verdict.ok and "invalid signature" in str(verdict.reason)
    verdict = check_ethereum_anchor(anchored.raw, b"not a note", anchored.vkey)
    assert not verdict.ok and "checkpoint note" in str(verdict.reason)


def test_a_transaction_without_the_payload_is_rejected(
    anchored: Anchored, anvil_node: AnvilNode
) -> None:
    key = anvil_node.private_keys[2]
    other = anchor_ethereum(anvil_node.rpc_url, key, b"hello, not an anchor\n", 1, TIMEOUT_S)
    raw = fetch_anchor_ethereum(anvil_node.rpc_url, other.tx_hash).raw_transaction
    verdict = check_ethereum_anchor(raw, anchored.note, anchored.vkey)
    assert not verdict.ok
    assert str(verdict.reason).startswith("calldata is not a sequestra anchor payload")

    web3_account = Account.from_key(key)
    nonce = int(
        str(
            rpc_call(
                anvil_node.rpc_url, "eth_getTransactionCount", [web3_account.address, "pending"], 5
            )
        ),
        16,
    )
    empty = web3_account.sign_transaction(
        {
            "chainId": ANVIL_CHAIN_ID,
            "nonce": nonce,
            "to": web3_account.address,
            "value": 0,
            "gas": 21_000,
            "maxFeePerGas": 10**10,
            "maxPriorityFeePerGas": 10**9,
        }
    )
    tx_hash = rpc_call(
        anvil_node.rpc_url, "eth_sendRawTransaction", ["0x" + empty.raw_transaction.hex()], 5
    )
    raw = fetch_anchor_ethereum(anvil_node.rpc_url, str(tx_hash)).raw_transaction
    verdict = check_ethereum_anchor(raw, anchored.note, anchored.vkey)
    assert not verdict.ok and "newline" in str(verdict.reason)


def test_a_tampered_transaction_is_rejected(anchored: Anchored) -> None:
    raw = anchored.raw
    expect = {"expected_tx_hash": anchored.tx_hash, "expected_sender": anchored.sender}
    cases = {
        "truncated": raw[:-1],
        "one byte appended": raw + b"\x00",
        "type changed to 0x01": b"\x01" + raw[1:],
        "type changed to 0x03": b"\x03" + raw[1:],
        "empty": b"",
        "not hex": b"0xzz",
    }
    for name, tampered in cases.items():
        verdict = check_ethereum_anchor(tampered, anchored.note, anchored.vkey)
        assert not verdict.ok, name
        assert str(verdict.reason).startswith("transaction:"), (name, verdict.reason)

    root_at = raw.index(format_anchor_payload(anchored.checkpoint)) + len(b"sequestra/anchor/v1\n")
    swapped = bytearray(raw)
    root_b64 = raw.index(b"\n12\n", root_at) + 4
    swapped[root_b64] = ord("B") if raw[root_b64] != ord("B") else ord("C")
    verdict = check_ethereum_anchor(bytes(swapped), anchored.note, anchored.vkey)
    assert not verdict.ok and str(verdict.reason).startswith("root:"), verdict.reason
    verdict = check_ethereum_anchor(bytes(swapped), anchored.note, anchored.vkey, **expect)
    assert not verdict.ok and str(verdict.reason).startswith("tx hash: expected")

    # Flip one bit at positions across the whole transaction: none may pass the pinned check.
    for position in range(0, len(raw), 7):
        flipped = bytearray(raw)
        flipped[position] ^= 0x01
        verdict = check_ethereum_anchor(bytes(flipped), anchored.note, anchored.vkey, **expect)
        assert not verdict.ok, position


def test_pinned_sender_and_chain_are_enforced(anchored: Anchored) -> None:
    verdict = check_ethereum_anchor(
        anchored.raw, anchored.note, anchored.vkey, expected_sender="0x" + "11" * 20
    )
    assert not verdict.ok and str(verdict.reason).startswith("sender: expected 0x1111")
    verdict = check_ethereum_anchor(anchored.raw, anchored.note, anchored.vkey, expected_chain_id=1)
    assert not verdict.ok and verdict.reason == "chain ID: expected 1, the transaction is for 31337"


def test_the_ledger_vkey_must_be_an_ed25519_key(anchored: Anchored) -> None:
    with pytest.raises(ValueError, match="verifier key"):
        check_ethereum_anchor(anchored.raw, anchored.note, "not a key")


def test_decoder_matches_the_node(anchored: Anchored, anvil_node: AnvilNode) -> None:
    transaction = decode_ethereum_transaction(anchored.raw)
    assert "0x" + transaction.tx_hash.hex() == anchored.tx_hash
    assert "0x" + transaction.sender.hex() == anchored.sender
    assert transaction.data == format_anchor_payload(anchored.checkpoint)
    assert transaction.value_wei == 0 and transaction.chain_id == ANVIL_CHAIN_ID
    node_view = rpc_call(anvil_node.rpc_url, "eth_getTransactionByHash", [anchored.tx_hash], 5)
    assert isinstance(node_view, dict)
    assert transaction.nonce == int(node_view["nonce"], 16)
    assert rebuild_raw_transaction(node_view) == anchored.raw


def test_rlp_is_strict() -> None:
    assert rlp_decode(rlp_encode([b"", b"\x01", [b"abc" * 30]])) == [b"", b"\x01", [b"abc" * 30]]
    for bad in (b"\x81\x01", b"\xb8\x01a", b"\xb9\x00\x40" + b"a" * 64, b"\xc2\x01", b"\x82a"):
        with pytest.raises(AnchorCheckError):
            rlp_decode(bad)
    nested: RlpItem = []
    for _ in range(20):
        nested = [nested]
    with pytest.raises(AnchorCheckError, match="deeper"):
        rlp_decode(rlp_encode(nested))
    with pytest.raises(AnchorCheckError):
        parse_raw_transaction_hex("0x123")


# --- the node side: errors are typed and bounded -------------------------------------------


def test_node_unreachable() -> None:
    started = time.monotonic()
    with pytest.raises(NodeUnreachableError, match="expected a JSON-RPC answer"):
        anchor_ethereum(closed_port_url(), ANVIL_DEV_PRIVATE_KEYS[0], b"x\n", 1, 5.0)
    with pytest.raises(NodeUnreachableError):
        fetch_anchor_ethereum(closed_port_url(), "0x" + "00" * 32, 5.0)
    assert time.monotonic() - started < 5


def test_rpc_url_secrets_stay_out_of_messages() -> None:
    url = closed_port_url() + "/v3/SECRET-API-KEY"
    with pytest.raises(NodeUnreachableError) as caught:
        anchor_ethereum(url, ANVIL_DEV_PRIVATE_KEYS[0], b"x\n", 1, 5.0)
    assert "SECRET" not in str(caught.value)


def test_confirmations_not_reached_in_time(anvil_node: AnvilNode) -> None:
    started = time.monotonic()
    with pytest.raises(AnchorTimeoutError, match="expected 3 confirmation") as caught:
        anchor_ethereum(
            anvil_node.rpc_url, anvil_node.private_keys[3], b"timeout\n", 3, 1.0,
            poll_interval_s=0.1,
        )  # fmt: skip
    assert caught.value.tx_hash.startswith("0x")
    assert time.monotonic() - started < 3


def test_a_node_that_goes_away_after_the_send_gives_the_tx_hash(anvil_binary: Path) -> None:
    outcome: dict[str, BaseException] = {}

    def send(rpc_url: str, key: str) -> None:
        try:
            anchor_ethereum(rpc_url, key, b"going\n", 3, 1.5, poll_interval_s=0.05)
        except AnchorError as error:
            outcome["error"] = error

    with running_anvil(binary=anvil_binary) as node:
        thread = threading.Thread(target=send, args=(node.rpc_url, node.private_keys[0]))
        thread.start()
        for _ in range(200):  # until the transaction is mined (automine), then stop the node
            if rpc_call(node.rpc_url, "eth_blockNumber", [], 5) != "0x0":
                break
            time.sleep(0.01)
    thread.join(TIMEOUT_S)
    error = outcome.get("error")
    assert isinstance(error, AnchorUnconfirmedError), error
    assert error.tx_hash.startswith("0x") and error.tx_hash in str(error)


def test_confirmations_on_an_interval_mined_chain(anvil_binary: Path) -> None:
    with running_anvil(block_time_s=0.2, binary=anvil_binary) as node:
        receipt = anchor_ethereum(
            node.rpc_url, node.private_keys[0], b"three blocks\n", 3, TIMEOUT_S,
            poll_interval_s=0.05,
        )  # fmt: skip
        fetched = fetch_anchor_ethereum(node.rpc_url, receipt.tx_hash)
    assert fetched.confirmations >= 3


def test_legacy_chain_gets_a_legacy_transaction_and_it_checks_offline(
    anvil_binary: Path,
) -> None:
    signer = Ed25519Signer.generate(ORIGIN)
    checkpoint = Checkpoint(ORIGIN, 5, ROOT)
    with running_anvil(hardfork="berlin", binary=anvil_binary) as node:  # no base fee before London
        receipt = anchor_ethereum(
            node.rpc_url, node.private_keys[0], format_anchor_payload(checkpoint), 1, TIMEOUT_S
        )
        fetched = fetch_anchor_ethereum(node.rpc_url, receipt.tx_hash)
        node_view = rpc_call(node.rpc_url, "eth_getTransactionByHash", [receipt.tx_hash], 5)
    assert fetched.raw_transaction[0] >= 0xC0  # an RLP list: legacy
    assert isinstance(node_view, dict) and rebuild_raw_transaction(node_view) == (
        fetched.raw_transaction
    )
    verdict = check_ethereum_anchor(
        fetched.raw_transaction,
        checkpoint.sign([signer]),
        signer.verifier().verifier_key,
        expected_tx_hash=receipt.tx_hash,
        expected_sender=address(node.private_keys[0]),
    )
    assert verdict.ok, verdict.reason
    assert (verdict.tx_type, verdict.chain_id) == (0, ANVIL_CHAIN_ID)


@pytest.fixture
def own_anvil(anvil_binary: Path) -> Iterator[AnvilNode]:
    with running_anvil(binary=anvil_binary) as node:
        yield node


def test_a_reverting_transaction_is_reported(own_anvil: AnvilNode) -> None:
    """A sender delegated (EIP-7702) to code that reverts: first the estimate, then mined."""
    key = own_anvil.private_keys[0]
    sender = Account.from_key(key).address
    reverter = "0x" + "42" * 20
    delegation = "0xef0100" + reverter[2:]
    rpc_call(own_anvil.rpc_url, "anvil_setCode", [reverter, "0x5f5ffd"], 5)  # PUSH0 PUSH0 REVERT
    rpc_call(own_anvil.rpc_url, "anvil_setCode", [sender, delegation], 5)
    with pytest.raises(TransactionRevertedError, match="it reverts"):
        anchor_ethereum(own_anvil.rpc_url, key, b"reverts\n", 1, TIMEOUT_S)

    # Mined with status 0: the delegation appears after the estimate, before the block.
    rpc_call(own_anvil.rpc_url, "anvil_setCode", [sender, "0x"], 5)
    rpc_call(own_anvil.rpc_url, "evm_setAutomine", [False], 5)
    outcome: dict[str, BaseException] = {}

    def send() -> None:
        try:
            anchor_ethereum(
                own_anvil.rpc_url, key, b"reverts\n", 1, TIMEOUT_S, poll_interval_s=0.05
            )
        except AnchorError as error:
            outcome["error"] = error

    thread = threading.Thread(target=send)
    thread.start()
    for _ in range(200):
        pending = rpc_call(own_anvil.rpc_url, "eth_getBlockByNumber", ["pending", False], 5)
        if isinstance(pending, dict) and pending["transactions"]:
            break
        time.sleep(0.02)
    rpc_call(own_anvil.rpc_url, "anvil_setCode", [sender, delegation], 5)
    rpc_call(own_anvil.rpc_url, "evm_mine", [], 5)
    thread.join(TIMEOUT_S)
    assert isinstance(outcome.get("error"), TransactionRevertedError)
    assert "expected status 1, got 0" in str(outcome["error"])


def test_wrong_chain_fee_cap_and_arguments_are_refused(anvil_node: AnvilNode) -> None:
    key = anvil_node.private_keys[4]
    with pytest.raises(AnchorError, match="chain ID: expected 1, the node reports 31337"):
        anchor_ethereum(anvil_node.rpc_url, key, b"x\n", 1, TIMEOUT_S, chain_id_expected=1)
    with pytest.raises(AnchorError, match="wei per gas"):
        anchor_ethereum(anvil_node.rpc_url, key, b"x\n", 1, TIMEOUT_S, fee_per_gas_wei_max=1)
    for payload, confirmations, timeout_s in ((b"", 1, 5.0), (b"x", 0, 5.0), (b"x", 1, 0.0)):
        with pytest.raises(AnchorError):
            anchor_ethereum(anvil_node.rpc_url, key, payload, confirmations, timeout_s)
    with pytest.raises(AnchorError, match="expected a known transaction"):
        fetch_anchor_ethereum(anvil_node.rpc_url, "0x" + "00" * 32)
    with pytest.raises(AnchorError, match="64 hex digits"):
        fetch_anchor_ethereum(anvil_node.rpc_url, "0x1234")


def test_account_keys_never_appear_in_messages(tmp_path: Path) -> None:
    secret = "0x" + "ff" * 32  # above the curve order: not a valid key
    with pytest.raises(AccountKeyError) as caught:
        anchor_ethereum(closed_port_url(), secret, b"x\n", 1, 5.0)
    assert "ff" * 8 not in str(caught.value)

    key_file = tmp_path / "anchor.key"
    key_file.write_text(ANVIL_DEV_PRIVATE_KEYS[5][2:].upper() + "\n")
    assert read_account_key_file(key_file) == ANVIL_DEV_PRIVATE_KEYS[5]
    key_file.write_text(ANVIL_DEV_PRIVATE_KEYS[5][:-1])
    with pytest.raises(AccountKeyError, match="expected 64 hex digits") as caught:
        read_account_key_file(key_file)
    assert ANVIL_DEV_PRIVATE_KEYS[5][2:20] not in str(caught.value)
    with pytest.raises(AccountKeyError, match=r"missing\.key"):
        read_account_key_file(tmp_path / "missing.key")


# --- the sandbox node and the CLI -----------------------------------------------------------


def test_anvil_accounts_are_the_well_known_dev_keys(anvil_node: AnvilNode) -> None:
    accounts = rpc_call(anvil_node.rpc_url, "eth_accounts", [], 5)
    assert accounts == [address(key) for key in ANVIL_DEV_PRIVATE_KEYS]
    assert "ac0974" not in repr(anvil_node)
    assert rpc_call(anvil_node.rpc_url, "eth_chainId", [], 5) == hex(ANVIL_CHAIN_ID)


def test_find_anvil_reports_what_is_missing(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("SEQUESTRA_ANVIL", str(tmp_path / "no-anvil"))
    with pytest.raises(AnvilNotFoundError, match="not an executable"):
        find_anvil()


def anchor_app() -> typer.Typer:
    app = typer.Typer()
    app.command(name="anchor")(anchor_commands.anchor)
    app.command(name="anchors")(anchor_commands.anchors)
    return app


def test_cli_anchor_command(
    world: LedgerWorld, anvil_node: AnvilNode, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SEQUESTRA_CONFIG", raising=False)
    key_file = tmp_path / "anchor.key"
    key_file.write_text(anvil_node.private_keys[6] + "\n")
    key_file.chmod(0o600)
    config = tmp_path / "sequestra.toml"
    config.write_text(
        "[anchor]\n"
        f'ethereum_rpc_url = "{anvil_node.rpc_url}"\n'
        f'ethereum_key_file = "{key_file}"\n'
        "ethereum_chain_id = 31337\n"
        "ethereum_confirmations = 1\n"
        "timeout_s = 20\n"
    )
    runner, app = CliRunner(), anchor_app()

    def run(*args: str) -> tuple[int, str]:
        state = AppState(config_path=config, database_url=world.url)
        result = runner.invoke(app, ["anchor", *args], obj=state)
        return result.exit_code, result.output

    code, output = run("--chain", "ethereum")
    assert code == 2 and "run `sequestra checkpoint` first" in output
    code, output = run("--chain", "bitcoin")
    assert code == 2 and "run `sequestra checkpoint` first" in output
    code, output = run("--chain", "dogecoin")
    assert code == 2 and "expected one of bitcoin, ethereum" in output

    stored, _ = create_checkpoint(world.engine, world.signer)
    code, output = run("--chain", "ethereum", "--json")
    assert code == 0, output
    first = json.loads(output)
    assert first["created"] is True and first["size"] == stored.size
    assert anvil_node.private_keys[6][2:] not in output
    code, output = run("--chain", "ethereum", "--json")
    assert code == 0 and json.loads(output) == {**first, "created": False}

    listed = runner.invoke(
        app, ["anchors", "--json"], obj=AppState(config_path=config, database_url=world.url)
    )
    assert [a["tx_hash"] for a in json.loads(listed.output)] == [first["tx_hash"]]


def test_the_ledger_and_the_auditor_import_no_ethereum_library() -> None:
    code = (
        "import sys, sequestra.ledger.anchors, sequestra.ledger.anchor_payload,"
        " sequestra.audit.anchor\n"
        "roots = {name.split('.')[0] for name in sys.modules}\n"
        "print(sorted(roots & {'web3', 'eth_account', 'eth_utils', 'eth_hash', 'rlp'}))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert result.stdout.strip() == "[]"


def test_sequestra_audit_anchor_command(anchored: Anchored, tmp_path: Path) -> None:
    from sequestra.audit.cli import main

    raw_file, note_file = tmp_path / "tx.hex", tmp_path / "checkpoint"
    raw_file.write_text(anchored.raw.hex() + "\n")
    note_file.write_bytes(anchored.note)
    pinned = ["--tx-hash", anchored.tx_hash, "--sender", anchored.sender]
    args = ["anchor", str(raw_file), str(note_file), "--vkey", anchored.vkey]
    assert main([*args, *pinned, "--chain-id", str(ANVIL_CHAIN_ID)]) == 0
    assert main([*args, "--chain-id", "1"]) == 1
    other = Checkpoint(ORIGIN, 13, ROOT).sign([anchored.signer])
    note_file.write_bytes(other)
    assert main(args) == 1
    assert main(["anchor", str(raw_file), str(note_file), "--vkey", "not a key"]) == 2
