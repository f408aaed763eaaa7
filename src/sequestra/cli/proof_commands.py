"""Auditor-facing ledger commands: checkpoint, prove, consistency, export."""

from __future__ import annotations

import base64
import sys
from pathlib import Path

import typer

from sequestra.cli.common import (
    JSON_OPTION,
    PASSPHRASE_FILE_OPTION,
    AppState,
    console,
    fail,
    fail_usage,
    handled,
    load_key,
    print_json,
    state,
)
from sequestra.errors import exit_code
from sequestra.ledger import tree
from sequestra.ledger.checkpoints import (
    CheckpointConflict,
    WitnessTarget,
    create_checkpoint,
    get_checkpoint,
    publish,
)
from sequestra.ledger.db import read_transaction
from sequestra.ledger.export import export_bundle
from sequestra.ledger.merkle import MerkleError
from sequestra.ledger.tlog_proof import TlogProof


def _witnesses(app_state: AppState) -> list[WitnessTarget]:
    return [
        WitnessTarget(w.url, w.vkey, w.required, w.timeout_s)
        for w in app_state.settings().witnesses
    ]


def checkpoint(
    context: typer.Context,
    key: Path | None = typer.Option(None, help="Ledger key file (default: ledger.key_file)."),
    passphrase_file: Path | None = PASSPHRASE_FILE_OPTION,
    json_output: bool = JSON_OPTION,
) -> None:
    """Sign a checkpoint of the ledger and push it to the configured witnesses.

    Signs only when the tree grew, and only if it is consistent with the last checkpoint.
    Witnesses that are down are retried on the next run; nothing is lost.
    """
    app_state = state(context)
    settings = app_state.settings().ledger
    key_path = key or settings.key_file
    if key_path is None:
        fail_usage("no ledger key: give --key or set ledger.key_file")
    with handled():
        ledger_key = load_key(key_path, passphrase_file or settings.passphrase_file)
        try:
            stored, created = create_checkpoint(app_state.engine(), ledger_key)
        except CheckpointConflict as error:
            fail(str(error), exit_code(error))
        publication = publish(app_state.engine(), stored, _witnesses(app_state))
    if json_output:
        print_json({**publication.to_json(), "created": created})
        return
    verb = "signed" if created else "unchanged:"
    console.print(f"checkpoint {verb} size {stored.size} root {stored.root_hash.hex()}")
    for name in publication.checkpoint.cosigned_by:
        console.print(f"  cosigned by {name}")
    for name, reason in publication.pending.items():
        console.print(f"  [yellow]pending[/] {name}: {reason}")
    console.print("published" if publication.published else "[yellow]not yet published[/]")


def prove(
    context: typer.Context,
    seq: int = typer.Argument(..., min=0, help="The entry to prove."),
    size: int | None = typer.Option(None, help="Checkpoint size (default: the latest)."),
    out: Path = typer.Option(..., help="Where to write the C2SP tlog-proof file."),
) -> None:
    """Write an inclusion proof of entry SEQ in a signed checkpoint (C2SP tlog-proof)."""
    with handled(), read_transaction(state(context).engine()) as connection:
        stored = get_checkpoint(connection, size)
        if stored is None:
            fail_usage(f"no checkpoint at {size or 'any size'}; run `sequestra checkpoint`")
        if seq >= stored.size:
            fail_usage(f"entry {seq} is not in the checkpoint of size {stored.size}")
        hashes = tree.inclusion_proof(connection, seq, stored.size)
    proof = TlogProof(index=seq, hashes=tuple(hashes), checkpoint=stored.note)
    out.write_bytes(proof.format())
    console.print(f"wrote {out}: entry {seq} in checkpoint size {stored.size}")


def consistency(
    context: typer.Context,
    old: int = typer.Argument(..., min=0, help="Older tree size."),
    new: int = typer.Argument(..., min=0, help="Newer tree size."),
) -> None:
    """Print the consistency proof between two tree sizes, one base64 hash a line."""
    with handled(), read_transaction(state(context).engine()) as connection:
        try:
            hashes = tree.consistency_proof(connection, old, new)
        except MerkleError as error:
            fail(f"OLD NEW: {error}", exit_code(error))
    sys.stdout.write("".join(base64.b64encode(h).decode() + "\n" for h in hashes))


def export(
    context: typer.Context,
    out: Path = typer.Option(..., help="New directory for the bundle."),
    size: int | None = typer.Option(None, help="Checkpoint size (default: the latest)."),
    json_output: bool = JSON_OPTION,
) -> None:
    """Write an offline audit bundle: entries, checkpoints, tiles and verifier keys."""
    app_state = state(context)
    vkeys = [w.vkey for w in app_state.settings().witnesses]
    with handled():
        summary = export_bundle(app_state.engine(), out, size, vkeys)
    if json_output:
        print_json(summary.to_json())
    else:
        console.print(
            f"wrote {out}: {summary.size} entries, {summary.checkpoints} checkpoints,"
            f" {summary.tiles} tiles; root {summary.root_hex}"
        )
