"""`sequestra fund marketdata|exposure|stress|liquidity` on both databases, from the sandbox
venues' daily candles and a recorded valuation."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

from typer.testing import CliRunner

from sequestra.errors import EXIT_CONFLICT
from sequestra_sandbox.venues.server import VenueServers
from tests.cli.test_pricing_cli import _config, servers  # noqa: F401  (the venues fixture)
from tests.cli.treasury import ADMIN_KEY, BTC_1, CASE, ETH_1, KEYS, OFFICER_KEY, Treasury


def test_exposure_stress_and_liquidity_of_the_fund(
    runner: CliRunner,
    database_url: str,
    tmp_path: Path,
    servers: VenueServers,  # noqa: F811
) -> None:
    treasury = Treasury.create(runner, database_url, _config(tmp_path, servers))
    treasury.run("keys", "enroll", str(KEYS / "valuer.pub"), "--role", "valuer", *ADMIN_KEY)
    treasury.run("case", "open", CASE, "--agency", "AFM", "--basis", "art. 214", *OFFICER_KEY)
    treasury.run("wallet", "add", BTC_1, "--chain", "bitcoin", "--label", "c1", *OFFICER_KEY)
    treasury.run("wallet", "add", ETH_1, "--chain", "ethereum", "--label", "c2", *OFFICER_KEY)
    for asset, amount, wallet in (("BTC", "2", BTC_1), ("ETH", "30", ETH_1)):
        treasury.run(
            "seize",
            "--case",
            CASE,
            "--asset",
            asset,
            "--amount",
            amount,
            "--wallet",
            wallet,
            *OFFICER_KEY,
        )
    treasury.run(
        "forfeit",
        "--case",
        CASE,
        "--court",
        "Astana court",
        "--decision",
        "2-1/2025",
        "--date",
        "2025-06-01",
        *OFFICER_KEY,
    )
    exposure_before = treasury.run("fund", "exposure", code=EXIT_CONFLICT)
    assert "run `sequestra revalue` first" in exposure_before
    valuation = json.loads(treasury.read("revalue --json"))
    stored = json.loads(treasury.read("fund marketdata --days 200 --json"))
    assert stored["symbols"] == ["BTC", "ETH"] and stored["rows"] > 400
    body = json.loads(treasury.read("fund exposure --json"))
    prices = {p["asset"]: Decimal(p["price_usd"]) for p in valuation["prices"]}
    lines = {line["asset"]: line for line in body["assets"]}
    assert Decimal(lines["bitcoin:BTC"]["value_usd"]) == (2 * prices["bitcoin:BTC"]).quantize(
        Decimal("0.01")
    )
    assert body["total_usd"] == valuation["total_usd"]
    assert 0.5 <= body["herfindahl_index"] <= 1 and body["without_history"] == []
    risk = body["risk"]
    assert risk["observations"] >= 100
    var_95 = [f for f in risk["figures"] if f["level"] == 0.95 and f["horizon_days"] == 1]
    assert all(Decimal(f["var_usd"]) > 0 for f in var_95) and len(var_95) >= 2
    crash = {s["scenario"]: s for s in json.loads(treasury.read("fund stress --json"))}
    btc_loss = {x["asset"]: x for x in crash["crypto-crash"]["losses"]}["bitcoin:BTC"]
    assert Decimal(btc_loss["loss_usd"]) == Decimal(lines["bitcoin:BTC"]["value_usd"]) / 2
    liquidity = json.loads(treasury.read("fund liquidity --json"))
    assert set(liquidity) == {"bitcoin:BTC", "ethereum:ETH"}
    assert Decimal(liquidity["bitcoin:BTC"]["days_to_exit"]) > 0
    plan = json.loads(
        treasury.read("sale plan --asset BTC --amount 1.5 --tranches 5 --risk-aversion 0 --json")
    )
    trades = [Decimal(n) for n in plan["almgren_chriss"]["trades"]]
    assert sum(trades) == Decimal("1.5") and len(set(trades)) == 1  # lambda 0: linear
    eager = json.loads(
        treasury.read("sale plan --asset BTC --amount 1.5 --tranches 5 --risk-aversion 1 --json")
    )
    first = Decimal(eager["almgren_chriss"]["trades"][0])
    assert first > trades[0] and Decimal(eager["almgren_chriss"]["cost_std_usd"]) >= 0
    assert sum(Decimal(n) for n in plan["twap"]["trades"]) == Decimal("1.5")
    refused = treasury.run("sale", "plan", "--asset", "BTC", "--amount", "0", code=2)
    assert "amount" in refused
    walks = json.loads(treasury.read("fund liquidity --book --json"))["book"]
    btc_walks = [w for w in walks["bitcoin:BTC"] if "error" not in w]
    assert len(btc_walks) == 3, walks["bitcoin:BTC"]
    for walk in btc_walks:
        assert Decimal(walk["filled"]) == 2 and walk["deep_enough"] is True
        assert Decimal(walk["average_price_usd"]) <= Decimal(walk["best_bid_usd"])
        assert Decimal(walk["shortfall_usd"]) >= 0
    assert Decimal(liquidity["bitcoin:BTC"]["impact_cost_usd"]) > 0
    # Without a Fund policy the volume counts every venue and says so; the plan too.
    assert liquidity["bitcoin:BTC"]["volume_licensed"] is False
    assert "no Fund policy recorded" in liquidity["bitcoin:BTC"]["volume_note"]
    assert plan["volume_licensed"] is False and plan["volume_note"]
    assert not plan["taker_fee_source"].startswith("default")  # the venues' ccxt markets
    flat = " ".join(treasury.read("fund exposure").split())
    assert body["moment"] in flat and "ES rests on" in flat
    flat = " ".join(treasury.read("fund liquidity").split())
    assert "no Fund policy recorded" in flat and "square-root impact" in flat
    flat = " ".join(treasury.read("sale plan --asset BTC --amount 1.5 --tranches 5").split())
    assert "Almgren-Chriss linear impact" in flat and "taker fee" in flat
    treasury.run(
        "fund",
        "policy",
        "set",
        "--band",
        "10000000:1",
        "--approval-valid",
        "86400",
        "--venue",
        "kraken",
        *ADMIN_KEY,
    )
    licensed = json.loads(treasury.read("fund liquidity --json"))["bitcoin:BTC"]
    assert licensed["volume_venues"] == ["kraken"] and licensed["volume_licensed"] is True
    assert Decimal(licensed["adv_usd"]) < Decimal(liquidity["bitcoin:BTC"]["adv_usd"])
    assert licensed["taker_fee_source"].startswith("kraken:")
    config = tmp_path / "sequestra.toml"
    config.write_text(
        config.read_text(encoding="utf-8")
        + '\n[[fund.scenarios]]\nname = "btc-only"\nshocks = { "bitcoin:BTC" = "-0.25" }\n'
        + 'others = "0"\n',
        encoding="utf-8",
    )
    (only,) = json.loads(treasury.read("fund stress --json"))
    assert only["scenario"] == "btc-only"
    assert Decimal(only["total_loss_usd"]) == (
        Decimal(lines["bitcoin:BTC"]["value_usd"]) / 4
    ).quantize(Decimal("0.01"))
