"""Double-entry positions per asset and account.

Every movement of an asset is a set of postings that sum to zero for each asset, so the
balances of one asset over all accounts always sum to zero, and where an asset is can
always be read off the book. Amounts are signed integers in base units: positive adds to
an account, negative takes from it.

Accounts are `/`-separated names under a fixed set of top-level prefixes:

| account                           | holds                                               |
|-----------------------------------|-----------------------------------------------------|
| `case/<case>/wallet/<wallet>`     | what a case holds in a custody wallet (an address)  |
| `fund/<wallet>`                   | what the State Fund holds in a wallet               |
| `sold`                            | what left custody through sales                     |
| `released`                        | what was returned to owners                         |
| `network-fees`                    | what was paid to miners and validators as fees      |
| `external/<name>[/<name>...]`     | the world outside custody (source accounts)         |

Only `external/...` accounts may go negative: they are the world side, the other half of
assets coming in. Their names are a convention, not enforced beyond the prefix:
`external/seized/<case>` (taken from their holders for a case), `external/received`
(inflows nobody announced, found by reconciliation), `external/opening` (balances carried
over from records kept before Sequestra). Every other account, the sinks `sold`,
`released` and `network-fees` included, is guarded: a movement that would take it below
zero is refused whole, before anything changes.

Names are case-sensitive; callers pass addresses in their normalised form (bech32 lower
case, EIP-55 for Ethereum) so one wallet is always one name.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from types import MappingProxyType
from typing import Final

from sequestra.custody.amounts import AMOUNT_BASE_MAX, describe_value
from sequestra.custody.assets import AssetError, AssetRegistry, validate_asset_id
from sequestra.errors import InputRefused

ACCOUNT_LENGTH_MAX: Final = 256
SEGMENT_LENGTH_MAX: Final = 128  # a bech32 address is at most 90 characters
POSTINGS_MAX: Final = 64  # postings in one movement
POSITIONS_MAX: Final = 10_000_000  # default bound on non-zero (asset, account) positions
PREFIX_CASE: Final = "case"
PREFIX_FUND: Final = "fund"
PREFIX_EXTERNAL: Final = "external"
ACCOUNT_SOLD: Final = "sold"
ACCOUNT_RELEASED: Final = "released"
ACCOUNT_NETWORK_FEES: Final = "network-fees"
CASE_WALLET: Final = "wallet"
# Top-level prefix -> (fewest, most) segments an account under it has.
ACCOUNT_SHAPES: Final = MappingProxyType(
    {
        PREFIX_CASE: (4, 4),
        PREFIX_FUND: (2, 2),
        ACCOUNT_SOLD: (1, 1),
        ACCOUNT_RELEASED: (1, 1),
        ACCOUNT_NETWORK_FEES: (1, 1),
        PREFIX_EXTERNAL: (2, 4),
    }
)
_SEGMENT_PATTERN: Final = re.compile(rf"[A-Za-z0-9._-]{{1,{SEGMENT_LENGTH_MAX}}}", re.ASCII)
_SEGMENT_EXPECTED: Final = (
    f"segments of 1 to {SEGMENT_LENGTH_MAX} ASCII letters, digits, '.', '_' or '-' separated by '/'"
)


class PositionError(InputRefused):
    """A posting, movement or balance breaks a rule of the book; nothing was changed."""


class PostingError(PositionError):
    """A posting's asset, account or amount is malformed.

    `field` names the offending input; `expected` and `got` are the two halves of the
    message.
    """

    def __init__(self, field: str, expected: str, got: str) -> None:
        super().__init__(f"{field}: expected {expected}, got {got}")
        self.field = field
        self.expected = expected
        self.got = got


class UnbalancedMovementError(PositionError):
    """A movement's postings of one asset do not sum to zero."""

    def __init__(self, asset_id: str, sum_base: int, out_base: int, in_base: int) -> None:
        super().__init__(
            f"movement does not balance for {asset_id}: postings sum to {sum_base}, "
            f"expected 0 (out {out_base}, in {in_base} base units)"
        )
        self.asset_id = asset_id
        self.sum_base = sum_base


