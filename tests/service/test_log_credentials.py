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
    # loggers (a level, no propagation, disabled): capture them whatever ran before.
    for name in ("uvicorn.access", "uvicorn.error"):
        logger = logging.getLogger(name)
        monkeypatch.setattr(logger, "propagate", True)
        monkeypatch.setattr(logger, "disabled", False)
        monkeypatch.setattr(logger, "level", logger.level)  # put back afterwards
        logger.setLevel(logging.NOTSET)
    client = TestClient(create_app(custody.world.engine, APPLICATION))
    caplog.set_level(logging.INFO)
    response = client.get("/api/v1/cases", params={"token": TOKEN})
    assert response.status_code == 401
    # What uvicorn's access logger logs for that request (its own format and arguments).
    access = logging.getLogger("uvicorn.access")
    access.info(
        '%s - "%s %s HTTP/%s" %d',
        "10.0.0.7:5123",
        "GET",
        f"/api/v1/cases?token={TOKEN}",
        "1.1",
        401,
    )
    logging.getLogger("sequestra.service").warning("refused /x?token=%s", TOKEN)
    lines = [record.getMessage() for record in caplog.records]
    formatter = AccessFormatter('%(client_addr)s - "%(request_line)s" %(status_code)s')
    records = [r for r in caplog.records if r.name == "uvicorn.access"]
    assert records, "the access record was not captured"
    lines += [formatter.format(record) for record in records]
    assert any("/api/v1/cases?token=" + REDACTED in line for line in lines), lines
    assert not any(TOKEN in line for line in lines), lines
