"""Body schemas of the State Fund's statements (`BODY_SCHEMAS`, joined into the rule set by
the composition).

`fund.policy.recorded` (admins) fixes the approval bands (how many distinct approvers a sale
of a given value needs), how long an approval stays valid, and the licensed venues a sale
may execute on. The sale workflow: `sale.proposed` -> `sale.approved` (m of n approvers,
never the proposer) -> `sale.executed` per tranche -> `sale.settled`; or `sale.rejected` /
`sale.cancelled`. Amounts are base units; prices and fiat are decimal strings.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, StringConstraints

from sequestra.custody.kinds import Address, AssetId, BaseUnits, LongText, ShortText, TxHash
from sequestra.ledger.kinds import BodyModel, Timestamp
from sequestra.ledger.roles import (
    FUND_EMERGENCY_RAISED,
    FUND_POLICY_RECORDED,
    SALE_APPROVED,
    SALE_CANCELLED,
    SALE_EXECUTED,
    SALE_PROPOSED,
    SALE_REJECTED,
    SALE_SETTLED,
)

BANDS_MAX = 16
VENUES_MAX = 32
SCHEDULE_MAX = 1_000

SaleId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")]
VenueId = Annotated[str, StringConstraints(pattern=r"^[a-z0-9_-]{1,32}$")]
Money = Annotated[str, StringConstraints(pattern=r"^(0|[1-9][0-9]{0,20})(\.[0-9]{1,12})?$")]
Method = Annotated[str, StringConstraints(pattern=r"^(exchange|otc|auction)$")]


class Band(BodyModel):
    up_to_usd: Money  # sales whose value at the floor is at most this
    approvals_min: int = Field(ge=1, le=16)


class FundPolicyBody(BodyModel):
    bands: list[Band] = Field(min_length=1, max_length=BANDS_MAX)
    approval_valid_s: int = Field(ge=60, le=90 * 86_400)
    venues: list[VenueId] = Field(min_length=1, max_length=VENUES_MAX)


class Tranche(BodyModel):
    at: Timestamp
    amount_base: BaseUnits


class SaleProposedBody(BodyModel):
    sale: SaleId
    asset: AssetId
    wallet: Address  # the Fund's wallet: the account fund/<wallet>
    amount_base: BaseUnits
    venues: list[VenueId] = Field(min_length=1, max_length=VENUES_MAX)
    method: Method
    price_floor_usd: Money
    schedule: list[Tranche] = Field(default_factory=list, max_length=SCHEDULE_MAX)
    reason: LongText


class SaleDecisionBody(BodyModel):
    sale: SaleId
    note: LongText


class SaleExecutedBody(BodyModel):
    sale: SaleId
    venue: VenueId
    amount_base: BaseUnits
    price_usd: Money
    fee_usd: Money
    executed_at: Timestamp
    venue_order_id: ShortText
    deposit_tx: TxHash


class SaleSettledBody(BodyModel):
    sale: SaleId
    proceeds_kzt: Money
    budget_account: ShortText
    payment_ref: ShortText
    settled_at: Timestamp


class EmergencyRaisedBody(BodyModel):
    """A Fund holding's price fell past the threshold since the first valuation after it
    entered the Fund: the emergency-sale rule applies."""

    asset: AssetId
    wallet: Address
    reference_seq: int = Field(ge=0, le=2**53 - 1)  # the valuation the fall is measured from
    reference_price_usd: Money
    valuation_seq: int = Field(ge=0, le=2**53 - 1)
    price_usd: Money
    drop: Annotated[str, StringConstraints(pattern=r"^0(\.[0-9]{1,12})?$|^1$")]
    threshold: Annotated[str, StringConstraints(pattern=r"^0\.[0-9]{1,12}$")]
    message: LongText


BODY_SCHEMAS: dict[str, type[BodyModel]] = {
    FUND_POLICY_RECORDED: FundPolicyBody,
    SALE_PROPOSED: SaleProposedBody,
    SALE_APPROVED: SaleDecisionBody,
    SALE_REJECTED: SaleDecisionBody,
    SALE_CANCELLED: SaleDecisionBody,
    SALE_EXECUTED: SaleExecutedBody,
    SALE_SETTLED: SaleSettledBody,
    FUND_EMERGENCY_RAISED: EmergencyRaisedBody,
}
