"""Seizure imports from CSV: every problem named by line and field, all rows or none."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from sequestra.custody import importer, queries, service
from sequestra.custody.amounts import to_base_units
from sequestra.custody.assets import AssetRegistry
from sequestra.custody.importer import (
    ImportRefused,
    Problem,
    Problems,
    RowContext,
    check_rows,
    import_seizures,
    plan_import,
    read_seizure_file,
)
from sequestra.ledger.errors import AuthorityError
from sequestra.ledger.roles import CASE_CLOSED, CASE_OPENED, SEIZURE_RECORDED, WALLET_REGISTERED
from sequestra.ledger.statement import sign_statement
from sequestra.ledger.tables import ENTRY_TABLE
from tests.composed import RULES
from tests.conftest import LedgerWorld

CASE_A = "AFM-2025-0101"
CASE_B = "AFM-2025-0102"
CASE_CLOSED_ID = "AFM-2024-0007"
BTC_1 = "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4"
BTC_2 = "bc1qrp33g0q5c5txsp9arysrx4k6zdkfs4nce4xj0gdcccefvpysxf3qccfmv3"
BTC_LEGACY = "1BvBMSEYstWetqTFn5Au4m4GFg7xJaNVN2"  # valid, never registered
ETH_1 = "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed"
ETH_2 = "0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359"
NETWORKS = {"bitcoin": "mainnet", "ethereum": "mainnet"}
HEADER = ("case", "asset", "amount", "wallet", "seized_at", "external_ref")
DIGEST = "ab" * 32


def write_csv(
    path: Path, header: Sequence[str], rows: Sequence[Sequence[str]], bom: bool = False
) -> Path:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(header)
    writer.writerows(rows)
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + buffer.getvalue().encode("utf-8"))
    return path


def context(now: datetime | None = None) -> RowContext:
    return RowContext(AssetRegistry.defaults(), NETWORKS, now or datetime.now(UTC), RULES)


def checked(path: Path) -> tuple[list[importer.CheckedRow], Problems]:
    table = read_seizure_file(path)
    problems = Problems()
    for problem in table.problems:
        problems.add(problem.line, problem.field, problem.message)
    return check_rows(table.rows, context(), problems, None), problems


def fields_by_line(problems: Sequence[Problem]) -> set[tuple[int, str]]:
    return {(problem.line, problem.field) for problem in problems}


# --- reading and checking rows, without a ledger ----------------------------------------------


def test_bom_date_only_and_fractional_seized_at(tmp_path: Path) -> None:
    rows = [
        (CASE_A, "BTC", "0.5", BTC_1, "2025-03-01", "R-1"),
        (CASE_A, "ETH", "1.000000000000000001", ETH_1, "2025-03-01T10:15:00.25Z", ""),
        (CASE_A, "bitcoin:BTC", "2", BTC_1.upper(), "2025-03-01T10:15:00Z", ""),
    ]
    done, problems = checked(write_csv(tmp_path / "s.csv", HEADER, rows, bom=True))
    assert problems.total == 0, problems.kept
    bodies = [row.body for row in done]
    assert [body["seized_at"] for body in bodies if body] == [
        "2025-02-28T19:00:00.000000Z",  # 00:00 at UTC+5
        "2025-03-01T10:15:00.250000Z",
        "2025-03-01T10:15:00.000000Z",
    ]
    assert bodies[1] is not None and bodies[1]["amount_base"] == "1000000000000000001"
    assert bodies[2] is not None and bodies[2]["wallet"] == BTC_1  # normalised
    assert "external_ref" not in bodies[1]  # an empty cell says nothing


def test_lists_evidence_and_optional_columns(tmp_path: Path) -> None:
    header = [*HEADER, "seized_from", "source_addresses", "source_txs", "evidence_sha256"]
    header += ["evidence_names", "description"]
    tx = "AB" * 32
    row = [CASE_A, "BTC", "1", BTC_1, "2025-03-01", "R-9", "J. Doe", f"{BTC_2} ; {BTC_LEGACY}"]
    row += [tx, f"{DIGEST};{'cd' * 32}", "protocol.pdf;photo.jpg", "cold wallet on a USB stick"]
    done, problems = checked(write_csv(tmp_path / "s.csv", header, [row]))
    assert problems.total == 0, problems.kept
    body = done[0].body
    assert body is not None
    assert body["source_addresses"] == [BTC_2, BTC_LEGACY]
    assert body["source_txs"] == ["ab" * 32]
    assert body["evidence"] == [
        {"sha256": DIGEST, "name": "protocol.pdf"},
        {"sha256": "cd" * 32, "name": "photo.jpg"},
    ]
    assert body["seized_from"] == "J. Doe" and body["description"].startswith("cold")


def test_every_bad_field_of_every_row_is_named(tmp_path: Path) -> None:
    future = (datetime.now(UTC) + timedelta(days=2)).strftime("%Y-%m-%dT%H:%M:%SZ")
    bad_checksum = BTC_1[:-1] + "5"
    rows = [
        (CASE_A, "BTC", "0.1", bad_checksum, "2025-03-01", ""),  # 2 wallet
        (CASE_A, "DOGE", "1", BTC_1, "2025-03-01", ""),  # 3 asset
        (CASE_A, "BTC", "-1", BTC_1, "2025-03-01", ""),  # 4 amount
        (CASE_A, "BTC", "0", BTC_1, "2025-03-01", ""),  # 5 amount
        (CASE_A, "BTC", "0.000000001", BTC_1, "2025-03-01", ""),  # 6 amount
        (CASE_A, "ETH", "1", BTC_1, "2025-03-01", ""),  # 7 wallet: not an Ethereum address
        (CASE_A, "BTC", "1", BTC_1, "2025-13-01", ""),  # 8 seized_at
        (CASE_A, "BTC", "1", BTC_1, "2025/03/01", ""),  # 9 seized_at
        (CASE_A, "BTC", "1", BTC_1, future, ""),  # 10 seized_at: later than now
        ("bad case!", "BTC", "1", BTC_1, "2025-03-01", ""),  # 11 case
        ("", "BTC", "1,500", "0xnot", "yesterday", ""),  # 12 case, amount, wallet, seized_at
        (CASE_A, "BTC", "1", BTC_1, "2025-03-01", "R-1"),  # 13 fine
        (CASE_A, "BTC", "1", BTC_1, "2025-03-01", "R-1"),  # 14 the same as line 13
        (CASE_A, "BTC", "1", BTC_1, "2025-03-01"),  # 15 one cell short
    ]
    done, problems = checked(write_csv(tmp_path / "s.csv", HEADER, rows))
    assert fields_by_line(problems.kept) == {
        (2, "wallet"),
        (3, "asset"),
        (4, "amount"),
        (5, "amount"),
        (6, "amount"),
        (7, "wallet"),
        (8, "seized_at"),
        (9, "seized_at"),
        (10, "seized_at"),
        (11, "case"),
        (12, "case"),
        (12, "amount"),
        (12, "wallet"),
        (12, "seized_at"),
        (14, "row"),
        (15, "row"),
    }
    messages = {(p.line, p.field): p.message for p in problems.kept}
    assert "as line 13" in messages[(14, "row")]
    assert "6 cells" in messages[(15, "row")]
    assert "no later than now" in messages[(10, "seized_at")]
    assert [row.line for row in done if row.body is not None] == [13, 14]


def test_list_and_evidence_problems(tmp_path: Path) -> None:
    header = (*HEADER, "source_addresses", "source_txs", "evidence_sha256", "evidence_names")
    rows = [
        (CASE_A, "BTC", "1", BTC_1, "2025-03-01", "", f"{BTC_2};;", "", "", ""),
        (CASE_A, "BTC", "1", BTC_1, "2025-03-01", "", f"{BTC_2};0xdead", "", "", ""),
        (CASE_A, "BTC", "1", BTC_1, "2025-03-01", "", "", "ab" * 31, "", ""),
        (CASE_A, "BTC", "1", BTC_1, "2025-03-01", "", "", "", "abc", ""),
        (CASE_A, "BTC", "1", BTC_1, "2025-03-01", "", "", "", DIGEST, "a.pdf;b.pdf"),
        (CASE_A, "BTC", "1", BTC_1, "2025-03-01", "", ";".join([BTC_2] * 65), "", "", ""),
    ]
    _, problems = checked(write_csv(tmp_path / "s.csv", header, rows))
    assert fields_by_line(problems.kept) == {
        (2, "source_addresses"),
        (3, "source_addresses[1]"),
        (4, "source_txs[0]"),  # 62 hex digits
        (5, "evidence_sha256[0]"),
        (6, "evidence_names"),
        (7, "source_addresses"),
    }


def test_header_problems_are_listed_with_the_rows(tmp_path: Path) -> None:
    header = ("case", "asset", "wallet", "seized_at", "colour", "asset")
    rows = [(CASE_A, "BTC", BTC_1, "2025-03-01", "red", "BTC"), (CASE_A, "XYZ", BTC_1, "x", "", "")]
    _, problems = checked(write_csv(tmp_path / "s.csv", header, rows))
    assert fields_by_line(problems.kept) == {
        (1, "colour"),
        (1, "asset"),  # twice
        (1, "amount"),  # missing
        (1, "file"),  # the columns expected and those found
        (3, "asset"),
        (3, "seized_at"),
    }


def test_an_empty_file_and_a_header_alone_are_refused(tmp_path: Path) -> None:
    empty = tmp_path / "empty.csv"
    empty.write_bytes(b"")
    with pytest.raises(ImportRefused) as refused:
        read_seizure_file(empty)
    assert refused.value.problems[0].line == 1 and "empty file" in str(refused.value)
    table = read_seizure_file(
        write_csv(tmp_path / "header.csv", HEADER, [["", "", "", "", "", ""]])
    )
    assert table.rows == () and [(p.line, p.field) for p in table.problems] == [(2, "file")]


def test_too_many_rows_are_refused_before_any_row_is_checked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(importer, "ROWS_MAX", 3)
    rows = [(CASE_A, "BTC", "1", BTC_1, "2025-03-01", f"R-{i}") for i in range(4)]
    with pytest.raises(ImportRefused) as refused:
        read_seizure_file(write_csv(tmp_path / "s.csv", HEADER, rows))
    assert refused.value.problems == (Problem(5, "file", "expected at most 3 rows, got more"),)


def test_long_lines_big_files_bad_text_are_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    long_row = (CASE_A, "BTC", "1", BTC_1, "2025-03-01", "x" * importer.LINE_BYTES_MAX)
    with pytest.raises(ImportRefused) as refused:
        read_seizure_file(write_csv(tmp_path / "long.csv", HEADER, [long_row]))
    assert fields_by_line(refused.value.problems) == {(2, "file")}
    # UTF-8 in the first ENCODING_SNIFF_BYTES, then a byte that is not: refused as UTF-8.
    bad = tmp_path / "mixed.csv"
    padding = b"\n" * importer.ENCODING_SNIFF_BYTES
    bad.write_bytes(",".join(HEADER).encode() + padding + b"AFM-1,BTC,1,x,2025-03-01,caf\xe9\n")
    with pytest.raises(ImportRefused) as refused:
        read_seizure_file(bad)
    problem = refused.value.problems[0]
    assert problem.line == 2 + len(padding) - 1 and "UTF-8" in problem.message
    # Not UTF-8 from the start: read as Windows-1251, where 0x98 is no character.
    cp1251 = tmp_path / "cp1251.csv"
    cp1251.write_bytes(",".join(HEADER).encode() + b"\nAFM-1,BTC,1,x,2025-03-01,\xe9\x98\n")
    with pytest.raises(ImportRefused) as refused:
        read_seizure_file(cp1251)
    assert refused.value.problems[0].line == 2 and "CP1251" in refused.value.problems[0].message
    quoted = tmp_path / "quote.csv"
    quoted.write_text(",".join(HEADER) + '\nAFM-1,BTC,1,"x"y,2025-03-01,\n')
    with pytest.raises(ImportRefused, match="CSV"):
        read_seizure_file(quoted)
    monkeypatch.setattr(importer, "FILE_BYTES_MAX", 10)
    with pytest.raises(ImportRefused, match="at most 10 bytes"):
        read_seizure_file(bad)


def test_a_refusal_lists_the_first_problems_then_counts_the_rest() -> None:
    problems = [Problem(line, "amount", "expected a positive amount") for line in range(2, 152)]
    refused = ImportRefused(problems)
    listing = refused.listing()
    assert len(listing) == 101 and listing[0].startswith("line 2, amount:")
    assert listing[-1] == "and 50 more"
    assert refused.to_json()["problems_total"] == 150


# --- against a ledger -------------------------------------------------------------------------


def entry_count(world: LedgerWorld) -> int:
    with world.engine.connect() as connection:
        return int(connection.execute(select(func.count()).select_from(ENTRY_TABLE)).scalar_one())


def _case(case_id: str) -> tuple[str, dict[str, Any]]:
    return CASE_OPENED, service.case_opened_body(case_id, "AFM", "CC RK art. 214")


def _wallet(address: str, chain: str) -> tuple[str, dict[str, Any]]:
    return WALLET_REGISTERED, service.wallet_body(chain, "mainnet", address, "Treasury", "vault")


@pytest.fixture
def ledger(world: LedgerWorld) -> Iterator[LedgerWorld]:
    """Two open cases, a closed one, two Bitcoin and two Ethereum custody wallets."""
    statements = [_case(CASE_A), _case(CASE_B), _case(CASE_CLOSED_ID)]
    statements += [_wallet(BTC_1, "bitcoin"), _wallet(BTC_2, "bitcoin")]
    statements += [_wallet(ETH_1, "ethereum"), _wallet(ETH_2, "ethereum")]
    statements += [(CASE_CLOSED, {"case": CASE_CLOSED_ID, "reason": "dismissed"})]
    service.record(world.engine, RULES, world.officer, statements, world.now)
    yield world


class Recorder:
    """An import's progress as a bar would see it: phases and rows done in each."""

    def __init__(self) -> None:
        self.phases: list[tuple[str, int | None]] = []
        self.done: dict[str, int] = {}

    def phase(self, name: str, total: int | None) -> None:
        self.phases.append((name, total))
        self.done[name] = 0

    def advance(self, rows: int) -> None:
        self.done[self.phases[-1][0]] += rows


