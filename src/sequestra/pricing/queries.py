"""Pricing's read surface: recorded valuations, their prices and the quotes behind them, as
frozen views. No module outside `sequestra.pricing` reads the pricing tables; `to_json` gives
the one set of field names the CLI's `--json`, the API and the pages share.

"Which valuation is current" is `current_valuation`, and only it.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, Final

from sqlalchemy import Connection, Engine, func, select

from sequestra.ledger.db import read_transaction
from sequestra.ledger.timefmt import parse_timestamp
from sequestra.pricing.projection import QuoteRow, read_quotes
from sequestra.pricing.tables import PRICE_TABLE, VALUATION_TABLE

READ_LIMIT_MAX: Final = 10_000
VALUATIONS_SCANNED_MAX: Final = 10_000  # candidates of one asset's price at a moment


@dataclass(frozen=True)
class PriceView:
    """One asset's USD price in a valuation, its confidence and the venues behind it."""

    asset_id: str
    price_usd: Decimal
    confidence: str
    venues: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "asset_id": self.asset_id,
            "price_usd": str(self.price_usd),
            "confidence": self.confidence,
            "venues": list(self.venues),
        }


@dataclass(frozen=True)
class ValuationView:
    """A recorded valuation: its cutoff, method, FX and the price of each asset it priced."""

    seq: int
    cutoff: str
    method: str
    price_type: str
    fx_rate: Decimal
    fx_on: str
    fx_published_on: str
    fx_source: str
    quotes_sha256: str
    unpriced: int
    venues_missing: tuple[str, ...]
    prices: tuple[PriceView, ...]

    def price_of(self, asset_id: str) -> Decimal | None:
        for price in self.prices:
            if price.asset_id == asset_id:
                return price.price_usd
        return None

    def prices_usd(self) -> dict[str, Decimal]:
        return {price.asset_id: price.price_usd for price in self.prices}

    @property
    def cutoff_at(self) -> datetime:
        return parse_timestamp(self.cutoff, "cutoff")

    def to_json(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "cutoff": self.cutoff,
            "method": self.method,
            "price_type": self.price_type,
            "fx_rate": str(self.fx_rate),
            "fx_on": self.fx_on,
            "fx_published_on": self.fx_published_on,
            "fx_source": self.fx_source,
            "quotes_sha256": self.quotes_sha256,
            "unpriced": self.unpriced,
            "venues_missing": list(self.venues_missing),
            "prices": [price.to_json() for price in self.prices],
        }


@contextmanager
def _reading(source: Engine | Connection) -> Iterator[Connection]:
    if isinstance(source, Connection):
        yield source
        return
    with read_transaction(source) as connection:
        yield connection


def _split(text: str) -> tuple[str, ...]:
    return tuple(item for item in text.split(",") if item)


def _views(connection: Connection, rows: list[Any]) -> list[ValuationView]:
    if not rows:
        return []
    prices: dict[int, list[PriceView]] = {row.seq: [] for row in rows}
    query = (
        select(PRICE_TABLE)
        .where(PRICE_TABLE.c.seq.in_(list(prices)))
        .order_by(PRICE_TABLE.c.seq, PRICE_TABLE.c.asset_id)
    )
    for price in connection.execute(query):
        prices[price.seq].append(
            PriceView(
                price.asset_id, Decimal(price.price_usd), price.confidence, _split(price.venues)
            )
        )
    return [
        ValuationView(
            row.seq,
            row.cutoff,
            row.method,
            row.price_type,
            Decimal(row.fx_rate),
            row.fx_on,
            row.fx_published_on,
            row.fx_source,
            row.quotes_sha256,
            int(row.unpriced),
            _split(row.venues_missing),
            tuple(prices[row.seq]),
        )
        for row in rows
    ]


def valuation_at(source: Engine | Connection, seq: int) -> ValuationView | None:
    """The valuation recorded at entry `seq`, or None."""
    with _reading(source) as connection:
        row = connection.execute(
            select(VALUATION_TABLE).where(VALUATION_TABLE.c.seq == seq)
        ).first()
        return None if row is None else _views(connection, [row])[0]


def valuations_page(source: Engine | Connection, offset: int, limit: int) -> list[ValuationView]:
    """Recorded valuations, newest entry first.

    Raises ValueError for an offset below 0 or a limit outside 1..READ_LIMIT_MAX.
    """
    if offset < 0 or not 1 <= limit <= READ_LIMIT_MAX:
        raise ValueError(f"window: expected offset >= 0 and 1..{READ_LIMIT_MAX}, got {limit}")
    query = select(VALUATION_TABLE).order_by(VALUATION_TABLE.c.seq.desc())
    with _reading(source) as connection:
        rows = list(connection.execute(query.offset(offset).limit(limit)).all())
        return _views(connection, rows)


