"""Watch runs against a chain reader that answers what the test says, on both databases:
observations, snapshots, reconciliation, alerts and their acknowledgement, failures, reorgs.
The readers for real nodes are tested against anvil and the Bitcoin stand-in elsewhere."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import pytest
from sqlalchemy import func, select, text
from tests.composed import RULES
from tests.custody.conftest import BTC_1, BTC_2, Custody, custody  # noqa: F401

from sequestra.chains.observation import BlockRef, ChainError, ChainReading, ObservedBalance
from sequestra.chains.watch.run import Watcher
from sequestra.chains.watch.tables import ALERT_TABLE, RUN_TABLE
from sequestra.custody.assets import Asset
from sequestra.ledger.errors import AppendRefused
from sequestra.ledger.keys import SigningKey
from sequestra.ledger.verify import verify_ledger


@dataclass
class ScriptedReader:
    """A ChainReader whose chain is what the test sets: balances, pending, blocks, faults."""

    chain: str = "bitcoin"
    network: str = "mainnet"
    height: int = 100
    balances: dict[tuple[str, str], int] = field(default_factory=dict)
    pending: dict[tuple[str, str], int] = field(default_factory=dict)
    hashes: dict[int, str] = field(default_factory=dict)
    fault: str | None = None
    omit: tuple[str, str] | None = None
    asked: list[BlockRef | None] = field(default_factory=list)

    def block_hash(self, height: int) -> str:
        return self.hashes.get(height, f"{height:064x}")

    def read_balances(
        self, addresses: Sequence[str], assets: Sequence[Asset], since: BlockRef | None
    ) -> ChainReading:
        if self.fault:
            raise ChainError(self.fault)
        self.asked.append(since)
        pairs = [(a, asset.asset_id) for a in addresses for asset in assets]
        balances = tuple(
            ObservedBalance(a, s, self.balances.get((a, s), 0), self.pending.get((a, s), 0))
            for a, s in pairs
            if (a, s) != self.omit
        )
        block = BlockRef(self.height, self.block_hash(self.height))
        return ChainReading(self.chain, self.network, block, balances, calls=2)

    def block_hash_at(self, height: int) -> str | None:
        return self.block_hash(height) if height <= self.height else None


@pytest.fixture
def watcher_key(custody: Custody) -> SigningKey:  # noqa: F811
    key = SigningKey.generate()
    custody.append(custody.world.enroll(key, ["watcher"], "watcher"))
    return key


def alerts(helper: Custody) -> list[dict[str, object]]:
    with helper.world.engine.connect() as connection:
        return [dict(r._mapping) for r in connection.execute(select(ALERT_TABLE))]


def test_matching_chain_gives_an_observation_and_no_alert(
    custody: Custody,  # noqa: F811
    watcher_key: SigningKey,
) -> None:
    custody.append(custody.seize("5000"))
    reader = ScriptedReader(balances={(BTC_1, "bitcoin:BTC"): 5000})
    result = Watcher(custody.world.engine, RULES, [reader], watcher_key).run_once()
    assert result.status == "ok" and result.alerts == []
    assert result.balances_count == 2 and result.changes_count == 2
    second = Watcher(custody.world.engine, RULES, [reader], watcher_key).run_once()
    assert second.changes_count == 0 and reader.asked[-1] == BlockRef(100, f"{100:064x}")
    assert verify_ledger(custody.world.engine, RULES, workers=1).ok


def test_a_theft_raises_one_critical_alert_until_acknowledged(
    custody: Custody,  # noqa: F811
    watcher_key: SigningKey,
) -> None:
    custody.append(custody.seize("5000"))
    reader = ScriptedReader(balances={(BTC_1, "bitcoin:BTC"): 1000})
    pushed: list[list[dict[str, object]]] = []
    watcher = Watcher(custody.world.engine, RULES, [reader], watcher_key, sinks=[pushed.append])
    result = watcher.run_once()
    (alert,) = result.alerts
    assert alert["alert"] == "unexpected_outflow" and alert["severity"] == "critical"
    assert alert["message"] == (
        f"0.00004 BTC left {BTC_1} on bitcoin: the ledger expects 0.00005 BTC,"
        " the chain shows 0.00001 BTC"
    )
    assert pushed == [result.alerts]
    assert watcher.run_once().alerts == []  # still open: not raised again
    seq = int(str(alert["seq"]))
    ack = custody.sign("alert.acknowledged", {"alert_seq": seq, "note": "key rotated"})
    custody.append(ack)
    with pytest.raises(AppendRefused, match=f"alert_seq: expected an open alert, got {seq}"):
        custody.append(custody.sign("alert.acknowledged", {"alert_seq": seq, "note": "again"}))
    assert alerts(custody)[0]["acknowledged_seq"] is not None
    assert verify_ledger(custody.world.engine, RULES, workers=1).ok


def test_an_acknowledged_difference_is_raised_again_only_when_it_changes(
    custody: Custody,  # noqa: F811
    watcher_key: SigningKey,
) -> None:
    custody.append(custody.seize("5000"))
    reader = ScriptedReader(balances={(BTC_1, "bitcoin:BTC"): 1000})
    watcher = Watcher(custody.world.engine, RULES, [reader], watcher_key)
    (first,) = watcher.run_once().alerts
    ack = {"alert_seq": int(str(first["seq"])), "note": "investigating"}
    custody.append(custody.sign("alert.acknowledged", ack))
    assert watcher.run_once().alerts == []  # acknowledged, unchanged: not raised again
    assert watcher.run_once().alerts == []
    reader.balances[(BTC_1, "bitcoin:BTC")] = 400  # more left: a new difference
    (second,) = watcher.run_once().alerts
    assert second["alert"] == "unexpected_outflow" and second["observed_base"] == "400"
    assert watcher.run_once().alerts == []  # open: not raised again
    assert [a["acknowledged_seq"] is None for a in alerts(custody)] == [False, True]
    assert verify_ledger(custody.world.engine, RULES, workers=1).ok


def test_an_acknowledged_difference_that_went_away_and_came_back_is_raised_again(
    custody: Custody,  # noqa: F811
    watcher_key: SigningKey,
) -> None:
    """1,000 of 5,000 seen, acknowledged; the coins come back (the chain agrees); then the
    same 4,000 leave again: the same difference, but a new outflow, raised again."""
    custody.append(custody.seize("5000"))
    reader = ScriptedReader(balances={(BTC_1, "bitcoin:BTC"): 1000})
    watcher = Watcher(custody.world.engine, RULES, [reader], watcher_key)
    (first,) = watcher.run_once().alerts
    ack = {"alert_seq": int(str(first["seq"])), "note": "moved by the custodian, back soon"}
    custody.append(custody.sign("alert.acknowledged", ack))
    assert watcher.run_once().alerts == []
    reader.balances[(BTC_1, "bitcoin:BTC")] = 5000  # back: ledger and chain agree
    assert watcher.run_once().alerts == []
    reader.balances[(BTC_1, "bitcoin:BTC")] = 1000  # gone again, the same difference
    (again,) = watcher.run_once().alerts
    assert again["alert"] == "unexpected_outflow" and again["observed_base"] == "1000"
    assert watcher.run_once().alerts == []  # open now: not raised again


def test_pending_confirmations_and_inflows_are_not_critical(
    custody: Custody,  # noqa: F811
    watcher_key: SigningKey,
) -> None:
    custody.append(custody.seize("5000"))
    reader = ScriptedReader(
        balances={(BTC_2, "bitcoin:BTC"): 546},
        pending={(BTC_1, "bitcoin:BTC"): 5000},
    )
    result = Watcher(custody.world.engine, RULES, [reader], watcher_key).run_once()
    kinds = {(a["alert"], a["severity"], a["address"]) for a in result.alerts}
    assert kinds == {("pending", "info", BTC_1), ("unexpected_inflow", "warning", BTC_2)}


def test_a_failed_read_appends_nothing_and_is_logged(
    custody: Custody,  # noqa: F811
    watcher_key: SigningKey,
) -> None:
    size = custody.size()
    for reader in (ScriptedReader(fault="node down"), ScriptedReader(omit=(BTC_1, "bitcoin:BTC"))):
        result = Watcher(custody.world.engine, RULES, [reader], watcher_key).run_once()
        assert result.status == "failed" and result.reason and custody.size() == size
    with custody.world.engine.connect() as connection:
        reasons = [r.reason for r in connection.execute(select(RUN_TABLE))]
    assert any("node down" in str(r) for r in reasons)
    assert any("answered 1 of 2 balances" in str(r) for r in reasons)


def test_a_reorganisation_supersedes_the_observation(
    custody: Custody,  # noqa: F811
    watcher_key: SigningKey,
) -> None:
    reader = ScriptedReader()
    watcher = Watcher(custody.world.engine, RULES, [reader], watcher_key)
    first = watcher.run_once()
    reader.hashes[100] = "ee" * 32  # block 100 replaced by another
    reader.height = 101
    second = watcher.run_once()
    assert second.superseded == [first.observation_seq] and reader.asked[-1] is None
    with custody.world.engine.connect() as connection:
        superseded = connection.execute(
            text("SELECT superseded_by FROM chain_observation WHERE seq = :s"),
            {"s": first.observation_seq},
        ).scalar_one()
    assert superseded == second.observation_seq
    assert verify_ledger(custody.world.engine, RULES, workers=1).ok


def test_verify_finds_a_changed_snapshot(
    custody: Custody,  # noqa: F811
    watcher_key: SigningKey,
) -> None:
    custody.append(custody.seize("5000"))
    reader = ScriptedReader(balances={(BTC_1, "bitcoin:BTC"): 5000})
    Watcher(custody.world.engine, RULES, [reader], watcher_key).run_once()
    with custody.world.engine.begin() as connection:
        connection.execute(text("UPDATE chain_snapshot SET amount_base = '4000'"))
    result = verify_ledger(custody.world.engine, RULES, workers=1)
    assert not result.ok and "projection chain_watch differs" in str(result.reason)


def test_only_the_watcher_observes_and_alerts_need_a_run(
    custody: Custody,  # noqa: F811
    watcher_key: SigningKey,
) -> None:
    reader = ScriptedReader()
    result = Watcher(custody.world.engine, RULES, [reader], watcher_key).run_once()
    with custody.world.engine.connect() as connection:
        body = connection.execute(
            text("SELECT entry FROM ledger_entry WHERE seq = :s"), {"s": result.observation_seq}
        ).scalar_one()
    assert b'"observation.recorded"' in bytes(body)
    observation = {
        "run": "0" * 32,
        "started_at": "2026-01-01T00:00:00Z",
        "blocks": [{"chain": "bitcoin", "network": "mainnet", "height": 1, "block_hash": "0" * 64}],
        "snapshot_sha256": "0" * 64,
        "balances_count": 0,
        "changes_count": 0,
    }
    with pytest.raises(AppendRefused, match=r"role|may not issue"):
        custody.append(custody.sign("observation.recorded", observation))
    alert = {
        "run": "1" * 32,
        "alert": "pending",
        "severity": "info",
        "chain": "bitcoin",
        "address": BTC_1,
        "asset": "bitcoin:BTC",
        "expected_base": "1",
        "observed_base": "0",
        "pending_base": "1",
        "block": observation["blocks"][0],  # type: ignore[index]
        "message": "m",
    }
    with pytest.raises(AppendRefused, match="run: expected the run of an observation"):
        custody.append(custody.sign("alert.raised", alert, key=watcher_key))
    with custody.world.engine.connect() as connection:
        runs = connection.execute(select(func.count()).select_from(RUN_TABLE)).scalar_one()
    assert runs == 1
