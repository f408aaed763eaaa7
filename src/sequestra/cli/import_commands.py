"""Import commands: records kept elsewhere brought into the ledger in one append."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Final

import typer
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from sequestra.addresses import CHAINS
from sequestra.cli.common import (
    EXIT_USAGE,
    JSON_OPTION,
    PASSPHRASE_FILE_OPTION,
    console,
    error_console,
    handled,
    load_key,
    print_json,
    state,
)
from sequestra.custody.importer import (
    COLUMNS_OPTIONAL,
    COLUMNS_REQUIRED,
    ImportRefused,
    ImportResult,
    import_seizures,
)

PROGRESS_ROWS_MIN: Final = 2_000  # a shorter file is done before a bar is worth drawing

import_app = typer.Typer(
    help="Import records kept elsewhere (agencies' seizure lists), all rows or none.",
    no_args_is_help=True,
)


class _Bars:
    """Rich progress bars on standard error, one per phase of an import."""

    def __init__(self, progress: Progress) -> None:
        self.progress = progress
        self.task: TaskID | None = None
        self.total: int | None = None

    def phase(self, name: str, total: int | None) -> None:
        if self.task is not None and self.total is not None:
            self.progress.update(self.task, completed=self.total)
        self.task = self.progress.add_task(name, total=total)
        self.total = total

    def advance(self, rows: int) -> None:
        if self.task is not None:
            self.progress.advance(self.task, rows)

    def finish(self) -> None:
        """Show the last phase done (the append reports no rows while it runs)."""
        if self.task is not None:
            total = 1 if self.total is None else self.total
            self.progress.update(self.task, total=total, completed=total)


@contextmanager
def _bars(shown: bool) -> Iterator[_Bars | None]:
    if not shown:
        yield None
        return
    with Progress(
        TextColumn("{task.description:<10}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=error_console,
    ) as progress:
        bars = _Bars(progress)
        yield bars
        bars.finish()


def _lines_in(path: Path) -> int:
    """Lines in the file, counted in binary without keeping them (to decide on bars)."""
    with path.open("rb") as handle:
        return sum(chunk.count(b"\n") for chunk in iter(lambda: handle.read(1 << 20), b""))


def _print_refusal(path: Path, refused: ImportRefused, json_output: bool) -> None:
    count = refused.problems_total
    error_console.print(
        f"[bold red]error:[/] {escape(str(path))}: {count} problem(s); nothing was imported",
        highlight=False,
        soft_wrap=True,
    )
    for line in refused.listing():
        error_console.print(f"  {line}", markup=False, highlight=False, soft_wrap=True)
    if json_output:
        print_json({**refused.to_json(), "file": str(path)})


def _print_result(path: Path, result: ImportResult, json_output: bool) -> None:
    if json_output:
        print_json({**result.to_json(), "file": str(path)})
    elif result.dry_run:
        console.print(f"{path}: {result.rows} rows checked, nothing imported (dry run)")
    else:
        console.print(
            f"{path}: {result.rows} seizures recorded at seq {result.first_seq} to"
            f" {result.last_seq} in {result.check_s + result.sign_s + result.append_s:.1f} s"
        )


@import_app.command("seizures")
def seizures(
    context: typer.Context,
    file: Path = typer.Argument(
        ...,
        help="CSV (',' or ';' between columns; UTF-8 or Windows-1251), header row; columns "
        f"{', '.join(COLUMNS_REQUIRED)} and optionally {', '.join(COLUMNS_OPTIONAL)}.",
        exists=True,
        dir_okay=False,
        readable=True,
    ),
    key: Path = typer.Option(..., help="Treasury officer's private key file (signs every row)."),
    passphrase_file: Path | None = PASSPHRASE_FILE_OPTION,
    dry_run: bool = typer.Option(
        False, "--dry-run", help="Check every row against the ledger; sign and write nothing."
    ),
    json_output: bool = JSON_OPTION,
) -> None:
    """Record every seizure of a CSV file in one append, or none if any row is wrong.

    Every row is checked first (amounts, assets, addresses, the case open, the wallet
    registered, no row twice nor already recorded); each problem is listed with its line
    and field and the command exits 2. seized_at is YYYY-MM-DDTHH:MM:SSZ, a date YYYY-MM-DD
    or DD.MM.YYYY (00:00 UTC+5) or DD.MM.YYYY HH:MM (UTC+5); an amount may use a decimal
    comma (0,01); lists are separated by ';'. Files as Excel saves them work as they are;
    see examples/seizures.csv and docs/treasury-guide.md.
    """
    app_state = state(context)
    custody = app_state.settings().custody
    networks = {chain: custody.network(chain) for chain in CHAINS}
    with handled():
        engine = app_state.engine()
        signing_key = load_key(key, passphrase_file)
        shown = sys.stderr.isatty() and not json_output and _lines_in(file) > PROGRESS_ROWS_MIN
        try:
            with _bars(shown) as bars:
                result = import_seizures(
                    engine,
                    app_state.rule_set(),
                    signing_key,
                    file,
                    networks,
                    datetime.now(UTC),
                    rules=app_state.rules(),
                    dry_run=dry_run,
                    progress=bars,
                )
        except ImportRefused as refused:
            _print_refusal(file, refused, json_output)
            raise typer.Exit(EXIT_USAGE) from None
    _print_result(file, result, json_output)
