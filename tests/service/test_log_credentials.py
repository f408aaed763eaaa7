"""No credential reaches a log line: a token sent in a query string is refused (401) and
scrubbed from uvicorn's access log and every other record the service writes."""

from __future__ import annotations

import logging

import pytest
from fastapi.testclient import TestClient
from uvicorn.logging import AccessFormatter

from sequestra.service.app import create_app
from sequestra.service.logfmt import REDACTED, scrub_credentials
from tests.composed import APPLICATION
from tests.custody.conftest import Custody, custody  # noqa: F401

TOKEN = "0123456789abcdef" * 4


@pytest.mark.parametrize(
    ("text", "kept"),
    [
        (f"/api/v1/cases?token={TOKEN}", "/api/v1/cases?token="),
        (f"/api/v1/cases?limit=5&access_token={TOKEN}&x=1", "limit=5&access_token="),
        (f"/login?whatever={TOKEN}", "/login?whatever="),
        ("/api/v1/cases?password=hunter2", "password="),
        ("/cases?open=true", "/cases?open=true"),
    ],
)
def test_scrubbing_keeps_the_shape_and_drops_the_value(text: str, kept: str) -> None:
    scrubbed = scrub_credentials(text)
    assert kept in scrubbed
    assert TOKEN not in scrubbed and "hunter2" not in scrubbed


def test_a_token_in_a_query_string_stays_out_of_the_access_log(
    custody: Custody,  # noqa: F811
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A server started by an earlier test in this process may have configured uvicorn's
    # loggers (levels, propagation, handlers): the access record is caught by a handler of
    # this test's own on the access logger, whatever ran before.
    access = logging.getLogger("uvicorn.access")
    monkeypatch.setattr(access, "disabled", False)
    monkeypatch.setattr(access, "level", access.level)  # put back afterwards
    access.setLevel(logging.DEBUG)
    monkeypatch.setattr(logging.root.manager, "disable", logging.NOTSET)
    kept: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            kept.append(record)

    keep = Keep(logging.DEBUG)
    access.addHandler(keep)
    try:
        client = TestClient(create_app(custody.world.engine, APPLICATION))
        caplog.set_level(logging.INFO)
        response = client.get("/api/v1/cases", params={"token": TOKEN})
        assert response.status_code == 401
        # What uvicorn's access logger logs for that request (its own format and arguments).
        access.info(
            '%s - "%s %s HTTP/%s" %d',
            "10.0.0.7:5123",
            "GET",
            f"/api/v1/cases?token={TOKEN}",
            "1.1",
            401,
        )
        logging.getLogger("sequestra.service").warning("refused /x?token=%s", TOKEN)
    finally:
        access.removeHandler(keep)
    lines = [record.getMessage() for record in caplog.records]
    formatter = AccessFormatter('%(client_addr)s - "%(request_line)s" %(status_code)s')
    assert kept, "the access record was not captured"
    lines += [formatter.format(record) for record in kept]
    assert any("/api/v1/cases?token=" + REDACTED in line for line in lines), lines
    assert not any(TOKEN in line for line in lines), lines
