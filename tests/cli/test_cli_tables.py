"""Tables in 80 columns (a pipe, a narrow terminal) show every figure whole."""

from __future__ import annotations

import io

from rich.console import Console
from rich.table import Table

from sequestra.cli.tables import print_table

FIGURES = ("ethereum:USDT", "123456.123456", "1234567890.12", "15600000000000.00", "12.34%")


def _console(width: int) -> Console:
    return Console(file=io.StringIO(), width=width, soft_wrap=True, color_system=None)


def _wide_table() -> Table:
    table = Table("asset", "quantity", "USD", "KZT", "weight", "vol 30d", "vol 90d")
    table.add_row(*FIGURES, "45.6%", "50.1%")
    table.add_row("bitcoin:BTC", "10.12345678", "98765432.10", "45600000000.00", "1%", "-", "-")
    return table


def test_a_table_wider_than_80_columns_keeps_every_figure_whole() -> None:
    console = _console(80)
    print_table(_wide_table(), console)
    shown = console.file.getvalue()  # type: ignore[attr-defined]
    assert "…" not in shown
    for figure in (*FIGURES, "10.12345678", "98765432.10", "45600000000.00"):
        assert figure in shown
    assert console.width == 80  # the console is left as it was


def test_a_table_that_fits_is_printed_as_it_is() -> None:
    console = _console(80)
    table = Table("asset", "amount")
    table.add_row("BTC", "1.5")
    print_table(table, console)
    shown = console.file.getvalue()  # type: ignore[attr-defined]
    assert max(len(line) for line in shown.splitlines()) < 80 and "1.5" in shown
