"""The `sequestra` command end to end, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import os
import shutil
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from typer.testing import CliRunner

from sequestra.cli.main import app
from sequestra.errors import EXIT_CONFLICT, EXIT_FORBIDDEN, EXIT_INPUT
from sequestra.ledger import keys as keys_module
from sequestra.ledger.db import create_ledger_engine
from sequestra.reports.catalog import REPORT_FORMATS
from sequestra.service.access.tokens import resolve_token
from sequestra_sandbox.cases import CustodySample, generate_sample
from sequestra_sandbox.cli import app as sandbox_app
from sequestra_sandbox.demo.pricing import HISTORY_WEEKS
from tests.cli.conftest import run
from tests.composed import REPORTS, RULES
from tests.keyfiles import QUICK_KDF

PASSPHRASE = "sandbox-example-passphrase"
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def keys(tmp_path: Path, runner: CliRunner, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Three keys made by `keys generate`, at the tests' quick KDF count."""
    monkeypatch.setattr(keys_module, "KDF_POLICY", QUICK_KDF)
    monkeypatch.setenv("SEQUESTRA_PASSPHRASE", "own test passphrase")
    directory = tmp_path / "keys"
    for name in ("ledger", "admin", "officer"):
        command = ["keys", "generate", name, "--out", str(directory), "--passphrase-from-env"]
        result = runner.invoke(app, command)
        assert result.exit_code == 0, result.output
    return directory


def test_full_ledger_workflow(
    runner: CliRunner, database_url: str, keys: Path, tmp_path: Path
) -> None:
    url = database_url
    out = run(
        runner,
        url,
        "init",
        "--origin",
        "test.example/log",
        "--admin",
        str(keys / "admin.pub"),
        "--ledger-key",
        str(keys / "ledger.key"),
        "--json",
    )
    assert json.loads(out)["seq"] == 0
    run(
        runner,
        url,
        "keys",
        "enroll",
        str(keys / "officer.pub"),
        "--role",
        "treasury-officer",
        "--key",
        str(keys / "admin.key"),
    )
    body = tmp_path / "body.json"
    body.write_text(json.dumps({"text": "vault sealed"}))
    signed = run(
        runner,
        url,
        "sign",
        "--kind",
        "note.recorded",
        "--body",
        str(body),
        "--key",
        str(keys / "officer.key"),
    )
    second = run(
        runner,
        url,
        "sign",
        "--kind",
        "note.recorded",
        "--body",
        "-",
        "--key",
        str(keys / "officer.key"),
        stdin='{"text": "second"}',
    )
    receipts = run(runner, url, "append", "-", "--json", stdin=signed + second)
    assert [json.loads(line)["seq"] for line in receipts.splitlines()] == [2, 3]
    assert all(len(json.loads(line)["leaf_hash"]) == 64 for line in receipts.splitlines())
    refused = run(runner, url, "append", "-", stdin=signed, code=EXIT_INPUT)
    assert "nonce already used" in refused
    verdict = json.loads(run(runner, url, "verify", "--json"))
    assert verdict == {
        "ok": True,
        "size": 4,
        "first_bad_seq": None,
        "reason": None,
        "rules": RULES.summary().to_json(),
        "pinned": False,
        "trust": None,
        "summary": "not pinned: no policy, no trusted checkpoint",
    }
    entries = [
        json.loads(line) for line in run(runner, url, "log", "--from", "2", "--json").splitlines()
    ]
    assert [e["entry"]["statement"]["body"]["text"] for e in entries] == ["vault sealed", "second"]
    assert [e["kind"] for e in entries] == ["note.recorded", "note.recorded"]
    listed = [json.loads(line) for line in run(runner, url, "keys", "list", "--json").splitlines()]
    assert [k["roles"] for k in listed] == [["ledger"], ["admin"], ["treasury-officer"]]
    run(
        runner,
        url,
        "keys",
        "revoke",
        str(keys / "officer.pub"),
        "--reason",
        "left",
        "--key",
        str(keys / "admin.key"),
    )
    late = run(
        runner,
        url,
        "sign",
        "--kind",
        "note.recorded",
        "--body",
        str(body),
        "--key",
        str(keys / "officer.key"),
    )
    assert "revoked" in run(runner, url, "append", "-", stdin=late, code=EXIT_FORBIDDEN)
    assert "revoked at seq 4" in run(
        runner,
        url,
        "keys",
        "enroll",
        str(keys / "ledger.pub"),
        "--role",
        "admin",
        "--key",
        str(keys / "officer.key"),
        code=EXIT_FORBIDDEN,
    )


