"""Response models of the HTTP API: explicit field types; amounts and prices as strings."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict


class ApiModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ErrorDetail(ApiModel):
    code: str
    message: str


class ErrorBody(ApiModel):
    error: ErrorDetail


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


class HistoryLineOut(ApiModel):
    seq: int
    recorded_at: str
    kind: str
    change_base: str
    change: str
    balance_base: str
    balance: str
    reversed_by: int | None


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


class ValuationOut(ApiModel):
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
    venues_missing: str
    prices_usd: dict[str, str]
    confidence: dict[str, str]


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
