"""Double-entry positions: account names, balanced movements and a book that never lies."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sequestra.custody.amounts import AMOUNT_BASE_MAX
from sequestra.custody.assets import AssetRegistry
from sequestra.custody.positions import (
    ACCOUNT_LENGTH_MAX,
    POSTINGS_MAX,
    Balance,
    Book,
    Movement,
    NegativeBalanceError,
    PositionError,
    Posting,
    PostingError,
    UnbalancedMovementError,
    case_prefix,
    case_wallet_account,
    external_account,
    fund_account,
    is_source_account,
    validate_account,
    validate_account_prefix,
)

BTC = "bitcoin:BTC"
ETH = "ethereum:ETH"
USDT = "ethereum:USDT"
WALLET = "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4"
COLD = "bc1qrp33g0q5c5txsp9arysrx4k6zdkfs4nce4xj0gdcccefvpysxf3q0sl5k7"
CASE_WALLET = f"case/7/wallet/{WALLET}"
CASE_COLD = f"case/7/wallet/{COLD}"
SEIZED = "external/seized/7"


def seized_book(amount_sats: int = 10_000) -> Book:
    book = Book(registry=AssetRegistry.defaults())
    book.apply(Movement.transfer(BTC, SEIZED, CASE_WALLET, amount_sats))
    return book


# --- account names -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "account",
    [
        CASE_WALLET,
        "case/AFM-2025-0001/wallet/0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed",
        "fund/cold-1",
        "sold",
        "released",
        "network-fees",
        "external/seized/AFM-2025-0001",
        "external/received",
        "external/opening/2024.12_ledger",
    ],
)
def test_valid_accounts(account: str) -> None:
    assert validate_account(account) == account


@pytest.mark.parametrize(
    ("account", "expected"),
    [
        ("", "1 to 256 characters"),
        ("case/7/wallet/" + "a" * 120 + "/" + "b" * 130, "1 to 256 characters"),
        ("x" * (ACCOUNT_LENGTH_MAX + 1), "1 to 256 characters"),
        ("case/7/wallet/" + "a" * 129, "segments of 1 to 128"),
        ("case", "case/<case>/wallet/<wallet>"),
        ("case/7", "case/<case>/wallet/<wallet>"),
        ("case/7/wallet", "case/<case>/wallet/<wallet>"),
        ("case/7/purse/x", "case/<case>/wallet/<wallet>"),
        ("case/7/wallet/x/y", "case/<case>/wallet/<wallet>"),
        ("case//wallet/x", "segment ''"),
        ("case/../wallet/x", "segment '..'"),
        ("case/./wallet/x", "segment '.'"),
        ("case/7/wallet/x y", "segment 'x y'"),
        ("case/7/wallet/x\n", "segment 'x\\\\n'"),
        ("case/7/wallet/\u0430bc", "ASCII letters"),  # Cyrillic a
        ("case/7/wallet/a:b", "ASCII letters"),
        ("fund", "fund/<wallet>"),
        ("fund/a/b", "fund/<wallet>"),
        ("sold/venue", "the form sold"),
        ("network-fees/btc", "the form network-fees"),
        ("external", "external/<name> with 1 to 3 names"),
        ("external/a/b/c/d", "external/<name> with 1 to 3 names"),
        ("Case/7/wallet/x", "an account under one of case, fund"),
        ("wallet/x", "an account under one of"),
        ("/sold", "segment ''"),
        ("sold/", "segment ''"),
        (None, "an account name \\(a string\\)"),
        (7, "an account name \\(a string\\)"),
    ],
)
def test_bad_accounts_are_refused(account: object, expected: str) -> None:
    with pytest.raises(PostingError, match=expected) as caught:
        validate_account(account)
    assert caught.value.field == "account"


def test_account_builders() -> None:
    assert case_wallet_account("AFM-1", WALLET) == f"case/AFM-1/wallet/{WALLET}"
    assert case_prefix("AFM-1") == "case/AFM-1"
    assert fund_account("cold-1") == "fund/cold-1"
    assert external_account("seized", "AFM-1") == "external/seized/AFM-1"
    with pytest.raises(PostingError, match=r"^case: expected one segment"):
        case_wallet_account("AFM/1", WALLET)
    with pytest.raises(PostingError, match=r"^wallet: expected one segment"):
        case_wallet_account("AFM-1", "..")
    with pytest.raises(PostingError, match=r"^name: expected one segment"):
        external_account("seized/x")
    for bad in ("", "7/wallet", "..", "a b"):
        with pytest.raises(PostingError, match=r"^case: expected one segment"):
            case_prefix(bad)
    with pytest.raises(PostingError):
        fund_account("a/b")
    with pytest.raises(PostingError):
        external_account()
    assert is_source_account("external/received")
    assert not is_source_account("externals/x")
    assert not is_source_account("sold")


def test_account_prefixes() -> None:
    assert validate_account_prefix("case/7/") == "case/7"
    assert validate_account_prefix("external") == "external"
    with pytest.raises(PostingError, match=r"^prefix: expected a prefix under one of"):
        validate_account_prefix("cases/7")
    with pytest.raises(PostingError, match=r"^prefix: "):
        validate_account_prefix("case//7")


# --- postings and movements --------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ((BTC, CASE_WALLET, 0), "amount_base"),
        ((BTC, CASE_WALLET, True), "amount_base"),
        ((BTC, CASE_WALLET, 1.0), "amount_base"),
        ((BTC, CASE_WALLET, "5"), "amount_base"),
        ((BTC, CASE_WALLET, AMOUNT_BASE_MAX + 1), "amount_base"),
        ((BTC, CASE_WALLET, -AMOUNT_BASE_MAX - 1), "amount_base"),
        (("BTC", CASE_WALLET, 5), "asset_id"),
        ((None, CASE_WALLET, 5), "asset_id"),
        ((BTC, "wallet/x", 5), "account"),
    ],
)
def test_bad_postings_are_refused(fields: tuple[object, ...], field: str) -> None:
    with pytest.raises(PostingError) as caught:
        Posting(*fields)  # type: ignore[arg-type]
    assert caught.value.field == field


def test_extreme_posting_amounts_are_allowed() -> None:
    assert Posting(BTC, SEIZED, -AMOUNT_BASE_MAX).amount_base == -AMOUNT_BASE_MAX
    assert Posting(BTC, CASE_WALLET, AMOUNT_BASE_MAX).amount_base == AMOUNT_BASE_MAX


def test_unbalanced_movement_names_the_numbers() -> None:
    with pytest.raises(UnbalancedMovementError) as caught:
        Movement(
            (
                Posting(BTC, CASE_WALLET, -15_000),
                Posting(BTC, CASE_COLD, 14_000),
                Posting(BTC, "network-fees", 1_500),
            )
        )
    assert str(caught.value) == (
        "movement does not balance for bitcoin:BTC: postings sum to 500, "
        "expected 0 (out 15000, in 15500 base units)"
    )
    assert caught.value.asset_id == BTC
    assert caught.value.sum_base == 500


def test_every_asset_must_balance_on_its_own() -> None:
    # 1 BTC out and 1 ETH base unit in: the numbers cancel, the assets do not.
    with pytest.raises(UnbalancedMovementError, match=r"for bitcoin:BTC"):
        Movement((Posting(BTC, CASE_WALLET, -1), Posting(ETH, CASE_WALLET, 1)))
    swap = Movement(
        (
            Posting(BTC, CASE_WALLET, -1),
            Posting(BTC, "sold", 1),
            Posting(USDT, "sold", -5),
            Posting(USDT, "external/venue/binance", 5),
        )
    )
    assert swap.asset_ids == (BTC, USDT)


def test_malformed_movements_are_refused() -> None:
    with pytest.raises(PostingError, match=r"2 to 64 postings, got 1"):
        Movement((Posting(BTC, CASE_WALLET, 1),))
    with pytest.raises(PostingError, match=r"2 to 64 postings, got 0"):
        Movement(())
    many = tuple(Posting(BTC, f"external/a/{index}", 1) for index in range(POSTINGS_MAX))
    with pytest.raises(PostingError, match=r"2 to 64 postings, got 65"):
        Movement((*many, Posting(BTC, SEIZED, -POSTINGS_MAX)))
    with pytest.raises(PostingError, match=r"a tuple of postings"):
        Movement([Posting(BTC, SEIZED, -1), Posting(BTC, CASE_WALLET, 1)])  # type: ignore[arg-type]
    with pytest.raises(PostingError, match=r"postings\[1\]: expected a Posting"):
        Movement((Posting(BTC, SEIZED, -1), (BTC, CASE_WALLET, 1)))  # type: ignore[arg-type]
    with pytest.raises(PostingError, match=r"postings\[2\]: expected one posting per asset"):
        Movement(
            (
                Posting(BTC, SEIZED, -2),
                Posting(BTC, CASE_WALLET, 1),
                Posting(BTC, CASE_WALLET, 1),
            )
        )


def test_transfer_builder() -> None:
    movement = Movement.transfer(BTC, SEIZED, CASE_WALLET, 10)
    assert movement.postings == (Posting(BTC, SEIZED, -10), Posting(BTC, CASE_WALLET, 10))
    assert movement.reversal().postings == (
        Posting(BTC, SEIZED, 10),
        Posting(BTC, CASE_WALLET, -10),
    )
    for amount in (0, -5, True, 1.5):
        with pytest.raises(PostingError, match=r"a positive int"):
            Movement.transfer(BTC, SEIZED, CASE_WALLET, amount)  # type: ignore[arg-type]
    with pytest.raises(PostingError, match=r"one posting per asset and account"):
        Movement.transfer(BTC, CASE_WALLET, CASE_WALLET, 5)


def test_movements_and_postings_are_frozen() -> None:
    movement = Movement.transfer(BTC, SEIZED, CASE_WALLET, 10)
    with pytest.raises(dataclasses.FrozenInstanceError):
        movement.postings = ()  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        movement.postings[0].amount_base = 5  # type: ignore[misc]


# --- the book ----------------------------------------------------------------------------


def test_seizure_transfer_with_fee_and_sale() -> None:
    book = seized_book(10_000)
    book.apply(
        Movement(
            (
                Posting(BTC, CASE_WALLET, -10_000),
                Posting(BTC, CASE_COLD, 9_800),
                Posting(BTC, "network-fees", 200),
            )
        )
    )
    book.apply(Movement.transfer(BTC, CASE_COLD, "fund/cold-1", 9_800))
    book.apply(Movement.transfer(BTC, "fund/cold-1", "sold", 4_000))
    assert book.balances() == (
        Balance(BTC, SEIZED, -10_000),
        Balance(BTC, "fund/cold-1", 5_800),
        Balance(BTC, "network-fees", 200),
        Balance(BTC, "sold", 4_000),
    )
    assert book.total(BTC) == 0
    assert book.balance(BTC, CASE_WALLET) == 0
    assert book.balances(prefix=case_prefix("7")) == ()  # the case could be closed
    book.verify()


def test_overdraft_is_refused_with_the_numbers() -> None:
    book = seized_book(10_000)
    with pytest.raises(NegativeBalanceError) as caught:
        book.apply(Movement.transfer(BTC, CASE_WALLET, "released", 15_000))
    assert str(caught.value) == (
        f"account {CASE_WALLET} would go to -5000 sats of bitcoin:BTC: "
        "holds 10000, moving out 15000"
    )
    assert caught.value.balance_base == 10_000
    assert caught.value.change_base == -15_000


def test_units_are_named_per_asset() -> None:
    book = Book(registry=AssetRegistry.defaults())
    with pytest.raises(NegativeBalanceError, match=r"would go to -1 wei of ethereum:ETH"):
        book.apply(Movement.transfer(ETH, "fund/hot", "sold", 1))
    with pytest.raises(NegativeBalanceError, match=r"-1 base units of ethereum:USDT"):
        book.apply(Movement.transfer(USDT, "fund/hot", "sold", 1))
    with pytest.raises(NegativeBalanceError, match=r"-1 base units of bitcoin:BTC"):
        Book().apply(Movement.transfer(BTC, "fund/hot", "sold", 1))


def test_refused_movement_changes_nothing() -> None:
    book = seized_book(10_000)
    before = book.balances()
    movement = Movement(
        (
            Posting(BTC, SEIZED, -500),  # allowed on its own
            Posting(BTC, CASE_WALLET, 600),  # allowed on its own
            Posting(BTC, "sold", -100),  # a sink cannot go negative
        )
    )
    with pytest.raises(NegativeBalanceError, match=r"account sold would go to -100"):
        book.apply(movement)
    assert book.balances() == before
    assert len(book) == 2
    book.verify()


def test_sinks_are_guarded_and_sources_are_not() -> None:
    book = seized_book(10_000)
    book.apply(Movement.transfer(BTC, CASE_WALLET, "released", 10_000))
    with pytest.raises(NegativeBalanceError, match=r"account released would go to -1"):
        book.apply(Movement.transfer(BTC, "released", CASE_WALLET, 10_001))
    book.apply(Movement.transfer(BTC, "external/received", CASE_WALLET, 5))
    assert book.balance(BTC, "external/received") == -5


def test_unknown_asset_is_refused_with_a_registry() -> None:
    book = Book(registry=AssetRegistry.defaults())
    with pytest.raises(PostingError, match=r"^asset_id: expected a known asset id"):
        book.apply(Movement.transfer("ethereum:DAI", SEIZED, CASE_WALLET, 1))
    assert book.balances() == ()
    Book().apply(Movement.transfer("ethereum:DAI", SEIZED, CASE_WALLET, 1))  # no registry


def test_reversal_undoes_a_movement() -> None:
    book = seized_book(10_000)
    movement = Movement.transfer(BTC, CASE_WALLET, "fund/cold-1", 4_000)
    book.apply(movement)
    book.apply(movement.reversal())
    assert book.balances() == (Balance(BTC, CASE_WALLET, 10_000), Balance(BTC, SEIZED, -10_000))
    with pytest.raises(NegativeBalanceError, match=r"account fund/cold-1 would go to -4000"):
        book.apply(movement.reversal())  # reversing twice would invent coins in the fund


def test_balances_filter_by_asset_and_whole_segments() -> None:
    book = seized_book(10_000)
    book.apply(Movement.transfer(BTC, "external/seized/70", "case/70/wallet/x", 3))
    book.apply(Movement.transfer(ETH, "external/seized/7", "case/7/wallet/0xabc", 5))
    assert [b.account for b in book.balances(prefix="case/7")] == [
        CASE_WALLET,
        "case/7/wallet/0xabc",
    ]
    assert [b.account for b in book.balances(prefix="case/7/")] == [
        CASE_WALLET,
        "case/7/wallet/0xabc",
    ]
    # Sorted by the account string: '/' sorts before '0'.
    assert [b.account for b in book.balances(BTC, prefix="case")] == [
        CASE_WALLET,
        "case/70/wallet/x",
    ]
    assert book.balances(ETH) == (
        Balance(ETH, "case/7/wallet/0xabc", 5),
        Balance(ETH, SEIZED, -5),
    )
    assert book.balances("ethereum:USDT") == ()
    assert book.asset_ids() == (BTC, ETH)
    assert list(book) == list(book.balances())
    with pytest.raises(PostingError, match=r"^asset_id: "):
        book.balances("BTC")
    with pytest.raises(PostingError, match=r"^prefix: "):
        book.balances(prefix="cases")


def test_copy_is_independent() -> None:
    book = seized_book(10_000)
    snapshot = book.copy()
    book.apply(Movement.transfer(BTC, CASE_WALLET, "sold", 1))
    assert snapshot.balance(BTC, "sold") == 0
    assert book.balance(BTC, "sold") == 1
    snapshot.verify()


def test_positions_are_bounded() -> None:
    book = Book(positions_max=3)
    book.apply(Movement.transfer(BTC, SEIZED, CASE_WALLET, 10))
    with pytest.raises(PositionError, match=r"would hold 4 positions: expected at most 3"):
        book.apply(
            Movement(
                (
                    Posting(BTC, CASE_WALLET, -2),
                    Posting(BTC, "sold", 1),
                    Posting(BTC, "released", 1),
                )
            )
        )
    # Emptying an account frees its position in the same movement.
    book.apply(Movement.transfer(BTC, CASE_WALLET, "sold", 10))
    assert len(book) == 2
    for bad in (0, -1, True, 1.5):
        with pytest.raises(PostingError, match=r"positions_max"):
            Book(positions_max=bad)  # type: ignore[arg-type]


def test_balances_are_bounded_by_uint256() -> None:
    book = Book()
    book.apply(Movement.transfer(BTC, "external/a", CASE_WALLET, AMOUNT_BASE_MAX))
    with pytest.raises(PositionError, match=r"magnitude of at most 2\*\*256 - 1"):
        book.apply(Movement.transfer(BTC, "external/a", CASE_COLD, 1))
    with pytest.raises(PositionError, match=f"account {CASE_WALLET} would hold"):
        book.apply(Movement.transfer(BTC, "external/b", CASE_WALLET, 1))


def test_check_refuses_what_is_not_a_movement() -> None:
    with pytest.raises(PostingError, match=r"expected a Movement"):
        postings = (Posting(BTC, SEIZED, -1), Posting(BTC, CASE_WALLET, 1))
        Book().apply(postings)  # type: ignore[arg-type]


def test_verify_catches_a_tampered_book() -> None:
    book = seized_book(10_000)
    book._balances[BTC][CASE_WALLET] = 10_001  # bypasses apply, as a bug would
    with pytest.raises(PositionError, match=r"asset bitcoin:BTC sums to 1: expected 0"):
        book.verify()
    book._balances[BTC] = {SEIZED: 5, CASE_WALLET: -5}
    with pytest.raises(PositionError, match=f"account {CASE_WALLET} holds -5"):
        book.verify()
    book._balances[BTC] = {SEIZED: 0}
    with pytest.raises(PositionError, match=r"non-zero stored balance"):
        book.verify()
    book._balances[BTC] = {}
    with pytest.raises(PositionError, match=r"counts 2 positions: expected 0"):
        book.verify()


# --- properties --------------------------------------------------------------------------

ACCOUNTS = (
    "external/seized/7",
    "external/received",
    CASE_WALLET,
    CASE_COLD,
    "case/8/wallet/x",
    "fund/cold-1",
    "sold",
    "released",
    "network-fees",
)
ASSETS = (BTC, ETH, USDT)
amounts = st.integers(min_value=1, max_value=10**12) | st.integers(min_value=1, max_value=50)


@st.composite
def movements(draw: st.DrawFn) -> Movement:
    """A balanced movement: 1 to 3 assets, each over 2 to 4 distinct accounts."""
    postings: list[Posting] = []
    for asset_id in draw(st.lists(st.sampled_from(ASSETS), min_size=1, max_size=3, unique=True)):
        accounts = draw(st.lists(st.sampled_from(ACCOUNTS), min_size=2, max_size=4, unique=True))
        changes = [draw(amounts) * draw(st.sampled_from((1, -1))) for _ in accounts[1:]]
        if sum(changes) == 0:
            changes[0] *= 2  # the sum becomes changes[0], never zero
        changes.insert(0, -sum(changes))
        postings.extend(Posting(asset_id, a, c) for a, c in zip(accounts, changes, strict=True))
    return Movement(tuple(postings))


def assert_invariants(book: Book) -> None:
    for asset_id in ASSETS:
        assert book.total(asset_id) == 0
    for balance in book.balances():
        assert balance.amount_base != 0
        assert balance.amount_base > 0 or is_source_account(balance.account)
    book.verify()


@settings(max_examples=150, deadline=None)
@given(st.lists(movements(), max_size=25))
def test_random_movements_keep_the_invariants(sequence: list[Movement]) -> None:
    book = Book(registry=AssetRegistry.defaults())
    applied = 0
    for movement in sequence:
        before = book.copy()
        try:
            book.apply(movement)
        except NegativeBalanceError as error:
            assert error.balance_base + error.change_base < 0
            assert not is_source_account(error.account)
            assert book.balances() == before.balances()  # refused: nothing changed
            assert len(book) == len(before)
        else:
            applied += 1
            for posting in movement.postings:
                assert book.balance(posting.asset_id, posting.account) == (
                    before.balance(posting.asset_id, posting.account) + posting.amount_base
                )
        assert_invariants(book)


@settings(max_examples=100, deadline=None)
@given(st.lists(movements(), max_size=15))
def test_applying_reversals_in_reverse_order_empties_the_book(sequence: list[Movement]) -> None:
    book = Book()
    applied: list[Movement] = []
    for movement in sequence:
        try:
            book.apply(movement)
        except NegativeBalanceError:
            continue
        applied.append(movement)
    for movement in reversed(applied):
        book.apply(movement.reversal())
    assert book.balances() == ()
    assert len(book) == 0


@given(
    st.lists(
        st.tuples(st.sampled_from(ASSETS), st.integers(min_value=-100, max_value=100)),
        min_size=2,
        max_size=8,
    )
)
def test_movement_is_accepted_exactly_when_each_asset_sums_to_zero(
    items: list[tuple[str, int]],
) -> None:
    postings = tuple(
        Posting(asset_id, f"external/p/{index}", amount or 1)
        for index, (asset_id, amount) in enumerate(items)
    )
    sums = {asset_id: 0 for asset_id in ASSETS}
    for posting in postings:
        sums[posting.asset_id] += posting.amount_base
    if all(total == 0 for total in sums.values()):
        assert Movement(postings).postings == postings
    else:
        with pytest.raises(UnbalancedMovementError) as caught:
            Movement(postings)
        assert caught.value.sum_base == sums[caught.value.asset_id] != 0


def test_restore_sets_stored_balances_and_refuses_impossible_ones() -> None:
    book = Book()
    book.restore([Balance(BTC, CASE_WALLET, 700), Balance(BTC, SEIZED, -700)])
    assert book.balance(BTC, CASE_WALLET) == 700 and len(book) == 2
    book.verify()
    book.restore([Balance(BTC, CASE_WALLET, 0), Balance(BTC, SEIZED, 0)])
    assert len(book) == 0 and book.asset_ids() == ()
    with pytest.raises(PositionError, match="expected at least 0"):
        book.restore([Balance(BTC, CASE_WALLET, -1)])
    with pytest.raises(PostingError, match="a Balance"):
        book.restore(["not a balance"])  # type: ignore[list-item]
    assert len(book) == 0
