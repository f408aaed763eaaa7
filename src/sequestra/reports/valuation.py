"""The valuation report: a valuation's holdings, prices, values and totals, computed from the
ledger prefix of `size` entries and naming that checkpoint (tree size and Merkle root).

The valuation reported is the current one among the entries with seq < size (the latest
cutoff, `pricing.queries.current_valuation`); it describes the holdings as recorded just
before the valuation's own entry, at its prices. Its figures are `value_holdings'`
(quantity x price, rounded to 0.01 half-even per holding; totals are sums of those). Each
price carries its fair-value level, basis and market. A holding under an open critical
alert of the chain watcher (as of `size`) is in doubt: its value is shown apart, and the
undisputed total leaves it out. The change per asset is against the valuation that was
current before it, where there is one. The same prefix gives the same report: nothing here
reads the clock or anything appended after `size`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from decimal import ROUND_HALF_EVEN, Context, Decimal, localcontext
from typing import Any, Final

from sqlalchemy import Engine

from sequestra.chains.watch.queries import Doubt, positions_in_doubt
from sequestra.custody.queries import Holding, holdings_before
from sequestra.ledger import queries as ledger_queries
from sequestra.ledger.db import read_transaction
from sequestra.pricing import queries as pricing_queries
from sequestra.pricing.run import HoldingValue, value_holdings
from sequestra.reports.errors import NothingToReport, ReportError, ReportRequestError

CENT: Final = Decimal("0.01")
EXACT: Final = Context(prec=200, rounding=ROUND_HALF_EVEN)
FUND_CASE: Final = "(fund)"  # a holding of the State Fund has no case
HOLDINGS_MAX: Final = 1_000_000  # one report lists at most this many holdings


@dataclass(frozen=True)
class HoldingLine:
    holding_id: int
    case_id: str
    asset_id: str
    symbol: str
    wallet: str
    quantity: str  # display units, exact
    price_usd: Decimal
    venues: tuple[str, ...]
    pairs: tuple[str, ...]
    value_usd: Decimal
    value_kzt: Decimal
    value_usd_previous: Decimal | None = None  # at the previous valuation; None: not valued
    seizure_date: str | None = None  # of the earliest seizure behind the holding
    value_usd_at_seizure: Decimal | None = None  # the quantity at that date's valuation
    in_doubt: str = ""  # "alert N: message" while a critical alert is open on its position


@dataclass(frozen=True)
class Total:
    key: str  # a case id, an asset id, or "" for the whole report
    value_usd: Decimal
    value_kzt: Decimal


@dataclass(frozen=True)
class AssetChange:
    asset_id: str
    price_usd: Decimal
    price_usd_previous: Decimal
    value_usd: Decimal
    value_usd_previous: Decimal

    @property
    def price_change_usd(self) -> Decimal:
        return self.price_usd - self.price_usd_previous

    @property
    def value_change_usd(self) -> Decimal:
        return self.value_usd - self.value_usd_previous


@dataclass(frozen=True)
class ValuationReport:
    tree_size: int
    root_sha256: str  # hex of the Merkle root at tree_size
    seq: int
    cutoff: str
    method: str
    price_type: str
    fx_rate: Decimal
    fx_on: str
    fx_source: str
    holdings: tuple[HoldingLine, ...]
    by_case: tuple[Total, ...]
    by_asset: tuple[Total, ...]
    total: Total
    previous_seq: int | None
    previous_cutoff: str | None
    changes: tuple[AssetChange, ...]
    prices: tuple[pricing_queries.PriceView, ...] = ()
    undisputed: Total = Total("", Decimal(0), Decimal(0))  # the total without the doubtful
    in_doubt: Total = Total("", Decimal(0), Decimal(0))

    @property
    def moment(self) -> str:
        """Which moment the figures describe, for every format's heading."""
        return (
            f"Holdings as of ledger entry {self.seq - 1} (tree size {self.seq}, just before"
            f" the valuation's entry), prices of valuation seq {self.seq} (cutoff {self.cutoff})"
        )


def valuation_report(engine: Engine, size: int | None = None) -> ValuationReport:
    """The report of the latest valuation in the ledger's first `size` entries (default all).

    Raises ReportError when `size` is outside 1..ledger size or the prefix has no valuation.
    """
    size_ledger = ledger_queries.head(engine).size
    size = size_ledger if size is None else size
    if not 1 <= size <= size_ledger:
        raise ReportRequestError(f"size: expected 1..{size_ledger} (the ledger's size), got {size}")
    with read_transaction(engine) as connection:
        root = ledger_queries.root_at(connection, size)
        valuation = pricing_queries.current_valuation(connection, size)
        if valuation is None:
            raise NothingToReport(
                f"valuation: expected one among the first {size} entries, got none;"
                " run `sequestra revalue` first"
            )
        previous = pricing_queries.previous_valuation(connection, valuation, size)
        pairs = pricing_queries.pairs_used(connection, valuation.quotes_sha256)
    doubts = positions_in_doubt(engine, size)
    prices = {price.asset_id: (price.price_usd, price.venues) for price in valuation.prices}
    held = holdings_before(engine, valuation.seq)
    rate = valuation.fx_rate
    values = value_holdings(engine, valuation.prices_usd(), rate, valuation.seq, held)
    lines = _lines(held, values, prices, pairs)
    changes: tuple[AssetChange, ...] = ()
    before: list[HoldingValue] = []
    if previous is not None:
        prices_before = previous.prices_usd()
        before = value_holdings(engine, prices_before, previous.fx_rate, previous.seq)
        changes = _changes(prices_before, before, lines)
    lines = _since(engine, size, lines, before)
    lines = tuple(_doubt(line, doubts) for line in lines)
    report = ValuationReport(
        size,
        root.hex(),
        valuation.seq,
        valuation.cutoff,
        valuation.method,
        valuation.price_type,
        valuation.fx_rate,
        valuation.fx_on,
        valuation.fx_source,
        lines,
        _totals(lines, lambda line: line.case_id),
        _totals(lines, lambda line: line.asset_id),
        _total("", lines),
        None if previous is None else previous.seq,
        None if previous is None else previous.cutoff,
        changes,
        valuation.prices,
        _total("", (line for line in lines if not line.in_doubt)),
        _total("", (line for line in lines if line.in_doubt)),
    )
    _check(report, values)
    return report


