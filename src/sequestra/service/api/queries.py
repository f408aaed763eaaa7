"""Reads the API needs that have no service function elsewhere: recorded valuations,
balance observations and the list of checkpoints."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

from sqlalchemy import Engine, select

from sequestra.chains.watch.tables import OBSERVATION_TABLE, SNAPSHOT_TABLE
from sequestra.ledger.db import read_transaction
from sequestra.ledger.tables import CHECKPOINT_TABLE, COSIGNATURE_TABLE
from sequestra.pricing.tables import PRICE_TABLE, VALUATION_TABLE

VALUATIONS_READ_MAX: Final = 10_000
OBSERVATIONS_READ_MAX: Final = 1_000_000
CHECKPOINTS_READ_MAX: Final = 1_000_000
READ_LIMIT_MAX: Final = 1_000  # rows of one page read, the row telling a next page included


def _check_window(offset: int, limit: int, read_max: int) -> None:
    if offset < 0 or not 1 <= limit <= READ_LIMIT_MAX or offset + limit > read_max:
        raise ValueError(f"window: expected within 0..{read_max}, got {offset}+{limit}")


def _prices(connection: Any, seq: int) -> list[Any]:
    return list(
        connection.execute(
            select(PRICE_TABLE).where(PRICE_TABLE.c.seq == seq).order_by(PRICE_TABLE.c.asset_id)
        ).all()
    )


def list_valuations(engine: Engine, offset: int, limit: int) -> list[dict[str, Any]]:
    """Recorded valuations newest first, with each asset's USD price and its confidence.

    Raises ValueError when the window lies outside 0..VALUATIONS_READ_MAX.
    """
    _check_window(offset, limit, VALUATIONS_READ_MAX)
    query = select(VALUATION_TABLE).order_by(VALUATION_TABLE.c.seq.desc())
    found: list[dict[str, Any]] = []
    with read_transaction(engine) as connection:
        for row in connection.execute(query.offset(offset).limit(limit)).all():
            prices = _prices(connection, row.seq)
            found.append(
                {
                    **row._mapping,
                    "prices_usd": {p.asset_id: p.price_usd for p in prices},
                    "confidence": {p.asset_id: p.confidence for p in prices},
                }
            )
    return found


def get_valuation(engine: Engine, seq: int) -> dict[str, Any] | None:
    """The valuation recorded at `seq` with each asset's price, confidence and venues, or
    None when no valuation was recorded there."""
    with read_transaction(engine) as connection:
        row = connection.execute(
            select(VALUATION_TABLE).where(VALUATION_TABLE.c.seq == seq)
        ).first()
        if row is None:
            return None
        prices = _prices(connection, seq)
    return {
        **row._mapping,
        "venues_missing": [v for v in row.venues_missing.split(",") if v],
        "prices": [
            {
                "asset_id": p.asset_id,
                "price_usd": p.price_usd,
                "confidence": p.confidence,
                "venues": [v for v in p.venues.split(",") if v],
            }
            for p in prices
        ],
    }


@dataclass(frozen=True)
class ObservationFilter:
    chain: str | None = None
    address: str | None = None
    asset_id: str | None = None


def list_observations(
    engine: Engine, where: ObservationFilter, offset: int, limit: int
) -> list[dict[str, Any]]:
    """Balances the watcher observed, one row per (entry, chain, address, asset), newest
    entry first; superseded observations (after a reorg) included and marked.

    Raises ValueError when the window lies outside 0..OBSERVATIONS_READ_MAX.
    """
    _check_window(offset, limit, OBSERVATIONS_READ_MAX)
    observation, snapshot = OBSERVATION_TABLE, SNAPSHOT_TABLE
    query = (
        select(
            observation.c.seq,
            observation.c.chain,
            observation.c.network,
            observation.c.run_id,
            observation.c.height,
            observation.c.block_hash,
            observation.c.snapshot_sha256,
            observation.c.superseded_by,
            snapshot.c.address,
            snapshot.c.asset_id,
            snapshot.c.amount_base,
            snapshot.c.pending_base,
        )
        .join(
            snapshot,
            (snapshot.c.snapshot_sha256 == observation.c.snapshot_sha256)
            & (snapshot.c.chain == observation.c.chain),
        )
        .order_by(
            observation.c.seq.desc(), observation.c.chain, snapshot.c.address, snapshot.c.asset_id
        )
    )
    if where.chain is not None:
        query = query.where(observation.c.chain == where.chain)
    if where.address is not None:
        query = query.where(snapshot.c.address == where.address)
    if where.asset_id is not None:
        query = query.where(snapshot.c.asset_id == where.asset_id)
    with read_transaction(engine) as connection:
        rows = connection.execute(query.offset(offset).limit(limit)).all()
    return [dict(row._mapping) for row in rows]


def list_checkpoints_page(engine: Engine, offset: int, limit: int) -> list[dict[str, Any]]:
    """Signed checkpoints newest first: size, root (hex), time and the witnesses that
    cosigned each.

    Raises ValueError when the window lies outside 0..CHECKPOINTS_READ_MAX.
    """
    _check_window(offset, limit, CHECKPOINTS_READ_MAX)
    query = (
        select(CHECKPOINT_TABLE.c.size, CHECKPOINT_TABLE.c.root_hash, CHECKPOINT_TABLE.c.created_at)
        .order_by(CHECKPOINT_TABLE.c.size.desc())
        .offset(offset)
        .limit(limit)
    )
    with read_transaction(engine) as connection:
        rows = connection.execute(query).all()
        sizes = [row.size for row in rows]
        cosigned: dict[int, list[str]] = {size: [] for size in sizes}
        if sizes:
            for line in connection.execute(
                select(COSIGNATURE_TABLE.c.size, COSIGNATURE_TABLE.c.witness)
                .where(COSIGNATURE_TABLE.c.size.in_(sizes))
                .order_by(COSIGNATURE_TABLE.c.size, COSIGNATURE_TABLE.c.witness)
            ):
                cosigned[line.size].append(line.witness)
    return [
        {
            "size": row.size,
            "root": bytes(row.root_hash).hex(),
            "created_at": row.created_at,
            "cosigned_by": cosigned[row.size],
        }
        for row in rows
    ]
