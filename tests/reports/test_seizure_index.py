"""The seizure dates a report reads in bulk (`seizure_index`) are those it would read holding
by holding (`seizure_date`): for case and State Fund holdings, at every prefix, and once a
correction reverses a seizure."""

from __future__ import annotations

from sequestra.custody.prefix import seizure_date, seizure_index
from sequestra.custody.queries import holdings_before
from sequestra.ledger.db import read_transaction
from tests.custody.conftest import BTC_1, Custody
from tests.reports.conftest import Books, books  # noqa: F401

BTC = "bitcoin:BTC"


def _agree(custody: Custody, size: int) -> int:
    """Compare both for every holding before `size`; return how many had a seizure date."""
    engine = custody.world.engine
    dated = 0
    with read_transaction(engine) as connection:
        index = seizure_index(connection, size)
        for holding in holdings_before(engine, size):
            expected = seizure_date(
                connection, size, holding.case_id, holding.asset.asset_id, holding.wallet
            )
            found = index.date_of(holding.case_id, holding.asset.asset_id, holding.wallet)
            assert found == expected, holding
            dated += expected[0] is not None
    return dated


def test_bulk_and_per_holding_seizure_dates_agree(books: Books) -> None:  # noqa: F811
    custody = books.custody
    size = custody.size()
    fund_holdings = [h for h in holdings_before(custody.world.engine, size) if h.case_id is None]
    assert fund_holdings, "the books hold State Fund holdings"
    assert _agree(custody, size) == len(holdings_before(custody.world.engine, size))
    (receipt,) = custody.append(custody.seize("50000000", asset=BTC, wallet=BTC_1))
    assert _agree(custody, custody.size()) >= 1
    custody.append(custody.correct(receipt.seq))
    assert _agree(custody, custody.size()) >= 1
    for earlier in range(1, custody.size() + 1, 3):
        _agree(custody, earlier)
