"""What the service refuses before a route runs, on SQLite and PostgreSQL: NUL in paths,
queries and JSON bodies (one 422, logged), duplicate keys, HEAD and 405 with Allow, the
bearer scheme in OpenAPI, no third-party API docs, and the limits on failed credentials
and on full verifications."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest

from sequestra.service.guard import FAILURES_BURST_MAX, NUL_REFUSED, FailureLimit
from sequestra.service.logfmt import parse_event
from tests.custody.conftest import custody  # noqa: F401
from tests.service.test_api import Api, _error, api  # noqa: F401

UNKNOWN_TOKEN = "ab" * 32


def _login(api: Api, token: str) -> Any:  # noqa: F811
    return api.client.post("/login", data={"token": token}, follow_redirects=False)


def _refusals(caplog: pytest.LogCaptureFixture) -> list[dict[str, str]]:
    events = (parse_event(record.getMessage()) for record in caplog.records)
    return [event for event in events if event.get("event") == "request.refused"]


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/cases/AFM%00X",
        "/api/v1/holdings?case=AFM%00",
        "/health?x=%00",
    ],
)
def test_nul_in_an_api_path_or_query_is_refused_and_logged(
    api: Api,  # noqa: F811
    caplog: pytest.LogCaptureFixture,
    path: str,
) -> None:
    caplog.set_level(logging.INFO)
    headers = {"Authorization": f"Bearer {api.tokens['auditor']}"}
    detail = _error(api.client.get(path, headers=headers), 422, "input_refused")
    assert detail["message"] == NUL_REFUSED
    (refused,) = _refusals(caplog)
    assert refused["reason"] == "nul" and "\x00" not in refused["path"]


@pytest.mark.parametrize("path", ["/cases/AFM%00X", "/holdings?case=a%00b", "/holdings/1%00"])
def test_nul_in_a_page_path_or_query_is_refused_with_the_error_page(
    api: Api,  # noqa: F811
    caplog: pytest.LogCaptureFixture,
    path: str,
) -> None:
    caplog.set_level(logging.INFO)
    assert _login(api, api.tokens["auditor"]).status_code == 303
    response = api.client.get(path, follow_redirects=False)
    assert response.status_code == 422
    assert response.headers["content-type"].startswith("text/html")
    assert "expected no NUL character" in response.text
    assert "Content-Security-Policy" in response.headers
    assert len(_refusals(caplog)) == 1


def test_nul_in_a_json_body_is_refused_naming_the_field(api: Api) -> None:  # noqa: F811
    hostile = {"case": "AFM-2025-0777", "agency": "AFM", "legal_basis": "x\x00y"}
    signed = api.custody.sign("case.opened", hostile)
    size = api.custody.size()
    detail = _error(api.post(signed.to_bytes()), 422, "input_refused")
    assert "legal_basis" in detail["message"] and "NUL" in detail["message"]
    assert api.custody.size() == size


def test_a_duplicate_key_in_a_json_body_is_refused_naming_it(api: Api) -> None:  # noqa: F811
    signed = api.custody.sign("case.opened", {"case": "AFM-2025-0778", "agency": "AFM"})
    document = signed.to_json()
    text = json.dumps(document)
    doubled = text[:-1] + ', "signature": ' + json.dumps(document["signature"]) + "}"
    size = api.custody.size()
    detail = _error(api.post(doubled.encode()), 422, "input_refused")
    assert "duplicate" in detail["message"] and "'signature'" in detail["message"]
    assert api.custody.size() == size


def test_head_is_answered_wherever_get_is(api: Api) -> None:  # noqa: F811
    headers = {"Authorization": f"Bearer {api.tokens['auditor']}"}
    for path in ("/api/v1/cases", "/health", "/login", "/openapi.json"):
        got = api.client.get(path, headers=headers)
        head = api.client.head(path, headers=headers)
        assert head.status_code == got.status_code == 200, path
        assert head.content == b""
        assert head.headers["content-type"] == got.headers["content-type"]
    assert api.client.head("/api/v1/cases").status_code == 401


def test_a_wrong_method_names_the_allowed_ones(api: Api) -> None:  # noqa: F811
    headers = {"Authorization": f"Bearer {api.tokens['auditor']}"}
    response = api.client.post("/api/v1/cases", headers=headers)
    _error(response, 405, "method_not_allowed")
    assert response.headers["allow"] == "GET"
    page = api.client.delete("/login")
    assert page.status_code == 405 and "GET" in page.headers["allow"].split(", ")
    assert page.headers["content-type"].startswith("text/html")


def test_openapi_declares_bearer_and_no_third_party_docs(api: Api) -> None:  # noqa: F811
    document = api.client.get("/openapi.json").json()
    schemes = document["components"]["securitySchemes"]
    ((name, scheme),) = schemes.items()
    assert scheme["type"] == "http" and scheme["scheme"] == "bearer"
    api_paths = {p: o for p, o in document["paths"].items() if p.startswith("/api/v1/")}
    assert len(api_paths) > 10
    for path, operations in api_paths.items():
        for operation in operations.values():
            assert operation.get("security") == [{name: []}], path
    for path in ("/docs", "/redoc"):
        assert api.client.get(path).status_code in (303, 404), path  # login redirect or none
        assert "cdn" not in api.client.get(path).text.lower()


def test_failed_token_checks_are_limited_per_client(api: Api) -> None:  # noqa: F811
    bad = {"Authorization": f"Bearer {UNKNOWN_TOKEN}"}
    for _ in range(FAILURES_BURST_MAX):
        _error(api.client.get("/api/v1/cases", headers=bad), 401, "unauthenticated")
    limited = api.client.get("/api/v1/cases", headers=bad)
    _error(limited, 429, "too_many_requests")
    assert int(limited.headers["retry-after"]) >= 1
    good = {"Authorization": f"Bearer {api.tokens['auditor']}"}
    _error(api.client.get("/api/v1/cases", headers=good), 429, "too_many_requests")


def test_failed_sign_ins_are_limited_per_client(api: Api) -> None:  # noqa: F811
    for _ in range(FAILURES_BURST_MAX):
        assert _login(api, UNKNOWN_TOKEN).status_code == 401
    limited = _login(api, api.tokens["auditor"])
    assert limited.status_code == 429 and int(limited.headers["retry-after"]) >= 1
    assert "Too many failed sign-ins" in limited.text


def test_the_failure_bucket_refills_and_forgets() -> None:
    now = [0.0]
    limit = FailureLimit(burst_max=2, refill_s=10.0, clock=lambda: now[0])
    limit.failed("a")
    limit.failed("a")
    assert limit.retry_after_s("a") == 10 and limit.retry_after_s("b") == 0
    now[0] = 4.0
    assert limit.retry_after_s("a") == 6
    now[0] = 10.0
    assert limit.retry_after_s("a") == 0


def test_one_full_verification_at_a_time(api: Api) -> None:  # noqa: F811
    assert _login(api, api.tokens["auditor"]).status_code == 303
    slot = api.client.app.state.verification_slot  # type: ignore[attr-defined]
    assert slot.try_enter()
    try:
        busy = api.client.get("/audit", params={"verify": "true"})
        assert busy.status_code == 503 and busy.headers["retry-after"] == "60"
        assert "already running" in busy.text
        assert api.client.get("/audit").status_code == 200  # reading without verifying
    finally:
        slot.leave()
    assert api.client.get("/audit", params={"verify": "true"}).status_code == 200
