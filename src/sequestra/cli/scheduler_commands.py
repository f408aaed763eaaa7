"""`sequestra scheduler`: run the watch, revalue and checkpoint jobs on schedule, one leader
across processes; `--once JOB` runs one job now; `--list` shows the jobs and their next runs.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Mapping
from datetime import UTC, datetime

import typer
from rich.table import Table

from sequestra.cli.common import (
    JSON_OPTION,
    fail,
    fail_usage,
    handled,
    print_json,
    state,
)
from sequestra.cli.tables import print_table
from sequestra.config.scheduler import SchedulerSettings
from sequestra.errors import EXIT_CONFLICT, exit_code
from sequestra.service.jobs import (
    JobConfigurationError,
    JobEnvironment,
    configure,
    scheduler_settings,
)
from sequestra.service.leader import LeaderError, open_leader_lock
from sequestra.service.scheduler import (
    JobReferenceError,
    JobSpec,
    Scheduler,
    SchedulerError,
    default_jobs,
    plan_jobs,
    run_job,
    serve,
    stop_on_signals,
)

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"


def scheduler(
    context: typer.Context,
    once: str | None = typer.Option(
        None,
        "--once",
        metavar="JOB",
        help="Run JOB now in the foreground and exit (takes no leader lock).",
    ),
    list_jobs: bool = typer.Option(
        False, "--list", help="Print the jobs and their next run times, then exit."
    ),
    json_output: bool = JSON_OPTION,
) -> None:
    """Run the scheduler in the foreground: wait to become the leader (one process across
    all that share the database), then run watch, revalue and checkpoint on schedule.

    SIGTERM or SIGINT stops it: no new run starts, running jobs are waited for (up to
    scheduler.shutdown_timeout_s), then the lock is released for the next leader.
    """
    if once is not None and list_jobs:
        fail_usage("--once and --list: expected one of them, got both")
    app_state = state(context)
    settings = scheduler_settings(app_state.settings())
    url = app_state.url()
    configure(JobEnvironment(app_state.config_path, app_state.database_url))
    try:
        jobs = default_jobs(settings)
    except SchedulerError as error:
        fail(f"scheduler: {error}", exit_code(error))
    if not jobs:
        fail_usage("scheduler: expected at least one job, got none (every job is switched off)")
    if list_jobs:
        _print_plan(url, jobs, settings, json_output)
        return
    _setup_logging()
    if once is not None:
        _run_once(jobs, once)
        return
    _serve(url, jobs, settings)


def _setup_logging() -> None:
    logging.basicConfig(level=logging.INFO, format=LOG_FORMAT)
    # Our own job.* events say what APScheduler's INFO lines say, with durations.
    logging.getLogger("apscheduler").setLevel(logging.WARNING)


def _print_plan(
    url: str, jobs: Mapping[str, JobSpec], settings: SchedulerSettings, json_output: bool
) -> None:
    with handled():
        plans = plan_jobs(url, jobs, settings, datetime.now(UTC))
    if json_output:
        print_json([plan.to_json() for plan in plans])
        return
    table = Table("job", "schedule", "next run", "stored next run")
    for plan in plans:
        table.add_row(
            plan.name,
            plan.schedule,
            _local(plan.next_run_at, settings),
            _local(plan.stored_next_run_at, settings),
        )
    print_table(table)


def _run_once(jobs: Mapping[str, JobSpec], name: str) -> None:
    spec = jobs.get(name)
    if spec is None:
        fail_usage(f"--once: expected one of {', '.join(sorted(jobs))}, got {name!r}")
    try:
        run_job(name, spec.reference())
    except (JobConfigurationError, JobReferenceError) as error:
        fail(str(error), exit_code(error))
    except Exception as error:
        # run_job has logged job.failed with the reason; the exit code carries its kind.
        raise typer.Exit(exit_code(error)) from error


def _serve(url: str, jobs: Mapping[str, JobSpec], settings: SchedulerSettings) -> None:
    try:
        lock = open_leader_lock(url, settings.lock_file)
    except LeaderError as error:
        fail(str(error), exit_code(error))
    stop = threading.Event()
    with handled(), stop_on_signals(stop):
        finished = serve(Scheduler(url, jobs, settings), lock, stop)
    if not finished:
        # A job overran the shutdown timeout; the lock is released. Exit now rather than
        # wait at interpreter exit for its thread: the job's writes are transactions.
        logging.shutdown()
        os._exit(EXIT_CONFLICT)


def _local(moment: datetime | None, settings: SchedulerSettings) -> str:
    if moment is None:
        return "-"
    return moment.astimezone(settings.zone()).isoformat(timespec="seconds")
