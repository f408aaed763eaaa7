"""Seizures imported from a CSV file as agencies keep them: every row checked, then all of
them signed and appended in one transaction, or none.

The file is UTF-8 (a byte order mark is allowed) or, as Excel saves it on a Russian-locale
Windows, Windows-1251; its columns are separated by ',' or ';' (whichever the header row
uses; `detect_delimiter`). The header row names the columns: `case`, `asset`, `amount`,
`wallet` and `seized_at` are required; `seized_from`, `source_addresses`, `source_txs`,
`evidence_sha256`, `evidence_names`, `external_ref` and `description` are optional. An
unknown column is refused: a misspelt optional column would otherwise be dropped without a
word; a header without the required columns is refused naming those expected and those
found. Lists are separated by `;`. An amount may use a decimal comma (`0,01`). `seized_at`
is a ledger timestamp (`2025-03-01T10:15:00Z`, fractional seconds allowed), a date
(`2025-03-01` or `01.03.2025`) meaning 00:00 in Kazakhstan (UTC+5), or `01.03.2025 10:15`
(seconds optional), a time in Kazakhstan (UTC+5).

Nothing is signed before every row is checked: its body is built by `service.seizure_body`,
as `sequestra seize` builds it, and checked against the statement schema, against the other
rows (the same seizure twice) and against the ledger (the case exists and is open, the
wallet is registered on the asset's chain, the seizure is not recorded already). Each problem
is kept with its line in the file (the header is line 1) and its field, and any one refuses
the whole file. The bulk append that follows is itself all or none.
"""

from __future__ import annotations

import codecs
import csv
import itertools
import re
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, timezone
from functools import partial
from pathlib import Path
from typing import IO, Any, Final, Protocol, TypeVar

from pydantic import TypeAdapter, ValidationError
from sqlalchemy import Engine

from sequestra.custody import queries as custody_queries
from sequestra.custody import service
from sequestra.custody.amounts import describe_value
from sequestra.custody.assets import Asset, AssetRegistry
from sequestra.custody.kinds import (
    EVIDENCE_MAX,
    SOURCES_MAX,
    TEXT_LONG_MAX,
    TEXT_SHORT_MAX,
    CaseId,
)
from sequestra.custody.state import CaseRecord, WalletRecord
from sequestra.errors import InputRefused
from sequestra.ledger.errors import AppendRefused, StatementError
from sequestra.ledger.keys import SigningKey
from sequestra.ledger.queries import read_authority, require_initialised
from sequestra.ledger.roles import SEIZURE_RECORDED
from sequestra.ledger.rules import RuleSet
from sequestra.ledger.statement import SignedStatement
from sequestra.ledger.store import BULK_STATEMENTS_MAX, AppendRules, Ledger, Receipt
from sequestra.ledger.timefmt import TIMESTAMP_PATTERN, format_timestamp, parse_timestamp

COLUMNS_REQUIRED: Final = ("case", "asset", "amount", "wallet", "seized_at")
COLUMNS_OPTIONAL: Final = (
    "seized_from",
    "source_addresses",
    "source_txs",
    "evidence_sha256",
    "evidence_names",
    "external_ref",
    "description",
)
COLUMNS: Final = COLUMNS_REQUIRED + COLUMNS_OPTIONAL
ROWS_MAX: Final = BULK_STATEMENTS_MAX  # the rows of one file go in one bulk append
# A row with every field at its schema limit takes about 28 KB, or 70 KB should every text
# be in 4-byte characters; 256 MiB is 200,000 rows of 1.3 KB, far more than agencies write.
LINE_BYTES_MAX: Final = 128 * 1024
FILE_BYTES_MAX: Final = 256 * 1024 * 1024
PROBLEMS_KEPT_MAX: Final = 10_000  # beyond these, problems are only counted
PROBLEMS_LISTED_MAX: Final = 100
PROGRESS_STEP_ROWS: Final = 1_000
LIST_SEPARATOR: Final = ";"
# Kazakhstan's one time zone since 2024-03-01. A date alone names a day, not an instant;
# a fixed offset keeps that day's instant the same on every machine, whatever its tz data.
DATE_ONLY_ZONE: Final = timezone(timedelta(hours=5), "UTC+5")
FIELD_ROW: Final = "row"  # a problem of the row as a whole
FIELD_FILE: Final = "file"  # a problem of the file as a whole

