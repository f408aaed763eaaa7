"""Body schemas of the custody statement kinds (`BODY_SCHEMAS`, joined into the rule set by
`sequestra.composition`).

Who may issue each kind is in `sequestra.ledger.roles.AUTHORITY`. These schemas check the
shape of a body (types, lengths, patterns); the rules that need the ledger's state (is the
case open, does the wallet hold enough) are in `sequestra.custody.state`. Amounts are base
units written as decimal strings; JCS would otherwise turn them into doubles.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import ConfigDict, Field, StringConstraints

from sequestra.ledger.kinds import BodyModel, Timestamp
from sequestra.ledger.roles import (
    ASSET_REGISTERED,
    CASE_CLOSED,
    CASE_OPENED,
    CUSTODY_TRANSFERRED,
    ENTRY_CORRECTED,
    FORFEITURE_ORDERED,
    RELEASE_ORDERED,
    SEIZURE_RECORDED,
    WALLET_REGISTERED,
)

CASE_ID_LENGTH_MAX = 64
ADDRESS_LENGTH_MAX = 128
SOURCES_MAX = 64  # source addresses or transactions named by one seizure
EVIDENCE_MAX = 32  # evidence documents named by one statement
FORFEITURE_ITEMS_MAX = 32  # holdings one forfeiture statement moves (two postings each)
TEXT_SHORT_MAX = 256
TEXT_LONG_MAX = 4096

CaseId = Annotated[
    str, StringConstraints(pattern=rf"^[A-Za-z0-9][A-Za-z0-9._-]{{0,{CASE_ID_LENGTH_MAX - 1}}}$")
]
AssetId = Annotated[
    str, StringConstraints(pattern=r"^(bitcoin|ethereum):[A-Za-z0-9][A-Za-z0-9._-]{0,31}$")
]
Chain = Annotated[str, StringConstraints(pattern=r"^(bitcoin|ethereum)$")]
Network = Annotated[str, StringConstraints(pattern=r"^[a-z0-9-]{1,32}$")]
# Every Bitcoin (Base58, Bech32) and Ethereum address is ASCII letters and digits.
Address = Annotated[str, StringConstraints(pattern=rf"^[A-Za-z0-9]{{1,{ADDRESS_LENGTH_MAX}}}$")]
# Decimal digits without leading zeros; the rules decide whether zero is allowed.
BaseUnits = Annotated[str, StringConstraints(pattern=r"^(0|[1-9][0-9]{0,77})$")]
# A Bitcoin txid (64 hex) or an Ethereum transaction hash (0x and 64 hex), lower case.
TxHash = Annotated[str, StringConstraints(pattern=r"^(0x)?[0-9a-f]{64}$")]
Sha256Hex = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")]
Date = Annotated[str, StringConstraints(pattern=r"^\d{4}-\d{2}-\d{2}$")]
ShortText = Annotated[str, StringConstraints(min_length=1, max_length=TEXT_SHORT_MAX)]
LongText = Annotated[str, StringConstraints(min_length=1, max_length=TEXT_LONG_MAX)]


class Evidence(BodyModel):
    """An evidence document by its SHA-256; the file itself stays outside the ledger."""

    sha256: Sha256Hex
    name: ShortText


class Order(BodyModel):
    """A court decision or other order: who issued it, its reference and its date."""

    authority: ShortText
    ref: ShortText
    date: Date


class AssetRegisteredBody(BodyModel):
    asset: AssetId
    chain: Chain
    symbol: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,15}$")]
    kind: Annotated[str, StringConstraints(pattern=r"^(native|token)$")]
    contract: Address | None = None
    decimals: int = Field(ge=0, le=36)


class CaseOpenedBody(BodyModel):
    case: CaseId
    agency: ShortText
    legal_basis: LongText
    prosecutor_ref: ShortText | None = None
    court_ref: ShortText | None = None
    description: LongText | None = None


class CaseClosedBody(BodyModel):
    case: CaseId
    reason: LongText


class WalletRegisteredBody(BodyModel):
    address: Address
    chain: Chain
    network: Network
    controller: ShortText
    label: ShortText


class SeizureRecordedBody(BodyModel):
    case: CaseId
    asset: AssetId
    amount_base: BaseUnits
    wallet: Address
    seized_at: Timestamp
    seized_from: ShortText | None = None
    source_addresses: list[Address] = Field(default_factory=list, max_length=SOURCES_MAX)
    source_txs: list[TxHash] = Field(default_factory=list, max_length=SOURCES_MAX)
    evidence: list[Evidence] = Field(default_factory=list, max_length=EVIDENCE_MAX)
    external_ref: ShortText | None = None
    description: LongText | None = None


class CustodyTransferredBody(BodyModel):
    """A move between two custody wallets: of a case's holding, or (no case) the Fund's."""

    model_config = ConfigDict(strict=True, extra="forbid", frozen=True, populate_by_name=True)

    case: CaseId | None = None
    asset: AssetId
    amount_base: BaseUnits
    from_wallet: Address = Field(alias="from")
    to_wallet: Address = Field(alias="to")
    tx: TxHash
    fee_base: BaseUnits
    transferred_at: Timestamp
    reason: LongText | None = None


class ForfeitedHolding(BodyModel):
    asset: AssetId
    wallet: Address
    amount_base: BaseUnits


class ForfeitureOrderedBody(BodyModel):
    """A court's forfeiture: the holdings listed pass from the case to the State Fund."""

    case: CaseId
    decision: Order
    holdings: list[ForfeitedHolding] = Field(min_length=1, max_length=FORFEITURE_ITEMS_MAX)
    evidence: list[Evidence] = Field(default_factory=list, max_length=EVIDENCE_MAX)


class ReleaseOrderedBody(BodyModel):
    """A holding returned to its owner: the order, where it went, and the transaction."""

    case: CaseId
    asset: AssetId
    amount_base: BaseUnits
    wallet: Address
    destination: Address
    tx: TxHash
    fee_base: BaseUnits
    order: Order
    released_at: Timestamp
    evidence: list[Evidence] = Field(default_factory=list, max_length=EVIDENCE_MAX)


class EntryCorrectedBody(BodyModel):
    """Reverses the movements of an earlier entry; the entry itself stays as it was."""

    seq: int = Field(ge=1, le=2**53 - 1)
    reason: LongText


BODY_SCHEMAS: dict[str, type[BodyModel]] = {
    ASSET_REGISTERED: AssetRegisteredBody,
    CASE_OPENED: CaseOpenedBody,
    CASE_CLOSED: CaseClosedBody,
    WALLET_REGISTERED: WalletRegisteredBody,
    SEIZURE_RECORDED: SeizureRecordedBody,
    CUSTODY_TRANSFERRED: CustodyTransferredBody,
    FORFEITURE_ORDERED: ForfeitureOrderedBody,
    RELEASE_ORDERED: ReleaseOrderedBody,
    ENTRY_CORRECTED: EntryCorrectedBody,
}
