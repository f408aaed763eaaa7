"""Daily market data kept for the State Fund's risk figures: one close and volume per venue,
pair and UTC day, fetched from the venues' daily candles (ccxt `fetch_ohlcv`).

Market data is an input of analysis, not a record of the ledger: it lives in its own table
(`market_close`), is fetched again at will, and each risk report states the days it used.
Closes are read from ccxt's numbers through their text (`Decimal(str(x))`), as quotes are.

Reading is cut at a valuation's cutoff: a daily candle counts only once its UTC day has
ended at or before the cutoff (`last_closed_day`); the day the cutoff falls in is still
forming and never counts, nor does any later day. Closes are the median over every venue
(price discovery); volumes count only the venues named (the Fund's licensed venues: the
volume the Fund may sell into).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Sequence
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from statistics import median
from typing import Any, Final

from sqlalchemy import Column, Connection, Engine, String, delete, insert, select
from sqlmodel import Field, SQLModel

from sequestra.ledger.db import read_transaction, write_transaction
from sequestra.pricing.venues import DAY_MS, CcxtVenue, VenueError

DAYS_MAX: Final = 4_000
CANDLES_PER_CALL_MAX: Final = 500  # below every served venue's own limit
CALLS_PER_PAIR_MAX: Final = 10


class MarketClose(SQLModel, table=True):
    __tablename__ = "market_close"

    venue: str = Field(sa_column=Column(String(32), primary_key=True))
    pair: str = Field(sa_column=Column(String(64), primary_key=True))
    day: str = Field(sa_column=Column(String(10), primary_key=True))
    close: str = Field(sa_column=Column(String(48), nullable=False))
    volume: str = Field(sa_column=Column(String(48), nullable=False))


CLOSE_TABLE = MarketClose.__table__  # type: ignore[attr-defined]


def _decimal(value: Any) -> Decimal | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        return None
    return number if number.is_finite() and number > 0 else None


def fetch_daily(
    venue: CcxtVenue, pair: str, first_day: date, last_day: date
) -> list[dict[str, str]]:
    """Daily candles of one listed pair from `first_day` to `last_day` (UTC), paged."""
    rows: list[dict[str, str]] = []
    since_ms = int(
        datetime(first_day.year, first_day.month, first_day.day, tzinfo=UTC).timestamp() * 1000
    )
    end_ms = int(
        datetime(last_day.year, last_day.month, last_day.day, tzinfo=UTC).timestamp() * 1000
    )
    for _ in range(CALLS_PER_PAIR_MAX):
        if since_ms > end_ms:
            break
        candles = venue.fetch_daily_candles(pair, since_ms, CANDLES_PER_CALL_MAX)
        kept = [
            c for c in candles if isinstance(c, list) and len(c) >= 6 and since_ms <= c[0] <= end_ms
        ]
        for candle in kept:
            close, volume = _decimal(candle[4]), _decimal(candle[5])
            if close is None:
                continue
            day = datetime.fromtimestamp(candle[0] / 1000, UTC).date().isoformat()
            rows.append(
                {
                    "venue": venue.venue,
                    "pair": pair,
                    "day": day,
                    "close": str(close),
                    "volume": str(volume or 0),
                }
            )
        if not kept:
            break
        since_ms = max(c[0] for c in kept) + DAY_MS
    return rows


def fetch_market_data(
    engine: Engine, venues: Sequence[CcxtVenue], pairs: Sequence[str], days: int, today: date
) -> tuple[int, list[dict[str, str]]]:
    """Fetch and store `days` daily closes of every listed pair; (rows stored, venues missing)."""
    if not 1 <= days <= DAYS_MAX:
        raise ValueError(f"days: expected 1 to {DAYS_MAX}, got {days}")
    first = today - timedelta(days=days)
    stored, missing = 0, []
    for venue in venues:
        try:
            rows = [
                row
                for pair in venue.listed(pairs)
                for row in fetch_daily(venue, pair, first, today)
            ]
        except VenueError as error:
            missing.append({"venue": error.venue, "reason": error.reason})
            continue
        with write_transaction(engine) as connection:
            for pair in {row["pair"] for row in rows}:
                connection.execute(
                    delete(CLOSE_TABLE).where(
                        CLOSE_TABLE.c.venue == venue.venue,
                        CLOSE_TABLE.c.pair == pair,
                        CLOSE_TABLE.c.day >= first.isoformat(),
                    )
                )
            if rows:
                connection.execute(insert(CLOSE_TABLE), rows)
        stored += len(rows)
    return stored, missing


def last_closed_day(cutoff_utc: datetime) -> date:
    """The last UTC day that had ended at `cutoff_utc`: day D ends at D + 1, 00:00 UTC.

    A cutoff at 18:00 on the 14th gives the 13th (the 14th is still forming); a cutoff at
    00:00 on the 14th gives the 13th as well (it ended exactly then).

    Raises:
        ValueError: a naive datetime (a cutoff is a moment in UTC).
    """
    if cutoff_utc.tzinfo is None:
        raise ValueError("cutoff_utc: expected an aware datetime, got a naive one")
    return (cutoff_utc.astimezone(UTC) - timedelta(days=1)).date()


def usd_closes(
    connection: Connection,
    symbol: str,
    *,
    cutoff_utc: datetime,
    volume_venues: Collection[str],
) -> tuple[dict[date, Decimal], dict[date, Decimal]]:
    """Daily USD closes and USD volumes of a symbol on the days ended by `cutoff_utc`.

    Closes: the median over every venue and pair of `SYM/USD` closes and `SYM/USDT` or
    `SYM/USDC` closes times that day's stablecoin USD close. Volumes: on each day with a
    close, the base volume of the symbol's pairs on `volume_venues` only, times that day's
    USD close; 0 on a day those venues did not trade it (or none is named).
    """
    last_day = last_closed_day(cutoff_utc).isoformat()
    rows = connection.execute(select(CLOSE_TABLE).where(CLOSE_TABLE.c.day <= last_day)).all()
    by_pair: dict[str, dict[date, list[Decimal]]] = defaultdict(lambda: defaultdict(list))
    for row in rows:
        by_pair[row.pair][date.fromisoformat(row.day)].append(Decimal(row.close))
    stable = {
        coin: {day: median(values) for day, values in by_pair.get(f"{coin}/USD", {}).items()}
        for coin in ("USDT", "USDC")
    }
    closes: dict[date, list[Decimal]] = defaultdict(list)
    for quote in ("USD", "USDT", "USDC"):
        for day, values in by_pair.get(f"{symbol}/{quote}", {}).items():
            rate = Decimal(1) if quote == "USD" else stable[quote].get(day)
            if rate is not None:
                closes[day].extend(value * rate for value in values)
    close_usd = {day: median(values) for day, values in closes.items()}
    volumes: dict[date, Decimal] = dict.fromkeys(close_usd, Decimal(0))
    licensed = frozenset(volume_venues)
    for row in rows:
        if row.venue in licensed and row.pair.split("/")[0] == symbol:
            day = date.fromisoformat(row.day)
            if day in close_usd:
                volumes[day] += Decimal(row.volume) * close_usd[day]
    return close_usd, volumes


def stored_venues(engine: Engine) -> tuple[str, ...]:
    """The venues with any stored daily close, sorted."""
    with read_transaction(engine) as connection:
        rows = connection.execute(select(CLOSE_TABLE.c.venue).distinct()).all()
    return tuple(sorted(row.venue for row in rows))


def read_usd_closes(
    engine: Engine, symbol: str, *, cutoff_utc: datetime, volume_venues: Collection[str]
) -> tuple[dict[date, Decimal], dict[date, Decimal]]:
    """`usd_closes` in a read transaction of its own."""
    with read_transaction(engine) as connection:
        return usd_closes(connection, symbol, cutoff_utc=cutoff_utc, volume_venues=volume_venues)
