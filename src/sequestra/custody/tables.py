"""Tables of the custody projection: assets, cases, wallets, positions, movements, postings.

They are read models: `sequestra rebuild` empties and refills them from the entries, and
`verify` compares them with a replay. Amounts are decimal strings (base units, signed for
postings and world-side accounts): a uint256 does not fit SQLite's INTEGER, and a REAL
would round it.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Index, Integer, SmallInteger, String, Text
from sqlmodel import Field, SQLModel

from sequestra.custody.amounts import AMOUNT_TEXT_LENGTH


class CustodyAsset(SQLModel, table=True):
    """An asset registered by statement (the built-in defaults are not stored)."""

    __tablename__ = "custody_asset"

    asset_id: str = Field(sa_column=Column(String(48), primary_key=True))
    chain: str = Field(sa_column=Column(String(16), nullable=False))
    symbol: str = Field(sa_column=Column(String(16), nullable=False))
    kind: str = Field(sa_column=Column(String(8), nullable=False))
    contract: str | None = Field(default=None, sa_column=Column(String(128)))
    decimals: int = Field(sa_column=Column(SmallInteger, nullable=False))
    registered_seq: int = Field(sa_column=Column(BigInteger, nullable=False))


class CustodyCase(SQLModel, table=True):
    __tablename__ = "custody_case"

    case_id: str = Field(sa_column=Column(String(64), primary_key=True))
    agency: str = Field(sa_column=Column(String(256), nullable=False))
    legal_basis: str = Field(sa_column=Column(Text, nullable=False))
    prosecutor_ref: str | None = Field(default=None, sa_column=Column(String(256)))
    court_ref: str | None = Field(default=None, sa_column=Column(String(256)))
    description: str | None = Field(default=None, sa_column=Column(Text))
    opened_seq: int = Field(sa_column=Column(BigInteger, nullable=False))
    opened_at: str = Field(sa_column=Column(String(32), nullable=False))
    closed_seq: int | None = Field(default=None, sa_column=Column(BigInteger))
    closed_reason: str | None = Field(default=None, sa_column=Column(Text))
    # Holdings of the case with a balance above zero; a case closes only at zero.
    holdings_open: int = Field(sa_column=Column(Integer, nullable=False))


class CustodyWallet(SQLModel, table=True):
    __tablename__ = "custody_wallet"

    address: str = Field(sa_column=Column(String(128), primary_key=True))
    chain: str = Field(sa_column=Column(String(16), nullable=False))
    network: str = Field(sa_column=Column(String(32), nullable=False))
    controller: str = Field(sa_column=Column(String(256), nullable=False))
    label: str = Field(sa_column=Column(String(256), nullable=False))
    registered_seq: int = Field(sa_column=Column(BigInteger, nullable=False))


class CustodyPosition(SQLModel, table=True):
    """The balance of one asset in one account; custody accounts are also holdings.

    A holding (`holding_id` set) is what a case holds in a wallet (`case/<case>/wallet/<w>`)
    or what the State Fund holds in one (`fund/<w>`); its state says where it is in the
    lifecycle. Sinks (`released`, `network-fees`, ...) and world-side accounts
    (`external/...`) are positions without a holding.
    """

    __tablename__ = "custody_position"
    __table_args__ = (
        Index("ix_custody_position_case", "case_id"),
        Index("ix_custody_position_account", "account"),
        Index("ix_custody_position_holding", "holding_id", unique=True),
    )

    asset_id: str = Field(sa_column=Column(String(48), primary_key=True))
    account: str = Field(sa_column=Column(String(256), primary_key=True))
    amount_base: str = Field(sa_column=Column(String(AMOUNT_TEXT_LENGTH), nullable=False))
    holding_id: int | None = Field(default=None, sa_column=Column(BigInteger))
    case_id: str | None = Field(default=None, sa_column=Column(String(64)))
    wallet: str | None = Field(default=None, sa_column=Column(String(128)))
    state: str | None = Field(default=None, sa_column=Column(String(16)))
    first_seq: int = Field(sa_column=Column(BigInteger, nullable=False))
    last_seq: int = Field(sa_column=Column(BigInteger, nullable=False))


class CustodyMovement(SQLModel, table=True):
    """An entry that moved assets; `reversed_by` is the seq of its correction, if any."""

    __tablename__ = "custody_movement"

    seq: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    kind: str = Field(sa_column=Column(String(64), nullable=False))
    case_id: str | None = Field(default=None, sa_column=Column(String(64)))
    reversed_by: int | None = Field(default=None, sa_column=Column(BigInteger))


class CustodyPosting(SQLModel, table=True):
    """One change to one account's balance of one asset, made by the entry `seq`."""

    __tablename__ = "custody_posting"
    __table_args__ = (Index("ix_custody_posting_holding", "holding_id"),)

    seq: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    idx: int = Field(sa_column=Column(SmallInteger, primary_key=True, autoincrement=False))
    asset_id: str = Field(sa_column=Column(String(48), nullable=False))
    account: str = Field(sa_column=Column(String(256), nullable=False))
    amount_base: str = Field(sa_column=Column(String(AMOUNT_TEXT_LENGTH), nullable=False))
    holding_id: int | None = Field(default=None, sa_column=Column(BigInteger))


ASSET_TABLE = CustodyAsset.__table__  # type: ignore[attr-defined]
CASE_TABLE = CustodyCase.__table__  # type: ignore[attr-defined]
WALLET_TABLE = CustodyWallet.__table__  # type: ignore[attr-defined]
POSITION_TABLE = CustodyPosition.__table__  # type: ignore[attr-defined]
MOVEMENT_TABLE = CustodyMovement.__table__  # type: ignore[attr-defined]
POSTING_TABLE = CustodyPosting.__table__  # type: ignore[attr-defined]
TABLES = (ASSET_TABLE, CASE_TABLE, WALLET_TABLE, POSITION_TABLE, MOVEMENT_TABLE, POSTING_TABLE)
