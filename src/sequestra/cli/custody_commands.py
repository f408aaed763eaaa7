"""Custody commands for treasury staff: cases, wallets, assets, seizures, transfers,
forfeitures, releases, corrections, holdings, history and rebuild.

Every command reads or builds through `sequestra.custody.service`; the rules live there and
in the ledger, never here. A write builds its statements from what was typed, signs them
locally with the officer's key and appends them, all in `_write`. Input the service or the
ledger refuses exits with code 2 and `error: <field>: expected ..., got ...`; nothing is
recorded then.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Sequence
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Final

import typer
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table
from rich.text import Text
from sqlalchemy import Engine

from sequestra.chains.watch.queries import holdings_json
from sequestra.cli.common import (
    JSON_OPTION,
    PASSPHRASE_FILE_OPTION,
    console,
    fail_usage,
    handled,
    print_json,
    state,
)
from sequestra.cli.tables import print_table
from sequestra.cli.writes import (
    Statements,
    ledger_engine,
    refused,
    write_one,
    write_statements,
)
from sequestra.config import Settings
from sequestra.custody import details as custody_details
from sequestra.custody import queries as custody_queries
from sequestra.custody import service
from sequestra.custody.amounts import format_base_units
from sequestra.custody.assets import AssetRegistry
from sequestra.custody.kinds import FORFEITURE_ITEMS_MAX
from sequestra.errors import NotFound
from sequestra.ledger.rebuild import rebuild_projections
from sequestra.ledger.roles import (
    ASSET_REGISTERED,
    CASE_CLOSED,
    CASE_OPENED,
    CUSTODY_TRANSFERRED,
    ENTRY_CORRECTED,
    FORFEITURE_ORDERED,
    RELEASE_ORDERED,
    SEIZURE_RECORDED,
    WALLET_REGISTERED,
)
from sequestra.ledger.timefmt import parse_timestamp

FUND_LABEL: Final = "State Fund"
DEFAULT_CONTROLLER: Final = "Ministry of Finance Treasury"
# How the history table names the movements.
MOVEMENT_NAMES: Final = {
    SEIZURE_RECORDED: "seizure",
    CUSTODY_TRANSFERRED: "transfer",
    FORFEITURE_ORDERED: "forfeiture",
    RELEASE_ORDERED: "release",
    ENTRY_CORRECTED: "correction",
}

case_app = typer.Typer(
    help="Open, show, list and close cases; every seizure belongs to one.", no_args_is_help=True
)
wallet_app = typer.Typer(
    help="Register and list the custody wallets that hold seized assets.", no_args_is_help=True
)
asset_app = typer.Typer(
    help="List the assets the ledger can hold; record configured tokens.", no_args_is_help=True
)


class ChainName(StrEnum):
    bitcoin = "bitcoin"
    ethereum = "ethereum"


KEY_OPTION = typer.Option(
    ...,
    "--key",
    help="Your private key file (a treasury officer's); it never leaves this machine.",
)
CASE_ARGUMENT = typer.Argument(
    ..., metavar="CASE_ID", help="Case number, e.g. AFM-2025-0001 (letters, digits, . _ -)."
)
CASE_OPTION = typer.Option(..., "--case", help="The case number.")
ASSET_OPTION = typer.Option(
    ..., "--asset", help="Asset symbol (BTC, ETH, USDT) or id (ethereum:USDT)."
)
AMOUNT_HELP = (
    "Amount in the asset's own unit, e.g. 0.12345678 BTC; exact: more decimals than the asset "
    "has are refused, never rounded."
)
FEE_OPTION = typer.Option(
    "0",
    "--fee",
    help="Network fee in the chain's native asset (BTC or ETH; a token's fee is paid in ETH "
    "from operating funds).",
)
TIME_HELP = "YYYY-MM-DDTHH:MM:SSZ in UTC, fractional seconds allowed (default: now)."
EVIDENCE_OPTION = typer.Option(
    None,
    "--evidence",
    metavar="FILE",
    help="Evidence document (report, decision, photo); only its SHA-256 and file name are "
    "recorded. Repeat for several.",
    exists=True,
    dir_okay=False,
)
DATE_HELP = "Date of the decision or order, YYYY-MM-DD."


# --- shared paths ---------------------------------------------------------------------------


def _time(text: str | None, field: str, now_utc: datetime) -> datetime:
    return now_utc if text is None else parse_timestamp(text, field)


def _evidence(paths: Sequence[Path] | None) -> tuple[dict[str, str], ...]:
    return tuple(service.evidence(path) for path in paths or ())


def _network(settings: Settings, registry: AssetRegistry, asset_text: str) -> str:
    """The configured network of the chain the asset lives on."""
    return settings.custody.network(service.resolve_asset(registry, asset_text).chain)


def _row(*values: object) -> list[Text]:
    """Table cells as plain text (what people typed is never read as markup)."""
    return [Text("" if value is None else str(value)) for value in values]


# --- cases ----------------------------------------------------------------------------------


@case_app.command("open")
def case_open(
    context: typer.Context,
    case_id: str = CASE_ARGUMENT,
    agency: str = typer.Option(..., help="The agency that seized the assets, e.g. AFM."),
    basis: str = typer.Option(..., help="The legal basis of the seizure (statute, article)."),
    prosecutor_ref: str | None = typer.Option(None, help="The prosecutor's file reference."),
    court_ref: str | None = typer.Option(None, help="The court's file reference."),
    description: str | None = typer.Option(None, help="What the case is about."),
    key: Path = KEY_OPTION,
    passphrase_file: Path | None = PASSPHRASE_FILE_OPTION,
) -> None:
    """Open a case: the number every seizure, forfeiture and release refers to."""
    body = service.case_opened_body(case_id, agency, basis, prosecutor_ref, court_ref, description)
    seq, _ = write_one(context, key, passphrase_file, lambda _e, _t: [(CASE_OPENED, body)])
    console.print(f"case {case_id} opened at seq {seq}", markup=False, highlight=False)


@case_app.command("show")
def case_show(
    context: typer.Context, case_id: str = CASE_ARGUMENT, json_output: bool = JSON_OPTION
) -> None:
    """Show a case and every holding it has had (emptied ones say what emptied them)."""
    engine = ledger_engine(context)
    with handled():
        case = custody_queries.get_case(engine, case_id)
        if case is None:
            raise NotFound(f"case: no case numbered {case_id!r:.80}")
    holdings = custody_queries.list_holdings(engine, case_id, include_empty=True)
    seizures = custody_details.case_seizures(engine, case_id)
    if json_output:
        print_json(
            {
                **custody_queries.case_json(case),
                "holdings": [h.to_json() for h in holdings],
                "seizures": [seizure.to_json() for seizure in seizures],
            }
        )
        return
    fields = Table.grid(padding=(0, 2))
    for name, value in custody_queries.case_json(case).items():
        if name == "opened_at":
            name, value = "opened (recorded)", _minute(value)
        if value is not None:
            fields.add_row(*_row(name, value))
    console.print(fields)
    print_table(_holdings_table(holdings))
    if seizures:
        print_table(_seizures_table(seizures))
        _print_evidence((seizure.seq, seizure.evidence) for seizure in seizures)


def _minute(timestamp: str) -> str:
    """A ledger timestamp (or a date) to the minute, for tables; `--json` has it all."""
    return timestamp[:16].replace("T", " ")


def _seizures_table(seizures: Sequence[custody_details.SeizureLine]) -> Table:
    """A case's seizures: when each happened (seized) beside when it was recorded."""
    table = Table("seq", "seized (UTC)", "recorded (UTC)", "asset")
    table.add_column("amount", justify="right")
    table.add_column("evidence", justify="right")
    for seizure in seizures:
        table.add_row(
            *_row(
                seizure.seq,
                _minute(seizure.seized_at),
                _minute(seizure.recorded_at),
                seizure.asset_id,
                seizure.amount,
                len(seizure.evidence) or "-",
            )
        )
    return table


