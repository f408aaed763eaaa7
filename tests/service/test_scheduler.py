"""The scheduler: triggers in Asia/Almaty, the job store in the ledger's database, coalescing,
one instance at a time, misfires, bounded stops, and the `sequestra scheduler` command.
"""

from __future__ import annotations

import itertools
import json
import logging
import time
import tomllib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import typer
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore  # type: ignore[import-untyped]
from sqlalchemy import inspect, text
from typer.testing import CliRunner

from sequestra.cli.common import state
from sequestra.cli.scheduler_commands import scheduler as scheduler_command
from sequestra.config.scheduler import SchedulerSettings
from sequestra.ledger.checkpoints import get_checkpoint
from sequestra.ledger.db import create_ledger_engine, read_transaction
from sequestra.ledger.keys import write_key_pair
from sequestra.service.jobs import latest_close
from sequestra.service.logfmt import format_event, parse_event
from sequestra.service.scheduler import (
    JOB_TABLE,
    RUNNING,
    CronSpec,
    IntervalSpec,
    JobReferenceError,
    JobSpec,
    JobTargets,
    Scheduler,
    SchedulerError,
    default_jobs,
    plan_jobs,
)
from tests.conftest import LedgerWorld
from tests.service import scheduler_jobs
from tests.service.scheduler_jobs import record

ALMATY = ZoneInfo("Asia/Almaty")
WAIT_S_MAX = 10.0
JOBS_MODULE = "tests.service.scheduler_jobs"
PASSPHRASE = "scheduler-test-passphrase"


def at(text_local: str) -> datetime:
    return datetime.fromisoformat(text_local).replace(tzinfo=ALMATY)


def wait_for(condition: Callable[[], bool], what: str, timeout_s: float = WAIT_S_MAX) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.02)
    raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")


def events(caplog: pytest.LogCaptureFixture, event: str) -> list[dict[str, str]]:
    found = (parse_event(r.getMessage()) for r in caplog.records)
    return [fields for fields in found if fields.get("event") == event]


