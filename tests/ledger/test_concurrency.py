"""Many writers at once, and a writer killed mid-batch: no gap, no fork, nothing lost."""

from __future__ import annotations

import json
import multiprocessing
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from sequestra.ledger.db import APPEND_LOCK_KEY, create_ledger_engine
from sequestra.ledger.statement import parse_signed_statement
from sequestra.ledger.store import Ledger
from sequestra.ledger.verify import verify_ledger
from tests.composed import RULES
from tests.conftest import LedgerWorld

WRITERS = 4
STATEMENTS_PER_WRITER = 60
LOCK_WAIT_S_MAX = 60.0


def _writer(url: str, lines: list[bytes], batch_size: int) -> None:
    engine = create_ledger_engine(url)
    with Ledger(engine, RULES) as ledger:
        statements = [parse_signed_statement(line) for line in lines]
        for start in range(0, len(statements), batch_size):
            ledger.append(statements[start : start + batch_size])
    engine.dispose()


@pytest.mark.slow
def test_concurrent_writers(world: LedgerWorld) -> None:
    context = multiprocessing.get_context("fork")
    all_lines: list[list[bytes]] = []
    for writer in range(WRITERS):
        notes = [world.note(f"writer {writer} note {i}") for i in range(STATEMENTS_PER_WRITER)]
        all_lines.append([note.to_bytes() for note in notes])
    world.engine.dispose()  # no pooled connection crosses the fork
    processes = [
        context.Process(target=_writer, args=(world.url, lines, 1 if number % 2 else 7))
        for number, lines in enumerate(all_lines)
    ]
    for process in processes:
        process.start()
    for process in processes:
        process.join(timeout=300)
        assert process.exitcode == 0
    expected = {json.loads(line)["statement"]["nonce"] for lines in all_lines for line in lines}
    entries = world.ledger.read(0, 10_000)
    assert [entry.seq for entry in entries] == list(range(2 + WRITERS * STATEMENTS_PER_WRITER))
    nonces = [json.loads(entry.entry)["statement"]["nonce"] for entry in entries[2:]]
    assert len(nonces) == len(set(nonces)) and set(nonces) == expected
    assert verify_ledger(world.engine, RULES).ok


def _append_lock_held(url: str) -> bool:
    """True while some other process holds the ledger's append (write) lock."""
    if url.startswith("sqlite"):
        probe = sqlite3.connect(url.removeprefix("sqlite:///"), timeout=0, isolation_level=None)
        try:
            probe.execute("BEGIN IMMEDIATE")
            probe.execute("ROLLBACK")
            return False
        except sqlite3.OperationalError:
            return True
        finally:
            probe.close()
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            taken = connection.execute(
                text("SELECT pg_try_advisory_xact_lock(:key, hashtext(current_schema()))"),
                {"key": APPEND_LOCK_KEY},
            ).scalar_one()
            connection.rollback()
            return not taken
    finally:
        engine.dispose()


@pytest.mark.slow
def test_writer_killed_mid_batch_leaves_previous_ledger(world: LedgerWorld, tmp_path: Path) -> None:
    batch = tmp_path / "batch.jsonl"
    batch.write_bytes(b"\n".join(world.note(f"bulk {i}").to_bytes() for i in range(10_000)))
    before = world.ledger.head()
    command = [
        sys.executable,
        "-m",
        "sequestra.cli",
        "--database-url",
        world.url,
        "append",
        str(batch),
    ]
    child = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + LOCK_WAIT_S_MAX
    while not _append_lock_held(world.url):
        assert child.poll() is None, f"writer ended before taking the lock: {child.stderr.read()!r}"
        assert time.monotonic() < deadline, "the writer never took the append lock"
        time.sleep(0.005)
    os.kill(child.pid, signal.SIGKILL)
    child.wait(timeout=30)
    assert child.returncode == -signal.SIGKILL
    assert world.ledger.head() == before, "a killed batch must leave the previous ledger"
    assert verify_ledger(world.engine, RULES).ok
    receipts = world.ledger.append([world.note("after the crash")], world.now)
    assert receipts[0].seq == before.size
    assert verify_ledger(world.engine, RULES).ok