class NegativeBalanceError(PositionError):
    """A movement would take a guarded account below zero."""

    def __init__(
        self, account: str, asset_id: str, unit: str, balance_base: int, change_base: int
    ) -> None:
        super().__init__(
            f"account {account} would go to {balance_base + change_base} {unit} of "
            f"{asset_id}: holds {balance_base}, moving out {-change_base}"
        )
        self.account = account
        self.asset_id = asset_id
        self.balance_base = balance_base
        self.change_base = change_base


def validate_account(account: object, *, field: str = "account") -> str:
    """Check an account name and return it.

    Raises:
        PostingError: `account` is not a string, is empty or longer than
            `ACCOUNT_LENGTH_MAX`, has a segment that is empty, '.', '..' or has characters
            outside ASCII letters, digits, '.', '_', '-', or does not fit the shape of its
            top-level prefix (see `ACCOUNT_SHAPES`).
    """
    segments = _segments(account, field)
    shape = ACCOUNT_SHAPES.get(segments[0])
    if shape is None:
        prefixes = ", ".join(ACCOUNT_SHAPES)
        raise PostingError(field, f"an account under one of {prefixes}", describe_value(account))
    fewest, most = shape
    if not fewest <= len(segments) <= most:
        raise PostingError(field, _shape_text(segments[0]), describe_value(account))
    if segments[0] == PREFIX_CASE and segments[2] != CASE_WALLET:
        raise PostingError(field, _shape_text(PREFIX_CASE), describe_value(account))
    return "/".join(segments)


def _segments(name: object, field: str) -> list[str]:
    """Split an account name (or prefix) into checked segments."""
    if not isinstance(name, str):
        raise PostingError(field, "an account name (a string)", describe_value(name))
    if not name or len(name) > ACCOUNT_LENGTH_MAX:
        raise PostingError(
            field, f"an account name of 1 to {ACCOUNT_LENGTH_MAX} characters", describe_value(name)
        )
    segments = name.split("/")
    for segment in segments:
        if _SEGMENT_PATTERN.fullmatch(segment) is None or segment in (".", ".."):
            raise PostingError(
                field, _SEGMENT_EXPECTED, f"segment {segment!r} in {describe_value(name)}"
            )
    return segments


def _shape_text(prefix: str) -> str:
    shapes = {
        PREFIX_CASE: "case/<case>/wallet/<wallet>",
        PREFIX_FUND: "fund/<wallet>",
        PREFIX_EXTERNAL: "external/<name> with 1 to 3 names",
    }
    return f"an account of the form {shapes.get(prefix, prefix)}"


def is_source_account(account: str) -> bool:
    """Return True when the account is on the world side and may go negative."""
    return account.startswith(PREFIX_EXTERNAL + "/")


def case_wallet_account(case_id: str, wallet: str) -> str:
    """Return `case/<case_id>/wallet/<wallet>`.

    Raises:
        PostingError: `case_id` or `wallet` is not one valid segment.
    """
    case = _one_segment(case_id, "case")
    return validate_account(f"{PREFIX_CASE}/{case}/{CASE_WALLET}/{_one_segment(wallet, 'wallet')}")


def case_prefix(case_id: str) -> str:
    """Return `case/<case_id>`, the prefix of every account of a case.

    Raises:
        PostingError: `case_id` is not one valid segment.
    """
    return f"{PREFIX_CASE}/{_one_segment(case_id, 'case')}"


def _one_segment(value: object, field: str) -> str:
    """Check that `value` is one account-name segment and return it."""
    if (
        not isinstance(value, str)
        or _SEGMENT_PATTERN.fullmatch(value) is None
        or value in (".", "..")
    ):
        raise PostingError(
            field,
            f"one segment of 1 to {SEGMENT_LENGTH_MAX} ASCII letters, digits, '.', '_' or '-'",
            describe_value(value),
        )
    return value


def fund_account(wallet: str) -> str:
    """Return `fund/<wallet>`.

    Raises:
        PostingError: `wallet` is not one valid segment.
    """
    return validate_account(f"{PREFIX_FUND}/{_one_segment(wallet, 'wallet')}")


