"""Worker processes die with their parent: a real process starts the pools of a large append
(spawn), of verify (fork) and of the offline auditor (spawn), is killed with SIGKILL, and
every worker it started is gone soon after (polled against a generous deadline)."""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from sequestra.ledger.workers import watch_parent

DEADLINE_S = 120  # generous: a loaded machine passes; the workers lingered for minutes
POLL_S = 0.2

PARENT = """
import json, os, sys, time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context

from sqlalchemy import create_engine

from sequestra.audit import bundle
from sequestra.composition import application
from sequestra.ledger import verify
from sequestra.ledger.store import Ledger


def main():
    ledger = Ledger(create_engine("sqlite://"), application().rules)
    ledger._workers = 2
    pools = [
        ledger._worker_pool(),
        ProcessPoolExecutor(
            2,
            mp_context=get_context("fork"),
            initializer=verify._init_worker,
            initargs=(None, {}, frozenset(), os.getpid()),
        ),
        ProcessPoolExecutor(
            2,
            mp_context=get_context("spawn"),
            initializer=bundle._init_worker,
            initargs=({}, frozenset(), False, os.getpid()),
        ),
    ]
    workers = set()
    for pool in pools:
        # every worker: each answers its pid once the pool has started them all
        workers |= {pool.submit(os.getpid).result() for _ in range(8)}
        workers |= set(pool._processes)
    print(json.dumps(sorted(workers)), flush=True)
    time.sleep(3600)  # killed long before


if __name__ == "__main__":
    main()
"""


def _alive(pid: int) -> bool:
    """Whether `pid` runs (a zombie nobody has reaped yet is not running)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state not in ("Z", "X")


def _read_line(process: subprocess.Popen[str]) -> str:
    assert process.stdout is not None
    ready, _, _ = select.select([process.stdout], [], [], DEADLINE_S)
    assert ready, "the parent did not start its workers in time"
    return process.stdout.readline()


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc")
def test_workers_die_with_their_parent(tmp_path: Path) -> None:
    script = tmp_path / "parent.py"
    script.write_text(PARENT)
    process = subprocess.Popen(
        [sys.executable, str(script)], stdout=subprocess.PIPE, text=True, cwd=tmp_path
    )
    try:
        workers = json.loads(_read_line(process))
        assert len(workers) >= 3 and all(_alive(pid) for pid in workers)
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait(DEADLINE_S)
    deadline = time.monotonic() + DEADLINE_S
    while any(_alive(pid) for pid in workers) and time.monotonic() < deadline:
        time.sleep(POLL_S)
    left = [pid for pid in workers if _alive(pid)]
    for pid in left:  # do not leave them behind for the next test
        os.kill(pid, signal.SIGKILL)
    assert left == [], f"workers outlived their parent: {left}"


def test_watch_parent_refuses_a_pid_that_is_not_a_parent() -> None:
    with pytest.raises(ValueError, match="parent_pid"):
        watch_parent(1)
    with pytest.raises(ValueError, match="parent_pid"):
        watch_parent(0)
