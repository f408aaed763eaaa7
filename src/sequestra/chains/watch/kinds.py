"""Body schemas of the watcher's statement kinds (`BODY_SCHEMAS`, joined into the rule set
by the composition).

`observation.recorded` is one watch run: the block each chain was read at, the hash of the
full snapshot of balances (kept in `chain_snapshot`), and the balances that changed since
the previous observation (at most CHANGES_MAX; the rest are in the snapshot the hash
commits to). `alert.raised` is a difference between the ledger and a chain; it stays open
until an officer records `alert.acknowledged`.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, StringConstraints

from sequestra.custody.kinds import (
    Address,
    AssetId,
    BaseUnits,
    Chain,
    LongText,
    Network,
    TxHash,
)
from sequestra.ledger.kinds import BodyModel, Timestamp
from sequestra.ledger.roles import ALERT_ACKNOWLEDGED, ALERT_RAISED, OBSERVATION_RECORDED

CHANGES_MAX = 256  # changed balances written into one observation statement
SUPERSEDES_MAX = 64
CHAINS_MAX = 4
ALERT_TXS_MAX = 16  # transactions named by one alert (the movements behind the difference)

RunId = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{32}$")]
BlockHash = Annotated[str, StringConstraints(pattern=r"^(0x)?[0-9a-f]{64}$")]
Sha256Hex = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")]
Seq = Annotated[int, Field(ge=0, le=2**53 - 1)]
Count = Annotated[int, Field(ge=0, le=10_000_000)]
AlertKind = Annotated[
    str, StringConstraints(pattern=r"^(unexpected_outflow|unexpected_inflow|pending)$")
]
Severity = Annotated[str, StringConstraints(pattern=r"^(critical|warning|info)$")]


class ObservedBlock(BodyModel):
    chain: Chain
    network: Network
    height: Count
    block_hash: BlockHash


class BalanceChange(BodyModel):
    chain: Chain
    address: Address
    asset: AssetId
    amount_base: BaseUnits
    pending_base: BaseUnits


class ObservationRecordedBody(BodyModel):
    run: RunId
    started_at: Timestamp
    blocks: list[ObservedBlock] = Field(min_length=1, max_length=CHAINS_MAX)
    snapshot_sha256: Sha256Hex
    balances_count: Count
    changes: list[BalanceChange] = Field(default_factory=list, max_length=CHANGES_MAX)
    changes_count: Count
    supersedes: list[Seq] = Field(default_factory=list, max_length=SUPERSEDES_MAX)


class AlertRaisedBody(BodyModel):
    run: RunId
    alert: AlertKind
    severity: Severity
    chain: Chain
    address: Address
    asset: AssetId
    expected_base: BaseUnits
    observed_base: BaseUnits
    pending_base: BaseUnits
    block: ObservedBlock
    message: LongText
    txs: list[TxHash] = Field(default_factory=list, max_length=ALERT_TXS_MAX)


class AlertAcknowledgedBody(BodyModel):
    alert_seq: Seq
    note: LongText


BODY_SCHEMAS: dict[str, type[BodyModel]] = {
    OBSERVATION_RECORDED: ObservationRecordedBody,
    ALERT_RAISED: AlertRaisedBody,
    ALERT_ACKNOWLEDGED: AlertAcknowledgedBody,
}
