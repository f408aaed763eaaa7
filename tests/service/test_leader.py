"""One leader across processes: the locks, the heartbeat, and real processes taking over."""

from __future__ import annotations

import itertools
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from sequestra.service.leader import (
    FileLeaderLock,
    LeaderError,
    LeaderLock,
    Leadership,
    PostgresLeaderLock,
    open_leader_lock,
)
from sequestra.service.logfmt import parse_event
from tests.conftest import POSTGRES_URL, _postgres_schema_url
from tests.service.leader_probe import RETRY_S

REPO = Path(__file__).resolve().parents[2]
WAIT_S_MAX = 15.0  # bound on every wait for a process to do something
POLL_S = 0.05
TAKEOVER_S_MAX = RETRY_S + 1.5  # the retry interval, plus a busy machine's slack


def wait_for(condition: Callable[[], bool], what: str, timeout_s: float = WAIT_S_MAX) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(POLL_S)
    raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")


def test_one_holder_at_a_time(database_url: str) -> None:
    first, second = open_leader_lock(database_url), open_leader_lock(database_url)
    try:
        assert first.try_acquire()
        assert first.is_held()
        assert not second.try_acquire()
        assert not second.is_held()
        first.release()
        assert not first.is_held()
        assert second.try_acquire()
        assert second.is_held()
    finally:
        first.release()
        second.release()


@pytest.fixture
def other_schema_url() -> Iterator[str]:
    schema = f"t_{uuid.uuid4().hex[:16]}"
    admin = create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f"CREATE SCHEMA {schema}"))
    try:
        yield _postgres_schema_url(schema)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_schemas_elect_apart(database_url: str, other_schema_url: str) -> None:
    first, second = PostgresLeaderLock(database_url), PostgresLeaderLock(other_schema_url)
    try:
        assert first.try_acquire()
        assert second.try_acquire()
    finally:
        first.release()
        second.release()


def test_lock_location(tmp_path: Path) -> None:
    default = open_leader_lock(f"sqlite:///{tmp_path / 'ledger.db'}")
    assert isinstance(default, FileLeaderLock)
    assert default.path == tmp_path / "ledger.db.scheduler.lock"
    chosen = open_leader_lock("sqlite://", tmp_path / "run" / "leader.lock")
    assert isinstance(chosen, FileLeaderLock)
    assert chosen.try_acquire()
    assert (tmp_path / "run" / "leader.lock").read_text() == f"{os.getpid()}\n"
    chosen.release()
    with pytest.raises(LeaderError, match="in-memory"):
        open_leader_lock("sqlite://")
    with pytest.raises(LeaderError, match="mysql"):
        open_leader_lock("mysql://db/ledger")


@dataclass
class Terms:
    """What a Leadership did, from its callbacks."""

    elected: int = 0
    deposed: int = 0
    events: list[str] = field(default_factory=list)

    def on_elected(self) -> None:
        self.elected += 1
        self.events.append("elected")

    def on_deposed(self) -> None:
        self.deposed += 1
        self.events.append("deposed")


@contextmanager
def campaigning(lock: LeaderLock, terms: Terms, heartbeat_s: float = 0.1) -> Iterator[None]:
    """Run a Leadership on `lock` in a thread while inside; stop it and join on the way out."""
    stop = threading.Event()
    leadership = Leadership(lock, retry_s=0.1, heartbeat_s=heartbeat_s)
    thread = threading.Thread(
        target=leadership.run, args=(stop, terms.on_elected, terms.on_deposed), daemon=True
    )
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(WAIT_S_MAX)
    assert not thread.is_alive()
    assert terms.deposed == terms.elected


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_leader_whose_connection_dies_steps_down(database_url: str) -> None:
    lock = PostgresLeaderLock(database_url)
    terms = Terms()
    admin = create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    try:
        with campaigning(lock, terms):
            wait_for(lambda: terms.elected == 1, "the election")
            pid = lock.backend_pid()
            with admin.connect() as connection:
                connection.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
            wait_for(lambda: terms.deposed == 1, "the leader to notice its lock is gone", 2.0)
            # Nobody else wants the lock: it campaigns again, on a new connection, and wins.
            wait_for(lambda: terms.elected == 2, "the re-election", 5.0)
            assert lock.backend_pid() != pid
    finally:
        admin.dispose()
    assert terms.events == ["elected", "deposed", "elected", "deposed"]


def test_leader_whose_lock_file_is_replaced_steps_down(tmp_path: Path) -> None:
    path = tmp_path / "leader.lock"
    lock, rival = FileLeaderLock(path), FileLeaderLock(path)
    terms = Terms()
    with campaigning(lock, terms):
        wait_for(lambda: terms.elected == 1, "the election")
        path.unlink()
        wait_for(lambda: terms.deposed == 1, "the leader to notice its lock file is gone", 2.0)
        assert rival.try_acquire()  # the new file's lock: the old leader no longer leads
        time.sleep(0.3)
        assert terms.elected == 1
        rival.release()
        wait_for(lambda: terms.elected == 2, "the re-election", 5.0)


