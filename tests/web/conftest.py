"""A world for the page tests: cases (one with a hostile description), holdings, two
valuations, open and acknowledged alerts, a forfeiture into the State Fund, a sale with an
approval and a fill, a checkpoint, and a token for every API role."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from sequestra.chains.watch.tables import ALERT_TABLE
from sequestra.ledger.checkpoints import create_checkpoint
from sequestra.ledger.db import write_transaction
from sequestra.ledger.keys import SigningKey
from sequestra.pricing.run import ValuationResult
from sequestra.service.access.roles import API_ROLES
from sequestra.service.access.tokens import create_token
from sequestra.service.app import create_app
from tests.composed import APPLICATION
from tests.custody.conftest import Custody, custody  # noqa: F401
from tests.fund.test_sales import Fund
from tests.pricing.test_run import valuer_key  # noqa: F401
from tests.reports.test_valuation_report import _revalue
from tests.service.test_api import _alert

HOSTILE_CASE = "AFM-2025-0666"
HOSTILE_TEXT = '<script>alert("pwned")</script><img src=x onerror=alert(1)> & co'
SALE = "S-1"


@dataclass
class World:
    custody: Custody
    tokens: dict[str, str]
    valuations: list[ValuationResult]

    @property
    def engine(self) -> Engine:
        return self.custody.world.engine


def build_world(custody: Custody, valuer_key: SigningKey) -> World:  # noqa: F811
    """Fill the custody fixture's ledger with everything the pages show."""
    fund = Fund(custody)  # forfeits 2 BTC into the State Fund
    fund.append(fund.propose(SALE, "150000000"))
    fund.append(fund.approve(SALE))
    fund.append(fund.execute(SALE, "50000000"))
    hostile = {
        "case": HOSTILE_CASE,
        "agency": "AFM",
        "legal_basis": "CC RK art. 214",
        "description": HOSTILE_TEXT,
    }
    custody.append(custody.sign("case.opened", hostile))
    valuations = [
        _revalue(custody, valuer_key, 1, btc="95010"),
        _revalue(custody, valuer_key, 2, btc="90000"),
    ]
    engine = custody.world.engine
    with write_transaction(engine) as connection:
        connection.execute(
            ALERT_TABLE.insert(),
            [_alert(10_001, None), _alert(10_002, 10_003), _alert(10_004, None)],
        )
    create_checkpoint(engine, custody.world.signer, custody.world.now)
    now = datetime.now(UTC)
    tokens = {role: create_token(engine, role, f"{role} desk", now)[0] for role in API_ROLES}
    return World(custody, tokens, valuations)


@dataclass
class Site:
    client: TestClient
    world: World

    @property
    def engine(self) -> Engine:
        return self.world.engine

    def login(self, role: str = "auditor") -> Any:
        return self.client.post(
            "/login", data={"token": self.world.tokens[role]}, follow_redirects=False
        )

    def page(self, path: str, **params: Any) -> Any:
        response = self.client.get(path, params=params, follow_redirects=False)
        assert response.status_code == 200, (path, response.status_code, response.text[:500])
        assert response.headers["content-type"].startswith("text/html")
        return response.text


@pytest.fixture
def web_world(custody: Custody, valuer_key: SigningKey) -> World:  # noqa: F811
    return build_world(custody, valuer_key)


@pytest.fixture
def site(web_world: World) -> Iterator[Site]:
    app = create_app(web_world.engine, APPLICATION)
    with TestClient(app, raise_server_exceptions=True) as client:
        yield Site(client, web_world)
