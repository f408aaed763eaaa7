"""The custody commands end to end, as treasury staff use them, on SQLite and PostgreSQL."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from sequestra.cli.main import app
from sequestra.errors import EXIT_FORBIDDEN
from tests.cli.treasury import (
    ADMIN_KEY,
    BTC_1,
    BTC_2,
    BTC_3,
    BTC_OWNER,
    BTC_P2SH,
    BTC_REGTEST,
    CASE,
    ETH_1,
    ETH_2,
    ETH_OWNER,
    ETH_TX_1,
    ETH_TX_2,
    TX_1,
    TX_2,
    TX_3,
    Treasury,
)
from tests.composed import RULES

DECISION = "--court 'District Court' --decision D-2025-9 --date 2025-04-01"
HOLDING_KEYS = ("holding", "case", "asset", "wallet", "amount_base", "amount", "state")


def _rows(holdings: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    return [tuple(holding[key] for key in HOLDING_KEYS) for holding in holdings]


def _record_movements(t: Treasury, report: Path) -> dict[str, int]:
    """Open a case, register wallets and record every kind of movement; return their seqs."""
    t.seq(
        f"case open {CASE} --agency AFM --basis 'Art. 94 Sr' --prosecutor-ref OM-2025-1"
        " --court-ref C/13/1 --description 'laptop with a cold wallet'"
    )
    t.add_wallet(BTC_1, "bitcoin", "cold-1")
    out = t.write(f"wallet add {BTC_2.upper()} --chain bitcoin --label cold-2")
    assert BTC_2 in out  # recorded as the chain writes it: bech32 in lower case
    t.add_wallet(BTC_3, "bitcoin", "cold-3")
    t.add_wallet(ETH_1, "ethereum", "eth-1")
    t.add_wallet(ETH_2, "ethereum", "eth-2")
    seqs = {
        "seize": t.seq(
            f"seize --case {CASE} --asset btc --amount 1.5 --wallet {BTC_1}"
            f" --seized-at 2025-03-01T10:00:00.25Z --from 'Exchange X'"
            f" --source-address {BTC_OWNER} --source-address {BTC_P2SH}"
            f" --source-tx {TX_1.upper()} --evidence {report} --ref PV-2025-17"
        ),
        "seize_usdt": t.seize("2500.75", ETH_1, "USDT"),
        "transfer": t.seq(
            f"transfer --case {CASE} --asset BTC --amount 0.5 --from {BTC_1} --to {BTC_2}"
            f" --tx {TX_2} --fee 0.00001 --reason 'split for cold storage'"
        ),
        "transfer_usdt": t.seq(
            f"transfer --case {CASE} --asset USDT --amount 500 --from {ETH_1} --to {ETH_2}"
            f" --tx {ETH_TX_1} --fee 0.002 --at 2025-03-02T09:00:00Z"
        ),
        "forfeit": t.seq(
            f"forfeit --case {CASE} {DECISION} --asset BTC --wallet {BTC_2.upper()}"
            f" --evidence {report}"
        ),
        "fund_transfer": t.seq(
            f"transfer --fund --asset BTC --amount 0.2 --from {BTC_2} --to {BTC_3} --tx {TX_3}"
        ),
        "release": t.seq(
            f"release --case {CASE} --asset USDT --amount 500 --wallet {ETH_2}"
            f" --to {ETH_OWNER.lower()} --tx {ETH_TX_2} --fee 0.001"
            " --authority 'Public Prosecutor' --order-ref OM-R-3 --date 2025-04-02"
        ),
        "mistake": t.seize("0.3", BTC_3),
    }
    seqs["correction"] = t.seq(f"correct {seqs['mistake']} --reason 'belongs to another case'")
    return seqs


def _check_bodies(t: Treasury, seqs: dict[str, int]) -> None:
    """The statements hold exact base units, normalised addresses and the evidence hash."""
    entries = [json.loads(line) for line in t.read("log --from 8 --json").splitlines()]
    bodies = {entry["seq"]: entry["entry"]["statement"]["body"] for entry in entries}
    seizure = bodies[seqs["seize"]]
    assert (seizure["asset"], seizure["amount_base"]) == ("bitcoin:BTC", "150000000")
    assert seizure["seized_at"] == "2025-03-01T10:00:00.250000Z"
    assert seizure["source_addresses"] == [BTC_OWNER, BTC_P2SH]
    assert seizure["source_txs"] == [TX_1]
    digest = hashlib.sha256(b"seizure report").hexdigest()
    assert seizure["evidence"] == [{"sha256": digest, "name": "report.pdf"}]
    transfer = bodies[seqs["transfer_usdt"]]
    assert (transfer["amount_base"], transfer["fee_base"]) == ("500000000", "2000000000000000")
    forfeiture = bodies[seqs["forfeit"]]
    assert forfeiture["holdings"] == [
        {"asset": "bitcoin:BTC", "wallet": BTC_2, "amount_base": "50000000"}
    ]
    assert forfeiture["decision"]["ref"] == "D-2025-9"
    assert bodies[seqs["release"]]["destination"] == ETH_OWNER


def _check_holdings(t: Treasury) -> None:
    assert _rows(t.json("holdings")) == [
        (1, CASE, "bitcoin:BTC", BTC_1, "99999000", "0.99999", "in_custody"),
        (2, CASE, "ethereum:USDT", ETH_1, "2000750000", "2000.75", "in_custody"),
        (5, None, "bitcoin:BTC", BTC_2, "30000000", "0.3", "in_fund"),
        (6, None, "bitcoin:BTC", BTC_3, "20000000", "0.2", "in_fund"),
    ]
    everything = _rows(t.json("holdings --all"))
    assert [row[0] for row in everything] == [1, 2, 3, 4, 5, 6, 7]
    emptied = {row[0]: row[6] for row in everything if row[4] == "0"}
    assert emptied == {3: "forfeited", 4: "released", 7: "reversed"}
    assert [h["holding"] for h in t.json("holdings --fund")] == [5, 6]
    assert [h["holding"] for h in t.json("holdings --cases --asset usdt")] == [2]
    assert [h["holding"] for h in t.json(f"holdings --case {CASE} --all")] == [1, 2, 3, 4, 7]
    table = t.read("holdings --asset BTC")
    assert "State Fund" in table and "1.49999" in table  # the total of the three BTC rows


def _check_history(t: Treasury, seqs: dict[str, int]) -> None:
    history = t.json("history H1")
    assert history["holding"]["amount_base"] == "99999000"
    assert [
        (line["seq"], line["kind"], line["change_base"], line["balance_base"])
        for line in history["items"]
    ] == [
        (seqs["seize"], "seizure.recorded", "150000000", "150000000"),
        (seqs["transfer"], "custody.transferred", "-50001000", "99999000"),
    ]
    reversed_lines = t.json("history 7")["items"]
    assert [line["reversed_by"] for line in reversed_lines] == [seqs["correction"], None]
    assert [line["balance"] for line in reversed_lines] == ["0.3", "0"]
    shown = t.read("history h7")
    assert "correction" in shown and f"seq {seqs['correction']}" in shown


def _close_case(t: Treasury) -> None:
    """A case closes only once it holds nothing."""
    refusal = t.refused(
        f"case close {CASE} --reason done", says="case: expected a case that holds nothing"
    )
    assert "holding 1" in refusal and "holding 2" in refusal
    out = t.write(f"forfeit --case {CASE} {DECISION}")
    assert "0.99999 bitcoin:BTC" in out and "2000.75 ethereum:USDT" in out
    assert t.json(f"holdings --case {CASE}") == []
    assert [h["holding"] for h in t.json("holdings --fund")] == [5, 6, 8, 9]
    closed = t.seq(f"case close {CASE} --reason 'all forfeited'")
    (case,) = t.json("case list")
    assert (case["status"], case["closed_seq"], case["holdings_open"]) == ("closed", closed, 0)
    assert t.json("case list --open") == []
    shown = t.json(f"case show {CASE}")
    assert shown["court_ref"] == "C/13/1" and len(shown["holdings"]) == 5


def test_custody_lifecycle(runner: CliRunner, database_url: str, tmp_path: Path) -> None:
    t = Treasury.create(runner, database_url)
    report = tmp_path / "report.pdf"
    report.write_bytes(b"seizure report")
    seqs = _record_movements(t, report)
    _check_bodies(t, seqs)
    _check_holdings(t)
    _check_history(t, seqs)
    _close_case(t)
    before = t.json("holdings --all")
    size = t.size()
    rebuilt = t.json("rebuild")
    assert rebuilt["entries"] == size and rebuilt["projections"][:2] == ["ledger_key", "custody"]
    # The others register as their packages are imported, so their order may vary.
    assert sorted(rebuilt["projections"][2:]) == ["chain_watch", "pricing"]
    assert t.json("holdings --all") == before
    verdict = t.json("verify")
    assert verdict == {
        "ok": True,
        "size": size,
        "first_bad_seq": None,
        "reason": None,
        "rules": RULES.summary().to_json(),
        "pinned": False,
        "trust": None,
        "summary": "not pinned: no policy, no trusted checkpoint",
    }


def test_regtest_ledger_and_configured_token(
    runner: CliRunner, database_url: str, tmp_path: Path
) -> None:
    config = tmp_path / "sequestra.toml"
    config.write_text(
        '[custody]\nbitcoin_network = "regtest"\nethereum_network = "local"\n\n'
        '[[custody.assets]]\nchain = "ethereum"\nsymbol = "EURT"\ndecimals = 6\n'
        'contract = "0xdbf03b407c01e7cd3cbea99509d93f8dddc8c6fb"\n'
    )
    t = Treasury.create(runner, database_url, config)
    statuses = {asset["asset"]: asset["status"] for asset in t.json("asset list")}
    assert statuses["ethereum:EURT"] == "configured" and statuses["bitcoin:BTC"] == "built-in"
    t.refused(
        "asset sync", says="needs one of admin", code=EXIT_FORBIDDEN
    )  # an officer may not register assets
    assert "asset ethereum:EURT registered at seq 3" in t.write("asset sync", ADMIN_KEY)
    (token,) = [asset for asset in t.json("asset list") if asset["symbol"] == "EURT"]
    assert (token["status"], token["registered_seq"]) == ("recorded", 3)
    assert token["contract"] == ETH_OWNER  # stored with its EIP-55 checksum
    assert "already" in t.write("asset sync", ADMIN_KEY)
    t.open_case()
    t.add_wallet(BTC_REGTEST, "bitcoin", "regtest-1")
    t.add_wallet(ETH_1, "ethereum", "local-1")
    t.refused(
        f"wallet add {BTC_1} --chain bitcoin --label x",
        says="address: expected a Bitcoin regtest address",
    )
    t.seize("12.345678", ETH_1, "EURT")
    t.seize("0.5", BTC_REGTEST)
    t.refused(
        f"seize --case {CASE} --asset EURT --amount 0.1234567 --wallet {ETH_1}",
        says="amount: expected at most 6 decimals",
    )
    wallets = {wallet["address"]: wallet["network"] for wallet in t.json("wallet list")}
    assert wallets == {BTC_REGTEST: "regtest", ETH_1: "local"}
    assert [wallet["address"] for wallet in t.json("wallet list --chain ethereum")] == [ETH_1]
    held = [(holding["symbol"], holding["amount_base"]) for holding in t.json("holdings")]
    assert held == [("EURT", "12345678"), ("BTC", "50000000")]


COMMANDS = (
    "case open",
    "case show",
    "case list",
    "case close",
    "wallet add",
    "wallet list",
    "asset list",
    "asset sync",
    "seize",
    "transfer",
    "forfeit",
    "release",
    "correct",
    "holdings",
    "history",
    "rebuild",
)


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_explains_itself(command: str) -> None:
    result = CliRunner().invoke(app, [*command.split(), "--help"])
    assert result.exit_code == 0, result.output
    lines = [line.strip() for line in result.output.splitlines() if line.strip()]
    assert lines[0].startswith("Usage: "), result.output
    assert lines[1][0].isupper() and len(lines[1]) > 30, result.output  # the summary line