def run_import(
    world: LedgerWorld, path: Path, dry_run: bool = False, progress: Recorder | None = None
) -> importer.ImportResult:
    return import_seizures(
        world.engine,
        RULES,
        world.officer,
        path,
        NETWORKS,
        datetime.now(UTC),
        dry_run=dry_run,
        progress=progress,
    )


GOOD_ROWS = [
    (CASE_A, "BTC", "0.12345678", BTC_1, "2025-03-01", "R-1"),
    (CASE_A, "BTC", "1", BTC_1, "2025-03-02T08:00:00Z", "R-2"),
    (CASE_A, "ETH", "3.141592653589793238", ETH_1, "2025-03-01", "R-3"),
    (CASE_B, "BTC", "21000000", BTC_2, "2025-03-01", "R-4"),
    (CASE_B, "USDT", "1000000.000001", ETH_2, "2025-03-01", "R-5"),
    (CASE_B, "USDT", "0.000001", ETH_2, "2025-03-01", "R-6"),
]


def test_a_good_file_is_recorded_and_holdings_match_exactly(
    ledger: LedgerWorld, tmp_path: Path
) -> None:
    path = write_csv(tmp_path / "good.csv", HEADER, GOOD_ROWS, bom=True)
    size = entry_count(ledger)
    dry = run_import(ledger, path, dry_run=True)
    assert dry.rows == len(GOOD_ROWS) and dry.first_seq is None
    assert entry_count(ledger) == size
    progress = Recorder()
    result = run_import(ledger, path, progress=progress)
    assert (result.rows, result.first_seq, result.last_seq) == (6, size, size + 5)
    assert progress.phases == [("checking", 6), ("signing", 6), ("appending", None)]
    assert progress.done == {"checking": 6, "signing": 6, "appending": 0}
    assert entry_count(ledger) == size + 6
    registry = queries.asset_registry(ledger.engine)
    expected: dict[tuple[str, str, str], int] = {}
    for case_id, asset_text, amount, wallet, _, _ in GOOD_ROWS:
        asset = registry.resolve(asset_text)
        key = (case_id, asset.asset_id, wallet)
        expected[key] = expected.get(key, 0) + to_base_units(amount, asset.decimals)
    held = {
        (h.case_id or "", h.asset.asset_id, h.wallet): h.amount_base
        for h in queries.list_holdings(ledger.engine)
    }
    assert held == expected
    assert {(h.case_id, h.amount) for h in queries.list_holdings(ledger.engine, CASE_B)} == {
        (CASE_B, "21000000"),
        (CASE_B, "1000000.000002"),
    }