def current_valuation(source: Engine | Connection, size: int | None = None) -> ValuationView | None:
    """The current valuation among the ledger's first `size` entries (all: None), or None.

    The one definition of "current" every reader uses (reports, exposure, the emergency
    rule, the dashboard, the API, the CLI): the latest recorded.
    """
    return valuation_before(source, size)


def valuation_before(source: Engine | Connection, seq: int | None) -> ValuationView | None:
    """The latest valuation recorded before entry `seq` (any: None), or None."""
    query = select(VALUATION_TABLE).order_by(VALUATION_TABLE.c.seq.desc()).limit(1)
    if seq is not None:
        query = query.where(VALUATION_TABLE.c.seq < seq)
    with _reading(source) as connection:
        row = connection.execute(query).first()
        return None if row is None else _views(connection, [row])[0]


def previous_valuation(source: Engine | Connection, current: ValuationView) -> ValuationView | None:
    """The valuation current before `current` was recorded, or None."""
    return valuation_before(source, current.seq)


def recent_valuations(source: Engine | Connection, count_max: int) -> list[ValuationView]:
    """The latest `count_max` valuations, oldest first."""
    return sorted(valuations_page(source, 0, count_max), key=lambda view: view.seq)


def first_price_after(
    source: Engine | Connection, asset_id: str, after_seq: int
) -> tuple[int, Decimal] | None:
    """(seq, USD price) of the first valuation after entry `after_seq` that priced the asset."""
    with _reading(source) as connection:
        row = connection.execute(
            select(PRICE_TABLE.c.seq, PRICE_TABLE.c.price_usd)
            .where(PRICE_TABLE.c.seq > after_seq, PRICE_TABLE.c.asset_id == asset_id)
            .order_by(PRICE_TABLE.c.seq)
            .limit(1)
        ).first()
    return None if row is None else (int(row.seq), Decimal(row.price_usd))


def price_at(
    source: Engine | Connection,
    asset_id: str,
    at_most: datetime | None = None,
    on_date: str | None = None,
    size: int | None = None,
) -> tuple[int, str, Decimal] | None:
    """(seq, cutoff, USD price) of the valuation with the latest cutoff that priced the
    asset, at or before `at_most` and on `on_date` (YYYY-MM-DD) when given, among the ledger's
    first `size` entries when given.

    Cutoffs are compared as instants: text order is right to the second only (a fraction is
    optional), so the candidates of the latest second are read and compared parsed.
    """
    cutoff = VALUATION_TABLE.c.cutoff
    query = (
        select(PRICE_TABLE.c.seq, cutoff, PRICE_TABLE.c.price_usd)
        .join(VALUATION_TABLE, VALUATION_TABLE.c.seq == PRICE_TABLE.c.seq)
        .where(PRICE_TABLE.c.asset_id == asset_id)
        .order_by(cutoff.desc(), PRICE_TABLE.c.seq.desc())
        .limit(VALUATIONS_SCANNED_MAX)
    )
    if size is not None:
        query = query.where(PRICE_TABLE.c.seq < size)
    if at_most is not None:
        query = query.where(func.substr(cutoff, 1, 19) <= at_most.strftime("%Y-%m-%dT%H:%M:%S"))
    if on_date is not None:
        query = query.where(func.substr(cutoff, 1, 10) == on_date)
    with _reading(source) as connection:
        candidates = [
            (parse_timestamp(row.cutoff, "cutoff"), row.seq, row.cutoff, Decimal(row.price_usd))
            for row in connection.execute(query)
        ]
    eligible = [c for c in candidates if at_most is None or c[0] <= at_most]
    if not eligible:
        return None
    _, seq, text, price = max(eligible)
    return seq, text, price


def quotes_of(source: Engine | Connection, quotes_sha256: str) -> list[QuoteRow]:
    """The quotes a valuation considered, in the order its hash covers them."""
    with _reading(source) as connection:
        return read_quotes(connection, quotes_sha256)


def pairs_used(source: Engine | Connection, quotes_sha256: str) -> dict[str, tuple[str, ...]]:
    """Pairs (`venue:BASE/QUOTE`) of the quotes a valuation used (not dropped, converted to
    USD), by base symbol."""
    used: dict[str, set[str]] = {}
    for quote in quotes_of(source, quotes_sha256):
        if quote.dropped or not quote.price_usd:
            continue
        used.setdefault(quote.pair.split("/")[0], set()).add(f"{quote.venue}:{quote.pair}")
    return {symbol: tuple(sorted(pairs)) for symbol, pairs in used.items()}


def valuation_count(source: Engine | Connection) -> int:
    with _reading(source) as connection:
        return int(
            connection.execute(select(func.count()).select_from(VALUATION_TABLE)).scalar_one()
        )
