"""`sequestra fund marketdata|exposure|stress|liquidity`: the State Fund's market data and
risk figures (exposure, volatility, correlations, VaR and ES, stress, days to exit)."""

from __future__ import annotations

from datetime import UTC, datetime

import typer
from rich.table import Table

from sequestra.cli.common import JSON_OPTION, console, fail_usage, print_json, state
from sequestra.cli.writes import ledger_engine
from sequestra.custody.service import list_holdings
from sequestra.fund.report import FundReport, FundReportError, fund_report
from sequestra.pricing.run import pairs_for
from sequestra.pricing.setup import venues

fund_app = typer.Typer(
    help="The State Fund: market data, exposure, stress, liquidity; its sale policy.",
    no_args_is_help=True,
)


def _report(context: typer.Context) -> FundReport:
    try:
        return fund_report(ledger_engine(context))
    except FundReportError as error:
        fail_usage(str(error))


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
    console.print(table)
    console.print(
        f"total USD {body['total_usd']}, KZT {body['total_kzt']} (valuation seq"
        f" {body['valuation_seq']}); HHI {body['herfindahl_index']}, effective assets"
        f" {body['effective_assets']}"
    )
    if body["risk"]:
        risk = Table("method", "level", "days", "VaR USD", "ES USD")
        for f in body["risk"]["figures"]:
            risk.add_row(
                f["method"], str(f["level"]), str(f["horizon_days"]), f["var_usd"], f["es_usd"]
            )
        console.print(risk)
    for name in ("unpriced", "without_history"):
        if body[name]:
            console.print(f"[yellow]{name.replace('_', ' ')}[/]: {', '.join(body[name])}")


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.1%}"


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
    console.print(table)


@fund_app.command("liquidity")
def liquidity(context: typer.Context, json_output: bool = JSON_OPTION) -> None:
    """Average daily volume and days to exit at 10% participation, per asset."""
    figures = _report(context).liquidity
    if json_output:
        print_json(figures)
        return
    table = Table("asset", "ADV USD", "days to exit", "participation")
    for asset_id, row in figures.items():
        table.add_row(asset_id, row["adv_usd"], row["days_to_exit"], row["participation"])
    console.print(table)