def test_ledger_problems_are_named_and_nothing_is_written(
    ledger: LedgerWorld, tmp_path: Path
) -> None:
    header = (*HEADER, "colour")
    rows = [
        (CASE_A, "BTC", "1", BTC_1, "2025-03-01", "R-1", "red"),  # 2 fine
        ("AFM-1999-0001", "BTC", "1", BTC_1, "2025-03-01", "", ""),  # 3 case never opened
        (CASE_CLOSED_ID, "BTC", "1", BTC_1, "2025-03-01", "", ""),  # 4 case closed
        (CASE_A, "BTC", "1", BTC_LEGACY, "2025-03-01", "", ""),  # 5 wallet not registered
        (CASE_A, "ETH", "1", BTC_2, "2025-03-01", "", ""),  # 6 wallet on another chain
        (CASE_A, "BTC", "-0.5", BTC_1, "2025-03-01", "", ""),  # 7 negative
        ("AFM-1999-0002", "DOGE", "0", BTC_LEGACY, "2024/12/31", "", ""),  # 8 all of it
    ]
    path = write_csv(tmp_path / "bad.csv", header, rows)
    size = entry_count(ledger)
    with pytest.raises(ImportRefused) as refused:
        run_import(ledger, path)
    assert fields_by_line(refused.value.problems) == {
        (1, "colour"),
        (3, "case"),
        (4, "case"),
        (5, "wallet"),
        (6, "wallet"),
        (7, "amount"),
        (8, "case"),
        (8, "asset"),
        (8, "seized_at"),
    }
    messages = {(p.line, p.field): p.message for p in refused.value.problems}
    assert "closed at seq" in messages[(4, "case")]
    assert "sequestra wallet add" in messages[(5, "wallet")]
    assert entry_count(ledger) == size


