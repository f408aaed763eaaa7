"""The custody rules at append, on SQLite and PostgreSQL: what is refused, with which numbers,
and that a refused batch writes nothing."""

from __future__ import annotations

import random

import pytest
from sqlalchemy import text

from sequestra.custody import queries as custody_queries
from sequestra.custody.assets import BTC, ETH, USDT
from sequestra.custody.projection import CustodyProjection
from sequestra.ledger.errors import AppendRefused
from sequestra.ledger.rebuild import rebuild_projections
from sequestra.ledger.verify import verify_ledger
from tests.composed import RULES
from tests.custody.conftest import (
    BTC_1,
    BTC_2,
    BTC_3,
    CASE,
    ETH_1,
    ETH_2,
    ETH_TX,
    Custody,
)


def balances(custody: Custody, include_empty: bool = False) -> dict[tuple[str, str], int]:
    holdings = custody_queries.list_holdings(custody.world.engine, include_empty=include_empty)
    return {(h.account, h.asset.asset_id): h.amount_base for h in holdings}


def positions(custody: Custody) -> dict[tuple[str, str], str]:
    with custody.world.engine.connect() as connection:
        rows = connection.execute(
            text("SELECT account, asset_id, amount_base FROM custody_position")
        )
        return {(r.account, r.asset_id): r.amount_base for r in rows}


def refused(custody: Custody, *statements: object, match: str) -> None:
    """Append must be refused with `match` in the message, and nothing may be written."""
    size, before = custody.size(), positions(custody)
    with pytest.raises(AppendRefused, match=match):
        custody.append(*statements)  # type: ignore[arg-type]
    assert custody.size() == size
    assert positions(custody) == before


def account(wallet: str, case_id: str = CASE) -> str:
    return f"case/{case_id}/wallet/{wallet}"


def test_lifecycle_moves_every_unit_and_sums_to_zero(custody: Custody) -> None:
    (seized,) = custody.append(custody.seize("150000000"))
    custody.append(custody.transfer("100000000", fee_base="2500"))
    custody.append(custody.forfeit(("bitcoin:BTC", BTC_2, "60000000")))
    custody.append(custody.release("49997000", fee_base="500"))
    assert balances(custody) == {
        (account(BTC_2), BTC.asset_id): 40_000_000,
        (f"fund/{BTC_2}", BTC.asset_id): 60_000_000,
    }
    stored = positions(custody)
    assert stored[("network-fees", BTC.asset_id)] == "3000"
    assert stored[("released", BTC.asset_id)] == "49997000"
    assert stored[(f"external/seized/{CASE}", BTC.asset_id)] == "-150000000"
    assert sum(int(amount) for amount in stored.values()) == 0
    emptied = {
        h.account: h.state
        for h in custody_queries.list_holdings(custody.world.engine, include_empty=True)
    }
    assert emptied[account(BTC_1)] == "released"
    assert emptied[f"fund/{BTC_2}"] == "in_fund"
    assert seized.seq == 7  # genesis, officer, case, four wallets
    assert verify_ledger(custody.world.engine, RULES, workers=1).ok


def test_transfer_larger_than_the_holding_names_the_numbers(custody: Custody) -> None:
    custody.append(custody.seize("5000000"))
    refused(
        custody,
        custody.transfer("5000000", fee_base="1"),
        match=r"amount_base: expected at most 0\.05 BTC .* got 0\.05000001 BTC .*5000001 > 5000000",
    )


def test_refused_batch_writes_nothing_even_after_good_statements(custody: Custody) -> None:
    refused(
        custody,
        custody.seize("100"),
        custody.case("AFM-2025-0002"),
        custody.transfer("101"),
        match="statement 2: amount_base",
    )
    assert custody_queries.get_case(custody.world.engine, "AFM-2025-0002") is None


