"""The watcher's projection: observations and alerts, from the entries.

Rules at append: an observation may supersede only earlier, not yet superseded
observations; an alert belongs to the run of an observation recorded before it; an alert is
acknowledged once. `verify` also hashes again every snapshot an observation names.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Any, Final

from sqlalchemy import Connection, bindparam, delete, insert, select, update

from sequestra.chains.watch import kinds as schemas
from sequestra.chains.watch.kinds import BODY_SCHEMAS
from sequestra.chains.watch.tables import ALERT_TABLE, OBSERVATION_TABLE, SNAPSHOT_TABLE
from sequestra.ledger.authority import AuthorityState
from sequestra.ledger.canonical import canonical_json
from sequestra.ledger.entry import Entry
from sequestra.ledger.errors import StatementError
from sequestra.ledger.kinds import BodyModel, body_as
from sequestra.ledger.projection import Row
from sequestra.ledger.roles import ALERT_ACKNOWLEDGED, ALERT_RAISED, OBSERVATION_RECORDED
from sequestra.ledger.statement import SignedStatement
from sequestra.ledger.timefmt import format_timestamp

WATCH_KINDS: Final = frozenset(BODY_SCHEMAS)
_NONE: Final = "\x00"


@dataclass(frozen=True, slots=True)
class SnapshotBalance:
    chain: str
    address: str
    asset_id: str
    amount_base: int
    pending_base: int


def snapshot_sha256(balances: Iterable[SnapshotBalance]) -> str:
    """SHA-256 of the canonical JSON list of balances, sorted by chain, address and asset."""
    items = sorted(balances, key=lambda b: (b.chain, b.address, b.asset_id))
    document = [
        [b.chain, b.address, b.asset_id, str(b.amount_base), str(b.pending_base)] for b in items
    ]
    return hashlib.sha256(canonical_json(document)).hexdigest()


@dataclass(frozen=True, slots=True)
class ObservationRow:
    seq: int
    chain: str
    run_id: str
    network: str
    height: int
    block_hash: str
    snapshot_sha256: str
    superseded_by: int | None = None


@dataclass(frozen=True, slots=True)
class AlertRow:
    seq: int
    run_id: str
    kind: str
    severity: str
    chain: str
    address: str
    asset_id: str
    expected_base: str
    observed_base: str
    pending_base: str
    height: int
    block_hash: str
    message: str
    raised_at: str
    acknowledged_seq: int | None = None
    acknowledged_note: str | None = None


def _text(value: Any) -> str:
    return _NONE if value is None else str(value)


class WatchProjection:
    """`chain_observation` and `chain_alert`."""

    name = "chain_watch"
    kinds = WATCH_KINDS

    def __init__(self) -> None:
        self._clear()

    def _clear(self) -> None:
        self.observations: dict[tuple[int, str], ObservationRow] = {}
        self.alerts: dict[int, AlertRow] = {}
        self.runs: set[str] = set()
        self.connection: Connection | None = None
        self.dirty_observations: set[tuple[int, str]] = set()
        self.new_observations: set[tuple[int, str]] = set()
        self.dirty_alerts: set[int] = set()
        self.new_alerts: set[int] = set()

    def load(
        self,
        connection: Connection,
        authority: AuthorityState,
        statements: Sequence[SignedStatement],
    ) -> None:
        self._clear()
        if any(statement.kind in WATCH_KINDS for statement in statements):
            self.connection = connection

    # --- lookups that fall back to the tables on the append path ---------------------------

    def _observations_of(self, seq: int) -> list[ObservationRow]:
        found = [row for (s, _), row in self.observations.items() if s == seq]
        if found or self.connection is None:
            return found
        for r in self.connection.execute(
            select(OBSERVATION_TABLE).where(OBSERVATION_TABLE.c.seq == seq)
        ):
            row = ObservationRow(*r)
            self.observations[(row.seq, row.chain)] = row
            found.append(row)
        return found

    def _run_known(self, run_id: str) -> bool:
        if run_id in self.runs:
            return True
        if self.connection is not None:
            hit = self.connection.execute(
                select(OBSERVATION_TABLE.c.seq).where(OBSERVATION_TABLE.c.run_id == run_id)
            ).first()
            if hit is not None:
                self.runs.add(run_id)
                return True
        return False

    def _alert(self, seq: int) -> AlertRow | None:
        if seq not in self.alerts and self.connection is not None:
            r = self.connection.execute(select(ALERT_TABLE).where(ALERT_TABLE.c.seq == seq)).first()
            if r is not None:
                self.alerts[seq] = AlertRow(*r)
        return self.alerts.get(seq)

    # --- rules -----------------------------------------------------------------------------

    def stage(self, seq: int, statement: SignedStatement, body: BodyModel) -> None:
        kind = statement.kind
        if kind == OBSERVATION_RECORDED:
            self._observation(seq, body_as(kind, body, schemas.ObservationRecordedBody))
        elif kind == ALERT_RAISED:
            raised = body_as(kind, body, schemas.AlertRaisedBody)
            self._alert_raised(seq, raised, format_timestamp(statement.issued_at))
        elif kind == ALERT_ACKNOWLEDGED:
            self._acknowledged(seq, body_as(kind, body, schemas.AlertAcknowledgedBody))

    def _observation(self, seq: int, body: schemas.ObservationRecordedBody) -> None:
        chains = [block.chain for block in body.blocks]
        if len(set(chains)) != len(chains):
            raise StatementError(f"blocks: expected one block per chain, got {chains}")
        for index, old_seq in enumerate(body.supersedes):
            rows = self._observations_of(old_seq) if old_seq < seq else []
            if not rows:
                raise StatementError(
                    f"supersedes[{index}]: expected the seq of an earlier observation,"
                    f" got {old_seq}"
                )
            for row in rows:
                if row.superseded_by is not None:
                    raise StatementError(
                        f"supersedes[{index}]: expected an observation not superseded before,"
                        f" got {old_seq}, superseded at seq {row.superseded_by}"
                    )
                self.observations[(row.seq, row.chain)] = replace(row, superseded_by=seq)
                self.dirty_observations.add((row.seq, row.chain))
        for block in body.blocks:
            key = (seq, block.chain)
            self.observations[key] = ObservationRow(
                seq,
                block.chain,
                body.run,
                block.network,
                block.height,
                block.block_hash,
                body.snapshot_sha256,
            )
            self.new_observations.add(key)
        self.runs.add(body.run)

    def _alert_raised(self, seq: int, body: schemas.AlertRaisedBody, raised_at: str) -> None:
        if not self._run_known(body.run):
            raise StatementError(
                f"run: expected the run of an observation recorded before, got {body.run}"
            )
        self.alerts[seq] = AlertRow(
            seq,
            body.run,
            body.alert,
            body.severity,
            body.chain,
            body.address,
            body.asset,
            body.expected_base,
            body.observed_base,
            body.pending_base,
            body.block.height,
            body.block.block_hash,
            body.message,
            raised_at,
        )
        self.new_alerts.add(seq)

    def _acknowledged(self, seq: int, body: schemas.AlertAcknowledgedBody) -> None:
        alert = self._alert(body.alert_seq)
        if alert is None:
            raise StatementError(f"alert_seq: expected the seq of an alert, got {body.alert_seq}")
        if alert.acknowledged_seq is not None:
            raise StatementError(
                f"alert_seq: expected an open alert, got {body.alert_seq}, acknowledged at seq"
                f" {alert.acknowledged_seq}"
            )
        self.alerts[alert.seq] = replace(alert, acknowledged_seq=seq, acknowledged_note=body.note)
        self.dirty_alerts.add(alert.seq)

    # --- writing and comparing -------------------------------------------------------------

    def flush(self, connection: Connection, entries: Sequence[Entry]) -> None:
        new = [self.observations[key] for key in sorted(self.new_observations)]
        if new:
            connection.execute(insert(OBSERVATION_TABLE), [_values(row) for row in new])
        changed = [
            self.observations[key]
            for key in sorted(self.dirty_observations - self.new_observations)
        ]
        if changed:
            connection.execute(
                update(OBSERVATION_TABLE)
                .where(
                    OBSERVATION_TABLE.c.seq == bindparam("k_seq"),
                    OBSERVATION_TABLE.c.chain == bindparam("k_chain"),
                )
                .values(superseded_by=bindparam("v_superseded_by")),
                [
                    {"k_seq": r.seq, "k_chain": r.chain, "v_superseded_by": r.superseded_by}
                    for r in changed
                ],
            )
        alerts = [self.alerts[seq] for seq in sorted(self.new_alerts)]
        if alerts:
            connection.execute(insert(ALERT_TABLE), [_values(row) for row in alerts])
        acknowledged = [self.alerts[s] for s in sorted(self.dirty_alerts - self.new_alerts)]
        if acknowledged:
            connection.execute(
                update(ALERT_TABLE)
                .where(ALERT_TABLE.c.seq == bindparam("k_seq"))
                .values(acknowledged_seq=bindparam("v_seq"), acknowledged_note=bindparam("v_note")),
                [
                    {"k_seq": a.seq, "v_seq": a.acknowledged_seq, "v_note": a.acknowledged_note}
                    for a in acknowledged
                ],
            )

    def rows(self) -> list[Row]:
        rows: list[Row] = [
            ("chain_observation", *map(_text, _values(r).values()))
            for r in self.observations.values()
        ]
        rows += [("chain_alert", *map(_text, _values(a).values())) for a in self.alerts.values()]
        rows += [
            ("chain_snapshot", sha)
            for sha in {r.snapshot_sha256 for r in self.observations.values()}
        ]
        return sorted(rows)

    def stored_rows(self, connection: Connection) -> list[Row]:
        rows: list[Row] = [
            ("chain_observation", *map(_text, r))
            for r in connection.execute(select(OBSERVATION_TABLE))
        ]
        rows += [("chain_alert", *map(_text, r)) for r in connection.execute(select(ALERT_TABLE))]
        named = {
            r.snapshot_sha256
            for r in connection.execute(select(OBSERVATION_TABLE.c.snapshot_sha256).distinct())
        }
        rows += [("chain_snapshot", stored_snapshot_sha256(connection, sha)) for sha in named]
        return sorted(rows)

    def reset(self, connection: Connection) -> None:
        connection.execute(delete(ALERT_TABLE))
        connection.execute(delete(OBSERVATION_TABLE))


def read_snapshot(connection: Connection, sha256: str) -> list[SnapshotBalance]:
    rows = connection.execute(
        select(SNAPSHOT_TABLE).where(SNAPSHOT_TABLE.c.snapshot_sha256 == sha256)
    )
    return [
        SnapshotBalance(r.chain, r.address, r.asset_id, int(r.amount_base), int(r.pending_base))
        for r in rows
    ]


def stored_snapshot_sha256(connection: Connection, sha256: str) -> str:
    """The hash of the snapshot stored under `sha256` (differs if its rows were changed)."""
    return snapshot_sha256(read_snapshot(connection, sha256))


def _values(row: ObservationRow | AlertRow) -> dict[str, Any]:
    return {name: getattr(row, name) for name in row.__slots__}
