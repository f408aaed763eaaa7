"""The value of custody over time: for each recorded valuation, the value of each asset held
just before the valuation's entry, at that valuation's prices and USD/KZT rate.

Quantities come from one ordered pass over the custody postings (holding accounts only,
that is case and State Fund wallets), summed per asset up to each valuation's seq, which
is what `value_holdings` sums per holding. The rounding differs on purpose: the valuation
report rounds each holding's value to the cent (half-even) and sums the rounded values;
here each asset's exact value (quantity x price, then x rate) is rounded once. An asset's
figure may therefore differ from the report's sum of its holdings by at most half a cent
per holding of that asset. The dashboard's latest totals are taken from `value_holdings`
itself, so they equal the report's; the series is for the shape of the curve.

A series is cached in memory per database, ledger size and last leaf hash: the valuations
and postings below a given size never change.
"""

from __future__ import annotations

import threading
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal, localcontext
from typing import Final

from sqlalchemy import Engine

from sequestra.custody.assets import Asset
from sequestra.custody.queries import asset_registry, holding_postings
from sequestra.ledger import queries as ledger_queries
from sequestra.pricing import queries as pricing_queries

CENT: Final = Decimal("0.01")
EXACT_DIGITS: Final = 160  # a uint256 times a price, with no rounding before ours
VALUATIONS_CHARTED_MAX: Final = 60
POSTINGS_BATCH: Final = 10_000
CACHE_ENTRIES_MAX: Final = 8


@dataclass(frozen=True)
class ValuationPoint:
    """One valuation's figures: each asset's value in USD and KZT (rounded per asset)."""

    seq: int
    cutoff: str
    fx_rate: Decimal
    value_usd: tuple[tuple[str, Decimal], ...]  # (asset id, value), by asset id
    value_kzt: tuple[tuple[str, Decimal], ...]

    @property
    def total_usd(self) -> Decimal:
        return sum((value for _, value in self.value_usd), Decimal(0))

    @property
    def total_kzt(self) -> Decimal:
        return sum((value for _, value in self.value_kzt), Decimal(0))


@dataclass(frozen=True)
class _Valuation:
    seq: int
    cutoff: str
    fx_rate: Decimal
    prices_usd: dict[str, Decimal]


_cache: dict[tuple[str, int, bytes, int], tuple[ValuationPoint, ...]] = {}
_cache_lock = threading.Lock()


def ledger_size(engine: Engine) -> int:
    return ledger_head(engine)[1]


def ledger_head(engine: Engine) -> tuple[str, int, bytes]:
    """What a cached figure is keyed by: the database (its URL, no password), the ledger's
    size and its last entry's leaf hash (an append-only ledger of that size and head has
    the same entries)."""
    head = ledger_queries.head(engine)
    database = engine.url.render_as_string(hide_password=True)
    return (database, 0, b"") if head.size == 0 else (database, head.size, head.leaf_hash)


def value_series(
    engine: Engine, count_max: int = VALUATIONS_CHARTED_MAX
) -> tuple[ValuationPoint, ...]:
    """The latest `count_max` valuations' figures, oldest first; cached per database, ledger
    size and head.

    Raises ValueError when count_max is outside 1..VALUATIONS_CHARTED_MAX.
    """
    if not 1 <= count_max <= VALUATIONS_CHARTED_MAX:
        raise ValueError(f"count_max: expected 1 to {VALUATIONS_CHARTED_MAX}, got {count_max}")
    key = (*ledger_head(engine), count_max)
    with _cache_lock:
        cached = _cache.get(key)
    if cached is not None:
        return cached
    computed = _compute(engine, count_max)
    with _cache_lock:
        if len(_cache) >= CACHE_ENTRIES_MAX:
            _cache.pop(next(iter(_cache)))
        _cache[key] = computed
    return computed


def _valuations(engine: Engine, count_max: int) -> list[_Valuation]:
    return [
        _Valuation(view.seq, view.cutoff, view.fx_rate, view.prices_usd())
        for view in pricing_queries.recent_valuations(engine, count_max)
    ]


def _compute(engine: Engine, count_max: int) -> tuple[ValuationPoint, ...]:
    valuations = _valuations(engine, count_max)
    if not valuations:
        return ()
    registry = asset_registry(engine)
    held: dict[str, int] = defaultdict(int)  # asset id -> base units in holding accounts
    points: list[ValuationPoint] = []
    pending = iter(valuations)
    current = next(pending, None)
    for seq, asset_id, amount_base in holding_postings(engine, valuations[-1].seq):
        while current is not None and current.seq <= seq:
            points.append(_point(current, held, registry.get))
            current = next(pending, None)
        held[asset_id] += amount_base
    while current is not None:
        points.append(_point(current, held, registry.get))
        current = next(pending, None)
    return tuple(points)


def _point(
    valuation: _Valuation, held: dict[str, int], asset_of: Callable[[str], Asset]
) -> ValuationPoint:
    """The valuation's per-asset values for the quantities `held` before its seq."""
    usd: list[tuple[str, Decimal]] = []
    kzt: list[tuple[str, Decimal]] = []
    for asset_id in sorted(held):
        amount_base = held[asset_id]
        price = valuation.prices_usd.get(asset_id)
        if price is None or amount_base == 0:
            continue
        decimals = asset_of(asset_id).decimals
        with localcontext() as context:
            context.prec = EXACT_DIGITS
            exact_usd = Decimal(amount_base).scaleb(-decimals) * price
            exact_kzt = exact_usd * valuation.fx_rate
        usd.append((asset_id, exact_usd.quantize(CENT, ROUND_HALF_EVEN)))
        kzt.append((asset_id, exact_kzt.quantize(CENT, ROUND_HALF_EVEN)))
    return ValuationPoint(
        valuation.seq, valuation.cutoff, valuation.fx_rate, tuple(usd), tuple(kzt)
    )