def _print_evidence(items: Iterable[tuple[int, Sequence[dict[str, str]]]]) -> None:
    """The evidence documents each entry names: its SHA-256 whole, and the file's name."""
    for seq, evidence in items:
        for item in evidence:
            console.print(
                f"evidence of seq {seq}: sha256 {item['sha256']} {item['name']}",
                markup=False,
                highlight=False,
                soft_wrap=True,
            )


@case_app.command("list")
def case_list(
    context: typer.Context,
    open_only: bool = typer.Option(False, "--open", help="Only cases not closed yet."),
    json_output: bool = JSON_OPTION,
) -> None:
    """List cases in the order they were opened."""
    cases = custody_queries.list_cases(ledger_engine(context), open_only)
    if json_output:
        print_json([custody_queries.case_json(case) for case in cases])
        return
    table = Table("case", "agency", "opened (recorded)", "status", "holdings", "closed")
    for case in cases:
        status = "open" if case.closed_seq is None else "closed"
        table.add_row(
            *_row(
                case.case_id,
                case.agency,
                f"seq {case.opened_seq}, {case.opened_at[:10]}",
                status,
                case.holdings_open,
                case.closed_seq and f"seq {case.closed_seq}",
            )
        )
    print_table(table)


@case_app.command("close")
def case_close(
    context: typer.Context,
    case_id: str = CASE_ARGUMENT,
    reason: str = typer.Option(..., help="Why the case is closed, for the record."),
    key: Path = KEY_OPTION,
    passphrase_file: Path | None = PASSPHRASE_FILE_OPTION,
) -> None:
    """Close a case that holds nothing (forfeit or release its holdings first)."""
    body = {"case": case_id, "reason": reason}
    seq, _ = write_one(context, key, passphrase_file, lambda _e, _t: [(CASE_CLOSED, body)])
    console.print(f"case {case_id} closed at seq {seq}", markup=False, highlight=False)