def test_malformed_input_writes_nothing(
    runner: CliRunner, database_url: str, keys: Path, tmp_path: Path
) -> None:
    url = database_url
    run(
        runner,
        url,
        "init",
        "--origin",
        "o",
        "--admin",
        str(keys / "admin.pub"),
        "--ledger-key",
        str(keys / "ledger.key"),
    )
    good = run(
        runner,
        url,
        "sign",
        "--kind",
        "note.recorded",
        "--body",
        "-",
        "--key",
        str(keys / "admin.key"),
        stdin='{"text": "ok"}',
    )
    out = run(runner, url, "append", "-", stdin=good + "{not json\n", code=EXIT_INPUT)
    assert "stdin line 2" in out and "nothing was appended" in out
    assert "body.text" in run(
        runner,
        url,
        "sign",
        "--kind",
        "note.recorded",
        "--body",
        "-",
        "--key",
        str(keys / "admin.key"),
        stdin='{"text": ""}',
        code=EXIT_INPUT,
    )
    assert "unknown kind" in run(
        runner,
        url,
        "sign",
        "--kind",
        "no.such",
        "--body",
        "-",
        "--key",
        str(keys / "admin.key"),
        stdin="{}",
        code=EXIT_INPUT,
    )
    assert json.loads(run(runner, url, "verify", "--json"))["size"] == 1


def test_verify_exit_codes(runner: CliRunner, database_url: str, keys: Path) -> None:
    url = database_url
    run(
        runner,
        url,
        "init",
        "--origin",
        "o",
        "--admin",
        str(keys / "admin.pub"),
        "--ledger-key",
        str(keys / "ledger.key"),
    )
    run(runner, url, "verify", "--ledger-pub", str(keys / "ledger.pub"))
    wrong = run(runner, url, "verify", "--json", "--ledger-pub", str(keys / "admin.pub"), code=1)
    assert json.loads(wrong)["first_bad_seq"] == 0
    bad = run(runner, url, "verify", "--trusted-anchor", "ethereum:0x12", code=2)
    assert "expected ethereum:0x<64 hex>" in bad
    unread = run(runner, url, "verify", "--trusted-anchor", "ethereum:0x" + "ab" * 32, "--json")
    verdict = json.loads(unread)  # no node configured: noted, never trusted
    assert verdict["ok"] and not verdict["pinned"]
    assert "anchor.ethereum_rpc_url" in verdict["trust"]["notes"][0]
    engine = create_ledger_engine(url)
    with engine.begin() as connection:
        if engine.dialect.name == "postgresql":
            connection.execute(text("ALTER TABLE ledger_entry DISABLE TRIGGER USER"))
        else:
            connection.execute(text("DROP TRIGGER ledger_entry_no_update"))
        connection.execute(text("UPDATE ledger_entry SET entry = entry || entry"))
    engine.dispose()
    assert "FAILED at seq 0" in run(runner, url, "verify", code=1)


def test_usage_errors_exit_2(runner: CliRunner, tmp_path: Path) -> None:
    result = runner.invoke(app, ["--database-url", "mysql://x/y", "verify"])
    assert result.exit_code == 2 and "expected sqlite" in result.output
    result = runner.invoke(app, ["--config", str(tmp_path / "none.toml"), "verify"])
    assert result.exit_code == 2 and "does not exist" in result.output
    url = f"sqlite:///{tmp_path / 'x.db'}"
    result = runner.invoke(
        app,
        [
            "--database-url",
            url,
            "init",
            "--origin",
            "o",
            "--admin",
            "AAAA",
            "--ledger-key",
            str(tmp_path / "none.key"),
        ],
    )
    assert result.exit_code == 2


