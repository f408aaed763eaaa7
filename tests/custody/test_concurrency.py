"""Two writers racing to move the same holding: the append lock lets one through."""

from __future__ import annotations

import threading

from sequestra.custody import queries as custody_queries
from sequestra.ledger.errors import AppendRefused
from sequestra.ledger.store import Ledger
from tests.composed import RULES
from tests.custody.conftest import Custody


def test_two_writers_cannot_both_spend_one_holding(custody: Custody) -> None:
    custody.append(custody.seize("1000"))
    statements = [custody.release("800"), custody.release("800")]  # distinct nonces
    barrier = threading.Barrier(len(statements))
    outcomes: list[str] = []

    def write(index: int) -> None:
        with Ledger(custody.world.engine, RULES) as ledger:
            barrier.wait()
            try:
                ledger.append([statements[index]], custody.world.now)
                outcomes.append("appended")
            except AppendRefused as error:
                outcomes.append(str(error))

    threads = [threading.Thread(target=write, args=(i,)) for i in range(len(statements))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(outcomes)[0] == "appended"
    assert "expected at most 0.000002 BTC" in sorted(outcomes)[1]
    holdings = custody_queries.list_holdings(custody.world.engine)
    assert sum(h.amount_base for h in holdings) == 200
