"""A holding's history through the API and its page, on SQLite and PostgreSQL: one page
of postings read per request (statements and their bounds counted), the page paginated."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Engine, event

from sequestra.custody.queries import holding_history
from tests.custody.conftest import custody  # noqa: F401
from tests.custody.test_history_page import EXTRA_POSTINGS, _add_postings
from tests.service.test_api import Api, api  # noqa: F401

BOUND_MAX = 1_000  # no LIMIT or OFFSET a one-row page needs comes near this


@contextmanager
def posting_reads(engine: Engine) -> Iterator[list[tuple[str, Any]]]:
    reads: list[tuple[str, Any]] = []

    def listen(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_args: Any) -> None:
        if "custody_posting" in statement:
            reads.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", listen)
    try:
        yield reads
    finally:
        event.remove(engine, "before_cursor_execute", listen)


def _numbers(parameters: Any) -> list[int]:
    values = parameters.values() if isinstance(parameters, dict) else parameters
    return [v for v in values if isinstance(v, int)]


def test_a_one_line_page_reads_one_bounded_window(api: Api) -> None:  # noqa: F811
    _add_postings(api.custody, EXTRA_POSTINGS)
    whole = holding_history(api.engine, 1)
    assert whole is not None
    holding, lines = whole
    for offset in (0, 200):
        with posting_reads(api.engine) as reads:
            body = api.get("/api/v1/holdings/1/history", limit=1, offset=offset).json()
        assert [item["seq"] for item in body["items"]] == [lines[offset].seq]
        assert body["items"][0]["balance_base"] == str(lines[offset].balance_base)
        assert body["next_offset"] == offset + 1
        assert 1 <= len(reads) <= 2, reads
        for statement, parameters in reads:
            assert "LIMIT" in statement.upper()
            assert max(_numbers(parameters), default=0) < BOUND_MAX, (statement, parameters)
    last = api.get("/api/v1/holdings/1/history", limit=5, offset=len(lines) - 2).json()
    assert [i["balance_base"] for i in last["items"]] == [str(x.balance_base) for x in lines[-2:]]
    assert last["next_offset"] is None
    del holding


def test_the_holding_page_is_paginated(api: Api) -> None:  # noqa: F811
    _add_postings(api.custody, EXTRA_POSTINGS)
    api.client.post("/login", data={"token": api.tokens["auditor"]}, follow_redirects=False)
    with posting_reads(api.engine) as reads:
        first = api.client.get("/holdings/1")
    assert first.status_code == 200, first.text[-1500:]
    assert first.text.count('<tr><td class="num">') == 50
    assert "offset=50" in first.text and "rows 1 to 50" in first.text
    for _statement, parameters in reads:
        assert max(_numbers(parameters), default=0) < BOUND_MAX
    whole = holding_history(api.engine, 1)
    assert whole is not None and 300 < len(whole[1]) < 350
    last = api.client.get("/holdings/1", params={"offset": 300})
    assert last.status_code == 200
    assert f"rows 301 to {len(whole[1])}" in last.text and "offset=250" in last.text