def test_keys_generate_needs_a_passphrase(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SEQUESTRA_PASSPHRASE", raising=False)
    result = CliRunner().invoke(app, ["keys", "generate", "k", "--out", str(tmp_path)])
    assert result.exit_code == 2 and "passphrase" in result.output
    assert not (tmp_path / "k.key").exists()


def test_demo(runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    shutil.copytree(ROOT / "keys-example", tmp_path / "keys-example")
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(sandbox_app, ["demo", "--json", "--no-serve"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    sample = generate_sample()
    fund_entries = 6  # the policy, the proposal, its approval, two tranches, the settlement
    entries = 11 + _custody_entries(sample) + _check_demo_watch(summary["watch"]) + 2
    pricing = summary["pricing"]
    moved = 1 + len(pricing["emergencies"])  # the valuation after the move, its alerts
    entries += fund_entries + HISTORY_WEEKS + pricing["seizure_days"] + moved
    assert summary["verify"]["ok"] and summary["entries"] == entries
    assert "needs one of admin" in summary["refused_example"]
    checkpoint = summary["checkpoint"]
    assert checkpoint["published"] and checkpoint["size"] == entries
    assert checkpoint["cosigned_by"] == ["audit.sandbox.sequestra.example/witness"]
    kinds = _kinds(tmp_path / summary["bundle"] / "entries.jsonl")
    assert kinds.count("observation.recorded") == summary["watch"]["observations"] == 2
    assert kinds.count("alert.raised") == len(summary["watch"]["alerts"])
    assert summary["audit"]["ok"] and summary["audit"]["size"] == entries
    assert (tmp_path / summary["proof"]).read_bytes().startswith(b"c2sp.org/tlog-proof@v1\n")
    _check_demo_custody(summary["custody"], sample)
    _check_demo_pricing(summary["pricing"])
    valuations = 2 + HISTORY_WEEKS + pricing["seizure_days"] + 1
    assert kinds.count("valuation.recorded") == valuations
    _check_demo_emergencies(pricing)
    _check_demo_fund(summary["fund"], pricing["moved"])
    assert kinds.count("sale.executed") == 2 and kinds.count("sale.settled") == 1
    _check_demo_reports(summary, tmp_path)
    again = runner.invoke(sandbox_app, ["demo", "--json", "--no-serve"])
    assert again.exit_code == 0 and json.loads(again.output)["entries"] == entries


def _check_demo_emergencies(pricing: dict[str, Any]) -> None:
    """ETH falls 36% after the current valuation: the next valuation is current, and the
    Fund's emergency rule, run as the scheduler runs it, raises one alert per ETH holding."""
    moved, now = pricing["moved"], pricing["now"]
    assert moved["cutoff"] > now["cutoff"] and moved["seq"] > now["seq"]
    assert pricing["emergencies"]
    for alert in pricing["emergencies"]:
        assert alert["asset"] == "ethereum:ETH" and "fell 36.00%" in alert["message"]


def _check_demo_reports(summary: dict[str, Any], root: Path) -> None:
    """Every report in every format on disk, named after the final checkpoint; tokens that
    only their owner may read and that open the API with their role."""
    reports = summary["reports"]
    assert {(r["report"], r["format"]) for r in reports} == {
        (kind, name) for kind in REPORTS.kinds() for name in REPORT_FORMATS
    }
    size = summary["checkpoint"]["size"]
    for report in reports:
        path = root / report["file"]
        assert path.name == f"{report['report']}-{size}.{report['format']}"
        assert path.stat().st_size == report["bytes"] > 0
    (valuation,) = [r for r in reports if (r["report"], r["format"]) == ("valuation", "json")]
    holdings = json.loads((root / valuation["file"]).read_text())["holdings"]
    seized = [h for h in holdings if h["seizure_date"]]
    assert seized and all(h["value_usd_at_seizure"] != "not valued" for h in seized)
    engine = create_ledger_engine(summary["database"])  # relative to the demo's directory
    try:
        for role, file in summary["tokens"].items():
            path = root / file
            assert path.stat().st_mode & 0o077 == 0
            record = resolve_token(engine, path.read_text().strip())
            assert record is not None and record.role == role
    finally:
        engine.dispose()


def _check_demo_pricing(pricing: dict[str, Any]) -> None:
    """Valuations recorded now from tickers, a month ago and weekly before now from daily
    closes."""
    now, past = pricing["now"], pricing["past"]
    cutoffs = [v["cutoff"] for v in pricing["history"]]
    assert len(cutoffs) == HISTORY_WEEKS and cutoffs == sorted(cutoffs)
    assert cutoffs[-1] < now["cutoff"] and len(set(cutoffs) | {past["cutoff"]}) == HISTORY_WEEKS + 1
    assert now["created"] and past["created"] and now["seq"] != past["seq"]
    priced = {p["asset"] for p in now["prices"]}
    assert priced == {"bitcoin:BTC", "ethereum:ETH", "ethereum:USDT", "ethereum:USDC"}
    assert now["venues_missing"] == [] and now["unpriced"] == []
    assert Decimal(now["total_usd"]) > 0 and Decimal(now["total_kzt"]) > Decimal(now["total_usd"])
    assert now["fx"]["source"].startswith("sandbox-fixed:")


def _check_demo_fund(fund: dict[str, Any], valuation: dict[str, Any]) -> None:
    """A sale of part of a Fund holding, approved by the example approver, sold in two
    tranches at or above a floor under the valuation's price, settled at its USD/KZT rate."""
    plan = fund["plan"]["almgren_chriss"]
    assert sum(Decimal(n) for n in plan["trades"]) == Decimal(fund["sale"]["amount"])
    assert Decimal(plan["expected_cost_usd"]) >= 0
    sale, cent = fund["sale"], Decimal("0.01")
    assert sale["state"] == "settled" and sale["approvers"] == ["example approver"]
    assert sale["executed_base"] == sale["amount_base"] and len(fund["seqs"]["executed"]) == 2
    (price,) = [p for p in valuation["prices"] if p["asset"] == sale["asset"]]
    floor = Decimal(sale["price_floor_usd"])
    assert floor < Decimal(price["price_usd"])
    fills = sale["fills"]
    assert [f["venue"] for f in fills] == ["binance", "kraken"]
    assert all(Decimal(f["price_usd"]) >= floor for f in fills)
    result = sale["result"]
    proceeds = sum(Decimal(f["amount"]) * Decimal(f["price_usd"]) for f in fills)
    fees = sum(Decimal(f["fee_usd"]) for f in fills)
    assert Decimal(result["proceeds_usd"]) == proceeds.quantize(cent)
    assert Decimal(result["net_proceeds_usd"]) == proceeds.quantize(cent) - fees
    last = result["last_valuation"]
    assert (last["seq"], last["price_usd"]) == (valuation["seq"], price["price_usd"])
    rate = Decimal(valuation["fx"]["rate"])
    assert Decimal(result["proceeds_kzt"]) == (Decimal(result["net_proceeds_usd"]) * rate).quantize(
        cent
    )


def _check_demo_watch(watch: dict[str, Any]) -> int:
    """The watch step: nothing to report first, then the staged thefts caught as critical
    alerts naming their transactions. Returns the entries it appended."""
    assert watch["ok"] and watch["case"] == "AFM-2025-DEMO"
    assert "bitcoin" in watch["chains"]
    if os.environ.get("SEQUESTRA_REQUIRE_ANVIL") == "1":
        assert watch["chains"] == ["bitcoin", "ethereum"] and watch["skipped"] is None
    first, second = watch["runs"]
    assert first["status"] == second["status"] == "ok"
    assert first["alerts"] == 0 and second["alerts"] == len(watch["alerts"])
    thefts = {theft["tx"] for theft in watch["thefts"]}
    assert len(thefts) == len(watch["chains"]) and set(watch["caught"]) == thefts
    critical = [a for a in watch["alerts"] if a["severity"] == "critical"]
    assert {a["chain"] for a in critical} == set(watch["chains"])
    assert all(a["alert"] == "unexpected_outflow" and " left " in a["message"] for a in critical)
    assert {tx for a in critical for tx in a["txs"]} == thefts
    # Wallets and seizures of the demo case (one per chain), its opening, observations, alerts.
    written: int = 2 * len(watch["chains"]) + 1 + watch["observations"] + len(watch["alerts"])
    assert watch["entries"] == written
    return written


def _kinds(entries_path: Path) -> list[str]:
    lines = entries_path.read_text(encoding="utf-8").splitlines()
    return [json.loads(line)["statement"]["kind"] for line in lines]


def _custody_entries(sample: CustodySample) -> int:
    """Wallets, cases, seizures (one twice), the correction, the transfer, the forfeitures,
    the releases and the closing."""
    opened = len(sample.wallets) + len(sample.cases)
    seized = len(sample.seizures) + 2
    return opened + seized + 1 + len(sample.forfeitures) + len(sample.release.items) + 1


def _check_demo_custody(custody: dict[str, Any], sample: CustodySample) -> None:
    assert custody["cases_opened"] == 130 and custody["cases_closed"] == 1
    assert custody["seizures"] == len(sample.seizures)
    gone = {f.case_id for f in sample.forfeitures} | {sample.release.case_id}
    held = [key for key in sample.holdings_base() if key[0] not in gone]
    assert custody["case_holdings"] == len(held)
    fund = custody["fund_holdings"]
    assert fund and all(h["case"] is None and int(h["amount_base"]) > 0 for h in fund)
    assert custody["total_usd"] == str(sample.total_usd())
    assert "not a valuation" in custody["reference_prices"]["note"]
    remaining = sample.remaining_base()
    for row in custody["assets"]:
        held_base = int(row["in_custody_base"]) + int(row["in_fund_base"])
        assert held_base == remaining[row["asset"]]


def test_commands_on_a_database_without_tables_say_what_to_run(
    runner: CliRunner, database_url: str
) -> None:
    for command in (["log"], ["keys", "list"], ["holdings", "--json"]):
        output = run(runner, database_url, *command, code=EXIT_CONFLICT)
        assert "run `sequestra init`" in output
