"""Ledger benchmark: append and verify rates beside the raw Ed25519 rate of this machine.

Prints one JSON document. Not a test: figures depend on the machine; compare the ratios.

    python bench/ledger_bench.py [--entries 200000] [--databases sqlite,postgresql]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
import uuid
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, datetime, timedelta
from multiprocessing import get_context
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, text

from sequestra.composition import application
from sequestra.ledger.db import create_ledger_engine
from sequestra.ledger.keys import SigningKey
from sequestra.ledger.kinds import KEY_ENROLLED
from sequestra.ledger.ops import init_ledger
from sequestra.ledger.statement import parse_signed_statement, sign_statement
from sequestra.ledger.store import Ledger
from sequestra.ledger.timefmt import format_timestamp
from sequestra.ledger.verify import verify_ledger

RULES = application().rules

POSTGRES_URL = os.environ.get(
    "SEQUESTRA_BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
RAW_SECONDS = 3.0
SINGLE_COMMITS = 300
BATCH_SIZE = 1_000
BATCHES = 10


def _raw_verify_loop(seconds: float) -> int:
    key = SigningKey.generate()
    message = b"sequestra/statement/v1\n" + b"x" * 300
    signature = key.sign(message)
    public = key.private_key.public_key()
    count, deadline = 0, time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        for _ in range(100):
            public.verify(signature, message)
        count += 100
    return count


def raw_ed25519(workers: int) -> dict[str, float]:
    """Raw Ed25519 verifications per second: one core, and all cores at once."""
    single = _raw_verify_loop(RAW_SECONDS) / RAW_SECONDS
    with ProcessPoolExecutor(workers, mp_context=get_context("spawn")) as pool:
        list(pool.map(_raw_verify_loop, [0.2] * workers))  # warm the workers
        counts = list(pool.map(_raw_verify_loop, [RAW_SECONDS] * workers))
    return {"one_core_per_s": round(single), "all_cores_per_s": round(sum(counts) / RAW_SECONDS)}


def _sign_notes(args: tuple[bytes, int, int]) -> list[bytes]:
    from cryptography.hazmat.primitives.serialization import load_der_private_key

    der, start, count = args
    private = load_der_private_key(der, None)
    key = SigningKey.from_private_key(private)  # type: ignore[arg-type]
    now = datetime.now(UTC)
    return [
        sign_statement(
            key, "note.recorded", {"text": f"benchmark memo {start + i}"}, now
        ).to_bytes()
        for i in range(count)
    ]


def signed_notes(key: SigningKey, count: int, workers: int) -> list[bytes]:
    """Sign `count` notes in parallel; returns their transport JSON."""
    from cryptography.hazmat.primitives import serialization

    der = key.private_key.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    step = 5_000
    jobs = [(der, start, min(step, count - start)) for start in range(0, count, step)]
    with ProcessPoolExecutor(workers, mp_context=get_context("spawn")) as pool:
        return [line for chunk in pool.map(_sign_notes, jobs) for line in chunk]


class Database:
    """A fresh SQLite file or PostgreSQL schema for one run."""

    def __init__(self, kind: str, directory: Path) -> None:
        self.kind = kind
        self.schema = f"bench_{uuid.uuid4().hex[:12]}"
        if kind == "sqlite":
            self.url = f"sqlite:///{directory / 'bench.db'}"
        else:
            admin = create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
            with admin.connect() as connection:
                connection.execute(text(f"CREATE SCHEMA {self.schema}"))
            admin.dispose()
            self.url = f"{POSTGRES_URL}?options=-csearch_path%3D{self.schema}"

    def drop(self) -> None:
        if self.kind == "postgresql":
            admin = create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
            with admin.connect() as connection:
                connection.execute(text(f"DROP SCHEMA {self.schema} CASCADE"))
            admin.dispose()


def bench_database(
    kind: str, entries: int, notes: list[bytes], keys: dict[str, SigningKey]
) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as directory:
        database = Database(kind, Path(directory))
        try:
            return _bench(database.url, entries, notes, keys)
        finally:
            database.drop()


def _bench(
    url: str, entries: int, notes: list[bytes], keys: dict[str, SigningKey]
) -> dict[str, Any]:
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
    enrolment = sign_statement(
        keys["admin"],
        KEY_ENROLLED,
        {
            "public_key": keys["officer"].public_key_b64,
            "roles": ["treasury-officer"],
            "valid_from": format_timestamp(now - timedelta(hours=1)),
            "label": "bench officer",
        },
        now,
    )
    result: dict[str, Any] = {}
    with Ledger(engine, RULES) as ledger:
        ledger.append([enrolment], now)
        cursor = 0
        started = time.perf_counter()
        for line in notes[cursor : cursor + SINGLE_COMMITS]:
            ledger.append([parse_signed_statement(line)])
        result["append_one_per_commit_per_s"] = round(
            SINGLE_COMMITS / (time.perf_counter() - started)
        )
        cursor += SINGLE_COMMITS
        ledger.append(
            [parse_signed_statement(line) for line in notes[cursor : cursor + BATCH_SIZE]]
        )
        cursor += BATCH_SIZE  # the first batch starts the verification workers
        started = time.perf_counter()
        for _ in range(BATCHES):
            batch = [parse_signed_statement(line) for line in notes[cursor : cursor + BATCH_SIZE]]
            ledger.append(batch)
            cursor += BATCH_SIZE
        result["append_batch_1000_per_s"] = round(
            BATCHES * BATCH_SIZE / (time.perf_counter() - started)
        )
        fill_started = time.perf_counter()
        while cursor < len(notes):
            ledger.append([parse_signed_statement(line) for line in notes[cursor : cursor + 5_000]])
            cursor += 5_000
        result["fill_s"] = round(time.perf_counter() - fill_started, 1)
        size = ledger.head().size
    result["raw_ed25519_all_cores_before_verify_per_s"] = raw_ed25519(os.cpu_count() or 1)[
        "all_cores_per_s"
    ]
    started = time.perf_counter()
    verdict = verify_ledger(engine, RULES)
    elapsed = time.perf_counter() - started
    if not verdict.ok:
        raise RuntimeError(f"benchmark ledger failed verification: {verdict}")
    result["verify_entries"] = size
    result["verify_per_s"] = round(size / elapsed)
    engine.dispose()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--entries", type=int, default=200_000)
    parser.add_argument("--databases", default="sqlite,postgresql")
    args = parser.parse_args()
    workers = os.cpu_count() or 1
    raw = raw_ed25519(workers)
    keys = {name: SigningKey.generate() for name in ("ledger", "admin", "officer")}
    count = max(args.entries - 2, SINGLE_COMMITS + BATCH_SIZE * (BATCHES + 1))
    notes = signed_notes(keys["officer"], count, workers)
    report: dict[str, Any] = {"benchmark": "ledger", "cores": workers, "raw_ed25519": raw}
    for kind in args.databases.split(","):
        print(f"benchmarking {kind}...", file=sys.stderr)
        figures = bench_database(kind, args.entries, notes, keys)
        figures["verify_ratio_to_raw_all_cores"] = round(
            figures["verify_per_s"] / figures["raw_ed25519_all_cores_before_verify_per_s"], 3
        )
        report[kind] = figures
    report["targets"] = {"append_batch_1000_per_s_min": 5000, "verify_ratio_min": 0.8}
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