_DATE_ONLY: Final = re.compile(r"\d{4}-\d{2}-\d{2}")
# Excel in a Russian locale: 01.04.2025 or 01.04.2025 10:15 (seconds optional), local time.
_DATE_DOTTED: Final = re.compile(
    r"(?P<day>\d{2})\.(?P<month>\d{2})\.(?P<year>\d{4})"
    r"(?: (?P<hour>\d{1,2}):(?P<minute>\d{2})(?::(?P<second>\d{2}))?)?"
)
DELIMITERS: Final = (",", ";")  # between columns; the header row says which
ENCODINGS: Final = ("utf-8", "cp1251")  # cp1251: what Russian-locale Excel saves
ENCODING_SNIFF_BYTES: Final = 64 * 1024
_SHA256: Final = re.compile(r"[0-9a-fA-F]{64}")
_FIELD_PREFIX: Final = re.compile(r"([a-z_]+(?:\[\d+\])?(?:\.[a-z_]+)?): (.*)", re.DOTALL)
_CASE_ID: Final = TypeAdapter(CaseId)
_SEIZED_AT_EXPECTED: Final = (
    "YYYY-MM-DDTHH:MM:SSZ (fractional seconds allowed), a date YYYY-MM-DD or DD.MM.YYYY"
    " (00:00 UTC+5), or DD.MM.YYYY HH:MM[:SS] (UTC+5)"
)
_CASE_EXPECTED: Final = (
    "a case number: a letter or digit, then up to 63 letters, digits, '.', '_' or '-'"
)

T = TypeVar("T")
Advance = Callable[[int], None]  # told how many more rows are done


# --- problems -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong with the file: its line (the header is line 1), field and message."""

    line: int
    field: str
    message: str

    def __str__(self) -> str:
        return f"line {self.line}, {self.field}: {self.message}"

    def to_json(self) -> dict[str, Any]:
        return {"line": self.line, "field": self.field, "message": self.message}


class ImportRefused(InputRefused):
    """The file was not imported: nothing was signed or written. Carries every problem."""

    def __init__(self, problems: Sequence[Problem], problems_total: int | None = None) -> None:
        if not problems:
            raise ValueError("ImportRefused needs at least one problem")
        self.problems = tuple(sorted(problems, key=_problem_order))
        self.problems_total = len(problems) if problems_total is None else problems_total
        super().__init__(f"{self.problems_total} problem(s), first {self.problems[0]}")

    def listing(self, listed_max: int = PROBLEMS_LISTED_MAX) -> list[str]:
        """The first `listed_max` problems, one a line, then how many more there are."""
        lines = [str(problem) for problem in self.problems[:listed_max]]
        more = self.problems_total - len(lines)
        if more > 0:
            lines.append(f"and {more} more")
        return lines

    def to_json(self, listed_max: int = PROBLEMS_LISTED_MAX) -> dict[str, Any]:
        return {
            "imported": False,
            "problems_total": self.problems_total,
            "problems": [problem.to_json() for problem in self.problems[:listed_max]],
        }


_FIELD_ORDER: Final = {name: index for index, name in enumerate((FIELD_FILE, FIELD_ROW, *COLUMNS))}


def _problem_order(problem: Problem) -> tuple[int, int]:
    """By line, then by the column's place in the documented order (`amount[2]` as amount)."""
    column = problem.field.split("[", 1)[0]
    return problem.line, _FIELD_ORDER.get(column, len(_FIELD_ORDER))


def _refused(line: int, field: str, message: str) -> ImportRefused:
    return ImportRefused([Problem(line, field, message)])


class Problems:
    """The problems found in a file: the first PROBLEMS_KEPT_MAX kept, all of them counted."""

    def __init__(self) -> None:
        self.kept: list[Problem] = []
        self.total = 0

    def add(self, line: int, field: str, message: str) -> None:
        self.total += 1
        if len(self.kept) < PROBLEMS_KEPT_MAX:
            self.kept.append(Problem(line, field, message))

    def add_error(self, line: int, error: service.InputError) -> None:
        self.add(line, error.field, str(error).removeprefix(f"{error.field}: "))

    def refuse_if_any(self) -> None:
        """Raise ImportRefused when any problem was found."""
        if self.total:
            raise ImportRefused(self.kept, self.total)


