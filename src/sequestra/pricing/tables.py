"""Tables of pricing: valuations and their prices (a projection of `valuation.recorded`), and
the quotes each valuation considered, kept under the SHA-256 its statement names."""

from __future__ import annotations

from sqlalchemy import BigInteger, Boolean, Column, Integer, String, Text
from sqlmodel import Field, SQLModel

DECIMAL_TEXT = 48


class Valuation(SQLModel, table=True):
    __tablename__ = "valuation"

    seq: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    cutoff: str = Field(sa_column=Column(String(32), nullable=False, unique=True))
    method: str = Field(sa_column=Column(String(16), nullable=False))
    price_type: str = Field(sa_column=Column(String(8), nullable=False))
    fx_rate: str = Field(sa_column=Column(String(DECIMAL_TEXT), nullable=False))
    fx_on: str = Field(sa_column=Column(String(10), nullable=False))
    fx_published_on: str = Field(sa_column=Column(String(10), nullable=False))
    fx_source: str = Field(sa_column=Column(String(256), nullable=False))
    quotes_sha256: str = Field(sa_column=Column(String(64), nullable=False))
    unpriced: int = Field(sa_column=Column(Integer, nullable=False))
    venues_missing: str = Field(sa_column=Column(Text, nullable=False))  # comma-separated
    # The venues the state may sell on (comma-separated; None: every venue), and the
    # deviation from the cross-venue median beyond which a price is flagged.
    accessible_venues: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    deviation_max: str | None = Field(
        default=None, sa_column=Column(String(DECIMAL_TEXT), nullable=True)
    )


class ValuationPrice(SQLModel, table=True):
    __tablename__ = "valuation_price"

    seq: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    asset_id: str = Field(sa_column=Column(String(48), primary_key=True))
    price_usd: str = Field(sa_column=Column(String(DECIMAL_TEXT), nullable=False))
    confidence: str = Field(sa_column=Column(String(16), nullable=False))
    venues: str = Field(sa_column=Column(String(600), nullable=False))  # comma-separated
    # Fair value (None for valuations recorded before levels): level 1-3, basis, the market
    # (venue:PAIR), its 24-hour volume and the price's time, the median and the deviation.
    level: int | None = Field(default=None, sa_column=Column(Integer, nullable=True))
    basis: str | None = Field(default=None, sa_column=Column(String(32), nullable=True))
    market: str | None = Field(default=None, sa_column=Column(String(100), nullable=True))
    market_volume: str | None = Field(
        default=None, sa_column=Column(String(DECIMAL_TEXT), nullable=True)
    )
    price_at: str | None = Field(default=None, sa_column=Column(String(32), nullable=True))
    median_usd: str | None = Field(
        default=None, sa_column=Column(String(DECIMAL_TEXT), nullable=True)
    )
    deviation: str | None = Field(
        default=None, sa_column=Column(String(DECIMAL_TEXT), nullable=True)
    )
    flagged: bool | None = Field(default=None, sa_column=Column(Boolean, nullable=True))


class ValuationQuote(SQLModel, table=True):
    """A quote as a valuation considered it; empty text for what the venue did not give."""

    __tablename__ = "valuation_quote"

    quotes_sha256: str = Field(sa_column=Column(String(64), primary_key=True))
    idx: int = Field(sa_column=Column(Integer, primary_key=True, autoincrement=False))
    # The asset the quote was considered for ("" in rows recorded before this column).
    asset: str = Field(default="", sa_column=Column(String(48), nullable=False, server_default=""))
    venue: str = Field(sa_column=Column(String(32), nullable=False))
    pair: str = Field(sa_column=Column(String(64), nullable=False))
    last: str = Field(sa_column=Column(String(DECIMAL_TEXT), nullable=False))
    bid: str = Field(sa_column=Column(String(DECIMAL_TEXT), nullable=False))
    ask: str = Field(sa_column=Column(String(DECIMAL_TEXT), nullable=False))
    volume: str = Field(sa_column=Column(String(DECIMAL_TEXT), nullable=False))
    timestamp: str = Field(sa_column=Column(String(32), nullable=False))
    price_usd: str = Field(sa_column=Column(String(DECIMAL_TEXT), nullable=False))
    dropped: str = Field(sa_column=Column(Text, nullable=False))


VALUATION_TABLE = Valuation.__table__  # type: ignore[attr-defined]
PRICE_TABLE = ValuationPrice.__table__  # type: ignore[attr-defined]
QUOTE_TABLE = ValuationQuote.__table__  # type: ignore[attr-defined]
