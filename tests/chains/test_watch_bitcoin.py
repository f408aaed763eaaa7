"""Watch runs over the Bitcoin Core and Esplora stand-ins with the production readers, on
both databases: a seizure confirmed on-chain, a theft caught as a critical alert naming its
transaction, and a reorganisation that supersedes the observation taken at the vanished
block."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.chains.test_bitcoin_watcher import MINER, Chain
from tests.composed import RULES
from tests.conftest import LedgerWorld
from tests.custody.conftest import Custody

from sequestra.chains.bitcoin.readers import open_bitcoin_reader
from sequestra.chains.watch.run import Watcher
from sequestra.config.bitcoin import BitcoinWatchSettings
from sequestra.ledger.keys import SigningKey
from sequestra.ledger.verify import verify_ledger
from sequestra_sandbox.bitcoin import running_bitcoin_sandbox


@pytest.fixture
def bitcoin(tmp_path: Path) -> Iterator[Chain]:
    with running_bitcoin_sandbox(tmp_path / "chain", funded_wallet=MINER) as sandbox:
        yield Chain(sandbox)


def _watcher(world: LedgerWorld, chain: Chain, mode: str = "scan") -> Watcher:
    key = SigningKey.generate()
    world.ledger.append([world.enroll(key, ["watcher"], "watcher")], world.now)
    if mode == "esplora":
        settings = BitcoinWatchSettings(
            backend="esplora", esplora_url=chain.sandbox.esplora_url, retry_attempts_max=1
        )
    else:
        settings = BitcoinWatchSettings(
            rpc_url=chain.sandbox.rpc_url,
            cookie_file=chain.sandbox.cookie_path,
            mode=mode,  # type: ignore[arg-type]
            confirmations_min=1,
            retry_attempts_max=1,
        )
    reader = open_bitcoin_reader(settings, "regtest", sleep=lambda _: None)
    return Watcher(world.engine, RULES, [reader], key)


@pytest.mark.parametrize("mode", ["scan", "wallet", "esplora"])
def test_a_bitcoin_theft_is_caught_in_one_run(
    world: LedgerWorld, bitcoin: Chain, mode: str
) -> None:
    custody = Custody(world)
    (address,) = bitcoin.new_addresses(1)
    custody.append(custody.case(), custody.wallet(address, network="regtest"))
    bitcoin.pay({address: 250_000})
    bitcoin.mine(1)
    custody.append(custody.seize("250000", wallet=address))
    watcher = _watcher(world, bitcoin, mode)
    first = watcher.run_once()
    assert first.status == "ok" and first.alerts == [], first.reason
    thief = bitcoin.new_addresses(1, MINER)[0]
    txid, taken = bitcoin.steal(address, thief)
    bitcoin.mine(1)
    second = watcher.run_once()
    (alert,) = second.alerts
    assert (alert["alert"], alert["severity"], alert["address"]) == (
        "unexpected_outflow",
        "critical",
        address,
    )
    assert alert["expected_base"] == str(taken) and alert["observed_base"] == "0"
    assert alert["txs"] == [txid]
    assert verify_ledger(world.engine, RULES, workers=1).ok


def test_a_reorganisation_supersedes_the_observation(world: LedgerWorld, bitcoin: Chain) -> None:
    custody = Custody(world)
    (address,) = bitcoin.new_addresses(1)
    custody.append(custody.case(), custody.wallet(address, network="regtest"))
    watcher = _watcher(world, bitcoin)
    (tip,) = bitcoin.mine(1)
    first = watcher.run_once()
    assert first.status == "ok"
    bitcoin.rpc().invalidateblock(tip)
    bitcoin.mine(2)  # another branch, longer than the one observed
    second = watcher.run_once()
    assert second.status == "ok", second.reason
    assert second.superseded == [first.observation_seq]
    assert verify_ledger(world.engine, RULES, workers=1).ok