# --- wallets and assets ---------------------------------------------------------------------


@wallet_app.command("add")
def wallet_add(
    context: typer.Context,
    address: str = typer.Argument(..., help="The wallet's address, as the chain writes it."),
    chain: ChainName = typer.Option(..., help="The chain the address is on."),
    label: str = typer.Option(..., help="A short name for the wallet, e.g. cold-1."),
    controller: str = typer.Option(DEFAULT_CONTROLLER, help="Who controls the wallet's keys."),
    key: Path = KEY_OPTION,
    passphrase_file: Path | None = PASSPHRASE_FILE_OPTION,
) -> None:
    """Register a custody wallet; its network comes from the configuration ([custody])."""
    network = state(context).settings().custody.network(chain.value)

    def build(_engine: Engine, _now: datetime) -> Statements:
        body = service.wallet_body(chain.value, network, address, controller, label)
        return [(WALLET_REGISTERED, body)]

    seq, body = write_one(context, key, passphrase_file, build)
    console.print(
        f"wallet {body['address']} ({chain.value} {network}, {label}) registered at seq {seq}",
        markup=False,
        highlight=False,
    )


@wallet_app.command("list")
def wallet_list(
    context: typer.Context,
    chain: ChainName | None = typer.Option(None, help="Only wallets on this chain."),
    json_output: bool = JSON_OPTION,
) -> None:
    """List the registered custody wallets."""
    wallets = custody_queries.list_wallets(
        ledger_engine(context), None if chain is None else chain.value
    )
    if json_output:
        print_json([custody_queries.wallet_json(wallet) for wallet in wallets])
        return
    table = Table("address", "chain", "network", "label", "controller", "registered")
    table.columns[0].overflow = "fold"  # an address is never cut short
    for wallet in wallets:
        table.add_row(
            *_row(
                wallet.address,
                wallet.chain,
                wallet.network,
                wallet.label,
                wallet.controller,
                f"seq {wallet.registered_seq}",
            )
        )
    print_table(table)