def external_account(*names: str) -> str:
    """Return `external/<name>/...`, a source account (for example `external/seized/<case>`).

    Raises:
        PostingError: no name, more than three, or a name that is not one valid segment.
    """
    checked = [_one_segment(name, "name") for name in names]
    return validate_account("/".join((PREFIX_EXTERNAL, *checked)))


def validate_account_prefix(prefix: object, *, field: str = "prefix") -> str:
    """Check a prefix of account names (whole segments, one trailing '/' allowed); return it
    without the trailing '/'.

    Raises:
        PostingError: the prefix is empty, too long, has a bad segment, or does not start
            with a known top-level prefix.
    """
    if isinstance(prefix, str) and prefix.endswith("/"):
        prefix = prefix[:-1]
    segments = _segments(prefix, field)
    if segments[0] not in ACCOUNT_SHAPES:
        prefixes = ", ".join(ACCOUNT_SHAPES)
        raise PostingError(field, f"a prefix under one of {prefixes}", describe_value(prefix))
    return "/".join(segments)


@dataclass(frozen=True, slots=True)
class Posting:
    """One signed change to one account's balance of one asset, in base units.

    Raises:
        PostingError: the asset id or account is malformed, or `amount_base` is not a
            non-zero int of magnitude at most `AMOUNT_BASE_MAX`.
    """

    asset_id: str
    account: str
    amount_base: int

    def __post_init__(self) -> None:
        try:
            validate_asset_id(self.asset_id)
        except AssetError as error:
            raise PostingError("asset_id", error.expected, error.got) from None
        validate_account(self.account)
        amount = self.amount_base
        if isinstance(amount, bool) or not isinstance(amount, int):
            raise PostingError("amount_base", "an int (base units)", describe_value(amount))
        if amount == 0 or abs(amount) > AMOUNT_BASE_MAX:
            raise PostingError(
                "amount_base",
                "a non-zero int of magnitude at most 2**256 - 1",
                describe_value(amount),
            )


@dataclass(frozen=True, slots=True)
class Movement:
    """Postings applied together: they sum to zero for each asset.

    Precondition: `postings` is a tuple. No (asset, account) pair appears twice, so each
    posting names one change the reader can see.

    Raises:
        PositionError: fewer than 2 or more than `POSTINGS_MAX` postings, an item that is
            not a `Posting`, a repeated (asset, account) pair;
            UnbalancedMovementError: the postings of an asset do not sum to zero.
    """

    postings: tuple[Posting, ...]

    def __post_init__(self) -> None:
        if not isinstance(self.postings, tuple):
            raise PostingError("postings", "a tuple of postings", describe_value(self.postings))
        if not 2 <= len(self.postings) <= POSTINGS_MAX:
            raise PostingError("postings", f"2 to {POSTINGS_MAX} postings", str(len(self.postings)))
        seen: set[tuple[str, str]] = set()
        for index, posting in enumerate(self.postings):
            if not isinstance(posting, Posting):
                raise PostingError(f"postings[{index}]", "a Posting", describe_value(posting))
            key = (posting.asset_id, posting.account)
            if key in seen:
                raise PostingError(
                    f"postings[{index}]",
                    "one posting per asset and account",
                    f"a second posting of {posting.asset_id} to {posting.account}",
                )
            seen.add(key)
        for asset_id in self.asset_ids:
            amounts = [p.amount_base for p in self.postings if p.asset_id == asset_id]
            if sum(amounts) != 0:
                out_base = -sum(amount for amount in amounts if amount < 0)
                in_base = sum(amount for amount in amounts if amount > 0)
                raise UnbalancedMovementError(asset_id, sum(amounts), out_base, in_base)

    @classmethod
    def transfer(
        cls, asset_id: str, from_account: str, to_account: str, amount_base: int
    ) -> Movement:
        """Return the movement of `amount_base` (> 0) of one asset between two accounts.

        Raises:
            PositionError: the accounts are the same or malformed, or the amount is not a
                positive int of at most `AMOUNT_BASE_MAX`.
        """
        if isinstance(amount_base, bool) or not isinstance(amount_base, int) or amount_base <= 0:
            raise PostingError(
                "amount_base", "a positive int (base units)", describe_value(amount_base)
            )
        return cls(
            (
                Posting(asset_id, from_account, -amount_base),
                Posting(asset_id, to_account, amount_base),
            )
        )

    @property
    def asset_ids(self) -> tuple[str, ...]:
        """The assets this movement moves, in order of first appearance."""
        return tuple(dict.fromkeys(posting.asset_id for posting in self.postings))

    def reversal(self) -> Movement:
        """Return the movement that undoes this one (every posting negated).

        A correction appends the reversal; nothing already applied is edited.
        """
        return Movement(
            tuple(Posting(p.asset_id, p.account, -p.amount_base) for p in self.postings)
        )


