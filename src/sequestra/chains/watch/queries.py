"""Reading what the watcher recorded: alerts, runs, and the latest reconciliation."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

from sqlalchemy import Engine, select

from sequestra.chains.watch.projection import SnapshotBalance, read_snapshot
from sequestra.chains.watch.reconcile import Finding, reconcile
from sequestra.chains.watch.run import expected_balances, previous_observations
from sequestra.chains.watch.tables import ALERT_TABLE, OBSERVATION_TABLE, RUN_TABLE, SNAPSHOT_TABLE
from sequestra.custody.amounts import format_base_units
from sequestra.custody.assets import AssetRegistry
from sequestra.custody.queries import Holding, recorded_assets
from sequestra.ledger.db import read_transaction

LIST_LIMIT_MAX: Final = 10_000
CRITICAL: Final = "critical"
ALERTS_IN_DOUBT_MAX: Final = 100_000
OBSERVATIONS_READ_MAX: Final = 1_000_000


def list_alerts(
    engine: Engine, open_only: bool = False, limit: int = 1_000
) -> list[dict[str, Any]]:
    """Alerts, newest first; amounts as base-unit strings as recorded."""
    if not 1 <= limit <= LIST_LIMIT_MAX:
        raise ValueError(f"limit: expected 1 to {LIST_LIMIT_MAX}, got {limit}")
    query = select(ALERT_TABLE).order_by(ALERT_TABLE.c.seq.desc()).limit(limit)
    if open_only:
        query = query.where(ALERT_TABLE.c.acknowledged_seq.is_(None))
    with read_transaction(engine) as connection:
        return [
            {**row._mapping, "status": "open" if row.acknowledged_seq is None else "acknowledged"}
            for row in connection.execute(query)
        ]


def list_runs(engine: Engine, limit: int = 20) -> list[dict[str, Any]]:
    if not 1 <= limit <= LIST_LIMIT_MAX:
        raise ValueError(f"limit: expected 1 to {LIST_LIMIT_MAX}, got {limit}")
    query = select(RUN_TABLE).order_by(RUN_TABLE.c.started_at.desc()).limit(limit)
    with read_transaction(engine) as connection:
        return [dict(row._mapping) for row in connection.execute(query)]


@dataclass(frozen=True)
class Reconciliation:
    """The ledger against the latest observation of each chain, without asking the chains."""

    observations: dict[str, int]  # chain -> seq of the observation compared
    findings: list[Finding]
    registry: AssetRegistry

    def to_json(self) -> dict[str, Any]:
        rows = []
        for finding in self.findings:
            asset = self.registry.get(finding.asset_id)
            rows.append(
                {
                    "kind": finding.kind,
                    "severity": finding.severity,
                    "chain": finding.chain,
                    "address": finding.address,
                    "asset": finding.asset_id,
                    "expected_base": str(finding.expected_base),
                    "observed_base": str(finding.observed_base),
                    "pending_base": str(finding.pending_base),
                    "expected": format_base_units(finding.expected_base, asset.decimals),
                    "observed": format_base_units(finding.observed_base, asset.decimals),
                }
            )
        return {"observations": self.observations, "findings": rows}


def reconcile_latest(engine: Engine) -> Reconciliation:
    """Compare what the ledger expects now with the latest snapshot of each chain."""
    with read_transaction(engine) as connection:
        registry = AssetRegistry.defaults().with_assets(a for a, _ in recorded_assets(connection))
        latest = previous_observations(connection)
        expected = expected_balances(connection)
        snapshots: dict[str, list[SnapshotBalance]] = {}
        balances: list[SnapshotBalance] = []
        for chain, observation in latest.items():
            sha = observation.snapshot_sha256
            if sha not in snapshots:
                snapshots[sha] = read_snapshot(connection, sha)
            balances.extend(b for b in snapshots[sha] if b.chain == chain)
    expected = {key: amount for key, amount in expected.items() if key[0] in latest}
    return Reconciliation(
        {chain: observation.seq for chain, observation in latest.items()},
        reconcile(expected, balances),
        registry,
    )


@dataclass(frozen=True)
class ObservationFilter:
    chain: str | None = None
    address: str | None = None
    asset_id: str | None = None


@dataclass(frozen=True)
class ObservedBalance:
    """One balance an observation entry recorded: the block it was read at, the address,
    the asset and the amount (base units), and the observation that replaced it, if any."""

    seq: int
    chain: str
    network: str
    run_id: str
    height: int
    block_hash: str
    snapshot_sha256: str
    superseded_by: int | None
    address: str
    asset_id: str
    amount_base: str
    pending_base: str

    def to_json(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "chain": self.chain,
            "network": self.network,
            "run_id": self.run_id,
            "height": self.height,
            "block_hash": self.block_hash,
            "snapshot_sha256": self.snapshot_sha256,
            "superseded_by": self.superseded_by,
            "address": self.address,
            "asset_id": self.asset_id,
            "amount_base": self.amount_base,
            "pending_base": self.pending_base,
        }


def list_observations(
    engine: Engine, where: ObservationFilter, offset: int, limit: int
) -> list[ObservedBalance]:
    """Balances the watcher observed, one per (entry, chain, address, asset), newest entry
    first; superseded observations (after a reorg) included and marked.

    Raises ValueError when the window lies outside 0..OBSERVATIONS_READ_MAX.
    """
    if offset < 0 or not 1 <= limit <= LIST_LIMIT_MAX or offset + limit > OBSERVATIONS_READ_MAX:
        raise ValueError(
            f"window: expected within 0..{OBSERVATIONS_READ_MAX}, got {offset}+{limit}"
        )
    observation, snapshot = OBSERVATION_TABLE, SNAPSHOT_TABLE
    query = (
        select(
            observation.c.seq,
            observation.c.chain,
            observation.c.network,
            observation.c.run_id,
            observation.c.height,
            observation.c.block_hash,
            observation.c.snapshot_sha256,
            observation.c.superseded_by,
            snapshot.c.address,
            snapshot.c.asset_id,
            snapshot.c.amount_base,
            snapshot.c.pending_base,
        )
        .join(
            snapshot,
            (snapshot.c.snapshot_sha256 == observation.c.snapshot_sha256)
            & (snapshot.c.chain == observation.c.chain),
        )
        .order_by(
            observation.c.seq.desc(), observation.c.chain, snapshot.c.address, snapshot.c.asset_id
        )
    )
    if where.chain is not None:
        query = query.where(observation.c.chain == where.chain)
    if where.address is not None:
        query = query.where(snapshot.c.address == where.address)
    if where.asset_id is not None:
        query = query.where(snapshot.c.asset_id == where.asset_id)
    with read_transaction(engine) as connection:
        rows = connection.execute(query.offset(offset).limit(limit)).all()
    return [ObservedBalance(*tuple(row)) for row in rows]


def latest_run(engine: Engine) -> dict[str, Any] | None:
    """The watcher's latest run (id, finish time, status, reason), or None."""
    runs = list_runs(engine, 1)
    if not runs:
        return None
    run = runs[0]
    return {
        "run": run["run_id"],
        "finished_at": run["finished_at"],
        "status": run["status"],
        "reason": run["reason"],
    }


