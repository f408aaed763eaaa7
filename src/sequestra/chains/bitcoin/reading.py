"""What both Bitcoin readers share: the addresses asked, balances, movements and retries.

Both readers (Bitcoin Core, Esplora) turn what their node says into the same plain values
and hand them to the pure functions here: `tally_balances` sums unspent outputs into
`ObservedBalance`s by confirmations, `movements_of` turns one transaction into the
`ObservedMovement`s it caused on watched addresses. Outputs are matched by scriptPubKey, not
by the address text a node chose to print. `with_retries` is the one bounded retry loop.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any, Final, TypeVar

from sequestra.addresses import AddressError
from sequestra.addresses.bitcoin import validate_bitcoin_address
from sequestra.chains.observation import BlockRef, ChainError, ObservedBalance, ObservedMovement
from sequestra.custody.assets import Asset
from sequestra.errors import DependencyUnavailable

CHAIN: Final = "bitcoin"
BTC_ASSET_ID: Final = "bitcoin:BTC"
SATS_PER_BTC: Final = 100_000_000
MONEY_MAX_SATS: Final = 21_000_000 * SATS_PER_BTC
HASH_HEX_LENGTH: Final = 64
_HEX_DIGITS: Final = frozenset("0123456789abcdef")

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class WatchedAddresses:
    """The addresses of one reading: as asked, as sent to the node, and by output script.

    `asked` keeps the caller's text (first of any duplicates), in order; `normalised` is the
    same addresses as the validator writes them (Bech32 lower case), which is what nodes
    are sent; `scripts` their scriptPubKeys in hex; `by_script` maps a scriptPubKey in hex
    to the asked text.
    """

    asked: tuple[str, ...]
    normalised: tuple[str, ...]
    scripts: tuple[str, ...]
    by_script: dict[str, str] = field(hash=False)


def watch_addresses(addresses: Sequence[str], network: str, addresses_max: int) -> WatchedAddresses:
    """Validate and de-duplicate the addresses of a reading.

    Raises:
        ChainError (not retryable): more than `addresses_max` addresses, or one that is
            not a valid address of `network`.
    """
    if len(addresses) > addresses_max:
        raise ChainError(
            f"addresses: expected at most {addresses_max} per reading, got {len(addresses)}",
            retryable=False,
        )
    asked: list[str] = []
    normalised: list[str] = []
    by_script: dict[str, str] = {}
    for position, address in enumerate(addresses):
        try:
            decoded = validate_bitcoin_address(address, network)
        except AddressError as error:
            raise ChainError(f"addresses[{position}]: {error}", retryable=False) from None
        script_hex = decoded.script_pubkey.hex()
        if script_hex in by_script:
            continue
        by_script[script_hex] = address
        asked.append(address)
        normalised.append(decoded.address)
    return WatchedAddresses(tuple(asked), tuple(normalised), tuple(by_script), by_script)


def bitcoin_asset(assets: Sequence[Asset]) -> Asset | None:
    """Return the native BTC asset when asked for, None when no asset is asked.

    Raises:
        ChainError (not retryable): an asset of another chain, or a token.
    """
    for asset in assets:
        if asset.chain != CHAIN or asset.kind != "native":
            raise ChainError(
                f"assets: expected only Bitcoin's native asset ({BTC_ASSET_ID}), "
                f"got {asset.asset_id}",
                retryable=False,
            )
    return assets[0] if assets else None


def chunked(items: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    """Yield consecutive slices of at most `size` items (size >= 1)."""
    if size < 1:
        raise ValueError(f"size: expected at least 1, got {size}")
    for start in range(0, len(items), size):
        yield items[start : start + size]


# --- values read from a node -------------------------------------------------------------------


def btc_to_sats(value: object, what: str) -> int:
    """Convert a BTC amount (JSON number read as Decimal, or int) to whole satoshis.

    Raises:
        ChainError: not a number, negative, finer than one satoshi, or above 21 million BTC.
    """
    if isinstance(value, bool) or not isinstance(value, Decimal | int):
        raise ChainError(f"{what}: expected a BTC amount, got {type(value).__name__}")
    try:
        sats = Decimal(value) * SATS_PER_BTC
        if sats != sats.to_integral_value():
            raise ChainError(f"{what}: expected whole satoshis, got {value} BTC")
    except InvalidOperation:
        raise ChainError(f"{what}: expected a finite BTC amount, got {value}") from None
    return check_sats(int(sats), what)


def check_sats(value: object, what: str) -> int:
    """Check an amount in satoshis (0 to 21 million BTC) and return it.

    Raises:
        ChainError: not an integer, or out of range.
    """
    if isinstance(value, bool) or not isinstance(value, int):
        raise ChainError(f"{what}: expected whole satoshis, got {type(value).__name__}")
    if not 0 <= value <= MONEY_MAX_SATS:
        raise ChainError(f"{what}: expected 0 to {MONEY_MAX_SATS} sats, got {value}")
    return value


def json_object(value: Any, what: str) -> dict[str, Any]:
    """Return `value` when it is a JSON object, else raise ChainError naming `what`."""
    if not isinstance(value, dict):
        raise ChainError(f"{what}: expected a JSON object, got {type(value).__name__}")
    return value


def json_array(value: Any, what: str) -> list[Any]:
    """Return `value` when it is a JSON array, else raise ChainError naming `what`."""
    if not isinstance(value, list):
        raise ChainError(f"{what}: expected a JSON array, got {type(value).__name__}")
    return value


def check_hash(value: object, what: str) -> str:
    """Check a txid or block hash (64 lower-case hex digits) and return it.

    Raises:
        ChainError: anything else.
    """
    if (
        not isinstance(value, str)
        or len(value) != HASH_HEX_LENGTH
        or not _HEX_DIGITS.issuperset(value)
    ):
        shown = repr(value)[:80] if isinstance(value, str) else type(value).__name__
        raise ChainError(f"{what}: expected 64 lower-case hex digits, got {shown}")
    return value


def check_height(value: object, what: str) -> int:
    """Check a block height (a non-negative integer) and return it.

    Raises:
        ChainError: anything else.
    """
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ChainError(f"{what}: expected a block height (integer >= 0), got {value!r:.40}")
    return value


# --- balances ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class UnspentOutput:
    """An unspent output paying a watched script; `confirmations` 0 means in the mempool."""

    txid: str
    vout: int
    script_hex: str
    amount_sats: int
    confirmations: int


def tally_balances(
    watched: WatchedAddresses,
    outputs: Sequence[UnspentOutput],
    confirmations_min: int,
    asset_id: str,
) -> tuple[ObservedBalance, ...]:
    """Sum unspent outputs per watched address: confirmed enough, or pending.

    Returns one balance per watched address, in the order asked (zero when nothing came).

    Raises:
        ChainError: an output pays a script that was not asked for, or one output was
            reported twice (the node's answer cannot be trusted).
    """
    confirmed = dict.fromkeys(watched.asked, 0)
    pending = dict.fromkeys(watched.asked, 0)
    seen: set[tuple[str, int]] = set()
    for output in outputs:
        address = watched.by_script.get(output.script_hex)
        if address is None:
            raise ChainError(
                f"output {output.txid}:{output.vout}: expected a watched script, "
                f"got {output.script_hex[:80]}"
            )
        if (output.txid, output.vout) in seen:
            raise ChainError(f"output {output.txid}:{output.vout}: reported twice")
        seen.add((output.txid, output.vout))
        if output.confirmations >= confirmations_min:
            confirmed[address] += output.amount_sats
        else:
            pending[address] += output.amount_sats
    return tuple(
        ObservedBalance(address, asset_id, confirmed[address], pending[address])
        for address in watched.asked
    )


# --- movements ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Flow:
    """One input (the output it spends) or one output of a transaction."""

    script_hex: str
    address: str | None
    amount_sats: int


@dataclass(frozen=True, slots=True)
class TransactionFlows:
    """A confirmed transaction as value flows: what its inputs spent, what it paid."""

    txid: str
    block: BlockRef
    inputs: tuple[Flow, ...]
    outputs: tuple[Flow, ...]


def movements_of(
    flows: TransactionFlows, watched: WatchedAddresses, asset_id: str
) -> list[ObservedMovement]:
    """Return one movement per watched address whose balance the transaction changed.

    The amount is the address's net change (change paid back to it cancels out). An
    outflow names the recipient when every other output pays one address, an inflow the
    sender when every input spent one address; otherwise the other side is None.
    """
    touched = [
        flow.script_hex
        for flow in (*flows.inputs, *flows.outputs)
        if flow.script_hex in watched.by_script
    ]
    movements: list[ObservedMovement] = []
    for script_hex in dict.fromkeys(touched):
        received = sum(f.amount_sats for f in flows.outputs if f.script_hex == script_hex)
        sent = sum(f.amount_sats for f in flows.inputs if f.script_hex == script_hex)
        address = watched.by_script[script_hex]
        if received == sent:
            continue
        sender: str | None
        recipient: str | None
        if received > sent:
            sender, recipient = _sole_address(flows.inputs, script_hex), address
        else:
            sender, recipient = address, _sole_address(flows.outputs, script_hex)
        amount_sats = abs(received - sent)
        movements.append(
            ObservedMovement(asset_id, flows.txid, flows.block, sender, recipient, amount_sats)
        )
    return movements


def ordered_movements(movements: Iterable[ObservedMovement]) -> tuple[ObservedMovement, ...]:
    """Put movements in the readers' one order: block height, then txid, then addresses."""
    return tuple(
        sorted(
            movements,
            key=lambda m: (m.block.height, m.tx, m.from_address or "", m.to_address or ""),
        )
    )


def _sole_address(flows: tuple[Flow, ...], excluded_script_hex: str) -> str | None:
    """Return the one address the other flows share, or None (none, several, no address)."""
    others = {f.address for f in flows if f.script_hex != excluded_script_hex}
    if len(others) != 1:
        return None
    return next(iter(others))


# --- retries -----------------------------------------------------------------------------------


class RetryableFault(DependencyUnavailable):
    """A failure worth another attempt soon: timeout, refused connection, warm-up, busy."""


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """At most `attempts_max` attempts, sleeping an exponentially growing, capped delay."""

    attempts_max: int
    backoff_s: float
    backoff_s_max: float
    sleep: Callable[[float], None] = time.sleep

    def delay_s(self, attempt: int) -> float:
        """Return the pause after failed attempt number `attempt` (1-based)."""
        return float(min(self.backoff_s * 2 ** (attempt - 1), self.backoff_s_max))


def with_retries(policy: RetryPolicy, what: str, attempt: Callable[[], T]) -> T:
    """Run `attempt` until it succeeds, retrying RetryableFault at most as the policy allows.

    Raises:
        ChainError (retryable): every attempt failed with RetryableFault.
        ChainError: whatever `attempt` raised that is not a RetryableFault.
    """
    last = ""
    for number in range(1, policy.attempts_max + 1):
        try:
            return attempt()
        except RetryableFault as fault:
            last = str(fault)
            if number < policy.attempts_max:
                policy.sleep(policy.delay_s(number))
    raise ChainError(
        f"{what}: expected an answer within {policy.attempts_max} attempt(s), last: {last}",
        retryable=True,
    )
