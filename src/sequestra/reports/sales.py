"""The sales report: every State Fund sale proposed among the ledger's first `size` entries,
as it stood at that prefix.

A sale's state is replayed from what the prefix recorded (approvals, fills and the closing
statement with seq < size, in seq order, by the rules of `sequestra.fund.sales`); its
realised result is `sequestra.fund.service`'s (proceeds, fees, net, average price) with the
benchmarks read from the prefix only: the last valuation at or before the last fill, and the
valuation on the date of the earliest seizure behind the sale's Fund wallet ("not valued"
when there is none). KZT settled is the settlement statement's figure.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Final

from sqlalchemy import Engine

from sequestra.custody.prefix import fund_cases, seizure_dates
from sequestra.fund.queries import SaleRecord, get_sale, list_sales
from sequestra.fund.service import NOT_VALUED, Benchmark, Proceeds, benchmark, proceeds
from sequestra.ledger.db import read_transaction
from sequestra.ledger.rules import RuleSet
from sequestra.ledger.timefmt import parse_timestamp
from sequestra.pricing.queries import price_at
from sequestra.reports.catalog import RenderedReport
from sequestra.reports.document import (
    Chart,
    Document,
    Prefix,
    Table,
    ledger_prefix,
    money,
)
from sequestra.reports.document_files import write_document


@dataclass(frozen=True)
class SaleLine:
    sale: SaleRecord  # as of the prefix: approvals, fills and closing before `size`
    figures: Proceeds
    proceeds_kzt: str | None
    last_valuation: Benchmark | None
    seizure_date: str | None
    at_seizure: Benchmark | None


def sale_at(sale: SaleRecord, size: int) -> SaleRecord:
    """The sale as the first `size` entries left it (precondition: proposed_seq < size)."""
    approvals = tuple(a for a in sale.approvals if a.seq < size)
    fills = tuple(f for f in sale.fills if f.seq < size)
    closed = sale.closed_seq is not None and sale.closed_seq < size
    events = sorted(
        [(a.seq, "approval") for a in approvals]
        + [(f.seq, "fill") for f in fills]
        + ([(sale.closed_seq, "close")] if closed and sale.closed_seq is not None else [])
    )
    state, approved, executed = "proposed", 0, 0
    amounts = {f.seq: f.amount_base for f in fills}
    for seq, event in events:
        if event == "approval":
            approved += 1
            if state == "proposed" and approved >= sale.approvals_min:
                state = "approved"
        elif event == "fill":
            executed += amounts[seq]
            state = "executed" if executed == sale.amount_base else "executing"
        else:
            state = _closed_state(sale)
    return replace(
        sale,
        approvals=approvals,
        fills=fills,
        state=state,
        executed_base=executed,
        closed_seq=sale.closed_seq if closed else None,
        closing=sale.closing if closed else None,
    )


def _closed_state(sale: SaleRecord) -> str:
    """The state the closing statement set: the sale's current one (a sale closes once)."""
    return sale.state


def sales_lines(engine: Engine, prefix: Prefix) -> tuple[SaleLine, ...]:
    lines = []
    for listed in list_sales(engine):
        if listed.proposed_seq >= prefix.size:
            continue
        full = get_sale(engine, listed.sale_id)
        if full is None:  # listed a moment ago; sales are never deleted
            raise LookupError(f"sale {listed.sale_id}: listed but not found")
        lines.append(_line(engine, sale_at(full, prefix.size), prefix.size))
    return tuple(lines)


def _line(engine: Engine, sale: SaleRecord, size: int) -> SaleLine:
    decimals = sale.asset.decimals
    figures = proceeds(sale.fills, decimals)
    last_fill = max((parse_timestamp(f.executed_at) for f in sale.fills), default=None)
    asset_id = sale.asset.asset_id
    with read_transaction(engine) as connection:
        last = price_at(connection, asset_id, at_most=last_fill, size=size)
        cases = fund_cases(connection, size, asset_id, sale.wallet)
        seized = seizure_dates(connection, size, cases, asset_id, None)
        day = min(seized).strftime("%Y-%m-%d") if seized else None
        at_seizure = None if day is None else price_at(connection, asset_id, on_date=day, size=size)
    settled = sale.closing if sale.state == "settled" and sale.closing else None
    return SaleLine(
        sale,
        figures,
        None if settled is None else str(settled["proceeds_kzt"]),
        None if last is None else benchmark(figures, decimals, *last),
        day,
        None if at_seizure is None else benchmark(figures, decimals, *at_seizure),
    )


