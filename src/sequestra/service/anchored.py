"""Checkpoints anchored on Ethereum or Bitcoin, read back from the chain as trusted heads.

An anchor is a transaction carrying the payload `sequestra/anchor/v1`, origin, size and root
(`sequestra.ledger.anchor_payload`). Once mined it cannot be changed by whoever runs the
database: read back from a node, it pins the ledger's first `size` entries to `root` like a
checkpoint an auditor kept. Which anchors are read: the ones an auditor kept
(`[trust] trusted_anchors`, `sequestra verify --trusted-anchor`) and, with `[trust]
read_recorded_anchors`, every anchor recorded in the database (someone with the database can
delete those rows, never forge one: the kept ones are what an auditor relies on).

An Ethereum anchor counts only when the transaction succeeded, has the configured number of
confirmations and, with `[trust] ethereum_anchor_account`, was sent by that account. A Bitcoin
anchor is read from the block it was recorded in (`bitcoin:TXID@BLOCKHASH`), which must be in
the node's best chain with the configured confirmations. An anchor that cannot be read is
noted, never trusted; one of another origin is noted and ignored.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from sqlalchemy import Engine

from sequestra.config import Settings
from sequestra.errors import ConfigurationError, InputRefused, IntegrityFailure, SequestraError
from sequestra.ledger.anchor_payload import AnchorPayload, parse_anchor_payload
from sequestra.ledger.anchors import list_anchors
from sequestra.ledger.trust import TrustedHead

ANCHOR_READ_TIMEOUT_S: Final = 30.0
_ETHEREUM_TX: Final = re.compile(r"0x[0-9a-f]{64}")
_BITCOIN_HASH: Final = re.compile(r"[0-9a-f]{64}")


class AnchorRefError(InputRefused):
    """An anchor reference is not `ethereum:0x<64 hex>` or `bitcoin:<txid>@<block hash>`."""


@dataclass(frozen=True)
class AnchorRef:
    """Where an anchor is: its chain, transaction and (Bitcoin) block."""

    chain: str
    tx_hash: str
    block_hash: str | None = None

    def __str__(self) -> str:
        where = f"@{self.block_hash}" if self.block_hash else ""
        return f"{self.chain}:{self.tx_hash}{where}"


def parse_anchor_ref(text: str) -> AnchorRef:
    """Parse `ethereum:0x<tx hash>` or `bitcoin:<txid>@<block hash>` (as `sequestra anchors`
    lists them). Raises AnchorRefError naming what was expected."""
    chain, _, rest = text.strip().lower().partition(":")
    if chain == "ethereum" and _ETHEREUM_TX.fullmatch(rest):
        return AnchorRef(chain, rest)
    txid, _, block = rest.partition("@")
    if chain == "bitcoin" and _BITCOIN_HASH.fullmatch(txid) and _BITCOIN_HASH.fullmatch(block):
        return AnchorRef(chain, txid, block)
    raise AnchorRefError(
        f"anchor: expected ethereum:0x<64 hex> or bitcoin:<txid>@<block hash>, got {text!r:.160}"
    )


@dataclass(frozen=True)
class AnchorReading:
    """How anchors are read back: the settings (nodes, confirmations, the anchoring account),
    the anchors an auditor kept, and whether the database's recorded anchors are read too."""

    settings: Settings
    kept: tuple[AnchorRef, ...] = ()
    recorded: bool = False

    def wanted(self, more: Sequence[AnchorRef] = ()) -> bool:
        """Whether there is any anchor to read."""
        return bool(self.kept or self.recorded or more)

    def heads(
        self, origin: str, engine: Engine | None = None, more: Sequence[AnchorRef] = ()
    ) -> tuple[list[TrustedHead], list[str]]:
        """The anchored heads of `origin` and a note for every anchor not used."""
        refs = [*self.kept, *more]
        notes: list[str] = []
        if self.recorded and engine is not None:
            refs += [
                AnchorRef(a.chain, a.tx_hash, _block_of(a.chain, a.block_hash))
                for a in list_anchors(engine)
            ]
        heads: list[TrustedHead] = []
        for ref in dict.fromkeys(refs):
            try:
                payload = self._read(ref)
            except SequestraError as error:
                notes.append(f"anchor {ref}: not used ({error})")
                continue
            if payload.origin != origin:
                notes.append(f"anchor {ref}: names origin {payload.origin!r}, not {origin!r}")
                continue
            heads.append(
                TrustedHead(payload.size, payload.root_hash, f"{ref.chain} anchor {ref.tx_hash}")
            )
        return heads, notes

    def _read(self, ref: AnchorRef) -> AnchorPayload:
        if ref.chain == "ethereum":
            return self._ethereum(ref)
        if ref.chain == "bitcoin":
            return self._bitcoin(ref)
        raise AnchorRefError(f"anchor chain: expected ethereum or bitcoin, got {ref.chain!r}")

    def _ethereum(self, ref: AnchorRef) -> AnchorPayload:
        from sequestra.audit.anchor import decode_ethereum_transaction
        from sequestra.chains.ethereum.anchor import fetch_anchor_ethereum

        settings = self.settings.anchor
        if settings.ethereum_rpc_url is None:
            raise ConfigurationError("anchor.ethereum_rpc_url: expected a node to read from")
        timeout = min(settings.timeout_s, ANCHOR_READ_TIMEOUT_S)
        fetched = fetch_anchor_ethereum(settings.ethereum_rpc_url, ref.tx_hash, timeout)
        if fetched.status != 1:
            raise AnchorReadError("the transaction failed (status 0)")
        if fetched.confirmations < settings.ethereum_confirmations:
            raise AnchorReadError(
                f"{fetched.confirmations} confirmation(s), expected"
                f" {settings.ethereum_confirmations}"
            )
        account = self.settings.trust.ethereum_anchor_account
        if account is not None:
            sender = "0x" + decode_ethereum_transaction(fetched.raw_transaction).sender.hex()
            if sender != account.lower():
                raise AnchorReadError(f"sent by {sender}, not the anchoring account {account}")
        return parse_anchor_payload(fetched.receipt.data)

    def _bitcoin(self, ref: AnchorRef) -> AnchorPayload:
        from sequestra.audit.anchor import bitcoin_anchor_data, decode_bitcoin_transaction
        from sequestra.chains.bitcoin.anchor import block_confirmations, fetch_anchor_bitcoin

        settings = self.settings.anchor
        if settings.bitcoin_rpc_url is None:
            raise ConfigurationError("anchor.bitcoin_rpc_url: expected a node to read from")
        if ref.block_hash is None:
            raise AnchorRefError(f"anchor {ref}: expected the block hash it was mined in")
        timeout = min(settings.timeout_s, ANCHOR_READ_TIMEOUT_S)
        cookie = settings.bitcoin_cookie_file
        raw = fetch_anchor_bitcoin(
            settings.bitcoin_rpc_url,
            ref.tx_hash,
            block_hash=ref.block_hash,
            cookie_file=cookie,
            timeout_s=timeout,
        )
        confirmations = block_confirmations(
            settings.bitcoin_rpc_url, ref.block_hash, cookie_file=cookie, timeout_s=timeout
        )
        if confirmations < settings.bitcoin_confirmations:
            raise AnchorReadError(
                f"its block has {confirmations} confirmation(s) in the node's best chain,"
                f" expected {settings.bitcoin_confirmations}"
            )
        return parse_anchor_payload(bitcoin_anchor_data(decode_bitcoin_transaction(raw)))


class AnchorReadError(IntegrityFailure):
    """An anchor read back does not count (failed, too few confirmations, another sender)."""


def _block_of(chain: str, block_hash: str) -> str | None:
    return block_hash.lower().removeprefix("0x") if chain == "bitcoin" else None


def anchor_reading(settings: Settings) -> AnchorReading:
    """The anchors the settings name (`[trust] trusted_anchors`, `read_recorded_anchors`).
    Raises AnchorRefError for a malformed reference."""
    kept = tuple(parse_anchor_ref(text) for text in settings.trust.trusted_anchors)
    return AnchorReading(settings, kept, settings.trust.read_recorded_anchors)


__all__ = [
    "ANCHOR_READ_TIMEOUT_S",
    "AnchorReadError",
    "AnchorReading",
    "AnchorRef",
    "AnchorRefError",
    "anchor_reading",
    "parse_anchor_ref",
]