@pytest.fixture(autouse=True)
def _fresh_runs(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    caplog.set_level(logging.INFO, logger="sequestra.scheduler")
    scheduler_jobs.clear()
    yield
    assert RUNNING.wait_idle(WAIT_S_MAX), "a test left a job running"


@contextmanager
def running(scheduler: Scheduler) -> Iterator[Scheduler]:
    scheduler.start()
    try:
        yield scheduler
    finally:
        scheduler.stop(WAIT_S_MAX)


def spec(name: str, interval_s: float) -> JobSpec:
    return JobSpec(f"{JOBS_MODULE}:{name}", IntervalSpec(interval_s))


def set_stored_next_run(url: str, job_id: str, when: datetime) -> None:
    """Move a stored job's next run, as a leader that went down at some point would leave it."""
    engine = create_ledger_engine(url)
    store = SQLAlchemyJobStore(engine=engine, tablename=JOB_TABLE)
    try:
        job = store.lookup_job(job_id)
        job.next_run_time = when
        store.update_job(job)
    finally:
        engine.dispose()


# Triggers and job specs: no database, no waiting for real time.


def test_daily_close_fires_at_1800_almaty() -> None:
    jobs = default_jobs(SchedulerSettings())
    daily = jobs["revalue-daily"].trigger
    assert daily == CronSpec(minute=0, hours=(18,))
    trigger = daily.trigger(ALMATY)
    fire = trigger.get_next_fire_time(None, at("2026-03-02T12:00:00"))
    assert fire == at("2026-03-02T18:00:00")
    assert fire.astimezone(UTC) == datetime(2026, 3, 2, 13, 0, tzinfo=UTC)  # UTC+5, no DST
    assert trigger.get_next_fire_time(None, at("2026-03-02T18:00:00")) == at("2026-03-02T18:00")
    assert trigger.get_next_fire_time(None, at("2026-03-02T18:00:01")) == at("2026-03-03T18:00")
    # "now" in UTC: 20:30Z is 01:30 the next day in Almaty.
    late_utc = datetime(2026, 3, 2, 20, 30, tzinfo=UTC)
    assert trigger.get_next_fire_time(None, late_utc) == at("2026-03-03T18:00:00")
    # After the previous close, the next is a day later; 31 December rolls into January.
    previous = at("2026-12-31T18:00:00")
    assert trigger.get_next_fire_time(previous, previous) == at("2027-01-01T18:00:00")


def test_daily_close_at_a_configured_time_and_zone() -> None:
    settings = SchedulerSettings(revalue_daily_at="09:30", timezone="Europe/London")
    daily = default_jobs(settings)["revalue-daily"].trigger
    london = ZoneInfo("Europe/London")
    fire = daily.trigger(london).get_next_fire_time(None, datetime(2026, 7, 1, 12, tzinfo=UTC))
    assert fire == datetime(2026, 7, 2, 9, 30, tzinfo=london)
    assert fire.astimezone(UTC).hour == 8  # summer time


def test_hourly_revaluation_leaves_the_close_hour_to_the_close() -> None:
    jobs = default_jobs(SchedulerSettings())
    hourly = jobs["revalue-hourly"].trigger
    assert isinstance(hourly, CronSpec)
    assert hourly.hour_field() == "0-17,19-23"
    trigger = hourly.trigger(ALMATY)
    assert trigger.get_next_fire_time(None, at("2026-03-02T16:10")) == at("2026-03-02T17:00")
    assert trigger.get_next_fire_time(None, at("2026-03-02T17:10")) == at("2026-03-02T19:00")
    off_the_hour = default_jobs(SchedulerSettings(revalue_daily_at="18:30"))
    assert off_the_hour["revalue-hourly"].trigger == CronSpec(minute=0)
    assert off_the_hour["revalue-daily"].trigger == CronSpec(minute=30, hours=(18,))


def test_default_jobs_follow_the_settings() -> None:
    settings = SchedulerSettings(watch_interval_s=30, checkpoint_interval_s=600)
    jobs = default_jobs(settings)
    assert sorted(jobs) == ["checkpoint", "revalue-daily", "revalue-hourly", "verify", "watch"]
    assert jobs["verify"].trigger == CronSpec(minute=30, hours=(2,))
    assert jobs["verify"].reference() == "sequestra.service.jobs:run_verify"
    assert jobs["watch"].trigger == IntervalSpec(30)
    assert jobs["watch"].reference() == "sequestra.service.jobs:run_watch"
    assert jobs["checkpoint"].trigger == IntervalSpec(600)
    assert jobs["revalue-daily"].reference() == "sequestra.service.jobs:run_revalue_close"
    off = SchedulerSettings(
        watch_enabled=False, revalue_hourly=False, revalue_daily=False, verify_enabled=False
    )
    assert sorted(default_jobs(off)) == ["checkpoint"]
    no_close = default_jobs(SchedulerSettings(revalue_daily=False))
    assert no_close["revalue-hourly"].trigger == CronSpec(minute=0)  # every hour then
    targets = JobTargets(watch=record)
    assert default_jobs(settings, targets)["watch"].reference() == f"{JOBS_MODULE}:record"


SCHEDULER_TOML = """
[scheduler]
timezone = "Asia/Almaty"
watch_interval_s = 120
revalue_hourly = true
revalue_daily_at = "18:00"
checkpoint_enabled = false
misfire_grace_s = 600
lock_file = "var/scheduler.lock"
"""


def test_settings_read_from_toml() -> None:
    settings = SchedulerSettings.model_validate(tomllib.loads(SCHEDULER_TOML)["scheduler"])
    assert settings.lock_file == Path("var/scheduler.lock")
    assert settings.daily_close() == (18, 0)
    jobs = default_jobs(settings)
    assert sorted(jobs) == ["revalue-daily", "revalue-hourly", "verify", "watch"]
    assert jobs["watch"].trigger == IntervalSpec(120)


def test_settings_refuse_what_cannot_be_scheduled() -> None:
    for bad in (
        {"timezone": "Asia/Nowhere"},
        {"revalue_daily_at": "24:00"},
        {"revalue_daily_at": "6pm"},
        {"watch_interval_s": 0},
        {"misfire_grace_s": 0},
        {"revalue_daily_at": None},
    ):
        with pytest.raises(ValueError):
            SchedulerSettings.model_validate(bad)


def test_job_targets_must_be_importable_references() -> None:
    def nested() -> None:
        pass

    assert JobSpec(record, IntervalSpec(1)).reference() == f"{JOBS_MODULE}:record"
    assert JobSpec("os:getcwd", IntervalSpec(1)).reference() == "os:getcwd"
    for target in (lambda: None, nested, "no_such_module:run", "os:no_such_function", "os"):
        with pytest.raises(JobReferenceError):
            JobSpec(target, IntervalSpec(1))
    with pytest.raises(SchedulerError):
        IntervalSpec(0)
    with pytest.raises(SchedulerError):
        CronSpec(minute=60)
    with pytest.raises(SchedulerError):
        CronSpec(minute=0, hours=(18, 18))
    with pytest.raises(SchedulerError, match="lowercase"):
        Scheduler("sqlite://", {"Watch!": spec("record", 1)}, SchedulerSettings())


def test_latest_close_is_the_last_one_at_or_before_now() -> None:
    close = (18, 0)
    today = at("2026-03-02T18:00").astimezone(UTC)
    assert latest_close(at("2026-03-02T18:00:00").astimezone(UTC), ALMATY, *close) == today
    assert latest_close(at("2026-03-02T23:59").astimezone(UTC), ALMATY, *close) == today
    yesterday = at("2026-03-01T18:00").astimezone(UTC)
    assert latest_close(at("2026-03-02T17:59").astimezone(UTC), ALMATY, *close) == yesterday
    with pytest.raises(ValueError):
        latest_close(datetime(2026, 3, 2, 12), ALMATY, *close)


def test_log_lines_split_back_into_their_fields() -> None:
    fields: dict[str, object] = {"job": "watch", "duration_ms": 12, "error": 'node "a" = down'}
    line = format_event("job.failed", fields)
    assert line.startswith("event=job.failed job=watch duration_ms=12 error=")
    assert parse_event(f"2026-03-02 INFO sequestra.scheduler {line}") == {
        "event": "job.failed",
        "job": "watch",
        "duration_ms": "12",
        "error": 'node "a" = down',
    }


# The job store and runs, on SQLite and PostgreSQL.


def test_job_store_lives_in_the_ledger_database(database_url: str) -> None:
    settings = SchedulerSettings()
    first = {"alpha": spec("record", 60), "beta": spec("record", 60)}
    with running(Scheduler(database_url, first, settings)) as scheduler:
        stored = scheduler.stored_next_run_times()
    assert sorted(stored) == ["alpha", "beta"]
    engine = create_ledger_engine(database_url)
    try:
        assert inspect(engine).has_table(JOB_TABLE)  # in the URL's schema on PostgreSQL
        with engine.connect() as connection:
            rows = connection.execute(text(f"SELECT id FROM {JOB_TABLE} ORDER BY id")).all()
        assert [r.id for r in rows] == ["alpha", "beta"]
    finally:
        engine.dispose()
    # Unchanged on restart: the stored next run time is kept, not pushed back.
    with running(Scheduler(database_url, first, settings)) as scheduler:
        assert scheduler.stored_next_run_times() == stored
    # Changed: alpha's interval applies, beta is gone, gamma added; never a duplicate.
    second = {"alpha": spec("record", 3600), "gamma": spec("record", 60)}
    before = datetime.now(UTC)
    with running(Scheduler(database_url, second, settings)) as scheduler:
        replaced = scheduler.stored_next_run_times()
    assert sorted(replaced) == ["alpha", "gamma"]
    alpha = replaced["alpha"]
    assert alpha is not None and alpha - before > timedelta(seconds=3000)
    plans = plan_jobs(database_url, second, settings, datetime.now(UTC))
    assert [(p.name, p.schedule) for p in plans] == [
        ("alpha", "every 3600s"),
        ("gamma", "every 60s"),
    ]
    assert [p.stored_next_run_at for p in plans] == [alpha, replaced["gamma"]]


def test_jobs_run_on_schedule_never_beside_themselves(
    database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    jobs = {"record": spec("record", 1), "slow": spec("slow", 0.5)}
    settings = SchedulerSettings(misfire_grace_s=5)
    with running(Scheduler(database_url, jobs, settings)):
        wait_for(lambda: len(scheduler_jobs.runs("slow")) >= 2, "two slow runs")
    assert len(scheduler_jobs.runs("record")) >= 2
    slow_runs = sorted(scheduler_jobs.runs("slow"))
    for (_, end), (start, _) in itertools.pairwise(slow_runs):
        assert start >= end, slow_runs
    assert {e["job"] for e in events(caplog, "job.skipped")} == {"slow"}
    finished = [e for e in events(caplog, "job.finished") if e["job"] == "slow"]
    assert all(int(e["duration_ms"]) >= 1000 * scheduler_jobs.SLOW_S - 50 for e in finished)


def test_missed_runs_coalesce_into_one(database_url: str) -> None:
    jobs = {"catchup": spec("record", 2)}
    settings = SchedulerSettings(misfire_grace_s=10)
    with running(Scheduler(database_url, jobs, settings)):
        pass
    # Down for 7 s: four runs were due (7, 5, 3 and 1 s ago); one runs, for the latest.
    set_stored_next_run(database_url, "catchup", datetime.now(UTC) - timedelta(seconds=7))
    with running(Scheduler(database_url, jobs, settings)):
        wait_for(lambda: len(scheduler_jobs.runs("record")) == 1, "the catch-up run")
        time.sleep(0.3)
        assert len(scheduler_jobs.runs("record")) == 1


def test_a_run_later_than_the_grace_time_is_skipped(
    database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    jobs = {"late": spec("record", 3600)}
    settings = SchedulerSettings(misfire_grace_s=1)
    with running(Scheduler(database_url, jobs, settings)):
        pass
    set_stored_next_run(database_url, "late", datetime.now(UTC) - timedelta(seconds=30))
    with running(Scheduler(database_url, jobs, settings)) as scheduler:
        wait_for(lambda: bool(events(caplog, "job.missed")), "the missed run")
        next_run = scheduler.stored_next_run_times()["late"]
    assert scheduler_jobs.runs("record") == []
    assert next_run is not None and next_run > datetime.now(UTC) + timedelta(seconds=3000)
    # The stored schedule is what a restart follows: a run due in 0.3 s runs then.
    set_stored_next_run(database_url, "late", datetime.now(UTC) + timedelta(seconds=0.3))
    with running(Scheduler(database_url, jobs, settings)):
        wait_for(lambda: len(scheduler_jobs.runs("record")) == 1, "the stored run", 3.0)


def test_stop_waits_for_running_jobs_within_its_bound(
    database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    jobs = {"short": spec("short", 0.2)}
    scheduler = Scheduler(database_url, jobs, SchedulerSettings(misfire_grace_s=5))
    scheduler.start()
    wait_for(lambda: RUNNING.names() == ["short"], "the job to start")
    assert scheduler.stop(timeout_s=5)
    assert len(scheduler_jobs.runs("short")) == 1  # finished, and none started after the stop
    time.sleep(0.4)
    assert len(scheduler_jobs.runs("short")) == 1
    scheduler.start()
    wait_for(lambda: RUNNING.names() == ["short"], "the job to start again")
    assert not scheduler.stop(timeout_s=0.05)
    assert events(caplog, "scheduler.stop_timeout")[0]["running"] == "short"


def test_a_failing_job_is_logged_with_its_reason(
    database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.CRITICAL, logger="apscheduler")  # its traceback is expected
    caplog.set_level(logging.INFO, logger="sequestra.scheduler")  # (and the handler's level)
    with running(Scheduler(database_url, {"broken": spec("failing", 0.2)}, SchedulerSettings())):
        wait_for(lambda: bool(events(caplog, "job.failed")), "the failure")
    failure = events(caplog, "job.failed")[0]
    assert failure["job"] == "broken"
    assert failure["error"] == "RuntimeError: the node is down"


# The command.

cli = typer.Typer()


@cli.callback()
def _root(
    context: typer.Context,
    config: Path | None = typer.Option(None, "--config"),
    database_url: str | None = typer.Option(None, "--database-url"),
) -> None:
    app_state = state(context)
    app_state.config_path = config
    app_state.database_url = database_url


cli.command()(scheduler_command)


def test_command_runs_a_job_once_and_lists_the_jobs(
    world: LedgerWorld, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SEQUESTRA_PASSPHRASE", PASSPHRASE)
    monkeypatch.delenv("SEQUESTRA_CONFIG", raising=False)
    key_path = write_key_pair(world.ledger_key, tmp_path / "keys", "ledger", PASSPHRASE.encode())
    config = tmp_path / "sequestra.toml"
    config.write_text(f'[ledger]\nkey_file = "{key_path}"\n', encoding="utf-8")
    runner = CliRunner()
    base = ["--config", str(config), "--database-url", world.url, "scheduler"]

    result = runner.invoke(cli, [*base, "--once", "checkpoint"])
    assert result.exit_code == 0, (result.output, result.exception)
    with read_transaction(world.engine) as connection:
        stored = get_checkpoint(connection)
    assert stored is not None and stored.size == 2  # genesis and the officer's enrolment

    result = runner.invoke(cli, [*base, "--once", "watch"])
    assert result.exit_code == 2
    assert "watch.key_file" in result.output
    result = runner.invoke(cli, [*base, "--once", "nothing"])
    assert result.exit_code == 2
    assert (
        "expected one of checkpoint, revalue-daily, revalue-hourly, verify, watch" in result.output
    )

    result = runner.invoke(cli, [*base, "--list", "--json"])
    assert result.exit_code == 0, result.output
    listed = {row["name"]: row for row in parse_json_lines(result.output)[0]}
    assert sorted(listed) == ["checkpoint", "revalue-daily", "revalue-hourly", "verify", "watch"]
    assert listed["revalue-daily"]["next_run_at"].endswith("T18:00:00+05:00")
    assert listed["watch"]["stored_next_run_at"] is None
    assert listed["revalue-daily"]["schedule"] == "at minute 0 of hours 18 Asia/Almaty"
    result = runner.invoke(cli, [*base, "--list"])
    assert result.exit_code == 0, result.output
    assert "checkpoint" in result.output and "watch" in result.output


def parse_json_lines(output: str) -> list[list[dict[str, str]]]:
    return [json.loads(line) for line in output.splitlines() if line.startswith("[")]