def test_stop_interrupts_the_wait_to_retry(tmp_path: Path) -> None:
    path = tmp_path / "leader.lock"
    holder = FileLeaderLock(path)
    assert holder.try_acquire()
    stop = threading.Event()
    leadership = Leadership(FileLeaderLock(path), retry_s=60, heartbeat_s=60)
    thread = threading.Thread(target=leadership.run, args=(stop, _never, _never), daemon=True)
    thread.start()
    time.sleep(0.2)
    started = time.monotonic()
    stop.set()
    thread.join(WAIT_S_MAX)
    assert not thread.is_alive()
    assert time.monotonic() - started < 1.0
    holder.release()


def _never() -> None:
    raise AssertionError("a candidate that never won was elected or deposed")


@dataclass
class Probe:
    """A scheduler process started on the database, and its event log."""

    process: subprocess.Popen[bytes]
    log_path: Path
    killed_at: float | None = None

    def events(self) -> list[tuple[float, dict[str, str]]]:
        if not self.log_path.exists():
            return []
        found = []
        for line in self.log_path.read_text().splitlines():
            stamp, _, rest = line.partition(" ")
            fields = parse_event(rest)
            if fields:
                found.append((float(stamp), fields))
        return found

    def times(self, event: str) -> list[float]:
        return [stamp for stamp, fields in self.events() if fields["event"] == event]

    def leads(self) -> bool:
        return len(self.times("leader.elected")) > len(self.times("leader.released"))

    def terms(self) -> list[tuple[float, float]]:
        """(elected, released) of each term; a killed term ends when it was killed."""
        elected, released = self.times("leader.elected"), self.times("leader.released")
        if len(released) < len(elected):
            assert self.killed_at is not None, "a term without an end in a live process"
            released.append(self.killed_at)
        return list(zip(elected, released, strict=True))


def start_probe(url: str, log_path: Path) -> Probe:
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.service.leader_probe", url, str(log_path)],
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    return Probe(process, log_path)


def leaders(probes: list[Probe]) -> list[Probe]:
    return [p for p in probes if p.process.poll() is None and p.leads()]


@pytest.mark.slow
def test_one_leader_among_processes_and_takeover(database_url: str, tmp_path: Path) -> None:
    """Three processes: one leads; on SIGTERM (graceful) and then SIGKILL the lock passes
    on within the retry interval; terms never overlap and jobs run only in a term.
    """
    probes = [start_probe(database_url, tmp_path / f"probe-{i}.log") for i in range(3)]
    try:
        wait_for(lambda: len(leaders(probes)) == 1, "a first leader")
        first = leaders(probes)[0]
        wait_for(lambda: len(first.times("job.finished")) >= 1, "the first leader's jobs")
        assert len(leaders(probes)) == 1

        first.process.send_signal(signal.SIGTERM)
        assert first.process.wait(WAIT_S_MAX) == 0
        wait_for(lambda: len(leaders(probes)) == 1, "a leader after the graceful stop")
        second = leaders(probes)[0]
        assert second.times("leader.elected")[0] - first.terms()[-1][1] < TAKEOVER_S_MAX
        signalled = next(t for t, f in first.events() if f["event"] == "scheduler.signal")
        assert first.times("scheduler.stopped")[-1] >= signalled
        assert len(first.times("job.finished")) == len(first.times("job.started"))

        wait_for(lambda: len(second.times("job.started")) >= 1, "the second leader's jobs")
        second.process.kill()
        second.killed_at = time.time()
        second.process.wait(WAIT_S_MAX)
        wait_for(lambda: len(leaders(probes)) == 1, "a leader after the crash")
        third = leaders(probes)[0]
        assert third.times("leader.elected")[0] - second.killed_at < TAKEOVER_S_MAX

        third.process.send_signal(signal.SIGTERM)
        assert third.process.wait(WAIT_S_MAX) == 0
    finally:
        for probe in probes:
            if probe.process.poll() is None:
                probe.process.kill()
            probe.process.wait(WAIT_S_MAX)
    assert_terms_apart(probes)


def assert_terms_apart(probes: list[Probe]) -> None:
    """No two terms overlap, and every job started inside its own process's term."""
    terms = sorted(term for probe in probes for term in probe.terms())
    assert len(terms) == 3, terms
    for (_, end), (start, _) in itertools.pairwise(terms):
        assert start >= end, terms
    for probe in probes:
        spans = probe.terms()
        for started in probe.times("job.started"):
            assert any(begin <= started <= end for begin, end in spans), (started, spans)