def _attempt(problems: Problems, line: int, build: Callable[[], T]) -> T | None:
    """The value `build` returns, or None with its InputError kept as a problem."""
    try:
        return build()
    except service.InputError as error:
        problems.add_error(line, error)
        return None


# --- reading the file -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CsvRow:
    """A row's cells by column (known columns only, surrounding spaces removed)."""

    line: int
    cells: dict[str, str]


@dataclass(frozen=True)
class CsvTable:
    columns: tuple[str, ...]
    rows: tuple[CsvRow, ...]
    problems: tuple[Problem, ...]  # of the header's columns and of rows' cell counts


class _Lines:
    """The file's lines as text, counted; refuses a line too long or not UTF-8."""

    def __init__(self, handle: IO[bytes], encoding: str = "utf-8") -> None:
        self.handle = handle
        self.number = 0
        self.encoding = encoding

    def __iter__(self) -> Iterator[str]:
        return self

    def __next__(self) -> str:
        raw = self.handle.readline(LINE_BYTES_MAX + 2)  # bounded even without a newline
        if not raw:
            raise StopIteration
        self.number += 1
        if len(raw.rstrip(b"\r\n")) > LINE_BYTES_MAX:
            raise _refused(
                self.number, FIELD_FILE, f"expected lines of at most {LINE_BYTES_MAX} bytes"
            )
        if self.number == 1:
            raw = raw.removeprefix(codecs.BOM_UTF8)
        try:
            return raw.decode(self.encoding)
        except UnicodeDecodeError as error:
            raise _refused(
                self.number,
                FIELD_FILE,
                f"expected {self.encoding.upper()} text, got byte {raw[error.start]:#04x} at"
                f" byte {error.start + 1}",
            ) from None


def read_seizure_file(path: Path) -> CsvTable:
    """Read the header and rows of a seizure file, refusing early one too large to import.

    Raises ImportRefused for a file over FILE_BYTES_MAX bytes, a line over LINE_BYTES_MAX
    bytes, more than ROWS_MAX rows, text that is not UTF-8 or not CSV, or no header; the
    header's column problems and rows with the wrong number of cells are returned with the
    table, to be listed with the rest. Raises OSError when the file cannot be read.
    """
    size_bytes = path.stat().st_size
    if size_bytes > FILE_BYTES_MAX:
        raise _refused(1, FIELD_FILE, f"expected at most {FILE_BYTES_MAX} bytes, got {size_bytes}")
    with path.open("rb") as handle:
        start = handle.read(ENCODING_SNIFF_BYTES)
        handle.seek(0)
        lines = _Lines(handle, detect_encoding(start))
        header = next(lines, "")
        delimiter = detect_delimiter(header)
        rest = itertools.chain([header], lines) if header else iter(())
        try:
            return _read_table(csv.reader(rest, strict=True, delimiter=delimiter), lines)
        except csv.Error as error:
            raise _refused(max(lines.number, 1), FIELD_FILE, f"expected CSV: {error}") from None


def detect_encoding(start: bytes) -> str:
    """UTF-8 when the file's first bytes are UTF-8 (a character cut at their end aside),
    else Windows-1251, as Excel saves a CSV on a Russian-locale Windows."""
    try:
        codecs.getincrementaldecoder("utf-8")().decode(start, final=False)
    except UnicodeDecodeError:
        return ENCODINGS[1]
    return ENCODINGS[0]


def detect_delimiter(header: str) -> str:
    """The column separator of the header row: the one of ',' and ';' that splits it into
    the most known column names (',' when neither names any)."""
    names = set(COLUMNS)
    known = {
        delimiter: sum(cell.strip() in names for cell in header.split(delimiter))
        for delimiter in DELIMITERS
    }
    return max(DELIMITERS, key=lambda delimiter: (known[delimiter], delimiter == ","))