def test_a_file_imported_twice_is_refused_the_second_time(
    ledger: LedgerWorld, tmp_path: Path
) -> None:
    path = write_csv(tmp_path / "good.csv", HEADER, GOOD_ROWS)
    first = run_import(ledger, path)
    size = entry_count(ledger)
    with pytest.raises(ImportRefused) as refused:
        run_import(ledger, path)
    assert [p.line for p in refused.value.problems] == list(range(2, 8))
    assert f"as seq {first.first_seq}" in refused.value.problems[0].message
    assert entry_count(ledger) == size


def test_a_wallet_registered_on_another_chain_is_named(ledger: LedgerWorld) -> None:
    # An address valid on one chain is not valid on the other, so a file cannot reach this
    # check; the rule still holds should a chain's formats ever overlap.
    ether = queries.asset_registry(ledger.engine).get("ethereum:ETH")
    problems = Problems()
    row = importer.CheckedRow(2, CASE_A, ether, BTC_1, None)
    importer.check_with_ledger(ledger.engine, [row], problems)
    assert [(p.line, p.field, p.message) for p in problems.kept] == [
        (
            2,
            "wallet",
            f"expected a wallet on ethereum (the chain of ethereum:ETH), got {BTC_1!r} on bitcoin",
        )
    ]


def test_a_refusal_at_append_names_the_line(ledger: LedgerWorld) -> None:
    now = datetime.now(UTC)
    good = {"case": CASE_A, "asset": "bitcoin:BTC", "amount_base": "5", "wallet": BTC_1}
    good["seized_at"] = "2025-03-01T00:00:00.000000Z"
    closed = {**good, "case": CASE_CLOSED_ID}
    statements = [
        sign_statement(ledger.officer, SEIZURE_RECORDED, body, now) for body in (good, closed)
    ]
    size = entry_count(ledger)
    with pytest.raises(ImportRefused) as refused:
        importer.append_seizures(ledger.engine, RULES, statements, [10, 11], now)
    (problem,) = refused.value.problems
    assert (problem.line, problem.field) == (11, "case") and "open case" in problem.message
    assert entry_count(ledger) == size


