"""Pricing commands for the finance ministry and the valuer: prices, revalue, valuations."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import typer
from rich.table import Table

from sequestra.cli.common import (
    JSON_OPTION,
    console,
    fail,
    fail_usage,
    handled,
    load_key,
    print_json,
    state,
)
from sequestra.cli.tables import print_table
from sequestra.cli.writes import ledger_engine
from sequestra.errors import exit_code
from sequestra.fairvalue import price_assets
from sequestra.ledger.timefmt import parse_timestamp
from sequestra.pricing.queries import valuations_page
from sequestra.pricing.run import PricingError, pairs_for
from sequestra.pricing.setup import aggregation_rules, open_valuer, venues
from sequestra.pricing.venues import VenueError

VALUATIONS_LIMIT_MAX = 10_000


def prices(
    context: typer.Context,
    symbol: list[str] = typer.Option(
        ["BTC", "ETH", "USDT", "USDC"], "--symbol", help="Asset symbol; repeat."
    ),
    json_output: bool = JSON_OPTION,
) -> None:
    """Show the aggregated USD price of each symbol now, from every configured venue, with
    every quote and why any was dropped. Nothing is recorded (`revalue` records)."""
    settings = state(context).settings().pricing
    now = datetime.now(UTC)
    quotes, missing = [], []
    for venue in venues(settings):
        try:
            quotes += venue.fetch_quotes(pairs_for(symbol, settings.pairs))
        except VenueError as error:
            missing.append({"venue": error.venue, "reason": error.reason})
    found, _ = price_assets(symbol, quotes, aggregation_rules(settings), now)
    rows: list[dict[str, Any]] = [
        {
            "symbol": name,
            "price_usd": None if p.price_usd is None else str(p.price_usd),
            "confidence": p.confidence,
            "reason": p.reason,
            "sources": [
                {
                    "venue": s.quote.venue,
                    "pair": s.quote.pair,
                    "price": None if s.price is None else str(s.price),
                    "price_usd": None if s.price_usd is None else str(s.price_usd),
                    "dropped": s.dropped,
                }
                for s in p.sources
            ],
        }
        for name, p in found.items()
    ]
    if json_output:
        print_json({"at": now.isoformat(), "prices": rows, "venues_missing": missing})
        return
    table = Table("symbol", "USD", "confidence", "used", "dropped")
    for row in rows:
        used = [s for s in row["sources"] if not s["dropped"]]
        table.add_row(
            row["symbol"],
            row["price_usd"] or f"- ({row['reason']})",
            row["confidence"],
            str(len(used)),
            str(len(row["sources"]) - len(used)),
        )
    print_table(table)
    for item in missing:
        console.print(f"[yellow]venue missing[/]: {item['venue']}: {item['reason']}")


def revalue(
    context: typer.Context,
    at: str | None = typer.Option(
        None,
        "--at",
        help="Cutoff YYYY-MM-DDTHH:MM:SSZ (default now; a past one uses daily closes).",
    ),
    json_output: bool = JSON_OPTION,
) -> None:
    """Value every holding at a cutoff and record the valuation (signed by the valuer key).

    Idempotent: a cutoff already valued prints that valuation. Exit 6 (a dependency
    unavailable) when no valuation can be made (every venue down, no price, no FX rate):
    the last valuation stands.
    """
    app_state = state(context)
    settings = app_state.settings()
    engine = ledger_engine(context)
    with handled():
        cutoff = parse_timestamp(at, "--at") if at else None
        if settings.pricing.key_file is None:
            fail_usage("pricing.key_file: expected the valuer's key file (role valuer), got none")
        key = load_key(settings.pricing.key_file, settings.pricing.passphrase_file)
        try:
            valuer = open_valuer(settings, engine, app_state.rule_set(), key)
        except ValueError as error:
            fail(str(error), exit_code(error))
        try:
            result = valuer.revalue(cutoff)
        except PricingError as error:
            fail(str(error), exit_code(error))
    if json_output:
        print_json(result.to_json())
        return
    verb = "valued" if result.created else "already valued"
    console.print(
        f"{verb} at {result.cutoff} (seq {result.seq}): {len(result.values)} holdings,"
        f" USD {result.total_usd:,.2f}, KZT {result.total_kzt:,.2f}"
        f" (rate {result.body['fx']['rate']}, {result.body['fx']['source']})"
    )
    for item in result.body["venues_missing"]:
        console.print(f"[yellow]venue missing[/]: {item['venue']}: {item['reason']}")
    for item in result.body["unpriced"]:
        console.print(f"[red]no price[/]: {item['asset']}: {item['reason']}")


def valuations(
    context: typer.Context,
    limit: int = typer.Option(20, min=1, max=VALUATIONS_LIMIT_MAX, help="How many, newest first."),
    json_output: bool = JSON_OPTION,
) -> None:
    """List recorded valuations with their prices and FX rate, newest first."""
    engine = ledger_engine(context)
    with handled():
        found = valuations_page(engine, 0, limit)
    if json_output:
        print_json([valuation.to_json() for valuation in found])
        return
    table = Table("seq", "cutoff", "method", "USD/KZT", "prices (USD)", "missing venues")
    for item in found:
        shown = ", ".join(f"{p.asset_id.split(':')[1]} {p.price_usd:,}" for p in item.prices)
        table.add_row(
            str(item.seq),
            item.cutoff,
            item.method,
            str(item.fx_rate),
            shown,
            ", ".join(item.venues_missing) or "-",
        )
    print_table(table)