def _read_table(reader: Iterator[list[str]], lines: _Lines) -> CsvTable:
    header = next(reader, None)
    if header is None:
        raise _refused(
            1,
            FIELD_FILE,
            f"expected a header row naming the columns {', '.join(COLUMNS_REQUIRED)} (and"
            " optional ones), got an empty file",
        )
    columns = tuple(name.strip() for name in header)
    problems = _header_problems(columns)
    rows: list[CsvRow] = []
    count, start = 0, lines.number + 1
    for cells in reader:
        line, start = start, lines.number + 1
        if not any(cell.strip() for cell in cells):
            continue  # a blank line
        count += 1
        if count > ROWS_MAX:
            raise _refused(line, FIELD_FILE, f"expected at most {ROWS_MAX} rows, got more")
        if len(cells) != len(columns):
            message = f"expected {len(columns)} cells as in the header, got {len(cells)}"
            problems.append(Problem(line, FIELD_ROW, message))
            continue
        known = {c: v.strip() for c, v in zip(columns, cells, strict=True) if c in COLUMNS}
        rows.append(CsvRow(line, known))
    if count == 0:
        problems.append(Problem(2, FIELD_FILE, "expected at least one row of seizures, got none"))
    return CsvTable(columns, tuple(rows), tuple(problems))


def _header_problems(columns: Sequence[str]) -> list[Problem]:
    problems = [
        Problem(1, name or "''", f"expected one of the columns {', '.join(COLUMNS)}")
        for name in columns
        if name not in COLUMNS
    ]
    problems += [
        Problem(1, name, f"expected the column once, got it {columns.count(name)} times")
        for name in COLUMNS
        if columns.count(name) > 1
    ]
    missing = [name for name in COLUMNS_REQUIRED if name not in columns]
    problems += [
        Problem(1, name, "expected this required column in the header, got none")
        for name in missing
    ]
    if missing:
        found = ", ".join(repr(name) for name in columns[:COLUMNS_SHOWN_MAX])
        problems.append(
            Problem(
                1,
                FIELD_FILE,
                f"expected a header row naming the columns {', '.join(COLUMNS_REQUIRED)} (and"
                f" optionally {', '.join(COLUMNS_OPTIONAL)}), separated by ',' or ';'; found"
                f" {len(columns)} column(s): {found}. Save the file as CSV (comma- or"
                " semicolon-separated) with that header row first",
            )
        )
    return problems


COLUMNS_SHOWN_MAX: Final = 20  # of a wrong header's columns named in its problem


# --- checking rows on their own -------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CheckedRow:
    """What checking a row established: its well-formed parts, and its body if all are."""

    line: int
    case_id: str | None
    asset: Asset | None
    wallet: str | None  # normalised
    body: dict[str, Any] | None


@dataclass(frozen=True)
class RowContext:
    """What rows are checked against: assets, each chain's network, and the time now."""

    registry: AssetRegistry
    networks: Mapping[str, str]  # chain -> network, for every chain
    now_utc: datetime
    rule_set: RuleSet  # the bodies are checked as the append will check them


def check_rows(
    rows: Iterable[CsvRow], context: RowContext, problems: Problems, advance: Advance | None
) -> list[CheckedRow]:
    """Check each row (no ledger), then look for the same seizure listed twice."""
    checked = [check_row(row, context, problems) for row in _ticking(rows, advance)]
    first_lines: dict[tuple[Any, ...], int] = {}
    for row in checked:
        if row.body is None:
            continue
        key = _seizure_key(row.body)
        first = first_lines.setdefault(key, row.line)
        if first != row.line:
            problems.add(
                row.line,
                FIELD_ROW,
                "expected a seizure listed once, got the same case, asset, amount, wallet,"
                f" seized_at and external_ref as line {first}",
            )
    return checked