@dataclass(frozen=True)
class Doubt:
    """An open critical alert on a custody position (address, asset): the holdings recorded
    there may not exist as recorded (coins left without a recorded movement). Their value
    is shown apart from the undisputed total until the alert is acknowledged."""

    alert_seq: int
    kind: str
    address: str
    asset_id: str
    message: str

    def to_json(self) -> dict[str, Any]:
        return {
            "alert_seq": self.alert_seq,
            "kind": self.kind,
            "address": self.address,
            "asset_id": self.asset_id,
            "message": self.message,
        }


def positions_in_doubt(engine: Engine, size: int | None = None) -> dict[tuple[str, str], Doubt]:
    """The positions under an open critical alert among the ledger's first `size` entries
    (all: None), by (address, asset id): raised before `size` and not acknowledged before
    it. The earliest such alert names each position."""
    query = (
        select(ALERT_TABLE)
        .where(ALERT_TABLE.c.severity == CRITICAL)
        .order_by(ALERT_TABLE.c.seq)
        .limit(ALERTS_IN_DOUBT_MAX)
    )
    if size is not None:
        acknowledged = ALERT_TABLE.c.acknowledged_seq
        query = query.where(
            ALERT_TABLE.c.seq < size, acknowledged.is_(None) | (acknowledged >= size)
        )
    else:
        query = query.where(ALERT_TABLE.c.acknowledged_seq.is_(None))
    found: dict[tuple[str, str], Doubt] = {}
    with read_transaction(engine) as connection:
        for row in connection.execute(query):
            key = (row.address, row.asset_id)
            if key not in found:
                found[key] = Doubt(int(row.seq), row.kind, row.address, row.asset_id, row.message)
    return found


def holdings_json(engine: Engine, holdings: Sequence[Holding]) -> list[dict[str, Any]]:
    """Holdings as the CLI's `--json`, the API and the pages show them: each with `in_doubt`,
    the open critical alert on its position (None when there is none)."""
    doubts = positions_in_doubt(engine) if holdings else {}
    return [{**holding.to_json(), "in_doubt": _doubt_json(doubts, holding)} for holding in holdings]


def _doubt_json(doubts: dict[tuple[str, str], Doubt], holding: Holding) -> dict[str, Any] | None:
    found = doubts.get((holding.wallet, holding.asset.asset_id))
    return None if found is None else found.to_json()