@pytest.mark.parametrize(
    ("build", "match"),
    [
        (lambda c: c.seize("100", case_id="AFM-2099-0404"), "case: expected a case opened"),
        (lambda c: c.seize("100", asset="ethereum:DOGE"), "asset: expected a known asset id"),
        (lambda c: c.seize("100", wallet=BTC_3), "wallet: expected a custody wallet registered"),
        (lambda c: c.seize("100", wallet=ETH_1), "wallet: expected a wallet on bitcoin"),
        (lambda c: c.seize("0"), "amount_base: expected an integer from 1"),
        (lambda c: c.transfer("1", target=BTC_1), "to: expected a wallet other than"),
        (lambda c: c.transfer("1", tx=ETH_TX), "tx: expected a bitcoin transaction hash"),
        (lambda c: c.wallet(BTC_1), "address: expected a wallet not registered before"),
        (lambda c: c.wallet(BTC_3.upper()), "address: expected the normalised form"),
        (lambda c: c.wallet(BTC_3, network="regtest"), "network: expected 'mainnet'"),
        (
            lambda c: c.wallet("0x5aaeb6053F3E94C9b9A09f33669435E7Ef1BeAed", "ethereum"),
            "address: expected",
        ),
        (lambda c: c.case(), "case: expected a case number not used before"),
        (lambda c: c.correct(1), "seq: expected the seq of a seizure"),
        (lambda c: c.correct(99), "seq: expected the seq of an earlier entry"),
    ],
)
def test_rules_refuse_with_the_field(custody: Custody, build, match: str) -> None:  # type: ignore[no-untyped-def]
    refused(custody, build(custody), match=match)


def test_zero_and_negative_amounts(custody: Custody) -> None:
    refused(
        custody,
        custody.seize("0"),
        match=r"amount_base: expected an integer from 1 to 2\*\*256 - 1 \(base units\), got 0",
    )
    refused(custody, custody.seize("-5"), match=r"body\.amount_base")
    refused(custody, custody.seize("0.5"), match=r"body\.amount_base")


def test_only_treasury_officers_record_custody(custody: Custody) -> None:
    refused(
        custody,
        custody.sign("seizure.recorded", custody.seize("1").body, key=custody.world.admin),
        match="role|may not issue",
    )


def test_seized_at_cannot_follow_the_signature(custody: Custody) -> None:
    body = {**custody.seize("1").body, "seized_at": "2999-01-01T00:00:00Z"}
    refused(custody, custody.sign("seizure.recorded", body), match="seized_at: expected a time")


def test_forfeiture_of_a_released_holding_is_refused(custody: Custody) -> None:
    custody.append(custody.seize("1000"))
    custody.append(custody.release("1000"))
    refused(
        custody,
        custody.forfeit(("bitcoin:BTC", BTC_1, "1000")),
        match=r"holdings: expected at most 0 BTC .* the holding is released \(seq 8\)",
    )


def test_a_case_closes_only_when_it_holds_nothing(custody: Custody) -> None:
    custody.append(custody.seize("250000000"))
    refused(custody, custody.close(), match=r"case: expected a case that holds nothing.*2\.5 BTC")
    custody.append(custody.forfeit(("bitcoin:BTC", BTC_1, "250000000")))
    custody.append(custody.close())
    refused(
        custody,
        custody.seize("1"),
        match="case: expected an open case, got 'AFM-2025-0001', closed",
    )
    case = custody_queries.get_case(custody.world.engine, CASE)
    assert case is not None and case.closed_seq is not None and case.holdings_open == 0


def test_corrections_reverse_once_and_never_a_correction(custody: Custody) -> None:
    (wrong,) = custody.append(custody.seize("999"))
    (fix,) = custody.append(custody.correct(wrong.seq))
    assert balances(custody) == {}
    refused(custody, custody.correct(wrong.seq), match=f"already corrected at seq {fix.seq}")
    refused(custody, custody.correct(fix.seq), match="a movement, not a correction")
    history = custody_queries.holding_history(custody.world.engine, 1)
    assert history is not None
    holding, lines = history
    assert holding.state == "reversed"
    assert [(line.kind, line.change_base, line.balance_base) for line in lines] == [
        ("seizure.recorded", 999, 999),
        ("entry.corrected", -999, 0),
    ]
    assert lines[0].reversed_by == fix.seq


def test_a_correction_that_would_go_negative_is_refused(custody: Custody) -> None:
    (seized,) = custody.append(custody.seize("1000"))
    custody.append(custody.transfer("600"))
    refused(custody, custody.correct(seized.seq), match=r"seq: expected at most 0\.000004 BTC")