def check_row(row: CsvRow, context: RowContext, problems: Problems) -> CheckedRow:
    """Check one row; its problems go to `problems`, each naming its field."""
    found = Problems()
    line, cells = row.line, row.cells
    asset_text = cells.get("asset")
    asset = None
    if asset_text is not None:
        asset = _attempt(found, line, partial(service.resolve_asset, context.registry, asset_text))
    fields = _Fields(
        _case_id(cells.get("case"), line, found),
        _attempt(found, line, partial(_seized_at, cells.get("seized_at"), context.now_utc)),
        {name: _text(cells, name, line, found) for name in _TEXT_LIMITS},
        _items(cells, "source_addresses", SOURCES_MAX, line, found),
        _items(cells, "source_txs", SOURCES_MAX, line, found),
        _evidence(cells, line, found),
    )
    body = wallet = None
    if asset is not None:
        body, wallet = _body(asset, fields, cells, context, line, found)
    for problem in found.kept:
        problems.add(problem.line, problem.field, problem.message)
    return CheckedRow(line, fields.case_id, asset, wallet, body)


@dataclass(frozen=True, slots=True)
class _Fields:
    """A row's fields that are read without its asset's chain."""

    case_id: str | None
    seized_at: datetime | None
    texts: dict[str, str | None]
    sources: tuple[str, ...]
    txs: tuple[str, ...]
    evidence: tuple[dict[str, str], ...]


def _body(
    asset: Asset,
    fields: _Fields,
    cells: Mapping[str, str],
    context: RowContext,
    line: int,
    found: Problems,
) -> tuple[dict[str, Any] | None, str | None]:
    """The row's body as `service.seizure_body` builds it, and its normalised wallet.

    With a problem found already, or one `seizure_body` refuses, each field read with the
    asset's chain is checked on its own so that every bad one is named; the body is None.
    """
    network = context.networks[asset.chain]
    lists = (fields.sources, fields.txs)
    complete = all(name in cells for name in COLUMNS_REQUIRED)
    if found.total or not complete or fields.case_id is None or fields.seized_at is None:
        return None, _chain_fields(asset, network, cells, lists, line, found)
    seizure = service.SeizureInput(
        fields.case_id,
        asset.asset_id,
        cells["amount"],
        cells["wallet"],
        fields.seized_at,
        fields.texts["seized_from"],
        fields.sources,
        fields.txs,
        fields.evidence,
        fields.texts["external_ref"],
        fields.texts["description"],
    )
    try:
        body = service.seizure_body(context.registry, network, seizure)
    except service.InputError as error:
        wallet = _chain_fields(asset, network, cells, lists, line, found)
        if not found.total:  # each field passed alone: name the one seizure_body refused
            found.add_error(line, error)
        return None, wallet
    return _schema_checked(context.rule_set, body, line, found), body["wallet"]


_TEXT_LIMITS: Final = {
    "seized_from": TEXT_SHORT_MAX,
    "external_ref": TEXT_SHORT_MAX,
    "description": TEXT_LONG_MAX,
}


def _case_id(text: str | None, line: int, problems: Problems) -> str | None:
    if text is None:
        return None  # the column is missing: said once, at the header
    try:
        return _CASE_ID.validate_python(text)
    except ValidationError:
        problems.add(line, "case", f"expected {_CASE_EXPECTED}, got {describe_value(text)}")
        return None


def _seized_at(text: str | None, now_utc: datetime) -> datetime | None:
    """The instant a seizure happened; raises InputError naming seized_at."""
    if text is None:
        return None
    moment: datetime | None = None
    dotted = _DATE_DOTTED.fullmatch(text)
    if dotted is not None:
        moment = _dotted_moment(dotted)
    elif _DATE_ONLY.fullmatch(text):
        try:
            day = date.fromisoformat(text)
            moment = datetime(day.year, day.month, day.day, tzinfo=DATE_ONLY_ZONE)
        except ValueError:
            moment = None
    elif TIMESTAMP_PATTERN.fullmatch(text):
        try:
            moment = parse_timestamp(text, "seized_at")
        except StatementError:
            moment = None
    if moment is None:
        raise service.InputError("seized_at", _SEIZED_AT_EXPECTED, describe_value(text))
    if moment > now_utc:
        raise service.InputError(
            "seized_at", f"a time no later than now ({format_timestamp(now_utc)})", repr(text)
        )
    return moment.astimezone(UTC)


def _dotted_moment(matched: re.Match[str]) -> datetime | None:
    """DD.MM.YYYY [HH:MM[:SS]] in Kazakhstan's time (UTC+5), or None if no such moment."""
    parts = matched.groupdict()
    try:
        return datetime(
            int(parts["year"]),
            int(parts["month"]),
            int(parts["day"]),
            int(parts["hour"] or 0),
            int(parts["minute"] or 0),
            int(parts["second"] or 0),
            tzinfo=DATE_ONLY_ZONE,
        )
    except ValueError:
        return None


