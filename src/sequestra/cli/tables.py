"""Printing tables so that no figure is ever cut short.

Rich shrinks a table wider than the console by cutting cells with an ellipsis
(`15600000…`), and a console that is not a terminal is 80 columns wide. A figure cut short
is worse than a wide line: every table is printed at its natural width when that is wider
than the console (a terminal then wraps the line; a file or a pipe keeps it whole).
"""

from __future__ import annotations

from typing import Final

from rich.console import Console
from rich.measure import Measurement
from rich.table import Table

from sequestra.cli.common import console as standard_console

TABLE_WIDTH_MAX: Final = 1_000  # columns a table is measured in (wider ones are not cut)


def print_table(table: Table, console: Console | None = None) -> None:
    """Print `table` at least as wide as it needs to show every cell whole."""
    target = standard_console if console is None else console
    measured = Measurement.get(target, target.options.update(width=TABLE_WIDTH_MAX), table)
    width = target.width
    if measured.maximum <= width:
        target.print(table)
        return
    target.width = measured.maximum
    try:
        target.print(table)
    finally:
        target.width = width
