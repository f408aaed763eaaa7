"""Reads the API needs that have no service function elsewhere: recorded valuations."""

from __future__ import annotations

from typing import Any, Final

from sqlalchemy import Engine, select

from sequestra.ledger.db import read_transaction
from sequestra.pricing.tables import PRICE_TABLE, VALUATION_TABLE

VALUATIONS_READ_MAX: Final = 10_000


def list_valuations(engine: Engine, offset: int, limit: int) -> list[dict[str, Any]]:
    """Recorded valuations newest first, with each asset's USD price and its confidence.

    Raises ValueError when the window lies outside 0..VALUATIONS_READ_MAX.
    """
    if offset < 0 or limit < 1 or offset + limit > VALUATIONS_READ_MAX:
        raise ValueError(f"window: expected within 0..{VALUATIONS_READ_MAX}, got {offset}+{limit}")
    query = select(VALUATION_TABLE).order_by(VALUATION_TABLE.c.seq.desc())
    found: list[dict[str, Any]] = []
    with read_transaction(engine) as connection:
        for row in connection.execute(query.offset(offset).limit(limit)).all():
            prices = connection.execute(
                select(PRICE_TABLE)
                .where(PRICE_TABLE.c.seq == row.seq)
                .order_by(PRICE_TABLE.c.asset_id)
            ).all()
            found.append(
                {
                    **row._mapping,
                    "prices_usd": {p.asset_id: p.price_usd for p in prices},
                    "confidence": {p.asset_id: p.confidence for p in prices},
                }
            )
    return found
