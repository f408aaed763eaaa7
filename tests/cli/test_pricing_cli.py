"""`sequestra prices|revalue|valuations` against the sandbox venues through configuration,
on both databases: a valuation recorded once per cutoff, and a run with every venue down
that exits 1 with nothing written."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from sequestra.errors import EXIT_UNAVAILABLE
from sequestra_sandbox.venues import Outage, Scenario, VenueFault, running_venues
from sequestra_sandbox.venues.server import VenueServers
from tests.cli.treasury import ADMIN_KEY, BTC_1, CASE, KEYS, OFFICER_KEY, Treasury

VENUES = ("binance", "kraken", "okx")
VENUE_TOML = {
    "binance": 'options = { defaultType = "spot", fetchMarkets = { types = ["spot"] },'
    " fetchMargins = false, fetchCurrencies = false, adjustForTimeDifference = false }",
    "kraken": "options = { adjustForTimeDifference = false }",
    "okx": 'options = { defaultType = "spot", fetchMarkets = { types = ["spot"] },'
    " adjustForTimeDifference = false }",
}


@pytest.fixture
def servers() -> Iterator[VenueServers]:
    now_ms = int(datetime.now(UTC).timestamp() * 1000)
    with running_venues(Scenario.starting(now_ms, seed=3), VENUES) as running:
        yield running


def _config(tmp_path: Path, servers: VenueServers) -> Path:
    venues = "".join(
        f'\n[[pricing.venues]]\nid = "{v}"\napi_base_url = "{servers.url(v)}"\n'
        f"rate_limit_ms = 0\ntimeout_ms = 3000\n{VENUE_TOML[v]}\n"
        for v in VENUES
    )
    path = tmp_path / "sequestra.toml"
    path.write_text(
        f"""
[pricing]
fx_source = "fixed"
fx_fixed_rate = "512.34"
key_file = "{KEYS / "valuer.key"}"
{venues}""",
        encoding="utf-8",
    )
    return path


def test_revalue_records_once_per_cutoff_and_fails_cleanly(
    runner: CliRunner, database_url: str, tmp_path: Path, servers: VenueServers
) -> None:
    treasury = Treasury.create(runner, database_url, _config(tmp_path, servers))
    treasury.run("keys", "enroll", str(KEYS / "valuer.pub"), "--role", "valuer", *ADMIN_KEY)
    treasury.run("case", "open", CASE, "--agency", "AFM", "--basis", "art. 214", *OFFICER_KEY)
    treasury.run("wallet", "add", BTC_1, "--chain", "bitcoin", "--label", "cold-1", *OFFICER_KEY)
    treasury.run(
        "seize", "--case", CASE, "--asset", "BTC", "--amount", "2", "--wallet", BTC_1, *OFFICER_KEY
    )
    prices = json.loads(treasury.read("prices --symbol BTC --json"))
    (btc,) = prices["prices"]
    assert btc["confidence"] == "high" and prices["venues_missing"] == []
    first = json.loads(treasury.read("revalue --json"))
    assert first["created"] and first["holdings"] == 1 and first["venue_calls"] > 0
    assert [p["asset"] for p in first["prices"]] == ["bitcoin:BTC"]
    at = first["cutoff"].replace(".000000Z", "Z")
    again = json.loads(treasury.read(f"revalue --at {at} --json"))
    assert (again["created"], again["seq"], again["total_usd"]) == (
        False,
        first["seq"],
        first["total_usd"],
    )
    listed = json.loads(treasury.read("valuations --json"))
    assert [v["seq"] for v in listed] == [first["seq"]]
    assert listed[0]["fx_source"] == "fixed:512.34"
    scenario = servers.scenario
    for venue in VENUES:
        scenario = scenario.with_venue_fault(VenueFault(venue, outage=Outage.UNAVAILABLE))
    servers.set_scenario(scenario)
    size = treasury.json("verify")["size"]
    time.sleep(1.1)  # cutoffs are whole seconds: the next run is a new cutoff
    output = treasury.run("revalue", code=EXIT_UNAVAILABLE)
    assert "every venue failed" in output and "the last valuation stands" in output
    assert treasury.json("verify")["size"] == size
