"""Regtest stand-in for Bitcoin Core: real blocks and transactions behind Core's JSON-RPC.

`running_bitcoind(datadir)` runs one for a test and yields `(url, cookie_path)`;
`python -m sequestra.sandbox.bitcoin --datadir DIR --port N` runs one as a process.
"""

from sequestra.sandbox.bitcoin.rpc import BitcoindStandIn, StandInOptions, running_bitcoind

__all__ = ["BitcoindStandIn", "StandInOptions", "running_bitcoind"]