def _text(cells: Mapping[str, str], name: str, line: int, problems: Problems) -> str | None:
    text = cells.get(name) or None
    length_max = _TEXT_LIMITS[name]
    if text is not None and len(text) > length_max:
        problems.add(line, name, f"expected at most {length_max} characters, got {len(text)}")
        return None
    return text


def _items(
    cells: Mapping[str, str], name: str, count_max: int, line: int, problems: Problems
) -> tuple[str, ...]:
    """The `;`-separated items of a cell (none when empty); at most `count_max` of them."""
    text = cells.get(name, "")
    if not text:
        return ()
    items = [item.strip() for item in text.split(LIST_SEPARATOR, count_max)]
    if len(items) > count_max:
        problems.add(line, name, f"expected at most {count_max} items separated by ';'")
        return ()
    if "" in items:
        position = items.index("") + 1
        problems.add(line, name, f"expected items separated by ';', got item {position} empty")
        return ()
    return tuple(items)


def _evidence(
    cells: Mapping[str, str], line: int, problems: Problems
) -> tuple[dict[str, str], ...]:
    """Evidence documents by SHA-256; a document without a name is named by its digest."""
    digests = _items(cells, "evidence_sha256", EVIDENCE_MAX, line, problems)
    names = _items(cells, "evidence_names", EVIDENCE_MAX, line, problems)
    if names and len(names) != len(digests):
        problems.add(
            line,
            "evidence_names",
            f"expected one name per evidence_sha256 digest ({len(digests)}), got {len(names)}",
        )
        return ()
    items = []
    for index, digest in enumerate(digests):
        if not _SHA256.fullmatch(digest):
            expected = "64 hex digits (a SHA-256)"
            problems.add(
                line,
                f"evidence_sha256[{index}]",
                f"expected {expected}, got {describe_value(digest)}",
            )
            continue
        name = names[index] if names else digest.lower()
        if len(name) > TEXT_SHORT_MAX:
            problems.add(
                line,
                f"evidence_names[{index}]",
                f"expected at most {TEXT_SHORT_MAX} characters, got {len(name)}",
            )
            continue
        items.append({"sha256": digest.lower(), "name": name})
    return tuple(items)


def _chain_fields(
    asset: Asset,
    network: str,
    cells: Mapping[str, str],
    lists: tuple[tuple[str, ...], tuple[str, ...]],
    line: int,
    problems: Problems,
) -> str | None:
    """Check the fields read with the asset's chain one by one; return the wallet if valid."""
    amount, wallet_text = cells.get("amount"), cells.get("wallet")
    if amount is not None:
        _attempt(problems, line, lambda: service.amount_base(asset, amount))
    wallet = None
    if wallet_text is not None:
        wallet = _attempt(
            problems, line, lambda: service.address(asset.chain, network, wallet_text, "wallet")
        )
    sources, txs = lists
    for index, text in enumerate(sources):
        field = f"source_addresses[{index}]"
        _attempt(problems, line, partial(service.address, asset.chain, network, text, field))
    for index, text in enumerate(txs):
        field = f"source_txs[{index}]"
        _attempt(problems, line, partial(service.tx_hash, asset.chain, text, field))
    return wallet


def _schema_checked(
    rule_set: RuleSet, body: dict[str, Any], line: int, problems: Problems
) -> dict[str, Any] | None:
    """The body if the rule set accepts it (as signing will check it), else None."""
    try:
        rule_set.validate(SEIZURE_RECORDED, body)
    except StatementError as error:
        field, message = _split_field(str(error))
        problems.add(line, field, message)
        return None
    return body


def _split_field(message: str) -> tuple[str, str]:
    """A refusal's field and the rest of its message ("case: expected ..." -> case)."""
    matched = _FIELD_PREFIX.fullmatch(message)
    if matched is None:
        return FIELD_ROW, message
    return matched.group(1).removeprefix("body."), matched.group(2)


