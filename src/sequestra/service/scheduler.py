"""The scheduler: named jobs on APScheduler 3, stored in the ledger's own database.

Jobs are persisted in the table `scheduler_job` of the ledger's database (on PostgreSQL, in
the schema the URL's search_path names), so a restarted leader, or the next one, resumes the
schedule. A stored job names its callable by a textual reference (`module:function`); every
stored job calls `run_job` here, which resolves the reference when the job runs, times it
and logs `job.started`, `job.finished` or `job.failed`. Every job coalesces missed runs into
one, never runs beside itself, and is skipped when more than the grace time late.

On start the configured jobs replace the stored ones, so configuration changes apply; a
job whose target and schedule did not change keeps its stored next run time (a run missed
while no leader was up then runs at start, if still within the grace time).
"""

from __future__ import annotations

import importlib
import logging
import re
import signal
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from types import FrameType
from typing import Any, Final
from zoneinfo import ZoneInfo

from apscheduler.events import (  # type: ignore[import-untyped]
    EVENT_JOB_MAX_INSTANCES,
    EVENT_JOB_MISSED,
    JobExecutionEvent,
    JobSubmissionEvent,
)
from apscheduler.executors.pool import ThreadPoolExecutor  # type: ignore[import-untyped]
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore  # type: ignore[import-untyped]
from apscheduler.schedulers.background import BackgroundScheduler  # type: ignore[import-untyped]
from apscheduler.schedulers.base import STATE_STOPPED  # type: ignore[import-untyped]
from apscheduler.triggers.cron import CronTrigger  # type: ignore[import-untyped]
from apscheduler.triggers.interval import IntervalTrigger  # type: ignore[import-untyped]
from sqlalchemy import Engine, inspect

from sequestra.config.scheduler import SchedulerSettings
from sequestra.errors import ConfigurationError
from sequestra.ledger.db import create_ledger_engine
from sequestra.service.job_outcomes import JOB_OUTCOMES
from sequestra.service.leader import LeaderLock, Leadership
from sequestra.service.logfmt import log_event

log = logging.getLogger("sequestra.scheduler")

JOB_TABLE: Final = "scheduler_job"
RUNNER_REFERENCE: Final = "sequestra.service.scheduler:run_job"
JOBS_MAX: Final = 32
JOB_NAME: Final = re.compile(r"^[a-z][a-z0-9-]{0,62}$")
REFERENCE: Final = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_][\w.]*$")
INTERVAL_S_MIN: Final = 0.1  # below this a job would do nothing but start
INTERVAL_S_MAX: Final = 366 * 86_400
STARTUP_JOBSTORE_RETRY_S: Final = 10  # APScheduler retries a failing job store this often
STOP_SIGNALS: Final = (signal.SIGTERM, signal.SIGINT)

JobTarget = Callable[[], object]


class SchedulerError(ConfigurationError):
    """The scheduler was given something it cannot schedule (bad name, reference, trigger)."""


class JobReferenceError(SchedulerError):
    """A job's target is not an importable `module:function` reference."""


@dataclass(frozen=True)
class IntervalSpec:
    """Every `interval_s` seconds from the scheduler's start."""

    interval_s: float

    def __post_init__(self) -> None:
        if not INTERVAL_S_MIN <= self.interval_s <= INTERVAL_S_MAX:
            raise SchedulerError(
                f"interval: expected {INTERVAL_S_MIN} to {INTERVAL_S_MAX} s, got {self.interval_s}"
            )

    def describe(self, zone: ZoneInfo) -> str:
        return f"every {self.interval_s:g}s"

    def trigger(self, zone: ZoneInfo) -> Any:
        return IntervalTrigger(seconds=self.interval_s, timezone=zone)


@dataclass(frozen=True)
class CronSpec:
    """At `minute` past each of `hours` (local time in the scheduler's zone; empty: every hour)."""

    minute: int
    hours: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        if not 0 <= self.minute <= 59:
            raise SchedulerError(f"cron minute: expected 0 to 59, got {self.minute}")
        if any(not 0 <= hour <= 23 for hour in self.hours) or len(set(self.hours)) != len(
            self.hours
        ):
            raise SchedulerError(f"cron hours: expected distinct 0 to 23, got {self.hours}")

    def hour_field(self) -> str:
        """The hours as a cron field, consecutive hours as ranges: `0-17,19-23`."""
        if not self.hours:
            return "*"
        runs: list[list[int]] = []
        for hour in sorted(self.hours):
            if runs and hour == runs[-1][-1] + 1:
                runs[-1].append(hour)
            else:
                runs.append([hour])
        return ",".join(str(r[0]) if len(r) == 1 else f"{r[0]}-{r[-1]}" for r in runs)

    def describe(self, zone: ZoneInfo) -> str:
        return f"at minute {self.minute} of hours {self.hour_field()} {zone.key}"

    def trigger(self, zone: ZoneInfo) -> Any:
        return CronTrigger(hour=self.hour_field(), minute=self.minute, second=0, timezone=zone)


