"""A holding's history read one page at a time, on SQLite and PostgreSQL: the page's rows
only (counted with a statement listener), the running balance exact for amounts past 64
bits and negative changes, the same lines as the whole history at every offset."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import Engine, event

from sequestra.custody import queries as custody_queries
from sequestra.custody.tables import POSTING_TABLE
from sequestra.ledger.db import write_transaction
from tests.custody.conftest import Custody

EXTRA_POSTINGS = 300
WEI_HUGE = 7 * 10**40 + 123_456_789_012_345_678  # far past 64 bits, as wei can be


def _amount(index: int) -> int:
    # Large credits and debits that keep the balance positive, with every digit in play.
    return WEI_HUGE + index if index % 3 != 2 else -(WEI_HUGE // 2) - index * 999_999_999_999


def _add_postings(custody: Custody, count: int) -> None:
    """Postings on holding 1 under its seizure's seq (only the read query is under test)."""
    lines = custody_queries.holding_history(custody.world.engine, 1)
    assert lines is not None
    holding, (first, *_) = lines
    rows = [
        {
            "seq": first.seq,
            "idx": 1_000 + index,
            "asset_id": holding.asset.asset_id,
            "account": holding.account,
            "amount_base": str(_amount(index)),
            "holding_id": 1,
        }
        for index in range(count)
    ]
    with write_transaction(custody.world.engine) as connection:
        connection.execute(POSTING_TABLE.insert(), rows)


@contextmanager
def counted(engine: Engine) -> Iterator[list[str]]:
    statements: list[str] = []

    def listen(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        statements.append(statement)

    event.listen(engine, "before_cursor_execute", listen)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", listen)


def test_every_page_matches_the_whole_history(custody: Custody) -> None:
    custody.append(custody.seize("150000000"))
    _add_postings(custody, EXTRA_POSTINGS)
    whole = custody_queries.holding_history(custody.world.engine, 1)
    assert whole is not None
    _, lines = whole
    assert len(lines) == EXTRA_POSTINGS + 1
    assert lines[-1].balance_base == 150_000_000 + sum(_amount(i) for i in range(EXTRA_POSTINGS))
    for offset, limit in ((0, 1), (1, 1), (7, 50), (150, 151), (299, 5), (301, 3), (400, 10)):
        page = custody_queries.holding_history_page(custody.world.engine, 1, offset, limit)
        assert page is not None
        _, shown, more = page
        assert shown == lines[offset : offset + limit], (offset, limit)
        assert more == (offset + limit < len(lines))


def test_a_page_reads_a_bounded_number_of_statements_and_rows(custody: Custody) -> None:
    custody.append(custody.seize("150000000"))
    _add_postings(custody, EXTRA_POSTINGS)
    engine = custody.world.engine
    for offset in (0, 250):
        with counted(engine) as statements:
            page = custody_queries.holding_history_page(engine, 1, offset, 1)
        assert page is not None and len(page[1]) == 1
        posting_reads = [s for s in statements if "custody_posting" in s]
        # The page itself (LIMIT 2), and past the first page one aggregate for the balance.
        assert len(posting_reads) == (1 if offset == 0 else 2), posting_reads
        assert all("LIMIT" in s.upper() for s in posting_reads), posting_reads
        assert len(statements) <= 6, statements


def test_a_missing_holding_and_a_bad_window(custody: Custody) -> None:
    assert custody_queries.holding_history_page(custody.world.engine, 999, 0, 1) is None
    for offset, limit in ((-1, 1), (0, 0), (0, custody_queries.HISTORY_LINES_MAX + 1)):
        with pytest.raises(ValueError, match="history page"):
            custody_queries.holding_history_page(custody.world.engine, 1, offset, limit)
