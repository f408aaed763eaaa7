"""The API's newer read endpoints on SQLite and PostgreSQL: observations, one sale, the
Fund's exposure, the list of checkpoints and one valuation; each against the service
function or the table it serves, with its bounds and its errors in the one format."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from sequestra.chains.watch.tables import OBSERVATION_TABLE, SNAPSHOT_TABLE
from sequestra.config import FundSettings, ScenarioSettings, Settings
from sequestra.fund.queries import current_policy, get_sale
from sequestra.fund.report import fund_report
from sequestra.fund.service import approval_statuses, realised_result, sale_json
from sequestra.fund.stress import StressScenario
from sequestra.ledger.checkpoints import create_checkpoint, list_checkpoints
from sequestra.ledger.db import read_transaction, write_transaction
from sequestra.pricing.tables import PRICE_TABLE, VALUATION_TABLE
from sequestra.service.access.roles import API_ROLES
from sequestra.service.access.tokens import create_token
from sequestra.service.app import create_app
from sequestra.service.deps import PAGE_LIMIT_MAX
from tests.composed import APPLICATION
from tests.custody.conftest import BTC_1, BTC_2, Custody, custody  # noqa: F401
from tests.fund.test_sales import Fund
from tests.service.test_api import Api, _error, _projections, api  # noqa: F401

SNAPSHOT_A = "aa" * 32
SNAPSHOT_B = "bb" * 32
NEW_PATHS = (
    "/api/v1/observations",
    "/api/v1/sales/S-1",
    "/api/v1/exposure",
    "/api/v1/checkpoints",
    "/api/v1/valuations/10001",
)


def _observations(engine: Engine) -> None:
    """Two observations of Bitcoin, the older superseded by the newer (a reorg)."""
    balance = {"chain": "bitcoin", "asset_id": "bitcoin:BTC", "pending_base": "0"}
    block = {"chain": "bitcoin", "network": "mainnet", "block_hash": "00" * 32}
    with write_transaction(engine) as connection:
        connection.execute(
            SNAPSHOT_TABLE.insert(),
            [
                {**balance, "snapshot_sha256": SNAPSHOT_A, "address": BTC_1, "amount_base": "5"},
                {**balance, "snapshot_sha256": SNAPSHOT_A, "address": BTC_2, "amount_base": "7"},
                {**balance, "snapshot_sha256": SNAPSHOT_B, "address": BTC_1, "amount_base": "6"},
            ],
        )
        connection.execute(
            OBSERVATION_TABLE.insert(),
            [
                {**block, "seq": 20_001, "run_id": "run-a", "height": 900_001}
                | {"snapshot_sha256": SNAPSHOT_A, "superseded_by": 20_002},
                {**block, "seq": 20_002, "run_id": "run-b", "height": 900_001}
                | {"snapshot_sha256": SNAPSHOT_B, "superseded_by": None},
            ],
        )


@pytest.fixture
def reads(custody: Custody) -> Iterator[Api]:  # noqa: F811
    fund = Fund(custody)
    fund.append(fund.propose("S-1", "150000000"))
    fund.append(fund.approve("S-1"))
    fund.append(fund.execute("S-1", "50000000"))
    engine = custody.world.engine
    _projections(engine)
    _observations(engine)
    create_checkpoint(engine, custody.world.signer)
    now = datetime.now(UTC)
    tokens = {role: create_token(engine, role, f"{role} desk", now)[0] for role in API_ROLES}
    with TestClient(create_app(engine, APPLICATION), raise_server_exceptions=True) as client:
        yield Api(client, custody, tokens)


def test_observations_newest_first_with_filters(reads: Api) -> None:
    body = reads.get("/api/v1/observations").json()
    rows = [(i["seq"], i["address"], i["amount_base"]) for i in body["items"]]
    # Newest entry first, then by address within one observation.
    assert rows == [(20_002, BTC_1, "6"), (20_001, BTC_2, "7"), (20_001, BTC_1, "5")]
    assert body["next_offset"] is None
    assert body["items"][2]["superseded_by"] == 20_002
    assert body["items"][0]["superseded_by"] is None
    assert body["items"][0]["snapshot_sha256"] == SNAPSHOT_B
    only = reads.get("/api/v1/observations", address=BTC_2).json()["items"]
    assert [(i["seq"], i["amount_base"]) for i in only] == [(20_001, "7")]
    assert len(reads.get("/api/v1/observations", asset="bitcoin:BTC").json()["items"]) == 3
    assert reads.get("/api/v1/observations", asset="ethereum:ETH").json()["items"] == []
    assert reads.get("/api/v1/observations", chain="ethereum").json()["items"] == []
    page = reads.get("/api/v1/observations", limit=2).json()
    assert len(page["items"]) == 2 and page["next_offset"] == 2
    rest = reads.get("/api/v1/observations", limit=2, offset=2).json()
    assert rest["items"] == body["items"][2:] and rest["next_offset"] is None
    _error(reads.get("/api/v1/observations", asset="nochain:XYZ"), 422, "input_refused")
    _error(reads.get("/api/v1/observations", address="a\x00b"), 422, "input_refused")


def test_one_sale_is_what_sale_show_prints(reads: Api) -> None:
    body = reads.get("/api/v1/sales/S-1", role="ministry").json()
    sale = get_sale(reads.engine, "S-1")
    assert sale is not None
    statuses = approval_statuses(sale, current_policy(reads.engine), datetime.now(UTC))
    assert body == sale_json(sale, realised_result(reads.engine, sale), statuses)
    assert body["state"] == "executing" and len(body["approvals"]) == 1
    assert [fill["amount_base"] for fill in body["fills"]] == ["50000000"]
    assert body["result"]["proceeds_usd"] == "30000.00"
    _error(reads.get("/api/v1/sales/S-404"), 404, "not_found")


def test_exposure_is_the_fund_report(reads: Api) -> None:
    body = reads.get("/api/v1/exposure").json()
    report = fund_report(reads.engine)
    assert body == {
        **report.exposure_json(),
        "stress": report.stress_json(),
        "scenarios_from": "defaults",
        "participation": "0.10",
    }
    assert [a["asset"] for a in body["assets"]] == ["bitcoin:BTC"]
    assert body["total_usd"] == str(report.exposure.total_usd)


def test_exposure_uses_the_servers_fund_settings(reads: Api) -> None:
    scenario = ScenarioSettings(name="halving", shocks={"bitcoin:BTC": Decimal("-0.5")})
    fund = FundSettings(scenarios=[scenario], participation=Decimal("0.05"))
    app = create_app(reads.engine, APPLICATION)
    app.state.settings = Settings(fund=fund)
    with TestClient(app) as client:
        auth = {"Authorization": f"Bearer {reads.tokens['auditor']}"}
        body = client.get("/api/v1/exposure", headers=auth).json()
    shocks = (("bitcoin:BTC", scenario.shocks["bitcoin:BTC"]),)
    expected = fund_report(reads.engine, (StressScenario("halving", shocks, None),))
    assert body["scenarios_from"] == "settings" and body["participation"] == "0.05"
    assert body["stress"] == expected.stress_json()


def test_exposure_without_a_valuation_is_a_conflict(api: Api) -> None:  # noqa: F811
    # The `api` world's Fund holds 2 BTC: a world with nothing in the Fund has no report.
    with write_transaction(api.engine) as connection:
        connection.execute(PRICE_TABLE.delete())
        connection.execute(VALUATION_TABLE.delete())
    detail = _error(api.get("/api/v1/exposure"), 409, "conflict")
    assert "valuation" in detail["message"]


def test_checkpoints_newest_first(reads: Api) -> None:
    engine = reads.engine
    reads.custody.append(reads.custody.world.note("after the first checkpoint"))
    create_checkpoint(engine, reads.custody.world.signer)
    with read_transaction(engine) as connection:
        stored = list_checkpoints(connection)
    body = reads.get("/api/v1/checkpoints").json()
    # No trust policy on this server: nothing is shown as cosigned, and it says so.
    unjudged = {
        "cosigned_by": [],
        "rejected": [],
        "published": None,
        "policy": False,
        "untrusted": None,
    }
    expected = [
        {"size": c.size, "root": c.root_hash.hex(), "created_at": c.created_at} | unjudged
        for c in reversed(stored)
    ]
    assert body == {"items": expected, "next_offset": None}
    first = reads.get("/api/v1/checkpoints", limit=1).json()
    assert first["items"][0]["size"] == stored[-1].size and first["next_offset"] == 1
    latest = reads.get("/api/v1/checkpoints/latest").json()
    assert latest["root"] == body["items"][0]["root"]


def test_one_valuation_with_its_prices(reads: Api) -> None:
    body = reads.get("/api/v1/valuations/10001").json()
    (listed,) = reads.get("/api/v1/valuations").json()["items"]
    assert {k: body[k] for k in ("seq", "cutoff", "fx_rate", "fx_source")} == {
        k: listed[k] for k in ("seq", "cutoff", "fx_rate", "fx_source")
    }
    assert body["venues_missing"] == []
    assert body["prices"] == [
        {
            "asset_id": "bitcoin:BTC",
            "price_usd": "61000.5",
            "confidence": "high",
            "venues": ["binance", "kraken"],
            # written straight into the table without the fair-value columns: as a valuation
            # recorded before fair-value levels reads
            "level": None,
            "basis": None,
            "market": None,
            "market_volume": None,
            "price_at": None,
            "median_usd": None,
            "deviation": None,
            "flagged": None,
        }
    ]
    _error(reads.get("/api/v1/valuations/3"), 404, "not_found")
    _error(reads.get("/api/v1/valuations/-1"), 422, "invalid_request")


@pytest.mark.parametrize("path", NEW_PATHS)
def test_every_role_reads_the_new_endpoints(reads: Api, path: str) -> None:
    for role in API_ROLES:
        assert reads.get(path, role=role).status_code == 200, (role, path)
    _error(reads.client.get(path), 401, "unauthenticated")
    _error(reads.client.get(path, headers={"Authorization": "Bearer " + "0" * 64}), 401)


@pytest.mark.parametrize("path", ["/api/v1/observations", "/api/v1/checkpoints"])
def test_new_pages_are_bounded(reads: Api, path: str) -> None:
    detail = _error(reads.get(path, limit=PAGE_LIMIT_MAX + 1), 422, "invalid_request")
    assert "limit" in detail["message"]
    _error(reads.get(path, offset=-1), 422, "invalid_request")
    far: Any = reads.get(path, offset=1_000_000).json()
    assert far == {"items": [], "next_offset": None}
