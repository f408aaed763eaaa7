"""Response models of the HTTP API: explicit field types; amounts and prices as strings."""

from __future__ import annotations

from typing import Any, Final

from pydantic import BaseModel, ConfigDict


class ApiModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ErrorDetail(ApiModel):
    code: str
    message: str


class ErrorBody(ApiModel):
    error: ErrorDetail


def _error(description: str) -> dict[str, Any]:
    return {"model": ErrorBody, "description": description}


# Documented on every endpoint, so the OpenAPI document tells clients the one error format.
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: _error("No token, or a malformed, unknown or revoked one (`unauthenticated`)."),
    403: _error(
        "The token's role may not use this endpoint, or the statement's key may not issue"
        " its kind (`forbidden`)."
    ),
    404: _error("Nothing under this id (`not_found`)."),
    409: _error(
        "The ledger's state does not allow it now (`conflict`: no valuation yet, the Fund"
        " holds nothing), or something does not verify (`integrity_failure`)."
    ),
    413: _error("The request body is larger than the limit (`body_too_large`)."),
    422: _error(
        "A parameter or the body is not acceptable; the message names the field"
        " (`input_refused`, or `invalid_request` for the request's own form)."
    ),
    503: _error(
        "The database, a node, a venue or a witness did not answer (`dependency_unavailable`,"
        " `database_unavailable`)."
    ),
}
# The same for endpoints answering files (text/plain, PDF, ...): their errors are still JSON.
ERROR_BODY_REF: Final = {"$ref": "#/components/schemas/ErrorBody"}
FILE_ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {
        "description": response["description"],
        "content": {"application/json": {"schema": ERROR_BODY_REF}},
    }
    for status, response in ERROR_RESPONSES.items()
}


class EvidenceOut(ApiModel):
    sha256: str
    name: str


class SeizureOut(ApiModel):
    """One seizure of a case (`custody.details.SeizureLine`)."""

    seq: int
    seized_at: str  # when it happened, as the statement says
    recorded_at: str  # when its entry was recorded
    asset: str
    amount: str
    wallet: str
    evidence: list[EvidenceOut]


class CaseOut(ApiModel):
    case: str
    agency: str
    legal_basis: str
    prosecutor_ref: str | None
    court_ref: str | None
    description: str | None
    opened_seq: int
    opened_at: str
    status: str
    closed_seq: int | None
    closed_reason: str | None
    holdings_open: int


class CaseDetailOut(CaseOut):
    """One case, with its seizures: when each happened beside when it was recorded."""

    seizures: list[SeizureOut]


class DoubtOut(ApiModel):
    """The open critical alert on a holding's position: existence in doubt."""

    alert_seq: int
    kind: str
    address: str
    asset_id: str
    message: str


class HoldingOut(ApiModel):
    holding: int
    case: str | None
    asset: str
    symbol: str
    wallet: str
    account: str
    amount_base: str
    amount: str
    state: str
    first_seq: int
    last_seq: int
    in_doubt: DoubtOut | None  # an open critical alert on its position


class HistoryLineOut(ApiModel):
    seq: int
    recorded_at: str
    kind: str
    change_base: str
    change: str
    balance_base: str
    balance: str
    reversed_by: int | None
    happened_at: str | None  # when the movement happened, as its statement says
    happened_field: str | None  # the body field it comes from (seized_at, transferred_at...)
    evidence: list[EvidenceOut]


class AlertOut(ApiModel):
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
    acknowledged_seq: int | None
    acknowledged_note: str | None
    status: str


class SaleOut(ApiModel):
    sale: str
    asset: str
    symbol: str
    wallet: str
    amount_base: str
    amount: str
    executed_base: str
    executed: str
    venues: list[str]
    method: str
    price_floor_usd: str
    approvals_min: int
    proposer: str
    proposer_label: str | None
    proposed_seq: int
    proposed_at: str
    state: str
    closed_seq: int | None


class EntryOut(ApiModel):
    seq: int
    recorded_at: str
    kind: str
    issuer: str
    leaf_hash: str
    entry: dict[str, Any]  # the entry exactly as stored: statement, signature, seq, time


class ReceiptOut(ApiModel):
    seq: int
    leaf_hash: str


class CasePage(ApiModel):
    items: list[CaseOut]
    next_offset: int | None


class HoldingPage(ApiModel):
    items: list[HoldingOut]
    next_offset: int | None


class HistoryPage(ApiModel):
    holding: HoldingOut
    items: list[HistoryLineOut]
    next_offset: int | None


class AlertPage(ApiModel):
    items: list[AlertOut]
    next_offset: int | None


class ValuationPage(ApiModel):
    items: list[ValuationOut]
    next_offset: int | None


class SalePage(ApiModel):
    items: list[SaleOut]
    next_offset: int | None


class EntryPage(ApiModel):
    items: list[EntryOut]
    next_from_seq: int | None


class ObservationOut(ApiModel):
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


class ObservationPage(ApiModel):
    items: list[ObservationOut]
    next_offset: int | None


