"""One watch run: read every custody address on every chain, record one observation, raise
alerts for what the chains show differently from the ledger, and push them to webhooks.

A run is all or nothing: a chain that cannot be read fails the run (recorded in
`chain_watch_run` with the reason), nothing is appended, and the next run catches up. The
balance snapshot is written first under its hash, then the observation naming that hash and
the alerts are appended in one batch. A block the previous observation was taken at that is
no longer on the chain (a reorganisation) makes the new observation supersede it.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final

from sqlalchemy import Connection, Engine, Select, func, insert, select

from sequestra.chains.observation import BlockRef, ChainError, ChainReader, ChainReading
from sequestra.chains.watch.kinds import ALERT_TXS_MAX, CHANGES_MAX
from sequestra.chains.watch.projection import SnapshotBalance, read_snapshot, snapshot_sha256
from sequestra.chains.watch.reconcile import Finding, Key, describe, reconcile
from sequestra.chains.watch.tables import (
    ALERT_TABLE,
    OBSERVATION_TABLE,
    RUN_TABLE,
    SNAPSHOT_TABLE,
)
from sequestra.custody.amounts import format_base_units
from sequestra.custody.assets import BTC, ETH, Asset, AssetRegistry
from sequestra.custody.queries import (
    custody_balances,
    held_asset_ids,
    list_wallets,
    recorded_assets,
)
from sequestra.ledger.db import read_transaction, write_transaction
from sequestra.ledger.errors import LedgerError
from sequestra.ledger.keys import SigningKey
from sequestra.ledger.roles import ALERT_RAISED, OBSERVATION_RECORDED
from sequestra.ledger.rules import RuleSet
from sequestra.ledger.store import AppendRules, Ledger, Receipt
from sequestra.ledger.timefmt import format_timestamp

log = logging.getLogger("sequestra.watch")

SNAPSHOT_INSERT_CHUNK: Final = 5_000
ALERTS_PER_RUN_MAX: Final = 1_000  # more differences than this are one incident, not many

AlertSink = Callable[[list[dict[str, Any]]], None]


@dataclass(frozen=True)
class PreviousObservation:
    seq: int
    chain: str
    block: BlockRef
    snapshot_sha256: str


@dataclass
class WatchResult:
    run_id: str
    status: str
    reason: str | None = None
    observation_seq: int | None = None
    blocks: list[dict[str, Any]] = field(default_factory=list)
    balances_count: int = 0
    changes_count: int = 0
    superseded: list[int] = field(default_factory=list)
    alerts: list[dict[str, Any]] = field(default_factory=list)
    calls: int = 0

    def to_json(self) -> dict[str, Any]:
        return {
            "run": self.run_id,
            "status": self.status,
            "reason": self.reason,
            "observation_seq": self.observation_seq,
            "blocks": self.blocks,
            "balances": self.balances_count,
            "changes": self.changes_count,
            "superseded": self.superseded,
            "alerts": self.alerts,
            "calls": self.calls,
        }


def _registry(connection: Connection) -> AssetRegistry:
    return AssetRegistry.defaults().with_assets(a for a, _ in recorded_assets(connection))


def expected_balances(connection: Connection) -> dict[Key, int]:
    """What the ledger says each custody address holds, per asset (cases and Fund together)."""
    return {
        (asset_id.split(":")[0], wallet, asset_id): amount
        for (wallet, asset_id), amount in custody_balances(connection).items()
    }


def watched_assets(engine: Engine) -> set[str]:
    """Each chain's native asset, and every token the ledger has ever held in custody.

    A token the state never held is not read: on a test network the built-in mainnet
    contracts do not exist, and a reading must not depend on them.
    """
    return held_asset_ids(engine) | {BTC.asset_id, ETH.asset_id}


def previous_observations(connection: Connection) -> dict[str, PreviousObservation]:
    """The latest observation of each chain that no reorganisation has superseded."""
    rows = connection.execute(
        select(OBSERVATION_TABLE)
        .where(OBSERVATION_TABLE.c.superseded_by.is_(None))
        .order_by(OBSERVATION_TABLE.c.seq)
    )
    latest: dict[str, PreviousObservation] = {}
    for r in rows:
        latest[r.chain] = PreviousObservation(
            r.seq, r.chain, BlockRef(r.height, r.block_hash), r.snapshot_sha256
        )
    return latest


AlertKey = tuple[str, str, str, str, int, int]


def known_alert_keys(connection: Connection) -> tuple[set[AlertKey], set[AlertKey]]:
    """The differences already raised: every open alert, and apart the latest alert of each
    address and asset once acknowledged. A run never raises an open one again; it raises an
    acknowledged one again only when the difference went away in between (`Watcher._run`):
    one that stays the same is known, one that changes is a new alert."""
    rows = connection.execute(
        select(ALERT_TABLE).where(
            ALERT_TABLE.c.acknowledged_seq.is_(None) | ALERT_TABLE.c.seq.in_(_latest_alert_seqs())
        )
    )
    opened: set[AlertKey] = set()
    acknowledged: set[AlertKey] = set()
    for r in rows:
        key = (r.kind, r.chain, r.address, r.asset_id, int(r.expected_base), int(r.observed_base))
        (opened if r.acknowledged_seq is None else acknowledged).add(key)
    return opened, acknowledged


def _still_seen(old: dict[Key, SnapshotBalance], finding: Finding) -> bool:
    """Whether the previous observation of the finding's position saw the same balance: an
    acknowledged difference seen all along stays known; one that went away (the previous
    observation saw another balance, or none) and came back is raised again."""
    before = old.get((finding.chain, finding.address, finding.asset_id))
    return before is not None and before.amount_base == finding.observed_base


def _latest_alert_seqs() -> Select[tuple[int]]:
    alert = ALERT_TABLE.c
    return select(func.max(alert.seq)).group_by(alert.chain, alert.address, alert.asset_id)


class Watcher:
    """Runs watch runs against a set of chain readers, signing with the watcher key."""

    def __init__(
        self,
        engine: Engine,
        rule_set: RuleSet,
        readers: Sequence[ChainReader],
        key: SigningKey,
        rules: AppendRules | None = None,
        sinks: Sequence[AlertSink] = (),
    ) -> None:
        self.engine = engine
        self.rule_set = rule_set
        self.readers = list(readers)
        self.key = key
        self.rules = rules
        self.sinks = list(sinks)

    def run_once(self, now_utc: datetime | None = None) -> WatchResult:
        """Do one run; a failed run is returned (status failed) and logged, never raised."""
        started = now_utc or datetime.now(UTC)
        result = WatchResult(secrets.token_hex(16), "failed")
        try:
            self._run(result, started)
            result.status = "ok"
        except (ChainError, LedgerError) as error:
            result.reason = f"{type(error).__name__}: {error}"
            log.warning("watch run %s failed: %s", result.run_id, result.reason)
        self._record_run(result, started)
        if result.status == "ok" and result.alerts:
            self._push(result.alerts)
        return result

    def _run(self, result: WatchResult, started: datetime) -> None:
        with read_transaction(self.engine) as connection:
            registry = _registry(connection)
            previous = previous_observations(connection)
            expected = expected_balances(connection)
            opened_keys, acknowledged_keys = known_alert_keys(connection)
        readings, supersede = self._read_chains(registry, previous, watched_assets(self.engine))
        result.calls = sum(reading.calls for reading in readings)
        balances = [
            SnapshotBalance(r.chain, b.address, b.asset_id, b.amount_base, b.pending_base)
            for r in readings
            for b in r.balances
        ]
        sha = snapshot_sha256(balances)
        old = self._previous_balances(previous, {r.chain for r in readings})
        changes = sorted(
            (b for b in balances if old.get((b.chain, b.address, b.asset_id)) != b), key=_order
        )
        findings = [
            f
            for f in reconcile(expected, balances)
            if f.key not in opened_keys and not (f.key in acknowledged_keys and _still_seen(old, f))
        ]
        self._write_snapshot(sha, balances)
        blocks = [_block(r) for r in readings]
        body = {
            "run": result.run_id,
            "started_at": format_timestamp(started),
            "blocks": blocks,
            "snapshot_sha256": sha,
            "balances_count": len(balances),
            "changes": [_change(b) for b in changes[:CHANGES_MAX]],
            "changes_count": len(changes),
            "supersedes": supersede,
        }
        by_chain = {r.chain: r for r in readings}
        alerts = [
            _alert_body(result.run_id, f, by_chain[f.chain], registry)
            for f in findings[:ALERTS_PER_RUN_MAX]
        ]
        receipts = self._append(
            [(OBSERVATION_RECORDED, body), *((ALERT_RAISED, a) for a in alerts)]
        )
        result.observation_seq = receipts[0].seq
        result.blocks = blocks
        result.balances_count = len(balances)
        result.changes_count = len(changes)
        result.superseded = supersede
        result.alerts = [
            {**alert, "seq": receipt.seq}
            for alert, receipt in zip(alerts, receipts[1:], strict=True)
        ]

    def _read_chains(
        self,
        registry: AssetRegistry,
        previous: dict[str, PreviousObservation],
        watched: set[str],
    ) -> tuple[list[ChainReading], list[int]]:
        """Read every chain with custody wallets; note observations a reorg has undone."""
        wallets = list_wallets(self.engine)
        readings: list[ChainReading] = []
        supersede: list[int] = []
        for reader in self.readers:
            addresses = [w.address for w in wallets if w.chain == reader.chain]
            if not addresses:
                continue
            assets = [a for a in registry if a.chain == reader.chain and a.asset_id in watched]
            before = previous.get(reader.chain)
            since = before.block if before else None
            if before is not None and (
                reader.block_hash_at(before.block.height) != before.block.block_hash
            ):
                supersede.append(before.seq)
                since = None  # the old block is gone: read the movements afresh
            reading = reader.read_balances(addresses, assets, since)
            _check_reading(reading, addresses, assets)
            readings.append(reading)
        if not readings:
            raise ChainError("no custody wallet on any watched chain: nothing to observe", False)
        return readings, sorted(set(supersede))

    def _append(self, statements: list[tuple[str, dict[str, Any]]]) -> list[Receipt]:
        now = datetime.now(UTC)
        signed = [self.rule_set.sign(self.key, kind, body, now) for kind, body in statements]
        with Ledger(self.engine, self.rule_set, self.rules) as ledger:
            return ledger.append(signed, now)

    def _previous_balances(
        self, previous: dict[str, PreviousObservation], chains: set[str]
    ) -> dict[Key, SnapshotBalance]:
        found: dict[Key, SnapshotBalance] = {}
        with read_transaction(self.engine) as connection:
            for sha in {p.snapshot_sha256 for c, p in previous.items() if c in chains}:
                for b in read_snapshot(connection, sha):
                    found[(b.chain, b.address, b.asset_id)] = b
        return found

    def _write_snapshot(self, sha: str, balances: list[SnapshotBalance]) -> None:
        rows = [
            {
                "snapshot_sha256": sha,
                "chain": b.chain,
                "address": b.address,
                "asset_id": b.asset_id,
                "amount_base": str(b.amount_base),
                "pending_base": str(b.pending_base),
            }
            for b in balances
        ]
        with write_transaction(self.engine) as connection:
            stored = connection.execute(
                select(SNAPSHOT_TABLE.c.snapshot_sha256)
                .where(SNAPSHOT_TABLE.c.snapshot_sha256 == sha)
                .limit(1)
            ).first()
            if stored is not None:
                return  # the same balances as an earlier run: the snapshot is already there
            for start in range(0, len(rows), SNAPSHOT_INSERT_CHUNK):
                connection.execute(
                    insert(SNAPSHOT_TABLE), rows[start : start + SNAPSHOT_INSERT_CHUNK]
                )

    def _record_run(self, result: WatchResult, started: datetime) -> None:
        row = {
            "run_id": result.run_id,
            "started_at": format_timestamp(started),
            "finished_at": format_timestamp(datetime.now(UTC)),
            "status": result.status,
            "reason": result.reason,
            "observation_seq": result.observation_seq,
            "calls": result.calls,
            "alerts": len(result.alerts),
        }
        with write_transaction(self.engine) as connection:
            connection.execute(insert(RUN_TABLE), [row])

    def _push(self, alerts: list[dict[str, Any]]) -> None:
        for sink in self.sinks:
            sink(alerts)


def _check_reading(reading: ChainReading, addresses: list[str], assets: list[Asset]) -> None:
    """A reading must answer exactly the pairs asked: no partial observation gets through."""
    asked = {(address, asset.asset_id) for address in addresses for asset in assets}
    answered = [(b.address, b.asset_id) for b in reading.balances]
    if len(answered) != len(set(answered)) or set(answered) != asked:
        raise ChainError(
            f"{reading.chain}: the reader answered {len(set(answered))} of {len(asked)} balances"
            " asked (or others); expected exactly the pairs asked"
        )
    for balance in reading.balances:
        if balance.amount_base < 0 or balance.pending_base < 0:
            raise ChainError(f"{reading.chain}: a negative balance for {balance.address}")


def _block(reading: ChainReading) -> dict[str, Any]:
    return {
        "chain": reading.chain,
        "network": reading.network,
        "height": reading.block.height,
        "block_hash": reading.block.block_hash,
    }


def _order(balance: SnapshotBalance) -> tuple[str, str, str]:
    return (balance.chain, balance.address, balance.asset_id)


def _change(balance: SnapshotBalance) -> dict[str, str]:
    return {
        "chain": balance.chain,
        "address": balance.address,
        "asset": balance.asset_id,
        "amount_base": str(balance.amount_base),
        "pending_base": str(balance.pending_base),
    }


def _alert_body(
    run_id: str, finding: Finding, reading: ChainReading, registry: AssetRegistry
) -> dict[str, Any]:
    asset = registry.get(finding.asset_id)

    def shown(amount: int) -> str:
        return f"{format_base_units(amount, asset.decimals)} {asset.symbol}"

    gap = abs(finding.expected_base - finding.observed_base)
    return {
        "run": run_id,
        "alert": finding.kind,
        "severity": finding.severity,
        "chain": finding.chain,
        "address": finding.address,
        "asset": finding.asset_id,
        "expected_base": str(finding.expected_base),
        "observed_base": str(finding.observed_base),
        "pending_base": str(finding.pending_base),
        "block": _block(reading),
        "message": describe(
            finding, shown(gap), shown(finding.expected_base), shown(finding.observed_base)
        ),
        "txs": _movements_of(finding, reading),
    }


def _movements_of(finding: Finding, reading: ChainReading) -> list[str]:
    """The transactions the chain showed moving this asset in or out of this address."""
    txs = [
        movement.tx
        for movement in reading.movements
        if movement.asset_id == finding.asset_id
        and finding.address in (movement.from_address, movement.to_address)
    ]
    return list(dict.fromkeys(txs))[:ALERT_TXS_MAX]
