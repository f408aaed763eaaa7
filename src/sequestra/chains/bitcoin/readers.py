"""Open the Bitcoin reader the settings name: Bitcoin Core's JSON-RPC or Esplora REST."""

from __future__ import annotations

import time
from collections.abc import Callable

from sequestra.chains.bitcoin.core_reader import BitcoinCoreReader
from sequestra.chains.bitcoin.esplora import EsploraReader
from sequestra.chains.observation import ChainReader
from sequestra.config.bitcoin import BitcoinWatchSettings


def open_bitcoin_reader(
    settings: BitcoinWatchSettings,
    network: str,
    *,
    sleep: Callable[[float], None] = time.sleep,
) -> ChainReader:
    """Return a reader for `settings.backend`, for addresses of `network`.

    `sleep` is the pause between retries (tests pass one that does not wait).

    Raises:
        ValueError: `network` is not mainnet, testnet, signet or regtest.
    """
    if settings.backend == "esplora":
        return EsploraReader(settings, network, sleep=sleep)
    return BitcoinCoreReader(settings, network, sleep=sleep)
