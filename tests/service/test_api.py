"""The HTTP API on SQLite and PostgreSQL: tokens and roles, every read endpoint against the
service function it serves, pagination bounds, the body limit, and posting statements."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from sequestra.chains.watch.queries import holdings_json, list_alerts
from sequestra.chains.watch.tables import ALERT_TABLE
from sequestra.custody.details import case_seizures, history_json
from sequestra.custody.queries import case_json, holding_history, list_cases, list_holdings
from sequestra.fund.queries import list_sales
from sequestra.ledger.db import write_transaction
from sequestra.ledger.signer import SignerStore
from sequestra.pricing.tables import PRICE_TABLE, VALUATION_TABLE
from sequestra.service.access.roles import API_ROLES, STATEMENT_ROLES
from sequestra.service.access.tokens import (
    TokenError,
    create_token,
    hash_token,
    list_tokens,
    revoke_token,
)
from sequestra.service.api.errors import BODY_BYTES_MAX
from sequestra.service.app import create_app
from sequestra.service.deps import PAGE_LIMIT_MAX
from sequestra.service.trust import ServiceTrust
from tests.composed import APPLICATION
from tests.custody.conftest import BTC_1, Custody, custody  # noqa: F401
from tests.fund.test_sales import Fund

READ_PATHS = (
    "/api/v1/cases",
    "/api/v1/cases/AFM-2025-0001",
    "/api/v1/holdings",
    "/api/v1/holdings/1/history",
    "/api/v1/alerts",
    "/api/v1/valuations",
    "/api/v1/sales",
    "/api/v1/entries",
)


@dataclass
class Api:
    client: TestClient
    custody: Custody
    tokens: dict[str, str]

    @property
    def engine(self) -> Engine:
        return self.custody.world.engine

    def get(self, path: str, role: str = "auditor", **params: Any) -> Any:
        headers = {"Authorization": f"Bearer {self.tokens[role]}"}
        return self.client.get(path, headers=headers, params=params)

    def post(self, body: bytes, role: str = "treasury-officer") -> Any:
        headers = {
            "Authorization": f"Bearer {self.tokens[role]}",
            "Content-Type": "application/json",
        }
        return self.client.post("/api/v1/statements", content=body, headers=headers)


def _alert(seq: int, acknowledged_seq: int | None) -> dict[str, Any]:
    return {
        "seq": seq,
        "run_id": f"run-{seq}",
        "kind": "balance_mismatch",
        "severity": "critical",
        "chain": "bitcoin",
        "address": BTC_1,
        "asset_id": "bitcoin:BTC",
        "expected_base": "200000000",
        "observed_base": "100000000",
        "pending_base": "0",
        "height": 900_000 + seq,
        "block_hash": "00" * 32,
        "message": "less on chain than recorded",
        "raised_at": "2026-11-01T00:00:00Z",
        "acknowledged_seq": acknowledged_seq,
        "acknowledged_note": None if acknowledged_seq is None else "explained",
    }


def _projections(engine: Engine) -> None:
    """Alerts and valuations as their projections hold them (the API only reads them)."""
    valuation = {
        "seq": 10_001,
        "cutoff": "2026-11-01T00:00:00Z",
        "method": "median",
        "price_type": "last",
        "fx_rate": "512.34",
        "fx_on": "2026-11-01",
        "fx_published_on": "2026-10-31",
        "fx_source": "National Bank",
        "quotes_sha256": "11" * 32,
        "unpriced": 0,
        "venues_missing": "",
    }
    price = {
        "seq": 10_001,
        "asset_id": "bitcoin:BTC",
        "price_usd": "61000.5",
        "confidence": "high",
        "venues": "binance,kraken",
    }
    with write_transaction(engine) as connection:
        connection.execute(
            ALERT_TABLE.insert(),
            [_alert(10_001, None), _alert(10_002, 10_003), _alert(10_004, None)],
        )
        connection.execute(VALUATION_TABLE.insert().values(**valuation))
        connection.execute(PRICE_TABLE.insert().values(**price))


@pytest.fixture
def api(custody: Custody) -> Iterator[Api]:  # noqa: F811
    fund = Fund(custody)
    fund.append(fund.propose("S-1", "150000000"))
    custody.append(custody.case("AFM-2025-0002"), custody.seize("5000", case_id="AFM-2025-0002"))
    engine = custody.world.engine
    _projections(engine)
    now = datetime.now(UTC)
    tokens = {role: create_token(engine, role, f"{role} desk", now)[0] for role in API_ROLES}
    with TestClient(create_app(engine, APPLICATION), raise_server_exceptions=True) as client:
        yield Api(client, custody, tokens)


def _error(response: Any, status: int, code: str | None = None) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message"}
    if code is not None:
        assert body["error"]["code"] == code
    detail: dict[str, Any] = body["error"]
    return detail


# --- reading ---------------------------------------------------------------------------------


def test_cases_match_the_service(api: Api) -> None:
    expected = [case_json(case) for case in list_cases(api.engine)]
    assert len(expected) == 2
    assert api.get("/api/v1/cases").json() == {"items": expected, "next_offset": None}
    first = api.get("/api/v1/cases", limit=1).json()
    assert first == {"items": expected[:1], "next_offset": 1}
    second = api.get("/api/v1/cases", limit=1, offset=1).json()
    assert second == {"items": expected[1:], "next_offset": None}
    one = api.get("/api/v1/cases/AFM-2025-0001", role="ministry").json()
    seizures = one.pop("seizures")
    assert one == expected[0]
    assert seizures == [s.to_json() for s in case_seizures(api.engine, "AFM-2025-0001")]
    assert seizures and all(s["seized_at"] and s["recorded_at"] for s in seizures)
    opened = [case_json(case) for case in list_cases(api.engine, open_only=True)]
    assert api.get("/api/v1/cases", open="true").json()["items"] == opened
    _error(api.get("/api/v1/cases/NOPE"), 404, "not_found")


def test_holdings_match_the_service(api: Api) -> None:
    expected = holdings_json(api.engine, list_holdings(api.engine))
    assert len(expected) == 2
    assert api.get("/api/v1/holdings").json()["items"] == expected
    # The open critical alert 10001 (10002 was acknowledged) puts BTC_1's BTC in doubt: both
    # cases' holdings there.
    assert {(h["wallet"], h["in_doubt"]["alert_seq"]) for h in expected} == {(BTC_1, 10_001)}
    in_case = holdings_json(api.engine, list_holdings(api.engine, case_id="AFM-2025-0002"))
    assert api.get("/api/v1/holdings", case="AFM-2025-0002").json()["items"] == in_case
    assert api.get("/api/v1/holdings", asset="bitcoin:BTC").json()["items"] == expected
    assert api.get("/api/v1/holdings", asset="ethereum:ETH").json()["items"] == []
    _error(api.get("/api/v1/holdings", asset="nochain:XYZ"), 422, "input_refused")
    first = api.get("/api/v1/holdings", limit=1).json()
    assert first == {"items": expected[:1], "next_offset": 1}
    second = api.get("/api/v1/holdings", limit=1, offset=1).json()
    assert second == {"items": expected[1:], "next_offset": None}
    assert api.get("/api/v1/holdings", offset=2).json() == {"items": [], "next_offset": None}


def test_holding_history_matches_the_service(api: Api) -> None:
    holding_id = list_holdings(api.engine)[0].holding_id
    found = holding_history(api.engine, holding_id)
    assert found is not None
    holding, lines = found
    body = api.get(f"/api/v1/holdings/{holding_id}/history").json()
    assert body["holding"] == holdings_json(api.engine, [holding])[0]
    assert body["items"] == history_json(api.engine, holding, lines)
    assert all("happened_at" in item and "evidence" in item for item in body["items"])
    assert body["next_offset"] is None
    _error(api.get("/api/v1/holdings/999999/history"), 404, "not_found")
    _error(api.get("/api/v1/holdings/0/history"), 422, "invalid_request")


def test_alerts_match_the_service(api: Api) -> None:
    every = api.get("/api/v1/alerts").json()
    assert every["items"] == list_alerts(api.engine)
    assert [alert["seq"] for alert in every["items"]] == [10_004, 10_002, 10_001]
    opened = api.get("/api/v1/alerts", open="true").json()["items"]
    assert opened == list_alerts(api.engine, open_only=True)
    assert {alert["status"] for alert in opened} == {"open"}
    page = api.get("/api/v1/alerts", limit=2).json()
    assert len(page["items"]) == 2 and page["next_offset"] == 2


def test_valuations_and_sales_match_what_is_recorded(api: Api) -> None:
    (valuation,) = api.get("/api/v1/valuations").json()["items"]
    assert valuation["seq"] == 10_001 and valuation["fx_rate"] == "512.34"
    assert [(p["asset_id"], p["price_usd"], p["confidence"]) for p in valuation["prices"]] == [
        ("bitcoin:BTC", "61000.5", "high")
    ]
    assert valuation == api.get("/api/v1/valuations/10001").json()
    sales = api.get("/api/v1/sales").json()
    assert sales == {
        "items": [sale.summary_json() for sale in list_sales(api.engine)],
        "next_offset": None,
    }
    assert sales["items"][0]["amount_base"] == "150000000"
    assert api.get("/api/v1/sales", state="settled").json()["items"] == []
    _error(api.get("/api/v1/sales", state="bogus"), 422, "input_refused")


def test_entries_page_through_the_ledger(api: Api) -> None:
    size = api.custody.size()
    stored = api.custody.world.ledger.read(0, size)
    first = api.get("/api/v1/entries", limit=3).json()
    assert [item["seq"] for item in first["items"]] == [0, 1, 2]
    assert first["next_from_seq"] == 3
    assert first["items"][1]["leaf_hash"] == stored[1].leaf_hash.hex()
    assert first["items"][1]["entry"] == stored[1].to_json()
    rest = api.get("/api/v1/entries", from_seq=3, limit=PAGE_LIMIT_MAX).json()
    assert len(rest["items"]) == size - 3 and rest["next_from_seq"] is None


# --- bounds and errors -------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/api/v1/cases", "/api/v1/entries", "/api/v1/alerts"])
def test_a_page_above_the_maximum_is_refused(api: Api, path: str) -> None:
    detail = _error(api.get(path, limit=PAGE_LIMIT_MAX + 1), 422, "invalid_request")
    assert "limit" in detail["message"]
    _error(api.get(path, limit=0), 422, "invalid_request")
    assert api.get(path, limit=PAGE_LIMIT_MAX).status_code == 200


def test_every_error_has_the_one_format(api: Api) -> None:
    _error(api.get("/api/v1/nowhere"), 404)
    _error(api.client.delete("/api/v1/cases"), 405)
    _error(api.get("/api/v1/cases", offset=-1), 422, "invalid_request")
    _error(api.post(b"{not json"), 422, "input_refused")


def test_an_oversized_body_is_refused(api: Api) -> None:
    size = api.custody.size()
    body = b'{"statement": "' + b"x" * BODY_BYTES_MAX + b'"}'
    _error(api.post(body), 413, "body_too_large")

    def chunks() -> Iterator[bytes]:  # no Content-Length: counted as it arrives
        yield b"x" * BODY_BYTES_MAX
        yield b"x" * 1024

    headers = {"Authorization": f"Bearer {api.tokens['admin']}"}
    response = api.client.post("/api/v1/statements", content=chunks(), headers=headers)
    _error(response, 413, "body_too_large")
    assert api.custody.size() == size


def test_health_stays_open(api: Api) -> None:
    body = api.client.get("/health").json()
    assert body["status"] == "ok" and body["ledger_size"] == api.custody.size()


def test_health_fails_while_a_fork_alarm_is_open(api: Api, tmp_path: Path) -> None:
    store = SignerStore(tmp_path / "signer.state.json")
    trust = ServiceTrust(alarms=store)
    with TestClient(create_app(api.engine, APPLICATION, trust=trust)) as client:
        assert client.get("/health").status_code == 200
        store.record_alarm({"at": "2026-12-07T00:00:00Z", "kind": "fork", "reason": "rolled back"})
        response = client.get("/health")
        assert response.status_code == 503
        body = response.json()
        assert body["status"] == "fork_alarm" and body["fork_alarms"] == 1
        assert body["latest_alarm"]["reason"] == "rolled back"
        client.post("/login", data={"token": api.tokens["auditor"]})
        assert "Fork alarm" in client.get("/audit").text
        assert "Fork alarm" in client.get("/").text
        assert store.resolve_alarms("restored from backup", "2026-12-07T01:00:00Z") == 1
        assert client.get("/health").status_code == 200
        assert "Fork alarm" not in client.get("/audit").text


# --- tokens and roles ------------------------------------------------------------------------


@pytest.mark.parametrize("path", READ_PATHS)
def test_every_role_reads_and_nobody_without_a_token(api: Api, path: str) -> None:
    for role in API_ROLES:
        assert api.get(path, role=role).status_code == 200, (role, path)
    _error(api.client.get(path), 401, "unauthenticated")
    _error(api.client.get(path, headers={"Authorization": "Basic abc"}), 401)
    _error(api.client.get(path, headers={"Authorization": "Bearer " + "0" * 64}), 401)
    _error(api.client.get(path, headers={"Authorization": "Bearer short"}), 401)


@pytest.mark.parametrize("role", sorted(set(API_ROLES) - STATEMENT_ROLES))
def test_read_only_roles_may_not_post(api: Api, role: str) -> None:
    size = api.custody.size()
    note = api.custody.world.note("from the auditor's desk")
    detail = _error(api.post(note.to_bytes(), role=role), 403, "forbidden")
    assert role in detail["message"]
    assert api.custody.size() == size


def test_a_revoked_token_is_refused(api: Api) -> None:
    assert api.get("/api/v1/cases", role="ministry").status_code == 200
    token_hash = hash_token(api.tokens["ministry"])
    revoked = revoke_token(api.engine, token_hash[:12], datetime.now(UTC))
    assert revoked.revoked_at is not None and revoked.role == "ministry"
    _error(api.get("/api/v1/cases", role="ministry"), 401, "unauthenticated")
    with pytest.raises(TokenError, match="none"):
        revoke_token(api.engine, token_hash, datetime.now(UTC))


def test_tokens_are_stored_hashed(api: Api) -> None:
    records = list_tokens(api.engine)
    assert sorted(record.role for record in records) == sorted(API_ROLES)
    stored = {record.token_hash for record in records}
    assert stored == {hash_token(token) for token in api.tokens.values()}
    assert not stored & set(api.tokens.values())
    with pytest.raises(TokenError, match="role"):
        create_token(api.engine, "ledger", "not an API role", datetime.now(UTC))
    with pytest.raises(TokenError, match="label"):
        create_token(api.engine, "auditor", "", datetime.now(UTC))


# --- posting statements -------------------------------------------------------------------


@pytest.mark.parametrize("role", sorted(STATEMENT_ROLES))
def test_a_signed_statement_is_appended(api: Api, role: str) -> None:
    size = api.custody.size()
    note = api.custody.world.note(f"posted by {role}")
    response = api.post(note.to_bytes(), role=role)
    assert response.status_code == 201, response.text
    receipt = response.json()
    assert set(receipt) == {"seq", "leaf_hash"} and receipt["seq"] == size
    assert api.custody.size() == size + 1
    (stored,) = api.custody.world.ledger.read(size, 1)
    assert stored.leaf_hash.hex() == receipt["leaf_hash"]


def test_a_tampered_statement_is_refused_with_the_reason(api: Api) -> None:
    size = api.custody.size()
    signed = api.custody.world.note("pay 1 BTC").to_json()
    signed["statement"]["body"]["text"] = "pay 100 BTC"
    detail = _error(api.post(json.dumps(signed).encode()), 422, "input_refused")
    assert "signature" in detail["message"]
    assert api.custody.size() == size


def test_the_ledger_decides_authority_not_the_token(api: Api) -> None:
    size = api.custody.size()
    opened = api.custody.case("AFM-2025-0003")  # signed by the officer's key
    # An approver's token may post; the ledger accepts what the officer's key may issue.
    assert api.post(opened.to_bytes(), role="approver").status_code == 201
    policy = api.custody.sign(
        "fund.policy.recorded",
        {
            "bands": [{"up_to_usd": "1", "approvals_min": 1}],
            "approval_valid_s": 60,
            "venues": ["kraken"],
        },
    )
    # An admin's token does not lend the officer's key the admin's authority.
    detail = _error(api.post(policy.to_bytes(), role="admin"), 403, "forbidden")
    assert "fund.policy.recorded" in detail["message"]
    assert api.custody.size() == size + 1


def test_token_commands_create_list_and_revoke(api: Api) -> None:
    from typer.testing import CliRunner

    from sequestra.cli.common import AppState
    from sequestra.cli.token_commands import token_app

    runner = CliRunner()
    state = AppState(database_url=api.custody.world.url)
    created = runner.invoke(
        token_app, ["create", "--role", "ministry", "--label", "budget office", "--json"], obj=state
    )
    assert created.exit_code == 0, created.output
    record = json.loads(created.output)
    assert record["token_hash"] == hash_token(record["token"])
    headers = {"Authorization": f"Bearer {record['token']}"}
    assert api.client.get("/api/v1/cases", headers=headers).status_code == 200
    listed = runner.invoke(token_app, ["list", "--json"], obj=state)
    assert record["token_hash"] in {item["token_hash"] for item in json.loads(listed.output)}
    assert "token" not in listed.output.replace("token_hash", "")
    revoked = runner.invoke(token_app, ["revoke", record["token_hash"][:10]], obj=state)
    assert revoked.exit_code == 0, revoked.output
    _error(api.client.get("/api/v1/cases", headers=headers), 401, "unauthenticated")
    refused = runner.invoke(token_app, ["create", "--role", "watcher", "--label", "x"], obj=state)
    assert refused.exit_code == 2


def test_a_database_failure_is_a_503_in_the_error_format(custody: Custody) -> None:  # noqa: F811
    engine = custody.world.engine
    token, _ = create_token(engine, "auditor", "desk", datetime.now(UTC))
    with write_transaction(engine) as connection:
        connection.execute(text("DROP TABLE chain_alert"))
    with TestClient(create_app(engine, APPLICATION), raise_server_exceptions=False) as client:
        response = client.get("/api/v1/alerts", headers={"Authorization": f"Bearer {token}"})
    detail = _error(response, 503, "database_unavailable")
    assert "chain_alert" not in detail["message"]


def test_the_command_line_and_the_api_show_the_same_fields(api: Api) -> None:
    """One view per resource: `--json` prints what the API answers, field for field."""
    from typer.testing import CliRunner

    from sequestra.cli.main import app

    def cli(*args: str) -> Any:
        url = api.custody.world.url
        result = CliRunner().invoke(app, ["--database-url", url, *args, "--json"])
        assert result.exit_code == 0, result.output
        return json.loads(result.output)

    def items(path: str) -> list[Any]:
        answer = api.get(path, limit=PAGE_LIMIT_MAX)
        assert answer.status_code == 200, answer.text
        found: list[Any] = answer.json()["items"]
        return found

    assert cli("case", "list") == items("/api/v1/cases")
    shown = cli("case", "show", "AFM-2025-0001")
    assert {k: v for k, v in shown.items() if k != "holdings"} == api.get(
        "/api/v1/cases/AFM-2025-0001"
    ).json()
    assert cli("holdings") == items("/api/v1/holdings")
    history = api.get("/api/v1/holdings/1/history").json()
    assert cli("history", "H1") == {"holding": history["holding"], "items": history["items"]}
    assert cli("alerts") == items("/api/v1/alerts")
    assert cli("valuations") == items("/api/v1/valuations")
    assert cli("sale", "list") == items("/api/v1/sales")
    assert cli("sale", "show", "S-1").keys() == api.get("/api/v1/sales/S-1").json().keys()
    runner = CliRunner()
    logged = runner.invoke(
        app, ["--database-url", api.custody.world.url, "log", "--limit", "500", "--json"]
    )
    entries = [json.loads(line) for line in logged.output.splitlines()]
    assert entries == items("/api/v1/entries")
