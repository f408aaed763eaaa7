"""Daily market data as the Fund's risk figures read it, on both databases: only the UTC days
that had ended at the valuation's cutoff, and volume only from the venues named."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from sqlalchemy import Engine, insert
from tests.conftest import LedgerWorld

from sequestra.ledger.db import read_transaction
from sequestra.pricing.marketdata import (
    CLOSE_TABLE,
    last_closed_day,
    read_usd_closes,
    stored_venues,
    usd_closes,
)

CUTOFF = datetime(2026, 3, 14, 18, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("cutoff", "last_day"),
    [
        (CUTOFF, date(2026, 3, 13)),  # the 14th is forming at 18:00
        (datetime(2026, 3, 14, 0, 0, tzinfo=UTC), date(2026, 3, 13)),  # ended exactly then
        (datetime(2026, 3, 14, 0, 0, 0, 1, tzinfo=UTC), date(2026, 3, 13)),
        (datetime(2026, 3, 13, 23, 59, 59, 999999, tzinfo=UTC), date(2026, 3, 12)),
    ],
)
def test_a_day_counts_once_it_has_ended(cutoff: datetime, last_day: date) -> None:
    assert last_closed_day(cutoff) == last_day


def test_a_naive_cutoff_is_refused() -> None:
    with pytest.raises(ValueError, match="cutoff_utc: expected an aware datetime"):
        last_closed_day(datetime(2026, 3, 14, 18, 0))


def _store(engine: Engine) -> None:
    rows = []
    for day in range(11, 17):  # the 11th to the 16th of March: the 14th is the cutoff's
        when = date(2026, 3, day).isoformat()
        for venue, pair, close, volume in (
            ("kraken", "BTC/USD", 100 + day, 2),
            ("okx", "BTC/USDT", 100 + day, 6),
            ("okx", "USDT/USD", 1, 1000),
        ):
            rows.append(
                {
                    "venue": venue,
                    "pair": pair,
                    "day": when,
                    "close": str(close),
                    "volume": str(volume),
                }
            )
    with engine.begin() as connection:
        connection.execute(insert(CLOSE_TABLE), rows)


def test_closes_stop_at_the_last_day_ended_and_volume_counts_the_venues_named(
    world: LedgerWorld,
) -> None:
    engine = world.engine
    _store(engine)
    closes, volumes = read_usd_closes(
        engine, "BTC", cutoff_utc=CUTOFF, volume_venues=("kraken", "binance")
    )
    assert sorted(closes) == [date(2026, 3, 11), date(2026, 3, 12), date(2026, 3, 13)]
    assert closes[date(2026, 3, 13)] == Decimal(113)
    # kraken's 2 BTC a day at that day's close; okx's 6 are not the Fund's to sell into.
    assert volumes == {d: 2 * closes[d] for d in closes}
    with read_transaction(engine) as connection:
        _, every = usd_closes(
            connection, "BTC", cutoff_utc=CUTOFF, volume_venues=stored_venues(engine)
        )
        _, none = usd_closes(connection, "BTC", cutoff_utc=CUTOFF, volume_venues=())
    assert every == {d: 8 * closes[d] for d in closes}
    assert none == dict.fromkeys(closes, Decimal(0))
    assert stored_venues(engine) == ("kraken", "okx")