def test_a_key_that_may_not_record_seizures_is_refused_before_reading(
    ledger: LedgerWorld, tmp_path: Path
) -> None:
    path = tmp_path / "absent.csv"  # not read: the key is refused first
    with pytest.raises(AuthorityError, match="needs one of treasury-officer"):
        plan_import(ledger.engine, RULES, ledger.admin.issuer, path, NETWORKS, datetime.now(UTC))


def test_a_seizure_stored_without_microseconds_is_recognised(
    ledger: LedgerWorld, tmp_path: Path
) -> None:
    body = {"case": CASE_A, "asset": "bitcoin:BTC", "amount_base": "100000000", "wallet": BTC_1}
    body["seized_at"] = "2025-03-01T05:00:00Z"  # as a statement signed elsewhere may write it
    (receipt,) = service.record(
        ledger.engine, RULES, ledger.officer, [(SEIZURE_RECORDED, body)], ledger.now
    )
    path = write_csv(
        tmp_path / "s.csv", HEADER, [(CASE_A, "BTC", "1", BTC_1, body["seized_at"], "")]
    )
    with pytest.raises(ImportRefused) as refused:
        run_import(ledger, path)
    (problem,) = refused.value.problems
    assert (problem.line, problem.field) == (2, "row")
    assert problem.message.endswith(f"as seq {receipt.seq}")
