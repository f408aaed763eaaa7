"""Witness commands: serve the audit office's witness, print its verifier key."""

from __future__ import annotations

import logging
from pathlib import Path

import typer

from sequestra.cli.common import (
    PASSPHRASE_FILE_OPTION,
    error_console,
    fail,
    handled,
    load_key,
)
from sequestra.errors import exit_code
from sequestra.ledger.note import CosignatureVerifier, KeyFormatError
from sequestra.ledger.witness import (
    Witness,
    WitnessConfigError,
    WitnessState,
    WitnessStateError,
    parse_log_options,
)

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 7380

witness_app = typer.Typer(
    help="The audit office's witness: cosigns ledger checkpoints (C2SP tlog-witness).",
    no_args_is_help=True,
)

KEY_OPTION = typer.Option(
    ...,
    "--key",
    help="The witness's private key file (Ed25519 PKCS#8 PEM).",
    exists=True,
    dir_okay=False,
)
NAME_OPTION = typer.Option(
    ..., "--name", help="The witness's key name, e.g. audit.gov.kz/witness (no spaces or '+')."
)


@witness_app.command("serve")
def serve(
    key: Path = KEY_OPTION,
    name: str = NAME_OPTION,
    state_directory: Path = typer.Option(
        ...,
        "--state",
        help="Directory of the witness's state (latest cosigned checkpoints).",
        file_okay=False,
    ),
    log: list[str] = typer.Option(
        ..., "--log", help="A log to witness, ORIGIN=VKEY (the log's verifier key); repeat."
    ),
    host: str = typer.Option(DEFAULT_HOST, "--host", help="Address to listen on."),
    port: int = typer.Option(DEFAULT_PORT, "--port", min=1, max=65535, help="Port to listen on."),
    passphrase_file: Path | None = PASSPHRASE_FILE_OPTION,
) -> None:
    """Serve POST /add-checkpoint: cosign checkpoints consistent with those cosigned before."""
    with handled():
        signing_key = load_key(key, passphrase_file)
    try:
        logs = parse_log_options(log)
        state = WitnessState(state_directory)
        witness = Witness(name, signing_key.private_key, logs, state)
    except (WitnessConfigError, WitnessStateError) as error:
        fail(str(error), exit_code(error))
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    error_console.print(f"witness {witness.verifier_key}", highlight=False, soft_wrap=True)
    for origin in witness.origins:
        error_console.print(f"witnessing {origin}", highlight=False, soft_wrap=True)
    from sequestra.service.witness_app import create_witness_app, run_witness  # FastAPI: on use

    run_witness(create_witness_app(witness), host, port)


@witness_app.command("vkey")
def vkey(
    key: Path = KEY_OPTION,
    name: str = NAME_OPTION,
    passphrase_file: Path | None = PASSPHRASE_FILE_OPTION,
) -> None:
    """Print the witness's cosignature verifier key (type 0x04) for the ledger to trust."""
    with handled():
        signing_key = load_key(key, passphrase_file)
    try:
        verifier = CosignatureVerifier(name, signing_key.public_key_raw)
    except KeyFormatError as error:
        fail(str(error), exit_code(error))
    typer.echo(verifier.verifier_key)
