"""Page sessions kept on the server: opened at sign-in, checked on every page, ended by
logging out, by the revocation of the token they were opened with, or by the idle and
absolute limits.

The cookie carries a random 256-bit id (64 hex); the table keeps only its SHA-256, so a copy
of the database opens no session. `check_session` checks, in this order:
1. the id is 64 lower-case hex, else the session is unknown;
2. a row with the id's hash exists, else unknown;
3. the row is not ended, else it stays ended for the reason recorded;
4. its token is still active, else the session ends as `revoked`;
5. it was opened less than `absolute_s_max` ago, else it ends as `expired`;
6. it was seen less than `idle_s_max` ago, else it ends as `idle`;
then `last_seen_at` is written when the recorded one is `touch_interval_s` old or more (so a
page costs a write at most once a minute; idle time is counted from that record).

Writes use their own short transaction, not the ledger's append lock: a session is not a
ledger entry and a page must not wait for a long append on PostgreSQL.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

from sqlalchemy import Connection, Engine, delete, select, update

from sequestra.errors import Forbidden
from sequestra.ledger.db import read_transaction
from sequestra.ledger.timefmt import format_timestamp, parse_timestamp
from sequestra.service.access.tables import API_TOKEN_TABLE, WEB_SESSION_TABLE

SESSION_ID_BYTES: Final = 32  # 256 bits
SESSIONS_KEPT_S: Final = 90 * 24 * 3600  # rows opened longer ago are deleted at sign-in
_SESSION_ID_PATTERN: Final = re.compile(r"[0-9a-f]{64}")

END_LOGOUT: Final = "logout"
END_REVOKED: Final = "revoked"
END_IDLE: Final = "idle"
END_EXPIRED: Final = "expired"
END_UNKNOWN: Final = "unknown"  # never recorded: no session has this id
END_REASONS: Final = frozenset({END_LOGOUT, END_REVOKED, END_IDLE, END_EXPIRED})


@dataclass(frozen=True)
class SessionLimits:
    """How long a page session lasts: idle, at most, and how often its last use is written.

    Raises ValueError unless 0 < touch_interval_s < idle_s_max <= absolute_s_max.
    """

    idle_s_max: int = 30 * 60
    absolute_s_max: int = 12 * 3600
    touch_interval_s: int = 60

    def __post_init__(self) -> None:
        if not 0 < self.touch_interval_s < self.idle_s_max <= self.absolute_s_max:
            raise ValueError(
                "session limits: expected 0 < touch_interval_s < idle_s_max <= absolute_s_max,"
                f" got {self.touch_interval_s}, {self.idle_s_max}, {self.absolute_s_max}"
            )


@dataclass(frozen=True)
class PageSession:
    """An open session and who holds it (the label of the token it was opened with)."""

    session_hash: str
    token_hash: str
    role: str
    label: str
    created_at: datetime
    last_seen_at: datetime


class SessionEnded(Forbidden):
    """The session id opens no session; `reason` is one of END_REASONS or END_UNKNOWN."""

    def __init__(self, reason: str) -> None:
        super().__init__(f"session ended: {reason}")
        self.reason = reason


def hash_session_id(session_id: str) -> str:
    """The SHA-256 (hex) of the session id's text, as the table keeps it."""
    return hashlib.sha256(session_id.encode("ascii")).hexdigest()


def open_session(engine: Engine, token_hash: str, role: str, now_utc: datetime) -> str:
    """Open a session for the token whose hash is `token_hash`; returns its id (never
    stored). Deletes the rows of sessions opened more than SESSIONS_KEPT_S ago."""
    session_id = secrets.token_hex(SESSION_ID_BYTES)
    table = WEB_SESSION_TABLE
    now = format_timestamp(now_utc)
    oldest_kept = format_timestamp(now_utc - timedelta(seconds=SESSIONS_KEPT_S))
    with engine.begin() as connection:
        connection.execute(delete(table).where(table.c.created_at < oldest_kept))
        connection.execute(
            table.insert().values(
                session_hash=hash_session_id(session_id),
                token_hash=token_hash,
                role=role,
                created_at=now,
                last_seen_at=now,
            )
        )
    return session_id


