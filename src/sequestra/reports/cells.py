"""Spreadsheet cells that never start a formula (CSV injection, OWASP).

Every CSV and XLSX writer passes each cell through `safe_cell`: text that a spreadsheet
would read as a formula (a lead `=`, `+`, `-`, `@`, tab or carriage return) gets a single
quote in front, which spreadsheets show as text and never evaluate. A plain decimal number
(`-12.50`, written by the report itself) is not a formula and stays as it is.

`csv_text` writes the rows with `\n` line endings; Python's csv module quotes a field holding
`\n` but not one holding a bare `\r` (not in that line terminator), which a reader would take
for a line break: a row with a `\r` in any cell is written with every field quoted.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Sequence
from typing import Final

FORMULA_LEADS: Final = ("=", "+", "-", "@", "\t", "\r", "\n")
_NUMBER: Final = re.compile(r"-?[0-9]+(\.[0-9]+)?")


def safe_cell(value: str) -> str:
    """`value`, with a single quote in front when a spreadsheet would read it as a formula."""
    if value.startswith(FORMULA_LEADS) and _NUMBER.fullmatch(value) is None:
        return "'" + value
    return value


def safe_row(values: Iterable[str]) -> list[str]:
    """Each cell of a row through `safe_cell`."""
    return [safe_cell(value) for value in values]


def csv_text(rows: Iterable[Sequence[str]]) -> str:
    """The rows as CSV (`\n` line endings, minimal quoting), each cell through `safe_cell`."""
    buffer = io.StringIO(newline="")
    minimal = csv.writer(buffer, lineterminator="\n", quoting=csv.QUOTE_MINIMAL)
    quoted = csv.writer(buffer, lineterminator="\n", quoting=csv.QUOTE_ALL)
    for row in rows:
        cells = safe_row(row)
        (quoted if any("\r" in cell for cell in cells) else minimal).writerow(cells)
    return buffer.getvalue()
