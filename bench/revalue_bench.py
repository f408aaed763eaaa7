"""Revaluation benchmark: `Valuer.revalue()` of 10,000 holdings across 200 assets.

Builds a fresh ledger: BTC, ETH, USDT, USDC and synthetic ERC-20 tokens TKN001... (the
sandbox venues' synthetic assets), 100 cases, custody wallets on both chains, and one
seizure per holding (each a distinct case, wallet and asset). Then values every holding
against the sandbox venues (Binance, Kraken, OKX through ccxt's real classes, no pause
between requests) at distinct cutoffs a few seconds in the past: the first run with fresh
venues (markets loaded), then warm runs with the same venues (the median one is reported).
Each run is timed in phases (holdings read, quotes fetched, aggregation, FX, recording,
valuing the holdings) and counts the requests each venue received. Beside it stands the
physical limit measured in the same run: the same three venues' raw ccxt `fetch_tickers`
calls for the same pairs, with nothing of Sequestra around them.

Prints one JSON document and writes it to bench/results/revalue.json (see --output). Not a
test: figures depend on the machine; compare the ratios.

    python bench/revalue_bench.py [--holdings 10000] [--assets 200] [--database both]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, Final

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bitcoin import segwit_addr  # type: ignore[import-untyped]
from eth_utils.address import to_checksum_address
from ledger_bench import Database
from sqlalchemy import Engine, select

import sequestra.pricing  # noqa: F401  (registers valuation.recorded and its projection)
import sequestra.pricing.run as run_module
from sequestra.composition import application
from sequestra.custody import queries as custody_queries
from sequestra.custody import service
from sequestra.custody.assets import Asset, AssetRegistry
from sequestra.ledger.db import create_ledger_engine
from sequestra.ledger.entry import ENTRY_BYTES_MAX
from sequestra.ledger.keys import SigningKey
from sequestra.ledger.kinds import KEY_ENROLLED
from sequestra.ledger.ops import init_ledger
from sequestra.ledger.roles import (
    ASSET_REGISTERED,
    CASE_OPENED,
    SEIZURE_RECORDED,
    WALLET_REGISTERED,
)
from sequestra.ledger.statement import SignedStatement, sign_statement
from sequestra.ledger.store import BATCH_STATEMENTS_MAX, Ledger
from sequestra.ledger.tables import ENTRY_TABLE
from sequestra.ledger.timefmt import format_timestamp
from sequestra.pricing.fx import FixedRate, FxRate
from sequestra.pricing.kinds import PRICES_MAX
from sequestra.pricing.run import ValuationResult, Valuer, pairs_for
from sequestra.pricing.venues import CcxtVenue
from sequestra_sandbox.venues import DIALECTS, Scenario, running_venues, sandbox_exchange
from sequestra_sandbox.venues.client import VENUE_OPTIONS
from sequestra_sandbox.venues.server import VenueServers

RULES = application().rules

VENUES: Final = ("binance", "kraken", "okx")
BUILT_IN_ASSETS: Final = ("bitcoin:BTC", "ethereum:ETH", "ethereum:USDT", "ethereum:USDC")
HOLDINGS_DEFAULT: Final = 10_000
HOLDINGS_MAX: Final = 100_000
ASSETS_DEFAULT: Final = 200
ASSETS_MIN: Final = len(BUILT_IN_ASSETS) + 1  # at least one synthetic token
ASSETS_MAX: Final = PRICES_MAX  # what one valuation statement prices
CASES_DEFAULT: Final = 100
CASES_MAX: Final = 10_000
WALLETS_PER_CHAIN: Final = 10
WARM_RUNS_DEFAULT: Final = 5
RUNS_MAX: Final = 50
RAW_RUNS_DEFAULT: Final = 5
SEED: Final = 7
VENUE_TIMEOUT_MS: Final = 10_000
FX_RATE_KZT: Final = Decimal("512.34")
TOKEN_DECIMALS: Final = (18, 6, 8)  # cycled over the synthetic tokens
SEIZURE_UNITS_THOUSANDTHS_MAX: Final = 100_000  # a seizure is 0.001 to 100 units
RESULT_PATH: Final = Path(__file__).resolve().parent / "results" / "revalue.json"


# --- the ledger -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Keys:
    """The keys of the bench ledger."""

    ledger: SigningKey
    admin: SigningKey
    officer: SigningKey
    valuer: SigningKey

    @classmethod
    def generate(cls) -> Keys:
        return cls(*(SigningKey.generate() for _ in range(4)))


def digest20(label: str) -> bytes:
    """Twenty deterministic bytes for an address or a contract."""
    return hashlib.sha256(f"sequestra revalue bench {label}".encode()).digest()[:20]


def bench_assets(count: int) -> list[Asset]:
    """The built-in four, then synthetic ERC-20 tokens TKN001... up to `count` assets."""
    defaults = AssetRegistry.defaults()
    assets = [defaults.get(asset_id) for asset_id in BUILT_IN_ASSETS]
    for index in range(1, count - len(BUILT_IN_ASSETS) + 1):
        symbol = f"TKN{index:03d}"
        contract = to_checksum_address(digest20(f"token {symbol}"))
        decimals = TOKEN_DECIMALS[index % len(TOKEN_DECIMALS)]
        assets.append(Asset(f"ethereum:{symbol}", "ethereum", symbol, "token", contract, decimals))
    return assets


def bench_wallets() -> dict[str, list[str]]:
    """WALLETS_PER_CHAIN valid custody addresses per chain: P2WPKH and EIP-55."""
    return {
        "bitcoin": [
            segwit_addr.encode("bc", 0, digest20(f"bitcoin wallet {index}"))
            for index in range(WALLETS_PER_CHAIN)
        ],
        "ethereum": [
            to_checksum_address(digest20(f"ethereum wallet {index}"))
            for index in range(WALLETS_PER_CHAIN)
        ],
    }


def case_id(index: int) -> str:
    return f"BENCH-{index:05d}"


def seizure_bodies(
    assets: Sequence[Asset], holdings: int, cases: int, wallets: dict[str, list[str]], at: str
) -> Iterator[dict[str, Any]]:
    """One seizure per holding: holding i is asset i % assets, its k-th (k = i // assets).

    The k-th holding of asset a goes to case (k + a) % cases and wallet (k // cases + a) %
    WALLETS_PER_CHAIN of the asset's chain: distinct (case, wallet) pairs for k < cases x
    WALLETS_PER_CHAIN, which check_arguments() demands.
    """
    for index in range(holdings):
        asset_index, k = index % len(assets), index // len(assets)
        asset = assets[asset_index]
        wallet = wallets[asset.chain][(k // cases + asset_index) % WALLETS_PER_CHAIN]
        thousandths = 1 + (index * 7_919) % SEIZURE_UNITS_THOUSANDTHS_MAX
        yield {
            "case": case_id((k + asset_index) % cases),
            "asset": asset.asset_id,
            "amount_base": str(thousandths * 10**asset.decimals // 1_000),
            "wallet": wallet,
            "seized_at": at,
        }


def admin_statements(keys: Keys, assets: Sequence[Asset], now: datetime) -> list[SignedStatement]:
    """Enrol the officer and the valuer; register every asset that is not built in."""
    statements = []
    for key, role in ((keys.officer, "treasury-officer"), (keys.valuer, "valuer")):
        body = {
            "public_key": key.public_key_b64,
            "roles": [role],
            "valid_from": format_timestamp(now - timedelta(hours=1)),
            "label": f"bench {role}",
        }
        statements.append(sign_statement(keys.admin, KEY_ENROLLED, body, now))
    registered = [a for a in assets if a.asset_id not in BUILT_IN_ASSETS]
    statements += [
        sign_statement(keys.admin, ASSET_REGISTERED, service.asset_body(a), now) for a in registered
    ]
    return statements


def build_ledger(
    engine: Engine, keys: Keys, assets: Sequence[Asset], holdings: int, cases: int
) -> int:
    """Initialise a ledger; record the assets, cases, wallets and seizures.

    Returns how many custody wallets it registered. Raises RuntimeError when the ledger does
    not then list exactly `holdings` holdings.
    """
    now = datetime.now(UTC)
    init_ledger(
        engine,
        RULES,
        "bench.sequestra.example/log",
        [keys.admin.public_key_raw],
        keys.ledger,
        now_utc=now,
    )
    wallets = bench_wallets()
    custody = [
        (CASE_OPENED, service.case_opened_body(case_id(index), "AFM", "CC RK art. 214"))
        for index in range(cases)
    ]
    custody += [
        (WALLET_REGISTERED, service.wallet_body(chain, "mainnet", address, "Treasury", "vault"))
        for chain, addresses in wallets.items()
        for address in addresses
    ]
    at = format_timestamp(now - timedelta(days=1))
    seizures = [
        (SEIZURE_RECORDED, body) for body in seizure_bodies(assets, holdings, cases, wallets, at)
    ]
    with Ledger(engine, RULES) as ledger:
        ledger.append(admin_statements(keys, assets, now), now)
        for start in range(0, len(custody), BATCH_STATEMENTS_MAX):
            batch = custody[start : start + BATCH_STATEMENTS_MAX]
            ledger.append([sign_statement(keys.officer, k, b, now) for k, b in batch], now)
        for start in range(0, len(seizures), BATCH_STATEMENTS_MAX):
            batch = seizures[start : start + BATCH_STATEMENTS_MAX]
            ledger.append([sign_statement(keys.officer, k, b, now) for k, b in batch], now)
    listed = len(custody_queries.list_holdings(engine))
    if listed != holdings:
        raise RuntimeError(f"ledger: expected {holdings} holdings, got {listed}")
    return sum(len(addresses) for addresses in wallets.values())


# --- timing a valuation ---------------------------------------------------------------------


class PhaseClock:
    """Seconds spent in each named phase since the last reset."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    def reset(self) -> None:
        self.seconds = {}

    @contextmanager
    def phase(self, name: str) -> Iterator[None]:
        started = time.perf_counter()
        try:
            yield
        finally:
            elapsed = time.perf_counter() - started
            self.seconds[name] = self.seconds.get(name, 0.0) + elapsed

    def wrap(self, name: str, function: Callable[..., Any]) -> Callable[..., Any]:
        def timed(*args: Any, **kwargs: Any) -> Any:
            with self.phase(name):
                return function(*args, **kwargs)

        return timed


class TimedValuer(Valuer):
    """The real Valuer, its steps timed (holdings read, quotes, FX, recording and valuing)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.clock = PhaseClock()

    def _assets(self) -> list[Asset]:
        with self.clock.phase("holdings_read"):
            return super()._assets()

    def _quotes(self, *args: Any) -> tuple[list[Any], list[dict[str, str]], int]:
        with self.clock.phase("fetch_quotes"):
            return super()._quotes(*args)

    def _fx(self, cutoff: datetime) -> FxRate:
        with self.clock.phase("fx"):
            return super()._fx(cutoff)

    def _record(self, *args: Any) -> ValuationResult:
        with self.clock.phase("record_and_value"):
            return super()._record(*args)


@contextmanager
def module_functions_timed(clock: PhaseClock) -> Iterator[None]:
    """Time the aggregation and the valuing of holdings, which run.py calls as functions."""
    phases = {"price_assets": "aggregation", "value_holdings": "valuing_holdings"}
    originals = {name: getattr(run_module, name) for name in phases}
    for name, phase in phases.items():
        setattr(run_module, name, clock.wrap(phase, originals[name]))
    try:
        yield
    finally:
        for name, function in originals.items():
            setattr(run_module, name, function)


def split_s(seconds: dict[str, float], wall_s: float) -> dict[str, float]:
    """The phases of one run, recording without the valuing inside it, and the rest."""
    valuing = seconds.get("valuing_holdings", 0.0)
    phases = {
        "holdings_read_s": seconds.get("holdings_read", 0.0),
        "fetch_quotes_s": seconds.get("fetch_quotes", 0.0),
        "aggregation_s": seconds.get("aggregation", 0.0),
        "fx_s": seconds.get("fx", 0.0),
        "recording_s": seconds.get("record_and_value", 0.0) - valuing,
        "valuing_holdings_s": valuing,
    }
    phases["other_s"] = wall_s - sum(phases.values())
    return {name: round(value, 4) for name, value in phases.items()}


def venue_requests(servers: VenueServers) -> dict[str, dict[str, int]]:
    """Requests each venue received, by endpoint name (the path when it has none)."""
    names = {
        venue: {path: name for name, path in DIALECTS[venue].endpoints.items()} for venue in VENUES
    }
    counts = servers.counts()
    return {
        venue: {
            names[venue].get(path, path): n for path, n in sorted(counts.get(venue, {}).items())
        }
        for venue in VENUES
    }


def timed_run(
    valuer: TimedValuer, servers: VenueServers, cutoff: datetime, holdings: int, assets: int
) -> tuple[ValuationResult, dict[str, Any]]:
    """One valuation at a new cutoff, timed, with each venue's requests.

    Raises RuntimeError when the run did not value every holding at a price from every
    venue, or when a venue received other than one ticker request.
    """
    servers.reset_counts()
    valuer.clock.reset()
    with module_functions_timed(valuer.clock):
        started = time.perf_counter()
        result = valuer.revalue(cutoff=cutoff, now_utc=datetime.now(UTC))
        wall_s = time.perf_counter() - started
    body = result.body
    if not result.created or len(result.values) != holdings or len(body["prices"]) != assets:
        raise RuntimeError(
            f"valuation at {result.cutoff}: expected {holdings} holdings and {assets} prices, "
            f"got {len(result.values)} and {len(body['prices'])} (unpriced {body['unpriced']})"
        )
    if body["venues_missing"]:
        raise RuntimeError(f"valuation at {result.cutoff}: venues missing {body['venues_missing']}")
    requests = venue_requests(servers)
    tickers = {venue: requests[venue].get("tickers", 0) for venue in VENUES}
    if set(tickers.values()) != {1}:
        raise RuntimeError(f"expected one ticker request per venue and run, got {tickers}")
    figures = {
        "wall_s": round(wall_s, 4),
        "phases_s": split_s(valuer.clock.seconds, wall_s),
        "requests": requests,
        "holdings_valued": len(result.values),
        "prices": len(body["prices"]),
        "not_high_confidence": sorted(
            f"{p['asset']} ({p['confidence']})" for p in body["prices"] if p["confidence"] != "high"
        ),
    }
    return result, figures


def entry_bytes(engine: Engine, seq: int) -> int:
    """The size of entry `seq` as stored: its canonical JSON."""
    with engine.connect() as connection:
        entry = connection.execute(select(ENTRY_TABLE.c.entry).where(ENTRY_TABLE.c.seq == seq))
        return len(bytes(entry.scalar_one()))


# --- the physical limit ---------------------------------------------------------------------


def raw_fetch_tickers(servers: VenueServers, pairs: Sequence[str], runs: int) -> dict[str, Any]:
    """The three venues' `fetch_tickers` for the pairs each lists: ccxt alone, in sequence.

    Markets are loaded first and not timed (a warm valuation does not load them either).
    Raises RuntimeError when a venue answers a different number of tickers than asked.
    """
    exchanges = {
        venue: sandbox_exchange(
            venue, servers.url(venue), timeout_ms=VENUE_TIMEOUT_MS, rate_limit_ms=0
        )
        for venue in VENUES
    }
    listed: dict[str, list[str]] = {}
    for venue, exchange in exchanges.items():
        exchange.load_markets()
        listed[venue] = [pair for pair in pairs if pair in exchange.markets]
    walls: list[float] = []
    per_venue: dict[str, list[float]] = {venue: [] for venue in VENUES}
    for _ in range(runs):
        started = time.perf_counter()
        for venue, exchange in exchanges.items():
            venue_started = time.perf_counter()
            tickers = exchange.fetch_tickers(listed[venue])
            per_venue[venue].append(time.perf_counter() - venue_started)
            if len(tickers) != len(listed[venue]):
                raise RuntimeError(
                    f"raw {venue}: asked {len(listed[venue])} tickers, got {len(tickers)}"
                )
        walls.append(time.perf_counter() - started)
    return {
        "wall_s": round(statistics.median(walls), 4),
        "per_venue_s": {v: round(statistics.median(s), 4) for v, s in per_venue.items()},
        "pairs": {venue: len(listed[venue]) for venue in VENUES},
        "runs": runs,
    }


# --- one database ---------------------------------------------------------------------------


def ascending_cutoffs(count: int) -> list[datetime]:
    """`count` distinct cutoffs, one second apart, the last a second before now."""
    now = datetime.now(UTC).replace(microsecond=0)
    return [now - timedelta(seconds=count - index) for index in range(count)]


def value_runs(
    engine: Engine, keys: Keys, servers: VenueServers, shape: dict[str, int], warm_runs: int
) -> dict[str, Any]:
    """The first valuation with fresh venues, then `warm_runs` with the same venues."""
    sources = [
        CcxtVenue(venue, VENUE_TIMEOUT_MS, None, VENUE_OPTIONS[venue], servers.url(venue), 0)
        for venue in VENUES
    ]
    valuer = TimedValuer(engine, RULES, sources, FixedRate(FX_RATE_KZT), keys.valuer)
    cutoffs = ascending_cutoffs(1 + warm_runs)
    result, first = timed_run(valuer, servers, cutoffs[0], shape["holdings"], shape["assets"])
    warm = [
        timed_run(valuer, servers, cutoff, shape["holdings"], shape["assets"])[1]
        for cutoff in cutoffs[1:]
    ]
    for figures in warm:
        # One ticker request per venue; a venue whose tickers carry no time (Kraken) is also
        # asked each pair's latest trade, which dates its ticker.
        for venue, requests in figures["requests"].items():
            allowed = {"tickers", "trades"} if venue == "kraken" else {"tickers"}
            if not set(requests) <= allowed or requests.get("tickers") != 1:
                raise RuntimeError(f"a warm run asked more than tickers: {figures['requests']}")
    median_run = sorted(warm, key=lambda figures: figures["wall_s"])[len(warm) // 2]
    return {
        "valuation_entry_bytes": entry_bytes(engine, result.seq),
        "valuation_entry_bytes_max": ENTRY_BYTES_MAX,
        "quotes_count": result.body["quotes_count"],
        "first_run": first,
        "warm_run_median": median_run,
        "warm_runs_wall_s": [figures["wall_s"] for figures in warm],
    }


def bench_database(
    kind: str, shape: dict[str, int], warm_runs: int, raw_runs: int
) -> dict[str, Any]:
    """Build the ledger, value it, and measure the raw limit, on one database."""
    with tempfile.TemporaryDirectory() as directory:
        database = Database(kind, Path(directory))
        engine = create_ledger_engine(database.url)
        try:
            keys = Keys.generate()
            assets = bench_assets(shape["assets"])
            started = time.perf_counter()
            wallets = build_ledger(engine, keys, assets, shape["holdings"], shape["cases"])
            setup_s = time.perf_counter() - started
            now_ms = int(time.time() * 1000)
            extra = shape["assets"] - len(BUILT_IN_ASSETS)
            scenario = Scenario.starting(now_ms, seed=SEED, extra_asset_count=extra)
            with running_venues(scenario, VENUES) as servers:
                figures = value_runs(engine, keys, servers, shape, warm_runs)
                pairs = pairs_for([asset.symbol for asset in assets])
                raw = raw_fetch_tickers(servers, pairs, raw_runs)
        finally:
            engine.dispose()
            database.drop()
    warm = figures["warm_run_median"]
    return {
        "setup_s": round(setup_s, 2),
        "wallets": wallets,
        **figures,
        "raw_fetch_tickers": raw,
        "raw_ratio_to_warm_revalue": round(raw["wall_s"] / warm["wall_s"], 3),
        "raw_ratio_to_warm_fetch_quotes": round(
            raw["wall_s"] / warm["phases_s"]["fetch_quotes_s"], 3
        ),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--holdings", type=int, default=HOLDINGS_DEFAULT)
    parser.add_argument("--assets", type=int, default=ASSETS_DEFAULT)
    parser.add_argument("--cases", type=int, default=CASES_DEFAULT)
    parser.add_argument("--database", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument("--warm-runs", type=int, default=WARM_RUNS_DEFAULT)
    parser.add_argument("--raw-runs", type=int, default=RAW_RUNS_DEFAULT)
    parser.add_argument("--output", default=str(RESULT_PATH), help="'' to print only")
    args = parser.parse_args()
    check_arguments(parser, args)
    shape = {"holdings": args.holdings, "assets": args.assets, "cases": args.cases}
    report: dict[str, Any] = {"benchmark": "revalue", **shape, "venues": list(VENUES)}
    report.update({"warm_runs": args.warm_runs, "cores": os.cpu_count()})
    kinds = ("sqlite", "postgresql") if args.database == "both" else (args.database,)
    for kind in kinds:
        print(f"benchmarking {kind}...", file=sys.stderr)
        report[kind] = bench_database(kind, shape, args.warm_runs, args.raw_runs)
    document = json.dumps(report, indent=2)
    print(document)
    if args.output:
        Path(args.output).parent.mkdir(parents=True, exist_ok=True)
        Path(args.output).write_text(document + "\n", encoding="utf-8")


def check_arguments(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Refuse sizes out of bounds, and more holdings than distinct positions allow."""
    bounds = {
        "holdings": (1, HOLDINGS_MAX),
        "assets": (ASSETS_MIN, ASSETS_MAX),
        "cases": (1, CASES_MAX),
        "warm_runs": (1, RUNS_MAX),
        "raw_runs": (1, RUNS_MAX),
    }
    for name, (low, high) in bounds.items():
        value = getattr(args, name)
        if not low <= value <= high:
            parser.error(f"--{name.replace('_', '-')}: expected {low} to {high}, got {value}")
    per_asset = -(-args.holdings // args.assets)
    if per_asset > args.cases * WALLETS_PER_CHAIN:
        parser.error(
            f"--holdings: expected at most {args.cases * WALLETS_PER_CHAIN} per asset "
            f"(cases x {WALLETS_PER_CHAIN} wallets), got {per_asset}"
        )


if __name__ == "__main__":
    main()
