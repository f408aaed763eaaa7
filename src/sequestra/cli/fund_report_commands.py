"""`sequestra fund marketdata|exposure|stress|liquidity`: the State Fund's market data and
risk figures (exposure, volatility, correlations, VaR and ES, stress, days to exit)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import typer
from rich.table import Table

from sequestra.cli.common import JSON_OPTION, console, fail, fail_usage, print_json, state
from sequestra.cli.tables import print_table
from sequestra.cli.writes import ledger_engine
from sequestra.custody.queries import list_holdings
from sequestra.errors import exit_code
from sequestra.fund.report import FundReport, FundReportError, configured_fund_report
from sequestra.pricing.run import pairs_for
from sequestra.pricing.setup import venues

fund_app = typer.Typer(
    help="The State Fund: market data, exposure, stress, liquidity; its sale policy.",
    no_args_is_help=True,
)


def _report(context: typer.Context, *, fees: bool = False) -> FundReport:
    """The Fund report; with `fees`, the licensed venues are asked for their taker fees."""
    settings = state(context).settings()
    asked = venues(settings.pricing) if fees else ()
    try:
        return configured_fund_report(ledger_engine(context), settings.fund, venues=asked)
    except FundReportError as error:
        fail(str(error), exit_code(error))


@fund_app.command("marketdata")
def marketdata(
    context: typer.Context,
    days: int = typer.Option(1096, min=1, max=4000, help="Days of daily candles to fetch."),
    json_output: bool = JSON_OPTION,
) -> None:
    """Fetch and store the daily closes and volumes of the Fund's assets from every venue."""
    from sequestra.pricing.marketdata import fetch_market_data

    engine = ledger_engine(context)
    symbols = sorted({h.asset.symbol for h in list_holdings(engine, fund=True)})
    settings = state(context).settings().pricing
    pairs = pairs_for(symbols, settings.pairs)
    stored, missing = fetch_market_data(
        engine, venues(settings), pairs, days, datetime.now(UTC).date()
    )
    if json_output:
        print_json({"symbols": symbols, "rows": stored, "venues_missing": missing})
        return
    console.print(f"stored {stored} daily closes for {', '.join(symbols) or 'no asset'}")
    for item in missing:
        console.print(f"[yellow]venue missing[/]: {item['venue']}: {item['reason']}")


@fund_app.command("exposure")
def exposure(context: typer.Context, json_output: bool = JSON_OPTION) -> None:
    """Value by asset in USD and KZT, weights, concentration, volatility, VaR and ES."""
    report = _report(context)
    body = report.exposure_json()
    if json_output:
        print_json(body)
        return
    table = Table("asset", "quantity", "USD", "KZT", "weight", "vol 30d", "vol 90d")
    for line in body["assets"]:
        vol = line["volatility"] or {}
        table.add_row(
            line["asset"],
            line["quantity"],
            line["value_usd"],
            line["value_kzt"] or "-",
            f"{line['weight']:.2%}",
            _pct(vol.get("30d")),
            _pct(vol.get("90d")),
        )
    console.print(body["moment"])
    print_table(table)
    console.print(
        f"total USD {body['total_usd']}, KZT {body['total_kzt']} (valuation seq"
        f" {body['valuation_seq']}); HHI {body['herfindahl_index']}, effective assets"
        f" {body['effective_assets']}"
    )
    if body["in_doubt"]:
        alerts = ", ".join(f"seq {d['alert_seq']} on {d['address']}" for d in body["in_doubt"])
        console.print(
            f"[red]in doubt[/]: USD {body['in_doubt_usd']} of it lies on positions under an"
            f" open critical alert ({alerts}); undisputed USD {body['undisputed_usd']}"
        )
    if body["risk"]:
        console.print(
            f"market data: {body['history_days']} days, {body['market_first_day']} to"
            f" {body['market_last_day']} (days ended by the cutoff: up to"
            f" {body['market_last_day_max']})"
        )
        risk = Table("method", "level", "days", "VaR USD", "ES USD", "ES rests on")
        for f in body["risk"]["figures"]:
            rests = "formula" if f["es_observations"] is None else str(f["es_observations"])
            risk.add_row(
                f["method"],
                str(f["level"]),
                str(f["horizon_days"]),
                f["var_usd"],
                f["es_usd"],
                f"{rests} of {f['observations']}",
            )
        print_table(risk)
        for note in body["risk"]["notes"]:
            console.print(f"[yellow]flagged[/]: {note}")
    for name in ("unpriced", "without_history"):
        if body[name]:
            console.print(f"[yellow]{name.replace('_', ' ')}[/]: {', '.join(body[name])}")


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.1%}"


