"""Anchor commands: put the latest checkpoint's root on a blockchain, list the anchors."""

from __future__ import annotations

from collections.abc import Callable

import typer

from sequestra.cli.common import JSON_OPTION, console, fail, fail_usage, handled, print_json, state
from sequestra.config import AnchorSettings
from sequestra.errors import exit_code
from sequestra.ledger.anchor_payload import AnchorPayloadError, format_anchor_payload
from sequestra.ledger.anchors import AnchorReceipt, StoredAnchor, list_anchors, record_anchor
from sequestra.ledger.checkpoint import Checkpoint
from sequestra.ledger.checkpoints import get_checkpoint, ledger_origin
from sequestra.ledger.db import read_transaction
from sequestra.ledger.errors import LedgerError

# Sends `payload` on one chain and returns the confirmed transaction; it calls fail (the
# chain did not confirm) or fail_usage (a setting is missing or wrong). The chain clients
# (web3, python-bitcoinlib) are imported when a command needs them, not at start-up.
Anchorer = Callable[[AnchorSettings, bytes], AnchorReceipt]


def _anchor_on_ethereum(settings: AnchorSettings, payload: bytes) -> AnchorReceipt:
    from sequestra.chains.ethereum.anchor import (
        AccountKeyError,
        AnchorError,
        AnchorUnconfirmedError,
        anchor_ethereum,
        read_account_key_file,
    )

    if settings.ethereum_rpc_url is None:
        fail_usage("no Ethereum node: set anchor.ethereum_rpc_url")
    if settings.ethereum_key_file is None:
        fail_usage("no Ethereum account: set anchor.ethereum_key_file (a file with the hex key)")
    try:
        account_key = read_account_key_file(settings.ethereum_key_file)
        return anchor_ethereum(
            settings.ethereum_rpc_url,
            account_key,
            payload,
            settings.ethereum_confirmations,
            settings.timeout_s,
            chain_id_expected=settings.ethereum_chain_id,
        )
    except AccountKeyError as error:
        fail(str(error), exit_code(error))
    except AnchorUnconfirmedError as error:
        fail(f"{error}; look up {error.tx_hash} before anchoring again", exit_code(error))
    except AnchorError as error:
        fail(str(error), exit_code(error))


def _anchor_on_bitcoin(settings: AnchorSettings, payload: bytes) -> AnchorReceipt:
    from sequestra.chains.bitcoin.anchor import (
        BitcoinAnchorError,
        BitcoinAnchorUnconfirmedError,
        anchor_bitcoin,
    )

    if settings.bitcoin_rpc_url is None:
        fail_usage("no Bitcoin node: set anchor.bitcoin_rpc_url")
    try:
        return anchor_bitcoin(
            settings.bitcoin_rpc_url,
            settings.bitcoin_wallet,
            payload,
            settings.bitcoin_confirmations,
            settings.timeout_s,
            cookie_file=settings.bitcoin_cookie_file,
            datacarrier_bytes_max=settings.bitcoin_datacarrier_bytes_max,
        )
    except BitcoinAnchorUnconfirmedError as error:
        fail(f"{error}; look up {error.txid} before anchoring again", exit_code(error))
    except BitcoinAnchorError as error:
        fail(str(error), exit_code(error))


# The chains `sequestra anchor --chain` knows; a new chain adds its Anchorer here.
ANCHORERS: dict[str, Anchorer] = {"ethereum": _anchor_on_ethereum, "bitcoin": _anchor_on_bitcoin}
PLANNED_CHAINS: frozenset[str] = frozenset()


def anchor(
    context: typer.Context,
    chain: str = typer.Option(..., "--chain", help="Where to anchor: ethereum or bitcoin."),
    json_output: bool = JSON_OPTION,
) -> None:
    """Anchor the latest signed checkpoint's root on a blockchain and record the transaction.

    Ethereum: a value-0 transaction from the service account to itself whose calldata is the
    anchor payload (origin, tree size and root). Bitcoin: a transaction funded by the node's
    wallet whose one OP_RETURN output carries the payload. A checkpoint already anchored on
    the chain is not anchored again. Exit 0 anchored, 6 the chain did not answer or confirm,
    2 usage or configuration (docs/errors.md).
    """
    app_state = state(context)
    name, anchorer = _anchorer(chain)
    engine = app_state.engine()
    with handled():
        with read_transaction(engine) as connection:
            stored = get_checkpoint(connection)
            if stored is None:
                fail_usage("no signed checkpoint yet; run `sequestra checkpoint` first")
            origin = ledger_origin(connection)
        earlier = list_anchors(engine, name, stored.size)
        if earlier:
            _report(earlier[0], created=False, json_output=json_output)
            return
        try:
            payload = format_anchor_payload(Checkpoint(origin, stored.size, stored.root_hash))
            receipt = anchorer(app_state.settings().anchor, payload)
        except AnchorPayloadError as error:
            fail(f"checkpoint {stored.size}: {error}", exit_code(error))
        try:
            recorded = record_anchor(engine, receipt, stored.size)
        except LedgerError as error:
            fail(
                f"anchored in {receipt.chain} tx {receipt.tx_hash} but not recorded: {error}",
                exit_code(error),
            )
    _report(recorded, created=True, json_output=json_output)


def anchors(
    context: typer.Context,
    chain: str | None = typer.Option(None, "--chain", help="Only this chain's anchors."),
    json_output: bool = JSON_OPTION,
) -> None:
    """List the recorded anchors of checkpoints, by tree size."""
    with handled():
        recorded = list_anchors(state(context).engine(), chain)
    if json_output:
        print_json([anchor.to_json() for anchor in recorded])
        return
    for item in recorded:
        console.print(
            f"size {item.size} {item.chain} tx {item.tx_hash} block {item.block_number}"
            f" ({item.block_hash}) recorded {item.recorded_at}"
        )


def _anchorer(chain: str) -> tuple[str, Anchorer]:
    name = chain.strip().lower()
    if name in ANCHORERS:
        return name, ANCHORERS[name]
    available = ", ".join(sorted(ANCHORERS))
    if name in PLANNED_CHAINS:
        fail_usage(f"--chain {name}: anchoring on {name} is not available yet (use: {available})")
    fail_usage(f"--chain {chain!r}: expected one of {available}")


def _report(anchor_record: StoredAnchor, created: bool, json_output: bool) -> None:
    if json_output:
        print_json({**anchor_record.to_json(), "created": created})
        return
    verb = "anchored" if created else "already anchored:"
    console.print(
        f"{verb} checkpoint size {anchor_record.size} on {anchor_record.chain}:"
        f" tx {anchor_record.tx_hash} in block {anchor_record.block_number}"
        f" ({anchor_record.block_hash})"
    )
