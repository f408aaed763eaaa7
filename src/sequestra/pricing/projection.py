"""The pricing projection: `valuation` and `valuation_price`, from `valuation.recorded`.

Rule at append: one valuation per cutoff (a second one is refused, naming the first).
`verify` also hashes again the quotes every valuation names.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Final

from sqlalchemy import Connection, delete, insert, select

from sequestra.ledger.authority import AuthorityState
from sequestra.ledger.canonical import canonical_json
from sequestra.ledger.entry import Entry
from sequestra.ledger.errors import StatementError
from sequestra.ledger.kinds import BodyModel, body_as
from sequestra.ledger.projection import Row
from sequestra.ledger.roles import VALUATION_RECORDED
from sequestra.ledger.statement import SignedStatement
from sequestra.pricing.kinds import ValuationRecordedBody
from sequestra.pricing.tables import PRICE_TABLE, QUOTE_TABLE, VALUATION_TABLE

QUOTE_FIELDS_V1: Final = (
    "venue",
    "pair",
    "last",
    "bid",
    "ask",
    "volume",
    "timestamp",
    "price_usd",
    "dropped",
)
# Since fair-value levels each row names the asset it was considered for (a USDC/USDT quote
# serves both stablecoins, at different USD prices).
QUOTE_FIELDS: Final = ("asset", *QUOTE_FIELDS_V1)


@dataclass(frozen=True, slots=True)
class QuoteRow:
    """A considered quote as text (empty where the venue gave nothing)."""

    asset: str  # "" in rows recorded before fair-value levels
    venue: str
    pair: str
    last: str
    bid: str
    ask: str
    volume: str
    timestamp: str
    price_usd: str
    dropped: str


def quotes_sha256(quotes: Iterable[QuoteRow]) -> str:
    """SHA-256 of the canonical JSON list of quotes, in the order given: each row's fields in
    QUOTE_FIELDS order (QUOTE_FIELDS_V1, without the asset, for rows recorded before it)."""
    rows = list(quotes)
    fields = QUOTE_FIELDS if any(q.asset for q in rows) else QUOTE_FIELDS_V1
    document = [[getattr(q, name) for name in fields] for q in rows]
    return hashlib.sha256(canonical_json(document)).hexdigest()


def read_quotes(connection: Connection, sha256: str) -> list[QuoteRow]:
    rows = connection.execute(
        select(QUOTE_TABLE).where(QUOTE_TABLE.c.quotes_sha256 == sha256).order_by(QUOTE_TABLE.c.idx)
    )
    return [QuoteRow(*(getattr(r, name) for name in QUOTE_FIELDS)) for r in rows]


def write_quotes(connection: Connection, sha256: str, quotes: Sequence[QuoteRow]) -> None:
    """Store quotes under their hash (once: the same quotes are the same rows)."""
    exists = connection.execute(
        select(QUOTE_TABLE.c.idx).where(QUOTE_TABLE.c.quotes_sha256 == sha256).limit(1)
    ).first()
    if exists is None and quotes:
        connection.execute(
            insert(QUOTE_TABLE),
            [
                {"quotes_sha256": sha256, "idx": i, **{n: getattr(q, n) for n in QUOTE_FIELDS}}
                for i, q in enumerate(quotes)
            ],
        )


class PricingProjection:
    name = "pricing"
    kinds = frozenset({VALUATION_RECORDED})

    def __init__(self) -> None:
        self._clear()

    def _clear(self) -> None:
        self.valuations: dict[int, dict[str, Any]] = {}
        self.prices: list[dict[str, Any]] = []
        self.cutoffs: dict[str, int] = {}
        self.connection: Connection | None = None

    def load(
        self,
        connection: Connection,
        authority: AuthorityState,
        statements: Sequence[SignedStatement],
    ) -> None:
        self._clear()
        if any(statement.kind in self.kinds for statement in statements):
            self.connection = connection

    def _cutoff_seq(self, cutoff: str) -> int | None:
        if cutoff not in self.cutoffs and self.connection is not None:
            seq = self.connection.execute(
                select(VALUATION_TABLE.c.seq).where(VALUATION_TABLE.c.cutoff == cutoff)
            ).scalar()
            if seq is not None:
                self.cutoffs[cutoff] = int(seq)
        return self.cutoffs.get(cutoff)

    def stage(self, seq: int, statement: SignedStatement, body: BodyModel) -> None:
        if statement.kind != VALUATION_RECORDED:
            return
        self._valuation(seq, body_as(statement.kind, body, ValuationRecordedBody))

    def _valuation(self, seq: int, body: ValuationRecordedBody) -> None:
        earlier = self._cutoff_seq(body.cutoff)
        if earlier is not None:
            raise StatementError(
                f"cutoff: expected a cutoff not valued before, got {body.cutoff}, valued at"
                f" seq {earlier}"
            )
        assets = [price.asset for price in body.prices]
        if len(set(assets)) != len(assets):
            raise StatementError("prices: expected one price per asset")
        self.cutoffs[body.cutoff] = seq
        self.valuations[seq] = {
            "seq": seq,
            "cutoff": body.cutoff,
            "method": body.method,
            "price_type": body.price_type,
            "fx_rate": body.fx.rate,
            "fx_on": body.fx.on,
            "fx_published_on": body.fx.published_on,
            "fx_source": body.fx.source,
            "quotes_sha256": body.quotes_sha256,
            "unpriced": len(body.unpriced),
            "venues_missing": ",".join(v.venue for v in body.venues_missing),
            "accessible_venues": (
                None if body.accessible_venues is None else ",".join(body.accessible_venues)
            ),
            "deviation_max": body.deviation_max,
        }
        self.prices.extend(
            {
                "seq": seq,
                "asset_id": p.asset,
                "price_usd": p.price_usd,
                "confidence": p.confidence,
                "venues": ",".join(p.venues),
                "level": p.level,
                "basis": p.basis,
                "market": None if p.market is None else f"{p.market.venue}:{p.market.pair}",
                "market_volume": None if p.market is None else p.market.volume_24h,
                "price_at": None if p.market is None else p.market.at,
                "median_usd": p.median_usd,
                "deviation": p.deviation,
                "flagged": p.flagged,
            }
            for p in body.prices
        )

    def flush(self, connection: Connection, entries: Sequence[Entry]) -> None:
        if self.valuations:
            connection.execute(insert(VALUATION_TABLE), list(self.valuations.values()))
        if self.prices:
            connection.execute(insert(PRICE_TABLE), self.prices)

    def rows(self) -> list[Row]:
        rows: list[Row] = [
            ("valuation", *(str(v[c.name]) for c in VALUATION_TABLE.columns))
            for v in self.valuations.values()
        ]
        rows += [
            ("valuation_price", *(str(p[c.name]) for c in PRICE_TABLE.columns)) for p in self.prices
        ]
        rows += [("valuation_quote", v["quotes_sha256"]) for v in self.valuations.values()]
        return sorted(rows)

    def stored_rows(self, connection: Connection) -> list[Row]:
        rows: list[Row] = [
            ("valuation", *map(str, r)) for r in connection.execute(select(VALUATION_TABLE))
        ]
        rows += [("valuation_price", *map(str, r)) for r in connection.execute(select(PRICE_TABLE))]
        named = connection.execute(select(VALUATION_TABLE.c.quotes_sha256)).scalars()
        rows += [("valuation_quote", quotes_sha256(read_quotes(connection, sha))) for sha in named]
        return sorted(rows)

    def reset(self, connection: Connection) -> None:
        connection.execute(delete(PRICE_TABLE))
        connection.execute(delete(VALUATION_TABLE))
