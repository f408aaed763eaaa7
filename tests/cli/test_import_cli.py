"""`sequestra import seizures` end to end, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine
from typer.testing import CliRunner

from sequestra.cli.import_commands import import_app
from sequestra.cli.main import app
from sequestra.custody import importer, queries, service
from sequestra.custody.amounts import to_base_units
from sequestra.ledger.db import create_ledger_engine
from sequestra.ledger.keys import SigningKey, load_signing_key
from sequestra.ledger.kinds import KEY_ENROLLED
from sequestra.ledger.ops import init_ledger
from sequestra.ledger.roles import CASE_CLOSED, CASE_OPENED, WALLET_REGISTERED
from sequestra.ledger.statement import sign_statement
from sequestra.ledger.store import Ledger
from sequestra.ledger.timefmt import format_timestamp
from tests.cli.conftest import PASSPHRASE
from tests.composed import RULES
from tests.custody.test_importer import (
    BTC_1,
    BTC_2,
    BTC_LEGACY,
    CASE_A,
    CASE_B,
    CASE_CLOSED_ID,
    ETH_1,
    ETH_2,
    GOOD_ROWS,
    HEADER,
    write_csv,
)

KEYS = Path(__file__).resolve().parents[2] / "keys-example"
OFFICER_KEY = str(KEYS / "treasury-officer.key")

if not any(group.name == "import" for group in app.registered_groups):
    app.add_typer(import_app, name="import")


def _key(name: str) -> SigningKey:
    return load_signing_key(KEYS / f"{name}.key", PASSPHRASE.encode())


@pytest.fixture
def ledger(database_url: str) -> Iterator[Engine]:
    """A ledger of the example keys: two open cases, a closed one, four custody wallets."""
    engine = create_ledger_engine(database_url)
    now = datetime.now(UTC)
    admin, officer = _key("admin"), _key("treasury-officer")
    origin = "cli.sequestra.example/log"
    init_ledger(engine, RULES, origin, [admin.public_key_raw], _key("ledger"), now_utc=now)
    enrolment = {
        "public_key": officer.public_key_b64,
        "roles": ["treasury-officer"],
        "valid_from": format_timestamp(now - timedelta(hours=1)),
        "label": "officer",
    }
    with Ledger(engine, RULES) as writer:
        writer.append([sign_statement(admin, KEY_ENROLLED, enrolment, now)], now)
    statements = [
        (CASE_OPENED, service.case_opened_body(case_id, "AFM", "CC RK art. 214"))
        for case_id in (CASE_A, CASE_B, CASE_CLOSED_ID)
    ]
    statements += [
        (WALLET_REGISTERED, service.wallet_body(chain, "mainnet", address, "Treasury", "vault"))
        for chain, address in (
            ("bitcoin", BTC_1),
            ("bitcoin", BTC_2),
            ("ethereum", ETH_1),
            ("ethereum", ETH_2),
        )
    ]
    statements.append((CASE_CLOSED, {"case": CASE_CLOSED_ID, "reason": "dismissed"}))
    service.record(engine, RULES, officer, statements, now)
    yield engine
    engine.dispose()


def size(engine: Engine) -> int:
    with Ledger(engine, RULES) as reader:
        return reader.head().size


def invoke(runner: CliRunner, url: str, *args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, ["--database-url", url, "import", "seizures", *args])
    return result.exit_code, result.stdout, result.stderr


def test_a_good_file_is_recorded_and_the_holdings_match(
    runner: CliRunner, database_url: str, ledger: Engine, tmp_path: Path
) -> None:
    path = write_csv(tmp_path / "seizures.csv", HEADER, GOOD_ROWS, bom=True)
    before = size(ledger)
    code, out, err = invoke(runner, database_url, str(path), "--key", OFFICER_KEY, "--dry-run")
    assert code == 0, err
    assert "6 rows checked" in out and size(ledger) == before
    code, out, err = invoke(runner, database_url, str(path), "--key", OFFICER_KEY, "--json")
    assert code == 0, err
    summary = json.loads(out)
    assert summary["rows"] == 6 and summary["imported"] is True
    assert (summary["first_seq"], summary["last_seq"]) == (before, before + 5)
    assert summary["seconds"] >= summary["append_s"] >= 0
    registry = queries.asset_registry(ledger)
    totals: dict[str, int] = {}
    for _, asset_text, amount, _, _, _ in GOOD_ROWS:
        asset = registry.resolve(asset_text)
        totals[asset.asset_id] = totals.get(asset.asset_id, 0) + to_base_units(
            amount, asset.decimals
        )
    held = queries.totals_by_asset(queries.list_holdings(ledger))
    assert {asset.asset_id: total for asset, total in held} == totals


def test_bad_rows_are_each_named_exit_2_and_nothing_is_written(
    runner: CliRunner, database_url: str, ledger: Engine, tmp_path: Path
) -> None:
    header = (*HEADER, "colour")
    rows = [
        (CASE_A, "BTC", "1", BTC_1[:-1] + "5", "2025-03-01", "", ""),  # 2 checksum
        (CASE_A, "DOGE", "1", BTC_1, "2025-03-01", "", ""),  # 3 unknown asset
        (CASE_A, "BTC", "-1", BTC_1, "2025-03-01", "", ""),  # 4 negative
        (CASE_A, "BTC", "0", BTC_1, "2025-03-01", "", ""),  # 5 zero
        (CASE_A, "BTC", "0.000000001", BTC_1, "2025-03-01", "", ""),  # 6 decimals
        ("AFM-1999-0001", "BTC", "1", BTC_1, "2025-03-01", "", ""),  # 7 no such case
        (CASE_CLOSED_ID, "BTC", "1", BTC_1, "2025-03-01", "", ""),  # 8 closed case
        (CASE_A, "BTC", "1", BTC_LEGACY, "2025-03-01", "", ""),  # 9 unregistered wallet
        (CASE_A, "ETH", "1", BTC_2, "2025-03-01", "", ""),  # 10 wallet of another chain
        (CASE_A, "BTC", "1", BTC_1, "2025-02-30", "", ""),  # 11 bad date
        (CASE_A, "BTC", "1", BTC_1, "2025-03-01", "R-1", "blue"),  # 12 fine
    ]
    path = write_csv(tmp_path / "bad.csv", header, rows)
    before = size(ledger)
    code, out, err = invoke(runner, database_url, str(path), "--key", OFFICER_KEY, "--json")
    assert code == 2
    expected = [
        "line 1, colour:",
        "line 2, wallet:",
        "line 3, asset:",
        "line 4, amount:",
        "line 5, amount:",
        "line 6, amount:",
        "line 7, case:",
        "line 8, case:",
        "line 9, wallet:",
        "line 10, wallet:",
        "line 11, seized_at:",
    ]
    listed = [line.strip() for line in err.splitlines() if line.strip().startswith("line ")]
    assert [line.split(" ", 3)[:3] for line in listed] == [prefix.split(" ") for prefix in expected]
    assert "11 problem(s); nothing was imported" in err
    report = json.loads(out)
    assert report["imported"] is False and report["problems_total"] == 11
    assert size(ledger) == before


def test_a_missing_required_column_is_named(
    runner: CliRunner, database_url: str, ledger: Engine, tmp_path: Path
) -> None:
    path = write_csv(tmp_path / "s.csv", ("case", "asset", "wallet"), [(CASE_A, "BTC", BTC_1)])
    before = size(ledger)
    code, _, err = invoke(runner, database_url, str(path), "--key", OFFICER_KEY)
    assert code == 2
    assert "line 1, amount: expected this required column" in err
    assert "line 1, seized_at: expected this required column" in err
    assert size(ledger) == before


def test_an_empty_file_is_refused(
    runner: CliRunner, database_url: str, ledger: Engine, tmp_path: Path
) -> None:
    path = tmp_path / "empty.csv"
    path.write_bytes(b"")
    code, _, err = invoke(runner, database_url, str(path), "--key", OFFICER_KEY)
    assert code == 2 and "got an empty file" in err
    code, _, err = invoke(runner, database_url, str(tmp_path / "absent.csv"), "--key", OFFICER_KEY)
    assert code == 2 and "does not exist" in err


def test_an_over_long_file_is_refused_before_any_row_is_checked(
    runner: CliRunner,
    database_url: str,
    ledger: Engine,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def unexpected(*_args: object) -> None:
        raise AssertionError("rows were checked")

    monkeypatch.setattr(importer, "check_rows", unexpected)
    path = tmp_path / "long.csv"
    row = f"{CASE_A},BTC,1,{BTC_1},2025-03-01,"
    with path.open("w", encoding="utf-8") as handle:
        handle.write(",".join(HEADER) + "\n")
        handle.writelines(f"{row}R-{index}\n" for index in range(importer.ROWS_MAX + 1))
    before = size(ledger)
    code, _, err = invoke(runner, database_url, str(path), "--key", OFFICER_KEY)
    assert code == 2
    assert f"line {importer.ROWS_MAX + 2}, file: expected at most {importer.ROWS_MAX} rows" in err
    assert size(ledger) == before