@asset_app.command("list")
def asset_list(context: typer.Context, json_output: bool = JSON_OPTION) -> None:
    """List built-in, recorded and configured assets; `configured` ones need `asset sync`."""
    configs = state(context).settings().custody.assets
    engine = ledger_engine(context)
    with refused():
        statuses = service.asset_statuses(engine, configs)
    if json_output:
        print_json([status.to_json() for status in statuses])
        return
    table = Table("asset", "symbol", "kind", "decimals", "contract", "status")
    table.columns[4].overflow = "fold"  # a contract address is never cut short
    for item in statuses:
        asset = item.asset
        status = item.status
        if item.registered_seq is not None:
            status = f"{status} (seq {item.registered_seq})"
        table.add_row(
            *_row(asset.asset_id, asset.symbol, asset.kind, asset.decimals, asset.contract, status)
        )
    print_table(table)


@asset_app.command("sync")
def asset_sync(
    context: typer.Context,
    key: Path = typer.Option(..., "--key", help="An admin's private key file."),
    passphrase_file: Path | None = PASSPHRASE_FILE_OPTION,
) -> None:
    """Record the configured assets ([[custody.assets]]) the ledger does not hold yet."""
    configs = state(context).settings().custody.assets

    def build(engine: Engine, _now: datetime) -> Statements:
        missing = service.assets_to_sync(engine, configs)
        return [(ASSET_REGISTERED, service.asset_body(asset)) for asset in missing]

    written = write_statements(context, key, passphrase_file, build)
    if not written:
        console.print("every configured asset is in the ledger already")
    for seq, body in written:
        console.print(f"asset {body['asset']} registered at seq {seq}", highlight=False)


# --- movements ------------------------------------------------------------------------------


def seize(
    context: typer.Context,
    case: str = CASE_OPTION,
    asset: str = ASSET_OPTION,
    amount: str = typer.Option(..., help=AMOUNT_HELP),
    wallet: str = typer.Option(..., help="The custody wallet the assets now sit in."),
    seized_at: str | None = typer.Option(None, help=f"When it was seized: {TIME_HELP}"),
    seized_from: str | None = typer.Option(
        None, "--from", help="From whom or what platform the assets were seized."
    ),
    source_address: list[str] | None = typer.Option(
        None, metavar="ADDRESS", help="An address the assets were taken from; repeat."
    ),
    source_tx: list[str] | None = typer.Option(
        None, metavar="TXID", help="A transaction that moved them into custody; repeat."
    ),
    evidence: list[Path] | None = EVIDENCE_OPTION,
    ref: str | None = typer.Option(None, help="External reference, e.g. the seizure report."),
    description: str | None = typer.Option(None, help="What was seized, in words."),
    key: Path = KEY_OPTION,
    passphrase_file: Path | None = PASSPHRASE_FILE_OPTION,
) -> None:
    """Record a seizure: assets of a case now held in a custody wallet."""
    settings = state(context).settings()

    def build(engine: Engine, now_utc: datetime) -> Statements:
        registry = custody_queries.asset_registry(engine)
        seizure = service.SeizureInput(
            case_id=case,
            asset=asset,
            amount=amount,
            wallet=wallet,
            seized_at=_time(seized_at, "--seized-at", now_utc),
            seized_from=seized_from,
            source_addresses=tuple(source_address or ()),
            source_txs=tuple(source_tx or ()),
            evidence=_evidence(evidence),
            external_ref=ref,
            description=description,
        )
        network = _network(settings, registry, asset)
        return [(SEIZURE_RECORDED, service.seizure_body(registry, network, seizure))]

    seq, body = write_one(context, key, passphrase_file, build)
    console.print(
        f"seizure recorded at seq {seq}: {amount} {body['asset']} of case {case}"
        f" in {body['wallet']}",
        markup=False,
        highlight=False,
    )


