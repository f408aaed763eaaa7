"""Open the chain readers the configuration names (Bitcoin Core or Esplora; Ethereum)."""

from __future__ import annotations

import time
from collections.abc import Callable

from sequestra.chains.observation import ChainReader
from sequestra.config import CustodySettings, WatchSettings
from sequestra.errors import ConfigurationError


def open_readers(
    watch: WatchSettings,
    custody: CustodySettings,
    sleep: Callable[[float], None] = time.sleep,
) -> list[ChainReader]:
    """One reader per configured chain, for the networks custody addresses are checked on.

    The clients (python-bitcoinlib, httpx, web3) are imported here, when a watch runs.
    Raises ValueError when no chain is configured.
    """
    readers: list[ChainReader] = []
    if watch.bitcoin is not None:
        from sequestra.chains.bitcoin.readers import open_bitcoin_reader

        readers.append(open_bitcoin_reader(watch.bitcoin, custody.bitcoin_network, sleep=sleep))
    if watch.ethereum is not None:
        from sequestra.chains.ethereum.watcher import EthereumReader

        readers.append(EthereumReader(watch.ethereum, custody.ethereum_network, sleep=sleep))
    if not readers:
        raise ConfigurationError(
            "watch: expected [watch.bitcoin] or [watch.ethereum] in the configuration, got neither"
        )
    return readers
