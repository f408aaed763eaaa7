"""Auditor-facing ledger commands: checkpoint, prove, consistency, export."""

from __future__ import annotations

import base64
import sys
from pathlib import Path
from typing import NoReturn

import typer

from sequestra.cli.common import (
    JSON_OPTION,
    PASSPHRASE_FILE_OPTION,
    console,
    error_console,
    fail,
    fail_usage,
    handled,
    load_key,
    print_json,
    state,
)
from sequestra.errors import EXIT_CODES, DependencyUnavailable, exit_code
from sequestra.ledger import tree
from sequestra.ledger.checkpoints import (
    Publication,
    create_checkpoint,
    get_checkpoint,
    publish,
)
from sequestra.ledger.db import read_transaction
from sequestra.ledger.export import export_bundle
from sequestra.ledger.merkle import MerkleError
from sequestra.ledger.signer import ForkDetected
from sequestra.ledger.tlog_proof import TlogProof
from sequestra.service.trust import checkpoint_signer, load_policy, raise_fork_alarm

POLICY_OPTION = typer.Option(
    None,
    "--policy",
    help="Trust policy file (the ledger's key, the witnesses, the quorum); else"
    " [trust] policy_file.",
    exists=True,
    dir_okay=False,
)


def checkpoint(
    context: typer.Context,
    key: Path | None = typer.Option(None, help="Ledger key file (default: ledger.key_file)."),
    passphrase_file: Path | None = PASSPHRASE_FILE_OPTION,
    policy_file: Path | None = POLICY_OPTION,
    signer_state: Path | None = typer.Option(
        None,
        "--signer-state",
        help="The signer's record (default: ledger.signer_state_file, or beside the key).",
        dir_okay=False,
    ),
    adopt: bool = typer.Option(
        False,
        "--adopt",
        help="Start the signer's record from the database's latest checkpoint (checked"
        " against the witnesses); only when the record is lost and cannot be restored.",
    ),
    json_output: bool = JSON_OPTION,
) -> None:
    """Sign a checkpoint of the ledger and push it to the policy's witnesses.

    Signs only a tree that extends what this signer signed before (its own record, kept
    beside the key, outside the database) and what every witness cosigned; anything else
    is a fork: the alarm is recorded and pushed, and the command exits 1 with the evidence.
    A witness that is down is retried on the next run (pending); one that refuses because
    its history disagrees is a fork, never a delay. Published means the policy's quorum of
    valid cosignatures is met; until it is, the command exits 6 naming the witnesses that
    have not cosigned (the signed checkpoint is kept and the next run pushes it again).
    """
    app_state = state(context)
    settings = app_state.settings()
    key_path = key or settings.ledger.key_file
    if key_path is None:
        fail_usage("no ledger key: give --key or set ledger.key_file")
    with handled():
        ledger_key = load_key(key_path, passphrase_file or settings.ledger.passphrase_file)
        policy = load_policy(settings, policy_file)
        signer = checkpoint_signer(settings, ledger_key, key_path, policy, signer_state)
        engine = app_state.engine()
        try:
            stored, created = create_checkpoint(engine, signer, adopt=adopt)
            publication = publish(engine, stored, signer)
        except ForkDetected as fork:
            raise_fork_alarm(settings, fork)
            _print_fork(fork, json_output)
            raise typer.Exit(exit_code(fork)) from None
    if json_output:
        print_json({**publication.to_json(), "created": created})
    else:
        _print_publication(publication, created)
    if publication.policy and not publication.published:
        _fail_unpublished(publication)


def _fail_unpublished(publication: Publication) -> NoReturn:
    """Exit 6 (a dependency): the checkpoint is stored and signed, but the policy's quorum
    has not cosigned it; name the witnesses still missing."""
    cosigned = set(publication.cosignatures.cosigned_by)
    missing = {**publication.pending, **publication.refused}
    names = ", ".join(f"{name} ({reason})" for name, reason in sorted(missing.items()))
    if not names:
        names = "none answered; policy witnesses without a url must cosign offline"
    fail(
        f"checkpoint of size {publication.checkpoint.size} is stored but not published: the"
        f" policy's quorum has not cosigned (cosigned by: {', '.join(sorted(cosigned)) or 'none'})"
        f"; not cosigned: {names}; run `sequestra checkpoint` again when they answer",
        EXIT_CODES[DependencyUnavailable.branch],
    )


def _print_fork(fork: ForkDetected, json_output: bool) -> None:
    if json_output:
        print_json({"fork": True, "reason": str(fork), "evidence": fork.evidence})
        return
    error_console.print(f"[bold red]FORK ALARM:[/] {fork}", highlight=False)
    for name, value in fork.evidence.items():
        if name != "publication":
            error_console.print(f"  {name}: {value}", highlight=False)


def _print_publication(publication: Publication, created: bool) -> None:
    stored = publication.checkpoint
    verb = "signed" if created else "unchanged:"
    console.print(f"checkpoint {verb} size {stored.size} root {stored.root_hash.hex()}")
    for name in publication.cosignatures.cosigned_by:
        console.print(f"  cosigned by {name}")
    for other in publication.cosignatures.others:
        label = "[yellow]not checked[/]" if other.status == "unverified" else "[red]rejected[/]"
        console.print(f"  {label} {other.name} ({other.key_id}): {other.status}", highlight=False)
    for name, reason in publication.pending.items():
        console.print(f"  [yellow]pending[/] {name}: {reason}", highlight=False)
    for name, reason in publication.refused.items():
        console.print(f"  [red]refused[/] {name}: {reason}", highlight=False)
    if not publication.policy:
        console.print("[yellow]not published: no trust policy names witnesses[/]")
    else:
        console.print(
            "published (the policy's quorum cosigned)"
            if publication.published
            else "[yellow]not yet published: the policy's quorum has not cosigned[/]"
        )


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
    with handled():
        policy = load_policy(app_state.settings())
        vkeys = (
            [] if policy is None else [w.verifier.verifier_key for w in policy.witnesses.values()]
        )
        sections = app_state.application().bundle_sections
        summary = export_bundle(app_state.engine(), out, size, vkeys, sections=sections)
    if json_output:
        print_json(summary.to_json())
    else:
        console.print(
            f"wrote {out}: {summary.size} entries, {summary.checkpoints} checkpoints,"
            f" {summary.tiles} tiles; root {summary.root_hex}"
        )
