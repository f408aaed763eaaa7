"""Tables of the State Fund's sale workflow (a projection of the fund statements)."""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Integer, String, Text
from sqlmodel import Field, SQLModel

MONEY_TEXT = 48


class FundPolicy(SQLModel, table=True):
    __tablename__ = "fund_policy"

    seq: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    bands: str = Field(sa_column=Column(Text, nullable=False))  # "up_to:m,up_to:m"
    approval_valid_s: int = Field(sa_column=Column(Integer, nullable=False))
    venues: str = Field(sa_column=Column(Text, nullable=False))  # comma-separated


class FundSale(SQLModel, table=True):
    __tablename__ = "fund_sale"

    sale_id: str = Field(sa_column=Column(String(64), primary_key=True))
    asset_id: str = Field(sa_column=Column(String(48), nullable=False))
    wallet: str = Field(sa_column=Column(String(128), nullable=False))
    amount_base: str = Field(sa_column=Column(String(80), nullable=False))
    venues: str = Field(sa_column=Column(Text, nullable=False))
    method: str = Field(sa_column=Column(String(16), nullable=False))
    price_floor_usd: str = Field(sa_column=Column(String(MONEY_TEXT), nullable=False))
    approvals_min: int = Field(sa_column=Column(Integer, nullable=False))
    proposer: str = Field(sa_column=Column(String(64), nullable=False))
    proposed_seq: int = Field(sa_column=Column(BigInteger, nullable=False))
    state: str = Field(sa_column=Column(String(16), nullable=False))
    executed_base: str = Field(sa_column=Column(String(80), nullable=False))
    proceeds_usd: str = Field(sa_column=Column(String(MONEY_TEXT), nullable=False))
    fees_usd: str = Field(sa_column=Column(String(MONEY_TEXT), nullable=False))
    closed_seq: int | None = Field(default=None, sa_column=Column(BigInteger))
    proceeds_kzt: str | None = Field(default=None, sa_column=Column(String(MONEY_TEXT)))
    payment_ref: str | None = Field(default=None, sa_column=Column(String(256)))


class FundApproval(SQLModel, table=True):
    __tablename__ = "fund_approval"

    sale_id: str = Field(sa_column=Column(String(64), primary_key=True))
    approver: str = Field(sa_column=Column(String(64), primary_key=True))
    seq: int = Field(sa_column=Column(BigInteger, nullable=False))
    issued_at: str = Field(sa_column=Column(String(32), nullable=False))


class FundExecution(SQLModel, table=True):
    __tablename__ = "fund_execution"

    seq: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    sale_id: str = Field(sa_column=Column(String(64), nullable=False))
    venue: str = Field(sa_column=Column(String(32), nullable=False))
    amount_base: str = Field(sa_column=Column(String(80), nullable=False))
    price_usd: str = Field(sa_column=Column(String(MONEY_TEXT), nullable=False))
    fee_usd: str = Field(sa_column=Column(String(MONEY_TEXT), nullable=False))
    executed_at: str = Field(sa_column=Column(String(32), nullable=False))
    venue_order_id: str = Field(sa_column=Column(String(256), nullable=False))
    deposit_tx: str = Field(sa_column=Column(String(66), nullable=False))


class FundEmergency(SQLModel, table=True):
    """An emergency-sale alert: one per holding and reference valuation."""

    __tablename__ = "fund_emergency"

    seq: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    asset_id: str = Field(sa_column=Column(String(48), nullable=False))
    wallet: str = Field(sa_column=Column(String(128), nullable=False))
    reference_seq: int = Field(sa_column=Column(BigInteger, nullable=False))
    valuation_seq: int = Field(sa_column=Column(BigInteger, nullable=False))
    drop: str = Field(sa_column=Column(String(32), nullable=False))
    message: str = Field(sa_column=Column(Text, nullable=False))


POLICY_TABLE = FundPolicy.__table__  # type: ignore[attr-defined]
SALE_TABLE = FundSale.__table__  # type: ignore[attr-defined]
APPROVAL_TABLE = FundApproval.__table__  # type: ignore[attr-defined]
EXECUTION_TABLE = FundExecution.__table__  # type: ignore[attr-defined]
EMERGENCY_TABLE = FundEmergency.__table__  # type: ignore[attr-defined]
TABLES = (POLICY_TABLE, SALE_TABLE, APPROVAL_TABLE, EXECUTION_TABLE, EMERGENCY_TABLE)
