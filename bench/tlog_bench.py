"""Transparency-log benchmark: roots and proofs at 1,000,000 entries, tree build, audit.

Prints one JSON document. Root, inclusion proof and consistency proof are timed one at a
time, each including its database reads (target: under 5 ms); the tree build rate is shown
beside the raw SHA-256 rate of this machine, and `sequestra-audit bundle` beside it too.

    python bench/tlog_bench.py [--entries 1000000] [--databases sqlite,postgresql]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from ledger_bench import Database, signed_notes

from sequestra.composition import application
from sequestra.ledger import merkle, tree
from sequestra.ledger.checkpoints import create_checkpoint
from sequestra.ledger.db import create_ledger_engine, read_transaction
from sequestra.ledger.export import export_bundle
from sequestra.ledger.keys import SigningKey
from sequestra.ledger.kinds import KEY_ENROLLED
from sequestra.ledger.ops import init_ledger
from sequestra.ledger.signer import CheckpointSigner, SignerStore
from sequestra.ledger.statement import parse_signed_statement, sign_statement
from sequestra.ledger.store import Ledger
from sequestra.ledger.timefmt import format_timestamp

RULES = application().rules

SAMPLES = 200
FILL_BATCH = 5_000
SHA_SECONDS = 2.0


def raw_sha256_per_s() -> float:
    """SHA-256 of 65-byte inputs (an interior node: 0x01 || left || right) per second."""
    block = b"\x01" + bytes(64)
    count, deadline = 0, time.perf_counter() + SHA_SECONDS
    while time.perf_counter() < deadline:
        for _ in range(1000):
            hashlib.sha256(block).digest()
        count += 1000
    return count / SHA_SECONDS


def tree_build_per_s(leaves: int) -> float:
    """Interior nodes hashed per second when building a tree of `leaves` in memory."""
    leaf_hashes = [hashlib.sha256(i.to_bytes(8, "big")).digest() for i in range(leaves)]
    store = merkle.MemoryNodeStore()
    started = time.perf_counter()
    created = store.append_leaf_hashes(leaf_hashes)
    elapsed = time.perf_counter() - started
    interior = sum(1 for level, _, _ in created if level > 0)
    return interior / elapsed


def _percentiles(samples_ms: list[float]) -> dict[str, float]:
    ordered = sorted(samples_ms)
    return {
        "p50_ms": round(statistics.median(ordered), 3),
        "p99_ms": round(ordered[int(len(ordered) * 0.99) - 1], 3),
        "max_ms": round(ordered[-1], 3),
    }


def time_queries(engine: Any, size: int) -> dict[str, Any]:
    rng = random.Random(7)
    results: dict[str, list[float]] = {"root": [], "inclusion": [], "consistency": []}
    for _ in range(SAMPLES):
        at = rng.randint(1, size)
        started = time.perf_counter()
        with read_transaction(engine) as connection:
            tree.root_at(connection, at)
        results["root"].append((time.perf_counter() - started) * 1000)
        index = rng.randrange(size)
        started = time.perf_counter()
        with read_transaction(engine) as connection:
            tree.inclusion_proof(connection, index, size)
        results["inclusion"].append((time.perf_counter() - started) * 1000)
        old = rng.randint(1, size - 1)
        started = time.perf_counter()
        with read_transaction(engine) as connection:
            tree.consistency_proof(connection, old, size)
        results["consistency"].append((time.perf_counter() - started) * 1000)
    return {name: _percentiles(values) for name, values in results.items()}


def build_ledger(url: str, notes: list[bytes], keys: dict[str, SigningKey]) -> tuple[Any, float]:
    engine = create_ledger_engine(url)
    now = datetime.now(UTC)
    init_ledger(
        engine,
        RULES,
        "bench.sequestra.example/log",
        [keys["admin"].public_key_raw],
        keys["ledger"],
        now_utc=now,
    )
    body = {
        "public_key": keys["officer"].public_key_b64,
        "roles": ["treasury-officer"],
        "valid_from": format_timestamp(now - timedelta(hours=1)),
        "label": "bench officer",
    }
    started = time.perf_counter()
    with Ledger(engine, RULES) as ledger:
        ledger.append([sign_statement(keys["admin"], KEY_ENROLLED, body, now)], now)
        for start in range(0, len(notes), FILL_BATCH):
            ledger.append([parse_signed_statement(n) for n in notes[start : start + FILL_BATCH]])
            print(f"  {start + FILL_BATCH} appended", file=sys.stderr, end="\r")
    return engine, time.perf_counter() - started


def audit_rate(engine: Any, keys: dict[str, SigningKey], directory: Path) -> dict[str, Any]:
    signer = CheckpointSigner(keys["ledger"], SignerStore(directory / "signer.state.json"))
    create_checkpoint(engine, signer)
    started = time.perf_counter()
    summary = export_bundle(engine, directory / "bundle")
    export_s = time.perf_counter() - started
    command = [
        sys.executable,
        "-m",
        "sequestra.audit.cli",
        "bundle",
        str(directory / "bundle"),
        "--json",
    ]
    started = time.perf_counter()
    completed = subprocess.run(command, capture_output=True, text=True, check=False)
    audit_s = time.perf_counter() - started
    verdict = json.loads(completed.stdout) if completed.stdout.strip().startswith("{") else None
    return {
        "export_entries_per_s": round(summary.size / export_s),
        "audit_entries_per_s": round(summary.size / audit_s),
        "audit_ok": bool(verdict and verdict.get("ok")),
        "audit_error": None if verdict else completed.stderr[-500:],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--entries", type=int, default=1_000_000)
    parser.add_argument("--databases", default="sqlite,postgresql")
    parser.add_argument("--skip-audit", action="store_true")
    args = parser.parse_args()
    workers = os.cpu_count() or 1
    sha = raw_sha256_per_s()
    build = tree_build_per_s(min(args.entries, 1_000_000))
    report: dict[str, Any] = {
        "benchmark": "tlog",
        "entries": args.entries,
        "raw_sha256_per_s": round(sha),
        "tree_build_nodes_per_s": round(build),
        "tree_build_ratio_to_raw_sha256": round(build / sha, 3),
    }
    keys = {name: SigningKey.generate() for name in ("ledger", "admin", "officer")}
    print("signing...", file=sys.stderr)
    notes = signed_notes(keys["officer"], args.entries - 2, workers)
    for kind in args.databases.split(","):
        print(f"building the {kind} ledger...", file=sys.stderr)
        with tempfile.TemporaryDirectory() as directory:
            database = Database(kind, Path(directory))
            try:
                engine, fill_s = build_ledger(database.url, notes, keys)
                with read_transaction(engine) as connection:
                    size = Ledger(engine, RULES).head(connection).size
                figures: dict[str, Any] = {"size": size, "fill_entries_per_s": round(size / fill_s)}
                figures.update(time_queries(engine, size))
                if not args.skip_audit:
                    figures.update(audit_rate(engine, keys, Path(directory)))
                engine.dispose()
            finally:
                database.drop()
        report[kind] = figures
    report["targets"] = {"root_inclusion_consistency_ms_max": 5.0}
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