def _lines(
    held: list[Holding],
    values: list[HoldingValue],
    prices: dict[str, tuple[Decimal, tuple[str, ...]]],
    pairs: dict[str, tuple[str, ...]],
) -> tuple[HoldingLine, ...]:
    if len(values) > HOLDINGS_MAX:
        raise ReportRequestError(f"holdings: expected at most {HOLDINGS_MAX}, got {len(values)}")
    holdings: dict[int, Holding] = {h.holding_id: h for h in held}
    lines = []
    for value in values:
        holding = holdings[value.holding_id]
        lines.append(
            HoldingLine(
                value.holding_id,
                value.case_id or FUND_CASE,
                value.asset_id,
                holding.asset.symbol,
                holding.wallet,
                holding.amount,
                value.price_usd,
                prices[value.asset_id][1],
                pairs.get(holding.asset.symbol, ()),
                value.value_usd,
                value.value_kzt,
            )
        )
    lines.sort(key=lambda line: (line.case_id, line.asset_id, line.holding_id))
    return tuple(lines)


def _since(
    engine: Engine, size: int, lines: tuple[HoldingLine, ...], previous: list[HoldingValue]
) -> tuple[HoldingLine, ...]:
    """Each line with its value at the previous valuation and at the seizure date's (the
    latest valuation on the date of the earliest seizure behind it), both among the first
    `size` entries; None where there is none."""
    from sequestra.custody.prefix import seizure_index

    before = {value.holding_id: value.value_usd for value in previous}
    found = []
    with read_transaction(engine) as connection:
        seizures = seizure_index(connection, size)
        price_on: dict[tuple[str, str], tuple[int, str, Decimal] | None] = {}
        for line in lines:
            case_id = None if line.case_id == FUND_CASE else line.case_id
            day, _ = seizures.date_of(case_id, line.asset_id, line.wallet)
            priced = None
            if day is not None:
                if (line.asset_id, day) not in price_on:
                    price_on[line.asset_id, day] = pricing_queries.price_at(
                        connection, line.asset_id, on_date=day, size=size
                    )
                priced = price_on[line.asset_id, day]
            at_seizure = None if priced is None else value_cents(Decimal(line.quantity), priced[2])
            found.append(
                replace(
                    line,
                    value_usd_previous=before.get(line.holding_id),
                    seizure_date=day,
                    value_usd_at_seizure=at_seizure,
                )
            )
    return tuple(found)


def _doubt(line: HoldingLine, doubts: dict[tuple[str, str], Doubt]) -> HoldingLine:
    doubt = doubts.get((line.wallet, line.asset_id))
    if doubt is None:
        return line
    return replace(line, in_doubt=f"alert {doubt.alert_seq}: {doubt.message}"[:300])


def value_cents(quantity: Decimal, price_usd: Decimal) -> Decimal:
    """quantity x price, exact, quantised once to 0.01 ROUND_HALF_EVEN."""
    with localcontext(EXACT):
        return (quantity * price_usd).quantize(CENT, rounding=ROUND_HALF_EVEN)


def _total(key: str, lines: Iterable[HoldingLine]) -> Total:
    chosen = list(lines)
    return Total(
        key,
        sum((line.value_usd for line in chosen), Decimal(0)),
        sum((line.value_kzt for line in chosen), Decimal(0)),
    )


def _totals(lines: tuple[HoldingLine, ...], key: Any) -> tuple[Total, ...]:
    """One total per key, in key order; the lines are grouped in one pass."""
    groups: dict[str, list[HoldingLine]] = {}
    for line in lines:
        groups.setdefault(key(line), []).append(line)
    return tuple(_total(k, groups[k]) for k in sorted(groups))


def _changes(
    prices: dict[str, Decimal], values: list[HoldingValue], lines: tuple[HoldingLine, ...]
) -> tuple[AssetChange, ...]:
    """Per asset priced by both, the change in price and value since the previous valuation
    (`prices` and `values` are the previous valuation's)."""
    value_previous: dict[str, Decimal] = {}
    for value in values:
        value_previous[value.asset_id] = value_previous.get(value.asset_id, Decimal(0)) + (
            value.value_usd
        )
    price_now = {line.asset_id: line.price_usd for line in lines}
    return tuple(
        AssetChange(
            total.key,
            price_now[total.key],
            prices[total.key],
            total.value_usd,
            value_previous.get(total.key, Decimal(0)),
        )
        for total in _totals(lines, lambda line: line.asset_id)
        if total.key in prices
    )


def _check(report: ValuationReport, values: list[HoldingValue]) -> None:
    """The totals must add up to the holding values: a report must not disagree with itself."""
    expected_usd = sum((v.value_usd for v in values), Decimal(0))
    for totals in (report.by_case, report.by_asset, (report.total,)):
        calculated = sum((t.value_usd for t in totals), Decimal(0))
        if calculated != expected_usd:
            raise ReportError(f"totals: expected USD {expected_usd}, calculated {calculated}")
    split = report.undisputed.value_usd + report.in_doubt.value_usd
    if split != report.total.value_usd:
        raise ReportError(f"totals: undisputed and in doubt make {split}, not the total")
