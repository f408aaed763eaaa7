"""A scheduler process for the leader tests: `python -m tests.service.leader_probe URL LOG`.

It campaigns for the leader lock of the database at URL and, while leading, runs one job
(`work`, 0.4 s every 0.3 s, so a stop usually finds it running). Every structured event
goes to LOG as `<unix time> event=... pid=...`. SIGTERM stops it gracefully.
"""

from __future__ import annotations

import logging
import sys
import threading
from typing import Final

from sequestra.config.scheduler import SchedulerSettings
from sequestra.service.leader import open_leader_lock
from sequestra.service.scheduler import IntervalSpec, JobSpec, Scheduler, serve, stop_on_signals

RETRY_S: Final = 0.2
HEARTBEAT_S: Final = 0.2
SETTINGS: Final = SchedulerSettings(
    leader_retry_s=RETRY_S, heartbeat_s=HEARTBEAT_S, shutdown_timeout_s=10, misfire_grace_s=5
)
WORK_S: Final = 0.4


def work() -> None:
    threading.Event().wait(WORK_S)


def main(url: str, log_path: str) -> int:
    logging.basicConfig(
        filename=log_path, level=logging.INFO, format="%(created).6f %(process)d %(message)s"
    )
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
    jobs = {"work": JobSpec("tests.service.leader_probe:work", IntervalSpec(0.3))}
    stop = threading.Event()
    with stop_on_signals(stop):
        finished = serve(Scheduler(url, jobs, SETTINGS), open_leader_lock(url), stop)
    return 0 if finished else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
