"""Pricing's read surface: recorded valuations, their prices and the quotes behind them, as
frozen views. No module outside `sequestra.pricing` reads the pricing tables; `to_json` gives
the one set of field names the CLI's `--json`, the API and the pages share.

"Which valuation is current" is `current_valuation`, and only it: the valuation with the
latest cutoff, whenever it was recorded. A valuation recorded later for an earlier cutoff (the
value on a seizure date) is history, never current.
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
CUTOFF_TIES_READ: Final = 64  # valuations read to order the latest second's cutoffs exactly


@dataclass(frozen=True)
class PriceView:
    """One asset's USD fair value in a valuation: its confidence and the venues behind it,
    its level and basis, the market it was read from (`venue:PAIR`), that market's 24-hour
    volume and the price's own time, the cross-venue median and the deviation from it
    (None for valuations recorded before fair-value levels)."""

    asset_id: str
    price_usd: Decimal
    confidence: str
    venues: tuple[str, ...]
    level: int | None = None
    basis: str | None = None
    market: str | None = None
    market_volume: Decimal | None = None
    price_at: str | None = None
    median_usd: Decimal | None = None
    deviation: Decimal | None = None
    flagged: bool | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "asset_id": self.asset_id,
            "price_usd": str(self.price_usd),
            "confidence": self.confidence,
            "venues": list(self.venues),
            "level": self.level,
            "basis": self.basis,
            "market": self.market,
            "market_volume": _text(self.market_volume),
            "price_at": self.price_at,
            "median_usd": _text(self.median_usd),
            "deviation": _text(self.deviation),
            "flagged": self.flagged,
        }


def _text(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


def _decimal(text: str | None) -> Decimal | None:
    return None if text is None else Decimal(text)


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
    accessible_venues: tuple[str, ...] | None = None  # None: every venue (or not recorded)
    deviation_max: Decimal | None = None

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
            "accessible_venues": (
                None if self.accessible_venues is None else list(self.accessible_venues)
            ),
            "deviation_max": _text(self.deviation_max),
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
                price.asset_id,
                Decimal(price.price_usd),
                price.confidence,
                _split(price.venues),
                price.level,
                price.basis,
                price.market,
                _decimal(price.market_volume),
                price.price_at,
                _decimal(price.median_usd),
                _decimal(price.deviation),
                price.flagged,
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
            None if row.accessible_venues is None else _split(row.accessible_venues),
            _decimal(row.deviation_max),
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
    rule, the dashboard, the API, the CLI): the valuation with the latest cutoff. One
    recorded later for an earlier cutoff never becomes current.
    """
    return _latest_cutoff(source, size, None)


def previous_valuation(
    source: Engine | Connection, current: ValuationView, size: int | None = None
) -> ValuationView | None:
    """The valuation that was current before `current` was recorded: the latest cutoff
    before `current`'s among the valuations recorded before it (so one recorded later for
    an earlier cutoff never changes what the current reports compare with), or None."""
    recorded_before = current.seq if size is None else min(size, current.seq)
    return _latest_cutoff(source, recorded_before, current.cutoff_at)


def _latest_cutoff(
    source: Engine | Connection, size: int | None, before: datetime | None
) -> ValuationView | None:
    """The valuation with the latest cutoff (before `before` when given) among the first
    `size` entries. Cutoff text orders right to the second (a fraction is optional): the
    candidates of the latest second are read and compared parsed."""
    second = func.substr(VALUATION_TABLE.c.cutoff, 1, 19)
    query = select(VALUATION_TABLE).order_by(second.desc(), VALUATION_TABLE.c.seq.desc())
    if size is not None:
        query = query.where(VALUATION_TABLE.c.seq < size)
    if before is not None:
        query = query.where(second <= before.strftime("%Y-%m-%dT%H:%M:%S"))
    with _reading(source) as connection:
        rows = list(connection.execute(query.limit(CUTOFF_TIES_READ)).all())
        eligible = [
            (parse_timestamp(row.cutoff, "cutoff"), row.seq, row)
            for row in rows
            if before is None or parse_timestamp(row.cutoff, "cutoff") < before
        ]
        if not eligible:
            return None
        _, _, row = max(eligible, key=lambda found: (found[0], found[1]))
        return _views(connection, [row])[0]


def recent_valuations(source: Engine | Connection, count_max: int) -> list[ValuationView]:
    """The latest `count_max` valuations of the current line, oldest first: each one was
    current when it was recorded (its cutoff later than every valuation's before it). A
    valuation recorded later for an earlier cutoff (a seizure date's value) is not on it."""
    query = select(VALUATION_TABLE.c.seq, VALUATION_TABLE.c.cutoff).order_by(VALUATION_TABLE.c.seq)
    with _reading(source) as connection:
        line: list[int] = []
        latest: datetime | None = None
        for row in connection.execute(query):
            cutoff = parse_timestamp(row.cutoff, "cutoff")
            if latest is None or cutoff > latest:
                line.append(int(row.seq))
                latest = cutoff
        chosen = line[-count_max:] if count_max > 0 else []
        if not chosen:
            return []
        rows = connection.execute(
            select(VALUATION_TABLE)
            .where(VALUATION_TABLE.c.seq.in_(chosen))
            .order_by(VALUATION_TABLE.c.seq)
        ).all()
        return _views(connection, list(rows))


def reference_price(
    source: Engine | Connection, asset_id: str, after_seq: int, not_before: datetime
) -> tuple[int, Decimal] | None:
    """(seq, USD price) of the valuation with the earliest cutoff at or after `not_before`
    that priced the asset and was recorded after entry `after_seq`: the price a holding
    entered at. A valuation of an earlier cutoff (a seizure date's) is never it."""
    cutoff = VALUATION_TABLE.c.cutoff
    second = not_before.strftime("%Y-%m-%dT%H:%M:%S")
    query = (
        select(PRICE_TABLE.c.seq, cutoff, PRICE_TABLE.c.price_usd)
        .join(VALUATION_TABLE, VALUATION_TABLE.c.seq == PRICE_TABLE.c.seq)
        .where(
            PRICE_TABLE.c.asset_id == asset_id,
            PRICE_TABLE.c.seq > after_seq,
            func.substr(cutoff, 1, 19) >= second,
        )
        .order_by(func.substr(cutoff, 1, 19), PRICE_TABLE.c.seq)
        .limit(CUTOFF_TIES_READ)
    )
    with _reading(source) as connection:
        candidates = [
            (parse_timestamp(row.cutoff, "cutoff"), int(row.seq), Decimal(row.price_usd))
            for row in connection.execute(query)
        ]
    eligible = [c for c in candidates if c[0] >= not_before]
    if not eligible:
        return None
    _, seq, price = min(eligible)
    return seq, price


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
