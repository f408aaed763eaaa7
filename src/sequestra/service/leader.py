"""One leader across processes: only the process holding the lock runs the scheduler.

PostgreSQL: a session-level advisory lock taken with `pg_try_advisory_lock` on a connection
of its own, kept open while leading. Its second key is the hash of `current_schema()`, so
ledgers in different schemas of one database elect their leaders apart. The server drops
the lock when the session ends, so a leader that crashes or loses its connection frees it.

SQLite: an exclusive `flock` on a lock file beside the database. The kernel drops it when
the process dies.

The leader checks its lock on a heartbeat; when the lock is gone (the connection died, the
lock file was removed) it stops scheduling and becomes a candidate again. Between the loss
and the next heartbeat another process may already lead: the heartbeat bounds that window.
"""

from __future__ import annotations

import fcntl
import logging
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Final, Protocol

from sqlalchemy import Connection, create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.pool import NullPool

from sequestra.errors import DependencyUnavailable
from sequestra.service.logfmt import log_event

log = logging.getLogger("sequestra.scheduler.leader")

# Arbitrary constant naming the scheduler's leader lock among PostgreSQL advisory locks
# (the ledger's append lock uses another); the second key is the schema's hash.
LEADER_LOCK_KEY: Final = 0x5BFE1EAD
LOCK_KEYS_SQL: Final = "CAST(:key AS integer), hashtext(coalesce(current_schema(), ''))"
TRY_LOCK_SQL: Final = f"SELECT pg_try_advisory_lock({LOCK_KEYS_SQL})"
UNLOCK_SQL: Final = f"SELECT pg_advisory_unlock({LOCK_KEYS_SQL})"
# The lock as pg_locks shows it: classid is the first key, objid the second, objsubid 2.
HELD_SQL: Final = (
    "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted"
    " AND pid = pg_backend_pid() AND objsubid = 2 AND classid = CAST(:key AS oid)"
    " AND objid = CAST(hashtext(coalesce(current_schema(), '')) AS oid)"
)
LOCK_CONNECT_TIMEOUT_S: Final = 10
LOCK_STATEMENT_TIMEOUT_MS: Final = 5_000
# A peer that vanishes without closing the socket is declared dead within about
# idle + interval x count seconds, and unacknowledged writes fail after the user timeout.
KEEPALIVE_IDLE_S: Final = 5
KEEPALIVE_INTERVAL_S: Final = 2
KEEPALIVE_COUNT: Final = 3
TCP_USER_TIMEOUT_MS: Final = 10_000
LOCK_FILE_SUFFIX: Final = ".scheduler.lock"
# Bounds on loops that last as long as the process: years at the shortest intervals.
CANDIDACY_ROUNDS_MAX: Final = 100_000_000
HEARTBEATS_PER_TERM_MAX: Final = 100_000_000


class LeaderError(DependencyUnavailable):
    """The leader lock cannot be set up or checked (bad URL, unreachable database)."""


class LeaderLock(Protocol):
    """A lock at most one process holds; held until released or the process dies."""

    def try_acquire(self) -> bool:
        """Take the lock if free; True when this process now holds it. Raises LeaderError."""
        ...

    def is_held(self) -> bool:
        """Whether this process still holds the lock (a bounded check, never raises)."""
        ...

    def release(self) -> None:
        """Give the lock up (a no-op when not held); never raises."""
        ...


class PostgresLeaderLock:
    """A session-level advisory lock on a dedicated connection to the ledger's database."""

    def __init__(self, url: str, key: int = LEADER_LOCK_KEY) -> None:
        if not 0 < key < 2**31:
            raise LeaderError(f"advisory lock key: expected 1..2**31-1, got {key}")
        self.key = key
        self._engine = create_engine(
            url,
            poolclass=NullPool,
            connect_args={
                "connect_timeout": LOCK_CONNECT_TIMEOUT_S,
                "application_name": "sequestra-scheduler-leader",
                "keepalives": 1,
                "keepalives_idle": KEEPALIVE_IDLE_S,
                "keepalives_interval": KEEPALIVE_INTERVAL_S,
                "keepalives_count": KEEPALIVE_COUNT,
                "tcp_user_timeout": TCP_USER_TIMEOUT_MS,
                "options": _with_statement_timeout(url),
            },
        )
        self._connection: Connection | None = None

    def try_acquire(self) -> bool:
        if self._connection is not None:
            return self.is_held()
        try:
            connection = self._engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        except SQLAlchemyError as error:
            raise LeaderError(f"leader lock: cannot connect: {error}") from error
        try:
            taken = connection.execute(text(TRY_LOCK_SQL), {"key": self.key}).scalar_one()
        except SQLAlchemyError as error:
            connection.close()
            raise LeaderError(f"leader lock: pg_try_advisory_lock failed: {error}") from error
        if taken is not True:
            connection.close()
            return False
        self._connection = connection
        return True

    def is_held(self) -> bool:
        if self._connection is None:
            return False
        try:
            count = self._connection.execute(text(HELD_SQL), {"key": self.key}).scalar_one()
        except SQLAlchemyError as error:
            log_event(log, logging.WARNING, "leader.lock_check_failed", error=str(error))
            return False
        return int(count) == 1

    def backend_pid(self) -> int | None:
        """The server process of the lock's session (for operators and tests)."""
        if self._connection is None:
            return None
        return int(self._connection.execute(text("SELECT pg_backend_pid()")).scalar_one())

    def release(self) -> None:
        connection, self._connection = self._connection, None
        if connection is None:
            return
        try:
            connection.execute(text(UNLOCK_SQL), {"key": self.key})
        except SQLAlchemyError as error:
            # The session is gone, and the server released its locks with it.
            log_event(log, logging.WARNING, "leader.unlock_failed", error=str(error))
        finally:
            _close_quietly(connection)
            self._engine.dispose()