@fund_app.command("check")
def check(context: typer.Context, json_output: bool = JSON_OPTION) -> None:
    """Raise emergency-sale alerts for Fund holdings whose price fell past [fund]
    emergency_drop since they entered the Fund (signed by the valuer key)."""
    alerts = check_emergencies(context)
    if json_output:
        print_json(alerts)
        return
    if not alerts:
        console.print("no Fund holding has fallen past the emergency-sale threshold")
    for alert in alerts:
        console.print(f"[bold red]emergency[/] seq {alert['seq']}: {alert['message']}")


def check_emergencies(context: typer.Context) -> list[dict[str, object]]:
    """Record and push the emergency-sale alerts the latest valuation calls for."""
    from sequestra.chains.watch.webhook import WebhookSink, WebhookTarget
    from sequestra.cli.common import handled, load_key
    from sequestra.fund.emergency import raise_emergencies

    app_state = state(context)
    settings = app_state.settings()
    if settings.pricing.key_file is None:
        fail_usage("pricing.key_file: expected the valuer's key file (role valuer), got none")
    engine = ledger_engine(context)
    sink = WebhookSink(
        [WebhookTarget(w.url, w.timeout_s, w.secret_file) for w in settings.watch.webhooks]
    )
    with handled():
        key = load_key(settings.pricing.key_file, settings.pricing.passphrase_file)
        try:
            return raise_emergencies(
                engine,
                app_state.rule_set(),
                key,
                settings.fund.emergency_drop,
                app_state.rules(),
                [sink],
            )
        except FundReportError as error:
            fail(str(error), exit_code(error))


@fund_app.command("stress")
def stress(context: typer.Context, json_output: bool = JSON_OPTION) -> None:
    """The Fund's loss under each stress scenario (e.g. BTC -50%, ETH -60%, USDT at 0.90)."""
    results = _report(context).stress_json()
    if json_output:
        print_json(results)
        return
    table = Table("scenario", "loss USD", "value after USD")
    for result in results:
        table.add_row(result["scenario"], result["total_loss_usd"], result["value_after_usd"])
    print_table(table)


@fund_app.command("liquidity")
def liquidity(
    context: typer.Context,
    book: bool = typer.Option(
        False, "--book", help="Also walk each venue's order book for the whole holding now."
    ),
    json_output: bool = JSON_OPTION,
) -> None:
    """Average daily volume, days to exit at [fund] participation and the square-root impact
    cost of selling at once, per asset; with --book,
    the average price and shortfall of selling everything now on each venue."""
    figures: dict[str, Any] = dict(_report(context, fees=True).liquidity)
    walks: dict[str, list[dict[str, Any]]] = {}
    if book:
        from sequestra.fund.book import book_walks

        walks = book_walks(ledger_engine(context), venues(state(context).settings().pricing))
    if json_output:
        print_json({"volume": figures, "book": walks} if book else figures)
        return
    table = Table(
        "asset",
        "ADV USD",
        "days to exit",
        "participation",
        "impact USD",
        "spread+fee USD",
        "cost USD",
    )
    for asset_id, row in figures.items():
        table.add_row(
            asset_id,
            row["adv_usd"] or "-",
            row["days_to_exit"] or "-",
            row["participation"],
            row["impact_cost_usd"] or "-",
            row["spread_and_fee_cost_usd"],
            row["expected_cost_usd"] or "-",
        )
    print_table(table)
    for asset_id, row in figures.items():
        console.print(
            f"{asset_id}: volume on {', '.join(row['volume_venues']) or 'no venue'}; cost:"
            f" {row['impact_model']}; half-spread {row['half_spread']}"
            f" ({row['half_spread_source']}), taker fee {row['taker_fee_rate']}"
            f" ({row['taker_fee_source']})"
        )
        if row["volume_note"]:
            console.print(f"[yellow]{asset_id}[/]: {row['volume_note']}")
    for asset_id, rows in walks.items():
        for row in rows:
            if "error" in row:
                console.print(f"{asset_id} on {row['venue']}: {row['error']}")
                continue
            depth = "deep enough" if row["deep_enough"] else "[red]too thin[/]"
            console.print(
                f"{asset_id} on {row['venue']} ({row['pair']}): average USD"
                f" {row['average_price_usd']} vs best bid {row['best_bid_usd']}, shortfall USD"
                f" {row['shortfall_usd']}; {depth}"
            )