def test_token_fees_are_paid_in_ether_from_operating_funds(custody: Custody) -> None:
    custody.append(custody.seize("5000000", wallet=ETH_1, asset=USDT.asset_id))
    custody.append(
        custody.transfer(
            "5000000", ETH_1, ETH_2, fee_base="21000000000000", asset=USDT.asset_id, tx=ETH_TX
        )
    )
    stored = positions(custody)
    assert stored[("network-fees", ETH.asset_id)] == "21000000000000"
    assert stored[("external/operations", ETH.asset_id)] == "-21000000000000"
    assert stored[(account(ETH_2), USDT.asset_id)] == "5000000"


def test_fund_transfers_move_between_fund_wallets(custody: Custody) -> None:
    custody.append(custody.seize("700"))
    custody.append(custody.forfeit(("bitcoin:BTC", BTC_1, "700")))
    custody.append(custody.transfer("600", BTC_1, BTC_2, fee_base="100", case_id=None))
    assert balances(custody) == {(f"fund/{BTC_2}", BTC.asset_id): 600}


def test_registered_assets_can_be_seized(custody: Custody) -> None:
    token = "0xdbF03B407c01E7cD3CBea99509d93f8DDDC8C6FB"
    body = {
        "asset": "ethereum:KZTE",
        "chain": "ethereum",
        "symbol": "KZTE",
        "kind": "token",
        "contract": token,
        "decimals": 6,
    }
    refused(custody, custody.sign("asset.registered", body), match="role|may not issue")
    custody.append(custody.sign("asset.registered", body, key=custody.world.admin))
    custody.append(custody.seize("1", wallet=ETH_1, asset="ethereum:KZTE"))
    duplicate = {**body, "asset": "ethereum:KZTE2", "symbol": "KZTE2"}
    refused(
        custody,
        custody.sign("asset.registered", duplicate, key=custody.world.admin),
        match="contract: expected a contract no other asset has",
    )
    assert custody_queries.asset_registry(custody.world.engine).get("ethereum:KZTE").decimals == 6


def test_verify_finds_a_changed_custody_table_and_rebuild_repairs_it(custody: Custody) -> None:
    custody.append(custody.seize("1000"), custody.transfer("400", fee_base="10"))
    engine = custody.world.engine
    with engine.begin() as connection:
        connection.execute(
            text("UPDATE custody_position SET amount_base = '1000' WHERE holding_id = 1")
        )
    result = verify_ledger(engine, RULES, workers=1)
    assert not result.ok
    assert result.reason is not None and "projection custody differs" in result.reason
    rebuilt = rebuild_projections(engine, RULES)
    assert rebuilt.entries == custody.size()
    assert verify_ledger(engine, RULES, workers=1).ok
    assert balances(custody)[(account(BTC_1), BTC.asset_id)] == 590


def test_random_batches_match_a_full_replay(custody: Custody) -> None:
    """Appends load only what each batch names; any split must give the replay's rows."""
    rng = random.Random(7)
    wallets = [BTC_1, BTC_2]
    for round_number in range(12):
        batch = []
        for _ in range(rng.randint(1, 5)):
            choice = rng.random()
            if choice < 0.5:
                batch.append(custody.seize(str(rng.randint(1, 10_000)), rng.choice(wallets)))
            else:
                source, target = rng.sample(wallets, 2)
                batch.append(custody.transfer(str(rng.randint(1, 50)), source, target, "1"))
        try:
            custody.append(*batch)
        except AppendRefused:
            continue  # an overdraft in the batch; the next round goes on from the same state
        if round_number % 4 == 3:
            custody.append(custody.forfeit(("bitcoin:BTC", BTC_1, "1")))
    assert verify_ledger(custody.world.engine, RULES, workers=1).ok
    replayed = CustodyProjection()
    with custody.world.engine.connect() as connection:
        stored = replayed.stored_rows(connection)
    rebuild_projections(custody.world.engine, RULES)
    with custody.world.engine.connect() as connection:
        assert replayed.stored_rows(connection) == stored
