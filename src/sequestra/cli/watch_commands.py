"""Watch commands: read the custody addresses on-chain, reconcile, list and acknowledge alerts.

`watch` signs its observations with the watcher key (`[watch] key_file`); `alerts ack`
is an officer's statement, signed with `--key` like every custody write.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Final

import typer
from rich.table import Table

from sequestra.chains.watch.queries import list_alerts, reconcile_latest
from sequestra.chains.watch.readers import open_readers
from sequestra.chains.watch.run import Watcher, WatchResult
from sequestra.chains.watch.webhook import WebhookSink, WebhookTarget
from sequestra.cli.common import (
    JSON_OPTION,
    PASSPHRASE_FILE_OPTION,
    console,
    fail,
    fail_usage,
    handled,
    load_key,
    print_json,
    state,
)
from sequestra.cli.tables import print_table
from sequestra.cli.writes import ledger_engine, write_one
from sequestra.errors import EXIT_UNAVAILABLE, exit_code
from sequestra.ledger.roles import ALERT_ACKNOWLEDGED

RUNS_MAX: Final = 1_000_000  # runs of one `sequestra watch` without --once (years at 60 s)

alerts_app = typer.Typer(
    help="List the alerts the watcher raised; acknowledge one (officers).",
    invoke_without_command=True,
)


def _watcher(context: typer.Context) -> Watcher:
    app_state = state(context)
    settings = app_state.settings()
    if settings.watch.key_file is None:
        fail_usage("watch.key_file: expected the watcher's key file (role watcher), got none")
    engine = ledger_engine(context)
    try:
        readers = open_readers(settings.watch, settings.custody)
    except ValueError as error:
        fail(str(error), exit_code(error))
    with handled():
        key = load_key(settings.watch.key_file, settings.watch.passphrase_file)
    sink = WebhookSink(
        [WebhookTarget(w.url, w.timeout_s, w.secret_file) for w in settings.watch.webhooks]
    )
    return Watcher(engine, app_state.rule_set(), readers, key, app_state.rules(), sinks=[sink])


def _print_run(result: WatchResult, json_output: bool) -> None:
    if json_output:
        print_json(result.to_json())
        return
    if result.status != "ok":
        console.print(f"[bold red]run failed[/]: {result.reason} (nothing recorded)")
        return
    blocks = ", ".join(f"{b['chain']} {b['height']}" for b in result.blocks)
    console.print(
        f"observation seq {result.observation_seq}: {result.balances_count} balances at"
        f" {blocks}; {result.changes_count} changed; {result.calls} node calls"
    )
    if result.superseded:
        console.print(f"[yellow]reorganisation[/]: superseded observation(s) {result.superseded}")
    for alert in result.alerts:
        colour = {"critical": "bold red", "warning": "yellow"}.get(str(alert["severity"]), "cyan")
        console.print(f"[{colour}]{alert['severity']}[/] seq {alert['seq']}: {alert['message']}")


def watch(
    context: typer.Context,
    once: bool = typer.Option(False, "--once", help="One run, then exit (else every interval)."),
    json_output: bool = JSON_OPTION,
) -> None:
    """Read every custody address on the configured chains, record one observation, and
    raise alerts where the chains differ from the ledger (an outflow is critical).

    Exit 6 (a dependency unavailable) when a run fails (node down, garbage): nothing is
    recorded, the next run catches up.
    """
    watcher = _watcher(context)
    interval_s = state(context).settings().watch.interval_s
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    for _ in range(RUNS_MAX):
        started = time.monotonic()
        result = watcher.run_once()
        _print_run(result, json_output)
        if once:
            if result.status != "ok":
                raise typer.Exit(EXIT_UNAVAILABLE)
            return
        time.sleep(max(0.0, interval_s - (time.monotonic() - started)))


def reconcile(context: typer.Context, json_output: bool = JSON_OPTION) -> None:
    """Compare the ledger now with the latest observation of each chain (no node is asked)."""
    with handled():
        result = reconcile_latest(ledger_engine(context))
    if json_output:
        print_json(result.to_json())
        return
    if not result.observations:
        console.print("no observation yet: run `sequestra watch --once`")
        return
    rows = result.to_json()["findings"]
    if not rows:
        console.print(f"ledger and chains agree (observations {result.observations})")
        return
    table = Table("severity", "kind", "chain", "address", "asset", "expected", "observed")
    for row in rows:
        table.add_row(
            row["severity"],
            row["kind"],
            row["chain"],
            row["address"],
            row["asset"],
            row["expected"],
            row["observed"],
        )
    print_table(table)


@alerts_app.callback()
def alerts(
    context: typer.Context,
    open_only: bool = typer.Option(False, "--open", help="Only alerts not yet acknowledged."),
    limit: int = typer.Option(100, min=1, max=10_000, help="How many, newest first."),
    json_output: bool = JSON_OPTION,
) -> None:
    """List alerts, newest first (`sequestra alerts ack SEQ` acknowledges one)."""
    if context.invoked_subcommand is not None:
        return
    with handled():
        rows = list_alerts(ledger_engine(context), open_only, limit)
    if json_output:
        print_json(rows)
        return
    table = Table("seq", "severity", "kind", "status", "raised", "message")
    for row in rows:
        table.add_row(
            str(row["seq"]),
            row["severity"],
            row["kind"],
            row["status"],
            row["raised_at"],
            row["message"],
        )
    print_table(table)


@alerts_app.command("ack")
def alerts_ack(
    context: typer.Context,
    seq: int = typer.Argument(..., min=0, help="The seq of the alert (from `sequestra alerts`)."),
    note: str = typer.Option(..., help="What was found and done, for the record."),
    key: Path = typer.Option(..., help="Your private key file (role treasury-officer)."),
    passphrase_file: Path | None = PASSPHRASE_FILE_OPTION,
) -> None:
    """Acknowledge an alert with a signed statement; it is then no longer open."""
    body = {"alert_seq": seq, "note": note}
    written, _ = write_one(
        context, key, passphrase_file, lambda _e, _t: [(ALERT_ACKNOWLEDGED, body)]
    )
    console.print(f"alert {seq} acknowledged at seq {written}")
