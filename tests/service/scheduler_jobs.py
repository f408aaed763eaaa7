"""Jobs for the scheduler's tests, referenced as `tests.service.scheduler_jobs:NAME`.

Each records its runs (name, start, end on the monotonic clock) in RUNS, in this process.
"""

from __future__ import annotations

import threading
import time
from typing import Final

SLOW_S: Final = 1.2  # longer than its 0.5 s interval, so a second run would overlap

RUNS: list[tuple[str, float, float]] = []
_lock = threading.Lock()


def _record(name: str, started: float) -> None:
    with _lock:
        RUNS.append((name, started, time.monotonic()))


def runs(name: str) -> list[tuple[float, float]]:
    with _lock:
        return [(start, end) for job, start, end in RUNS if job == name]


def clear() -> None:
    with _lock:
        RUNS.clear()


def record() -> None:
    _record("record", time.monotonic())


def slow() -> None:
    started = time.monotonic()
    time.sleep(SLOW_S)
    _record("slow", started)


def short() -> None:
    started = time.monotonic()
    time.sleep(0.6)
    _record("short", started)


def failing() -> None:
    raise RuntimeError("the node is down")
