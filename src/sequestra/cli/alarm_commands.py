"""`sequestra fork-alarms`: the fork alarms the checkpoint signer recorded beside its record,
and how an operator closes them once investigated."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Final

import typer

from sequestra.cli.common import (
    EXIT_FAILED,
    JSON_OPTION,
    console,
    fail_usage,
    handled,
    print_json,
    state,
)
from sequestra.ledger.signer import SignerStore
from sequestra.ledger.timefmt import format_timestamp

NOTE_CHARS_MAX: Final = 1_000

fork_alarms_app = typer.Typer(
    help="Fork alarms: the signer or a witness found a history that does not extend what"
    " was signed before.",
    no_args_is_help=True,
)

SIGNER_STATE_OPTION = typer.Option(
    None,
    "--signer-state",
    help="The signer's record (default: ledger.signer_state_file, or beside ledger.key_file).",
    dir_okay=False,
)


def _store(context: typer.Context, signer_state: Path | None) -> SignerStore:
    path = signer_state or state(context).settings().ledger.signer_state_path()
    if path is None:
        fail_usage("no signer record: give --signer-state or set ledger.signer_state_file")
    return SignerStore(path)


@fork_alarms_app.command("list")
def list_alarms(
    context: typer.Context,
    signer_state: Path | None = SIGNER_STATE_OPTION,
    json_output: bool = JSON_OPTION,
) -> None:
    """Print the open fork alarms, oldest first; exit 1 while any is open (for monitoring),
    0 when none is."""
    store = _store(context, signer_state)
    with handled():
        alarms = store.alarms()
    if json_output:
        print_json({"open": len(alarms), "alarms": alarms, "file": str(store.alarms_path)})
    elif not alarms:
        console.print("no open fork alarm")
    else:
        for alarm in alarms:
            console.print(
                f"[bold red]{alarm.get('at', '?')}[/] {alarm.get('kind', 'fork')}:"
                f" {alarm.get('reason', '')}",
                highlight=False,
            )
        console.print(
            f"{len(alarms)} open; after investigating, `sequestra fork-alarms resolve --note`",
            highlight=False,
        )
    if alarms:
        raise typer.Exit(EXIT_FAILED)


@fork_alarms_app.command("resolve")
def resolve(
    context: typer.Context,
    note: str = typer.Option(
        ..., "--note", help="What was found and done (kept with the alarms it closes)."
    ),
    signer_state: Path | None = SIGNER_STATE_OPTION,
    json_output: bool = JSON_OPTION,
) -> None:
    """Close every open fork alarm with a note saying what was investigated and done; the
    alarms and the note move to `<alarms>.resolved` (nothing is deleted)."""
    note = note.strip()
    if not note or len(note) > NOTE_CHARS_MAX:
        fail_usage(f"--note: expected 1 to {NOTE_CHARS_MAX} characters saying what was done")
    store = _store(context, signer_state)
    with handled():
        closed = store.resolve_alarms(note, format_timestamp(datetime.now(UTC)))
    if json_output:
        print_json({"resolved": closed, "note": note})
        return
    console.print(f"resolved {closed} fork alarm(s)" if closed else "no open fork alarm")
