"""The pricing part of `sequestra-sandbox demo`: revalue every holding from the sandbox venues.

Three venue stand-ins (Binance, Kraken and OKX formats, parsed by ccxt's real classes) quote
the sample's assets; the valuer key records one valuation now, one at a past cutoff from
daily closes (the kind of figure a seizure-date value needs) and a weekly history from the
same closes, which the dashboard draws as value over time. The USD/KZT rate is a stated
sandbox rate, recorded as such; production reads the National Bank's official rate.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, Final

from rich.table import Table
from sqlalchemy import Engine

from sequestra.cli.common import console
from sequestra.composition import application
from sequestra.custody.queries import list_holdings
from sequestra.ledger.keys import SigningKey
from sequestra.pricing.fx import FixedRate
from sequestra.pricing.marketdata import fetch_market_data
from sequestra.pricing.run import ValuationResult, Valuer, pairs_for
from sequestra.pricing.venues import CcxtVenue
from sequestra_sandbox.venues import Scenario, running_venues
from sequestra_sandbox.venues.client import VENUE_OPTIONS

RULES = application().rules

VENUES: Final = ("binance", "kraken", "okx")
SANDBOX_USD_KZT: Final = Decimal("520.00")  # a stated sandbox rate, not the official one
SEED: Final = 2025
PAST_DAYS: Final = 30
HISTORY_WEEKS: Final = 12  # weekly valuations before now, for value over time
MARKET_DAYS: Final = 200  # daily closes kept for the Fund's risk figures and sale plan


@dataclass(frozen=True)
class PricingDemo:
    now: ValuationResult
    past: ValuationResult
    history: tuple[ValuationResult, ...]
    requests: dict[str, int]

    def to_json(self) -> dict[str, Any]:
        return {
            "now": self.now.to_json(),
            "past": self.past.to_json(),
            "history": [
                {"seq": v.seq, "cutoff": v.cutoff, "total_usd": str(v.total_usd)}
                for v in self.history
            ],
            "venue_requests": self.requests,
        }


def run_pricing_demo(engine: Engine, valuer_key: SigningKey, now: datetime) -> PricingDemo:
    """Record a valuation now, one PAST_DAYS ago and one a week apart for HISTORY_WEEKS
    weeks (noon UTC) from the sandbox venues."""
    scenario = Scenario.starting(int(now.timestamp() * 1000), seed=SEED)
    with running_venues(scenario, VENUES) as servers:
        venues = [
            CcxtVenue(v, 5_000, None, VENUE_OPTIONS[v], servers.url(v), rate_limit_ms=0)
            for v in VENUES
        ]
        valuer = Valuer(
            engine, RULES, venues, FixedRate(SANDBOX_USD_KZT, "sandbox-fixed"), valuer_key
        )
        # In cutoff order, so the latest recorded valuation is also the latest in time.
        past_cutoff = (now - timedelta(days=PAST_DAYS)).replace(hour=12, minute=0, second=0)
        weekly = [
            past_cutoff + timedelta(days=PAST_DAYS - 7 * w) for w in range(HISTORY_WEEKS, 0, -1)
        ]
        recorded = {
            cutoff: valuer.revalue(cutoff=cutoff, now_utc=now)
            for cutoff in sorted([*weekly, past_cutoff])
        }
        current = valuer.revalue(now_utc=now)
        past = recorded[past_cutoff]
        history = tuple(recorded[cutoff] for cutoff in weekly)
        symbols = sorted({h.asset.symbol for h in list_holdings(engine, fund=True)})
        fetch_market_data(engine, venues, pairs_for(symbols), MARKET_DAYS, now.date())
        requests = {v: servers.count(v) for v in VENUES}
    return PricingDemo(current, past, history, requests)


def print_pricing(pricing: dict[str, Any]) -> None:
    """The pricing part of the demo's summary (from `PricingDemo.to_json`)."""
    for label, result in (("now", pricing["now"]), (f"{PAST_DAYS} days ago", pricing["past"])):
        table = Table(title=f"Valuation {label}: {result['cutoff']} (seq {result['seq']})")
        for column in ("asset", "USD price", "confidence", "venues"):
            table.add_column(column)
        for price in result["prices"]:
            table.add_row(
                price["asset"],
                f"{Decimal(price['price_usd']):,}",
                price.get("confidence", ""),
                ", ".join(price.get("venues", [])),
            )
        console.print(table)
        fx = result["fx"]
        usd, kzt = Decimal(result["total_usd"]), Decimal(result["total_kzt"])
        console.print(
            f"total USD {usd:,.2f}; KZT {kzt:,.2f} at {fx['rate']}"
            f" ({fx['source']}: a stated sandbox rate, not the official one)"
        )
    console.print(
        "venue requests (markets once, then one ticker request per run):"
        f" {pricing['venue_requests']}"
    )
