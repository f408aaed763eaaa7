"""The scheduler's job entry points, stored by reference (`sequestra.service.jobs:run_watch`).

Each takes no argument and reads the configuration when it runs ($SEQUESTRA_CONFIG, or what
the process set with `configure`), so a changed key file or node applies at the next run
without rescheduling. Each opens its own engine and disposes of it at the end. A job that is
not configured raises JobConfigurationError; an operation that ran and failed raises
JobFailedError or its own typed error: the scheduler logs it as `job.failed`.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Engine

from sequestra.chains.watch.readers import open_readers
from sequestra.chains.watch.run import Watcher
from sequestra.chains.watch.webhook import WebhookSink, WebhookTarget
from sequestra.composition import rule_set
from sequestra.config import Settings, load_settings
from sequestra.config.scheduler import SchedulerSettings
from sequestra.errors import ConfigurationError, DependencyUnavailable
from sequestra.ledger.checkpoints import create_checkpoint, publish
from sequestra.ledger.db import create_ledger_engine
from sequestra.ledger.errors import LedgerIntegrityError
from sequestra.ledger.keys import (
    SigningKey,
    load_signing_key,
    resolve_passphrase,
)
from sequestra.ledger.signer import ForkDetected
from sequestra.ledger.store import AppendRules
from sequestra.ledger.verify import verify_ledger
from sequestra.service.logfmt import log_event
from sequestra.service.trust import (
    checkpoint_signer,
    load_policy,
    raise_fork_alarm,
    trusted_ledger_key,
    trusted_state,
)

log = logging.getLogger("sequestra.scheduler.jobs")


class JobConfigurationError(ConfigurationError):
    """A job cannot run as configured (no key file, no chain, a bad configuration file)."""


class JobFailedError(DependencyUnavailable):
    """The operation ran and reported failure (it has recorded or logged the reason)."""


@dataclass(frozen=True)
class JobEnvironment:
    """Where jobs read their configuration: a TOML file (None: $SEQUESTRA_CONFIG) and an
    optional database URL that overrides the configured one (the CLI's --database-url).
    """

    config_path: Path | None = None
    database_url: str | None = None


_environment = JobEnvironment()


def configure(environment: JobEnvironment) -> None:
    """Set, for this process, where every job reads its configuration."""
    global _environment
    _environment = environment


def scheduler_settings(settings: Settings) -> SchedulerSettings:
    """The `[scheduler]` table of the settings, or the defaults while there is none."""
    found = getattr(settings, "scheduler", None)
    return found if isinstance(found, SchedulerSettings) else SchedulerSettings()


def latest_close(now_utc: datetime, zone: ZoneInfo, hour: int, minute: int) -> datetime:
    """The most recent daily close (local `hour:minute` in `zone`) at or before `now_utc`."""
    if now_utc.tzinfo is None:
        raise ValueError("now_utc: expected an aware datetime")
    local = now_utc.astimezone(zone)
    close = datetime.combine(local.date(), time(hour, minute), tzinfo=zone)
    if close > local:
        close = datetime.combine(local.date() - timedelta(days=1), time(hour, minute), tzinfo=zone)
    return close.astimezone(UTC)


def run_watch() -> None:
    """One watch run over the configured chains, signed with `[watch] key_file`."""
    with _opened() as (settings, engine):
        watch = settings.watch
        if watch.key_file is None:
            raise JobConfigurationError(
                "watch.key_file: expected the watcher's key file (role watcher), got none"
            )
        try:
            readers = open_readers(watch, settings.custody)
        except ValueError as error:
            raise JobConfigurationError(str(error)) from error
        key = _key(watch.key_file, watch.passphrase_file)
        targets = [WebhookTarget(w.url, w.timeout_s, w.secret_file) for w in watch.webhooks]
        watcher = Watcher(
            engine, rule_set(), readers, key, _rules(settings), sinks=[WebhookSink(targets)]
        )
        result = watcher.run_once()
    if result.status != "ok":
        raise JobFailedError(f"watch run {result.run_id}: {result.reason}")
    log_event(
        log,
        logging.INFO,
        "watch.recorded",
        observation_seq=result.observation_seq,
        changes=result.changes_count,
        alerts=len(result.alerts),
    )


def run_checkpoint() -> None:
    """Sign a checkpoint if the tree grew, with `[ledger] key_file`, and push it to the
    configured witnesses (a witness that is down is retried on the next run).
    """
    with _opened() as (settings, engine):
        ledger = settings.ledger
        if ledger.key_file is None:
            raise JobConfigurationError("ledger.key_file: expected the ledger key file, got none")
        key = _key(ledger.key_file, ledger.passphrase_file)
        signer = checkpoint_signer(settings, key, ledger.key_file, load_policy(settings))
        try:
            stored, created = create_checkpoint(engine, signer)
            publication = publish(engine, stored, signer)
        except ForkDetected as fork:
            raise_fork_alarm(settings, fork)
            raise
    log_event(
        log,
        logging.INFO,
        "checkpoint.signed" if created else "checkpoint.unchanged",
        size=stored.size,
        published=publication.published,
        pending=",".join(sorted(publication.pending)),
    )


def run_verify() -> None:
    """Verify the whole ledger under the composed rule set: every entry, the tree, the
    checkpoints and the read models. A failure is logged at ERROR with the first bad seq and
    raised (LedgerIntegrityError), so the scheduler records the job as failed."""
    rules = rule_set()
    with _opened() as (settings, engine):
        key = trusted_ledger_key(settings, None)
        trust = trusted_state(settings, load_policy(settings), engine=engine)
        # One process: the scheduler's jobs run in threads, and the parallel verifier forks.
        result = verify_ledger(
            engine,
            rules,
            key,
            workers=1,
            trust=trust,
            clock_skew_s=settings.ledger.clock_skew_s_max,
        )
    if not result.ok:
        log_event(
            log,
            logging.ERROR,
            "verify.failed",
            size=result.size,
            first_bad_seq=result.first_bad_seq,
            reason=result.reason,
            rules=rules.digest,
        )
        where = "" if result.first_bad_seq is None else f" at seq {result.first_bad_seq}"
        raise LedgerIntegrityError(f"the ledger does not verify{where}: {result.reason}")
    level = logging.INFO if result.pinned else logging.WARNING
    summary = result.to_json()["summary"]
    log_event(log, level, "verify.ok", size=result.size, rules=rules.digest, trust=summary)


def run_revalue() -> None:
    """Value every holding now, with `[pricing]` (venues, FX source, the valuer key)."""
    _revalue(official_close=False)


def _emergencies(settings: Any, engine: Any) -> list[dict[str, Any]]:
    """After a new valuation: the emergency-sale alerts it calls for, recorded and pushed."""
    from sequestra.chains.watch.webhook import WebhookSink, WebhookTarget
    from sequestra.fund.emergency import raise_emergencies
    from sequestra.pricing.setup import valuer_key

    sink = WebhookSink(
        [WebhookTarget(w.url, w.timeout_s, w.secret_file) for w in settings.watch.webhooks]
    )
    return raise_emergencies(
        engine, rule_set(), valuer_key(settings.pricing), settings.fund.emergency_drop, sinks=[sink]
    )


def run_revalue_close() -> None:
    """Value every holding at the latest daily official close (`[scheduler]
    revalue_daily_at`, local time): one valuation per close, so a rerun records nothing new.
    """
    _revalue(official_close=True)


def _revalue(official_close: bool) -> None:
    # Imported here: ccxt is heavy, and only a revaluation needs it.
    from sequestra.pricing.setup import open_valuer, valuer_key

    with _opened() as (settings, engine):
        cutoff = _close_cutoff(settings) if official_close else None
        try:
            valuer = open_valuer(settings, engine, rule_set(), valuer_key(settings.pricing))
        except ValueError as error:
            raise JobConfigurationError(str(error)) from error
        result = valuer.revalue(cutoff)
        emergencies = _emergencies(settings, engine) if result.created else []
    for alert in emergencies:
        log_event(log, logging.WARNING, "fund.emergency", seq=alert["seq"], asset=alert["asset"])
    log_event(
        log,
        logging.INFO,
        "valuation.recorded" if result.created else "valuation.exists",
        seq=result.seq,
        cutoff=result.cutoff,
        official_close=official_close,
    )


def _close_cutoff(settings: Settings) -> datetime:
    schedule = scheduler_settings(settings)
    return latest_close(datetime.now(UTC), schedule.zone(), *schedule.daily_close())


@contextmanager
def _opened() -> Iterator[tuple[Settings, Engine]]:
    """The settings as they are now and an engine on the ledger, disposed of afterwards."""
    environment = _environment
    try:
        settings = load_settings(environment.config_path)
        url = environment.database_url or settings.resolved_database_url()
    except (FileNotFoundError, ValueError) as error:  # ValueError: a wrong setting
        raise JobConfigurationError(f"configuration: {error}") from error
    except OSError as error:
        raise JobConfigurationError(f"database_url_file: {error}") from error
    engine = create_ledger_engine(url, must_exist=True)
    try:
        yield settings, engine
    finally:
        engine.dispose()


def _key(path: Path, passphrase_file: Path | None) -> SigningKey:
    return load_signing_key(path, resolve_passphrase(passphrase_file))


def _rules(settings: Settings) -> AppendRules:
    return AppendRules(settings.ledger.clock_skew_s_max, settings.ledger.statement_age_s_max)