class ScheduledTrancheOut(ApiModel):
    at: str
    amount_base: str
    amount: str


class ApprovalOut(ApiModel):
    approver: str
    label: str | None
    seq: int
    issued_at: str
    valid_until: str
    valid_now: bool


class FillOut(ApiModel):
    seq: int
    venue: str
    amount_base: str
    amount: str
    price_usd: str
    fee_usd: str
    executed_at: str
    venue_order_id: str
    deposit_tx: str


class RealisedResultOut(ApiModel):
    sold_base: str
    sold: str
    proceeds_usd: str
    fees_usd: str
    net_proceeds_usd: str
    average_price_usd: str | None
    proceeds_kzt: str | None
    # {"status": "not_valued"}, or "valued" with seq, cutoff, price, value and differences
    last_valuation: dict[str, Any]
    at_seizure: dict[str, Any]  # the same, with the seizure's date and count of seizures


class SaleDetailOut(SaleOut):
    reason: str
    schedule: list[ScheduledTrancheOut]
    closing: dict[str, Any] | None  # the body of the statement that closed the sale
    approvals: list[ApprovalOut]
    approvals_valid_now: int
    fills: list[FillOut]
    result: RealisedResultOut


class ExposureAssetOut(ApiModel):
    asset: str
    quantity: str
    price_usd: str
    value_usd: str
    value_kzt: str | None
    weight: float
    in_doubt_quantity: str  # of the quantity, on positions under an open critical alert
    in_doubt_usd: str
    volatility: dict[str, float] | None


class RiskFigureOut(ApiModel):
    method: str
    level: float
    horizon_days: int
    var_usd: str
    es_usd: str
    observations: int  # the sample: daily returns, or h-day runs (overlapping)
    es_observations: int | None  # the losses ES is the mean of; None: the normal formula
    exceeds_scaled: bool | None  # overlapping figures only: above the sqrt(h)-scaled one
    note: str | None


class RiskOut(ApiModel):
    primary_method: str
    observations: int
    notes: list[str]
    figures: list[RiskFigureOut]


class StressLossOut(ApiModel):
    asset: str
    change: str
    loss_usd: str


class StressOut(ApiModel):
    scenario: str
    total_loss_usd: str
    value_after_usd: str
    losses: list[StressLossOut]


class ExposureOut(ApiModel):
    valuation_seq: int
    cutoff: str
    holdings_tree_size: int
    moment: str
    total_usd: str
    total_kzt: str | None
    usd_kzt: str | None
    undisputed_usd: str  # the total less what is in doubt
    in_doubt_usd: str  # on positions under an open critical alert: valued, shown apart
    in_doubt: list[DoubtOut]  # those alerts
    herfindahl_index: float
    effective_assets: float
    assets: list[ExposureAssetOut]
    unpriced: list[str]
    without_history: list[str]
    history_days: int
    market_last_day_max: str
    market_first_day: str | None
    market_last_day: str | None
    risk: RiskOut | None
    stress: list[StressOut]
    scenarios_from: str  # "settings" or "defaults"
    participation: str


class CosignatureOut(ApiModel):
    witness: str
    key_id: str
    status: str  # invalid, unknown, unverified (no trust policy), untrusted
    timestamp: int | None


class CheckpointSummaryOut(ApiModel):
    """A signed checkpoint: only cosignatures valid under the server's trust policy are
    listed in `cosigned_by`; the others are in `rejected` with why. `published`: the policy's
    quorum cosigned it (null without a policy)."""

    size: int
    root: str  # hex
    created_at: str
    cosigned_by: list[str]
    rejected: list[CosignatureOut]
    published: bool | None
    policy: bool  # a trust policy judged the cosignatures
    untrusted: str | None  # why the policy refuses the checkpoint itself (another ledger key)


class CheckpointPage(ApiModel):
    items: list[CheckpointSummaryOut]
    next_offset: int | None


class ValuationPriceOut(ApiModel):
    """An asset's fair value (docs/valuation-method.md): level 1-3, basis, the market it was
    read from (`venue:PAIR`), that market's 24-hour volume and the price's own time, the
    cross-venue median and the deviation from it, flagged beyond the valuation's limit
    (null for valuations recorded before fair-value levels)."""

    asset_id: str
    price_usd: str
    confidence: str
    venues: list[str]
    level: int | None
    basis: str | None
    market: str | None
    market_volume: str | None
    price_at: str | None
    median_usd: str | None
    deviation: str | None
    flagged: bool | None


class ValuationOut(ApiModel):
    """A recorded valuation (`pricing.queries.ValuationView.to_json`): FX, and each asset's
    price with its confidence and venues; what `sequestra valuations --json` prints."""

    seq: int
    cutoff: str
    method: str
    price_type: str
    fx_rate: str
    fx_on: str
    fx_published_on: str
    fx_source: str
    quotes_sha256: str
    unpriced: int
    venues_missing: list[str]
    accessible_venues: list[str] | None  # the venues the state may sell on; null: every one
    deviation_max: str | None
    prices: list[ValuationPriceOut]