def transfer(
    context: typer.Context,
    case: str | None = typer.Option(None, "--case", help="Move a holding of this case."),
    fund: bool = typer.Option(False, "--fund", help="Move a holding of the State Fund."),
    asset: str = ASSET_OPTION,
    amount: str = typer.Option(..., help=AMOUNT_HELP),
    from_wallet: str = typer.Option(..., "--from", help="The custody wallet it leaves."),
    to_wallet: str = typer.Option(..., "--to", help="The custody wallet it arrives in."),
    tx: str = typer.Option(..., "--tx", help="The transaction hash (txid) on the chain."),
    fee: str = FEE_OPTION,
    at: str | None = typer.Option(None, "--at", help=f"When it moved: {TIME_HELP}"),
    reason: str | None = typer.Option(None, help="Why it moved, e.g. cold storage rotation."),
    key: Path = KEY_OPTION,
    passphrase_file: Path | None = PASSPHRASE_FILE_OPTION,
) -> None:
    """Record a move between two custody wallets, of a case's holding or the Fund's."""
    if fund == (case is not None):
        fail_usage(
            "--case/--fund: expected exactly one of them, got " + ("both" if fund else "none")
        )
    settings = state(context).settings()

    def build(engine: Engine, now_utc: datetime) -> Statements:
        registry = custody_queries.asset_registry(engine)
        body = service.transfer_body(
            registry,
            _network(settings, registry, asset),
            case_id=case,
            asset_text=asset,
            amount=amount,
            from_wallet=from_wallet,
            to_wallet=to_wallet,
            tx=tx,
            fee=fee,
            transferred_at=_time(at, "--at", now_utc),
            reason=reason,
        )
        return [(CUSTODY_TRANSFERRED, body)]

    seq, body = write_one(context, key, passphrase_file, build)
    console.print(
        f"transfer recorded at seq {seq}: {amount} {body['asset']} from {body['from']}"
        f" to {body['to']} (fee {fee})",
        markup=False,
        highlight=False,
    )


def forfeit(
    context: typer.Context,
    case: str = CASE_OPTION,
    court: str = typer.Option(..., help="The court that ordered the forfeiture."),
    decision: str = typer.Option(..., help="The decision's reference."),
    date: str = typer.Option(..., help=DATE_HELP),
    asset: str | None = typer.Option(None, help="Forfeit only holdings of this asset."),
    wallet: str | None = typer.Option(None, help="Forfeit only holdings in this wallet."),
    evidence: list[Path] | None = EVIDENCE_OPTION,
    key: Path = KEY_OPTION,
    passphrase_file: Path | None = PASSPHRASE_FILE_OPTION,
) -> None:
    """Pass a case's holdings, in full, to the State Fund by a court's decision.

    Every holding of the case is forfeited unless --asset or --wallet narrows them; the coins
    stay in their wallets, their owner changes.
    """

    def build(engine: Engine, _now: datetime) -> Statements:
        registry = custody_queries.asset_registry(engine)
        chosen = None if asset is None else service.resolve_asset(registry, asset)
        address = None if wallet is None else service.find_wallet(engine, wallet).address
        holdings = service.forfeitable_holdings(engine, case, chosen, address)
        order = service.order(court, decision, date)
        items = _evidence(evidence)
        # One statement names at most FORFEITURE_ITEMS_MAX holdings; all go in one batch.
        parts = [
            holdings[start : start + FORFEITURE_ITEMS_MAX]
            for start in range(0, len(holdings), FORFEITURE_ITEMS_MAX)
        ]
        return [
            (FORFEITURE_ORDERED, service.forfeiture_body(case, order, part, items))
            for part in parts
        ]

    written = write_statements(context, key, passphrase_file, build)
    registry = custody_queries.asset_registry(ledger_engine(context))
    for seq, body in written:
        console.print(f"forfeiture recorded at seq {seq}: case {case} to the {FUND_LABEL}")
        for item in body["holdings"]:
            amount = format_base_units(
                int(item["amount_base"]), registry.get(item["asset"]).decimals
            )
            console.print(f"  {amount} {item['asset']} in {item['wallet']}", highlight=False)


