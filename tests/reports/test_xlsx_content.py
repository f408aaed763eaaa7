"""Each XLSX, read back with openpyxl, holds what the JSON and CSV of the same report hold:
every table row for row, the checkpoint, and amounts as exact text."""

from __future__ import annotations

import csv
import io
import json

from openpyxl import load_workbook  # type: ignore[import-untyped]

from tests.composed import REPORTS
from tests.custody.conftest import custody  # noqa: F401
from tests.pricing.test_run import valuer_key  # noqa: F401
from tests.reports.conftest import Books, books  # noqa: F401


def _sheets(data: bytes) -> dict[str, list[tuple[str, ...]]]:
    workbook = load_workbook(io.BytesIO(data), read_only=True)
    return {
        name: [tuple("" if v is None else v for v in row) for row in workbook[name].values]
        for name in workbook.sheetnames
    }


def test_every_workbook_holds_its_report(books: Books) -> None:  # noqa: F811
    engine, fund = books.custody.world.engine, books.fund
    books.revalue(1)
    fund.append(fund.propose("S-1", "150000000"))
    fund.append(fund.approve("S-1"))
    fund.append(fund.execute("S-1", "50000000"))
    books.revalue(2, btc="96010")
    valuation = _sheets(REPORTS.render(engine, "valuation", "xlsx").data)
    lines = list(csv.reader(io.StringIO(REPORTS.render(engine, "valuation", "csv").data.decode())))
    assert valuation["Lines"] == [tuple(line) for line in lines]
    assert all(isinstance(cell, str) for row in valuation["Lines"] for cell in row)
    for kind in ("exposure", "sales", "audit"):
        document = json.loads(REPORTS.render(engine, kind, "json").data)
        sheets = _sheets(REPORTS.render(engine, kind, "xlsx").data)
        summary = dict(row[:2] for row in sheets["Report"])
        assert summary["tree_size"] == str(document["checkpoint"]["tree_size"])
        assert summary["root_sha256"] == document["checkpoint"]["root_sha256"]
        for name, rows in document["tables"].items():
            header, *body = sheets[name]
            assert len(body) == len(rows), (kind, name)
            assert [dict(zip(header, row, strict=True)) for row in body] == rows, (kind, name)
