"""State Fund commands: the fund policy (admins) and the sale workflow (treasury officers
propose, cancel, execute and settle; approvers approve or reject).

Every command reads or builds through `sequestra.fund.service`; the rules live in
`sequestra.fund.sales` and the ledger, never here. Writes go through `cli.writes`: input the
service, the statement schemas or the rules refuse exits with code 2 and
`error: <field>: expected ..., got ...`; nothing is recorded then.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any, Final

import typer
from rich.table import Table
from rich.text import Text
from sqlalchemy import Engine

from sequestra.cli.common import JSON_OPTION, PASSPHRASE_FILE_OPTION, console, handled, print_json
from sequestra.cli.tables import print_table
from sequestra.cli.writes import Statements, ledger_engine, refused, write_one
from sequestra.custody.service import InputError
from sequestra.errors import NotFound
from sequestra.fund import queries as fund_queries
from sequestra.fund import service
from sequestra.fund.queries import SaleRecord
from sequestra.ledger.roles import (
    FUND_POLICY_RECORDED,
    SALE_APPROVED,
    SALE_CANCELLED,
    SALE_EXECUTED,
    SALE_PROPOSED,
    SALE_REJECTED,
    SALE_SETTLED,
)
from sequestra.ledger.timefmt import parse_timestamp

TIME_HELP: Final = "YYYY-MM-DDTHH:MM:SSZ in UTC, fractional seconds allowed (default: now)."

sale_app = typer.Typer(
    help="Sell State Fund holdings: propose, approve (m of n), execute in tranches, settle.",
    no_args_is_help=True,
)
fund_policy_app = typer.Typer(
    help="The fund policy: approval bands, how long an approval is valid, licensed venues.",
    no_args_is_help=True,
)


class Method(StrEnum):
    exchange = "exchange"
    otc = "otc"
    auction = "auction"


SALE_ARGUMENT = typer.Argument(
    ..., metavar="SALE_ID", help="Sale number, e.g. SF-2026-001 (letters, digits, . _ -)."
)
OFFICER_KEY = typer.Option(..., "--key", help="Your private key file (a treasury officer's).")
APPROVER_KEY = typer.Option(..., "--key", help="Your private key file (an approver's).")
ADMIN_KEY = typer.Option(..., "--key", help="Your private key file (an admin's).")
NOTE_OPTION = typer.Option(..., "--note", help="Why, for the record.")


def _time(text: str | None, field: str, now_utc: datetime) -> datetime:
    return now_utc if text is None else parse_timestamp(text, field)


def _row(*values: object) -> list[Text]:
    """Table cells as plain text (what people typed is never read as markup)."""
    return [Text("" if value is None else str(value)) for value in values]


def _say(text: str) -> None:
    console.print(text, markup=False, highlight=False)


# --- the fund policy ------------------------------------------------------------------------


@fund_policy_app.command("set")
def policy_set(
    context: typer.Context,
    band: list[str] = typer.Option(
        ...,
        metavar="UP_TO_USD:APPROVALS",
        help="A sale worth at most UP_TO_USD at its floor needs APPROVALS distinct approvers;"
        " repeat, ascending (100000:1 10000000:2). A larger sale is refused.",
    ),
    approval_valid: int = typer.Option(
        ..., "--approval-valid", help="Seconds an approval stays valid (60 to 7776000)."
    ),
    venue: list[str] = typer.Option(
        ..., "--venue", help="A licensed venue sales may execute on (binance); repeat."
    ),
    key: Path = ADMIN_KEY,
    passphrase_file: Path | None = PASSPHRASE_FILE_OPTION,
) -> None:
    """Record the fund policy; it replaces the one in force from its entry on."""

    def build(_engine: Engine, _now: datetime) -> Statements:
        return [(FUND_POLICY_RECORDED, service.policy_body(band, approval_valid, venue))]

    seq, body = write_one(context, key, passphrase_file, build)
    bands = ", ".join(f"up to USD {b['up_to_usd']}: {b['approvals_min']}" for b in body["bands"])
    _say(
        f"fund policy recorded at seq {seq}: approvals {bands}; valid"
        f" {body['approval_valid_s']} s; venues {', '.join(body['venues'])}"
    )


@fund_policy_app.command("show")
def policy_show(context: typer.Context, json_output: bool = JSON_OPTION) -> None:
    """Show the fund policy in force."""
    policy = fund_queries.current_policy(ledger_engine(context))
    if json_output:
        print_json(None if policy is None else policy.to_json())
        return
    if policy is None:
        _say("no fund policy recorded yet (`sequestra fund policy set`)")
        return
    _say(f"fund policy of seq {policy.seq}, recorded {policy.recorded_at}")
    table = Table("sale worth at the floor", "approvals needed")
    previous = "0"
    for limit, approvals in policy.bands:
        table.add_row(*_row(f"USD {previous} to {limit}", approvals))
        previous = str(limit)
    print_table(table)
    _say(
        f"larger sales are refused; an approval is valid {policy.approval_valid_s} s;"
        f" licensed venues: {', '.join(policy.venues)}"
    )


# --- the sale workflow ----------------------------------------------------------------------


def _tranches(texts: list[str] | None) -> tuple[tuple[datetime, str], ...]:
    planned = []
    for index, text in enumerate(texts or ()):
        at, separator, amount = text.rpartition("=")
        if not separator:
            raise InputError(f"schedule[{index}]", "TIME=AMOUNT", repr(text)[:80])
        planned.append((parse_timestamp(at, f"schedule[{index}].at"), amount))
    return tuple(planned)


@sale_app.command("propose")
def propose(
    context: typer.Context,
    sale_id: str = SALE_ARGUMENT,
    asset: str = typer.Option(..., help="Asset symbol (BTC, ETH, USDT) or id (ethereum:USDT)."),
    amount: str = typer.Option(
        ..., help="Amount to sell, in the asset's unit (1.5); exact, never rounded."
    ),
    wallet: str = typer.Option(..., help="The Fund's custody wallet it is sold from."),
    venue: list[str] = typer.Option(..., "--venue", help="A licensed venue to sell on; repeat."),
    method: Method = typer.Option(Method.exchange, help="How it is sold."),
    floor: str = typer.Option(..., "--floor", help="Lowest acceptable price, USD per unit."),
    reason: str = typer.Option(..., help="Why it is sold, for the record."),
    tranche: list[str] | None = typer.Option(
        None,
        metavar="TIME=AMOUNT",
        help="A planned tranche (2026-03-01T10:00:00Z=0.5); repeat. Recorded, not enforced.",
    ),
    key: Path = OFFICER_KEY,
    passphrase_file: Path | None = PASSPHRASE_FILE_OPTION,
) -> None:
    """Propose selling part of a State Fund holding; approvers approve it before it sells."""

    def build(engine: Engine, _now: datetime) -> Statements:
        typed = service.ProposalInput(
            sale_id=sale_id,
            asset=asset,
            amount=amount,
            wallet=wallet,
            venues=tuple(venue),
            method=method.value,
            price_floor_usd=floor,
            reason=reason,
            schedule=_tranches(tranche),
        )
        return [(SALE_PROPOSED, service.proposal_body(engine, typed))]

    seq, body = write_one(context, key, passphrase_file, build)
    sale = service.require_sale(ledger_engine(context), sale_id)
    _say(
        f"sale {sale_id} proposed at seq {seq}: {amount} {sale.asset.symbol} from"
        f" fund/{body['wallet']}, floor USD {body['price_floor_usd']};"
        f" needs {sale.approvals_min} approval(s) by approvers other than you"
    )


def _decide(
    context: typer.Context,
    kind: str,
    sale_id: str,
    note: str,
    key: Path,
    passphrase_file: Path | None,
) -> SaleRecord:
    body = service.decision_body(sale_id, note)
    seq, _ = write_one(context, key, passphrase_file, lambda _e, _t: [(kind, body)])
    sale = service.require_sale(ledger_engine(context), sale_id)
    verb = {SALE_APPROVED: "approved", SALE_REJECTED: "rejected", SALE_CANCELLED: "cancelled"}
    _say(f"sale {sale_id} {verb[kind]} at seq {seq}; now {sale.state}")
    return sale


@sale_app.command("approve")
def approve(
    context: typer.Context,
    sale_id: str = SALE_ARGUMENT,
    note: str = NOTE_OPTION,
    key: Path = APPROVER_KEY,
    passphrase_file: Path | None = PASSPHRASE_FILE_OPTION,
) -> None:
    """Approve a proposed sale (never your own proposal; once per approver)."""
    sale = _decide(context, SALE_APPROVED, sale_id, note, key, passphrase_file)
    _say(f"approvals: {len(sale.approvals)} of {sale.approvals_min} needed")


@sale_app.command("reject")
def reject(
    context: typer.Context,
    sale_id: str = SALE_ARGUMENT,
    note: str = NOTE_OPTION,
    key: Path = APPROVER_KEY,
    passphrase_file: Path | None = PASSPHRASE_FILE_OPTION,
) -> None:
    """Reject a sale before it executes; it closes and its quantity is free again."""
    _decide(context, SALE_REJECTED, sale_id, note, key, passphrase_file)


@sale_app.command("cancel")
def cancel(
    context: typer.Context,
    sale_id: str = SALE_ARGUMENT,
    note: str = NOTE_OPTION,
    key: Path = OFFICER_KEY,
    passphrase_file: Path | None = PASSPHRASE_FILE_OPTION,
) -> None:
    """Cancel an open sale; what it sold already stays sold (settle that part)."""
    _decide(context, SALE_CANCELLED, sale_id, note, key, passphrase_file)


@sale_app.command("execute")
def execute(
    context: typer.Context,
    sale_id: str = SALE_ARGUMENT,
    venue: str = typer.Option(..., help="The licensed venue it sold on."),
    amount: str = typer.Option(..., help="Amount sold in this tranche, in the asset's unit."),
    price: str = typer.Option(..., help="Price obtained, USD per unit."),
    fee: str = typer.Option("0", help="The venue's fee for this tranche, in USD."),
    order_id: str = typer.Option(..., "--order-id", help="The venue's order id."),
    deposit_tx: str = typer.Option(
        ..., "--deposit-tx", help="The transaction that moved the coins to the venue."
    ),
    at: str | None = typer.Option(None, "--at", help=f"When it executed: {TIME_HELP}"),
    key: Path = OFFICER_KEY,
    passphrase_file: Path | None = PASSPHRASE_FILE_OPTION,
) -> None:
    """Record one executed tranche of an approved sale."""

    def build(engine: Engine, now_utc: datetime) -> Statements:
        typed = service.ExecutionInput(
            sale_id, venue, amount, price, fee, _time(at, "--at", now_utc), order_id, deposit_tx
        )
        return [(SALE_EXECUTED, service.execution_body(engine, typed))]

    seq, body = write_one(context, key, passphrase_file, build)
    sale = service.require_sale(ledger_engine(context), sale_id)
    symbol = sale.asset.symbol
    _say(
        f"tranche of sale {sale_id} recorded at seq {seq}: {amount} {symbol} at USD"
        f" {body['price_usd']} on {body['venue']}; sold {sale.amount(sale.executed_base)} of"
        f" {sale.amount(sale.amount_base)} {symbol} ({sale.state})"
    )


@sale_app.command("settle")
def settle(
    context: typer.Context,
    sale_id: str = SALE_ARGUMENT,
    proceeds_kzt: str = typer.Option(
        ..., "--proceeds-kzt", help="Proceeds paid to the budget, in KZT."
    ),
    budget_account: str = typer.Option(
        ..., "--budget-account", help="The budget account credited."
    ),
    payment_ref: str = typer.Option(..., "--payment-ref", help="The payment order's reference."),
    at: str | None = typer.Option(None, "--at", help=f"When it was paid: {TIME_HELP}"),
    key: Path = OFFICER_KEY,
    passphrase_file: Path | None = PASSPHRASE_FILE_OPTION,
) -> None:
    """Record the proceeds of an executed (or cancelled, part-sold) sale paid to the budget."""

    def build(_engine: Engine, now_utc: datetime) -> Statements:
        body = service.settlement_body(
            sale_id, proceeds_kzt, budget_account, payment_ref, _time(at, "--at", now_utc)
        )
        return [(SALE_SETTLED, body)]

    seq, body = write_one(context, key, passphrase_file, build)
    _say(
        f"sale {sale_id} settled at seq {seq}: KZT {body['proceeds_kzt']} to"
        f" {body['budget_account']} (payment {body['payment_ref']})"
    )


# --- reading --------------------------------------------------------------------------------


@sale_app.command("show")
def show(
    context: typer.Context, sale_id: str = SALE_ARGUMENT, json_output: bool = JSON_OPTION
) -> None:
    """Show a sale: its state, approvals and their validity, fills and realised result."""
    engine = ledger_engine(context)
    with handled():
        sale = fund_queries.get_sale(engine, sale_id)
        if sale is None:
            raise NotFound(f"sale: no sale named {sale_id!r:.80}")
    shown = service.sale_detail_json(engine, sale, datetime.now(UTC))
    if json_output:
        print_json(shown)
        return
    _print_sale(shown)


def _print_sale(shown: dict[str, Any]) -> None:
    symbol = shown["symbol"]
    fields = Table.grid(padding=(0, 2))
    for name, value in (
        ("sale", shown["sale"]),
        ("state", shown["state"]),
        ("asset", f"{shown['amount']} {symbol} ({shown['asset']})"),
        ("from", f"fund/{shown['wallet']}"),
        ("venues", f"{', '.join(shown['venues'])} ({shown['method']})"),
        ("floor", f"USD {shown['price_floor_usd']} per {symbol}"),
        ("proposed", f"seq {shown['proposed_seq']}, {shown['proposed_at']}"),
        ("by", shown["proposer_label"] or shown["proposer"]),
        ("reason", shown["reason"]),
        ("approvals", f"{shown['approvals_valid_now']} valid now, {shown['approvals_min']} needed"),
        ("sold", f"{shown['executed']} of {shown['amount']} {symbol}"),
    ):
        fields.add_row(*_row(name, value))
    console.print(fields)
    if shown["approvals"]:
        table = Table("approver", "seq", "issued (UTC)", "valid until (UTC)", "valid now")
        for a in shown["approvals"]:
            table.add_row(
                *_row(
                    a["label"] or a["approver"],
                    a["seq"],
                    _minute(a["issued_at"]),
                    _minute(a["valid_until"]),
                    "yes" if a["valid_now"] else "no",
                )
            )
        print_table(table)
    if shown["fills"]:
        table = Table("seq", "venue", "amount", "USD price", "USD fee", "executed (UTC)")
        table.add_column("order", overflow="fold")  # a venue's reference is never cut short
        for f in shown["fills"]:
            table.add_row(
                *_row(
                    f["seq"],
                    f["venue"],
                    f["amount"],
                    f["price_usd"],
                    f["fee_usd"],
                    _minute(f["executed_at"]),
                    f["venue_order_id"],
                )
            )
        print_table(table)
    _say(describe_result(shown["result"], symbol))


def _minute(timestamp: str) -> str:
    """A ledger timestamp to the minute, for tables (`--json` has it all)."""
    return timestamp[:16].replace("T", " ")


def describe_result(result: dict[str, Any], symbol: str) -> str:
    """The realised result in words (from `RealisedResult.to_json`)."""
    if result["average_price_usd"] is None:
        return "realised result: nothing sold yet"
    lines = [
        f"realised: {result['sold']} {symbol} for USD {result['proceeds_usd']}"
        f" (average USD {result['average_price_usd']}), fees USD {result['fees_usd']},"
        f" net USD {result['net_proceeds_usd']}"
    ]
    if result["proceeds_kzt"] is not None:
        lines.append(f"settled to the budget: KZT {result['proceeds_kzt']}")
    last = result["last_valuation"]
    lines.append("against the last valuation: " + _against(last))
    seizure = result["at_seizure"]
    date = seizure["date"] or "unknown"
    lines.append(f"against the seizure date ({date}): " + _against(seizure))
    return "\n".join(lines)


def _against(benchmark: dict[str, Any]) -> str:
    if benchmark["status"] != "valued":
        return service.NOT_VALUED
    return (
        f"USD {benchmark['value_usd']} at USD {benchmark['price_usd']} (seq {benchmark['seq']},"
        f" cutoff {benchmark['cutoff']}); difference USD {benchmark['difference_usd']},"
        f" net of fees USD {benchmark['net_difference_usd']}"
    )


@sale_app.command("list")
def list_sales(
    context: typer.Context,
    open_only: bool = typer.Option(
        False, "--open", help="Only sales not closed or fully executed."
    ),
    sale_state: str | None = typer.Option(
        None, "--state", help=f"Only sales in this state ({', '.join(fund_queries.STATES)})."
    ),
    json_output: bool = JSON_OPTION,
) -> None:
    """List sales in the order they were proposed."""
    engine = ledger_engine(context)
    with refused():
        sales = fund_queries.list_sales(engine, sale_state, open_only=open_only)
    if json_output:
        print_json([sale.summary_json() for sale in sales])
        return
    table = Table()
    table.add_column("sale", no_wrap=True)  # a sale number is never cut short
    for column in ("amount", "sold", "floor USD", "approvals"):
        table.add_column(column, justify="right")
    table.add_column("state", no_wrap=True)
    table.add_column("proposed", no_wrap=True)
    for sale in sales:
        table.add_row(
            *_row(
                sale.sale_id,
                f"{sale.amount(sale.amount_base)} {sale.asset.symbol}",
                sale.amount(sale.executed_base),
                sale.price_floor_usd,
                sale.approvals_min,
                sale.state,
                sale.proposed_at[:10],
            )
        )
    print_table(table)