class FileLeaderLock:
    """An exclusive `flock` on a lock file; the file itself is never removed."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None

    def try_acquire(self) -> bool:
        if self._fd is not None:
            return self.is_held()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as error:
            raise LeaderError(f"leader lock file {self.path}: {error.strerror}") from error
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        if not _same_file(fd, self.path):
            # The file was replaced between open and flock: the lock is on an orphan.
            os.close(fd)
            return False
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd
        return True

    def is_held(self) -> bool:
        return self._fd is not None and _same_file(self._fd, self.path)

    def release(self) -> None:
        fd, self._fd = self._fd, None
        if fd is None:
            return
        try:
            fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)


def open_leader_lock(url: str, lock_file: Path | None = None) -> LeaderLock:
    """The leader lock for the ledger's database URL.

    SQLite needs a file to lock: `lock_file`, else `<database>.scheduler.lock`. Raises
    LeaderError for an in-memory SQLite database without `lock_file` or another backend.
    """
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend == "postgresql":
        return PostgresLeaderLock(url)
    if backend != "sqlite":
        raise LeaderError(f"leader lock: expected a sqlite or postgresql URL, got {backend}")
    if lock_file is not None:
        return FileLeaderLock(lock_file)
    database = parsed.database
    if not database or database == ":memory:":
        raise LeaderError("leader lock: an in-memory SQLite database needs scheduler.lock_file")
    return FileLeaderLock(Path(database + LOCK_FILE_SUFFIX))


class Leadership:
    """Campaign for the lock; while holding it, lead; on losing it or on stop, step down."""

    def __init__(self, lock: LeaderLock, retry_s: float, heartbeat_s: float) -> None:
        if retry_s <= 0 or heartbeat_s <= 0:
            raise LeaderError(f"expected positive intervals, got {retry_s} s and {heartbeat_s} s")
        self.lock = lock
        self.retry_s = retry_s
        self.heartbeat_s = heartbeat_s

    def run(
        self,
        stop: threading.Event,
        on_elected: Callable[[], None],
        on_deposed: Callable[[], None],
    ) -> None:
        """Lead whenever elected until `stop` is set; the lock is always released on return.

        `on_elected` starts the work, `on_deposed` stops it (called even if `on_elected`
        raised, whose error then propagates). Waits are on `stop`, so a stop is prompt.
        """
        for _ in range(CANDIDACY_ROUNDS_MAX):
            if stop.is_set():
                return
            if not self._campaign():
                stop.wait(self.retry_s)
                continue
            log_event(log, logging.INFO, "leader.elected", pid=os.getpid())
            try:
                on_elected()
                reason = self._hold(stop)
            finally:
                on_deposed()
                self.lock.release()
                log_event(log, logging.INFO, "leader.released", pid=os.getpid())
            if reason == "lost":
                stop.wait(self.retry_s)

    def _campaign(self) -> bool:
        try:
            return self.lock.try_acquire()
        except LeaderError as error:
            log_event(log, logging.WARNING, "leader.campaign_failed", error=str(error))
            return False

    def _hold(self, stop: threading.Event) -> str:
        """Heartbeat until stopped ("stopped") or the lock is gone ("lost")."""
        for _ in range(HEARTBEATS_PER_TERM_MAX):
            if stop.wait(self.heartbeat_s):
                return "stopped"
            if not self.lock.is_held():
                log_event(log, logging.ERROR, "leader.lost", pid=os.getpid())
                return "lost"
        return "term-ended"


def _with_statement_timeout(url: str) -> str:
    """libpq `options` of the URL (the search_path) plus a statement timeout."""
    existing = make_url(url).query.get("options", "")
    if isinstance(existing, tuple):
        existing = " ".join(existing)
    timeout = f"-c statement_timeout={LOCK_STATEMENT_TIMEOUT_MS}"
    return f"{existing} {timeout}".strip()


def _same_file(fd: int, path: Path) -> bool:
    try:
        on_disk = os.stat(path)
    except FileNotFoundError:
        return False
    opened = os.fstat(fd)
    return (opened.st_dev, opened.st_ino) == (on_disk.st_dev, on_disk.st_ino)


def _close_quietly(connection: Connection) -> None:
    try:
        connection.close()
    except SQLAlchemyError as error:
        log_event(log, logging.WARNING, "leader.close_failed", error=str(error))