TriggerSpec = IntervalSpec | CronSpec


@dataclass(frozen=True)
class JobSpec:
    """What to run (a no-argument callable, or its `module:function` reference) and when."""

    target: JobTarget | str
    trigger: TriggerSpec

    def __post_init__(self) -> None:
        job_reference(self.target)

    def reference(self) -> str:
        return job_reference(self.target)


@dataclass(frozen=True)
class JobPlan:
    """One configured job as `--list` shows it."""

    name: str
    target: str
    schedule: str
    next_run_at: datetime | None  # from the trigger, for the `now` given
    stored_next_run_at: datetime | None  # what the job store holds (None: not stored)

    def to_json(self) -> dict[str, object]:
        return {
            "name": self.name,
            "target": self.target,
            "schedule": self.schedule,
            "next_run_at": _iso(self.next_run_at),
            "stored_next_run_at": _iso(self.stored_next_run_at),
        }


def job_reference(target: JobTarget | str) -> str:
    """The textual reference of a job target, checked to resolve to that very target.

    Raises JobReferenceError for a lambda, a nested function, a bound method or a reference
    that does not import.
    """
    if isinstance(target, str):
        resolve_target(target)
        return target
    module = getattr(target, "__module__", None)
    qualname = getattr(target, "__qualname__", None)
    if not module or not qualname or "<" in qualname:
        raise JobReferenceError(f"job target: expected a module-level function, got {target!r}")
    reference = f"{module}:{qualname}"
    if resolve_target(reference) is not target:
        raise JobReferenceError(f"job target: {reference} does not name {target!r}")
    return reference


def resolve_target(reference: str) -> JobTarget:
    """Import `module:function`. Raises JobReferenceError when it does not resolve."""
    if not REFERENCE.match(reference):
        raise JobReferenceError(f"job target: expected module:function, got {reference!r}")
    module_name, _, path = reference.partition(":")
    try:
        found: object = importlib.import_module(module_name)
        for attribute in path.split("."):
            found = getattr(found, attribute)
    except (ImportError, AttributeError) as error:
        raise JobReferenceError(f"job target {reference}: {error}") from error
    if not callable(found):
        raise JobReferenceError(f"job target {reference}: expected a callable")
    return found


class RunningJobs:
    """The jobs running now in this process, so a stop can wait for them (bounded)."""

    def __init__(self) -> None:
        self._condition = threading.Condition()
        self._names: Counter[str] = Counter()

    @contextmanager
    def track(self, name: str) -> Iterator[None]:
        with self._condition:
            self._names[name] += 1
        try:
            yield
        finally:
            with self._condition:
                self._names[name] -= 1
                if self._names[name] <= 0:
                    del self._names[name]
                self._condition.notify_all()

    def names(self) -> list[str]:
        with self._condition:
            return sorted(self._names.elements())

    def wait_idle(self, timeout_s: float) -> bool:
        """Wait until no job runs; False when some still run after `timeout_s`."""
        with self._condition:
            return self._condition.wait_for(lambda: not self._names, timeout=timeout_s)


RUNNING = RunningJobs()  # one scheduler a process: every job runs through run_job below


def run_job(name: str, target: str, schedule: str = "") -> None:
    """Run one job: resolve its target, call it, log start, end or failure with duration.

    `schedule` describes the trigger; stored with the job, it tells a restart whether the
    schedule changed. The job's own exception is logged and raised again (APScheduler
    records the error).
    """
    started = time.monotonic()
    log_event(log, logging.INFO, "job.started", job=name, target=target)
    with RUNNING.track(name):
        try:
            resolve_target(target)()
        except Exception as error:
            JOB_OUTCOMES.failed(name, error)
            log_event(
                log,
                logging.ERROR,
                "job.failed",
                job=name,
                duration_ms=_elapsed_ms(started),
                error=f"{type(error).__name__}: {error}",
            )
            raise
    JOB_OUTCOMES.succeeded(name)
    log_event(log, logging.INFO, "job.finished", job=name, duration_ms=_elapsed_ms(started))


def check_jobs(jobs: Mapping[str, JobSpec]) -> None:
    """Raises SchedulerError for no jobs, too many, or a name that is not a plain slug."""
    if not 0 < len(jobs) <= JOBS_MAX:
        raise SchedulerError(f"jobs: expected 1 to {JOBS_MAX}, got {len(jobs)}")
    for name in jobs:
        if not JOB_NAME.match(name):
            raise SchedulerError(f"job name: expected a lowercase slug, got {name!r}")


