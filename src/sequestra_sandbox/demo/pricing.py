"""The pricing part of `sequestra-sandbox demo`: revalue every holding from the sandbox venues.

Three venue stand-ins (Binance, Kraken and OKX formats, parsed by ccxt's real classes) quote
the sample's assets; the valuer key records a weekly history (value over time on the
dashboard), one valuation at the official close of every day a holding was seized on (its
seizure-date value), all from candles that ended before each cutoff, and one valuation now,
which is current: it has the latest cutoff. Then the market moves (ETH falls 36%) and the
next valuation is followed, as the scheduler's revalue job does, by the State Fund's
emergency rule, which raises its alerts. The USD/KZT rate is a stated sandbox rate,
recorded as such; production reads the National Bank's official rate.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, Final

from rich.table import Table
from sqlalchemy import Engine

from sequestra.cli.common import console
from sequestra.composition import application
from sequestra.config import FundSettings
from sequestra.custody.prefix import seizure_index
from sequestra.custody.queries import list_holdings
from sequestra.fund.emergency import raise_emergencies
from sequestra.ledger import queries as ledger_queries
from sequestra.ledger.db import read_transaction
from sequestra.ledger.keys import SigningKey
from sequestra.pricing.fx import FixedRate
from sequestra.pricing.marketdata import fetch_market_data
from sequestra.pricing.run import ValuationResult, Valuer, pairs_for
from sequestra.pricing.venues import CcxtVenue
from sequestra_sandbox.venues import Scenario, running_venues, usd_price
from sequestra_sandbox.venues.client import VENUE_OPTIONS
from sequestra_sandbox.venues.server import VenueServers

RULES = application().rules

VENUES: Final = ("binance", "kraken", "okx")
SANDBOX_USD_KZT: Final = Decimal("520.00")  # a stated sandbox rate, not the official one
SEED: Final = 2025
PAST_DAYS: Final = 30
SEIZURE_CLOSE_UTC_HOUR: Final = 13  # 18:00 in Almaty: the daily official close
ETH_MOVE: Final = Decimal("0.64")  # ETH falls 36% before the next valuation
HISTORY_WEEKS: Final = 12  # weekly valuations before now, for value over time
MARKET_DAYS: Final = 200  # daily closes kept for the Fund's risk figures and sale plan


@dataclass(frozen=True)
class PricingDemo:
    now: ValuationResult
    past: ValuationResult
    history: tuple[ValuationResult, ...]
    requests: dict[str, int]
    seizure_days: tuple[ValuationResult, ...] = ()
    moved: ValuationResult | None = None
    emergencies: tuple[dict[str, Any], ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "now": self.now.to_json(),
            "past": self.past.to_json(),
            "history": [
                {"seq": v.seq, "cutoff": v.cutoff, "total_usd": str(v.total_usd)}
                for v in self.history
            ],
            "seizure_days": len(self.seizure_days),
            "moved": None if self.moved is None else self.moved.to_json(),
            "emergencies": list(self.emergencies),
            "venue_requests": self.requests,
        }


def run_pricing_demo(engine: Engine, valuer_key: SigningKey, now: datetime) -> PricingDemo:
    """Record the weekly history, a valuation at every seizure day's official close, one
    PAST_DAYS ago and one now (the current one); then move the market and revalue, raising
    the Fund's emergency alerts as the scheduler's revalue job does."""
    scenario = Scenario.starting(int(now.timestamp() * 1000), seed=SEED)
    with running_venues(scenario, VENUES) as servers:
        venues = [
            CcxtVenue(v, 5_000, None, VENUE_OPTIONS[v], servers.url(v), rate_limit_ms=0)
            for v in VENUES
        ]
        valuer = Valuer(
            engine, RULES, venues, FixedRate(SANDBOX_USD_KZT, "sandbox-fixed"), valuer_key
        )
        past_cutoff = (now - timedelta(days=PAST_DAYS)).replace(hour=12, minute=0, second=0)
        weekly = [
            past_cutoff + timedelta(days=PAST_DAYS - 7 * w) for w in range(HISTORY_WEEKS, 0, -1)
        ]
        seizure_cutoffs = [
            cutoff
            for cutoff in _seizure_closes(engine, now)
            if cutoff not in {*weekly, past_cutoff}
        ]
        recorded = {
            cutoff: valuer.revalue(cutoff=cutoff, now_utc=now)
            for cutoff in sorted([*weekly, past_cutoff, *seizure_cutoffs])
        }
        current = valuer.revalue(now_utc=now)
        past = recorded[past_cutoff]
        history = tuple(recorded[cutoff] for cutoff in weekly)
        symbols = sorted({h.asset.symbol for h in list_holdings(engine, fund=True)})
        fetch_market_data(engine, venues, pairs_for(symbols), MARKET_DAYS, now.date())
        moved, emergencies = _market_moves(engine, servers, valuer, valuer_key, now)
        requests = {v: servers.count(v) for v in VENUES}
    return PricingDemo(
        current,
        past,
        history,
        requests,
        tuple(recorded[cutoff] for cutoff in seizure_cutoffs),
        moved,
        tuple(emergencies),
    )


def _seizure_closes(engine: Engine, now: datetime) -> list[datetime]:
    """The official close (18:00 Almaty) of every day before today a holding was seized on."""
    with read_transaction(engine) as connection:
        index = seizure_index(connection, ledger_queries.head(engine).size)
    days = {index.date_of(h.case_id, h.asset.asset_id, h.wallet)[0] for h in list_holdings(engine)}
    closes = []
    for day in sorted(d for d in days if d is not None):
        close = datetime.fromisoformat(day).replace(hour=SEIZURE_CLOSE_UTC_HOUR, tzinfo=UTC)
        if close.date() < now.date():
            closes.append(close)
    return closes


def _market_moves(
    engine: Engine,
    servers: VenueServers,
    valuer: Valuer,
    valuer_key: SigningKey,
    now: datetime,
) -> tuple[ValuationResult, list[dict[str, Any]]]:
    """ETH falls 36% after the current valuation; the next valuation, then the emergency
    rule on it (what the scheduler's revalue job runs after each new valuation)."""
    later = datetime.now(UTC).replace(microsecond=0)
    if later <= now.replace(microsecond=0):
        time.sleep(1.0)  # a cutoff of its own, one second at least after the current one
        later = datetime.now(UTC).replace(microsecond=0)
    later_ms = int(later.timestamp() * 1000)
    eth = usd_price(servers.scenario, "ETH", later_ms - 1)
    servers.set_scenario(
        servers.scenario.at(later_ms).with_usd_price("ETH", eth * ETH_MOVE, later_ms - 500)
    )
    moved = valuer.revalue(cutoff=later, now_utc=later)
    alerts = raise_emergencies(engine, RULES, valuer_key, FundSettings().emergency_drop)
    return moved, alerts


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
        f"seizure-date values: {pricing['seizure_days']} valuations at the official close of"
        " each seizure day, from candles that ended before it"
    )
    moved = pricing["moved"]
    if moved is not None:
        console.print(
            f"the market moved (ETH -36%): valuation seq {moved['seq']} at {moved['cutoff']},"
            f" total USD {Decimal(moved['total_usd']):,.2f}"
        )
    for alert in pricing["emergencies"]:
        console.print(f"[bold red]Fund emergency alert[/] (seq {alert['seq']}): {alert['message']}")
    console.print(
        "venue requests (markets once, then one ticker request per run; Kraken's tickers are"
        f" dated by each pair's latest trade): {pricing['venue_requests']}"
    )