def _seizure_key(body: Mapping[str, Any], stored: bool = False) -> tuple[Any, ...]:
    """What makes two seizures the same: case, asset, amount, wallet, time and reference.

    A stored body's seized_at is read back into the form the import writes (with
    microseconds); a statement appended by other means may have written it without them.
    """
    seized_at = body["seized_at"]
    if stored:
        seized_at = format_timestamp(parse_timestamp(seized_at, "seized_at"))
    return (
        body["case"],
        body["asset"],
        body["amount_base"],
        body["wallet"],
        seized_at,
        body.get("external_ref"),
    )


# --- checking rows against the ledger -------------------------------------------------------


def check_with_ledger(engine: Engine, rows: Sequence[CheckedRow], problems: Problems) -> None:
    """Check the rows' cases, wallets and seizures against what the ledger holds now."""
    cases = custody_queries.cases_among(engine, {row.case_id for row in rows if row.case_id})
    wallets = custody_queries.wallets_among(engine, {row.wallet for row in rows if row.wallet})
    for row in rows:
        if row.case_id is not None:
            _check_case(row.line, row.case_id, cases.get(row.case_id), problems)
        if row.wallet is not None and row.asset is not None:
            _check_wallet(row.line, row.wallet, row.asset, wallets.get(row.wallet), problems)
    lines = {_seizure_key(row.body): row.line for row in rows if row.body is not None}
    case_ids = {row.body["case"] for row in rows if row.body is not None}
    for seq, body in custody_queries.seizures_of_cases(engine, case_ids):
        line = lines.get(_seizure_key(body, stored=True))
        if line is not None:
            problems.add(
                line,
                FIELD_ROW,
                "expected a seizure not recorded before, got the same case, asset, amount,"
                f" wallet, seized_at and external_ref as seq {seq}",
            )


def _check_case(line: int, case_id: str, case: CaseRecord | None, problems: Problems) -> None:
    if case is None:
        problems.add(
            line, "case", f"expected a case opened with `sequestra case open`, got {case_id!r}"
        )
    elif case.closed_seq is not None:
        problems.add(
            line, "case", f"expected an open case, got {case_id!r}, closed at seq {case.closed_seq}"
        )


def _check_wallet(
    line: int, address: str, asset: Asset, wallet: WalletRecord | None, problems: Problems
) -> None:
    if wallet is None:
        problems.add(
            line,
            "wallet",
            f"expected a custody wallet registered with `sequestra wallet add`, got {address!r}",
        )
    elif wallet.chain != asset.chain:
        problems.add(
            line,
            "wallet",
            f"expected a wallet on {asset.chain} (the chain of {asset.asset_id}), got"
            f" {address!r} on {wallet.chain}",
        )


# --- the import -----------------------------------------------------------------------------


class ImportProgress(Protocol):
    """Where an import reports its phases and the rows done in each (a progress bar)."""

    def phase(self, name: str, total: int | None) -> None: ...

    def advance(self, rows: int) -> None: ...


def _ticking(items: Iterable[T], advance: Advance | None) -> Iterator[T]:
    """The items, calling `advance` every PROGRESS_STEP_ROWS of them and at the end."""
    done = 0
    for done, item in enumerate(items, start=1):
        yield item
        if advance is not None and done % PROGRESS_STEP_ROWS == 0:
            advance(PROGRESS_STEP_ROWS)
    if advance is not None and done % PROGRESS_STEP_ROWS:
        advance(done % PROGRESS_STEP_ROWS)


@dataclass(frozen=True)
class ImportResult:
    """What an import did: rows, the seqs given, and the seconds each phase took."""

    rows: int
    first_seq: int | None
    last_seq: int | None
    check_s: float
    sign_s: float
    append_s: float
    dry_run: bool

    def to_json(self) -> dict[str, Any]:
        return {
            "imported": not self.dry_run,
            "dry_run": self.dry_run,
            "rows": self.rows,
            "first_seq": self.first_seq,
            "last_seq": self.last_seq,
            "seconds": round(self.check_s + self.sign_s + self.append_s, 3),
            "check_s": round(self.check_s, 3),
            "sign_s": round(self.sign_s, 3),
            "append_s": round(self.append_s, 3),
        }


