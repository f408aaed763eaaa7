"""How Sequestra watches Bitcoin custody addresses: which backend, where, and its bounds.

Two backends read the same thing (the balance of every custody address at one block):
Bitcoin Core's JSON-RPC (`backend = "core"`) and an Esplora REST server
(`backend = "esplora"`, the API mempool.space and Blockstream serve). Bitcoin Core reads in
one of two modes: `scan` walks the node's UTXO set with `scantxoutset` (no wallet, each
chunk of addresses is one pass over the whole set, minutes on mainnet), `wallet` keeps a
watch-only descriptor wallet and lists its outputs (cheap enough to poll often).

Secrets never sit here: Bitcoin Core credentials come from the cookie file or the URL
(`http://user:password@host:port`), which belongs in an untracked file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal, Self
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, model_validator

BitcoinBackend = Literal["core", "esplora"]
BitcoinCoreMode = Literal["scan", "wallet"]

CONFIRMATIONS_MAX = 1000
ADDRESSES_MAX = 100_000  # addresses one reading may ask for
CHUNK_ADDRESSES_MAX = 10_000


class BitcoinWatchSettings(BaseModel):
    """Where and how to read Bitcoin balances; every bound is named and limited."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    backend: BitcoinBackend = "core"
    # Bitcoin Core JSON-RPC, http://host:port; credentials in the URL or `cookie_file`.
    rpc_url: str | None = Field(default=None, min_length=1, max_length=2048)
    cookie_file: Path | None = None
    mode: BitcoinCoreMode = "scan"
    # The watch-only wallet of the `wallet` mode; created (without private keys) if missing.
    wallet: str = Field(default="sequestra-watch", min_length=1, max_length=256)
    # Where a wallet import rescans from (UNIX seconds). None imports with timestamp "now":
    # no rescan, so outputs received before the import (older than about two hours) are
    # not seen; set it to a time before the first custody address was funded.
    wallet_rescan_from_s: int | None = Field(default=None, ge=0)
    # Esplora REST base, e.g. https://mempool.space/api or https://blockstream.info/api.
    esplora_url: str | None = Field(default=None, min_length=1, max_length=2048)
    # A balance counts once its outputs have this many confirmations; newer is pending.
    confirmations_min: int = Field(default=1, ge=1, le=CONFIRMATIONS_MAX)
    timeout_s: float = Field(default=30.0, gt=0, le=600)
    # scantxoutset walks the whole UTXO set: minutes on mainnet.
    scan_timeout_s: float = Field(default=600.0, gt=0, le=3600)
    # One scan for every address by default: each scan is a pass over the whole UTXO set.
    # Smaller chunks (a smaller request) are read at the blocks they saw and brought to
    # the last chunk's block through the blocks between.
    scan_chunk_addresses: int = Field(default=ADDRESSES_MAX, ge=1, le=ADDRESSES_MAX)
    # How long to wait for a scantxoutset already running on the node (another client's,
    # or ours that outlived scan_timeout_s), polling its progress every progress_poll_s.
    scan_wait_s_max: float = Field(default=3600.0, gt=0, le=86_400)
    # How long to wait for a wallet rescan (importdescriptors with wallet_rescan_from_s).
    rescan_wait_s_max: float = Field(default=3600.0, gt=0, le=86_400)
    progress_poll_s: float = Field(default=5.0, gt=0, le=600)
    wallet_chunk_addresses: int = Field(default=1000, ge=1, le=CHUNK_ADDRESSES_MAX)
    addresses_max: int = Field(default=ADDRESSES_MAX, ge=1, le=ADDRESSES_MAX)
    # Movements: blocks walked (Core) or history pages per address (Esplora) since the
    # previous reading; a longer gap is refused rather than reported in part.
    movement_blocks_max: int = Field(default=144, ge=1, le=10_000)
    esplora_pages_max: int = Field(default=4, ge=1, le=100)
    esplora_concurrency: int = Field(default=4, ge=1, le=64)
    # A reading is taken again when the tip moves under it, at most this many times.
    tip_attempts_max: int = Field(default=3, ge=1, le=20)
    retry_attempts_max: int = Field(default=4, ge=1, le=20)
    retry_backoff_s: float = Field(default=0.5, ge=0, le=60)
    retry_backoff_s_max: float = Field(default=8.0, ge=0, le=600)

    @model_validator(mode="after")
    def _check_backend(self) -> Self:
        """Require the URL of the chosen backend, with a scheme it can speak."""
        if self.backend == "core":
            if self.rpc_url is None:
                raise ValueError("rpc_url: expected Bitcoin Core's http://host:port, got none")
            if urlsplit(self.rpc_url).scheme != "http" or not urlsplit(self.rpc_url).hostname:
                raise ValueError("rpc_url: expected http://host:port (python-bitcoinlib 0.12.2)")
        else:
            if self.esplora_url is None:
                raise ValueError("esplora_url: expected an Esplora http(s):// base URL, got none")
            parts = urlsplit(self.esplora_url)
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise ValueError("esplora_url: expected http:// or https:// with a host")
        if self.retry_backoff_s_max < self.retry_backoff_s:
            raise ValueError("retry_backoff_s_max: expected at least retry_backoff_s")
        return self
