"""The custody rules: what each custody statement does to cases, wallets and positions.

`CustodyState` holds what the rules need: assets, cases, wallets, balances (a `Book`),
holdings and movements. It either starts empty and sees every entry from the genesis
(verify, rebuild), or holds only what a batch touches and asks a `Loader` for the rest (the
append path). Each rule raises StatementError naming the field, what was expected and the
numbers, and checks everything before it changes anything.

Accounts (see `positions`): a seizure moves `external/seized/<case>` into
`case/<case>/wallet/<wallet>`; a forfeiture moves a case's holding into `fund/<wallet>` (the
coins stay where they are, their owner changes); a release moves it to `released`; a fee
goes to `network-fees`. A token's fee is paid in the chain's native asset from operating
funds outside custody (`external/operations`).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Final, Protocol

from sequestra.addresses import AddressError, validate_address
from sequestra.custody import kinds as schemas
from sequestra.custody.amounts import AmountError, format_base_units, parse_base_units
from sequestra.custody.assets import Asset, AssetError, AssetRegistry
from sequestra.custody.positions import (
    ACCOUNT_NETWORK_FEES,
    ACCOUNT_RELEASED,
    PREFIX_CASE,
    PREFIX_FUND,
    Balance,
    Book,
    Movement,
    NegativeBalanceError,
    PositionError,
    Posting,
    case_wallet_account,
    external_account,
    fund_account,
)
from sequestra.ledger.errors import StatementError
from sequestra.ledger.kinds import BodyModel, body_as
from sequestra.ledger.roles import (
    ASSET_REGISTERED,
    CASE_CLOSED,
    CASE_OPENED,
    CUSTODY_TRANSFERRED,
    ENTRY_CORRECTED,
    FORFEITURE_ORDERED,
    RELEASE_ORDERED,
    SEIZURE_RECORDED,
    WALLET_REGISTERED,
)
from sequestra.ledger.statement import SignedStatement
from sequestra.ledger.timefmt import format_timestamp, parse_timestamp

CUSTODY_KINDS: Final = frozenset(schemas.BODY_SCHEMAS)
MOVEMENT_KINDS: Final = frozenset(
    {SEIZURE_RECORDED, CUSTODY_TRANSFERRED, FORFEITURE_ORDERED, RELEASE_ORDERED, ENTRY_CORRECTED}
)
OPERATIONS_ACCOUNT: Final = "external/operations"

# Holding states: where a holding is while it holds something, and, once it holds nothing,
# what emptied it.
IN_CUSTODY: Final = "in_custody"
IN_FUND: Final = "in_fund"
EMPTIED_BY: Final = {
    SEIZURE_RECORDED: "reversed",  # unreachable: a seizure only adds
    CUSTODY_TRANSFERRED: "transferred",
    FORFEITURE_ORDERED: "forfeited",
    RELEASE_ORDERED: "released",
    ENTRY_CORRECTED: "reversed",
    "sale.executed": "sold",  # the State Fund's sales (sequestra.fund) empty holdings too
}
HOLDING_STATES: Final = (IN_CUSTODY, IN_FUND, *sorted(set(EMPTIED_BY.values())))
CLOSING_LIST_MAX: Final = 5  # holdings named in a refused case closing


@dataclass(frozen=True, slots=True)
class CaseRecord:
    case_id: str
    agency: str
    legal_basis: str
    prosecutor_ref: str | None
    court_ref: str | None
    description: str | None
    opened_seq: int
    opened_at: str
    closed_seq: int | None = None
    closed_reason: str | None = None
    holdings_open: int = 0


@dataclass(frozen=True, slots=True)
class WalletRecord:
    address: str
    chain: str
    network: str
    controller: str
    label: str
    registered_seq: int


@dataclass(frozen=True, slots=True)
class PositionRecord:
    """What the book knows of an account besides its balance; holdings carry an id."""

    asset_id: str
    account: str
    holding_id: int | None
    case_id: str | None
    wallet: str | None
    state: str | None
    first_seq: int
    last_seq: int


@dataclass(frozen=True, slots=True)
class MovementRecord:
    seq: int
    kind: str
    case_id: str | None
    postings: tuple[Posting, ...]
    reversed_by: int | None = None


@dataclass(frozen=True, slots=True)
class PostingRecord:
    seq: int
    idx: int
    asset_id: str
    account: str
    amount_base: int
    holding_id: int | None


class Loader(Protocol):
    """Reads what a partially loaded state does not hold yet (the projection's tables)."""

    def case(self, case_id: str) -> CaseRecord | None: ...

    def wallet(self, address: str) -> WalletRecord | None: ...

    def positions(self, keys: Sequence[tuple[str, str]]) -> list[tuple[PositionRecord, int]]: ...

    def movement(self, seq: int) -> MovementRecord | None: ...

    def open_holdings(self, case_id: str) -> list[tuple[PositionRecord, int]]: ...


def _refuse(field: str, expected: str, got: str) -> StatementError:
    return StatementError(f"{field}: expected {expected}, got {got}")


class CustodyState:
    """The custody read model in memory, and the rules that change it."""

    def __init__(
        self,
        loader: Loader | None = None,
        assets: Iterable[tuple[Asset, int]] = (),
        networks: dict[str, str] | None = None,
        next_holding_id: int = 1,
    ) -> None:
        self.loader = loader
        self.registered: dict[str, tuple[Asset, int]] = {a.asset_id: (a, s) for a, s in assets}
        self.registry = AssetRegistry.defaults().with_assets(a for a, _ in self.registered.values())
        self.networks: dict[str, str] = dict(networks or {})
        self.next_holding_id = next_holding_id
        self.book = Book(registry=None)
        self.cases: dict[str, CaseRecord | None] = {}
        self.wallets: dict[str, WalletRecord | None] = {}
        self.positions: dict[tuple[str, str], PositionRecord] = {}
        self.known_positions: set[tuple[str, str]] = set()
        self.stored_positions: set[tuple[str, str]] = set()  # those read from storage
        self.movements: dict[int, MovementRecord | None] = {}
        self.postings: list[PostingRecord] = []
        # What changed since the state was loaded (the projection writes these).
        self.new_assets: list[str] = []
        self.dirty_cases: set[str] = set()
        self.new_wallets: list[str] = []
        self.dirty_positions: set[tuple[str, str]] = set()
        self.dirty_movements: set[int] = set()

    # --- lookups, loading what is missing --------------------------------------------------

    def case(self, case_id: str) -> CaseRecord | None:
        if case_id not in self.cases:
            self.cases[case_id] = self.loader.case(case_id) if self.loader else None
        return self.cases[case_id]

    def wallet(self, address: str) -> WalletRecord | None:
        if address not in self.wallets:
            self.wallets[address] = self.loader.wallet(address) if self.loader else None
        return self.wallets[address]

    def movement(self, seq: int) -> MovementRecord | None:
        if seq not in self.movements:
            self.movements[seq] = self.loader.movement(seq) if self.loader else None
        return self.movements[seq]

    def load_positions(self, keys: Iterable[tuple[str, str]]) -> None:
        """Make sure the balances and records of `keys` are in memory."""
        missing = sorted(set(keys) - self.known_positions)
        if not missing:
            return
        if self.loader is not None:
            found = self.loader.positions(missing)
            self.book.restore(Balance(r.asset_id, r.account, amount) for r, amount in found)
            for record, _ in found:
                self.positions[(record.asset_id, record.account)] = record
                self.stored_positions.add((record.asset_id, record.account))
        self.known_positions.update(missing)

    def asset(self, asset_id: str, field: str = "asset") -> Asset:
        try:
            return self.registry.get(asset_id)
        except AssetError as error:
            raise _refuse(field, error.expected, error.got) from None

    def display(self, asset_id: str, amount_base: int) -> str:
        """Write an amount of an asset as people read it, e.g. '0.5 BTC'."""
        asset = self.registry.get(asset_id)
        sign = "-" if amount_base < 0 else ""
        return f"{sign}{format_base_units(abs(amount_base), asset.decimals)} {asset.symbol}"

    # --- applying statements ---------------------------------------------------------------

    def apply(self, seq: int, statement: SignedStatement, body: BodyModel) -> None:
        """Check `statement` (its body read as `body`) against the rules and apply it.

        Raises StatementError if refused; a kind outside custody is left alone.
        """
        kind, at = statement.kind, statement.issued_at
        if kind == ASSET_REGISTERED:
            _asset_registered(self, seq, body_as(kind, body, schemas.AssetRegisteredBody))
        elif kind == CASE_OPENED:
            _case_opened(self, seq, at, body_as(kind, body, schemas.CaseOpenedBody))
        elif kind == CASE_CLOSED:
            _case_closed(self, seq, body_as(kind, body, schemas.CaseClosedBody))
        elif kind == WALLET_REGISTERED:
            _wallet_registered(self, seq, body_as(kind, body, schemas.WalletRegisteredBody))
        elif kind == SEIZURE_RECORDED:
            _seizure_recorded(self, seq, at, body_as(kind, body, schemas.SeizureRecordedBody))
        elif kind == CUSTODY_TRANSFERRED:
            body_transferred = body_as(kind, body, schemas.CustodyTransferredBody)
            _custody_transferred(self, seq, at, body_transferred)
        elif kind == FORFEITURE_ORDERED:
            _forfeiture_ordered(self, seq, body_as(kind, body, schemas.ForfeitureOrderedBody))
        elif kind == RELEASE_ORDERED:
            _release_ordered(self, seq, at, body_as(kind, body, schemas.ReleaseOrderedBody))
        elif kind == ENTRY_CORRECTED:
            _entry_corrected(self, seq, body_as(kind, body, schemas.EntryCorrectedBody))

    def _open_case(self, case_id: str, field: str = "case") -> CaseRecord:
        record = self.case(case_id)
        if record is None:
            raise _refuse(field, "a case opened with `sequestra case open`", f"{case_id!r}")
        if record.closed_seq is not None:
            raise _refuse(field, "an open case", f"{case_id!r}, closed at seq {record.closed_seq}")
        return record

    def _custody_wallet(self, address: str, asset: Asset, field: str) -> WalletRecord:
        record = self.wallet(address)
        if record is None:
            raise _refuse(
                field, "a custody wallet registered with `sequestra wallet add`", repr(address)
            )
        if record.chain != asset.chain:
            raise _refuse(
                field,
                f"a wallet on {asset.chain} (the chain of {asset.asset_id})",
                f"{address!r} on {record.chain}",
            )
        return record

    def _amount(self, text: str, field: str, zero_allowed: bool = False) -> int:
        try:
            return parse_base_units(text, field=field, zero_allowed=zero_allowed)
        except AmountError as error:
            raise _refuse(error.field, error.expected, error.got) from None

    def _check_address(self, chain: str, address: str, field: str) -> None:
        network = self.networks.get(chain)
        if network is None:
            raise _refuse(field, f"a {chain} address, once a {chain} wallet is registered", "none")
        try:
            normalised = validate_address(chain, network, address)
        except AddressError as error:
            raise _refuse(field, error.expected, error.got) from None
        if normalised != address:
            raise _refuse(field, f"the normalised form {normalised!r}", repr(address))

    def _check_tx(self, chain: str, tx: str, field: str) -> None:
        ethereum = tx.startswith("0x")
        if ethereum != (chain == "ethereum"):
            shape = "0x and 64 hex digits" if chain == "ethereum" else "64 hex digits (a txid)"
            raise _refuse(field, f"a {chain} transaction hash: {shape}", repr(tx))

    def _fee_postings(self, asset: Asset, source: str, amount: int, fee: int) -> list[Posting]:
        """Postings that move `amount` out of `source` and pay `fee` (native asset)."""
        if fee == 0:
            return [Posting(asset.asset_id, source, -amount)]
        native = self.registry.native(asset.chain).asset_id
        if native == asset.asset_id:
            return [
                Posting(asset.asset_id, source, -(amount + fee)),
                Posting(native, ACCOUNT_NETWORK_FEES, fee),
            ]
        return [
            Posting(asset.asset_id, source, -amount),
            Posting(native, OPERATIONS_ACCOUNT, -fee),
            Posting(native, ACCOUNT_NETWORK_FEES, fee),
        ]

    def move(
        self, seq: int, kind: str, case_id: str | None, postings: Sequence[Posting], field: str
    ) -> None:
        """Apply postings as one movement of entry `seq`, or refuse and change nothing."""
        try:
            movement = Movement(tuple(postings))
        except PositionError as error:
            raise StatementError(f"{field}: {error}") from None
        keys = [(p.asset_id, p.account) for p in movement.postings]
        self.load_positions(keys)
        try:
            self.book.check(movement)
        except NegativeBalanceError as error:
            raise self._shortfall(field, error) from None
        except PositionError as error:
            raise StatementError(f"{field}: {error}") from None
        before = {key: self.book.balance(*key) for key in keys}
        self.book.apply(movement)
        for idx, posting in enumerate(movement.postings):
            key = (posting.asset_id, posting.account)
            record = self._touch(seq, kind, key, before[key])
            self.postings.append(
                PostingRecord(
                    seq,
                    idx,
                    posting.asset_id,
                    posting.account,
                    posting.amount_base,
                    record.holding_id,
                )
            )
        self.movements[seq] = MovementRecord(seq, kind, case_id, movement.postings)
        self.dirty_movements.add(seq)

    def _touch(self, seq: int, kind: str, key: tuple[str, str], before: int) -> PositionRecord:
        """Update the record of one account after a posting to it."""
        asset_id, account = key
        after = self.book.balance(asset_id, account)
        record = self.positions.get(key)
        if record is None:
            record = self._new_position(seq, asset_id, account)
        state = record.state
        if record.holding_id is not None:
            if after > 0:
                state = IN_FUND if account.startswith(PREFIX_FUND + "/") else IN_CUSTODY
            else:
                state = EMPTIED_BY[kind]
            if record.case_id is not None and (before > 0) != (after > 0):
                case = self.case(record.case_id)
                if case is None:
                    raise StatementError(f"case {record.case_id!r} of {account} is not stored")
                opened = case.holdings_open + (1 if after > 0 else -1)
                self.cases[case.case_id] = replace(case, holdings_open=opened)
                self.dirty_cases.add(case.case_id)
        record = replace(record, state=state, last_seq=seq)
        self.positions[key] = record
        self.dirty_positions.add(key)
        return record

    def _new_position(self, seq: int, asset_id: str, account: str) -> PositionRecord:
        parts = account.split("/")
        case_id = wallet = None
        holding_id = None
        if parts[0] == PREFIX_CASE:
            case_id, wallet = parts[1], parts[3]
        elif parts[0] == PREFIX_FUND:
            wallet = parts[1]
        if wallet is not None:
            holding_id = self.next_holding_id
            self.next_holding_id += 1
        return PositionRecord(asset_id, account, holding_id, case_id, wallet, None, seq, seq)

    def _shortfall(self, field: str, error: NegativeBalanceError) -> StatementError:
        held, taken = error.balance_base, -error.change_base
        record = self.positions.get((error.asset_id, error.account))
        state = ""
        if held == 0 and record is not None and record.state not in (None, IN_CUSTODY, IN_FUND):
            state = f"; the holding is {record.state} (seq {record.last_seq})"
        return StatementError(
            f"{field}: expected at most {self.display(error.asset_id, held)} (what"
            f" {error.account} holds), got {self.display(error.asset_id, taken)} to move out"
            f" ({taken} > {held} base units){state}"
        )

    def open_holdings(self, case_id: str) -> list[tuple[PositionRecord, int]]:
        """The holdings of a case with a balance above zero (loads them when partial)."""
        if self.loader is not None:
            for record, amount in self.loader.open_holdings(case_id):
                key = (record.asset_id, record.account)
                if key not in self.known_positions:
                    self.book.restore([Balance(record.asset_id, record.account, amount)])
                    self.positions[key] = record
                    self.known_positions.add(key)
                    self.stored_positions.add(key)
        return sorted(
            (
                (record, self.book.balance(record.asset_id, record.account))
                for record in self.positions.values()
                if record.case_id == case_id
                and self.book.balance(record.asset_id, record.account) > 0
            ),
            key=lambda item: item[0].holding_id or 0,
        )

    # --- reading everything (verify) -------------------------------------------------------

    def iter_positions(self) -> Iterator[tuple[PositionRecord, int]]:
        for key, record in self.positions.items():
            yield record, self.book.balance(*key)


# --- handlers, one per kind ---------------------------------------------------------------


def _asset_registered(state: CustodyState, seq: int, body: schemas.AssetRegisteredBody) -> None:
    try:
        asset = Asset(body.asset, body.chain, body.symbol, body.kind, body.contract, body.decimals)
        registry = state.registry.with_assets([asset])
    except AssetError as error:
        raise _refuse(error.field, error.expected, error.got) from None
    state.registry = registry
    state.registered[asset.asset_id] = (asset, seq)
    state.new_assets.append(asset.asset_id)


def _case_opened(state: CustodyState, seq: int, at: datetime, body: schemas.CaseOpenedBody) -> None:
    existing = state.case(body.case)
    if existing is not None:
        raise _refuse(
            "case",
            "a case number not used before",
            f"{body.case!r}, opened at seq {existing.opened_seq}",
        )
    state.cases[body.case] = CaseRecord(
        body.case,
        body.agency,
        body.legal_basis,
        body.prosecutor_ref,
        body.court_ref,
        body.description,
        seq,
        format_timestamp(at),
    )
    state.dirty_cases.add(body.case)


def _case_closed(state: CustodyState, seq: int, body: schemas.CaseClosedBody) -> None:
    case = state._open_case(body.case)
    if case.holdings_open:
        held = state.open_holdings(body.case)
        listed = ", ".join(
            f"{state.display(r.asset_id, amount)} in {r.wallet} (holding {r.holding_id})"
            for r, amount in held[:CLOSING_LIST_MAX]
        )
        more = f" and {len(held) - CLOSING_LIST_MAX} more" if len(held) > CLOSING_LIST_MAX else ""
        raise _refuse(
            "case",
            "a case that holds nothing (forfeit or release its holdings first)",
            f"{body.case!r}, which still has {case.holdings_open} holding(s): {listed}{more}",
        )
    state.cases[body.case] = replace(case, closed_seq=seq, closed_reason=body.reason)
    state.dirty_cases.add(body.case)


def _wallet_registered(state: CustodyState, seq: int, body: schemas.WalletRegisteredBody) -> None:
    existing = state.wallet(body.address)
    if existing is not None:
        raise _refuse(
            "address",
            "a wallet not registered before",
            f"{body.address!r}, registered at seq {existing.registered_seq}",
        )
    network = state.networks.get(body.chain)
    if network is not None and network != body.network:
        raise _refuse(
            "network",
            f"{network!r}, the network of this ledger's {body.chain} wallets",
            repr(body.network),
        )
    try:
        normalised = validate_address(body.chain, body.network, body.address)
    except AddressError as error:
        raise _refuse(error.field, error.expected, error.got) from None
    if normalised != body.address:
        raise _refuse("address", f"the normalised form {normalised!r}", repr(body.address))
    state.networks[body.chain] = body.network
    state.wallets[body.address] = WalletRecord(
        body.address, body.chain, body.network, body.controller, body.label, seq
    )
    state.new_wallets.append(body.address)


def _seizure_recorded(
    state: CustodyState, seq: int, at: datetime, body: schemas.SeizureRecordedBody
) -> None:
    state._open_case(body.case)
    asset = state.asset(body.asset)
    state._custody_wallet(body.wallet, asset, "wallet")
    amount = state._amount(body.amount_base, "amount_base")
    if parse_timestamp(body.seized_at, "seized_at") > at:
        raise _refuse("seized_at", "a time no later than the statement's issued_at", body.seized_at)
    for index, address in enumerate(body.source_addresses):
        state._check_address(asset.chain, address, f"source_addresses[{index}]")
    for index, tx in enumerate(body.source_txs):
        state._check_tx(asset.chain, tx, f"source_txs[{index}]")
    postings = [
        Posting(asset.asset_id, external_account("seized", body.case), -amount),
        Posting(asset.asset_id, case_wallet_account(body.case, body.wallet), amount),
    ]
    state.move(seq, SEIZURE_RECORDED, body.case, postings, "amount_base")


def _custody_transferred(
    state: CustodyState, seq: int, at: datetime, body: schemas.CustodyTransferredBody
) -> None:
    if body.case is not None:
        state._open_case(body.case)
    asset = state.asset(body.asset)
    state._custody_wallet(body.from_wallet, asset, "from")
    state._custody_wallet(body.to_wallet, asset, "to")
    if body.from_wallet == body.to_wallet:
        raise _refuse("to", "a wallet other than the one it leaves", repr(body.to_wallet))
    amount = state._amount(body.amount_base, "amount_base")
    fee = state._amount(body.fee_base, "fee_base", zero_allowed=True)
    state._check_tx(asset.chain, body.tx, "tx")
    if parse_timestamp(body.transferred_at, "transferred_at") > at:
        raise _refuse(
            "transferred_at",
            "a time no later than the statement's issued_at",
            body.transferred_at,
        )
    if body.case is None:
        source, target = fund_account(body.from_wallet), fund_account(body.to_wallet)
    else:
        source = case_wallet_account(body.case, body.from_wallet)
        target = case_wallet_account(body.case, body.to_wallet)
    postings = state._fee_postings(asset, source, amount, fee)
    postings.insert(1, Posting(asset.asset_id, target, amount))
    state.move(seq, CUSTODY_TRANSFERRED, body.case, postings, "amount_base")


def _forfeiture_ordered(state: CustodyState, seq: int, body: schemas.ForfeitureOrderedBody) -> None:
    state._open_case(body.case)
    postings: list[Posting] = []
    for index, item in enumerate(body.holdings):
        field = f"holdings[{index}]"
        asset = state.asset(item.asset, f"{field}.asset")
        state._custody_wallet(item.wallet, asset, f"{field}.wallet")
        amount = state._amount(item.amount_base, f"{field}.amount_base")
        postings.append(
            Posting(asset.asset_id, case_wallet_account(body.case, item.wallet), -amount)
        )
        postings.append(Posting(asset.asset_id, fund_account(item.wallet), amount))
    state.move(seq, FORFEITURE_ORDERED, body.case, postings, "holdings")


def _release_ordered(
    state: CustodyState, seq: int, at: datetime, body: schemas.ReleaseOrderedBody
) -> None:
    state._open_case(body.case)
    asset = state.asset(body.asset)
    state._custody_wallet(body.wallet, asset, "wallet")
    amount = state._amount(body.amount_base, "amount_base")
    fee = state._amount(body.fee_base, "fee_base", zero_allowed=True)
    state._check_address(asset.chain, body.destination, "destination")
    state._check_tx(asset.chain, body.tx, "tx")
    if parse_timestamp(body.released_at, "released_at") > at:
        raise _refuse(
            "released_at", "a time no later than the statement's issued_at", body.released_at
        )
    source = case_wallet_account(body.case, body.wallet)
    postings = state._fee_postings(asset, source, amount, fee)
    postings.insert(1, Posting(asset.asset_id, ACCOUNT_RELEASED, amount))
    state.move(seq, RELEASE_ORDERED, body.case, postings, "amount_base")


def _entry_corrected(state: CustodyState, seq: int, body: schemas.EntryCorrectedBody) -> None:
    if body.seq >= seq:
        raise _refuse("seq", f"the seq of an earlier entry (below {seq})", str(body.seq))
    target = state.movement(body.seq)
    if target is None:
        raise _refuse("seq", "the seq of a seizure, transfer, forfeiture or release", str(body.seq))
    if target.kind == ENTRY_CORRECTED:
        raise _refuse(
            "seq",
            "a movement, not a correction (record the movement again instead)",
            str(body.seq),
        )
    if target.reversed_by is not None:
        raise _refuse(
            "seq",
            "an entry not corrected before",
            f"{body.seq}, already corrected at seq {target.reversed_by}",
        )
    if target.case_id is not None:
        state._open_case(target.case_id)
    reversal = [Posting(p.asset_id, p.account, -p.amount_base) for p in target.postings]
    state.move(seq, ENTRY_CORRECTED, target.case_id, reversal, "seq")
    state.movements[body.seq] = replace(target, reversed_by=seq)
    state.dirty_movements.add(body.seq)
