"""Report benchmark: the valuation report over 100,000 holdings, in each format.

Builds a fresh ledger as the revaluation benchmark does (assets, cases, wallets, one seizure
per holding), records two valuations from the sandbox venues (so the report has a previous
valuation to compare with), then times `REPORTS.render(engine, "valuation", format)` for
JSON, CSV, XLSX and PDF, each run twice to check the bytes are the same. Beside it stands
the physical limit measured in the same run: reading the same holdings' rows with one raw
SELECT, and writing the report's CSV lines with nothing but the `csv` module.

Prints one JSON document and writes it to bench/results/report.json (see --output). Not a
test: figures depend on the machine; compare the ratios.

    python bench/report_bench.py [--holdings 100000] [--assets 200] [--database sqlite]
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import resource
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

sys.path.insert(0, str(Path(__file__).resolve().parent))

from ledger_bench import Database
from revalue_bench import (
    BUILT_IN_ASSETS,
    FX_RATE_KZT,
    SEED,
    VENUE_TIMEOUT_MS,
    VENUES,
    Keys,
    ascending_cutoffs,
    bench_assets,
    build_ledger,
)
from sqlalchemy import Engine, text

import sequestra.pricing  # noqa: F401  (registers valuation.recorded and its projection)
from sequestra.composition import application
from sequestra.ledger.db import create_ledger_engine
from sequestra.pricing.fx import FixedRate
from sequestra.pricing.run import Valuer
from sequestra.pricing.venues import CcxtVenue
from sequestra.reports.catalog import REPORT_FORMATS
from sequestra.reports.formats import csv_rows
from sequestra.reports.valuation import valuation_report
from sequestra_sandbox.venues import Scenario, running_venues
from sequestra_sandbox.venues.client import VENUE_OPTIONS

REPORTS = application().reports
RULES = application().rules

HOLDINGS_DEFAULT: Final = 100_000
ASSETS_DEFAULT: Final = 200
CASES_DEFAULT: Final = 1_000
RESULT_PATH: Final = Path(__file__).resolve().parent / "results" / "report.json"


def record_valuations(engine: Engine, keys: Keys, assets: int) -> list[int]:
    """Two valuations a second apart from the sandbox venues; returns their seqs."""
    extra = assets - len(BUILT_IN_ASSETS)
    scenario = Scenario.starting(int(time.time() * 1000), seed=SEED, extra_asset_count=extra)
    with running_venues(scenario, VENUES) as servers:
        sources = [
            CcxtVenue(v, VENUE_TIMEOUT_MS, None, VENUE_OPTIONS[v], servers.url(v), 0)
            for v in VENUES
        ]
        valuer = Valuer(engine, RULES, sources, FixedRate(FX_RATE_KZT), keys.valuer)
        return [
            valuer.revalue(cutoff=cutoff, now_utc=datetime.now(UTC)).seq
            for cutoff in ascending_cutoffs(2)
        ]


def raw_select_s(engine: Engine) -> float:
    """One SELECT of every custody position's row, nothing built from it."""
    started = time.perf_counter()
    with engine.connect() as connection:
        rows = connection.execute(text("SELECT * FROM custody_position")).fetchall()
    if not rows:
        raise RuntimeError("raw select: no positions read")
    return time.perf_counter() - started


def raw_csv_s(lines: list[list[str]]) -> float:
    """The report's CSV lines written by the csv module alone."""
    started = time.perf_counter()
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows(lines)
    out.getvalue().encode("utf-8")
    return time.perf_counter() - started


def bench_database(kind: str, holdings: int, assets: int, cases: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as directory:
        database = Database(kind, Path(directory))
        engine = create_ledger_engine(database.url)
        try:
            keys = Keys.generate()
            started = time.perf_counter()
            build_ledger(engine, keys, bench_assets(assets), holdings, cases)
            seqs = record_valuations(engine, keys, assets)
            setup_s = time.perf_counter() - started
            started = time.perf_counter()
            report = valuation_report(engine)
            compute_s = time.perf_counter() - started
            if len(report.holdings) != holdings or report.previous_seq != seqs[0]:
                raise RuntimeError(
                    f"report: expected {holdings} holdings against valuation {seqs[0]}, got "
                    f"{len(report.holdings)} against {report.previous_seq}"
                )
            formats: dict[str, Any] = {}
            for format_name in REPORT_FORMATS:
                walls, outputs = [], []
                for _ in range(2):
                    started = time.perf_counter()
                    outputs.append(REPORTS.render(engine, "valuation", format_name).data)
                    walls.append(time.perf_counter() - started)
                if outputs[0] != outputs[1]:
                    raise RuntimeError(f"{format_name}: two runs gave different bytes")
                formats[format_name] = {
                    "wall_s": round(min(walls), 3),
                    "bytes": len(outputs[0]),
                    "holdings_per_s": round(holdings / min(walls)),
                }
            select_s = raw_select_s(engine)
            csv_s = raw_csv_s(csv_rows(report))
        finally:
            engine.dispose()
            database.drop()
    return {
        "setup_s": round(setup_s, 1),
        "compute_s": round(compute_s, 3),
        "formats": formats,
        "raw_select_positions_s": round(select_s, 4),
        "raw_csv_module_s": round(csv_s, 4),
        "ratio_raw_select_to_compute": round(select_s / compute_s, 4),
        "ratio_raw_csv_to_csv_report": round(csv_s / formats["csv"]["wall_s"], 4),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--holdings", type=int, default=HOLDINGS_DEFAULT)
    parser.add_argument("--assets", type=int, default=ASSETS_DEFAULT)
    parser.add_argument("--cases", type=int, default=CASES_DEFAULT)
    parser.add_argument("--database", choices=("sqlite", "postgresql", "both"), default="sqlite")
    parser.add_argument("--output", default=str(RESULT_PATH), help="'' to print only")
    args = parser.parse_args()
    if not 1 <= args.holdings <= HOLDINGS_DEFAULT:
        parser.error(f"--holdings: expected 1 to {HOLDINGS_DEFAULT}, got {args.holdings}")
    if not len(BUILT_IN_ASSETS) < args.assets <= ASSETS_DEFAULT:
        parser.error(f"--assets: expected {len(BUILT_IN_ASSETS) + 1} to 200, got {args.assets}")
    report: dict[str, Any] = {
        "benchmark": "report",
        "report": "valuation",
        "holdings": args.holdings,
        "assets": args.assets,
        "cases": args.cases,
        "cores": os.cpu_count(),
    }
    kinds = ("sqlite", "postgresql") if args.database == "both" else (args.database,)
    for kind in kinds:
        print(f"benchmarking {kind}...", file=sys.stderr)
        report[kind] = bench_database(kind, args.holdings, args.assets, args.cases)
    report["peak_memory_mib"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    document = json.dumps(report, indent=2)
    print(document)
    if args.output:
        Path(args.output).parent.mkdir(parents=True, exist_ok=True)
        Path(args.output).write_text(document + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
