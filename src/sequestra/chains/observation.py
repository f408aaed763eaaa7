"""What a chain client reports: balances read at one block, and the movements it saw.

Every chain backend (Bitcoin Core RPC, Esplora, Ethereum JSON-RPC) implements `ChainReader`;
the watcher (`sequestra.chains.watch`) drives them, records one observation per run, and
reconciles it with the ledger. Amounts are integers in base units; block hashes are lower-
case hex (Ethereum with 0x). A reader either returns a complete answer or raises
`ChainError`: there is no partial observation.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from sequestra.custody.assets import Asset
from sequestra.errors import DependencyUnavailable


class ChainError(DependencyUnavailable):
    """A node could not give a complete, trustworthy answer (down, slow, garbage, error).

    `retryable` says whether trying again later may help (a timeout, a node warming up, a
    scan already in progress) or not (wrong credentials, wrong network).
    """

    def __init__(self, message: str, retryable: bool = True) -> None:
        super().__init__(message)
        self.retryable = retryable


@dataclass(frozen=True, slots=True)
class BlockRef:
    """A block by height and hash: where a reading was taken, and what a reorg can undo."""

    height: int
    block_hash: str


@dataclass(frozen=True, slots=True)
class ObservedBalance:
    """One address's balance of one asset at the reading's block.

    `amount_base` counts what has the configured confirmations; `pending_base` what is
    newer (Bitcoin: unconfirmed or too recent outputs; Ethereum: the difference between the
    latest block and the safe block read).
    """

    address: str
    asset_id: str
    amount_base: int
    pending_base: int = 0


@dataclass(frozen=True, slots=True)
class ObservedMovement:
    """A transfer that touched a watched address, as the chain shows it."""

    asset_id: str
    tx: str
    block: BlockRef
    from_address: str | None
    to_address: str | None
    amount_base: int


@dataclass(frozen=True, slots=True)
class ChainReading:
    """Balances of every asked (address, asset) pair at one block of one chain."""

    chain: str
    network: str
    block: BlockRef
    balances: tuple[ObservedBalance, ...]
    movements: tuple[ObservedMovement, ...] = ()
    calls: int = 0  # requests made to the node for this reading


class ChainReader(Protocol):
    """A client of one chain's node (Bitcoin Core, Esplora, an Ethereum JSON-RPC node)."""

    chain: str
    network: str

    def read_balances(
        self, addresses: Sequence[str], assets: Sequence[Asset], since: BlockRef | None
    ) -> ChainReading:
        """Read every (address, asset) balance at one safe block; movements after `since`.

        Raises ChainError when any part cannot be read (nothing partial is returned).
        """
        ...

    def block_hash_at(self, height: int) -> str | None:
        """The hash of the block at `height` on the node's best chain (None: not that tall).

        Raises ChainError when the node cannot answer.
        """
        ...