class _BackgroundScheduler(BackgroundScheduler):  # type: ignore[misc]
    """APScheduler's background scheduler, minus one pass over due jobs after shutdown.

    Its loop processes due jobs once more after `shutdown` wakes it; a job due then would be
    handed to the stopped executor (an error) and its next run moved on, so that run is lost
    for the next leader. Checking the state first closes this: shutdown sets it before it
    takes the job store lock that processing holds.
    """

    def _process_jobs(self) -> float | None:
        if self.state == STATE_STOPPED:
            return None
        wait_s: float | None = super()._process_jobs()
        return wait_s


class Scheduler:
    """The configured jobs on a background APScheduler whose job store is the ledger's DB."""

    def __init__(
        self, database_url: str, jobs: Mapping[str, JobSpec], settings: SchedulerSettings
    ) -> None:
        check_jobs(jobs)
        self.database_url = database_url
        self.jobs = dict(jobs)
        self.settings = settings
        self.zone = settings.zone()
        self._scheduler: Any = None

    @property
    def running(self) -> bool:
        return self._scheduler is not None

    def start(self) -> None:
        """Open the job store, replace its jobs with the configured ones, and start running.

        Raises SchedulerError when already running; database errors propagate.
        """
        if self._scheduler is not None:
            raise SchedulerError("scheduler: already running")
        # The job store disposes of this engine when the scheduler shuts down.
        scheduler = self._build(create_ledger_engine(self.database_url))
        scheduler.start(paused=True)
        try:
            self._replace_jobs(scheduler)
        except BaseException:
            scheduler.shutdown(wait=False)
            raise
        self._scheduler = scheduler
        scheduler.resume()
        log_event(log, logging.INFO, "scheduler.started", jobs=",".join(sorted(self.jobs)))

    def stop(self, timeout_s: float | None = None) -> bool:
        """Accept no new runs, then wait for running jobs up to `timeout_s` (default: the
        settings' shutdown timeout). True when none still runs. A no-op when not running.
        """
        scheduler, self._scheduler = self._scheduler, None
        if scheduler is None:
            return True
        scheduler.shutdown(wait=False)
        bound_s = self.settings.shutdown_timeout_s if timeout_s is None else timeout_s
        idle = RUNNING.wait_idle(bound_s)
        if idle:
            log_event(log, logging.INFO, "scheduler.stopped")
        else:
            log_event(
                log, logging.ERROR, "scheduler.stop_timeout", running=",".join(RUNNING.names())
            )
        return idle

    def stored_next_run_times(self) -> dict[str, datetime | None]:
        """The running scheduler's jobs and their next run times, as stored."""
        if self._scheduler is None:
            raise SchedulerError("scheduler: not running")
        return {job.id: job.next_run_time for job in self._scheduler.get_jobs()}

    def _build(self, engine: Engine) -> Any:
        scheduler = _BackgroundScheduler(
            jobstores={"default": SQLAlchemyJobStore(engine=engine, tablename=JOB_TABLE)},
            executors={"default": ThreadPoolExecutor(max_workers=len(self.jobs))},
            job_defaults={
                "coalesce": True,
                "max_instances": 1,
                "misfire_grace_time": self.settings.misfire_grace_s,
            },
            timezone=self.zone,
            jobstore_retry_interval=STARTUP_JOBSTORE_RETRY_S,
            daemon=True,
        )
        scheduler.add_listener(_log_skipped_run, EVENT_JOB_MISSED | EVENT_JOB_MAX_INSTANCES)
        return scheduler

    def _replace_jobs(self, scheduler: Any) -> None:
        stored = {job.id: job for job in scheduler.get_jobs()}
        for name in sorted(set(stored) - set(self.jobs)):
            scheduler.remove_job(name)
            log_event(log, logging.INFO, "job.removed", job=name)
        for name, spec in sorted(self.jobs.items()):
            args = (name, spec.reference(), spec.trigger.describe(self.zone))
            options: dict[str, object] = {}
            previous = stored.get(name)
            if previous is not None and tuple(previous.args) == args:
                options["next_run_time"] = previous.next_run_time
            scheduler.add_job(
                RUNNER_REFERENCE,
                trigger=spec.trigger.trigger(self.zone),
                args=args,
                id=name,
                name=name,
                replace_existing=True,
                coalesce=True,
                max_instances=1,
                misfire_grace_time=self.settings.misfire_grace_s,
                **options,
            )
            log_event(log, logging.INFO, "job.scheduled", job=name, schedule=args[2])


def serve(scheduler: Scheduler, lock: LeaderLock, stop: threading.Event) -> bool:
    """Wait to become the leader, run the jobs while leading, step down on `stop` or when
    the lock is lost (then campaign again). Returns on `stop`, the lock released.

    Returns whether every job had finished when the scheduler last stopped (False: some
    still ran after the shutdown timeout). Errors starting the scheduler propagate.
    """
    settings = scheduler.settings
    leadership = Leadership(lock, settings.leader_retry_s, settings.heartbeat_s)
    finished = [True]

    def deposed() -> None:
        finished[0] = scheduler.stop()

    leadership.run(stop, scheduler.start, deposed)
    return finished[0]


