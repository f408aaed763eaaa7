"""How each scheduled job's last run in this process ended, for `GET /health`.

Only the error's class is kept (a message may carry a URL with credentials or statement
text); the log line `job.failed` has the rest.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any


@dataclass(frozen=True)
class JobOutcome:
    job: str
    ok: bool
    at: datetime
    error_kind: str | None
    failures_in_a_row: int

    def to_json(self) -> dict[str, Any]:
        return {
            "job": self.job,
            "last_run_at": self.at.isoformat().replace("+00:00", "Z"),
            "last_error_kind": self.error_kind,
            "failures_in_a_row": self.failures_in_a_row,
        }


class JobOutcomes:
    """The latest outcome of each job, thread-safe (jobs run in the scheduler's pool)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._latest: dict[str, JobOutcome] = {}

    def succeeded(self, job: str, now_utc: datetime | None = None) -> None:
        with self._lock:
            self._latest[job] = JobOutcome(job, True, now_utc or datetime.now(UTC), None, 0)

    def failed(self, job: str, error: BaseException, now_utc: datetime | None = None) -> None:
        with self._lock:
            before = self._latest.get(job)
            streak = 1 if before is None or before.ok else before.failures_in_a_row + 1
            self._latest[job] = JobOutcome(
                job, False, now_utc or datetime.now(UTC), type(error).__name__, streak
            )

    def failing(self) -> list[JobOutcome]:
        """The jobs whose last run failed, by name."""
        with self._lock:
            return sorted((o for o in self._latest.values() if not o.ok), key=lambda o: o.job)

    def clear(self) -> None:
        with self._lock:
            self._latest.clear()


JOB_OUTCOMES = JobOutcomes()  # one scheduler a process: run_job records every run here
