"""`import seizures` of files as people save them: the shipped examples, Russian-locale
Excel (';', Windows-1251 or UTF-8 with a BOM, decimal comma, DD.MM.YYYY), and a header it
cannot read, which names the columns expected and found. Both databases."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine
from typer.testing import CliRunner

from sequestra.custody import queries
from sequestra.custody.importer import DATE_ONLY_ZONE, detect_delimiter, detect_encoding
from tests.cli.test_import_cli import OFFICER_KEY, invoke, ledger, size  # noqa: F401

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
COMMA_FILE = EXAMPLES / "seizures.csv"
EXCEL_RU_FILE = EXAMPLES / "seizures-excel-ru.csv"


def _import(runner: CliRunner, url: str, path: Path) -> dict[str, object]:
    code, out, err = invoke(runner, url, str(path), "--key", OFFICER_KEY, "--json")
    assert code == 0, err
    result: dict[str, object] = json.loads(out)
    return result


def _seizures(ledger: Engine) -> dict[str, dict[str, Any]]:  # noqa: F811
    """The imported seizures by external reference."""
    found = queries.seizures_of_cases(ledger, ["AFM-2025-0101", "AFM-2025-0102"])
    return {body["external_ref"]: body for _, body in found}


def test_the_comma_example_file_imports(
    runner: CliRunner,
    database_url: str,
    ledger: Engine,  # noqa: F811
) -> None:
    assert _import(runner, database_url, COMMA_FILE)["rows"] == 3
    bodies = _seizures(ledger)
    assert bodies["PR-2025-17"]["amount_base"] == "50000000"
    assert [item["name"] for item in bodies["PR-2025-19"]["evidence"]] == [
        "report.pdf",
        "photo.jpg",
    ]


def test_the_excel_ru_example_file_imports(
    runner: CliRunner,
    database_url: str,
    ledger: Engine,  # noqa: F811
) -> None:
    assert detect_encoding(EXCEL_RU_FILE.read_bytes()) == "cp1251"
    assert _import(runner, database_url, EXCEL_RU_FILE)["rows"] == 2
    bodies = _seizures(ledger)
    first, second = bodies["ПР-2025-20"], bodies["ПР-2025-21"]
    assert first["amount_base"] == "1000000" and first["seized_from"] == "Криптобиржа"
    assert first["description"] == "Изъято при обыске"
    day = datetime(2025, 4, 1, tzinfo=DATE_ONLY_ZONE)
    assert datetime.fromisoformat(first["seized_at"]) == day
    assert second["amount_base"] == str(25 * 10**17)
    moment = datetime(2025, 4, 2, 14, 30, tzinfo=DATE_ONLY_ZONE)
    assert datetime.fromisoformat(second["seized_at"]) == moment


def test_a_semicolon_file_in_utf8_with_a_bom_imports(
    runner: CliRunner,
    database_url: str,
    ledger: Engine,  # noqa: F811
    tmp_path: Path,
) -> None:
    text = EXCEL_RU_FILE.read_bytes().decode("cp1251")
    path = tmp_path / "utf8.csv"
    path.write_bytes(b"\xef\xbb\xbf" + text.encode("utf-8"))
    assert _import(runner, database_url, path)["rows"] == 2


def test_a_header_it_cannot_read_names_the_columns_expected_and_found(
    runner: CliRunner,
    database_url: str,
    ledger: Engine,  # noqa: F811
    tmp_path: Path,
) -> None:
    path = tmp_path / "tabs.csv"
    path.write_text("case\tasset\tamount\twallet\tseized_at\nA\tBTC\t1\tw\t2025-03-01\n")
    before = size(ledger)
    code, _, err = invoke(runner, database_url, str(path), "--key", OFFICER_KEY)
    flat = " ".join(err.split())
    assert code == 2 and size(ledger) == before
    assert "expected a header row naming the columns case, asset, amount, wallet, seized_at" in flat
    assert "found 1 column(s): 'case\\tasset\\tamount\\twallet\\tseized_at'" in flat
    assert "separated by ',' or ';'" in flat


@pytest.mark.parametrize(
    ("header", "delimiter"),
    [
        ("case,asset,amount,wallet,seized_at", ","),
        ("case;asset;amount;wallet;seized_at", ";"),
        ("case;asset;amount;wallet;seized_at;description", ";"),
        ("colour,size", ","),
        ("", ","),
    ],
)
def test_the_delimiter_is_the_one_that_names_the_columns(header: str, delimiter: str) -> None:
    assert detect_delimiter(header) == delimiter


def test_a_utf8_character_cut_at_the_sniffed_bytes_is_still_utf8() -> None:
    assert detect_encoding("case,Криптобиржа".encode()[:-1]) == "utf-8"
    assert detect_encoding("Криптобиржа".encode("cp1251")) == "cp1251"
