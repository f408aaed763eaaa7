"""The sales report on both databases: a sale as an earlier prefix left it (state, fills,
proceeds), the realised figures recomputed, benchmarks from the same prefix, and the same
bytes for the same prefix after more entries."""

from __future__ import annotations

import json
from decimal import Decimal

from sequestra.reports.catalog import REPORT_FORMATS
from tests.composed import REPORTS
from tests.custody.conftest import custody  # noqa: F401
from tests.pricing.test_run import valuer_key  # noqa: F401
from tests.reports.conftest import Books, books  # noqa: F401


def _sales(data: bytes) -> dict[str, dict[str, str]]:
    return {row["sale"]: row for row in json.loads(data)["tables"]["sales"]}


def test_a_sale_as_each_prefix_left_it(books: Books) -> None:  # noqa: F811
    engine, fund = books.custody.world.engine, books.fund
    valuation = books.revalue(1)
    fund.append(fund.propose("S-1", "150000000"))
    fund.append(fund.approve("S-1"))
    fund.append(fund.execute("S-1", "50000000"))
    size = books.custody.size()
    before = {f: REPORTS.render(engine, "sales", f).data for f in REPORT_FORMATS}
    for format_name in REPORT_FORMATS:
        assert REPORTS.render(engine, "sales", format_name).data == before[format_name]
    fund.append(fund.execute("S-1", "100000000", price="61000"))
    settle = {
        "sale": "S-1",
        "proceeds_kzt": "46592000",
        "budget_account": "KZ00 budget",
        "payment_ref": "PP-7",
        "settled_at": books.custody.at,
    }
    fund.append(fund.sign("sale.settled", settle))
    books.revalue(2, btc="99000")
    early = _sales(before["json"])["S-1"]
    assert (early["state"], early["sold"], early["proceeds_usd"]) == (
        "executing",
        "0.5",
        "30000.00",
    )
    assert early["proceeds_kzt"] == "" and early["approvals"] == "approver 0"
    late = _sales(REPORTS.render(engine, "sales", "json").data)["S-1"]
    assert (late["state"], late["sold"], late["fills"]) == ("settled", "1.5", "2")
    assert (late["proceeds_usd"], late["fees_usd"], late["net_proceeds_usd"]) == (
        "91000.00",
        "25.00",
        "90975.00",
    )
    assert late["average_price_usd"] == "60666.67" and late["proceeds_kzt"] == "46592000"
    # the fills were executed before the valuations' cutoffs: no last fair value before them
    assert late["last_valuation_value_usd"] == "not valued"

    if late["seizure_date"] == valuation.cutoff[:10]:  # the seizure and the valuation's day
        # the latest valuation on that day is the second one (BTC at 99000)
        expected = Decimal("1.5") * Decimal("99000")
        assert late["seizure_value_usd"] == f"{expected:.2f}"
        assert late["vs_seizure_usd"] == f"{Decimal(91000) - expected:.2f}"
    for format_name in REPORT_FORMATS:
        assert REPORTS.render(engine, "sales", format_name, size).data == before[format_name]


def test_no_sales_is_an_empty_report(books: Books) -> None:  # noqa: F811
    report = REPORTS.render(books.custody.world.engine, "sales", "csv")
    assert report.data.startswith(b"table,label,value,") and b"fact,sales,0," in report.data