def check_session(
    engine: Engine, session_id: str, now_utc: datetime, limits: SessionLimits
) -> PageSession:
    """The open session `session_id` names, its last use recorded (see the module's order).

    Raises SessionEnded with the reason when it is unknown, ended, or ends now.
    """
    if not _SESSION_ID_PATTERN.fullmatch(session_id):
        raise SessionEnded(END_UNKNOWN)
    session_hash = hash_session_id(session_id)
    sessions, tokens = WEB_SESSION_TABLE, API_TOKEN_TABLE
    query = (
        select(sessions, tokens.c.label, tokens.c.revoked_at)
        .join(tokens, tokens.c.token_hash == sessions.c.token_hash)
        .where(sessions.c.session_hash == session_hash)
    )
    with read_transaction(engine) as connection:
        row = connection.execute(query).first()
    if row is None:
        raise SessionEnded(END_UNKNOWN)
    if row.ended_at is not None:
        raise SessionEnded(row.end_reason if row.end_reason in END_REASONS else END_UNKNOWN)
    session = PageSession(
        session_hash,
        row.token_hash,
        row.role,
        row.label,
        parse_timestamp(row.created_at, "web_session.created_at"),
        parse_timestamp(row.last_seen_at, "web_session.last_seen_at"),
    )
    reason = _reason_to_end(session, row.revoked_at is not None, now_utc, limits)
    if reason is not None:
        with engine.begin() as connection:
            _end(connection, session_hash, now_utc, reason)
        raise SessionEnded(reason)
    if (now_utc - session.last_seen_at).total_seconds() >= limits.touch_interval_s:
        with engine.begin() as connection:
            connection.execute(
                update(sessions)
                .where(sessions.c.session_hash == session_hash, sessions.c.ended_at.is_(None))
                .values(last_seen_at=format_timestamp(now_utc))
            )
    return session


def _reason_to_end(
    session: PageSession, revoked: bool, now_utc: datetime, limits: SessionLimits
) -> str | None:
    """Why an open session ends now, or None while it may go on."""
    if revoked:
        return END_REVOKED
    if (now_utc - session.created_at).total_seconds() >= limits.absolute_s_max:
        return END_EXPIRED
    if (now_utc - session.last_seen_at).total_seconds() >= limits.idle_s_max:
        return END_IDLE
    return None


def end_session(engine: Engine, session_id: str, now_utc: datetime) -> bool:
    """End the session `session_id` names as logged out; whether an open one was ended."""
    if not _SESSION_ID_PATTERN.fullmatch(session_id):
        return False
    with engine.begin() as connection:
        return _end(connection, hash_session_id(session_id), now_utc, END_LOGOUT) == 1


def end_token_sessions(connection: Connection, token_hash: str, now_utc: datetime) -> int:
    """End every open session opened with the token `token_hash`, in the caller's
    transaction (the token's revocation); returns how many were ended."""
    table = WEB_SESSION_TABLE
    result = connection.execute(
        update(table)
        .where(table.c.token_hash == token_hash, table.c.ended_at.is_(None))
        .values(ended_at=format_timestamp(now_utc), end_reason=END_REVOKED)
    )
    return int(result.rowcount)


def _end(connection: Connection, session_hash: str, now_utc: datetime, reason: str) -> int:
    """Record the end of the open session `session_hash`; returns the rows ended (0 or 1)."""
    if reason not in END_REASONS:
        raise ValueError(f"end reason: expected one of {sorted(END_REASONS)}, got {reason!r}")
    table = WEB_SESSION_TABLE
    result = connection.execute(
        update(table)
        .where(table.c.session_hash == session_hash, table.c.ended_at.is_(None))
        .values(ended_at=format_timestamp(now_utc), end_reason=reason)
    )
    return int(result.rowcount)
