"""The report catalog and the `sequestra report` command: every kind registered, bad input
refused with a clear message and no file written, and the command's file is the catalog's."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from sequestra.errors import EXIT_CONFLICT
from sequestra.reports.valuation import ReportError
from tests.composed import REPORTS
from tests.custody.conftest import custody  # noqa: F401
from tests.pricing.test_run import valuer_key  # noqa: F401
from tests.reports.conftest import Books, books, cli  # noqa: F401


def test_bad_input_is_refused(books: Books, tmp_path: Path) -> None:  # noqa: F811
    engine = books.custody.world.engine
    assert set(REPORTS.kinds()) == {"valuation", "exposure", "sales", "audit"}
    with pytest.raises(ReportError, match="report: expected one of"):
        REPORTS.render(engine, "ledger", "json")
    with pytest.raises(ReportError, match="format: expected one of"):
        REPORTS.render(engine, "audit", "docx")
    for kind in ("exposure", "sales", "audit"):
        for size in (0, books.custody.size() + 1):
            with pytest.raises(ReportError, match=r"size: expected 1\.\."):
                REPORTS.render(engine, kind, "json", size)
    args = ["--database-url", books.custody.world.url, "report", "exposure", "--format", "csv"]
    result = CliRunner().invoke(cli(), [*args, "--out", str(tmp_path / "e.csv")])
    assert result.exit_code == EXIT_CONFLICT and "valuation: expected one" in result.output
    assert not (tmp_path / "e.csv").exists()
    args = ["--database-url", books.custody.world.url, "report", "sales", "--format", "txt"]
    result = CliRunner().invoke(cli(), [*args, "--out", str(tmp_path / "s.txt")])
    assert result.exit_code == 2 and not (tmp_path / "s.txt").exists()


def test_the_command_writes_the_catalogs_bytes(books: Books, tmp_path: Path) -> None:  # noqa: F811
    books.revalue(1)
    engine = books.custody.world.engine
    runner = CliRunner()
    for kind, format_name in (("exposure", "pdf"), ("sales", "xlsx"), ("audit", "csv")):
        out = tmp_path / f"{kind}.{format_name}"
        args = ["--database-url", books.custody.world.url, "report", kind]
        result = runner.invoke(cli(), [*args, "--format", format_name, "--out", str(out)])
        assert result.exit_code == 0, result.output
        expected = REPORTS.render(engine, kind, format_name)
        assert out.read_bytes() == expected.data and expected.root_sha256 in result.output
