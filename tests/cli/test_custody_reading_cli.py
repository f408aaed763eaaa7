"""What people read and type in the custody commands: the time a seizure happened beside
the time it was recorded, its evidence hashes, a decimal comma, and tables in 80 columns."""

from __future__ import annotations

import hashlib
from pathlib import Path

from typer.testing import CliRunner

from tests.cli.treasury import BTC_1, BTC_2, CASE, TX_1, Treasury

SEIZED_AT = "2024-11-05T09:30:00Z"


def _seized(runner: CliRunner, database_url: str, tmp_path: Path) -> tuple[Treasury, str]:
    """A case with one seizure of 1,5 BTC (decimal comma) seized months before it was
    recorded, with one evidence document; returns the treasury and the document's SHA-256."""
    treasury = Treasury.create(runner, database_url)
    treasury.write(f"case open {CASE} --agency AFM --basis 'art. 214'")
    treasury.write(f"wallet add {BTC_1} --chain bitcoin --label cold-1")
    treasury.write(f"wallet add {BTC_2} --chain bitcoin --label cold-2")
    report = tmp_path / "seizure-report.pdf"
    report.write_bytes(b"protocol of seizure no. 17")
    treasury.write(
        f"seize --case {CASE} --asset BTC --amount 1,5 --wallet {BTC_1}"
        f" --seized-at {SEIZED_AT} --evidence {report}"
    )
    return treasury, hashlib.sha256(report.read_bytes()).hexdigest()


def test_case_show_gives_when_seized_beside_when_recorded_and_the_evidence(
    runner: CliRunner, database_url: str, tmp_path: Path
) -> None:
    treasury, digest = _seized(runner, database_url, tmp_path)
    shown = treasury.json(f"case show {CASE}")
    (seizure,) = shown["seizures"]
    assert seizure["seized_at"].startswith("2024-11-05T09:30:00")
    assert seizure["recorded_at"] != seizure["seized_at"]
    assert seizure["amount"] == "1.5" and seizure["asset"] == "bitcoin:BTC"
    assert seizure["evidence"] == [{"sha256": digest, "name": "seizure-report.pdf"}]
    text = treasury.read(f"case show {CASE}")
    assert "opened (recorded)" in text and "seized (UTC)" in text and "recorded (UTC)" in text
    assert "2024-11-05 09:30" in text
    assert f"sha256 {digest} seizure-report.pdf" in text


def test_history_gives_when_each_movement_happened_and_its_evidence(
    runner: CliRunner, database_url: str, tmp_path: Path
) -> None:
    treasury, digest = _seized(runner, database_url, tmp_path)
    treasury.write(
        f"transfer --case {CASE} --asset BTC --amount 0,25 --from {BTC_1} --to {BTC_2}"
        f" --tx {TX_1} --at 2025-01-10T12:00:00Z"
    )
    items = treasury.json("history 1")["items"]
    assert [item["happened_field"] for item in items] == ["seized_at", "transferred_at"]
    assert items[0]["happened_at"].startswith("2024-11-05T09:30:00")
    assert items[0]["evidence"] == [{"sha256": digest, "name": "seizure-report.pdf"}]
    assert items[1]["change"] == "-0.25" and items[1]["evidence"] == []
    text = treasury.read("history 1")
    assert "happened (UTC)" in text and "recorded (UTC)" in text
    assert "2024-11-05 09:30" in text and "2025-01-10 12:00" in text
    assert f"sha256 {digest}" in text


def test_an_ambiguous_comma_is_refused_saying_how_to_write_it(
    runner: CliRunner, database_url: str, tmp_path: Path
) -> None:
    treasury, _ = _seized(runner, database_url, tmp_path)
    treasury.refused(
        f"seize --case {CASE} --asset BTC --amount 1,500 --wallet {BTC_1}",
        "amount: expected an unambiguous amount: write 1.500 (a decimal comma) or 1500",
    )


def test_holdings_in_80_columns_show_every_figure_whole(
    runner: CliRunner, database_url: str, tmp_path: Path
) -> None:
    treasury, _ = _seized(runner, database_url, tmp_path)
    treasury.write(
        f"seize --case {CASE} --asset BTC --amount 20999999,12345678 --wallet {BTC_2}"
        " --from 'a very long name of the platform the assets were taken from'"
    )
    text = treasury.read("holdings")  # CliRunner's console is 80 columns wide, not a terminal
    assert "…" not in text
    assert "20999999.12345678" in text and "21000000.62345678" in text
    assert BTC_2 in text