def release(
    context: typer.Context,
    case: str = CASE_OPTION,
    asset: str = ASSET_OPTION,
    amount: str = typer.Option(..., help=AMOUNT_HELP),
    wallet: str = typer.Option(..., help="The custody wallet it leaves."),
    destination: str = typer.Option(..., "--to", help="The owner's address it is sent to."),
    tx: str = typer.Option(..., "--tx", help="The transaction hash (txid) on the chain."),
    fee: str = FEE_OPTION,
    authority: str = typer.Option(..., help="Who ordered the release (court, prosecutor)."),
    order_ref: str = typer.Option(..., help="The order's reference."),
    date: str = typer.Option(..., help=DATE_HELP),
    at: str | None = typer.Option(None, "--at", help=f"When it was sent: {TIME_HELP}"),
    evidence: list[Path] | None = EVIDENCE_OPTION,
    key: Path = KEY_OPTION,
    passphrase_file: Path | None = PASSPHRASE_FILE_OPTION,
) -> None:
    """Record the return of a case's holding to its owner, by order."""
    settings = state(context).settings()

    def build(engine: Engine, now_utc: datetime) -> Statements:
        registry = custody_queries.asset_registry(engine)
        body = service.release_body(
            registry,
            _network(settings, registry, asset),
            case_id=case,
            asset_text=asset,
            amount=amount,
            wallet=wallet,
            destination=destination,
            tx=tx,
            fee=fee,
            release_order=service.order(authority, order_ref, date),
            released_at=_time(at, "--at", now_utc),
            evidence_items=_evidence(evidence),
        )
        return [(RELEASE_ORDERED, body)]

    seq, body = write_one(context, key, passphrase_file, build)
    console.print(
        f"release recorded at seq {seq}: {amount} {body['asset']} of case {case}"
        f" to {body['destination']} (fee {fee})",
        markup=False,
        highlight=False,
    )


def correct(
    context: typer.Context,
    seq: int = typer.Argument(..., min=1, help="The seq of the movement to reverse."),
    reason: str = typer.Option(..., help="Why it is corrected, for the record."),
    key: Path = KEY_OPTION,
    passphrase_file: Path | None = PASSPHRASE_FILE_OPTION,
) -> None:
    """Reverse an earlier seizure, transfer, forfeiture or release; it stays in the ledger."""
    body = {"seq": seq, "reason": reason}
    written, _ = write_one(context, key, passphrase_file, lambda _e, _t: [(ENTRY_CORRECTED, body)])
    console.print(f"seq {seq} corrected (reversed) at seq {written}")


# --- reading --------------------------------------------------------------------------------


def _holdings_table(holdings: Sequence[custody_queries.Holding]) -> Table:
    """Holdings, one a row, and the total of each asset at the bottom."""
    table = Table("holding", "case", "asset")
    table.add_column("amount", justify="right")
    table.add_column("wallet", overflow="fold")  # an address is never cut short
    table.add_column("state")
    for holding in holdings:
        table.add_row(
            *_row(
                f"H{holding.holding_id}",
                holding.case_id or FUND_LABEL,
                holding.asset.symbol,
                holding.amount,
                holding.wallet,
                holding.state,
            )
        )
    totals = custody_queries.totals_by_asset(holdings)
    if totals:
        table.add_section()
    for asset, total_base in totals:
        table.add_row(
            *_row("total", "", asset.symbol, format_base_units(total_base, asset.decimals), "", "")
        )
    return table


