"""Regtest stand-in for Bitcoin Core: real blocks and transactions behind Core's JSON-RPC.

`running_bitcoind(datadir)` runs one for a test and yields `(url, cookie_path)`;
`running_bitcoin_sandbox(datadir)` runs it with an Esplora REST server over the same chain;
`python -m sequestra_sandbox.bitcoin --datadir DIR --port N` runs one as a process.
"""

from sequestra_sandbox.bitcoin.esplora import (
    BitcoinSandbox,
    EsploraStandIn,
    running_bitcoin_sandbox,
    running_esplora,
)
from sequestra_sandbox.bitcoin.rpc import BitcoindStandIn, StandInOptions, running_bitcoind

__all__ = [
    "BitcoinSandbox",
    "BitcoindStandIn",
    "EsploraStandIn",
    "StandInOptions",
    "running_bitcoin_sandbox",
    "running_bitcoind",
    "running_esplora",
]