def sale_plan(
    context: typer.Context,
    asset: str = typer.Option(..., help="Asset symbol or id, e.g. BTC."),
    amount: str = typer.Option(..., help="Quantity to sell, in display units (e.g. 12.5)."),
    tranches: int = typer.Option(10, min=1, max=1000, help="Almgren-Chriss tranches."),
    tranche_days: float = typer.Option(1.0, min=0.01, max=30.0, help="Days per tranche."),
    risk_aversion: float = typer.Option(1e-6, min=0.0, help="Lambda, per USD (0: TWAP)."),
    participation: str = typer.Option("0.10", help="TWAP cap: share of average daily volume."),
    json_output: bool = JSON_OPTION,
) -> None:
    """Plan a sale: an Almgren-Chriss schedule (expected cost and its standard deviation) and
    a TWAP capped at a share of the daily volume, from the latest valuation and market data."""
    from decimal import Decimal, InvalidOperation

    from sequestra.custody import queries as custody_queries
    from sequestra.custody import service
    from sequestra.fund.bounds import FundInputError
    from sequestra.fund.planning import plan_sale

    engine = ledger_engine(context)
    asked = venues(state(context).settings().pricing)  # for their taker fees
    try:
        chosen = service.resolve_asset(custody_queries.asset_registry(engine), asset)
        quantity = service.amount_base(chosen, amount)
        share = Decimal(participation)
        plan = plan_sale(
            engine,
            chosen,
            Decimal(quantity).scaleb(-chosen.decimals),
            tranches,
            tranche_days,
            risk_aversion,
            share,
            venues=asked,
        )
    except (service.InputError, FundReportError, FundInputError, InvalidOperation) as error:
        fail(str(error), exit_code(error))
    body = plan.to_json()
    if json_output:
        print_json(body)
        return
    console.print(
        f"sell {body['quantity']} {chosen.symbol} worth USD {body['value_usd']} (price"
        f" {body['price_usd']} of valuation seq {body['valuation_seq']}, cutoff"
        f" {body['cutoff']}; daily sigma {body['sigma_daily']:.2%} from"
        f" {body['market_first_day']} to {body['market_last_day']}; ADV {body['adv_units']}"
        f" on {', '.join(body['volume_venues'])})"
    )
    if body["volume_note"]:
        console.print(f"[yellow]volume[/]: {body['volume_note']}")
    console.print(
        f"cost model: {body['impact_model']}; half-spread {body['half_spread']}"
        f" ({body['half_spread_source']}), taker fee {body['taker_fee_rate']}"
        f" ({body['taker_fee_source']})"
    )
    ac = body["almgren_chriss"]
    console.print(
        f"Almgren-Chriss, {len(ac['trades'])} tranches of {ac['tranche_days']} day(s):"
        f" {', '.join(ac['trades'])}; expected cost USD {ac['expected_cost_usd']} (impact"
        f" {ac['impact_cost_usd']}, spread and fee {ac['spread_and_fee_cost_usd']}; std USD"
        f" {ac['cost_std_usd']})"
    )
    console.print(f"why this shape: {ac['rationale']}", markup=False, highlight=False)
    even = body["even"]
    console.print(
        f"equal tranches instead (lambda 0): {', '.join(even['trades'])}; expected cost USD"
        f" {even['expected_cost_usd']} (std USD {even['cost_std_usd']})",
        markup=False,
        highlight=False,
    )
    twap = body["twap"]
    console.print(f"capped TWAP, {len(twap['trades'])} tranche(s): {', '.join(twap['trades'])}")
