"""Custody benchmark: `sequestra import seizures` of a large CSV, then `holdings --json`.

Both run as the real command in a child process, timed from outside and with the child's
peak memory from wait4 (what /usr/bin/time reports; MiB are 2**20 bytes). Each seizure goes
to its own case and wallet pair, so the ledger then holds one holding per row. Beside each
figure stands a physical limit measured in the same run: raw Ed25519 signatures per second
on one core (the import signs in one process), and the raw SELECT of the rows `holdings`
lists.

Prints one JSON document. Not a test: figures depend on the machine; compare the ratios.

    python bench/custody_bench.py [--rows 100000] [--databases sqlite,postgresql]
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Final

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bitcoin  # type: ignore[import-untyped]
from bitcoin.wallet import P2WPKHBitcoinAddress  # type: ignore[import-untyped]
from eth_utils.address import to_checksum_address
from ledger_bench import Database
from sqlalchemy import Engine

from sequestra.composition import application
from sequestra.custody import service
from sequestra.custody.amounts import format_base_units
from sequestra.custody.assets import AssetRegistry
from sequestra.custody.importer import ROWS_MAX
from sequestra.ledger.db import create_ledger_engine
from sequestra.ledger.keys import SigningKey, write_key_pair
from sequestra.ledger.kinds import KEY_ENROLLED
from sequestra.ledger.ops import init_ledger
from sequestra.ledger.roles import CASE_OPENED, WALLET_REGISTERED
from sequestra.ledger.statement import sign_statement
from sequestra.ledger.store import Ledger
from sequestra.ledger.timefmt import format_timestamp

RULES = application().rules

WALLETS_MAX: Final = 100  # custody wallets; rows / wallets cases (1,000 for 100,000 rows)
RAW_SECONDS_DEFAULT: Final = 2.0
PASSPHRASE: Final = b"custody-bench-passphrase"
CHILD_TIMEOUT_S: Final = 3_600
# Forks the command given after the usage file, waits for it, writes [exit code, peak KiB].
LAUNCHER: Final = (
    "import json, os, sys\n"
    "pid = os.fork()\n"
    "if pid == 0:\n"
    "    os.execv(sys.argv[2], sys.argv[2:])\n"
    "_, status, usage = os.wait4(pid, 0)\n"
    "code = os.waitstatus_to_exitcode(status)\n"
    "open(sys.argv[1], 'w').write(json.dumps([code, usage.ru_maxrss]))\n"
    "sys.exit(code)\n"
)
MIB: Final = 1024  # ru_maxrss is in KiB on Linux
# The command as installed; registers `import` itself should this checkout's main not yet.
CLI: Final = (
    "import sys\n"
    "from sequestra.cli.main import app\n"
    "from sequestra.cli.import_commands import import_app\n"
    "if not any(group.name == 'import' for group in app.registered_groups):\n"
    "    app.add_typer(import_app, name='import')\n"
    "app(prog_name='sequestra')\n"
)
RAW_HOLDINGS_SQL: Final = (
    "SELECT * FROM custody_position WHERE holding_id IS NOT NULL AND amount_base <> '0'"
    " ORDER BY holding_id"
)


@dataclass(frozen=True)
class Child:
    """A finished child process: where its output is, its wall time and peak memory."""

    stdout_path: Path
    wall_s: float
    peak_rss_mib: float


def run_child(arguments: list[str], work: Path, name: str) -> Child:
    """Run a command, stdout to WORK/NAME.out; measure it as /usr/bin/time does.

    A small launcher forks it: a child's peak memory counts what its parent held when it
    forked, and this process holds the holdings it just read. Raises RuntimeError when the
    command fails or outlives CHILD_TIMEOUT_S (its process group is killed then).
    """
    stdout_path, stderr_path = work / f"{name}.out", work / f"{name}.err"
    usage_path = work / f"{name}.usage"
    launch = [sys.executable, "-S", "-c", LAUNCHER, str(usage_path), *arguments]
    started = time.perf_counter()
    with stdout_path.open("wb") as stdout, stderr_path.open("wb") as stderr:
        process = subprocess.Popen(launch, stdout=stdout, stderr=stderr, start_new_session=True)
        try:
            process.wait(timeout=CHILD_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
            raise RuntimeError(f"{name}: still running after {CHILD_TIMEOUT_S} s; killed") from None
    wall_s = time.perf_counter() - started
    code, peak_rss_kib = json.loads(usage_path.read_text())
    if process.returncode != 0 or code != 0:
        raise RuntimeError(f"{name} exited {code}: {stderr_path.read_text()[-2000:]}")
    return Child(stdout_path, wall_s, peak_rss_kib / MIB)


def cli(url: str, *arguments: str) -> list[str]:
    return [sys.executable, "-c", CLI, "--database-url", url, *arguments]


def raw_sign_per_s(seconds: float) -> float:
    """Raw Ed25519 signatures per second on one core, of a seizure-sized message."""
    key = SigningKey.generate()
    message = b"sequestra/statement/v1\n" + b"x" * 450
    count, deadline = 0, time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        for _ in range(100):
            key.sign(message)
        count += 100
    return count / seconds


# --- the ledger and the file ----------------------------------------------------------------


def custody_wallets(count: int) -> list[tuple[str, str]]:
    """(chain, address) of `count` distinct valid wallets, half Bitcoin, half Ethereum."""
    bitcoin.SelectParams("mainnet")
    wallets = []
    for index in range(count):
        digest = hashlib.sha256(f"custody wallet {index}".encode()).digest()[:20]
        if index % 2 == 0:
            wallets.append(("bitcoin", str(P2WPKHBitcoinAddress.from_bytes(0, digest))))
        else:
            wallets.append(("ethereum", to_checksum_address(digest)))
    return wallets


def prepare_ledger(engine: Engine, officer: SigningKey, cases: int, wallets: list[Any]) -> None:
    """A ledger with the officer enrolled, `cases` open cases and the custody wallets."""
    now = datetime.now(UTC)
    ledger_key, admin = SigningKey.generate(), SigningKey.generate()
    origin = "bench.sequestra.example/log"
    init_ledger(engine, RULES, origin, [admin.public_key_raw], ledger_key, now_utc=now)
    enrolment = {
        "public_key": officer.public_key_b64,
        "roles": ["treasury-officer"],
        "valid_from": format_timestamp(now - timedelta(hours=1)),
        "label": "bench officer",
    }
    statements = [sign_statement(admin, KEY_ENROLLED, enrolment, now)]
    bodies = [
        (CASE_OPENED, service.case_opened_body(f"BENCH-{index:06d}", "AFM", "CC RK art. 214"))
        for index in range(cases)
    ]
    bodies += [
        (WALLET_REGISTERED, service.wallet_body(chain, "mainnet", address, "Treasury", "vault"))
        for chain, address in wallets
    ]
    statements += [sign_statement(officer, kind, body, now) for kind, body in bodies]
    with Ledger(engine, RULES) as ledger:
        ledger.append(statements, now, bulk=True)


def write_seizures(path: Path, rows: int, wallets: list[tuple[str, str]]) -> dict[str, int]:
    """A CSV of `rows` seizures, row i to case i // wallets and wallet i % wallets.

    Returns the total of each asset in base units, to check the holdings against.
    """
    registry = AssetRegistry.defaults()
    symbols = {"bitcoin": ("BTC",), "ethereum": ("ETH", "USDT")}
    totals: dict[str, int] = {}
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["case", "asset", "amount", "wallet", "seized_at", "external_ref"])
        for index in range(rows):
            chain, address = wallets[index % len(wallets)]
            choices = symbols[chain]
            asset = registry.resolve(choices[(index // len(wallets)) % len(choices)])
            amount_base = 1 + (index * 7_919) % 10 ** min(asset.decimals, 12)
            totals[asset.asset_id] = totals.get(asset.asset_id, 0) + amount_base
            seized_at = f"2025-{1 + index % 12:02d}-{1 + index % 28:02d}"
            case_id = f"BENCH-{index // len(wallets):06d}"
            amount = format_base_units(amount_base, asset.decimals)
            writer.writerow([case_id, asset.symbol, amount, address, seized_at, f"R-{index}"])
    return totals


# --- the measurements -----------------------------------------------------------------------


def bench_import(url: str, work: Path, key_path: Path, rows: int, raw: float) -> dict[str, Any]:
    passphrase_file = work / "passphrase"
    passphrase_file.write_bytes(PASSPHRASE)
    child = run_child(
        cli(
            url,
            "import",
            "seizures",
            str(work / "seizures.csv"),
            "--key",
            str(key_path),
            "--passphrase-file",
            str(passphrase_file),
            "--json",
        ),
        work,
        "import",
    )
    summary = json.loads(child.stdout_path.read_text())
    if summary["rows"] != rows:
        raise RuntimeError(f"imported {summary['rows']} rows, expected {rows}")
    return {
        "rows": rows,
        "wall_s": round(child.wall_s, 2),
        "check_s": summary["check_s"],
        "sign_s": summary["sign_s"],
        "append_s": summary["append_s"],
        "rows_per_s": round(rows / summary["seconds"]),
        "sign_rows_per_s": round(rows / summary["sign_s"]),
        "append_rows_per_s": round(rows / summary["append_s"]),
        "peak_rss_mib": round(child.peak_rss_mib, 1),
        "sign_ratio_to_raw_one_core": round(rows / summary["sign_s"] / raw, 3),
        "import_ratio_to_raw_one_core": round(rows / summary["seconds"] / raw, 3),
    }


def raw_select_s(engine: Engine) -> tuple[float, int]:
    """Seconds to fetch the rows `holdings` lists with one raw SELECT, and how many."""
    with engine.connect() as connection:
        started = time.perf_counter()
        fetched = connection.exec_driver_sql(RAW_HOLDINGS_SQL).fetchall()
        return time.perf_counter() - started, len(fetched)


def bench_holdings(
    url: str, engine: Engine, work: Path, rows: int, totals: dict[str, int]
) -> dict[str, Any]:
    child = run_child(cli(url, "holdings", "--json"), work, "holdings")
    listed = json.loads(child.stdout_path.read_bytes())
    held: dict[str, int] = {}
    for holding in listed:
        held[holding["asset"]] = held.get(holding["asset"], 0) + int(holding["amount_base"])
    if len(listed) != rows or held != totals:
        raise RuntimeError(f"holdings: {len(listed)} listed, totals {held}; expected {totals}")
    raw_s, count = raw_select_s(engine)
    if count != rows:
        raise RuntimeError(f"raw select: {count} rows, expected {rows}")
    return {
        "holdings": rows,
        "wall_s": round(child.wall_s, 2),
        "peak_rss_mib": round(child.peak_rss_mib, 1),
        "output_mib": round(child.stdout_path.stat().st_size / (1 << 20), 1),
        "raw_select_s": round(raw_s, 3),
        "raw_select_ratio_to_cli": round(raw_s / child.wall_s, 3),
    }


def bench_database(kind: str, rows: int, raw: float) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as directory:
        work = Path(directory)
        database = Database(kind, work)
        engine = create_ledger_engine(database.url)
        try:
            officer = SigningKey.generate()
            key_path = write_key_pair(officer, work / "keys", "officer", PASSPHRASE)
            wallets = custody_wallets(min(WALLETS_MAX, rows))
            cases = -(-rows // len(wallets))
            prepare_ledger(engine, officer, cases, wallets)
            totals = write_seizures(work / "seizures.csv", rows, wallets)
            return {
                "cases": cases,
                "wallets": len(wallets),
                "import": bench_import(database.url, work, key_path, rows, raw),
                "holdings": bench_holdings(database.url, engine, work, rows, totals),
            }
        finally:
            engine.dispose()
            database.drop()


def startup() -> dict[str, Any]:
    """The command's fixed cost: `sequestra --help`, interpreter and imports."""
    with tempfile.TemporaryDirectory() as directory:
        child = run_child([sys.executable, "-c", CLI, "--help"], Path(directory), "help")
    return {"wall_s": round(child.wall_s, 2), "peak_rss_mib": round(child.peak_rss_mib, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--databases", default="sqlite,postgresql")
    parser.add_argument("--raw-seconds", type=float, default=RAW_SECONDS_DEFAULT)
    parser.add_argument("--no-startup", action="store_true", help="Skip timing `--help`.")
    args = parser.parse_args()
    if not 1 <= args.rows <= ROWS_MAX:
        parser.error(f"--rows: expected 1 to {ROWS_MAX}, got {args.rows}")
    report: dict[str, Any] = {"benchmark": "custody", "rows": args.rows, "cores": os.cpu_count()}
    for kind in args.databases.split(","):
        print(f"benchmarking {kind}...", file=sys.stderr)
        raw = raw_sign_per_s(args.raw_seconds)  # right before: the CPU's speed drifts
        report[kind] = {"raw_ed25519_sign_one_core_per_s": round(raw)}
        report[kind].update(bench_database(kind, args.rows, raw))
    if not args.no_startup:
        report["cli_startup"] = startup()
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
