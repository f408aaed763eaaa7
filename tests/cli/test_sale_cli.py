"""The State Fund's sale workflow through `sequestra fund policy` and `sequestra sale`, on
SQLite and PostgreSQL: from a forfeiture to a settled sale with its realised result, and the
rules' refusals at the command line (exit 2, or 5 for a key without the role; the field
named, nothing recorded)."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from sequestra.errors import EXIT_FORBIDDEN, EXIT_INPUT, EXIT_NOT_FOUND
from sequestra.ledger.canonical import canonical_json
from sequestra.ledger.timefmt import format_timestamp
from tests.cli.treasury import ADMIN_KEY, BTC_1, CASE, KEYS, TX_1, TX_2, Treasury

APPROVER_KEY = ("--key", str(KEYS / "approver.key"))
VALUER_KEY = ("--key", str(KEYS / "valuer.key"))
SEIZED_AT = "2025-03-01T10:00:00Z"
POLICY = (
    "fund policy set --band 100000:1 --band 10000000:2 --approval-valid 86400"
    " --venue binance --venue Kraken"
)
PROPOSE = (
    f"sale propose S-1 --asset BTC --amount 1.5 --wallet {BTC_1.upper()} --venue binance"
    " --venue kraken --method exchange --floor 50000 --reason 'forfeited, emergency-sale rule'"
)
EXECUTE = f"sale execute S-1 --order-id ord-1 --deposit-tx {TX_1}"


def _valuation(t: Treasury, tmp_path: Path, cutoff: str, price_usd: str) -> None:
    """Record a valuation of BTC at `price_usd`, signed by the valuer (sign, then append)."""
    body = {
        "cutoff": cutoff,
        "method": "tickers",
        "price_type": "last",
        "fx": {"rate": "520", "on": cutoff[:10], "published_on": cutoff[:10], "source": "test"},
        "prices": [
            {"asset": "bitcoin:BTC", "price_usd": price_usd, "confidence": "high", "venues": ["x"]}
        ],
        "quotes_sha256": hashlib.sha256(canonical_json([])).hexdigest(),
        "quotes_count": 0,
    }
    body_path = tmp_path / f"valuation-{cutoff[:10]}.json"
    body_path.write_text(json.dumps(body), encoding="utf-8")
    signed = t.run("sign", "--kind", "valuation.recorded", "--body", str(body_path), *VALUER_KEY)
    statement_path = body_path.with_suffix(".jsonl")
    statement_path.write_text(signed, encoding="utf-8")
    t.run("append", str(statement_path))


def _fund(runner: CliRunner, url: str, tmp_path: Path, officer_approves: bool = False) -> Treasury:
    """A ledger whose State Fund holds 2 BTC (seized 2025-03-01) in BTC_1, valued on the
    seizure date and an hour ago, and a fund policy; the officer may also approve."""
    t = Treasury(runner, url)
    t.run(
        "init",
        "--origin",
        "fund.sequestra.example/log",
        "--admin",
        str(KEYS / "admin.pub"),
        "--ledger-key",
        str(KEYS / "ledger.key"),
    )
    officer_roles = ["--role", "treasury-officer"] + (["--role", "approver"] * officer_approves)
    for name, roles in (
        ("treasury-officer", officer_roles),
        ("approver", ["--role", "approver"]),
        ("valuer", ["--role", "valuer"]),
    ):
        t.run("keys", "enroll", str(KEYS / f"{name}.pub"), *roles, *ADMIN_KEY)
    t.open_case()
    t.add_wallet(BTC_1, "bitcoin", "cold-1")
    t.seq(f"seize --case {CASE} --asset BTC --amount 2 --wallet {BTC_1} --seized-at {SEIZED_AT}")
    t.seq(f"forfeit --case {CASE} --court 'District Court' --decision D-9 --date 2025-06-01")
    _valuation(t, tmp_path, "2025-03-01T12:00:00Z", "40000.5")
    hour_ago = format_timestamp(datetime.now(UTC) - timedelta(hours=1))
    _valuation(t, tmp_path, hour_ago, "59000")
    t.write(POLICY, ADMIN_KEY)
    return t


def _show(t: Treasury, sale: str = "S-1") -> Any:
    return t.json(f"sale show {sale}")


def test_from_forfeiture_to_a_settled_sale(
    runner: CliRunner, database_url: str, tmp_path: Path
) -> None:
    t = _fund(runner, database_url, tmp_path)
    policy = t.json("fund policy show")
    assert policy["bands"] == [
        {"up_to_usd": "100000", "approvals_min": 1},
        {"up_to_usd": "10000000", "approvals_min": 2},
    ]
    assert (policy["approval_valid_s"], policy["venues"]) == (86400, ["binance", "kraken"])
    out = " ".join(t.write(PROPOSE).split())
    assert "sale S-1 proposed at seq" in out and "needs 1 approval(s)" in out
    assert [s["sale"] for s in t.json("sale list --open")] == ["S-1"]
    assert _show(t)["state"] == "proposed" and _show(t)["wallet"] == BTC_1
    approved = t.write("sale approve S-1 --note 'within the band'", APPROVER_KEY)
    assert "approved at seq" in approved and "1 of 1 needed" in approved
    t.write(f"{EXECUTE} --venue binance --amount 0.5 --price 60000 --fee 12.50")
    assert _show(t)["state"] == "executing"
    t.write(
        f"sale execute S-1 --venue kraken --amount 1 --price 61000.25 --fee 10 --order-id ord-2"
        f" --deposit-tx {TX_2.upper()} --at 2026-01-05T10:00:00Z"
    )
    shown = _show(t)
    assert shown["state"] == "executed" and shown["executed"] == "1.5"
    assert [f["deposit_tx"] for f in shown["fills"]] == [TX_1, TX_2]
    (approval,) = shown["approvals"]
    assert approval["label"] == "approver" and approval["valid_now"]
    assert shown["approvals_valid_now"] == 1
    out = t.write(
        "sale settle S-1 --proceeds-kzt 46592000 --budget-account 'KZ00 budget' --payment-ref PP-7"
    )
    assert "settled at seq" in out
    shown = _show(t)
    assert shown["state"] == "settled" and shown["closing"]["payment_ref"] == "PP-7"
    _check_result(shown["result"])
    assert t.json("sale list --open") == []
    assert [s["state"] for s in t.json("sale list --state settled")] == ["settled"]
    (left,) = t.json("holdings --fund")
    assert left["amount"] == "0.5"
    text = t.read("sale show S-1")
    assert "realised: 1.5 BTC for USD 91000.25" in text and "KZT 46592000" in text
    assert json.loads(t.read("verify --json"))["ok"]


def _check_result(result: dict[str, Any]) -> None:
    """0.5 BTC at 60,000 and 1 BTC at 61,000.25: USD 91,000.25, fees 22.50. Last valuation
    (an hour before the last fill) 59,000; on the seizure date 40,000.5."""
    assert result == {
        "sold_base": "150000000",
        "sold": "1.5",
        "proceeds_usd": "91000.25",
        "fees_usd": "22.50",
        "net_proceeds_usd": "90977.75",
        "average_price_usd": "60666.83",  # 60,666.8333...
        "proceeds_kzt": "46592000",
        "last_valuation": {
            "status": "valued",
            "seq": result["last_valuation"]["seq"],
            "cutoff": result["last_valuation"]["cutoff"],
            "price_usd": "59000",
            "value_usd": "88500.00",
            "difference_usd": "2500.25",
            "net_difference_usd": "2477.75",
        },
        "at_seizure": {
            "date": "2025-03-01",
            "seizures": 1,
            "status": "valued",
            "seq": result["at_seizure"]["seq"],
            "cutoff": "2025-03-01T12:00:00Z",
            "price_usd": "40000.5",
            "value_usd": "60000.75",
            "difference_usd": "30999.50",
            "net_difference_usd": "30977.00",
        },
    }


def test_refusals_leave_the_ledger_as_it_was(
    runner: CliRunner, database_url: str, tmp_path: Path
) -> None:
    t = _fund(runner, database_url, tmp_path, officer_approves=True)
    t.refused(
        PROPOSE.replace("--amount 1.5", "--amount 2.5"),
        "amount_base: expected at most 2 BTC (the Fund holds 2 BTC",
    )
    t.refused(
        PROPOSE.replace("--venue kraken", "--venue okx"),
        "venues[1]: expected a licensed venue (binance, kraken), got okx",
    )
    t.refused(PROPOSE.replace("--floor 50000", "--floor 50,000"), "price_floor_usd: expected")
    t.refused(PROPOSE.replace("--amount 1.5", "--amount 0.123456789"), "amount: expected")
    t.write(PROPOSE)
    t.refused(
        PROPOSE.replace("S-1", "S-2").replace("--amount 1.5", "--amount 1"),
        "amount_base: expected at most 0.5 BTC (the Fund holds 2 BTC",
    )
    t.refused(
        f"{EXECUTE} --venue binance --amount 0.5 --price 60000",
        "sale: expected a sale that is approved or executing, got 'S-1', proposed",
    )
    t.refused(
        "sale approve S-1 --note mine",
        "issuer: expected an approver other than the proposer",
    )
    t.write("sale approve S-1 --note ok", APPROVER_KEY)
    t.refused(
        "sale approve S-1 --note again",
        "issuer: expected an approver who has not approved this sale",
        APPROVER_KEY,
    )
    t.refused(
        f"{EXECUTE} --venue binance --amount 0.5 --price 49999.99",
        "price_usd: expected at least the floor USD 50000, got USD 49999.99",
    )
    t.refused(
        f"{EXECUTE} --venue okx --amount 0.5 --price 60000",
        "venue: expected a venue both licensed now (binance, kraken)",
    )
    t.refused(
        f"{EXECUTE} --venue binance --amount 1.6 --price 60000",
        "amount_base: expected at most 1.5 BTC, what is left of the sale (approved 1.5 BTC,"
        " sold 0 BTC), got 1.6 BTC (160000000 base units)",
    )
    t.refused(f"{EXECUTE} --venue binance --amount 1 --price -1", "price_usd: expected")
    t.refused(
        f"sale execute S-9 --venue binance --amount 1 --price 1 --order-id o --deposit-tx {TX_1}",
        "sale: expected a sale proposed with `sequestra sale propose`",
    )
    t.refused(
        "sale settle S-1 --proceeds-kzt 1 --budget-account KZ00 --payment-ref PP-1",
        "sale: expected a sale that is executed or cancelled",
    )
    t.refused(
        "fund policy set --band 1000:1 --band 100:2 --approval-valid 86400 --venue x",
        "bands: expected ascending",
        ADMIN_KEY,
    )
    t.refused(
        POLICY, "kind 'fund.policy.recorded' needs one of admin", APPROVER_KEY, EXIT_FORBIDDEN
    )
    assert _show(t)["state"] == "approved"


@pytest.mark.parametrize(
    ("line", "code", "says"),
    [
        ("sale show S-9", EXIT_NOT_FOUND, "error: sale: no sale named 'S-9'"),
        ("sale list --state sold", EXIT_INPUT, "error: state: expected"),
    ],
)
def test_reading_unknown_sales_and_states(
    runner: CliRunner, database_url: str, line: str, code: int, says: str
) -> None:
    t = Treasury.create(runner, database_url)
    out = " ".join(t.read(line, code=code).split())
    assert out.startswith(says)
    assert t.json("fund policy show") is None