def holdings(
    context: typer.Context,
    case: str | None = typer.Option(None, "--case", help="Only this case's holdings."),
    asset: str | None = typer.Option(None, help="Only holdings of this asset."),
    fund: bool = typer.Option(False, "--fund", help="Only the State Fund's holdings."),
    cases: bool = typer.Option(False, "--cases", help="Only holdings of cases."),
    include_empty: bool = typer.Option(
        False, "--all", help="Also holdings emptied by transfer, forfeiture, release, correction."
    ),
    json_output: bool = JSON_OPTION,
) -> None:
    """List holdings: what each case and the State Fund hold in each wallet."""
    if fund and (cases or case is not None):
        fail_usage("--fund: expected alone, without --cases or --case (the Fund has no case)")
    engine = ledger_engine(context)
    with refused():
        if case is not None:
            service.require_case(engine, case)
        chosen = (
            None
            if asset is None
            else service.resolve_asset(custody_queries.asset_registry(engine), asset)
        )
    owner = True if fund else (False if cases else None)
    listed = custody_queries.list_holdings(engine, case, chosen, include_empty, owner)
    if json_output:
        print_json(holdings_json(engine, listed))
        return
    print_table(_holdings_table(listed))


def history(
    context: typer.Context,
    holding: str = typer.Argument(
        ..., metavar="HOLDING", help="Holding id from `sequestra holdings`: 17 or H17."
    ),
    json_output: bool = JSON_OPTION,
) -> None:
    """Show every change to one holding, oldest first, with the balance after each."""
    engine = ledger_engine(context)
    with handled(), refused():
        found = custody_queries.holding_history(engine, service.holding_id(holding))
        if found is None:
            raise NotFound(
                f"holding: no holding {holding!r:.40} (`sequestra holdings --all` lists them)"
            )
    held, lines = found
    details = custody_details.movement_details(engine, {line.seq for line in lines})
    if json_output:
        print_json(
            {
                "holding": holdings_json(engine, [held])[0],
                "items": custody_details.history_json(engine, held, lines),
            }
        )
        return
    owner = f"case {held.case_id}" if held.case_id else FUND_LABEL
    console.print(
        f"H{held.holding_id}: {held.amount} {held.asset.symbol} of {owner} in {held.wallet}"
        f" ({held.state})",
        markup=False,
        highlight=False,
    )
    table = Table("seq", "happened (UTC)", "recorded (UTC)", "kind")
    for column in ("change", "balance"):
        table.add_column(column, justify="right")
    table.add_column("reversed by")
    for line in lines:
        shown = line.to_json(held.asset)
        change = shown["change"] if line.change_base < 0 else "+" + shown["change"]
        kind = MOVEMENT_NAMES.get(line.kind, line.kind)
        detail = details.get(line.seq)
        happened = None if detail is None or detail.happened_at is None else detail.happened_at
        reversed_by = None if line.reversed_by is None else f"seq {line.reversed_by}"
        table.add_row(
            *_row(
                line.seq,
                happened and _minute(happened),
                _minute(line.recorded_at),
                kind,
                change,
                shown["balance"],
                reversed_by,
            )
        )
    print_table(table)
    _print_evidence(
        (seq, detail.evidence) for seq, detail in sorted(details.items()) if detail.evidence
    )
    if len(lines) >= custody_queries.HISTORY_LINES_MAX:
        console.print(
            f"(the first {custody_queries.HISTORY_LINES_MAX} changes only)", highlight=False
        )


def rebuild(context: typer.Context, json_output: bool = JSON_OPTION) -> None:
    """Empty the read models (keys, cases, wallets, holdings) and replay every entry.

    The entries are the record; the read models are derived from them. Appends wait while
    this runs, and a failure leaves the old read models as they were.
    """
    engine = ledger_engine(context)
    with handled():
        if sys.stderr.isatty() and not json_output:
            with Progress(
                TextColumn("replaying"),
                BarColumn(),
                TextColumn("{task.completed}/{task.total}"),
                TimeRemainingColumn(),
                transient=True,
            ) as bar:
                task = bar.add_task("rebuild", total=None)
                result = rebuild_projections(
                    engine,
                    state(context).rule_set(),
                    lambda done, total: bar.update(task, completed=done, total=total),
                )
        else:
            result = rebuild_projections(engine, state(context).rule_set())
    if json_output:
        print_json(result.to_json())
        return
    console.print(
        f"rebuilt {', '.join(result.projections)}: {result.entries} entries replayed",
        highlight=False,
    )