@contextmanager
def stop_on_signals(stop: threading.Event) -> Iterator[None]:
    """Set `stop` on SIGTERM or SIGINT while inside; the previous handlers come back after.

    Must be entered in the main thread (Python delivers signals there).
    """

    def handler(signum: int, _frame: FrameType | None) -> None:
        log_event(log, logging.INFO, "scheduler.signal", signal=signal.Signals(signum).name)
        stop.set()

    previous = {number: signal.signal(number, handler) for number in STOP_SIGNALS}
    try:
        yield
    finally:
        for number, earlier in previous.items():
            signal.signal(number, earlier)


@dataclass(frozen=True)
class JobTargets:
    """The callables behind Sequestra's jobs (by default its own job entry points)."""

    watch: JobTarget | str = "sequestra.service.jobs:run_watch"
    revalue: JobTarget | str = "sequestra.service.jobs:run_revalue"
    revalue_close: JobTarget | str = "sequestra.service.jobs:run_revalue_close"
    checkpoint: JobTarget | str = "sequestra.service.jobs:run_checkpoint"
    verify: JobTarget | str = "sequestra.service.jobs:run_verify"


DEFAULT_TARGETS: Final = JobTargets()


def default_jobs(
    settings: SchedulerSettings, targets: JobTargets = DEFAULT_TARGETS
) -> dict[str, JobSpec]:
    """Sequestra's jobs as configured: `watch`, `revalue-hourly`, `revalue-daily`,
    `checkpoint` and `verify`; a job switched off is left out.

    When the daily close falls on the hour, the hourly revaluation skips that hour: the
    close revalues then, and once is enough.
    """
    jobs: dict[str, JobSpec] = {}
    if settings.watch_enabled:
        jobs["watch"] = JobSpec(targets.watch, IntervalSpec(settings.watch_interval_s))
    close_hour, close_minute = settings.daily_close()
    if settings.revalue_hourly:
        hours: tuple[int, ...] = ()
        if settings.revalue_daily and close_minute == 0:
            hours = tuple(hour for hour in range(24) if hour != close_hour)
        jobs["revalue-hourly"] = JobSpec(targets.revalue, CronSpec(0, hours))
    if settings.revalue_daily:
        jobs["revalue-daily"] = JobSpec(
            targets.revalue_close, CronSpec(close_minute, (close_hour,))
        )
    if settings.checkpoint_enabled:
        jobs["checkpoint"] = JobSpec(
            targets.checkpoint, IntervalSpec(settings.checkpoint_interval_s)
        )
    if settings.verify_enabled:
        verify_hour, verify_minute = settings.verify_time()
        jobs["verify"] = JobSpec(targets.verify, CronSpec(verify_minute, (verify_hour,)))
    return jobs


def plan_jobs(
    database_url: str,
    jobs: Mapping[str, JobSpec],
    settings: SchedulerSettings,
    now: datetime,
) -> list[JobPlan]:
    """The configured jobs, their next run time after `now`, and what the store holds.

    Reads the job store without starting a scheduler (and without creating its table).
    """
    check_jobs(jobs)
    if now.tzinfo is None:
        raise SchedulerError("now: expected an aware datetime")
    zone = settings.zone()
    stored = _stored_next_run_times(database_url)
    return [
        JobPlan(
            name,
            spec.reference(),
            spec.trigger.describe(zone),
            spec.trigger.trigger(zone).get_next_fire_time(None, now.astimezone(zone)),
            stored.get(name),
        )
        for name, spec in sorted(jobs.items())
    ]


def _stored_next_run_times(database_url: str) -> dict[str, datetime | None]:
    engine = create_ledger_engine(database_url)
    try:
        if not inspect(engine).has_table(JOB_TABLE):
            return {}
        store = SQLAlchemyJobStore(engine=engine, tablename=JOB_TABLE)
        return {job.id: job.next_run_time for job in store.get_all_jobs()}
    finally:
        engine.dispose()


def _log_skipped_run(event: JobExecutionEvent | JobSubmissionEvent) -> None:
    if event.code == EVENT_JOB_MISSED:
        log_event(
            log,
            logging.WARNING,
            "job.missed",
            job=event.job_id,
            scheduled_at=_iso(event.scheduled_run_time),
        )
    else:
        log_event(log, logging.WARNING, "job.skipped", job=event.job_id, reason="still-running")


def _elapsed_ms(started: float) -> int:
    return round((time.monotonic() - started) * 1000)


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat()