@dataclass(frozen=True, slots=True)
class Balance:
    """The balance of one asset in one account, in base units."""

    asset_id: str
    account: str
    amount_base: int


class Book:
    """Balances per (asset, account), changed only by whole, checked movements.

    `apply` checks every posting against the current balances first and changes nothing
    when any check fails. With a `registry`, postings of unknown assets are refused and
    messages name the base unit (sats, wei). Zero balances are not stored.

    Raises:
        PositionError: `positions_max` is not a positive int.
    """

    __slots__ = ("_balances", "_positions", "_positions_max", "_registry")

    def __init__(
        self, *, registry: AssetRegistry | None = None, positions_max: int = POSITIONS_MAX
    ) -> None:
        if isinstance(positions_max, bool) or not isinstance(positions_max, int):
            raise PostingError("positions_max", "a positive int", describe_value(positions_max))
        if positions_max <= 0:
            raise PostingError("positions_max", "a positive int", str(positions_max))
        self._registry = registry
        self._positions_max = positions_max
        self._balances: dict[str, dict[str, int]] = {}
        self._positions = 0

    def copy(self) -> Book:
        """Return an independent copy (a snapshot)."""
        book = Book(registry=self._registry, positions_max=self._positions_max)
        book._balances = {asset: dict(accounts) for asset, accounts in self._balances.items()}
        book._positions = self._positions
        return book

    def restore(self, balances: Iterable[Balance]) -> None:
        """Set balances read back from storage, without a movement (they came from one).

        A balance already in the book is replaced. Checks every balance before changing
        anything; the book's sum-to-zero invariant holds only once every account of an asset
        is back, so it is not checked here.

        Raises:
            PositionError: an item is not a Balance, is malformed, is past 2**256 - 1 in
                magnitude, or is negative in a guarded account (the store was changed).
        """
        items = list(balances)
        for item in items:
            if not isinstance(item, Balance):
                raise PostingError("balance", "a Balance", describe_value(item))
            validate_account(item.account)
            amount = item.amount_base
            if (
                isinstance(amount, bool)
                or not isinstance(amount, int)
                or abs(amount) > AMOUNT_BASE_MAX
            ):
                raise PostingError(
                    "amount_base", "an int of magnitude at most 2**256 - 1", describe_value(amount)
                )
            if amount < 0 and not is_source_account(item.account):
                raise PositionError(
                    f"account {item.account} holds {amount} of {item.asset_id}: expected at least 0"
                )
        for item in items:
            accounts = self._balances.setdefault(item.asset_id, {})
            held = accounts.pop(item.account, 0)
            if item.amount_base:
                accounts[item.account] = item.amount_base
            elif not accounts:
                del self._balances[item.asset_id]
            self._positions += (item.amount_base != 0) - (held != 0)

    def __len__(self) -> int:
        """Return the number of non-zero positions."""
        return self._positions

    def balance(self, asset_id: str, account: str) -> int:
        """Return the balance of one asset in one account (0 when it holds none)."""
        return self._balances.get(asset_id, {}).get(account, 0)

    def check(self, movement: Movement) -> None:
        """Check that `movement` can be applied; change nothing.

        Raises:
            PositionError: `movement` is not a Movement, names an asset the registry does
                not know, would take a guarded account below zero (NegativeBalanceError),
                would take any balance past 2**256 - 1 in magnitude, or would make the
                book hold more than `positions_max` positions.
        """
        if not isinstance(movement, Movement):
            raise PostingError("movement", "a Movement", describe_value(movement))
        units = self._units(movement)
        positions = self._positions
        for posting in movement.postings:
            held = self.balance(posting.asset_id, posting.account)
            after = held + posting.amount_base
            if after < 0 and not is_source_account(posting.account):
                raise NegativeBalanceError(
                    posting.account,
                    posting.asset_id,
                    units[posting.asset_id],
                    held,
                    posting.amount_base,
                )
            if abs(after) > AMOUNT_BASE_MAX:
                raise PositionError(
                    f"account {posting.account} would hold {after} {units[posting.asset_id]} "
                    f"of {posting.asset_id}: expected a magnitude of at most 2**256 - 1"
                )
            positions += (after != 0) - (held != 0)
        if positions > self._positions_max:
            raise PositionError(
                f"the book would hold {positions} positions: expected at most {self._positions_max}"
            )

    def apply(self, movement: Movement) -> None:
        """Apply `movement` whole, or refuse it and change nothing.

        Raises:
            PositionError: as `check`.
        """
        self.check(movement)
        for posting in movement.postings:
            accounts = self._balances.setdefault(posting.asset_id, {})
            held = accounts.get(posting.account, 0)
            after = held + posting.amount_base
            if after == 0:
                del accounts[posting.account]
                if not accounts:
                    del self._balances[posting.asset_id]
            else:
                accounts[posting.account] = after
            self._positions += (after != 0) - (held != 0)

    def balances(
        self, asset_id: str | None = None, prefix: str | None = None
    ) -> tuple[Balance, ...]:
        """Return the non-zero balances, sorted by asset then account.

        `asset_id` keeps one asset; `prefix` keeps accounts equal to it or under it by
        whole segments (`case/7` matches `case/7/wallet/x`, not `case/70/...`).

        Raises:
            PositionError: `asset_id` or `prefix` is malformed.
        """
        if asset_id is not None:
            try:
                validate_asset_id(asset_id)
            except AssetError as error:
                raise PostingError("asset_id", error.expected, error.got) from None
        under = None if prefix is None else validate_account_prefix(prefix)
        assets = sorted(self._balances) if asset_id is None else [asset_id]
        return tuple(
            Balance(asset, account, amount)
            for asset in assets
            for account, amount in sorted(self._balances.get(asset, {}).items())
            if under is None or account == under or account.startswith(under + "/")
        )

    def asset_ids(self) -> tuple[str, ...]:
        """Return the assets with a non-zero balance somewhere, sorted."""
        return tuple(sorted(self._balances))

    def total(self, asset_id: str) -> int:
        """Return the sum of all balances of an asset; double entry keeps it at zero."""
        return sum(self._balances.get(asset_id, {}).values())

    def verify(self) -> None:
        """Recompute the invariants: every asset sums to zero, no guarded account is
        negative, no balance is past 2**256 - 1 in magnitude, the position count is right.

        Raises:
            PositionError: an invariant is broken (names the asset and the numbers).
        """
        positions = 0
        for asset_id, accounts in self._balances.items():
            total = sum(accounts.values())
            if total != 0:
                raise PositionError(f"asset {asset_id} sums to {total}: expected 0")
            for account, amount in accounts.items():
                if amount == 0 or abs(amount) > AMOUNT_BASE_MAX:
                    raise PositionError(
                        f"account {account} holds {amount} of {asset_id}: expected a "
                        "non-zero stored balance of magnitude at most 2**256 - 1"
                    )
                if amount < 0 and not is_source_account(account):
                    raise PositionError(
                        f"account {account} holds {amount} of {asset_id}: expected at least 0"
                    )
            positions += len(accounts)
        if positions != self._positions:
            raise PositionError(
                f"the book counts {self._positions} positions: expected {positions}"
            )

    def __iter__(self) -> Iterator[Balance]:
        return iter(self.balances())

    def _units(self, movement: Movement) -> dict[str, str]:
        """Return the base-unit name of each asset moved, checking the registry knows it."""
        units: dict[str, str] = {}
        for asset_id in movement.asset_ids:
            if self._registry is None:
                units[asset_id] = "base units"
                continue
            try:
                units[asset_id] = self._registry.get(asset_id).base_unit_name
            except AssetError as error:
                raise PostingError("asset_id", error.expected, error.got) from None
        return units