SALE_COLUMNS: Final = (
    "sale",
    "asset",
    "wallet",
    "state",
    "method",
    "proposed",
    "proposed_seq",
    "approvals_min",
    "approvals",
    "sold",
    "fills",
    "proceeds_usd",
    "fees_usd",
    "net_proceeds_usd",
    "average_price_usd",
    "proceeds_kzt",
    "last_valuation_seq",
    "last_valuation_value_usd",
    "vs_last_valuation_usd",
    "seizure_date",
    "seizure_value_usd",
    "vs_seizure_usd",
)


def _benchmark_cells(found: Benchmark | None) -> tuple[str, str]:
    if found is None:
        return NOT_VALUED, NOT_VALUED
    return money(found.value_usd), money(found.difference_usd)


def _sale_row(line: SaleLine) -> tuple[str, ...]:
    sale, figures = line.sale, line.figures
    last_value, last_difference = _benchmark_cells(line.last_valuation)
    seizure_value, seizure_difference = _benchmark_cells(line.at_seizure)
    return (
        sale.sale_id,
        sale.asset.asset_id,
        sale.wallet,
        sale.state,
        sale.method,
        sale.amount(sale.amount_base),
        str(sale.proposed_seq),
        str(sale.approvals_min),
        " ".join(a.label or a.approver for a in sale.approvals),
        sale.amount(figures.sold_base),
        str(len(sale.fills)),
        money(figures.proceeds_usd),
        money(figures.fees_usd),
        money(figures.net_proceeds_usd),
        money(figures.average_price_usd),
        line.proceeds_kzt or "",
        "" if line.last_valuation is None else str(line.last_valuation.seq),
        last_value,
        last_difference,
        line.seizure_date or "",
        seizure_value,
        seizure_difference,
    )


def _document(lines: tuple[SaleLine, ...], prefix: Prefix) -> Document:
    fills = Table(
        "fills",
        "Fills",
        ("sale", "seq", "venue", "amount", "price_usd", "fee_usd", "executed_at", "order"),
        tuple(
            (
                line.sale.sale_id,
                str(f.seq),
                f.venue,
                line.sale.amount(f.amount_base),
                money(f.price_usd),
                money(f.fee_usd),
                f.executed_at,
                f.venue_order_id,
            )
            for line in lines
            for f in line.sale.fills
        ),
    )
    approvals = Table(
        "approvals",
        "Approvals",
        ("sale", "seq", "approver", "label", "issued_at"),
        tuple(
            (line.sale.sale_id, str(a.seq), a.approver, a.label or "", a.issued_at)
            for line in lines
            for a in line.sale.approvals
        ),
    )
    total = sum((line.figures.net_proceeds_usd for line in lines), Decimal(0))
    facts = (
        ("sales", str(len(lines))),
        ("net_proceeds_usd_total", money(total)),
        ("benchmarks", "valuations among the same entries; 'not valued' where none"),
    )
    charts = _charts(lines)
    return Document(
        "sales",
        f"State Fund sales, first {prefix.size} entries",
        prefix.size,
        prefix.root_sha256,
        prefix.moment,
        facts,
        (
            Table("sales", "Sales", SALE_COLUMNS, tuple(_sale_row(x) for x in lines)),
            approvals,
            fills,
        ),
        charts,
    )


def _charts(lines: tuple[SaleLine, ...]) -> tuple[Chart, ...]:
    sold = [line for line in lines if line.figures.sold_base]
    labels: list[str] = []
    values: list[Decimal] = []
    for line in sold:
        labels.append(f"{line.sale.sale_id} proceeds")
        values.append(line.figures.proceeds_usd)
        labels.append(f"{line.sale.sale_id} benchmark")
        found = line.last_valuation
        values.append(Decimal(0) if found is None else found.value_usd)
    return (
        Chart(
            "Proceeds vs benchmark (last valuation) per sale, USD",
            "bar",
            tuple(labels),
            tuple(values),
        ),
    )


def sales_document(engine: Engine, size: int | None = None) -> Document:
    """The sales report's document; raises ReportError for a size outside the ledger."""
    prefix = ledger_prefix(engine, size)
    return _document(sales_lines(engine, prefix), prefix)


def build(engine: Engine, rule_set: RuleSet, size: int | None, format_name: str) -> RenderedReport:
    document = sales_document(engine, size)
    count = dict(document.facts)["sales"]
    return RenderedReport(
        "sales",
        format_name,
        write_document(document, format_name),
        document.tree_size,
        document.root_sha256,
        f"{count} sale(s) among the first {document.tree_size} entries",
    )
