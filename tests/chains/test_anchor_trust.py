"""Anchors read back from the chain pin the ledger: after a rewrite of the database, verify
fails against the Ethereum (anvil) and Bitcoin (stand-in node) anchors an auditor kept, even
when the attacker deleted the recorded anchors too; an anchor that cannot be read is noted,
never trusted."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.attacker import Row, rewrite_history
from tests.chains.test_bitcoin_anchor import POLL_S, WALLET, Node, mining, node  # noqa: F401
from tests.composed import RULES
from tests.conftest import LedgerWorld

from sequestra.chains.bitcoin.anchor import anchor_bitcoin
from sequestra.chains.ethereum.anchor import anchor_ethereum
from sequestra.config import AnchorSettings, LedgerSettings, Settings, TrustSettings
from sequestra.ledger.anchor_payload import format_anchor_payload
from sequestra.ledger.anchors import AnchorReceipt, record_anchor
from sequestra.ledger.checkpoint import Checkpoint
from sequestra.ledger.checkpoints import create_checkpoint
from sequestra.ledger.verify import verify_ledger
from sequestra.service.anchored import AnchorRefError, parse_anchor_ref
from sequestra.service.trust import trusted_state
from sequestra_sandbox.anvil import ANVIL_CHAIN_ID, AnvilNode

ORIGIN = "test.sequestra.example/log"
TIMEOUT_S = 30.0


def _anchor_both(world: LedgerWorld, anvil: AnvilNode, bitcoin: Node) -> tuple[str, str, int]:
    """Checkpoint the world's ledger and anchor it on both chains; record both anchors."""
    world.ledger.append([world.note(f"memo {i}") for i in range(4)], world.now)
    stored, _ = create_checkpoint(world.engine, world.signer)
    payload = format_anchor_payload(Checkpoint(ORIGIN, stored.size, stored.root_hash))
    ethereum = anchor_ethereum(
        anvil.rpc_url,
        anvil.private_keys[0],
        payload,
        1,
        TIMEOUT_S,
        chain_id_expected=ANVIL_CHAIN_ID,
    )
    with mining(bitcoin):
        receipt: AnchorReceipt = anchor_bitcoin(
            bitcoin.url, WALLET, payload, 1, TIMEOUT_S,
            cookie_file=bitcoin.cookie, poll_interval_s=POLL_S,
        )  # fmt: skip
    record_anchor(world.engine, ethereum, stored.size)
    record_anchor(world.engine, receipt, stored.size)
    world.ledger.append([world.note("after the anchors")], world.now)
    return ethereum.tx_hash, f"bitcoin:{receipt.tx_hash}@{receipt.block_hash}", stored.size


def _settings(anvil: AnvilNode, bitcoin: Node, **trust: object) -> Settings:
    anchor = AnchorSettings(
        ethereum_rpc_url=anvil.rpc_url,
        bitcoin_rpc_url=bitcoin.url,
        bitcoin_cookie_file=bitcoin.cookie,
    )
    return Settings(
        ledger=LedgerSettings(origin=ORIGIN),
        anchor=anchor,
        trust=TrustSettings(fetch_witnesses=False, **trust),  # type: ignore[arg-type]
    )


def _swap(rows: list[Row]) -> list[Row]:
    rows[2], rows[3] = rows[3], rows[2]
    return rows


def test_anchors_read_back_pin_the_ledger(
    world: LedgerWorld,
    anvil_node: AnvilNode,
    node: Node,  # noqa: F811
) -> None:
    eth_tx, btc_ref, size = _anchor_both(world, anvil_node, node)
    kept = [f"ethereum:{eth_tx}", btc_ref]
    settings = _settings(anvil_node, node, trusted_anchors=kept)
    state = trusted_state(settings, None, engine=world.engine)
    assert state is not None and [h.size for h in state.heads] == [size, size], state.notes
    honest = verify_ledger(world.engine, RULES, workers=1, trust=state)
    assert honest.ok and honest.pinned, honest.to_json()

    recorded = _settings(anvil_node, node, read_recorded_anchors=True)
    assert len(trusted_state(recorded, None, engine=world.engine).heads) == 2  # type: ignore[union-attr]

    # The attacker rewrites history and deletes the recorded anchors as well.
    rewrite_history(world.engine, _swap)
    assert verify_ledger(world.engine, RULES, workers=1).ok  # self-consistent again
    found = trusted_state(recorded, None, engine=world.engine)
    assert found is not None and not found.pinned  # nothing recorded is left to read
    for ref in kept:  # each kept anchor alone catches it
        alone = trusted_state(_settings(anvil_node, node), None, anchors=[ref])
        result = verify_ledger(world.engine, RULES, workers=1, trust=alone)
        assert not result.ok and "anchor" in str(result.reason), result.to_json()
        assert f"checkpoint of {size}" in str(result.reason)


def test_an_anchor_that_does_not_count_is_noted_not_trusted(
    world: LedgerWorld,
    anvil_node: AnvilNode,
    node: Node,  # noqa: F811
) -> None:
    eth_tx, btc_ref, _ = _anchor_both(world, anvil_node, node)
    other_account = "0x" + "11" * 20
    settings = _settings(anvil_node, node, ethereum_anchor_account=other_account)
    state = trusted_state(settings, None, anchors=[f"ethereum:{eth_tx}"])
    assert state is not None and not state.pinned
    assert "not the anchoring account" in state.notes[0]
    unknown = "ethereum:0x" + "ab" * 32
    state = trusted_state(_settings(anvil_node, node), None, anchors=[unknown])
    assert state is not None and not state.pinned and "not used" in state.notes[0]
    txid, _, _ = btc_ref.partition("@")
    wrong_block = f"{txid}@{'00' * 32}"
    state = trusted_state(_settings(anvil_node, node), None, anchors=[wrong_block])
    assert state is not None and not state.pinned and "not used" in state.notes[0]
    result = verify_ledger(world.engine, RULES, workers=1, trust=state)
    assert result.ok and not result.pinned  # says so rather than trusting it


@pytest.mark.parametrize(
    "given",
    ["ethereum:0x12", "bitcoin:" + "ab" * 32, "tron:0x" + "ab" * 32, "", "ethereum:" + "ab" * 32],
)
def test_a_malformed_anchor_reference_is_refused(given: str) -> None:
    with pytest.raises(AnchorRefError, match="expected ethereum:0x"):
        parse_anchor_ref(given)


def test_anchor_references_parse(tmp_path: Path) -> None:
    ref = parse_anchor_ref("Bitcoin:" + "AB" * 32 + "@" + "cd" * 32)
    assert (ref.chain, ref.tx_hash, ref.block_hash) == ("bitcoin", "ab" * 32, "cd" * 32)
    assert str(parse_anchor_ref("ethereum:0x" + "ef" * 32)) == "ethereum:0x" + "ef" * 32