def plan_import(
    engine: Engine,
    rule_set: RuleSet,
    issuer: str,
    path: Path,
    networks: Mapping[str, str],
    now_utc: datetime,
    progress: ImportProgress | None = None,
) -> list[tuple[int, dict[str, Any]]]:
    """Read and check every row of the file; return (line, body) of each, in file order.

    Precondition: `networks` names the network of every chain. Raises ImportRefused listing
    every problem; AuthorityError when `issuer` may not record seizures; LedgerStateError
    when the database holds no ledger; OSError when the file cannot be read.
    """
    require_initialised(engine)
    read_authority(engine).check_issuer(issuer, SEIZURE_RECORDED, now_utc)
    table = read_seizure_file(path)
    problems = Problems()
    for problem in table.problems:
        problems.add(problem.line, problem.field, problem.message)
    context = RowContext(custody_queries.asset_registry(engine), networks, now_utc, rule_set)
    if progress is not None:
        progress.phase("checking", len(table.rows))
    rows = check_rows(table.rows, context, problems, progress.advance if progress else None)
    check_with_ledger(engine, rows, problems)
    problems.refuse_if_any()
    unbuilt = [row.line for row in rows if row.body is None]
    if unbuilt:  # every row left without a body must have been named as a problem
        raise RuntimeError(f"rows without a body nor a problem: lines {unbuilt[:10]}")
    return [(row.line, row.body) for row in rows if row.body is not None]


def sign_seizures(
    rule_set: RuleSet,
    key: SigningKey,
    bodies: Sequence[dict[str, Any]],
    now_utc: datetime,
    progress: ImportProgress | None = None,
) -> list[SignedStatement]:
    """Sign one seizure statement per body, here: the key never leaves this process.

    One process: a pool of two signing processes measured slower (the signed statements
    cost more to send back than to sign). Raises StatementError for a body the schema
    refuses (`plan_import` has checked each already).
    """
    if progress is not None:
        progress.phase("signing", len(bodies))
    advance = progress.advance if progress else None
    return [
        rule_set.sign(key, SEIZURE_RECORDED, body, now_utc) for body in _ticking(bodies, advance)
    ]


def append_seizures(
    engine: Engine,
    rule_set: RuleSet,
    statements: Sequence[SignedStatement],
    lines: Sequence[int],
    now_utc: datetime,
    rules: AppendRules | None = None,
    progress: ImportProgress | None = None,
) -> list[Receipt]:
    """Append the statements in one transaction, all or none.

    `lines[i]` is the file line of `statements[i]`. Raises ImportRefused naming the line
    and field when the ledger refuses a statement (the ledger changed since the check);
    nothing is written then.
    """
    if progress is not None:
        progress.phase("appending", None)
    with Ledger(engine, rule_set, rules) as ledger:
        ledger.require_initialised()
        try:
            return ledger.append(statements, now_utc, bulk=True)
        except AppendRefused as error:
            if error.index is None:
                raise
            field, message = _split_field(error.reason)
            raise _refused(lines[error.index], field, message) from error


def import_seizures(
    engine: Engine,
    rule_set: RuleSet,
    key: SigningKey,
    path: Path,
    networks: Mapping[str, str],
    now_utc: datetime,
    *,
    rules: AppendRules | None = None,
    dry_run: bool = False,
    progress: ImportProgress | None = None,
) -> ImportResult:
    """Check every row of the file, then (unless `dry_run`) sign and append them all.

    Raises as `plan_import` and `append_seizures`; nothing is written when it raises.
    """
    started = time.perf_counter()
    planned = plan_import(engine, rule_set, key.issuer, path, networks, now_utc, progress)
    checked = time.perf_counter()
    if dry_run:
        return ImportResult(len(planned), None, None, checked - started, 0.0, 0.0, True)
    statements = sign_seizures(rule_set, key, [body for _, body in planned], now_utc, progress)
    signed = time.perf_counter()
    lines = [line for line, _ in planned]
    receipts = append_seizures(engine, rule_set, statements, lines, now_utc, rules, progress)
    appended = time.perf_counter()
    return ImportResult(
        len(receipts),
        receipts[0].seq,
        receipts[-1].seq,
        checked - started,
        signed - checked,
        appended - signed,
        False,
    )
